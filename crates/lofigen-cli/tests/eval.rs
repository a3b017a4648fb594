//! `lofigen eval` on known signals and real music: white noise reads as flat, a sine as one tonal
//! peak, and a real lofi track is closer in spectrum to other real lofi tracks than noise is.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use lofigen_audio::{Clip, TARGET_RATE, load_mono_8k, signal, write_wav16};
use serde_json::Value;

/// Seconds of each real excerpt (K-Pone's tracks from 30 s in, past the intros).
const EXCERPT_SECS: usize = 25;

/// Writes the repository's 25-s excerpt of K-Pone's `track` as a WAV at `out`.
fn excerpt(track: &str, out: &Path) {
    let (clip, _) = load_mono_8k(&test_audio(&format!("k-pone_{track}_30-55s.flac"))).unwrap();
    assert_eq!(clip.len(), EXCERPT_SECS * TARGET_RATE as usize, "{track}");
    write_wav16(out, &clip).unwrap();
}

fn synth(out: &Path, samples: Vec<f32>) {
    write_wav16(out, &Clip::new(samples, TARGET_RATE)).unwrap();
}

/// `gen/{noise,sine,lofi}.wav` and `ref/` with three other real lofi tracks; returns the folder.
fn inputs(d: &Path) -> (PathBuf, PathBuf) {
    let generated = d.join("gen");
    let reference = d.join("ref");
    std::fs::create_dir_all(&generated).unwrap();
    std::fs::create_dir_all(&reference).unwrap();
    let n = EXCERPT_SECS * TARGET_RATE as usize;
    synth(
        &generated.join("noise.wav"),
        signal::white_noise(n, 0.5, 42),
    );
    synth(
        &generated.join("sine.wav"),
        signal::sine(440.0, TARGET_RATE, EXCERPT_SECS as f32, 0.5),
    );
    excerpt("lucid-dream", &generated.join("lofi.wav"));
    for track in ["crushed-ice-cocktail", "urban-bolero", "motorway"] {
        excerpt(track, &reference.join(format!("{track}.wav")));
    }
    (generated, reference)
}

fn row<'a>(report: &'a Value, file: &str) -> &'a Value {
    report["generated"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"].as_str().unwrap().ends_with(file))
        .unwrap_or_else(|| panic!("no row for {file} in {report:#}"))
}

fn num(row: &Value, key: &str) -> f64 {
    row[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number in {row:#}"))
}

#[test]
fn eval_tells_noise_tones_and_real_music_apart() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    inputs(d);
    let run = lofigen(
        d,
        &[
            "eval",
            "gen/noise.wav",
            "gen/sine.wav",
            "gen/lofi.wav",
            "--reference",
            "ref",
            "--out",
            "out",
        ],
    )
    .ok()
    .stdout_has(&[
        "noise.wav",
        "sine.wav",
        "lofi.wav",
        "reference (3 file(s))",
        "spectrum dB",
        "flatness",
        "eval.json",
    ]);

    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("out/eval.json")).unwrap()).unwrap();
    let (noise, sine, lofi) = (
        row(&report, "noise.wav"),
        row(&report, "sine.wav"),
        row(&report, "lofi.wav"),
    );
    assert!(num(noise, "flatness") > 0.5, "noise: {noise:#}");
    assert!(num(sine, "flatness") < 0.1, "sine: {sine:#}");
    assert!(num(sine, "tonal_peak") > 0.9, "sine: {sine:#}");
    assert!(num(noise, "tonal_peak") < 0.1, "noise: {noise:#}");
    let (dl, dn, ds) = (
        num(lofi, "spectrum_distance_db"),
        num(noise, "spectrum_distance_db"),
        num(sine, "spectrum_distance_db"),
    );
    assert!(
        dl < dn && dl < ds,
        "lofi {dl} dB, noise {dn} dB, sine {ds} dB"
    );
    let (fl, fnoise) = (num(lofi, "mfcc_frechet"), num(noise, "mfcc_frechet"));
    assert!(fl < fnoise, "MFCC Fréchet: lofi {fl}, noise {fnoise}");
    // Without `--run` no model scores the reference: the NLL is null.
    assert!(noise["nll_bits_per_sample"].is_null());

    // Every number in every row (the reference's included) is finite: serde_json writes NaN and
    // infinities as null, so a present number is finite and the measures here must all be present.
    let reference = &report["reference"];
    assert_eq!(report["reference_files"].as_array().unwrap().len(), 3);
    for r in [noise, sine, lofi, reference] {
        for &key in EVAL_ROW_KEYS {
            assert!(num(r, key).is_finite(), "{key} in {r:#}");
        }
    }
    assert!((num(lofi, "seconds") - EXCERPT_SECS as f64).abs() < 0.01);

    // One spectrogram PNG per generated file, two panels wide, and not blank.
    for (i, name) in ["noise", "sine", "lofi"].iter().enumerate() {
        let png = d.join(format!("out/spectrogram-{}-{name}.png", i + 1));
        assert!(
            run.stdout
                .contains(&format!("spectrogram-{}-{name}.png", i + 1)),
            "{}",
            run.stdout
        );
        let (w, h, colours) = decode_png(&png);
        assert!(w > h && h > 200, "{}: {w} x {h}", png.display());
        assert!(colours > 50, "{}: only {colours} colours", png.display());
    }
}

