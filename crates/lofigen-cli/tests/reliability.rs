//! Kills and interrupts during training: nothing corrupt is ever loaded, resume finishes the
//! run, and the metrics hold every epoch exactly once.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{keys, lofigen, lofigen_with_file_limit, metrics, prepared_corpus, write};

const EPOCHS: usize = 60;

/// Small; the kills are timed by the run's own progress, not by the clock, so that a faster
/// machine or kernel cannot finish the run before they land.
fn config() -> String {
    config_epochs(EPOCHS)
}

/// [`config`] with another epoch count.
fn config_epochs(epochs: usize) -> String {
    common::TINY_CONFIG
        .replace("channels = 4, kernel = 8", "channels = 16, kernel = 32")
        .replace("kernel = 8 }", "kernel = 32 }")
        .replace("epochs = 2", &format!("epochs = {epochs}"))
        .replace("max_windows_per_epoch = 8", "max_windows_per_epoch = 48")
}

/// The newest epoch with a finished checkpoint (0: none).
fn newest_epoch(run: &std::path::Path) -> usize {
    checkpoint_entries(run)
        .iter()
        .filter_map(|n| n.strip_prefix("epoch-")?.parse().ok())
        .max()
        .unwrap_or(0)
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

/// Waits until `done()` holds or `child` exits, for at most a minute.
fn wait_for(child: &mut std::process::Child, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !done() && child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
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
    // Each attempt is killed once it has saved one more epoch than it started from, after a
    // different short delay each time: in the next epoch's training, during a save, or at once.
    let mut interrupted = 0;
    for delay_ms in [0u64, 7, 2, 13, 4] {
        let run = d.join("runs/k");
        let start = newest_epoch(&run);
        let mut child = spawn_train(d, run.join("config.toml").exists());
        wait_for(&mut child, || newest_epoch(&run) > start);
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
    // Temporary folders of the killed attempts were cleaned up by the next save.
    let entries = checkpoint_entries(&d.join("runs/k"));
    assert!(
        entries.iter().all(|n| n.starts_with("epoch-")),
        "{entries:?}"
    );
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
    write(d, "tiny.toml", &config_epochs(100000));
    let mut child = spawn_train(d, false);
    // Interrupt once training runs: the run's config is written after the Ctrl-C handler is
    // set, and a busy machine can take longer than any fixed delay to get there.
    let config = d.join("runs/k/config.toml");
    wait_for(&mut child, || config.exists());
    assert!(config.exists(), "training never started");
    std::thread::sleep(Duration::from_millis(300));
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

/// Names in `run/checkpoints`, sorted.
fn checkpoint_entries(run: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(run.join("checkpoints"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn train_args(config: &str, resume: bool) -> Vec<&str> {
    let mut args = vec![
        "train", "--config", config, "--data", "corpus", "--run", "runs/f",
    ];
    if resume {
        args.push("--resume");
    }
    args
}

/// The disk fills up while the second epoch's checkpoint is written (model.bpk fits, the
/// larger optimizer.bpk does not): a clear error, the first checkpoint untouched, no
/// half-written folder, and a later resume finishes the run from the first checkpoint.
#[test]
fn full_disk_mid_checkpoint_keeps_the_last_good_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    prepared_corpus(d);
    write(d, "one.toml", &config_epochs(1));
    write(d, "three.toml", &config_epochs(3));
    lofigen(d, &train_args("one.toml", false)).ok();
    let run = d.join("runs/f");
    let first = std::fs::read(run.join("checkpoints/epoch-0001/model.bpk")).unwrap();
    let model_kib = first.len() as u64 / 1024 + 1;
    let optim = std::fs::metadata(run.join("checkpoints/epoch-0001/optimizer.bpk")).unwrap();
    assert!(
        optim.len() > (model_kib + 1) * 1024,
        "the optimizer state ({} B) must outgrow the limit that the model ({} B) fits in",
        optim.len(),
        first.len()
    );

    let Some(full) = lofigen_with_file_limit(d, model_kib + 1, &train_args("three.toml", true))
    else {
        eprintln!("skipped: bash is needed to lower the file size limit");
        return;
    };
    full.fails_with(&[
        "epoch-0002",
        "checkpoint not saved",
        "optimizer.bpk",
        "File too large",
    ]);
    assert_eq!(
        checkpoint_entries(&run),
        ["epoch-0001"],
        "nothing else is left"
    );
    assert_eq!(
        std::fs::read(run.join("checkpoints/epoch-0001/model.bpk")).unwrap(),
        first
    );
    assert_eq!(
        keys(&metrics(&run)),
        [(1, "train"), (1, "valid"), (1, "test")]
    );

    lofigen(d, &train_args("three.toml", true)).ok();
    let mut want: Vec<(usize, &str)> = (1..=3).flat_map(|e| [(e, "train"), (e, "valid")]).collect();
    want.push((3, "test"));
    assert_eq!(keys(&metrics(&run)), want);
    assert_eq!(checkpoint_entries(&run), ["epoch-0002", "epoch-0003"]);
}

/// The disk is full from the first checkpoint on: the run fails clearly and holds no
/// checkpoint, `generate` says so instead of loading a partial one, and a resume with room
/// trains from the start.
#[test]
fn full_disk_at_the_first_checkpoint_leaves_no_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    prepared_corpus(d);
    write(d, "two.toml", &config_epochs(2));
    // 1 KiB: config.toml fits, the model weights (about 4 KiB) do not.
    let Some(full) = lofigen_with_file_limit(d, 1, &train_args("two.toml", false)) else {
        eprintln!("skipped: bash is needed to lower the file size limit");
        return;
    };
    full.fails_with(&[
        "epoch-0001",
        "checkpoint not saved",
        "model.bpk",
        "File too large",
    ]);
    let run = d.join("runs/f");
    assert!(
        checkpoint_entries(&run).is_empty(),
        "{:?}",
        checkpoint_entries(&run)
    );
    lofigen(d, &["generate", "--run", "runs/f", "--out", "g.wav"])
        .fails_with(&["runs/f", "no checkpoint"]);
    assert!(!d.join("g.wav").exists());
    lofigen(d, &train_args("two.toml", true)).ok();
    assert_eq!(metrics(&run).len(), 5);
}
