//! `lofigen analyze` on synthesised music with a known answer: a click track at 80 BPM reads as
//! 80 BPM with beats and downbeats, white noise as "no beat found", a chord progression as its
//! chords; bad input is named.

mod common;

use std::path::Path;

use common::*;
use lofigen_audio::{Clip, TARGET_RATE, signal, write_wav16};
use serde_json::Value;

fn report(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The PNG is a whole image, two panels high, with more than a few colours (a chromagram).
#[track_caller]
fn check_png(path: &Path) {
    let (w, h, colours) = decode_png(path);
    assert!(w >= 1000 && h >= 600, "{}: {w} x {h}", path.display());
    assert!(colours > 30, "{}: only {colours} colours", path.display());
    let bytes = std::fs::metadata(path).unwrap().len();
    assert!(bytes > 20_000, "{}: only {bytes} bytes", path.display());
}

#[test]
fn a_click_track_at_80_bpm_reads_as_80_bpm() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    click_track_wav(&d.join("click.wav"), 80.0, 20.0);
    let run = lofigen(d, &["analyze", "click.wav"]).ok().stdout_has(&[
        "click.wav",
        "BPM",
        "downbeats",
        "analysis.json",
    ]);
    let r = report(&d.join("analysis/analysis.json"));
    let file = &r["files"][0];
    let bpm = file["tempo_bpm"].as_f64().unwrap();
    assert!((bpm - 80.0).abs() <= 1.0, "{bpm} BPM");
    assert!(
        run.stdout.contains(&format!("{bpm:.1} BPM")),
        "{}",
        run.stdout
    );
    assert!(file["beat_strength"].as_f64().unwrap() > 0.5, "{file:#}");
    // 26 clicks in 20 s: the tracker finds nearly all, each within 70 ms of one.
    let beats: Vec<f64> = file["beats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_f64().unwrap())
        .collect();
    assert!(beats.len() >= 22, "{} beats", beats.len());
    for b in &beats {
        let k = ((b - 0.25) / 0.75).round();
        assert!((b - 0.25 - k * 0.75).abs() < 0.07, "beat at {b} s");
    }
    // Downbeats are every fourth beat: on the louder clicks (0.25 s + 3 s * k).
    let downbeats = file["downbeats"].as_array().unwrap();
    assert!(downbeats.len() >= 5, "{file:#}");
    for t in downbeats {
        let t = t.as_f64().unwrap();
        let k = ((t - 0.25) / 3.0).round();
        assert!((t - 0.25 - 3.0 * k).abs() < 0.07, "downbeat at {t} s");
    }
    assert_eq!(r["beats_per_bar"], 4);
    check_png(&d.join("analysis/analysis-1-click.png"));
}

#[test]
fn swung_16ths_read_as_their_swing_and_straight_ones_as_straight() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    swung_16ths_wav(&d.join("swung.wav"), 85.0, 20.0, 0.3);
    swung_16ths_wav(&d.join("straight.wav"), 85.0, 20.0, 0.0);
    let run = lofigen(d, &["analyze", "swung.wav", "straight.wav"]).ok();
    let r = report(&d.join("analysis/analysis.json"));
    let swing = |i: usize| r["files"][i]["swing"].as_f64().unwrap();
    assert!((swing(0) - 0.3).abs() <= 0.051, "{}", r["files"][0]);
    assert_eq!(swing(1), 0.0, "{}", r["files"][1]);
    for s in [swing(0), swing(1)] {
        assert!(
            run.stdout.contains(&format!("swing      {s:.2} of a 16th")),
            "{}",
            run.stdout
        );
    }
}

#[test]
fn noise_has_no_beat_and_still_gets_its_report() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let noise = signal::white_noise(10 * TARGET_RATE as usize, 0.3, 7);
    write_wav16(&d.join("noise.wav"), &Clip::new(noise, TARGET_RATE)).unwrap();
    lofigen(
        d,
        &["analyze", "noise.wav", "--out", "o", "--json", "r.json"],
    )
    .ok()
    .stdout_has(&["noise.wav", "no beat found", "r.json"]);
    let r = report(&d.join("r.json"));
    let file = &r["files"][0];
    assert!(file["tempo_bpm"].is_null(), "{file:#}");
    assert!(file["swing"].is_null(), "{file:#}");
    assert!(file["beats"].as_array().unwrap().is_empty());
    assert!(file["bars"].as_array().unwrap().is_empty());
    assert!(!d.join("o/analysis.json").exists());
    let (w, h, _) = decode_png(&d.join("o/analysis-1-noise.png"));
    assert!(w >= 1000 && h >= 600);
}

#[test]
fn a_chord_progression_reads_as_its_chords() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let progression = ["Dm7", "G7", "Cmaj7", "Am7"];
    chord_track_wav(&d.join("chords.wav"), &progression, 90.0, 4);
    let run = lofigen(d, &["analyze", "chords.wav"])
        .ok()
        .stdout_has(&["chords", "Dm7", "G7", "Cmaj7", "Am7"]);
    let r = report(&d.join("analysis/analysis.json"));
    let file = &r["files"][0];
    let bpm = file["tempo_bpm"].as_f64().unwrap();
    assert!((bpm - 90.0).abs() <= 1.0, "{bpm} BPM\n{}", run.stdout);
    // The bars' chords follow the progression (a bar may start at any of its chords).
    let chords: Vec<&str> = file["bars"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["chord"].as_str().unwrap_or("-"))
        .collect();
    assert!(chords.len() >= 12, "{chords:?}");
    let first = progression.iter().position(|c| *c == chords[0]);
    let agree = chords
        .iter()
        .enumerate()
        .filter(|(i, c)| first.is_some_and(|f| progression[(f + i) % 4] == **c))
        .count();
    assert!(agree * 10 >= chords.len() * 9, "{chords:?}");
    check_png(&d.join("analysis/analysis-1-chords.png"));
}

#[test]
fn missing_and_broken_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    lofigen(d, &["analyze", "nowhere.wav"]).fails_with(&["nowhere.wav"]);
    write(d, "broken.wav", "this is not audio");
    click_track_wav(&d.join("ok.wav"), 80.0, 5.0);
    lofigen(d, &["analyze", "ok.wav", "broken.wav"]).fails_with(&["broken.wav"]);
    // Nothing is written when a file cannot be read.
    assert!(!d.join("analysis").exists());
}