#[test]
fn eval_writes_json_where_asked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    synth(&d.join("a.wav"), signal::sine(440.0, TARGET_RATE, 2.0, 0.5));
    synth(&d.join("b.wav"), signal::white_noise(16_000, 0.5, 1));
    lofigen(
        d,
        &[
            "eval",
            "a.wav",
            "--reference",
            "b.wav",
            "--json",
            "r.json",
            "--out",
            "o",
        ],
    )
    .ok();
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("r.json")).unwrap()).unwrap();
    // A single reference file has no leave-one-out distance: null, not a made-up number.
    assert!(report["reference"]["spectrum_distance_db"].is_null());
    assert!(!d.join("o/eval.json").exists());
    assert!(d.join("o/spectrogram-1-a.png").is_file());
}

#[test]
fn eval_names_a_bad_generated_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "broken.wav", "this is not audio");
    synth(&d.join("ref.wav"), signal::white_noise(16_000, 0.5, 1));
    lofigen(d, &["eval", "broken.wav", "--reference", "ref.wav"])
        .fails_with(&["broken.wav", "generated"]);
}

#[test]
fn eval_names_a_missing_or_empty_reference() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    synth(&d.join("gen.wav"), signal::white_noise(16_000, 0.5, 1));
    lofigen(d, &["eval", "gen.wav", "--reference", "nowhere"])
        .fails_with(&["nowhere", "No such file or directory"]);
    std::fs::create_dir(d.join("empty")).unwrap();
    lofigen(d, &["eval", "gen.wav", "--reference", "empty"])
        .fails_with(&["empty", "no audio files"]);
}

/// `eval FILE --reference FILE --out o args...` in `d`; returns the JSON row of FILE and the run.
fn eval_music(d: &Path, file: &str, args: &[&str]) -> (Value, Run) {
    let mut all = vec!["eval", file, "--reference", file, "--out", "o"];
    all.extend_from_slice(args);
    let run = lofigen(d, &all).ok();
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("o/eval.json")).unwrap()).unwrap();
    (row(&report, file).clone(), run)
}

