//! Shared helpers for the `lofigen` integration tests, in the style of ripgrep's: run the built
//! binary in a temporary folder, then look at its exit code, its output and the files it wrote.
//!
//! Not every test binary uses every helper.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[allow(unused_imports)] // each test binary uses a different subset
pub use lofigen_testkit::{demo_flac, demo_mp3, test_audio};

/// A tiny model that trains in a fraction of a second: receptive field 15 samples.
pub const TINY_CONFIG: &str = r#"[model]
family = "paper"
layers = [ { channels = 4, kernel = 8 }, { channels = 1, kernel = 8 } ]
[data]
window_samples = 512
[train]
learning_rate = 1e-3
batch_size = 4
epochs = 2
seed = 7
max_windows_per_epoch = 8
max_valid_windows = 4
"#;

/// The number-valued fields of an eval row (`lofigen eval`'s JSON, and experiment reports).
pub const EVAL_ROW_KEYS: &[&str] = &[
    "seconds",
    "spectrum_distance_db",
    "mfcc_frechet",
    "flatness",
    "tonal_peak",
    "dynamics_db",
    "silence_fraction",
    "clipping_fraction",
    "rms_dbfs",
];

/// What one run of the binary did.
pub struct Run {
    /// The command line, for failure messages.
    pub args: Vec<String>,
    /// Exit code (None if killed by a signal).
    pub code: Option<i32>,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

impl Run {
    fn from_output(args: Vec<String>, out: Output) -> Self {
        Self {
            args,
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn describe(&self) -> String {
        format!(
            "lofigen {}\nexit code: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.args.join(" "),
            self.code,
            self.stdout,
            self.stderr
        )
    }

    /// Assert exit code 0 and a clean stderr; returns self for chaining.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(self.code, Some(0), "expected success:\n{}", self.describe());
        self.assert_clean_stderr();
        self
    }

    /// Assert a failure exit code, no panic, and that stderr mentions every one of `needles`.
    #[track_caller]
    pub fn fails_with(self, needles: &[&str]) -> Self {
        assert!(
            matches!(self.code, Some(c) if c != 0),
            "expected a non-zero exit code:\n{}",
            self.describe()
        );
        self.assert_clean_stderr();
        assert!(
            self.stderr.contains("error"),
            "stderr should say `error`:\n{}",
            self.describe()
        );
        self.stderr_has(needles)
    }

    /// Assert that stderr mentions every one of `needles`.
    #[track_caller]
    pub fn stderr_has(self, needles: &[&str]) -> Self {
        for n in needles {
            assert!(
                self.stderr.contains(n),
                "stderr should mention {n:?}:\n{}",
                self.describe()
            );
        }
        self
    }

    /// Assert that stdout mentions every one of `needles`.
    #[track_caller]
    pub fn stdout_has(self, needles: &[&str]) -> Self {
        for n in needles {
            assert!(
                self.stdout.contains(n),
                "stdout should mention {n:?}:\n{}",
                self.describe()
            );
        }
        self
    }

    #[track_caller]
    fn assert_clean_stderr(&self) {
        assert!(
            !self.stderr.contains("panicked") && !self.stderr.contains("RUST_BACKTRACE"),
            "the binary panicked:\n{}",
            self.describe()
        );
        // Not a terminal: no colour codes in the text a user pipes into a log.
        assert!(
            !self.stderr.contains('\u{1b}'),
            "stderr holds terminal escape codes although it is not a terminal:\n{}",
            self.describe()
        );
    }
}

/// Run `lofigen args...` in `dir`, with a clean logging environment.
pub fn lofigen(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_lofigen"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("the lofigen binary runs");
    Run::from_output(args.iter().map(|s| s.to_string()).collect(), out)
}

/// Run `lofigen args...` in `dir` as if the disk filled up once a file reaches `kib` KiB: bash
/// lowers RLIMIT_FSIZE (no root needed) and ignores SIGXFSZ, so a write past the limit fails
/// with EFBIG ("File too large") instead of killing the process. `None` where bash is missing.
pub fn lofigen_with_file_limit(dir: &Path, kib: u64, args: &[&str]) -> Option<Run> {
    let script = r#"ulimit -f "$0" && trap "" XFSZ && exec "$@""#;
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .arg(kib.to_string())
        .arg(env!("CARGO_BIN_EXE_lofigen"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE")
        .output()
        .ok()?;
    Some(Run::from_output(
        args.iter().map(|s| s.to_string()).collect(),
        out,
    ))
}

/// Path as a `&str` for argument lists (the temporary folders are plain ASCII).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// Write `text` to `dir/name` and return the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// `in/lofi/{demo flac, demo mp3}` under `dir`; returns the `in` folder.
pub fn lofi_inputs(dir: &Path) -> PathBuf {
    let input = dir.join("in");
    let lofi = input.join("lofi");
    std::fs::create_dir_all(&lofi).unwrap();
    for src in [demo_flac(), demo_mp3()] {
        std::fs::copy(&src, lofi.join(src.file_name().unwrap())).unwrap();
    }
    input
}

/// `lofigen prepare in --out corpus` in `dir` (two 30 s files); returns `corpus`.
pub fn prepared_corpus(dir: &Path) -> PathBuf {
    lofi_inputs(dir);
    lofigen(dir, &["prepare", "in", "--out", "corpus"]).ok();
    dir.join("corpus")
}

/// `tiny.toml` in `dir`, and a prepared corpus; then `lofigen train` into `runs/<name>`.
pub fn trained_run(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    train_tiny(dir, name, extra).ok();
    dir.join("runs").join(name)
}

/// `lofigen train` of `tiny.toml` on `corpus/` into `runs/<name>` with `extra` arguments
/// (both written first if missing); the result is not checked.
pub fn train_tiny(dir: &Path, name: &str, extra: &[&str]) -> Run {
    if !dir.join("tiny.toml").exists() {
        write(dir, "tiny.toml", TINY_CONFIG);
    }
    if !dir.join("corpus").exists() {
        prepared_corpus(dir);
    }
    let run = format!("runs/{name}");
    let mut args = vec![
        "train",
        "--config",
        "tiny.toml",
        "--data",
        "corpus",
        "--run",
        &run,
    ];
    args.extend_from_slice(extra);
    lofigen(dir, &args)
}

/// `metrics.csv` of a run as `(epoch, split, loss)` rows, checking its header.
pub fn metrics(run: &Path) -> Vec<(usize, String, f64)> {
    let text = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("epoch,split,loss"), "metrics.csv header");
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 3, "metrics row {l:?}");
            (
                f[0].parse().unwrap(),
                f[1].to_string(),
                f[2].parse().unwrap(),
            )
        })
        .collect()
}

