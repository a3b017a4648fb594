//! Broken, missing and cut files: a clear error naming the file, or the audio that was there;
//! never a panic.

mod common;

use std::path::Path;

use common::data;
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
fn cut(rel: &str, dir: &Path, num: u64, den: u64) -> std::path::PathBuf {
    let src = data(rel);
    let bytes = std::fs::read(&src).unwrap();
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
    let p = cut("demo/demo_island_dreams_30s.mp3", dir.path(), 1, 2);
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
    let p = cut("demo/demo_island_dreams_30s.flac", dir.path(), 1, 2);
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
    let src = data("demo/demo_island_dreams_30s.flac");
    let bytes = std::fs::read(&src).unwrap();
    for keep in [3usize, 20, 60] {
        let p = dir.path().join(format!("head{keep}.flac"));
        std::fs::write(&p, &bytes[..keep]).unwrap();
        err_for(&p);
    }
}

#[test]
fn zero_target_rate_is_an_error() {
    let p = data("demo/demo_island_dreams_30s.flac");
    let e = load_mono(&p, 0, &mut |_, _| {}).unwrap_err();
    assert!(matches!(e, AudioError::BadTargetRate { .. }));
    assert!(e.to_string().contains("demo_island_dreams_30s.flac"));
}
