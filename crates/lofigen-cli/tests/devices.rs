//! `--device` and `--devices` on the command line: names that are wrong or not compiled in are
//! clear errors, `auto` says where it landed, several devices train data-parallel. With
//! `--features wgpu` the same commands run on the WGPU backend (CI: lavapipe).

mod common;

use common::*;
use serde_json::Value;

#[test]
fn an_unknown_device_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = trained_run(d, "a", &[]);
    let run = run.to_str().unwrap();
    lofigen(
        d,
        &[
            "generate", "--run", run, "--out", "x.wav", "--device", "gpu",
        ],
    )
    .fails_with(&["device `gpu`", "cpu, cuda, cuda:N, wgpu or auto"]);
    assert!(!d.join("x.wav").exists());
}

#[cfg(not(feature = "cuda"))]
#[test]
fn cuda_without_the_feature_names_the_feature_to_build_with() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    train_tiny(d, "a", &["--device", "cuda:1"]).fails_with(&["device `cuda:1`", "--features cuda"]);
    assert!(!d.join("runs/a").exists(), "a refused run left a folder");
    lofigen(d, &["bench", "train", "--device", "cuda", "--steps", "1"])
        .fails_with(&["--features cuda"]);
}

#[test]
fn auto_says_which_device_it_picked_and_run_json_records_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = trained_run(d, "a", &["--device", "auto"]);
    let info: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    let device = info["device"].as_str().unwrap().to_string();
    // No GPU build picks the CPU; a wgpu build on lavapipe does too (a software rasteriser is
    // no GPU); a GPU machine's build names its card.
    if cfg!(any(feature = "cuda", feature = "wgpu")) {
        assert!(!device.is_empty());
    } else {
        assert_eq!(device, "cpu (flex)");
    }
}

#[test]
fn two_devices_train_data_parallel_with_the_single_device_steps() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let train = |run: &str, extra: &[&str]| train_tiny(d, run, extra).ok();
    // TINY_CONFIG: batch 4, 8 windows per epoch, 2 epochs.
    let one = train("one", &["--device", "cpu"]);
    let two = train("two", &["--devices", "cpu,cpu", "--batch-size", "2"]);
    one.stdout_has(&["4 steps"]);
    two.stdout_has(&["4 steps"])
        .stderr_has(&["on cpu (flex), cpu (flex)"]);
    let loss = |run: &str| -> Vec<f64> {
        std::fs::read_to_string(d.join(run).join("metrics.csv"))
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
            .collect()
    };
    let (a, b) = (loss("runs/one"), loss("runs/two"));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() <= 1e-3 * x.abs(), "{a:?} vs {b:?}");
    }
}

#[test]
fn device_and_devices_together_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let r = lofigen(
        dir.path(),
        &[
            "train",
            "--data",
            "x",
            "--run",
            "r",
            "--device",
            "cpu",
            "--devices",
            "cpu,cpu",
        ],
    );
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("cannot be used with"), "{}", r.stderr);
}

#[test]
fn mixed_precision_on_the_cpu_says_it_needs_a_gpu() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    train_tiny(d, "a", &["--device", "cpu", "--precision", "bf16"])
        .fails_with(&["train.precision", "needs a GPU backend"]);
    assert!(!d.join("runs/a").exists());
}

#[cfg(feature = "wgpu")]
#[test]
fn train_and_generate_on_wgpu_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = trained_run(d, "gpu", &["--device", "wgpu"]);
    let info: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    assert!(
        info["device"].as_str().unwrap().starts_with("wgpu"),
        "{info:#}"
    );
    let run = run.to_str().unwrap();
    lofigen(
        d,
        &[
            "generate",
            "--run",
            run,
            "--out",
            "g.wav",
            "--seconds",
            "0.5",
            "--device",
            "wgpu",
        ],
    )
    .ok()
    .stderr_has(&["checkpoint loaded on wgpu", "cached CPU engine"]);
    lofigen(
        d,
        &[
            "generate",
            "--run",
            run,
            "--out",
            "c.wav",
            "--seconds",
            "0.5",
            "--device",
            "cpu",
        ],
    )
    .ok();
    assert_eq!(
        std::fs::read(d.join("g.wav")).unwrap(),
        std::fs::read(d.join("c.wav")).unwrap(),
        "a checkpoint loaded on wgpu and on the CPU generated different audio"
    );
}