/// The `(epoch, split)` pairs of metrics rows, in file order.
pub fn keys(rows: &[(usize, String, f64)]) -> Vec<(usize, &str)> {
    rows.iter().map(|(e, s, _)| (*e, s.as_str())).collect()
}

/// Whether `path` starts with the PNG signature and a sensible IHDR; returns (width, height).
#[track_caller]
pub fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        path.display()
    );
    assert_eq!(&bytes[12..16], b"IHDR", "{}: first chunk", path.display());
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    let (w, h) = (be(16), be(20));
    assert!(w > 0 && h > 0, "{}: empty image", path.display());
    (w, h)
}

/// The format of a PCM WAV file and its samples.
#[derive(Debug)]
pub struct Wav {
    pub format_tag: u16,
    pub channels: u16,
    pub sample_rate: u32,
    pub bits: u16,
    pub samples: Vec<i16>,
}

/// Parse a 16-bit PCM WAV by walking its RIFF chunks.
#[track_caller]
pub fn read_wav(path: &Path) -> Wav {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(b.len() >= 12, "{}: too short for a WAV", path.display());
    assert_eq!(&b[0..4], b"RIFF", "{}: RIFF tag", path.display());
    assert_eq!(&b[8..12], b"WAVE", "{}: WAVE tag", path.display());
    let le16 = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
    let le32 = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
    assert_eq!(
        le32(4) as usize,
        b.len() - 8,
        "{}: RIFF size field",
        path.display()
    );
    let (mut fmt, mut data) = (None, None);
    let mut i = 12;
    while i + 8 <= b.len() {
        let size = le32(i + 4) as usize;
        let body = i + 8;
        assert!(body + size <= b.len(), "{}: chunk overruns", path.display());
        match &b[i..i + 4] {
            b"fmt " => fmt = Some((le16(body), le16(body + 2), le32(body + 4), le16(body + 14))),
            b"data" => data = Some(&b[body..body + size]),
            _ => {}
        }
        i = body + size + (size & 1);
    }
    let (format_tag, channels, sample_rate, bits) =
        fmt.unwrap_or_else(|| panic!("{}: no fmt chunk", path.display()));
    let data = data.unwrap_or_else(|| panic!("{}: no data chunk", path.display()));
    assert_eq!(bits, 16, "{}: bits per sample", path.display());
    Wav {
        format_tag,
        channels,
        sample_rate,
        bits,
        samples: data
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect(),
    }
}

