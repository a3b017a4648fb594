//! Shared helpers for the integration tests: real audio from shared/data.
#![allow(dead_code)] // each test file uses a different subset

use std::path::PathBuf;

use lofigen::RunConfig;
use lofigen::corpus::Track;
use lofigen_audio::{Clip, load_mono_8k};

/// The shared data folder (CI has it beside the repository too).
pub fn shared_data() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data"))
}

/// The bundled demo clip (30 s of Island Dreams, 8 kHz).
pub fn demo_path() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../assets/demo_island_dreams_30s.flac"
    ))
}

/// The demo clip decoded.
pub fn demo_clip() -> Clip {
    load_mono_8k(&demo_path())
        .expect("bundled demo clip decodes")
        .0
}

/// `seconds` of the demo clip from `start_s`, as a track.
pub fn demo_track(start_s: f64, seconds: f64) -> Track {
    let clip = demo_clip();
    let a = (start_s * 8000.0) as usize;
    let b = a + (seconds * 8000.0) as usize;
    Track {
        path: demo_path(),
        label: "lofi".into(),
        clip: Clip::new(clip.samples[a..b].to_vec(), 8000),
    }
}

/// A three-layer seed model small enough to train in well under a second: 1024-sample
/// windows, batch 4, two epochs (callers change what they vary).
pub fn tiny_seed() -> RunConfig {
    RunConfig::from_toml_str(
        r#"
        [model]
        family = "seed"
        layers = [ { channels = 8, kernel = 16 }, { channels = 8, kernel = 16 }, { channels = 1, kernel = 16 } ]
        [data]
        window_samples = 1024
        [train]
        learning_rate = 3e-3
        batch_size = 4
        epochs = 2
        seed = 5
        "#,
        "tiny.toml".as_ref(),
    )
    .unwrap()
}

/// Two seconds into the bundled clip, 8 seconds of it: the one track the training tests use.
pub fn tiny_tracks() -> Vec<Track> {
    vec![demo_track(2.0, 8.0)]
}
