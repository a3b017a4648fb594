//! Broken, missing and cut files: a clear error naming the file, or the audio that was there;
//! never a panic.

mod common;

use std::path::Path;

use common::{demo_flac, demo_mp3};
use lofigen_audio::{AudioError, load_mono, load_mono_8k};

fn err_for(path: &Path) -> AudioError {
    match load_mono_8k(path) {
        Ok((clip, _)) => panic!("{} decoded to {} samples", path.display(), clip.len()),
        Err(e) => {
            let msg = e.to_string();
            let name = path.file_name().unwrap().to_string_lossy();
            assert!(
                msg.contains(&*name),
                "message does not name the file: {msg}"
            );
            assert_eq!(e.path(), path);
            e
        }
    }
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("nope.mp3");
    let e = err_for(&p);
    assert!(matches!(e, AudioError::Open { .. }), "{e:?}");
    assert!(e.to_string().starts_with("cannot open "), "{e}");
}

#[test]
fn directory_instead_of_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("album.flac");
    std::fs::create_dir(&p).unwrap();
    let e = err_for(&p);
    assert!(matches!(e, AudioError::Open { .. }), "{e:?}");
}

#[test]
fn zero_byte_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("empty.wav");
    std::fs::write(&p, b"").unwrap();
    let e = err_for(&p);
    assert!(matches!(e, AudioError::Empty { .. }), "{e:?}");
    assert!(e.to_string().ends_with("is empty (0 bytes)"), "{e}");
}

#[test]
fn text_file_named_mp3() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("notes.mp3");
    std::fs::write(&p, "these are my notes, not a song\n".repeat(200)).unwrap();
    let e = err_for(&p);
    assert!(
        matches!(
            e,
            AudioError::NotAudio { .. } | AudioError::NoDecodableAudio { .. }
        ),
        "{e:?}"
    );
}

#[test]
fn random_bytes_named_flac_and_wav() {
    let dir = tempfile::tempdir().unwrap();
    let junk: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for name in ["junk.flac", "junk.wav", "junk.ogg"] {
        let p = dir.path().join(name);
        std::fs::write(&p, &junk).unwrap();
        err_for(&p);
    }
}

#[test]
fn wav_header_only() {
    // A RIFF/WAVE header that promises data and stops: no audio, so an error (not a panic).
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.wav");
    lofigen_audio::write_wav16(&good, &lofigen_audio::Clip::new(vec![0.25; 1000], 8000)).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let p = dir.path().join("header_only.wav");
    std::fs::write(&p, &bytes[..44]).unwrap();
    err_for(&p);
    // A few bytes of a header is not an audio file at all.
    let p = dir.path().join("stub.wav");
    std::fs::write(&p, &bytes[..10]).unwrap();
    err_for(&p);
}

/// Copies the first `num/den` of a real file into the temp dir.
fn cut(src: &Path, dir: &Path, num: u64, den: u64) -> std::path::PathBuf {
    let bytes = std::fs::read(src).unwrap();
    let keep = (bytes.len() as u64 * num / den) as usize;
    let p = dir.join(format!(
        "cut_{}",
        src.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&p, &bytes[..keep]).unwrap();
    p
}

#[test]
fn truncated_mp3_gives_about_half_and_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let p = cut(&demo_mp3(), dir.path(), 1, 2);
    let (clip, report) = load_mono_8k(&p).unwrap_or_else(|e| panic!("{e}"));
    let secs = clip.duration_secs();
    assert!(
        (13.0..17.0).contains(&secs),
        "half the mp3 decoded to {secs} s"
    );
    // The ID3 length tag (30 s) tells that the rest is missing.
    assert!(report.truncated, "a cut mp3 must be flagged as truncated");
    assert_eq!(report.codec, "mp3");
}

#[test]
fn truncated_flac_gives_about_half_and_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let p = cut(&demo_flac(), dir.path(), 1, 2);
    let (clip, report) = load_mono_8k(&p).unwrap_or_else(|e| panic!("{e}"));
    let secs = clip.duration_secs();
    assert!(
        (12.0..18.0).contains(&secs),
        "half the flac decoded to {secs} s"
    );
    // STREAMINFO announces 30 s, so the cut is always noticed.
    assert!(report.truncated);
}

#[test]
fn flac_cut_inside_its_header_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let src = demo_flac();
    let bytes = std::fs::read(&src).unwrap();
    for keep in [3usize, 20, 60] {
        let p = dir.path().join(format!("head{keep}.flac"));
        std::fs::write(&p, &bytes[..keep]).unwrap();
        err_for(&p);
    }
}

#[test]
fn zero_target_rate_is_an_error() {
    let p = demo_flac();
    let e = load_mono(&p, 0, &mut |_, _| {}).unwrap_err();
    assert!(matches!(e, AudioError::BadTargetRate { .. }));
    assert!(e.to_string().contains("demo_island_dreams_30s.flac"));
}

// ---- the rest of the bad-file corpus ----

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data")).join(name)
}

#[test]
fn ogg_vorbis_fixture_decodes_whole() {
    let (clip, report) = load_mono_8k(&fixture("demo_island_dreams_8s.ogg")).unwrap();
    assert_eq!(report.codec, "vorbis");
    assert!(!report.truncated);
    assert!(
        (clip.duration_secs() - 8.0).abs() < 0.05,
        "{}",
        clip.duration_secs()
    );
}

