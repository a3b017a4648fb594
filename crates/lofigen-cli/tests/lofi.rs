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

#[test]
fn lofi_writes_audible_deterministic_audio_with_no_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    lofigen(d, &["lofi", "--seconds", "1", "--out", "a.wav"])
        .ok()
        .stdout_has(&["wrote 1.0 s", "a.wav"])
        .stderr_has(&["bundled lofi model", "sampler seed 42"]);
    let a = read_wav(&d.join("a.wav"));
    assert_eq!((a.sample_rate, a.channels), (8000, 1));
    assert_eq!(a.samples.len(), 8000);
    let level = rms_dbfs(&a.samples);
    assert!(
        level > -45.0,
        "the bundled model plays near silence: {level:.1} dBFS"
    );
    lofigen(d, &["lofi", "--seconds", "1", "--out", "b.wav"]).ok();
    assert_eq!(
        a.samples,
        read_wav(&d.join("b.wav")).samples,
        "same seed, other audio"
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
    assert_eq!(s.samples.len(), 4000);
    assert_eq!(s.samples, read_wav(&d.join("f.wav")).samples);
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
    // Two seconds of audio: more than any one chunk, so the stream really goes on.
    let mut head = vec![0u8; 44 + 2 * 16_000];
    child.stdout.take().unwrap().read_exact(&mut head).unwrap();
    assert_eq!(&head[..4], b"RIFF");
    assert_eq!(&head[36..40], b"data");
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
    assert!(!d.join("lofi.wav").exists());
}
