//! The GPU code path on burn's WGPU backend (`cargo test --release --features wgpu`; CI runs it
//! over lavapipe, Mesa's software Vulkan driver).
//!
//! WGPU runs burn's own ops: the hand-written Flex kernels (FFT convolution, fused WaveNet
//! stack) are not there, so these tests also check that the models fall back to burn ops and
//! still compute what the CPU computes. A missing Vulkan driver fails every test here, loudly:
//! the point of running them is that the GPU path was exercised.
#![cfg(feature = "wgpu")]

use std::path::Path;

use burn::prelude::*;
use lofigen::RunConfig;
use lofigen::config::TrainPrecision;
use lofigen::corpus::Track;
use lofigen::device::{DeviceSpec, is_flex, resolve};
use lofigen::generate::oracle::{full_forward, full_logits};
use lofigen::generate::{GenerateOptions, generate};
use lofigen::model::Model;
use lofigen::run::{RunDir, files, load_model};
use lofigen::train::{TrainObserver, TrainOptions, train};

mod common;

/// The WGPU device; panics (failing the test) when there is none.
fn wgpu() -> Device {
    match resolve(DeviceSpec::Wgpu) {
        Ok(d) => {
            eprintln!("wgpu device: {}", d.name);
            d.device
        }
        Err(e) => panic!(
            "the wgpu tests need a Vulkan (or Metal, DX12) driver and found none: {e}. \
             scripts/setup.sh installs mesa-vulkan-drivers"
        ),
    }
}

fn seed_config() -> RunConfig {
    let mut c = common::tiny_seed();
    c.train.epochs = 1;
    c.train.max_windows_per_epoch = Some(24);
    c.train.max_valid_windows = Some(8);
    c
}

fn wavenet_config() -> RunConfig {
    RunConfig::from_toml_str(
        r#"
        [model]
        family = "wavenet"
        classes = 64
        residual_channels = 8
        skip_channels = 16
        layers_per_stack = 5
        stacks = 1
        [data]
        window_samples = 512
        normalize_loudness = true
        [train]
        learning_rate = 3e-3
        batch_size = 2
        epochs = 1
        seed = 5
        max_windows_per_epoch = 12
        max_valid_windows = 4
        "#,
        "tiny-wavenet.toml".as_ref(),
    )
    .unwrap()
}

fn tracks() -> Vec<Track> {
    vec![common::demo_track(2.0, 8.0)]
}

#[derive(Default)]
struct Losses(Vec<f64>);
impl TrainObserver for Losses {
    fn batch_done(&mut self, _batch: usize, loss: f64) {
        self.0.push(loss);
    }
}

fn train_on(dir: &Path, config: &RunConfig, device: Device) -> Vec<f64> {
    let opts = TrainOptions::new(dir, device);
    let mut losses = Losses::default();
    train(config, &tracks(), &opts, &mut losses).unwrap();
    losses.0
}

/// Per-step losses agree within `rel` (relative).
fn assert_close(name: &str, cpu: &[f64], gpu: &[f64], rel: f64) {
    assert_eq!(cpu.len(), gpu.len(), "{name}: step counts differ");
    assert!(!cpu.is_empty());
    for (i, (a, b)) in cpu.iter().zip(gpu).enumerate() {
        assert!(b.is_finite(), "{name} step {i}: loss {b}");
        let d = (a - b).abs() / a.abs().max(1e-12);
        assert!(
            d < rel,
            "{name} step {i}: cpu {a}, wgpu {b} ({d:.2e} apart)"
        );
    }
}

#[test]
fn the_wgpu_device_is_a_gpu_backend_and_records_itself() {
    let device = wgpu();
    assert!(!is_flex(&device));
    let dir = tempfile::tempdir().unwrap();
    let mut config = seed_config();
    config.train.max_windows_per_epoch = Some(4);
    let rd = dir.path().join("run");
    train_on(&rd, &config, device);
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(rd.join(files::RUN_INFO)).unwrap()).unwrap();
    let name = info["device"].as_str().unwrap();
    assert!(name.starts_with("wgpu"), "run.json says {name}");
}

#[test]
fn a_seed_gives_the_same_initial_weights_on_wgpu_as_on_the_cpu() {
    // Every backend has its own RNG; the weights are drawn on the CPU so that a seeded run
    // starts from the same point everywhere.
    // The whole record as burnpack bytes: every parameter's path, id and data.
    let weights = |model: Model| -> Vec<u8> {
        model
            .into_record()
            .into_bytes()
            .expect("a record serialises")
            .to_vec()
    };
    for config in [seed_config(), wavenet_config()] {
        let (cpu, gpu) = (lofigen::cpu_device().autodiff(), wgpu().autodiff());
        let a = weights(config.model.init_seeded(9, &cpu));
        let b = weights(config.model.init_seeded(9, &gpu));
        assert_eq!(a, b, "{}: seeded weights differ", config.model.family());
        let c = weights(config.model.init_seeded(10, &gpu));
        assert_ne!(a, c, "another seed gives the same weights");
    }
}

#[test]
fn seed_model_trains_on_wgpu_with_the_cpu_losses() {
    let dir = tempfile::tempdir().unwrap();
    let config = seed_config();
    let cpu = train_on(&dir.path().join("cpu"), &config, lofigen::cpu_device());
    let gpu = train_on(&dir.path().join("gpu"), &config, wgpu());
    // The CPU runs the FFT convolution, WGPU burn's direct one: the same function, rounded
    // differently, and Adam carries the differences along for a few steps.
    assert_close("seed", &cpu, &gpu, 2e-3);
    assert!(
        gpu.last().unwrap() < &gpu[0],
        "wgpu loss did not fall: {gpu:?}"
    );
}

