//! Bad input: every failure exits non-zero, names the file or config key and the problem, and
//! never panics.

mod common;

use common::*;
use serde_json::Value;

fn manifest_entries(corpus: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(corpus.join("manifest.json")).unwrap();
    let m: Value = serde_json::from_str(&text).unwrap();
    m["entries"].as_array().unwrap().clone()
}

// ---- prepare ----

#[test]
fn prepare_missing_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let r = lofigen(d, &["prepare", "missing.mp3", "--out", "corpus"])
        .fails_with(&["missing.mp3", "No such file or directory"]);
    assert_eq!(
        r.stderr.matches("No such file or directory").count(),
        1,
        "the cause is said once:\n{}",
        r.stderr
    );
    assert!(r.stdout.is_empty(), "stdout: {}", r.stdout);
    assert!(!d.join("corpus").exists(), "a corpus was created");
}

#[test]
fn prepare_zero_byte_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "empty.mp3", "");
    let r = lofigen(d, &["prepare", "empty.mp3", "--out", "corpus"]).fails_with(&[
        "empty.mp3",
        "empty (0 bytes)",
        "no audio could be prepared",
    ]);
    assert!(!r.stdout.contains("prepared"), "stdout: {}", r.stdout);
}

#[test]
fn prepare_text_file_named_mp3() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "notes.mp3",
        "remember: buy milk, practise the bass line\n",
    );
    let r = lofigen(d, &["prepare", "notes.mp3", "--out", "corpus"])
        .fails_with(&["notes.mp3", "not a recognised audio file"]);
    // The decoder's own log does not repeat the problem without the file name.
    assert!(!r.stderr.contains("ERROR"), "{}", r.stderr);
}

#[test]
fn prepare_folder_with_one_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let lofi = d.join("music/lofi");
    std::fs::create_dir_all(&lofi).unwrap();
    std::fs::copy(demo_flac(), lofi.join("good.flac")).unwrap();
    std::fs::write(lofi.join("notes.mp3"), "not audio at all\n").unwrap();
    std::fs::write(lofi.join("readme.txt"), "ignored: not an audio extension\n").unwrap();

    // By default the bad file is listed and skipped.
    lofigen(d, &["prepare", "music", "--out", "corpus"])
        .ok()
        .stdout_has(&["prepared 1 file(s)"])
        .stderr_has(&[
            "1 file(s) could not be prepared",
            "notes.mp3",
            "not a recognised audio file",
        ]);
    let entries = manifest_entries(&d.join("corpus"));
    assert_eq!(entries.len(), 1);
    assert!(
        entries[0]["source"]
            .as_str()
            .unwrap()
            .ends_with("good.flac")
    );
    assert_eq!(entries[0]["file"].as_str().unwrap(), "lofi/good.wav");
    assert!(d.join("corpus").join("lofi/good.wav").is_file());

    // --strict turns it into a failure.
    lofigen(d, &["prepare", "music", "--out", "strict", "--strict"]).fails_with(&[
        "notes.mp3",
        "not a recognised audio file",
        "--strict",
        "nothing was kept",
    ]);
    assert!(
        !d.join("strict").join("manifest.json").exists(),
        "a strict failure leaves no corpus"
    );
    assert!(
        !d.join("strict").join("lofi").join("good.wav").exists(),
        "a strict failure leaves no prepared audio"
    );
}

#[test]
fn prepare_truncated_mp3_keeps_what_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bytes = std::fs::read(demo_mp3()).unwrap();
    let lofi = d.join("lofi");
    std::fs::create_dir(&lofi).unwrap();
    std::fs::write(lofi.join("cut.mp3"), &bytes[..bytes.len() / 2]).unwrap();

    let run = lofigen(d, &["prepare", "lofi", "--out", "corpus"])
        .ok()
        .stdout_has(&["prepared 1 file(s)"]);
    assert!(
        run.stderr.contains("cut.mp3 is damaged") && run.stderr.contains("cut off"),
        "prepare should warn about the missing rest:\n{}",
        run.stderr
    );
    let entries = manifest_entries(&d.join("corpus"));
    assert_eq!(entries.len(), 1);
    let secs = entries[0]["duration_secs"].as_f64().unwrap();
    assert!(
        (12.0..18.0).contains(&secs),
        "half of a 30 s mp3 decoded to {secs} s"
    );
    let wav = read_wav(&d.join("corpus").join(entries[0]["file"].as_str().unwrap()));
    assert!((wav.samples.len() as f64 / 8000.0 - secs).abs() < 1e-3);
}

