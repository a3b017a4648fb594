//! `lofigen experiment genres` and `lofigen experiment depth` end to end at a tiny scale: seconds
//! of real music per genre (the repository's excerpts), tiny models, and a check of the report folder (the
//! PNGs decode, the tables have one row per genre or model, the clips decode, every number is
//! finite).

mod common;

use std::path::Path;

use common::*;
use lofigen_audio::{Clip, TARGET_RATE, load_mono_8k, write_wav16};
use serde_json::Value;

/// Seconds of each genre's excerpt: 70 / 20 / 10 % gives a 0.6 s test split, above the tiny
/// models' 512-sample window.
const EXCERPT_SECS: f64 = 6.0;

/// Writes the repository's `EXCERPT_SECS` excerpt `name` (`assets/test-audio/`) to `out`.
fn excerpt(name: &str, out: &Path) {
    excerpt_at(name, out, 1.0);
}

/// [`excerpt`], its samples multiplied by `gain`.
fn excerpt_at(name: &str, out: &Path, gain: f32) {
    let (clip, _) = load_mono_8k(&test_audio(name)).unwrap();
    assert_eq!(
        clip.len(),
        (EXCERPT_SECS * f64::from(TARGET_RATE)) as usize,
        "{name}"
    );
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    write_wav16(
        out,
        &Clip::new(clip.samples.iter().map(|x| x * gain).collect(), TARGET_RATE),
    )
    .unwrap();
}

/// `data/{ambient,lofi,piano}/` with one real excerpt each.
fn genre_data(d: &Path) {
    excerpt(
        "k-pone_island-dreams_20-26s.flac",
        &d.join("data/lofi/island.wav"),
    );
    excerpt(
        "satie_gymnopedie-no1_20-26s.flac",
        &d.join("data/piano/satie.wav"),
    );
    excerpt(
        "maxstack_coherence_20-26s.flac",
        &d.join("data/ambient/coherence.wav"),
    );
}

fn num(v: &Value, what: &str) -> f64 {
    let x = v
        .as_f64()
        .unwrap_or_else(|| panic!("{what} is not a number: {v}"));
    assert!(x.is_finite(), "{what} = {x}");
    x
}

