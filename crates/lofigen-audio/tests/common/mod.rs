//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The shared music folder (repo at /work/main, data at /work/shared; CI has the same layout).
pub fn data_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data"))
}

/// A file under the shared data folder, with a clear failure if the layout is wrong.
pub fn data(rel: &str) -> PathBuf {
    let p = data_dir().join(rel);
    assert!(p.is_file(), "test data missing: {}", p.display());
    p
}

/// Level ratio in decibels.
pub fn db(a: f32, b: f32) -> f32 {
    20.0 * (a / b).log10()
}

/// RMS of a slice (0 when empty).
pub fn rms(x: &[f32]) -> f32 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len() as f64).sqrt() as f32
}