// ---- train ----

/// A corpus of one 0.5 s tone (4000 samples): with 512-sample windows the test split (10 %,
/// 400 samples) cannot hold one window plus its target.
fn short_audio(d: &std::path::Path) {
    tone_wav(&d.join("short.wav"), 0.5);
    write(d, "tiny.toml", TINY_CONFIG);
}

#[test]
fn train_on_audio_too_short_for_a_window() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    short_audio(d);
    lofigen(
        d,
        &[
            "train",
            "--config",
            "tiny.toml",
            "--data",
            "short.wav",
            "--run",
            "runs/s",
        ],
    )
    .fails_with(&["short.wav", "too short", "test split", "513 samples"]);
    assert!(!d.join("runs/s/metrics.csv").exists());
}

#[test]
fn failed_train_leaves_no_run_behind() {
    // After a run fails before its first epoch, training the same folder with good data must
    // not be refused as "already holds a run".
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    short_audio(d);
    prepared_corpus(d);
    lofigen(
        d,
        &[
            "train",
            "--config",
            "tiny.toml",
            "--data",
            "short.wav",
            "--run",
            "runs/s",
        ],
    )
    .fails_with(&["too short"]);
    assert!(
        !d.join("runs/s/config.toml").exists(),
        "a failed start left runs/s/config.toml behind, so the folder now looks like a run"
    );
    lofigen(
        d,
        &[
            "train",
            "--config",
            "tiny.toml",
            "--data",
            "corpus",
            "--run",
            "runs/s",
        ],
    )
    .ok();
}

/// Train with `tiny.toml` edited by `edit`, on the bundled clip; the run must fail with
/// `needles` in stderr and leave no run directory.
fn train_with_config(edit: impl Fn(&str) -> String, needles: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = edit(TINY_CONFIG);
    assert_ne!(text, TINY_CONFIG, "the edit changed nothing");
    write(d, "bad.toml", &text);
    let flac = demo_flac();
    lofigen(
        d,
        &[
            "train",
            "--config",
            "bad.toml",
            "--data",
            s(&flac),
            "--run",
            "run",
        ],
    )
    .fails_with(needles);
    assert!(!d.join("run").exists(), "a run directory was created");
}

#[test]
fn config_with_unknown_key() {
    train_with_config(
        |c| c.replace("seed = 7\n", "seed = 7\nlearnig_rate = 1e-3\n"),
        &["bad.toml", "learnig_rate", "unknown field"],
    );
}

#[test]
fn config_window_shorter_than_receptive_field() {
    train_with_config(
        |c| c.replace("window_samples = 512", "window_samples = 10"),
        &[
            "bad.toml",
            "data.window_samples",
            "receptive field (15 samples)",
        ],
    );
}

#[test]
fn config_with_zero_channels() {
    train_with_config(
        |c| c.replace("channels = 4", "channels = 0"),
        &["bad.toml", "model.layers[0].channels", "at least 1"],
    );
}

#[test]
fn config_with_a_transposed_share_over_one() {
    train_with_config(
        |c| c.replace("[data]\n", "[data]\ntransposed_share = 1.5\n"),
        &["bad.toml", "data.transposed_share", "1.5 is not a share"],
    );
}

#[test]
fn config_with_negative_learning_rate() {
    train_with_config(
        |c| c.replace("learning_rate = 1e-3", "learning_rate = -1e-3"),
        &["bad.toml", "train.learning_rate", "positive"],
    );
}

