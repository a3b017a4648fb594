//! `lofigen lofi`: the bundled model into a file, or streamed to stdout, with no training.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// `lofigen args...` in `dir`, stdout as raw bytes (a WAV stream is not text).
fn raw_stdout(dir: &std::path::Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_lofigen"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the lofigen binary runs");
    assert!(
        out.status.success(),
        "lofigen {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn rms_dbfs(samples: &[i16]) -> f64 {
    let power = samples
        .iter()
        .map(|&s| (f64::from(s) / 32768.0).powi(2))
        .sum::<f64>()
        / samples.len() as f64;
    10.0 * power.max(1e-20).log10()
}

/// The lofi preset's limiter ceiling, -1 dBFS, in 16-bit steps (plus one for rounding).
const CEILING: i32 = 29_205 + 1;

#[test]
fn lofi_writes_finished_stereo_by_default_and_the_seed_reproduces_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    lofigen(d, &["lofi", "--seconds", "1", "--out", "a.wav"])
        .ok()
        .stdout_has(&["wrote 1.0 s", "44.1 kHz stereo, lofi effects", "a.wav"])
        .stderr_has(&[
            "bundled lofi model",
            "sampler seed 42",
            "K-Pone",
            "CC BY 3.0",
            // The style's default groove, by name, as it is asked for again.
            "groove lazy,",
            "--groove lazy --guidance",
        ]);
    let a = read_wav(&d.join("a.wav"));
    assert_eq!((a.sample_rate, a.channels), (44_100, 2));
    assert_eq!(a.samples.len(), 2 * 44_100, "one second of stereo frames");
    let level = rms_dbfs(&a.samples);
    assert!(
        level > -45.0,
        "the finished render is near silence: {level:.1} dBFS"
    );
    let peak = a.samples.iter().map(|&s| i32::from(s).abs()).max().unwrap();
    assert!(
        peak <= CEILING,
        "a sample at {peak} passes the -1 dBFS ceiling"
    );
    let (left, right): (Vec<i16>, Vec<i16>) =
        a.samples.chunks_exact(2).map(|f| (f[0], f[1])).unzip();
    assert_ne!(
        left, right,
        "the lofi preset has width: the channels differ"
    );
    lofigen(d, &["lofi", "--seconds", "1", "--out", "b.wav"]).ok();
    assert_eq!(
        std::fs::read(d.join("a.wav")).unwrap(),
        std::fs::read(d.join("b.wav")).unwrap(),
        "same seed, other bytes"
    );
    lofigen(
        d,
        &["lofi", "--seconds", "1", "--out", "c.wav", "--seed", "7"],
    )
    .ok();
    assert_ne!(
        a.samples,
        read_wav(&d.join("c.wav")).samples,
        "another seed, same audio"
    );
    // A learnt groove is named too; a pattern that is no named groove is printed as written.
    let pattern = "low: x.......x.x..... ; mid: ....x.......x... ; high: x.x.x.x.x.x.x.x.";
    for (groove, printed) in [
        ("train-2", "--groove train-2 ".to_string()),
        (pattern, format!("--groove \"{pattern}\" ")),
    ] {
        lofigen(
            d,
            &[
                "lofi",
                "--seconds",
                "0.25",
                "--groove",
                groove,
                "--out",
                "g.wav",
            ],
        )
        .ok()
        .stderr_has(&[printed.as_str()]);
    }
    // The other rate and presets: 48 kHz stereo of the right length, each its own sound.
    lofigen(
        d,
        &[
            "lofi",
            "--seconds",
            "0.5",
            "--rate",
            "48000",
            "--fx",
            "vinyl",
            "--out",
            "v.wav",
        ],
    )
    .ok()
    .stdout_has(&["48 kHz stereo, vinyl effects"]);
    let v = read_wav(&d.join("v.wav"));
    assert_eq!(
        (v.sample_rate, v.channels, v.samples.len()),
        (48_000, 2, 48_000)
    );
}

