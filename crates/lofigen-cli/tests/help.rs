//! `--help` for the tool and every subcommand: exit 0 and name their options.

mod common;

use common::*;

fn help(args: &[&str], needles: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let r = lofigen(dir.path(), args).ok().stdout_has(needles);
    assert!(r.stdout.contains("Usage: lofigen"), "{}", r.stdout);
}

#[test]
fn top_level_help() {
    help(
        &["--help"],
        &[
            "prepare",
            "train",
            "generate",
            "lofi",
            "plot",
            "eval",
            "analyze",
            "bench",
            "demo",
            "--version",
        ],
    );
    // `help <command>` is the same as `<command> --help`.
    help(&["help", "train"], &["--config", "--resume"]);
}

#[test]
fn version() {
    let dir = tempfile::tempdir().unwrap();
    lofigen(dir.path(), &["--version"])
        .ok()
        .stdout_has(&[concat!("lofigen ", env!("CARGO_PKG_VERSION"))]);
}

#[test]
fn no_arguments_prints_usage_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let r = lofigen(dir.path(), &[]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("Usage: lofigen"), "{}", r.stderr);
}

#[test]
fn prepare_help() {
    help(&["prepare", "--help"], &["<INPUTS>", "--out", "--strict"]);
}

#[test]
fn train_help() {
    help(
        &["train", "--help"],
        &[
            "--config",
            "seed6",
            "--data",
            "--run",
            "--resume",
            "--epochs",
            "--batch-size",
            "--lr",
            "--seed",
            "--max-windows",
            "--max-minutes",
        ],
    );
}

#[test]
fn generate_help() {
    help(
        &["generate", "--help"],
        &[
            "--run",
            "--seconds",
            "--out",
            "--prompt-audio",
            "--f16",
            "--fx",
            "--rate",
        ],
    );
}

#[test]
fn lofi_help() {
    help(
        &["lofi", "--help"],
        &[
            "--fx",
            "--rate",
            "--out",
            "--seconds",
            "--run",
            "--prompt-audio",
            "--temperature",
            "stdout",
        ],
    );
    // Every built-in groove is named where --groove is explained.
    for verb in ["lofi", "generate"] {
        let names = lofigen_audio::score::Groove::names();
        help(&[verb, "--help"], &names);
    }
}

#[test]
fn plot_help() {
    help(&["plot", "--help"], &["<RUNS>", "--out"]);
}

#[test]
fn eval_help() {
    help(
        &["eval", "--help"],
        &[
            "<FILES>",
            "--reference",
            "--out",
            "--json",
            "flatness",
            "eval.json",
            "--bpm",
            "--chords",
            "beat F",
            "tempo ok",
            "chords %",
        ],
    );
}

#[test]
fn bench_help() {
    help(
        &["bench", "--help"],
        &["train", "generate", "lofi", "--audio"],
    );
    help(
        &["bench", "lofi", "--help"],
        &["--seconds", "--fx", "--rate"],
    );
    help(
        &["bench", "train", "--help"],
        &["--presets", "--batches", "--steps"],
    );
    help(
        &["bench", "generate", "--help"],
        &["--preset", "--streams", "--oracle-samples", "--seconds"],
    );
}

#[test]
fn demo_help() {
    help(
        &["demo", "--help"],
        &[
            "--out",
            "--audio",
            "--minutes",
            "--seconds",
            "--lofi-seconds",
        ],
    );
}

#[test]
fn analyze_help() {
    help(
        &["analyze", "--help"],
        &[
            "<FILES>",
            "--out",
            "--json",
            "no beat found",
            "swing",
            "analysis.json",
        ],
    );
}