#[test]
fn negative_learning_rate_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "tiny.toml", TINY_CONFIG);
    let flac = demo_flac();
    lofigen(
        d,
        &[
            "train",
            "--config",
            "tiny.toml",
            "--data",
            s(&flac),
            "--run",
            "run",
            "--lr",
            "-0.5",
        ],
    )
    .fails_with(&["train.learning_rate", "-0.5", "positive"]);
    assert!(!d.join("run").exists());
}

#[test]
fn missing_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let flac = demo_flac();
    lofigen(
        d,
        &[
            "train",
            "--config",
            "nope.toml",
            "--data",
            s(&flac),
            "--run",
            "run",
        ],
    )
    .fails_with(&["nope.toml"]);
    lofigen(
        d,
        &[
            "train",
            "--config",
            "seed9",
            "--data",
            s(&flac),
            "--run",
            "run",
        ],
    )
    .fails_with(&["seed9", "no such preset", "seed6"]);
}

#[test]
fn train_into_existing_run_without_resume() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = trained_run(d, "a", &[]);
    let before = std::fs::read(run.join("metrics.csv")).unwrap();
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
        ],
    )
    .fails_with(&["runs/a", "already holds a run", "--resume"]);
    assert_eq!(
        std::fs::read(run.join("metrics.csv")).unwrap(),
        before,
        "the existing run was touched"
    );
}

#[test]
fn resume_with_a_different_model() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = trained_run(d, "a", &[]);
    let before = std::fs::read(run.join("config.toml")).unwrap();
    write(
        d,
        "other.toml",
        &TINY_CONFIG.replace("channels = 4", "channels = 6"),
    );
    lofigen(
        d,
        &[
            "train",
            "--config",
            "other.toml",
            "--data",
            "corpus",
            "--run",
            "runs/a",
            "--resume",
        ],
    )
    .fails_with(&["runs/a", "different model"]);
    assert_eq!(std::fs::read(run.join("config.toml")).unwrap(), before);
    assert!(!run.join("checkpoints/epoch-0003").exists());
}

#[test]
fn resume_a_folder_that_is_not_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "tiny.toml", TINY_CONFIG);
    let flac = demo_flac();
    lofigen(
        d,
        &[
            "train",
            "--config",
            "tiny.toml",
            "--data",
            s(&flac),
            "--run",
            "nothing",
            "--resume",
        ],
    )
    .fails_with(&["nothing", "not a run directory"]);
}

// ---- generate ----

#[test]
fn generate_from_a_folder_that_is_not_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("music")).unwrap();
    lofigen(d, &["generate", "--run", "music", "--out", "g.wav"])
        .fails_with(&["music", "not a run directory"]);
    lofigen(d, &["generate", "--run", "nowhere", "--out", "g.wav"])
        .fails_with(&["nowhere", "not a run directory"]);
    assert!(!d.join("g.wav").exists());
}

#[test]
fn generate_from_a_run_without_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("run")).unwrap();
    write(&d.join("run"), "config.toml", TINY_CONFIG);
    lofigen(d, &["generate", "--run", "run", "--out", "g.wav"])
        .fails_with(&["run", "no checkpoint"]);
    assert!(!d.join("g.wav").exists());
}

#[test]
fn generate_with_a_bad_length() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Checked before the run is even looked at, so no trained run is needed.
    for bad in ["-1", "0", "nan", "inf"] {
        lofigen(
            d,
            &[
                "generate",
                "--run",
                "runs/a",
                "--seconds",
                bad,
                "--out",
                "g.wav",
            ],
        )
        .fails_with(&["--seconds", "positive"]);
    }
    lofigen(
        d,
        &[
            "generate",
            "--run",
            "runs/a",
            "--seconds",
            "lots",
            "--out",
            "g.wav",
        ],
    )
    .fails_with(&["--seconds", "lots"]);
    assert!(!d.join("g.wav").exists());
}

