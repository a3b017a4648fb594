//! End to end on real music, tiny and fast: prepare, train, resume, generate, plot.

mod common;

use common::*;
use serde_json::Value;

#[test]
fn prepare_writes_a_manifest_and_wavs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    lofi_inputs(d);
    lofigen(d, &["prepare", "in", "--out", "corpus"])
        .ok()
        .stdout_has(&["prepared 2 file(s)", "1.0 min", "corpus"]);

    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("corpus/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["sample_rate"], 8000);
    let entries = manifest["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{manifest:#}");
    let mut sources = Vec::new();
    let mut hashes = Vec::new();
    for e in entries {
        assert_eq!(e["label"], "lofi", "{e:#}");
        let secs = e["duration_secs"].as_f64().unwrap();
        assert!((secs - 30.0).abs() < 0.5, "duration {secs} s: {e:#}");
        let sha = e["sha256"].as_str().unwrap();
        assert!(
            sha.len() == 64 && sha.bytes().all(|c| c.is_ascii_hexdigit()),
            "sha256 {sha:?}"
        );
        assert_eq!(e["truncated"], false, "{e:#}");
        hashes.push(sha.to_string());
        sources.push(e["source"].as_str().unwrap().to_string());

        // The WAV is there, 8 kHz mono 16-bit, as long as the manifest says.
        let wav_path = d.join("corpus").join(e["file"].as_str().unwrap());
        assert!(
            wav_path.starts_with(d.join("corpus/lofi")),
            "{}",
            wav_path.display()
        );
        let wav = read_wav(&wav_path);
        assert_eq!(
            (wav.format_tag, wav.channels, wav.sample_rate),
            (1, 1, 8000)
        );
        let len = wav.samples.len() as f64 / 8000.0;
        assert!(
            (len - secs).abs() < 1e-3,
            "{len} s in the WAV, {secs} s listed"
        );
        assert!(
            wav.samples.iter().any(|&s| s.unsigned_abs() > 1000),
            "{} is (nearly) silent",
            wav_path.display()
        );
    }
    sources.sort();
    assert!(
        sources[0].ends_with("lofi/demo_island_dreams_30s.flac"),
        "{sources:?}"
    );
    assert!(
        sources[1].ends_with("lofi/demo_island_dreams_30s.mp3"),
        "{sources:?}"
    );
    // Two different source files, two different hashes (the two files share a stem, so the
    // corpus must not overwrite one WAV with the other either).
    assert_ne!(hashes[0], hashes[1]);
    assert_ne!(entries[0]["file"], entries[1]["file"]);
}

#[test]
fn train_writes_a_complete_run_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    prepared_corpus(d);
    write(d, "tiny.toml", TINY_CONFIG);
    let out = lofigen(
        d,
        &[
            "train",
            "--config",
            "tiny.toml",
            "--data",
            "corpus",
            "--run",
            "runs/a",
        ],
    )
    .ok()
    .stdout_has(&["trained 2 epoch(s)", "4 steps", "runs/a"])
    .stderr_has(&["receptive field 15 samples", "epoch   1:", "epoch   2:"]);
    assert!(!out.stderr.contains("error"), "{}", out.stderr);

    let run = d.join("runs/a");
    let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(config.contains("window_samples = 512"), "{config}");
    assert!(config.contains("kernel = 8"), "{config}");

    let rows = metrics(&run);
    assert_eq!(
        keys(&rows),
        [
            (1, "train"),
            (1, "valid"),
            (2, "train"),
            (2, "valid"),
            (2, "test")
        ]
    );
    for (e, split, loss) in &rows {
        assert!(
            loss.is_finite() && *loss > 0.0 && *loss < 1.0,
            "epoch {e} {split}: loss {loss}"
        );
    }
    png_size(&run.join("loss.png"));

    let ck = run.join("checkpoints/epoch-0002");
    for f in ["model.bpk", "optimizer.bpk", "state.json"] {
        let len = std::fs::metadata(ck.join(f))
            .unwrap_or_else(|e| panic!("{}: {e}", ck.join(f).display()))
            .len();
        assert!(len > 0, "{f} is empty");
    }
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(ck.join("state.json")).unwrap()).unwrap();
    assert_eq!(state["epoch"], 2);
    assert_eq!(state["step"], 4, "8 windows per epoch in batches of 4");

    let info: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    assert_eq!(info["family"], "paper");
    assert_eq!(info["receptive_field"], 15);
    assert_eq!(info["parameters"], 4 * 8 + 4 + 4 * 8 + 1);
    assert_eq!(info["sources"].as_array().unwrap().len(), 2);
    assert_eq!(info["state"]["epoch"], 2);
    for w in info["split_windows"].as_array().unwrap() {
        assert!(w.as_u64().unwrap() > 0, "{info:#}");
    }
    // No leftovers of the write-aside-then-rename checkpointing.
    for e in std::fs::read_dir(run.join("checkpoints")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(name.starts_with("epoch-"), "stray {name} in checkpoints/");
    }
}

