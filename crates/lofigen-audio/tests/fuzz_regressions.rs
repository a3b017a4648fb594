//! Inputs the fuzzer (`fuzz/`, target `decode`) found, kept so that they stay fixed.

use std::path::PathBuf;

use lofigen_audio::load_mono_8k;

fn input(name: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fuzz_regressions"
    ))
    .join(name)
}

/// A WAV header claiming ~11 MHz made the resampler run for minutes (a libFuzzer timeout);
/// such packets are now skipped, and the file fails fast with an error naming it.
#[test]
fn wav_claiming_an_11_mhz_rate_is_refused_not_resampled_for_minutes() {
    let path = input("wav_rate_11mhz_hang.wav");
    let err = load_mono_8k(&path)
        .expect_err("an 11 MHz WAV is not audio we accept")
        .to_string();
    assert!(err.contains("wav_rate_11mhz_hang.wav"), "{err}");
}