/// A 16-bit 8 kHz mono WAV holding `seconds` of a 440 Hz tone, written by the audio crate.
pub fn tone_wav(path: &Path, seconds: f32) {
    let clip = lofigen_audio::Clip::new(
        lofigen_audio::signal::sine(440.0, lofigen_audio::TARGET_RATE, seconds, 0.5),
        lofigen_audio::TARGET_RATE,
    );
    lofigen_audio::write_wav16(path, &clip).unwrap();
}

/// The Ogg Vorbis fixture (8 s of the demo clip) from the audio crate's tests.
pub fn demo_ogg() -> PathBuf {
    lofigen_testkit::repo().join("crates/lofigen-audio/tests/data/demo_island_dreams_8s.ogg")
}

/// The first `num/den` of the bytes of `src`.
pub fn cut_bytes(src: &Path, num: usize, den: usize) -> Vec<u8> {
    let b = std::fs::read(src).unwrap();
    b[..b.len() * num / den].to_vec()
}

/// A 16-bit mono PCM WAV of a tone, `seconds` long at `rate`, whose data chunk header claims
/// `claimed_bytes`: for headers that lie about their length.
pub fn wav16_claiming(rate: u32, seconds: f32, claimed_bytes: u32) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + claimed_bytes).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    for v in [16u32, 1 | (1 << 16), rate, rate * 2, 2 | (16 << 16)] {
        // fmt size; PCM + mono; rate; bytes/s; block align + bits
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(b"data");
    b.extend_from_slice(&claimed_bytes.to_le_bytes());
    for x in lofigen_audio::signal::sine(440.0, rate, seconds, 0.5) {
        b.extend_from_slice(&((x * 32767.0) as i16).to_le_bytes());
    }
    b
}

/// An MP3 of an ID3v2.3 tag with `tag_body` bytes (its header claiming `tag_claimed`), then
/// the demo MP3's first `audio_bytes` bytes of frames.
pub fn mp3_with_tag(tag_body: usize, tag_claimed: usize, audio_bytes: usize) -> Vec<u8> {
    let src = std::fs::read(demo_mp3()).unwrap();
    let syncsafe = |s: &[u8]| s.iter().fold(0usize, |acc, &b| (acc << 7) | usize::from(b));
    let frames = 10 + syncsafe(&src[6..10]);
    let mut b = b"ID3\x03\x00\x00".to_vec();
    for shift in [21, 14, 7, 0] {
        b.push(((tag_claimed >> shift) & 0x7f) as u8);
    }
    b.resize(10 + tag_body, 0);
    b.extend_from_slice(&src[frames..frames + audio_bytes]);
    b
}

/// Decodes a PNG completely and returns (width, height, distinct colours).
#[track_caller]
pub fn decode_png(path: &Path) -> (u32, u32, usize) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = png::Decoder::new(file).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let px = info.color_type.samples();
    let colours: std::collections::HashSet<&[u8]> =
        buf[..info.buffer_size()].chunks_exact(px).collect();
    (info.width, info.height, colours.len())
}

/// A short burst of decaying noise (a click, or a snare-like hit) added into `x` at sample
/// `at`: 30 ms, starting at `amplitude`.
fn add_burst(x: &mut [f32], at: usize, amplitude: f32, seed: u64) {
    let rate = lofigen_audio::TARGET_RATE as f32;
    let noise = lofigen_audio::signal::white_noise((0.03 * rate) as usize, 1.0, seed);
    for (i, n) in noise.into_iter().enumerate() {
        if let Some(s) = x.get_mut(at + i) {
            *s += amplitude * n * (-(i as f32) / (0.006 * rate)).exp();
        }
    }
}