#[test]
fn eval_scores_tempo_and_beats_against_a_requested_bpm() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    click_track_wav(&d.join("click.wav"), 80.0, 20.0);

    // Without --bpm: the tempo and beat strength, nothing to score against.
    let (r, run) = eval_music(d, "click.wav", &[]);
    run.stdout_has(&["tempo", "beat str", "beat F", "tempo ok", "chords %"]);
    assert!((num(&r, "tempo_bpm") - 80.0).abs() <= 1.0, "{r:#}");
    // Clicks on the beat only: nothing on the off 16ths, so straight.
    assert_eq!(num(&r, "swing"), 0.0, "{r:#}");
    assert!(num(&r, "beat_strength") > 0.5, "{r:#}");
    assert!(r["beat_f"].is_null() && r["tempo_ok"].is_null() && r["chord_agreement"].is_null());

    let (r, run) = eval_music(d, "click.wav", &["--bpm", "80"]);
    assert!(num(&r, "beat_f") >= 0.9, "{r:#}");
    assert_eq!(r["tempo_ok"], true, "{r:#}");
    assert!(run.stdout.contains("yes"), "{}", run.stdout);
    // The reference row is the same file: its mean is the same score.
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("o/eval.json")).unwrap()).unwrap();
    assert!((num(&report["reference"], "beat_f") - num(&r, "beat_f")).abs() < 1e-9);

    // Swing: a clip of swung 16ths reads as its swing, in the JSON and the table.
    swung_16ths_wav(&d.join("swung.wav"), 85.0, 20.0, 0.3);
    let (r, run) = eval_music(d, "swung.wav", &[]);
    assert!((num(&r, "swing") - 0.3).abs() <= 0.051, "{r:#}");
    run.stdout_has(&["swing"]);

    let (r, run) = eval_music(d, "click.wav", &["--bpm", "120"]);
    assert_eq!(r["tempo_ok"], false, "{r:#}");
    assert!(num(&r, "beat_f") < 0.8, "{r:#}");
    assert!(run.stdout.contains(" no"), "{}", run.stdout);
}

#[test]
fn eval_scores_a_requested_chord_progression() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    chord_track_wav(
        &d.join("chords.wav"),
        &["Dm7", "G7", "Cmaj7", "Am7"],
        90.0,
        4,
    );
    let (r, _) = eval_music(
        d,
        "chords.wav",
        &["--bpm", "90", "--chords", "Dm7 G7 Cmaj7 Am7"],
    );
    assert_eq!(r["tempo_ok"], true, "{r:#}");
    let right = num(&r, "chord_agreement");
    assert!(right >= 0.9, "{r:#}");
    // The same progression a whole tone up: other roots in every bar.
    let (r, _) = eval_music(
        d,
        "chords.wav",
        &["--bpm", "90", "--chords", "Em7 A7 Dmaj7 Bm7"],
    );
    let wrong = num(&r, "chord_agreement");
    assert!(wrong <= 0.2, "right {right}, wrong {wrong}");
}

#[test]
fn eval_names_a_bad_bpm_or_chord_progression() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    synth(&d.join("a.wav"), signal::white_noise(16_000, 0.5, 1));
    let eval = |extra: &[&str]| {
        let mut args = vec!["eval", "a.wav", "--reference", "a.wav"];
        args.extend_from_slice(extra);
        lofigen(d, &args)
    };
    eval(&["--bpm", "abc"]).fails_with(&["--bpm", "abc"]);
    eval(&["--bpm", "500"]).fails_with(&["--bpm", "500", "30-300"]);
    eval(&["--bpm", "80", "--chords", "H9"]).fails_with(&["--chords", "H9"]);
    eval(&["--bpm", "80", "--chords", ""]).fails_with(&["--chords", "no chords"]);
    eval(&["--chords", "Dm7 G7"]).fails_with(&["--chords", "needs --bpm"]);
    // Nothing was measured or written.
    assert!(!d.join("eval").exists());
}