#[test]
fn resume_continues_where_the_run_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = trained_run(d, "a", &[]);
    let before = metrics(&run);

    lofigen(
        d,
        &[
            "train",
            "--config",
            "tiny.toml",
            "--data",
            "corpus",
            "--run",
            "runs/a",
            "--resume",
            "--epochs",
            "3",
        ],
    )
    .ok()
    .stdout_has(&["trained 3 epoch(s)", "6 steps"])
    .stderr_has(&["resuming after epoch 2 (step 4)", "epoch   3:"]);
    let after = metrics(&run);
    assert_eq!(
        keys(&after),
        [
            (1, "train"),
            (1, "valid"),
            (2, "train"),
            (2, "valid"),
            (3, "train"),
            (3, "valid"),
            (3, "test")
        ]
    );
    // The history of epochs 1 and 2 is kept as it was, not retrained.
    assert_eq!(&after[..4], &before[..4]);
    assert!(run.join("checkpoints/epoch-0003/state.json").is_file());
    let info: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    assert_eq!(info["state"]["epoch"], 3);
    assert_eq!(info["state"]["step"], 6);

    // Without --config, --resume takes the run's own config.
    lofigen(
        d,
        &[
            "train", "--data", "corpus", "--run", "runs/a", "--resume", "--epochs", "4",
        ],
    )
    .ok()
    .stdout_has(&["trained 4 epoch(s)"]);
    let rows = metrics(&run);
    for epoch in 1..=4 {
        for split in ["train", "valid"] {
            let n = keys(&rows).iter().filter(|k| **k == (epoch, split)).count();
            assert_eq!(n, 1, "({epoch}, {split}) in {rows:?}");
        }
    }
    assert_eq!(keys(&rows).last(), Some(&(4, "test")));
    assert_eq!(
        keys(&rows).iter().filter(|k| k.1 == "test").count(),
        1,
        "{rows:?}"
    );
    // Only the newest checkpoints are kept.
    assert!(run.join("checkpoints/epoch-0004").is_dir());
    assert!(!run.join("checkpoints/epoch-0001").exists());

    // Resuming a finished run is not an error and trains nothing more.
    lofigen(
        d,
        &[
            "train", "--data", "corpus", "--run", "runs/a", "--resume", "--epochs", "4",
        ],
    )
    .ok()
    .stdout_has(&["trained 4 epoch(s)", "8 steps"]);
    assert_eq!(keys(&metrics(&run)).len(), 9);
}

