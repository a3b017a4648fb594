//! The cached engine against the full forward pass (its oracle), on real audio.

use burn::prelude::*;
use lofigen::RunConfig;
use lofigen::generate::{
    AudioStream, Engine, GenerateOptions, KernelPath, Precision, engine_generate, full_forward,
    generate, naive_generate,
};
use lofigen::model::{Model, SeedConvNet};

mod common;

fn model(name: &str, device: &Device) -> SeedConvNet {
    let config = RunConfig::preset(name).unwrap();
    let Model::Seed(m) = config.model.init_seeded(11, device) else {
        panic!("a seed preset builds a seed model")
    };
    m
}

/// Feed real audio through the engine sample by sample (teacher forcing) and compare every
/// prediction with one full forward pass over the same audio, for every kernel path this CPU
/// can run.
fn check_against_full_forward(name: &str, streams: usize, steps: usize) {
    let device = lofigen::cpu_device();
    let m = model(name, &device);
    let clip = common::demo_clip();
    let signals: Vec<&[f32]> = (0..streams)
        .map(|s| &clip.samples[8000 + s * 3001..8000 + s * 3001 + steps])
        .collect();
    let full: Vec<Vec<f32>> = signals
        .iter()
        .map(|x| full_forward(&m, x, &device))
        .collect();
    for f in &full {
        assert!(
            f.iter().any(|v| v.abs() > 1e-3),
            "{name}: outputs are all near zero, the test would be vacuous"
        );
    }
    for path in KernelPath::available() {
        let mut engine = Engine::from_seed(&m, streams, Precision::F32).with_kernel(path);
        let mut preds = vec![vec![0.0f32; steps]; streams];
        let mut input = vec![0.0; streams];
        let mut out = vec![0.0; streams];
        for t in 0..steps {
            for s in 0..streams {
                input[s] = signals[s][t];
            }
            engine.step(&input, &mut out);
            for s in 0..streams {
                preds[s][t] = out[s];
            }
        }
        for s in 0..streams {
            let scale = full[s].iter().fold(0.0f32, |a, v| a.max(v.abs())).max(1.0);
            let worst = full[s]
                .iter()
                .zip(&preds[s])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(
                worst <= 1e-4 * scale,
                "{name} {path:?} stream {s}/{streams}: max diff {worst} (scale {scale})"
            );
        }
    }
}

#[test]
fn engine_equals_full_forward_seed4_batch_1_and_8() {
    check_against_full_forward("seed4", 1, 2500);
    check_against_full_forward("seed4", 8, 2100);
}

#[test]
fn engine_equals_full_forward_seed6_batch_1_and_8() {
    check_against_full_forward("seed6", 1, 2500);
    check_against_full_forward("seed6", 8, 2100);
}

#[test]
fn engine_equals_full_forward_seed6_code_batch_1_and_8() {
    check_against_full_forward("seed6-code", 1, 2500);
    check_against_full_forward("seed6-code", 8, 2100);
}

#[test]
fn closed_loop_generation_equals_the_naive_generator() {
    let device = lofigen::cpu_device();
    let m = model("seed4", &device);
    let clip = common::demo_clip();
    // Longer than the receptive field, so the engine's prefill cut is exercised too.
    let seed = &clip.samples[4000..4000 + 2000];
    let naive = naive_generate(&m, seed, 120, &device);
    let mut engine = Engine::from_seed(&m, 1, Precision::F32);
    let fast = engine_generate(&mut engine, &[seed], 120);
    let worst = naive
        .iter()
        .zip(&fast[0])
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst <= 1e-4, "max diff {worst}");
}

#[test]
fn a_stream_read_in_chunks_equals_generate_and_the_batch_generator() {
    let device = lofigen::cpu_device();
    let config = RunConfig::preset("seed4").unwrap();
    let model = config.model.init_seeded(11, &device);
    let Model::Seed(m) = &model else {
        unreachable!()
    };
    let seed = &common::demo_clip().samples[6000..9000];
    let opts = GenerateOptions {
        seconds: 0.25,
        ..Default::default()
    };
    let whole = generate(&model, seed, &opts).samples;
    assert_eq!(whole.len(), 2000);
    assert!(
        whole.iter().any(|&x| x != whole[0]),
        "a constant output proves little"
    );
    let mut stream = AudioStream::new(&model, seed, &opts);
    let mut chunked = Vec::new();
    for n in [1, 999, 3, 997] {
        let mut chunk = vec![f32::NAN; n];
        stream.fill(&mut chunk);
        chunked.extend(chunk);
    }
    assert_eq!(whole, chunked);
    let mut engine = Engine::from_seed(m, 1, Precision::F32);
    assert_eq!(whole, engine_generate(&mut engine, &[seed], 2000)[0]);
}