/// A 16-bit 8 kHz WAV of a click track: `seconds` of decaying noise bursts at `bpm`, the first
/// at 0.25 s and every fourth one twice as loud (the downbeats).
pub fn click_track_wav(path: &Path, bpm: f64, seconds: f64) {
    let rate = lofigen_audio::TARGET_RATE;
    let mut x = vec![0.0f32; (seconds * f64::from(rate)) as usize];
    let period = 60.0 / bpm;
    let mut k = 0;
    while 0.25 + k as f64 * period < seconds {
        let at = ((0.25 + k as f64 * period) * f64::from(rate)) as usize;
        add_burst(&mut x, at, if k % 4 == 0 { 0.8 } else { 0.4 }, k as u64 + 1);
        k += 1;
    }
    lofigen_audio::write_wav16(path, &lofigen_audio::Clip::new(x, rate)).unwrap();
}

/// A 16-bit 8 kHz WAV of swung 16ths: a loud burst on every beat at `bpm` and soft ones on
/// the other three 16ths of it, the off 16ths (2nd and 4th) late by `swing` of a 16th.
pub fn swung_16ths_wav(path: &Path, bpm: f64, seconds: f64, swing: f64) {
    let rate = lofigen_audio::TARGET_RATE;
    let mut x = vec![0.0f32; (seconds * f64::from(rate)) as usize];
    let sixteenth = 60.0 / bpm / 4.0;
    let mut k = 0;
    loop {
        let late = if k % 2 == 1 { swing } else { 0.0 };
        let t = 0.25 + (k as f64 + late) * sixteenth;
        if t >= seconds {
            break;
        }
        let amplitude = if k % 4 == 0 { 0.8 } else { 0.3 };
        add_burst(
            &mut x,
            (t * f64::from(rate)) as usize,
            amplitude,
            k as u64 + 1,
        );
        k += 1;
    }
    lofigen_audio::write_wav16(path, &lofigen_audio::Clip::new(x, rate)).unwrap();
}

/// A 16-bit 8 kHz WAV of a chord progression: `progression` (chord symbols), one chord per bar
/// of 4 beats at `bpm`, repeated `times`, from 0 s. Each chord is additive tones: its root as a
/// bass note in octave 2 and every chord tone in octave 4, with a second harmonic; a kick (a
/// decaying 45 Hz tone, below the chroma's lowest note, so that it does not read as a pitch
/// class) and a short noise burst mark every beat, so the beat grid can be found.
pub fn chord_track_wav(path: &Path, progression: &[&str], bpm: f64, times: usize) {
    use std::f32::consts::TAU;
    let rate = lofigen_audio::TARGET_RATE;
    let fs = rate as f32;
    let beat = 60.0 / bpm;
    let bar = (4.0 * beat * f64::from(rate)) as usize;
    let bars = progression.len() * times;
    let mut x = vec![0.0f32; bars * bar];
    let midi_hz = |m: i32| 440.0 * 2f32.powf((m - 69) as f32 / 12.0);
    for b in 0..bars {
        let chord: lofigen_audio::analysis::Chord =
            progression[b % progression.len()].parse().unwrap();
        let root = chord.root.index() as i32;
        let mut notes = vec![(36 + root, 0.25f32)];
        notes.extend(
            chord
                .pitch_classes()
                .iter()
                .map(|pc| (60 + pc.index() as i32, 0.1f32)),
        );
        let start = b * bar;
        for i in 0..bar {
            let t = i as f32 / fs;
            // 10 ms fades at the bar's edges: no click at the chord change.
            let fade = (t / 0.01).min((bar - i) as f32 / fs / 0.01).min(1.0);
            let v: f32 = notes
                .iter()
                .map(|&(m, a)| {
                    let f = midi_hz(m);
                    a * ((TAU * f * t).sin() + 0.5 * (TAU * 2.0 * f * t).sin())
                })
                .sum();
            x[start + i] += 0.5 * fade * v;
        }
    }
    let n_beats = bars * 4;
    for k in 0..n_beats {
        let at = (k as f64 * beat * f64::from(rate)) as usize;
        for i in 0..(0.15 * fs) as usize {
            if let Some(s) = x.get_mut(at + i) {
                let t = i as f32 / fs;
                *s += 0.6 * (TAU * 45.0 * t).sin() * (-t / 0.06).exp();
            }
        }
        add_burst(&mut x, at, 0.3, 1000 + k as u64);
    }
    let peak = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    for s in &mut x {
        *s *= 0.9 / peak.max(1e-9);
    }
    lofigen_audio::write_wav16(path, &lofigen_audio::Clip::new(x, rate)).unwrap();
}