/// The rows of the Markdown table under heading `## <heading>`: their first cells.
fn table_rows(md: &str, heading: &str) -> Vec<String> {
    let section = md
        .split(&format!("## {heading}\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("no section {heading:?} in\n{md}"));
    let section = section.split("\n## ").next().unwrap();
    let table: Vec<&str> = section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert!(table.len() >= 2, "no table under {heading:?}");
    assert!(table[1].starts_with("|---"), "{heading:?}: separator row");
    table[2..]
        .iter()
        .map(|l| l.split('|').nth(1).unwrap().trim().to_string())
        .collect()
}

/// Everything the issue asks of a report folder, for models `names`; returns report.json.
fn check_report(out: &Path, names: &[&str], loss_plots: &[&str]) -> Value {
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let models = report["models"].as_array().unwrap();
    assert_eq!(models.len(), names.len());
    for (m, name) in models.iter().zip(names) {
        assert_eq!(m["name"], *name);
        // The clip decodes: 16-bit mono 8 kHz, one second, not all one value.
        let wav = read_wav(&out.join(m["clip"].as_str().unwrap()));
        assert_eq!((wav.channels, wav.sample_rate), (1, 8000), "{name}");
        assert_eq!(wav.samples.len(), 8000, "{name}");
        let clip = load_mono_8k(&out.join(m["clip"].as_str().unwrap()))
            .unwrap()
            .0;
        assert!(clip.samples.iter().all(|x| x.is_finite() && x.abs() <= 1.0));
        // The spectrogram decodes, two panels wide, and is not blank.
        let (w, h, colours) = decode_png(&out.join(m["spectrogram"].as_str().unwrap()));
        assert!(
            w > h && colours > 20,
            "{name}: {w} x {h}, {colours} colours"
        );
        // Numbers are finite (serde_json writes NaN as null, which `num` refuses).
        num(&m["test_loss"], "test_loss");
        assert!(!m["history"].as_array().unwrap().is_empty());
        for h in m["history"].as_array().unwrap() {
            num(&h["train_loss"], "train_loss");
            num(&h["valid_loss"], "valid_loss");
        }
        let g = &m["eval"]["generated"][0];
        for &key in EVAL_ROW_KEYS {
            num(&g[key], &format!("{name} eval {key}"));
        }
        assert!(m["train_seconds"].as_f64().unwrap() > 0.0);
    }
    let plots: Vec<&str> = report["loss_plots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(plots, loss_plots);
    for p in plots {
        let (w, h, colours) = decode_png(&out.join(p));
        assert!(w > 500 && h > 300 && colours > 5, "{p}: {w} x {h}");
    }
    // report.md: one row per model in each table, and the plots linked.
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert_eq!(table_rows(&md, "Losses"), names, "{md}");
    assert_eq!(table_rows(&md, "Audio and time used"), names, "{md}");
    let eval_rows = table_rows(
        &md,
        "Generated audio, measured against the model's own test split",
    );
    let expected: Vec<String> = names
        .iter()
        .flat_map(|n| [n.to_string(), format!("{n} (test split)")])
        .collect();
    assert_eq!(eval_rows, expected, "{md}");
    for p in loss_plots {
        assert!(md.contains(&format!("]({p})")), "{p} not linked:\n{md}");
    }
    assert!(!md.contains("NaN") && !md.contains("inf"), "{md}");
    report
}

#[test]
fn genres_experiment_writes_a_complete_report() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    genre_data(d);
    write(d, "tiny.toml", TINY_CONFIG);
    lofigen(
        d,
        &[
            "experiment",
            "genres",
            "--data",
            "data",
            "--config",
            "tiny.toml",
            "--out",
            "report",
            "--seconds",
            "1",
            "--max-audio-minutes",
            "0.5",
        ],
    )
    .ok()
    .stdout_has(&["report.md", "ambient", "lofi", "piano"])
    .stderr_has(&["[1/3] ambient", "[3/3] piano"]);
    let out = d.join("report");
    let report = check_report(&out, &["ambient", "lofi", "piano"], &["loss-mse.png"]);
    assert_eq!(report["experiment"], "genres");
    assert_eq!(report["normalize_loudness"], true);
    // Three models, each on its own genre, all with the same config.
    for m in report["models"].as_array().unwrap() {
        let sources = m["sources"].as_array().unwrap();
        assert_eq!(sources.len(), 1);
        let genre = m["name"].as_str().unwrap();
        assert!(
            sources[0]["path"]
                .as_str()
                .unwrap()
                .contains(&format!("data/{genre}/"))
        );
        assert!(m["config_toml"].as_str().unwrap().contains("seed = 7"));
    }
    // Cross tables: 3 x 3, finite.
    for key in ["cross_spectrum_db", "cross_test_loss"] {
        let rows = report[key].as_array().unwrap();
        assert_eq!(rows.len(), 3, "{key}");
        for row in rows {
            let row = row.as_array().unwrap();
            assert_eq!(row.len(), 3, "{key}");
            for v in row {
                num(v, key);
            }
        }
    }
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("rap"), "the report says why rap is missing");
    assert_eq!(
        table_rows(&md, "Across genres"),
        ["ambient", "lofi", "piano"]
    );
    // Run directories are kept apart from nothing else: under <out>/runs by default.
    assert!(out.join("runs/lofi/config.toml").is_file());

    // A second run into the same folder would overwrite runs: refused, naming the folder.
    lofigen(
        d,
        &[
            "experiment",
            "genres",
            "--data",
            "data",
            "--config",
            "tiny.toml",
            "--out",
            "report",
        ],
    )
    .fails_with(&["runs/ambient", "already exists"]);
}

#[test]
fn raw_levels_are_kept_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The same music 20 dB apart: only the level differs.
    let track = "k-pone_island-dreams_20-26s.flac";
    excerpt_at(track, &d.join("data/quiet/island.wav"), 0.1);
    excerpt(track, &d.join("data/loud/island.wav"));
    write(d, "tiny.toml", TINY_CONFIG);
    lofigen(
        d,
        &[
            "experiment",
            "genres",
            "--data",
            "data",
            "--config",
            "tiny.toml",
            "--out",
            "raw",
            "--seconds",
            "1",
            "--raw-levels",
            "--epochs",
            "1",
        ],
    )
    .ok();
    let report = check_report(&d.join("raw"), &["loud", "quiet"], &["loss-mse.png"]);
    assert_eq!(report["normalize_loudness"], false);
    let md = std::fs::read_to_string(d.join("raw/report.md")).unwrap();
    assert!(md.contains("recorded levels kept"), "{md}");
    // The test split keeps its recorded level: the quiet track's reference is quieter.
    let rms = |i: usize| num(&report["models"][i]["eval"]["reference"]["rms_dbfs"], "rms");
    assert!(
        rms(1) < rms(0) - 3.0,
        "quiet {} dBFS, loud {}",
        rms(1),
        rms(0)
    );
}

