//! The cached engine against the full forward pass (its oracle), on real audio.

use burn::prelude::*;
use lofigen::RunConfig;
use lofigen::generate::oracle::{full_forward, naive_generate};
use lofigen::generate::{
    AudioStream, Engine, GenerateOptions, KernelPath, PaperEngine, Precision, engine_generate,
    generate,
};
use lofigen::model::{Model, PaperNet};

mod common;

fn model(name: &str, device: &Device) -> PaperNet {
    let config = RunConfig::preset(name).unwrap();
    let Model::Paper(m) = config.model.init_seeded(11, device) else {
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
        let mut engine = PaperEngine::new(&m, streams, Precision::F32).with_kernel(path);
        let inputs: Vec<Vec<f32>> = signals.iter().map(|s| s.to_vec()).collect();
        let preds = common::teacher_forced(&mut engine, &inputs);
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
    let mut engine = PaperEngine::new(&m, 1, Precision::F32);
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
    let Model::Paper(m) = &model else {
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
    let mut engine = PaperEngine::new(m, 1, Precision::F32);
    assert_eq!(whole, engine_generate(&mut engine, &[seed], 2000)[0]);
}

/// Threads, kernel paths, f16 and reset: what every engine must keep
/// (`common::check_engine_invariants`), here at seed6-code's sizes over several streams.
#[test]
fn the_paper_engine_keeps_every_engine_invariant() {
    let device = lofigen::cpu_device();
    let m = model("seed6-code", &device);
    let clip = common::demo_clip();
    let inputs: Vec<Vec<f32>> = (0..4)
        .map(|s| clip.samples[3000 + s * 4000..3000 + s * 4000 + 1300].to_vec())
        .collect();
    common::check_engine_invariants(|p| PaperEngine::new(&m, 4, p), &inputs);
}

#[test]
fn memory_per_stream_is_bounded_by_receptive_field_times_channels() {
    let device = lofigen::cpu_device();
    let m = model("seed6-code", &device);
    let e = PaperEngine::new(&m, 4, Precision::F32);
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