#[test]
fn generate_with_a_bad_seed_audio() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    trained_run(d, "a", &[]);
    write(d, "notes.mp3", "not audio\n");
    lofigen(
        d,
        &[
            "generate",
            "--run",
            "runs/a",
            "--seconds",
            "0.1",
            "--out",
            "g.wav",
            "--seed-audio",
            "notes.mp3",
        ],
    )
    .fails_with(&["notes.mp3", "not a recognised audio file"]);
    assert!(!d.join("g.wav").exists());
}

// ---- unwritable output ----

/// Every output under a path whose parent is a regular file: no one, root included, can
/// create it, so this works wherever the tests run (chmod does not stop root).
#[test]
fn outputs_under_a_regular_file_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    trained_run(d, "a", &[]);
    write(d, "blocker", "a file, not a folder\n");
    lofigen(d, &["prepare", "in", "--out", "blocker/corpus"])
        .fails_with(&["blocker/corpus", "Not a directory"]);
    lofigen(
        d,
        &[
            "train",
            "--config",
            "tiny.toml",
            "--data",
            "corpus",
            "--run",
            "blocker/run",
        ],
    )
    .fails_with(&["blocker/run", "Not a directory"]);
    lofigen(
        d,
        &[
            "generate",
            "--run",
            "runs/a",
            "--seconds",
            "0.1",
            "--out",
            "blocker/g.wav",
        ],
    )
    .fails_with(&["blocker/g.wav", "not an existing folder"]);
    lofigen(d, &["plot", "runs/a", "--out", "blocker/loss.png"]).fails_with(&["blocker/loss.png"]);
    assert_eq!(
        std::fs::read_to_string(d.join("blocker")).unwrap(),
        "a file, not a folder\n"
    );
}

/// A read-only folder. Root ignores permissions, so there the test says it is skipped.
#[cfg(unix)]
#[test]
fn outputs_in_a_read_only_folder_are_clear_errors() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    lofi_inputs(d);
    let ro = d.join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    if std::fs::write(ro.join("probe"), b"").is_ok() {
        eprintln!("skipped: running as root, which writes into read-only folders anyway");
        return;
    }
    lofigen(d, &["prepare", "in", "--out", "ro/corpus"])
        .fails_with(&["ro/corpus", "Permission denied"]);
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A full disk under the WAV being generated. Regression: the output went through a temp file
/// beside it and a rename, which for /dev/full meant creating a file in /dev and, as root,
/// renaming it over the device.
#[cfg(target_os = "linux")]
#[test]
fn generate_and_plot_onto_a_full_disk() {
    use std::os::unix::fs::FileTypeExt;
    let full = std::path::Path::new("/dev/full");
    if !std::fs::metadata(full).is_ok_and(|m| m.file_type().is_char_device()) {
        eprintln!("skipped: no /dev/full character device here");
        return;
    }
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
            "0.1",
            "--out",
            "/dev/full",
        ],
    )
    .fails_with(&["/dev/full", "No space left on device"]);
    assert!(
        std::fs::metadata(full)
            .unwrap()
            .file_type()
            .is_char_device()
    );
}