#[test]
fn generate_writes_a_deterministic_wav() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    trained_run(d, "a", &[]);

    lofigen(
        d,
        &[
            "generate",
            "--run",
            "runs/a",
            "--seconds",
            "0.5",
            "--out",
            "g.wav",
        ],
    )
    .ok()
    .stdout_has(&["wrote 0.5 s", "g.wav"]);
    let g = read_wav(&d.join("g.wav"));
    assert_eq!(g.format_tag, 1, "PCM");
    assert_eq!(g.sample_rate, 8000);
    assert_eq!(g.channels, 1);
    assert_eq!(g.bits, 16);
    assert_eq!(g.samples.len(), 4000);
    assert!(
        g.samples.iter().any(|&s| s != g.samples[0]),
        "the generated audio is constant"
    );

    lofigen(
        d,
        &[
            "generate",
            "--run",
            "runs/a",
            "--seconds",
            "0.5",
            "--out",
            "g2.wav",
        ],
    )
    .ok();
    assert!(
        std::fs::read(d.join("g.wav")).unwrap() == std::fs::read(d.join("g2.wav")).unwrap(),
        "two generations from the same run differ"
    );

    // Raw 8 kHz mono is generate's default; --fx/--rate finish it like `lofigen lofi`.
    lofigen(
        d,
        &[
            "generate",
            "--run",
            "runs/a",
            "--seconds",
            "0.5",
            "--fx",
            "lofi",
            "--rate",
            "48000",
            "--out",
            "f.wav",
        ],
    )
    .ok()
    .stdout_has(&["48 kHz stereo, lofi effects"]);
    let f = read_wav(&d.join("f.wav"));
    assert_eq!(
        (f.sample_rate, f.channels, f.samples.len()),
        (48_000, 2, 48_000)
    );

    // A user's seed clip: the same length comes out, continuing different audio.
    let flac = demo_flac();
    lofigen(
        d,
        &[
            "generate",
            "--run",
            "runs/a",
            "--seconds",
            "0.5",
            "--out",
            "s.wav",
            "--seed-audio",
            s(&flac),
        ],
    )
    .ok();
    let seeded = read_wav(&d.join("s.wav"));
    assert_eq!((seeded.sample_rate, seeded.channels), (8000, 1));
    assert_eq!(seeded.samples.len(), 4000);
    assert_ne!(seeded.samples, g.samples, "--seed-audio made no difference");

    // f16 weights: still a valid WAV of the asked length.
    lofigen(
        d,
        &[
            "generate",
            "--run",
            "runs/a",
            "--seconds",
            "0.25",
            "--out",
            "h.wav",
            "--f16",
        ],
    )
    .ok();
    assert_eq!(read_wav(&d.join("h.wav")).samples.len(), 2000);
}

#[test]
fn generate_works_from_another_working_directory() {
    // The default seed is read from the training audio recorded in run.json; that must not
    // depend on the folder `train` happened to run in.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    trained_run(d, "a", &[]);
    let elsewhere = d.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    lofigen(
        &elsewhere,
        &[
            "generate",
            "--run",
            "../runs/a",
            "--seconds",
            "0.1",
            "--out",
            "g.wav",
        ],
    )
    .ok();
    assert_eq!(read_wav(&elsewhere.join("g.wav")).samples.len(), 800);
}

#[test]
fn plot_overlays_several_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    trained_run(d, "a", &[]);
    trained_run(d, "b", &["--seed", "3", "--lr", "3e-3"]);
    assert_ne!(
        metrics(&d.join("runs/a")),
        metrics(&d.join("runs/b")),
        "the second run should differ"
    );
    lofigen(d, &["plot", "runs/a", "runs/b", "--out", "cmp.png"])
        .ok()
        .stdout_has(&["wrote cmp.png"]);
    png_size(&d.join("cmp.png"));
    assert_ne!(
        std::fs::read(d.join("cmp.png")).unwrap(),
        std::fs::read(d.join("runs/a/loss.png")).unwrap()
    );

    // A folder without metrics is named in the error.
    std::fs::create_dir(d.join("empty")).unwrap();
    lofigen(d, &["plot", "runs/a", "empty", "--out", "bad.png"])
        .fails_with(&["empty", "metrics.csv"]);
    assert!(!d.join("bad.png").exists());
}
