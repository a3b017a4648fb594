//! Devices in the default (CPU-only) build: data-parallel training over two devices takes the
//! same steps as one device with the whole batch, mixed precision is refused on the CPU with
//! an error that says why, and `run.json` records the devices.
//!
//! Two "devices" here are the one Flex CPU device listed twice: each computes its share of
//! every step on its own copy of the weights and its own autodiff graph, exactly as two GPUs
//! would, so the split, the weighting and the averaging of the gradients are what is tested.

use std::path::Path;

use lofigen::RunConfig;
use lofigen::config::TrainPrecision;
use lofigen::corpus::Track;
use lofigen::run::{TrainState, files};
use lofigen::train::{TrainObserver, TrainOptions, train};

mod common;

fn tiny(batch: usize) -> RunConfig {
    let mut c = common::tiny_seed();
    c.train.batch_size = batch;
    c
}

fn tracks() -> Vec<Track> {
    common::tiny_tracks()
}

/// Records the loss of every step.
#[derive(Default)]
struct Losses(Vec<f64>);
impl TrainObserver for Losses {
    fn batch_done(&mut self, _batch: usize, loss: f64) {
        self.0.push(loss);
    }
}

fn run(dir: &Path, config: &RunConfig, devices: usize) -> (Vec<f64>, TrainState) {
    let mut opts = TrainOptions::new(dir, lofigen::cpu_device());
    opts.replicas = vec![lofigen::cpu_device(); devices - 1];
    let mut losses = Losses::default();
    let state = train(config, &tracks(), &opts, &mut losses).unwrap();
    (losses.0, state)
}

#[test]
fn two_devices_with_batch_b_train_like_one_device_with_batch_2b() {
    let dir = tempfile::tempdir().unwrap();
    let (one, one_state) = run(&dir.path().join("one"), &tiny(6), 1);
    let (two, two_state) = run(&dir.path().join("two"), &tiny(3), 2);
    // 5.6 s of training audio in 1024-sample windows: 39 windows, so 7 steps of 6 per epoch,
    // the last one short (it splits 3 + 0: one device idles).
    assert_eq!(one.len(), two.len(), "steps per epoch differ");
    assert_eq!(one_state.step, two_state.step);
    assert!(one.len() >= 10, "{} steps", one.len());
    for (i, (a, b)) in one.iter().zip(&two).enumerate() {
        let rel = (a - b).abs() / a.abs().max(1e-12);
        assert!(rel < 1e-3, "step {i}: one device {a}, two devices {b}");
    }
    // And the curve is a real one: the loss fell.
    assert!(one.last().unwrap() < &(one[0] * 0.8), "{one:?}");
    for (a, b) in one_state.history.iter().zip(&two_state.history) {
        let rel = (a.valid_loss - b.valid_loss).abs() / a.valid_loss;
        assert!(
            rel < 1e-3,
            "validation {} vs {}",
            a.valid_loss,
            b.valid_loss
        );
        assert_eq!(a.windows, b.windows);
    }
}

#[test]
fn a_step_that_splits_unevenly_still_weights_every_window_alike() {
    // 39 windows, 4 per device on 3 devices: steps of 12, the last one 3 windows on one device.
    // Same windows per step as one device with batch 12.
    let dir = tempfile::tempdir().unwrap();
    let (one, _) = run(&dir.path().join("one"), &tiny(12), 1);
    let (three, _) = run(&dir.path().join("three"), &tiny(4), 3);
    assert_eq!(one.len(), three.len());
    for (i, (a, b)) in one.iter().zip(&three).enumerate() {
        let rel = (a - b).abs() / a.abs().max(1e-12);
        assert!(rel < 1e-3, "step {i}: one device {a}, three devices {b}");
    }
}

#[test]
fn run_json_records_every_device() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = tiny(2);
    config.train.epochs = 1;
    config.train.max_windows_per_epoch = Some(4);
    let rd = dir.path().join("run");
    run(&rd, &config, 2);
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(rd.join(files::RUN_INFO)).unwrap()).unwrap();
    assert_eq!(info["device"], "cpu (flex), cpu (flex)");
}

#[test]
fn mixed_precision_on_the_cpu_is_refused_before_anything_is_written() {
    for precision in [TrainPrecision::F16, TrainPrecision::Bf16] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = tiny(2);
        config.train.precision = precision;
        let rd = dir.path().join("run");
        let opts = TrainOptions::new(&rd, lofigen::cpu_device());
        let err = train(&config, &tracks(), &opts, &mut Losses::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("train.precision") && err.contains("needs a GPU backend"),
            "{err}"
        );
        assert!(!rd.exists(), "a refused run left {}", rd.display());
    }
}

#[test]
fn precision_is_a_config_key_and_f32_is_not_written_out() {
    let c = RunConfig::from_toml_str(
        "[model]\nfamily = \"seed\"\nlayers = [ { channels = 1, kernel = 4 } ]\n\
         [data]\nwindow_samples = 64\n[train]\nprecision = \"bf16\"\n",
        "p.toml".as_ref(),
    )
    .unwrap();
    assert_eq!(c.train.precision, TrainPrecision::Bf16);
    assert!(c.to_toml().contains("precision = \"bf16\""));
    // Older run directories' config.toml files stay byte-identical when rewritten.
    assert!(!tiny(2).to_toml().contains("precision"));
    let bad = RunConfig::from_toml_str(
        "[model]\nfamily = \"seed\"\nlayers = [ { channels = 1, kernel = 4 } ]\n\
         [train]\nprecision = \"f8\"\n",
        "p.toml".as_ref(),
    )
    .unwrap_err()
    .to_string();
    assert!(bad.contains("precision") || bad.contains("f8"), "{bad}");
}
