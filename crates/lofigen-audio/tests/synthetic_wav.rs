//! Synthesised WAV files in every layout the decoder must handle: the tone has to come out at
//! 8 kHz mono at the same pitch and level.

mod common;

use common::{db, rms};
use lofigen_audio::signal::{sine, white_noise};
use lofigen_audio::spectrum::peak_frequency;
use lofigen_audio::{
    Clip, TARGET_RATE, load_mono, load_mono_8k, resample, write_wav_f32, write_wav_int, write_wav16,
};

/// The middle of a clip, away from the start and end transients.
fn middle(x: &[f32]) -> &[f32] {
    &x[x.len() / 8..x.len() * 7 / 8]
}

/// Decodes `path` and checks the 440 Hz tone survived: rate, length, pitch and level.
fn check_tone(path: &std::path::Path, seconds: f32, amplitude: f32) -> Clip {
    let (clip, report) = load_mono_8k(path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(clip.sample_rate, TARGET_RATE);
    let want = (f64::from(seconds) * 8000.0).round() as i64;
    assert!(
        (clip.len() as i64 - want).abs() <= 2,
        "{} samples, want {want}",
        clip.len()
    );
    assert!(!report.truncated);
    assert_eq!(report.skipped_packets, 0);
    let f = peak_frequency(&clip.samples, 8000);
    assert!((f - 440.0).abs() < 2.0, "peak at {f} Hz");
    let expected_rms = amplitude / 2f32.sqrt();
    let d = db(rms(middle(&clip.samples)), expected_rms);
    assert!(d.abs() < 0.5, "level off by {d} dB");
    clip
}

#[test]
fn sine_44k1_stereo_float() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("sine44.wav");
    let l = sine(440.0, 44100, 2.0, 0.5);
    write_wav_f32(&p, &[l.clone(), l], 44100).unwrap();
    let (_, report) = load_mono_8k(&p).unwrap();
    assert_eq!(report.source_rate, 44100);
    assert_eq!(report.channels, 2);
    check_tone(&p, 2.0, 0.5);
}

#[test]
fn sine_48k_16bit_stereo_with_opposite_noise_cancels_to_the_tone() {
    // Channel averaging: noise in opposite phase on the two channels must cancel exactly.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("sine48.wav");
    let s = sine(440.0, 48000, 2.0, 0.4);
    let n = white_noise(s.len(), 0.2, 1);
    let l: Vec<f32> = s.iter().zip(&n).map(|(a, b)| a + b).collect();
    let r: Vec<f32> = s.iter().zip(&n).map(|(a, b)| a - b).collect();
    write_wav_int(&p, &[l, r], 48000, 16).unwrap();
    let (_, report) = load_mono_8k(&p).unwrap();
    assert_eq!((report.source_rate, report.channels), (48000, 2));
    assert!(report.codec.starts_with("pcm"), "{}", report.codec);
    check_tone(&p, 2.0, 0.4);
}

#[test]
fn six_channel_24bit_decodes_to_the_channel_average() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("six.wav");
    // Tone on channel 2 only: the mono mix is a sixth of it.
    let tone = sine(440.0, 32000, 1.0, 0.9);
    let mut chans = vec![vec![0.0f32; tone.len()]; 6];
    chans[2] = tone;
    write_wav_int(&p, &chans, 32000, 24).unwrap();
    let (_, report) = load_mono_8k(&p).unwrap();
    assert_eq!((report.source_rate, report.channels), (32000, 6));
    check_tone(&p, 1.0, 0.9 / 6.0);
}

#[test]
fn eight_bit_mono_decodes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("eight.wav");
    write_wav_int(&p, &[sine(440.0, 22050, 1.0, 0.8)], 22050, 8).unwrap();
    let (_, report) = load_mono_8k(&p).unwrap();
    assert_eq!((report.source_rate, report.channels), (22050, 1));
    // 8-bit quantisation noise is -50 dB or so: level and pitch still hold.
    check_tone(&p, 1.0, 0.8);
}

#[test]
fn thirty_two_bit_int_and_96k_float_decode() {
    let dir = tempfile::tempdir().unwrap();
    let p32 = dir.path().join("i32.wav");
    write_wav_int(&p32, &[sine(440.0, 16000, 1.0, 0.6)], 16000, 32).unwrap();
    check_tone(&p32, 1.0, 0.6);
    let p96 = dir.path().join("f96.wav");
    let t = sine(440.0, 96000, 1.0, 0.6);
    write_wav_f32(&p96, &[t.clone(), t], 96000).unwrap();
    let (_, report) = load_mono_8k(&p96).unwrap();
    assert_eq!((report.source_rate, report.channels), (96000, 2));
    check_tone(&p96, 1.0, 0.6);
}

#[test]
fn five_khz_is_removed_when_going_to_8k() {
    // 5 kHz is above the 4 kHz Nyquist of the output: it must be filtered, not folded to 3 kHz.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("five.wav");
    let x = sine(5000.0, 44100, 2.0, 0.5);
    write_wav_f32(&p, std::slice::from_ref(&x), 44100).unwrap();
    let (clip, _) = load_mono_8k(&p).unwrap();
    let att = db(rms(middle(&clip.samples)), rms(&x));
    assert!(att < -40.0, "5 kHz only attenuated by {att} dB");
    // The same through the whole-clip resampler.
    let y = resample(&Clip::new(x.clone(), 44100), 8000);
    let att = db(rms(middle(&y.samples)), rms(&x));
    assert!(att < -40.0, "5 kHz only attenuated by {att} dB (resample)");
}

#[test]
fn streaming_decode_matches_whole_clip_resample() {
    // load_mono feeds the resampler packet by packet; the result must not depend on that.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("noise.wav");
    let x = white_noise(44100 * 3 + 17, 0.5, 9);
    write_wav_f32(&p, std::slice::from_ref(&x), 44100).unwrap();
    let (streamed, _) = load_mono_8k(&p).unwrap();
    let whole = resample(&Clip::new(x, 44100), 8000);
    assert_eq!(streamed.len(), whole.len());
    let max_diff = streamed
        .samples
        .iter()
        .zip(&whole.samples)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        max_diff < 1e-5,
        "streamed and whole-clip differ by {max_diff}"
    );
}

#[test]
fn write_wav16_then_load_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("rt.wav");
    let mut x = white_noise(8000, 0.9, 4);
    x.extend([1.0, -1.0, 0.0, 0.5, -0.25, 1.0 / 32768.0]);
    let clip = Clip::new(x, 8000);
    write_wav16(&p, &clip).unwrap();
    let (back, report) = load_mono_8k(&p).unwrap();
    assert_eq!(report.source_rate, 8000);
    assert_eq!(back.len(), clip.len());
    for (i, (a, b)) in clip.samples.iter().zip(&back.samples).enumerate() {
        assert!(
            (a - b).abs() <= 1.0 / 32768.0,
            "sample {i}: wrote {a}, read {b}"
        );
    }
    // No temp files left next to the output.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["rt.wav".to_string()]);
}

#[test]
fn load_at_other_target_rate() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.wav");
    write_wav_f32(&p, &[sine(1000.0, 44100, 1.0, 0.5)], 44100).unwrap();
    let (c, _) = load_mono(&p, 16000, &mut |_, _| {}).unwrap();
    assert_eq!(c.sample_rate, 16000);
    assert!((c.len() as i64 - 16000).abs() <= 2);
    assert!((peak_frequency(&c.samples, 16000) - 1000.0).abs() < 2.0);
}