/// `eval --control-gap` on the run the bundled model came from, over two held-out excerpts:
/// the gap as trained and as played (at `lofi`'s default guidance, or the one asked), printed
/// and in the JSON; `--guidance 1` measures as trained only; a run without controls and
/// `--guidance` without `--control-gap` are refused by name.
#[test]
fn eval_control_gap_scores_the_model_as_trained_and_as_played() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("ref")).unwrap();
    for track in ["motorway", "urban-bolero"] {
        excerpt(track, &d.join(format!("ref/{track}.wav")));
    }
    let run = lofigen_testkit::repo().join("docs/experiments/lofi-controls/run");
    let gaps = |out: &str, extra: &[&str]| {
        let mut args = vec!["eval", "ref", "--reference", "ref", "--out", out];
        args.extend_from_slice(&["--run", s(&run), "--control-gap"]);
        args.extend_from_slice(extra);
        let r = lofigen(d, &args).ok();
        let report: Value =
            serde_json::from_str(&std::fs::read_to_string(d.join(out).join("eval.json")).unwrap())
                .unwrap();
        (report, r)
    };

    let (report, r) = gaps("default", &[]);
    r.stdout_has(&[
        "control gap as trained (guidance rhythm=1,harmony=1,loudness=1)",
        "control gap as played (guidance rhythm=3,harmony=5,loudness=1)",
        "rhythm shifted half a beat",
        "chords moved 5 semitones",
        "rhythm dropped",
        "chords dropped",
        "level dropped",
        "control gap through the beat",
        "per hit of the true rhythm",
        "beat position",
        "rhythm (played)",
        "none (played)",
    ]);
    let (trained, played) = (&report["control_gap"], &report["control_gap_guided"]);
    assert!(trained["windows"].as_u64().unwrap() >= 2, "{trained:#}");
    assert_eq!(played["windows"], trained["windows"], "the same windows");
    assert!(trained["hits"].as_u64().unwrap() >= 1, "{trained:#}");
    assert!(trained["samples"].as_u64().unwrap() > trained["hits"].as_u64().unwrap());
    assert_eq!(played["guidance"], "rhythm=3,harmony=5,loudness=1");
    for key in [
        "true_nats",
        "shifted_nats",
        "rotated_nats",
        "none_nats",
        "rhythm_dropped_nats",
        "harmony_dropped_nats",
        "loudness_dropped_nats",
    ] {
        assert!(
            num(trained, key) > 0.5 && num(trained, key) < 6.0,
            "{key}: {trained:#}"
        );
    }
    // Folded over the beat: 16 stretches of every sample, whose weighted means are the gaps
    // of the whole (a per-sample pass, so equal to the fused loss's up to rounding).
    assert!(d.join("default/control-gap-by-beat.png").is_file());
    for g in [trained, played] {
        let bins = g["by_beat"].as_array().unwrap();
        assert_eq!(bins.len(), 16, "{g:#}");
        let weighted =
            |key: &str| -> f64 { bins.iter().map(|b| num(b, "share") * num(b, key)).sum() };
        let shares: f64 = bins.iter().map(|b| num(b, "share")).sum();
        assert!((shares - 1.0).abs() < 1e-9, "{g:#}");
        assert!((num(&bins[4], "phase") - 0.25).abs() < 1e-12);
        let (t, sh, ro) = (
            num(g, "true_nats"),
            num(g, "shifted_nats"),
            num(g, "rotated_nats"),
        );
        assert!((weighted("true_nats") - t).abs() < 2e-3, "{g:#}");
        assert!((weighted("rhythm_gap") - (sh - t)).abs() < 2e-3, "{g:#}");
        assert!((weighted("chord_gap") - (ro - t)).abs() < 2e-3, "{g:#}");
        assert!(
            (weighted("none_gap") - (num(g, "none_nats") - t)).abs() < 2e-3,
            "{g:#}"
        );
    }

    // Guidance mixes nothing where no controls are given, and changes the rest.
    assert_eq!(num(played, "none_nats"), num(trained, "none_nats"));
    assert!((num(played, "true_nats") - num(trained, "true_nats")).abs() > 1e-3);

    // Another guidance: the same model as trained, another as played.
    let (other, _) = gaps("other", &["--guidance", "rhythm=2,harmony=3"]);
    assert_eq!(other["control_gap"], report["control_gap"]);
    assert_eq!(
        other["control_gap_guided"]["guidance"],
        "rhythm=2,harmony=3,loudness=1"
    );
    assert_ne!(
        num(&other["control_gap_guided"], "true_nats"),
        num(played, "true_nats")
    );
    // Guidance 1 is the model as trained: one gap.
    let (one, r) = gaps("one", &["--guidance", "1"]);
    assert_eq!(one["control_gap"], report["control_gap"]);
    assert!(one["control_gap_guided"].is_null(), "{one:#}");
    assert!(!r.stdout.contains("as played"), "{}", r.stdout);

    lofigen(d, &["eval", "ref", "--reference", "ref", "--guidance", "2"])
        .fails_with(&["--control-gap"]);
    let plain = trained_run(d, "plain", &[]);
    lofigen(
        d,
        &[
            "eval",
            "ref",
            "--reference",
            "ref",
            "--run",
            s(&plain),
            "--control-gap",
        ],
    )
    .fails_with(&["--control-gap", "has no controls"]);
}
