//! Kills and interrupts during training: nothing corrupt is ever loaded, resume finishes the
//! run, and the metrics hold every epoch exactly once.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{keys, lofigen, metrics, prepared_corpus, write};

const EPOCHS: usize = 30;

/// Small, but slow enough (~0.1 s an epoch) that kills land inside training.
fn config() -> String {
    common::TINY_CONFIG
        .replace("channels = 4, kernel = 8", "channels = 16, kernel = 32")
        .replace("kernel = 8 }", "kernel = 32 }")
        .replace("epochs = 2", &format!("epochs = {EPOCHS}"))
        .replace("max_windows_per_epoch = 8", "max_windows_per_epoch = 48")
}

fn spawn_train(dir: &std::path::Path, resume: bool) -> std::process::Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lofigen"));
    cmd.args([
        "train",
        "--config",
        "tiny.toml",
        "--data",
        "corpus",
        "--run",
        "runs/k",
    ])
    .current_dir(dir)
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    if resume {
        cmd.arg("--resume");
    }
    cmd.spawn().expect("lofigen starts")
}

fn expected_keys() -> Vec<(usize, &'static str)> {
    let mut k: Vec<(usize, &str)> = (1..=EPOCHS)
        .flat_map(|e| [(e, "train"), (e, "valid")])
        .collect();
    k.push((EPOCHS, "test"));
    k
}

#[test]
fn kill_9_at_several_moments_then_resume_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    prepared_corpus(d);
    write(d, "tiny.toml", &config());
    // Kill the first attempt early, then each resumed attempt a little later.
    let mut interrupted = 0;
    for delay_ms in [150u64, 400, 90, 700, 250] {
        let mut child = spawn_train(d, d.join("runs/k/config.toml").exists());
        std::thread::sleep(Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_none() {
            interrupted += 1;
        }
        let _ = child.kill(); // SIGKILL: no chance to clean up
        let _ = child.wait();
    }
    assert!(
        interrupted >= 3,
        "only {interrupted} kills landed while training ran"
    );
    let done = lofigen(
        d,
        &[
            "train",
            "--config",
            "tiny.toml",
            "--data",
            "corpus",
            "--run",
            "runs/k",
            "--resume",
        ],
    );
    done.ok();
    let rows = metrics(&d.join("runs/k"));
    assert_eq!(
        keys(&rows),
        expected_keys(),
        "metrics after kills and resume"
    );
    assert!(rows.iter().all(|r| r.2.is_finite()));
    // The newest checkpoint loads and generates.
    lofigen(
        d,
        &[
            "generate",
            "--run",
            "runs/k",
            "--seconds",
            "0.1",
            "--out",
            "g.wav",
        ],
    )
    .ok();
}

#[test]
fn ctrl_c_stops_cleanly_after_saving() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    prepared_corpus(d);
    write(
        d,
        "tiny.toml",
        &config().replace("epochs = 30", "epochs = 100000"),
    );
    let child = spawn_train(d, false);
    std::thread::sleep(Duration::from_millis(1500));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "Ctrl-C should end cleanly, got {:?}: {stderr}",
        out.status
    );
    assert!(stderr.contains("stopping"), "{stderr}");
    let rows = metrics(&d.join("runs/k"));
    assert!(!rows.is_empty(), "an epoch was saved on Ctrl-C");
    assert!(
        rows.iter().any(|r| r.1 == "test"),
        "the run was closed properly (test loss)"
    );
    assert!(
        std::fs::read_dir(d.join("runs/k/checkpoints"))
            .unwrap()
            .count()
            >= 1,
        "a checkpoint was written"
    );
}