/// The bad-file corpus through the built binary: each broken file is listed with its name and
/// its problem, each damaged one is kept with a warning, each unusual but valid one is
/// prepared, and nothing panics.
#[cfg(unix)]
#[test]
fn prepare_a_folder_of_broken_damaged_and_unusual_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let odd = d.join("music/odd");
    std::fs::create_dir_all(&odd).unwrap();
    let put = |name: &str, bytes: &[u8]| std::fs::write(odd.join(name), bytes).unwrap();
    // Damaged, kept with a warning.
    put("cut.ogg", &cut_bytes(&demo_ogg(), 1, 2));
    put("cut.flac", &cut_bytes(&demo_flac(), 1, 2));
    put("long_claim.wav", &wav16_claiming(8000, 2.0, 8000 * 2 * 4));
    // Valid, if unusual.
    put("short_claim.wav", &wav16_claiming(8000, 2.0, 8000 * 2));
    put(
        "big_tag.mp3",
        &mp3_with_tag(256 * 1024, 256 * 1024, 8 * 1024),
    );
    let tone = |rate| lofigen_audio::signal::sine(440.0, rate, 1.0, 0.5);
    let wav = |name: &str| odd.join(name);
    lofigen_audio::write_wav_int(&wav("eight_bit.wav"), &[tone(22050)], 22050, 8).unwrap();
    lofigen_audio::write_wav_int(&wav("six_ch_24bit.wav"), &vec![tone(32000); 6], 32000, 24)
        .unwrap();
    lofigen_audio::write_wav_f32(&wav("float_96k.wav"), &[tone(96000), tone(96000)], 96000)
        .unwrap();
    // Broken, listed and skipped.
    put("empty.mp3", b"");
    put("notes.mp3", b"remember: buy milk\n");
    put("no_samples.wav", &wav16_claiming(8000, 0.0, 0));
    put("tag_overruns.mp3", &mp3_with_tag(4096, 1 << 20, 8 * 1024));
    std::os::unix::fs::symlink("/nonexistent/usb/song.flac", odd.join("gone.flac")).unwrap();

    let run = lofigen(d, &["prepare", "music", "--out", "corpus"])
        .ok()
        .stdout_has(&["prepared 8 file(s)"])
        .stderr_has(&["5 file(s) could not be prepared"]);
    let line_with = |name: &str, problem: &str| {
        assert!(
            run.stderr
                .lines()
                .any(|l| l.contains(name) && l.contains(problem)),
            "no stderr line names {name} with {problem:?}:\n{}",
            run.stderr
        );
    };
    line_with("empty.mp3", "empty (0 bytes)");
    line_with("notes.mp3", "not a recognised audio file");
    line_with("no_samples.wav", "no decodable audio");
    line_with("tag_overruns.mp3", "not a recognised audio file");
    line_with("gone.flac", "No such file");
    for damaged in ["cut.ogg", "cut.flac", "long_claim.wav"] {
        line_with(damaged, "is damaged");
    }

    let entries = manifest_entries(&d.join("corpus"));
    let entry = |name: &str| -> &Value {
        entries
            .iter()
            .find(|e| e["source"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("{name} is not in the manifest"))
    };
    for (name, rate, channels) in [
        ("eight_bit.wav", 22050, 1),
        ("six_ch_24bit.wav", 32000, 6),
        ("float_96k.wav", 96000, 2),
        ("big_tag.mp3", 8000, 1),
    ] {
        let e = entry(name);
        assert_eq!(e["source_rate"], rate, "{e}");
        assert_eq!(e["source_channels"], channels, "{e}");
        assert_eq!(e["truncated"], false, "{e}");
    }
    for name in ["cut.ogg", "cut.flac", "long_claim.wav"] {
        assert_eq!(entry(name)["truncated"], true, "{name}");
    }
    let secs = |name: &str| entry(name)["duration_secs"].as_f64().unwrap();
    assert!((secs("long_claim.wav") - 2.0).abs() < 0.01);
    assert!((secs("short_claim.wav") - 2.0 / 2.0).abs() < 0.01);
    assert!((1.5..2.5).contains(&secs("big_tag.mp3")));

    // --strict refuses the folder and names a broken file.
    lofigen(d, &["prepare", "music", "--out", "strict", "--strict"])
        .fails_with(&["--strict", "nothing was kept"]);
    assert!(!d.join("strict/manifest.json").exists());
}

/// Regression: `(kernel - 1) * dilation` overflowed (a panic with overflow checks, a wrapped
/// and accepted receptive field without).
#[test]
fn config_with_an_overflowing_receptive_field() {
    train_with_config(
        |c| {
            c.replace(
                "kernel = 8 }",
                "kernel = 8, dilation = 9223372036854775807 }",
            )
        },
        &["bad.toml", "model.layers", "receptive field is over"],
    );
}

/// Regression: a trillion-parameter model passed validation and aborted allocating.
#[test]
fn config_with_an_absurdly_large_model() {
    train_with_config(
        |c| c.replace("channels = 4", "channels = 1000000000"),
        &[
            "bad.toml",
            "model.layers",
            "parameters; lofigen accepts at most",
        ],
    );
}