#[test]
fn wavenet_trains_on_wgpu_through_burn_ops_with_the_cpu_losses() {
    let dir = tempfile::tempdir().unwrap();
    let config = wavenet_config();
    let cpu = train_on(&dir.path().join("cpu"), &config, lofigen::cpu_device());
    let gpu = train_on(&dir.path().join("gpu"), &config, wgpu());
    // The CPU runs the fused residual stack, WGPU the composed burn ops.
    assert_close("wavenet", &cpu, &gpu, 2e-3);
}

/// Largest absolute difference of two equally long slices.
fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Train on `from`, then load the checkpoint on both backends: the burn forward pass agrees,
/// and the generated audio (the cached CPU engine, from weights read back off each device) is
/// the same.
fn checkpoint_moves(config: &RunConfig, from: Device) {
    let dir = tempfile::tempdir().unwrap();
    let rd = dir.path().join("run");
    train_on(&rd, config, from);
    let ck = RunDir::new(&rd).latest_checkpoint().unwrap();
    let (cpu, gpu) = (lofigen::cpu_device(), wgpu());
    let on_cpu = load_model(config, &ck, &cpu).unwrap();
    let on_gpu = load_model(config, &ck, &gpu).unwrap();
    let audio = &common::demo_clip().samples[8000..8000 + 700];
    match (&on_cpu, &on_gpu) {
        (Model::Paper(a), Model::Paper(b)) => {
            let d = max_diff(&full_forward(a, audio, &cpu), &full_forward(b, audio, &gpu));
            assert!(d < 1e-4, "forward passes differ by {d}");
        }
        (Model::WaveNet(a), Model::WaveNet(b)) => {
            let q = a.classes;
            let classes: Vec<usize> = audio
                .iter()
                .map(|&x| lofigen_audio::mulaw::encode(x, q))
                .collect();
            let d = max_diff(
                &full_logits(a, &classes, 0, &cpu),
                &full_logits(b, &classes, 0, &gpu),
            );
            assert!(d < 1e-3, "logits differ by {d}");
        }
        _ => unreachable!("one config, one family"),
    }
    let opts = GenerateOptions {
        seconds: 0.25,
        ..Default::default()
    };
    let (a, b) = (
        generate(&on_cpu, audio, &opts),
        generate(&on_gpu, audio, &opts),
    );
    assert_eq!(a.len(), 2000);
    assert_eq!(
        a.samples, b.samples,
        "the same checkpoint generated differently"
    );
}

#[test]
fn a_checkpoint_trained_on_wgpu_loads_and_generates_on_the_cpu() {
    checkpoint_moves(&seed_config(), wgpu());
    checkpoint_moves(&wavenet_config(), wgpu());
}

#[test]
fn a_checkpoint_trained_on_the_cpu_loads_and_generates_on_wgpu() {
    checkpoint_moves(&seed_config(), lofigen::cpu_device());
}

#[test]
fn mixed_precision_on_wgpu_keeps_losses_finite_and_near_f32_or_says_why_not() {
    let dir = tempfile::tempdir().unwrap();
    let device = wgpu();
    let config = wavenet_config();
    let f32_losses = train_on(&dir.path().join("f32"), &config, device.clone());
    for (precision, dtype) in [
        (TrainPrecision::F16, burn::tensor::DType::F16),
        (TrainPrecision::Bf16, burn::tensor::DType::BF16),
    ] {
        let mut c = config.clone();
        c.train.precision = precision;
        let rd = dir.path().join(format!("{precision:?}"));
        if device.supports_dtype(dtype) {
            let losses = train_on(&rd, &c, device.clone());
            eprintln!("{precision:?}: {losses:?}");
            // Low-precision compute moves the curve, but not far: these are cross-entropies
            // around ln(64) = 4.2 nats.
            assert_close(&format!("{precision:?}"), &f32_losses, &losses, 5e-2);
        } else {
            let opts = TrainOptions::new(&rd, device.clone());
            let err = train(&c, &tracks(), &opts, &mut Losses::default())
                .unwrap_err()
                .to_string();
            eprintln!("{precision:?} unsupported here: {err}");
            assert!(
                err.contains("train.precision") && err.contains("cannot compute"),
                "{err}"
            );
            assert!(!rd.exists());
        }
    }
}

#[test]
fn two_wgpu_shares_train_like_one_wgpu_batch() {
    // The data-parallel path with a GPU backend: the replica's gradients come over from its
    // own autodiff graph (on the same adapter: this machine has one).
    let dir = tempfile::tempdir().unwrap();
    let mut one = seed_config();
    one.train.batch_size = 4;
    let mut two = seed_config();
    two.train.batch_size = 2;
    let a = train_on(&dir.path().join("one"), &one, wgpu());
    let opts = {
        let mut o = TrainOptions::new(dir.path().join("two"), wgpu());
        o.replicas = vec![wgpu()];
        o
    };
    let mut b = Losses::default();
    train(&two, &tracks(), &opts, &mut b).unwrap();
    assert_close("data parallel", &a, &b.0, 1e-3);
}

#[test]
fn a_tensor_round_trip_through_wgpu_is_exact() {
    // The smallest possible check that data reach the device and come back unchanged.
    let device = wgpu();
    let x: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.37).sin()).collect();
    let t = Tensor::<1>::from_data(TensorData::new(x.clone(), [1000]), &device);
    let back: Vec<f32> = t.into_data().try_to_vec().unwrap();
    assert_eq!(x, back);
}