#[test]
fn rate_8000_without_effects_is_the_raw_model_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    lofigen(
        d,
        &[
            "lofi",
            "--seconds",
            "1",
            "--rate",
            "8000",
            "--fx",
            "none",
            "--out",
            "raw.wav",
        ],
    )
    .ok()
    .stdout_has(&["8 kHz mono, raw"]);
    // The library's raw stream (the bundled model, seed 42, as the CLI's defaults) written by
    // the plain 8 kHz writer: the same bytes.
    let g = lofigen::runtime::Generator::bundled().unwrap();
    let clip = g
        .generate(1.0, &lofigen::runtime::StreamOptions::default())
        .unwrap();
    lofigen_audio::write_wav16(&d.join("lib.wav"), &clip).unwrap();
    let raw = read_wav(&d.join("raw.wav"));
    assert_eq!(
        (raw.sample_rate, raw.channels, raw.samples.len()),
        (8000, 1, 8000)
    );
    assert_eq!(
        std::fs::read(d.join("raw.wav")).unwrap(),
        std::fs::read(d.join("lib.wav")).unwrap()
    );
    // Those were f16 weights, the default; `--f16` is its old spelling, and f32 weights give
    // the library's f32 stream, other samples.
    let raw = ["lofi", "--seconds", "1", "--rate", "8000", "--fx", "none"];
    lofigen(d, &[&raw[..], &["--f16", "--out", "f16.wav"]].concat()).ok();
    lofigen(
        d,
        &[&raw[..], &["--precision", "f32", "--out", "f32.wav"]].concat(),
    )
    .ok();
    let f32_opts = lofigen::runtime::StreamOptions {
        precision: lofigen::runtime::Precision::F32,
        ..lofigen::runtime::StreamOptions::default()
    };
    lofigen_audio::write_wav16(&d.join("lib32.wav"), &g.generate(1.0, &f32_opts).unwrap()).unwrap();
    let bytes = |f: &str| std::fs::read(d.join(f)).unwrap();
    assert_eq!(bytes("f16.wav"), bytes("raw.wav"));
    assert_eq!(bytes("f32.wav"), bytes("lib32.wav"));
    assert_ne!(
        bytes("f32.wav"),
        bytes("raw.wav"),
        "--precision f32 made no difference"
    );
}

#[test]
fn lofi_streams_to_stdout_the_samples_it_writes_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    lofigen(d, &["lofi", "--seconds", "0.5", "--out", "f.wav"]).ok();
    let streamed = raw_stdout(d, &["lofi", "--seconds", "0.5", "--out", "-"]);
    std::fs::write(d.join("s.wav"), &streamed).unwrap();
    // read_wav checks the RIFF and data sizes against the bytes that came.
    let s = read_wav(&d.join("s.wav"));
    assert_eq!((s.sample_rate, s.channels), (44_100, 2));
    assert_eq!(s.samples.len(), 2 * 22_050);
    assert_eq!(s.samples, read_wav(&d.join("f.wav")).samples);
    // The raw path streams too, mono.
    let streamed = raw_stdout(
        d,
        &[
            "lofi",
            "--seconds",
            "0.5",
            "--rate",
            "8000",
            "--fx",
            "none",
            "--out",
            "-",
        ],
    );
    std::fs::write(d.join("r.wav"), &streamed).unwrap();
    let r = read_wav(&d.join("r.wav"));
    assert_eq!(
        (r.sample_rate, r.channels, r.samples.len()),
        (8000, 1, 4000)
    );
}

#[test]
fn an_endless_stream_plays_until_the_listener_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lofigen"))
        .args(["lofi", "--out", "-"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Half a second of stereo: more than any one chunk, so the stream really goes on.
    let mut head = vec![0u8; 44 + 4 * 22_050];
    child.stdout.take().unwrap().read_exact(&mut head).unwrap();
    assert_eq!(&head[..4], b"RIFF");
    assert_eq!(&head[36..40], b"data");
    let channels = u16::from_le_bytes(head[22..24].try_into().unwrap());
    let rate = u32::from_le_bytes(head[24..28].try_into().unwrap());
    assert_eq!((channels, rate), (2, 44_100), "the finished stereo sound");
    let data = u32::from_le_bytes(head[40..44].try_into().unwrap());
    assert!(
        data > 1 << 31,
        "an endless stream states the largest length, not {data}"
    );
    // The pipe is closed now: the next write fails and lofigen ends, successfully.
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("lofigen kept running after its listener went away");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "exit {status}: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn lofi_bad_arguments_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    lofigen(d, &["lofi", "--seconds", "-1"]).fails_with(&["--seconds", "positive"]);
    lofigen(d, &["lofi", "--out", "no/such/dir/x.wav"])
        .fails_with(&["no/such/dir", "not an existing folder"]);
    lofigen(d, &["lofi", "--seconds", "1e12"]).fails_with(&["--seconds", "at most", "--out -"]);
    lofigen(d, &["lofi", "--run", "no-such-run", "--seconds", "1"]).fails_with(&["no-such-run"]);
    lofigen(
        d,
        &["lofi", "--seed-audio", "missing.flac", "--seconds", "1"],
    )
    .fails_with(&["missing.flac"]);
    lofigen(d, &["lofi", "--fx", "loud", "--seconds", "1"]).fails_with(&[
        "--fx",
        "loud",
        "none, clean, tape, vinyl, lofi",
    ]);
    lofigen(d, &["lofi", "--rate", "22050", "--seconds", "1"]).fails_with(&[
        "--rate",
        "22050",
        "44100, 48000, 8000",
    ]);
    lofigen(
        d,
        &["lofi", "--rate", "8000", "--fx", "tape", "--seconds", "1"],
    )
    .fails_with(&["--fx tape cannot run at --rate 8000", "lowpass_hz"]);
    lofigen(d, &["lofi", "--precision", "bf16", "--seconds", "1"]).fails_with(&[
        "--precision",
        "bf16",
        "f16, f32",
    ]);
    lofigen(
        d,
        &["lofi", "--f16", "--precision", "f32", "--seconds", "1"],
    )
    .fails_with(&["--f16", "cannot be used with", "--precision"]);
    assert!(!d.join("lofi.wav").exists());
}

#[test]
fn the_demo_ends_with_a_lofi_render_and_lists_it_first() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let r = lofigen(
        d,
        &[
            "demo",
            "--out",
            "demo",
            "--minutes",
            "0.02",
            "--seconds",
            "0.5",
            "--lofi-seconds",
            "1",
        ],
    )
    .ok()
    .stderr_has(&["K-Pone", "CC BY 3.0"]);
    let outputs = r.stdout.split("outputs:").nth(1).unwrap_or_default();
    let first = outputs
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    assert!(
        first.contains("listen first:") && first.contains("lofi.wav"),
        "the lofi render is not listed first:\n{}",
        r.stdout
    );
    let w = read_wav(&d.join("demo").join("lofi.wav"));
    assert_eq!(
        (w.sample_rate, w.channels, w.samples.len()),
        (44_100, 2, 2 * 44_100)
    );
    assert!(
        d.join("demo").join("generated.wav").is_file(),
        "the other steps still run"
    );
}