#[test]
fn reset_reproduces_the_first_run_exactly() {
    let device = lofigen::cpu_device();
    let m = model("seed4", &device);
    let clip = common::demo_clip();
    let seeds: Vec<&[f32]> = (0..3)
        .map(|s| &clip.samples[s * 5000..s * 5000 + 900])
        .collect();
    let mut engine = Engine::from_seed(&m, 3, Precision::F32);
    let first = engine_generate(&mut engine, &seeds, 500);
    let second = engine_generate(&mut engine, &seeds, 500);
    assert_eq!(first, second);
}

#[test]
fn f16_weights_stay_within_1e_2_of_f32_and_every_kernel_path_agrees() {
    let device = lofigen::cpu_device();
    let m = model("seed6-code", &device);
    let clip = common::demo_clip();
    // Two streams at different places of the clip, so tiles of several streams run too.
    let signals = [
        &clip.samples[10_000..10_000 + 1500],
        &clip.samples[20_000..20_000 + 1500],
    ];
    let run = |mut e: Engine| -> Vec<f32> {
        let mut out = [0.0; 2];
        let mut got = Vec::new();
        for (&a, &b) in signals[0].iter().zip(signals[1]) {
            e.step(&[a, b], &mut out);
            got.extend_from_slice(&out);
        }
        got
    };
    let max_diff = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max)
    };
    let paths = KernelPath::available();
    assert_eq!(paths.last(), Some(&KernelPath::Portable));
    let f32_ref = run(Engine::from_seed(&m, 2, Precision::F32).with_kernel(KernelPath::Portable));
    let f16_ref = run(Engine::from_seed(&m, 2, Precision::F16).with_kernel(KernelPath::Portable));
    let d = max_diff(&f32_ref, &f16_ref);
    assert!(d <= 1e-2, "f16: {d}");
    assert!(d > 0.0, "f16 path should actually round the weights");
    for &path in &paths {
        for (precision, want) in [(Precision::F32, &f32_ref), (Precision::F16, &f16_ref)] {
            let got = run(Engine::from_seed(&m, 2, precision).with_kernel(path));
            let d = max_diff(want, &got);
            assert!(d <= 1e-5, "{path:?} {precision:?} vs portable: {d}");
        }
    }
}

#[test]
fn threaded_and_single_threaded_engines_agree_exactly() {
    // The split across threads (by blocks of outputs, or by streams for the 16-output layers)
    // must not change a single bit: every output is still summed by one thread in one order.
    let device = lofigen::cpu_device();
    let m = model("seed6-code", &device);
    let clip = common::demo_clip();
    let seeds: Vec<&[f32]> = (0..4)
        .map(|s| &clip.samples[3000 + s * 4000..3000 + s * 4000 + 1300])
        .collect();
    for path in KernelPath::available() {
        let mut one = Engine::from_seed(&m, 4, Precision::F32)
            .with_kernel(path)
            .with_threads(1);
        let mut two = Engine::from_seed(&m, 4, Precision::F32)
            .with_kernel(path)
            .with_threads(2);
        let a = engine_generate(&mut one, &seeds, 300);
        let b = engine_generate(&mut two, &seeds, 300);
        assert_eq!(a, b, "{path:?}");
    }
}

#[test]
fn memory_per_stream_is_bounded_by_receptive_field_times_channels() {
    let device = lofigen::cpu_device();
    let m = model("seed6-code", &device);
    let e = Engine::from_seed(&m, 4, Precision::F32);
    assert_eq!(e.receptive_field(), 1275);
    // Each layer keeps (span x input channels) floats, stored twice over.
    let bound: usize = m
        .layers
        .iter()
        .map(|l| 2 * (l.lookback() + 1) * l.dims()[1] * 4)
        .sum();
    assert_eq!(e.state_bytes_per_stream(), bound);
    assert_eq!(
        e.macs_per_sample(),
        4_722_977 - (16 + 64 + 128 + 64 + 16 + 1)
    );
}