/// A tiny WaveNet (dilations 1..8): its NLL on the test split is filled in.
const TINY_WAVENET: &str = r#"[model]
family = "wavenet"
classes = 256
residual_channels = 4
skip_channels = 8
layers_per_stack = 4
stacks = 1
[data]
window_samples = 512
[train]
learning_rate = 3e-3
batch_size = 4
epochs = 2
seed = 7
max_windows_per_epoch = 8
max_valid_windows = 4
"#;

/// Three layers where `TINY_CONFIG` has two, everything else the same.
fn tiny_deeper() -> String {
    let two = "layers = [ { channels = 4, kernel = 8 },";
    assert!(TINY_CONFIG.contains(two));
    TINY_CONFIG.replace(two, &format!("{two} {{ channels = 4, kernel = 8 }},"))
}

#[test]
fn depth_experiment_compares_models_on_the_same_audio() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    genre_data(d);
    write(d, "shallow.toml", TINY_CONFIG);
    write(d, "deeper.toml", &tiny_deeper());
    write(d, "wn.toml", TINY_WAVENET);
    lofigen(
        d,
        &[
            "experiment",
            "depth",
            "--data",
            "data/lofi",
            "--presets",
            "shallow.toml,deeper.toml,wn.toml",
            "--out",
            "depth",
            "--runs",
            "depth-runs",
            "--seconds",
            "1",
        ],
    )
    .ok();
    let out = d.join("depth");
    // MSE and cross-entropy are different units: one plot each.
    let report = check_report(
        &out,
        &["shallow", "deeper", "wn"],
        &["loss-mse.png", "loss-nats.png"],
    );
    assert_eq!(report["experiment"], "depth");
    let models = report["models"].as_array().unwrap();
    // Same audio for every model.
    assert_eq!(models[0]["sources"], models[1]["sources"]);
    assert_eq!(models[0]["split_seconds"], models[2]["split_seconds"]);
    assert!(models[1]["parameters"].as_u64().unwrap() > models[0]["parameters"].as_u64().unwrap());
    // The WaveNet's NLL of its test split is filled in and near its test loss in bits; the
    // seed models have none.
    let nll = num(
        &models[2]["eval"]["generated"][0]["nll_bits_per_sample"],
        "nll",
    );
    let bits = num(&models[2]["test_bits_per_sample"], "test bits");
    assert!(nll > 0.0 && nll < 9.0, "{nll}");
    assert!((nll - bits).abs() < 0.05, "nll {nll} vs test {bits}");
    assert!(models[0]["eval"]["generated"][0]["nll_bits_per_sample"].is_null());
    // Runs went where asked, not into the report.
    assert!(d.join("depth-runs/wn/config.toml").is_file());
    assert!(!out.join("runs").exists());
    // No cross tables in the depth experiment: one audio set.
    assert!(report["cross_spectrum_db"].as_array().unwrap().is_empty());

    // `lofigen eval --run` fills the NLL column with the WaveNet's score of the reference.
    lofigen(
        d,
        &[
            "eval",
            "depth/clips/wn.wav",
            "--reference",
            "data/lofi",
            "--run",
            "depth-runs/wn",
            "--out",
            "ev",
        ],
    )
    .ok()
    .stdout_has(&["NLL bits"]);
    let ev: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("ev/eval.json")).unwrap()).unwrap();
    let nll = num(&ev["generated"][0]["nll_bits_per_sample"], "eval --run nll");
    assert!(nll > 0.0 && nll < 9.0, "{nll}");
}

#[test]
fn genres_needs_genre_subfolders() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("flat")).unwrap();
    tone_wav(&d.join("flat/tone.wav"), 2.0);
    lofigen(d, &["experiment", "genres", "--data", "flat"]).fails_with(&["flat", "subfolder"]);
}