/// `--count 3 --seed 7` writes three numbered clips, each the file `--seed 7`, `8`, `9` alone
/// writes, byte for byte, finished or raw.
#[test]
fn count_renders_numbered_clips_each_equal_to_its_seed_alone() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    lofigen(
        d,
        &[
            "lofi",
            "--count",
            "3",
            "--seed",
            "7",
            "--seconds",
            "0.6",
            "--out",
            "c.wav",
        ],
    )
    .ok()
    .stdout_has(&["wrote 3 clips", "c-1.wav", "c-3.wav"])
    .stderr_has(&[
        "c-2.wav: --seed 8",
        "c-3.wav: --seed 9",
        "threads",
        "CC BY 3.0",
    ]);
    lofigen(
        d,
        &["lofi", "--seed", "8", "--seconds", "0.6", "--out", "s8.wav"],
    )
    .ok();
    let c2 = std::fs::read(d.join("c-2.wav")).unwrap();
    assert_eq!(
        c2,
        std::fs::read(d.join("s8.wav")).unwrap(),
        "clip 2 is not seed 8 alone"
    );
    assert_ne!(
        c2,
        std::fs::read(d.join("c-1.wav")).unwrap(),
        "clips 1 and 2 are one"
    );
    let w = read_wav(&d.join("c-3.wav"));
    assert_eq!(
        (w.sample_rate, w.channels, w.samples.len()),
        (44_100, 2, 2 * 26_460)
    );
    // The raw path: 8 kHz mono without effects, twelve clips numbered to one width.
    let raw = ["--rate", "8000", "--fx", "none", "--seconds", "0.2"];
    let mut args = vec!["lofi", "--count", "12", "--out", "r.wav"];
    args.extend(raw);
    lofigen(d, &args).ok().stdout_has(&["r-01.wav", "r-12.wav"]);
    let mut args = vec!["lofi", "--seed", "53", "--out", "s53.wav"];
    args.extend(raw);
    lofigen(d, &args).ok();
    assert_eq!(
        std::fs::read(d.join("r-12.wav")).unwrap(),
        std::fs::read(d.join("s53.wav")).unwrap()
    );
    // `generate --count` on a trained run (a regressing model: the seed changes nothing).
    let run = trained_run(d, "a", &[]);
    let run = run.to_str().unwrap();
    let generate = ["generate", "--run", run, "--seconds", "0.1"];
    let mut args = generate.to_vec();
    args.extend(["--count", "2", "--out", "g.wav"]);
    lofigen(d, &args)
        .ok()
        .stdout_has(&["wrote 2 clips", "g-2.wav"]);
    let mut args = generate.to_vec();
    args.extend(["--out", "g.wav"]);
    lofigen(d, &args).ok();
    assert_eq!(
        std::fs::read(d.join("g-1.wav")).unwrap(),
        std::fs::read(d.join("g.wav")).unwrap()
    );
}

#[test]
fn count_bad_values_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    lofigen(d, &["lofi", "--count", "0", "--seconds", "1"]).fails_with(&["--count", "not 0"]);
    lofigen(d, &["lofi", "--count", "2", "--out", "-"]).fails_with(&["--count 2", "--out -"]);
    lofigen(d, &["lofi", "--count", "-2"]).fails_with(&["--count", "-2"]);
    lofigen(
        d,
        &[
            "lofi",
            "--count",
            "3",
            "--seed",
            "18446744073709551615",
            "--seconds",
            "1",
        ],
    )
    .fails_with(&["--seed 18446744073709551615", "--count 3"]);
    lofigen(
        d,
        &[
            "generate", "--run", "runs/a", "--count", "0", "--out", "g.wav",
        ],
    )
    .fails_with(&["--count", "not 0"]);
    let left: Vec<_> = std::fs::read_dir(d).unwrap().collect();
    assert!(left.is_empty(), "files were written: {left:?}");
}