#[test]
fn truncated_ogg_gives_about_half_and_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture("demo_island_dreams_8s.ogg")).unwrap();
    let p = dir.path().join("cut.ogg");
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let (clip, report) = load_mono_8k(&p).unwrap_or_else(|e| panic!("{e}"));
    let secs = clip.duration_secs();
    // Half the bytes is about 3 s of audio (the Vorbis setup header takes several KB), less
    // the page that was cut: at this low bitrate one Ogg page holds up to about 2 s, and a
    // page is only delivered whole (its checksum covers all of it).
    assert!(
        (1.0..4.0).contains(&secs),
        "half the ogg decoded to {secs} s"
    );
    assert!(report.truncated, "{report:?}");
    // Cut inside the headers (identification, comment, setup): no audio at all.
    for keep in [4usize, 40, 200, 3000] {
        let p = dir.path().join(format!("head{keep}.ogg"));
        std::fs::write(&p, &bytes[..keep]).unwrap();
        err_for(&p);
    }
}

#[test]
fn wav_whose_data_chunk_claims_more_than_the_file_holds() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("long_claim.wav");
    // Claims 4 s, holds 2 s: the 2 s are kept and the file is flagged as cut.
    let samples = common::tone16(8000, 2.0);
    std::fs::write(&p, common::wav16_claiming(&samples, 8000, 8000 * 2 * 4)).unwrap();
    let (clip, report) = load_mono_8k(&p).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        (clip.duration_secs() - 2.0).abs() < 0.01,
        "{}",
        clip.duration_secs()
    );
    assert!(report.truncated, "{report:?}");
}

#[test]
fn wav_whose_data_chunk_claims_less_than_the_file_holds() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("short_claim.wav");
    // Claims 1 s, holds 2 s: the header's length wins, the trailing bytes are not audio.
    let samples = common::tone16(8000, 2.0);
    std::fs::write(&p, common::wav16_claiming(&samples, 8000, 8000 * 2)).unwrap();
    let (clip, report) = load_mono_8k(&p).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        (clip.duration_secs() - 1.0).abs() < 0.01,
        "{}",
        clip.duration_secs()
    );
    assert!(!report.truncated, "{report:?}");
}

#[test]
fn wav_with_zero_length_audio() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("silence_of_zero_length.wav");
    std::fs::write(&p, common::wav16_claiming(&[], 8000, 0)).unwrap();
    let e = err_for(&p);
    assert!(matches!(e, AudioError::NoDecodableAudio { .. }), "{e:?}");
    assert!(e.to_string().contains("no decodable audio"), "{e}");
}

#[test]
fn wav_of_a_few_samples_decodes_to_a_few_samples() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("blip.wav");
    std::fs::write(&p, common::wav16_claiming(&[1000, -1000, 500], 44100, 6)).unwrap();
    match load_mono_8k(&p) {
        Ok((clip, _)) => assert!(clip.len() <= 2, "{} samples", clip.len()),
        Err(e) => assert!(e.to_string().contains("blip.wav"), "{e}"),
    }
}

/// Takes the demo MP3's first `audio_bytes` bytes of frames, after its own ID3 tag.
fn mp3_frames(audio_bytes: usize) -> Vec<u8> {
    let b = std::fs::read(demo_mp3()).unwrap();
    let s = &b[6..10];
    let tag =
        10 + ((s[0] as usize) << 21 | (s[1] as usize) << 14 | (s[2] as usize) << 7 | s[3] as usize);
    b[tag..tag + audio_bytes].to_vec()
}

#[test]
fn mp3_whose_id3_tag_is_larger_than_its_audio() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big_cover_art.mp3");
    // 256 KiB of tag (cover art, say) before 8 KiB of 32 kbit/s frames (about 2 s).
    let mut bytes = common::id3_tag(256 * 1024, 256 * 1024);
    bytes.extend(mp3_frames(8 * 1024));
    std::fs::write(&p, bytes).unwrap();
    let (clip, report) = load_mono_8k(&p).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.codec, "mp3");
    assert!(
        (1.5..2.5).contains(&clip.duration_secs()),
        "{}",
        clip.duration_secs()
    );
}

#[test]
fn mp3_whose_id3_tag_claims_more_than_the_whole_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("tag_overruns.mp3");
    // The tag says 1 MiB; the file ends after 4 KiB of tag and 8 KiB of frames.
    let mut bytes = common::id3_tag(4 * 1024, 1024 * 1024);
    bytes.extend(mp3_frames(8 * 1024));
    std::fs::write(&p, bytes).unwrap();
    let e = err_for(&p);
    assert!(matches!(e, AudioError::NotAudio { .. }), "{e:?}");
}

#[cfg(unix)]
#[test]
fn unreadable_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("locked.flac");
    std::fs::copy(demo_flac(), &p).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::File::open(&p).is_ok() {
        eprintln!("skipped: running as root, which reads files whatever their permissions");
        return;
    }
    let e = err_for(&p);
    assert!(matches!(e, AudioError::Open { .. }), "{e:?}");
    assert!(e.to_string().contains("Permission denied"), "{e}");
}

/// Unreadable for root too: a link to a file that is gone (a song on an unplugged drive).
#[cfg(unix)]
#[test]
fn dangling_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("on_the_usb_stick.mp3");
    std::os::unix::fs::symlink("/nonexistent/usb/song.mp3", &p).unwrap();
    let e = err_for(&p);
    assert!(matches!(e, AudioError::Open { .. }), "{e:?}");
    assert!(e.to_string().contains("No such file"), "{e}");
}
