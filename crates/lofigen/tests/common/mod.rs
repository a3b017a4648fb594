//! Helpers of the core crate's integration tests: tracks cut from the bundled demo clip, a
//! tiny config, and what every generation engine must do (the audio itself comes from
//! `lofigen-testkit`).
#![allow(dead_code)] // each test file uses a different subset

use lofigen::RunConfig;
use lofigen::corpus::Track;
use lofigen::generate::{Engine, KernelPath, Precision};
use lofigen_audio::Clip;

#[allow(unused_imports)] // each test binary uses a different subset
pub use lofigen_testkit::{demo_clip, demo_flac as demo_path, test_audio};

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

/// A tiny WaveNet's config text: one full dilation cycle (1..512), so the rings really span 512
/// steps and a prompt shorter than the 1,025-sample receptive field is a real case; `model_extra`
/// goes into `[model]` (genres, controls).
pub fn tiny_wavenet_toml(model_extra: &str) -> String {
    format!(
        r#"
        [model]
        family = "wavenet"
        classes = 256
        residual_channels = 8
        skip_channels = 16
        layers_per_stack = 10
        stacks = 1
        {model_extra}
        [data]
        window_samples = 2048
        normalize_loudness = true
        [train]
        learning_rate = 3e-3
        batch_size = 2
        seed = 5
        "#
    )
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

/// Feeds `inputs[s][t]` to stream `s` at step `t` (equal lengths) and returns each stream's
/// outputs of every step, `[stream][step * outputs per stream]`.
pub fn teacher_forced<E: Engine>(e: &mut E, inputs: &[Vec<E::Input>]) -> Vec<Vec<f32>> {
    let b = inputs.len();
    let mut got = vec![Vec::new(); b];
    let mut step_in = vec![E::Input::default(); b];
    for t in 0..inputs[0].len() {
        for (x, input) in step_in.iter_mut().zip(inputs) {
            *x = input[t];
        }
        let out = e.step(&step_in);
        let per = out.len() / b;
        for (s, g) in got.iter_mut().enumerate() {
            g.extend_from_slice(&out[s * per..(s + 1) * per]);
        }
    }
    got
}

/// Largest absolute difference between two runs.
pub fn max_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    a.iter()
        .flatten()
        .zip(b.iter().flatten())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// What every engine must do, whatever its family, on `inputs` (one sequence per stream): on
/// every kernel path this CPU runs, two threads give the bits of one and the outputs equal the
/// portable path's within 1e-5 of their scale; f16 weights stay within 1e-2 of f32 (and do
/// round); `reset` reproduces a run exactly, and `reset_stream` one stream's run while the
/// others go on.
pub fn check_engine_invariants<E: Engine>(make: impl Fn(Precision) -> E, inputs: &[Vec<E::Input>]) {
    let run = |e: E| teacher_forced(&mut { e }, inputs);
    let f32_ref = run(make(Precision::F32).with_kernel(KernelPath::Portable));
    let scale = f32_ref.iter().flatten().fold(0.0f32, |a, v| a.max(v.abs()));
    assert!(scale > 1e-3, "vacuous: outputs ~ 0");
    let f16_ref = run(make(Precision::F16).with_kernel(KernelPath::Portable));
    let d = max_diff(&f32_ref, &f16_ref);
    assert!(
        d <= 1e-2 * scale && d > 0.0,
        "f16: max diff {d} (scale {scale})"
    );
    let paths = KernelPath::available();
    assert_eq!(paths.last(), Some(&KernelPath::Portable));
    for &path in &paths {
        for (precision, want) in [(Precision::F32, &f32_ref), (Precision::F16, &f16_ref)] {
            let one = run(make(precision).with_kernel(path).with_threads(1));
            let two = run(make(precision).with_kernel(path).with_threads(2));
            assert_eq!(
                one, two,
                "{path:?} {precision:?}: threads changed the outputs"
            );
            let d = max_diff(want, &one);
            assert!(d <= 1e-5 * scale, "{path:?} {precision:?} vs portable: {d}");
        }
    }
    let mut e = make(Precision::F32);
    let first = teacher_forced(&mut e, inputs);
    e.reset();
    assert_eq!(first, teacher_forced(&mut e, inputs), "reset");
    let last = inputs.len() - 1;
    e.reset_stream(last);
    let again = teacher_forced(&mut e, inputs);
    assert_eq!(again[last], first[last], "reset_stream({last})");
    if last > 0 {
        assert_ne!(
            again[0], first[0],
            "reset_stream reset the other streams too"
        );
    }
}
