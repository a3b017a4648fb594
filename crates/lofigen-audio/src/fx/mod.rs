//! The lofi effects chain that runs after generation, streaming and in real time.
//!
//! Mono 8 kHz model output goes in, in blocks of any size; interleaved stereo at 44.1 or 48 kHz
//! comes out:
//!
//! ```text
//! resample -> wow/flutter -> saturation -> high/low-pass tone -> crackle + hiss
//!          -> stereo width (mid/side) -> room reverb -> limiter (ceiling)
//! ```
//!
//! Every stage is a [fundsp](https://docs.rs/fundsp) graph; this module holds the glue:
//! presets, validated settings, fixed 64-frame blocks (so the block size a caller picks never
//! changes a sample), latency compensation (the output is aligned with the input and has exactly
//! `round(n * out_rate / in_rate)` frames once flushed) and seeding (same input and seed, same
//! output).
//!
//! ```
//! use lofigen_audio::fx::{FxChain, FxPreset};
//! use lofigen_audio::signal;
//!
//! let mut chain = FxChain::new(FxPreset::Lofi, 8000, 44_100, 7).unwrap();
//! let mut out = Vec::new();
//! for block in signal::sine(220.0, 8000, 1.0, 0.5).chunks(1000) {
//!     chain.process(block, &mut out);
//! }
//! chain.flush(&mut out);
//! assert_eq!(out.len(), 2 * 44_100);
//! assert!(out.iter().all(|x| x.abs() <= 0.9)); // the lofi preset's -1 dBFS ceiling
//! ```

mod stages;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::StreamResampler;
use stages::Graph;

/// Input samples handed to the resampler at a time: a bound that keeps every internal buffer at
/// its warm-up size however large the caller's blocks are.
const PIECE: usize = 1024;

/// Input samples are clamped to this magnitude (after non-finite ones become 0): far above any
/// real signal, low enough that no filter state or FFT sum can overflow to infinity.
const INPUT_LIMIT: f32 = 16.0;

/// What went wrong setting up an effects chain. Messages name the offending value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FxError {
    /// The preset name is not one of [`FxPreset::NAMES`].
    #[error("unknown effects preset {name:?} (valid: {})", FxPreset::NAMES.join(", "))]
    UnknownPreset {
        /// What was asked for.
        name: String,
    },
    /// A knob of [`FxSettings`] is outside its range.
    #[error("effects knob {knob} = {value} is out of range ({range})")]
    OutOfRange {
        /// The knob's field name in [`FxSettings`].
        knob: &'static str,
        /// The rejected value.
        value: f32,
        /// The accepted values, with units.
        range: String,
    },
    /// A sample rate the chain cannot work with.
    #[error("effects chain cannot run from {in_rate} Hz to {out_rate} Hz ({reason})")]
    BadRate {
        /// Input rate, Hz.
        in_rate: u32,
        /// Output rate, Hz.
        out_rate: u32,
        /// Why not.
        reason: &'static str,
    },
}

/// A named set of [`FxSettings`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum FxPreset {
    /// Resampling and duplication to two channels only: bit-transparent otherwise.
    None,
    /// Hi-fi polish: rumble filter, a little width and room, the limiter.
    Clean,
    /// Cassette: wow and flutter, tape drive, a darker top, hiss.
    Tape,
    /// Record: crackle, a little hiss and wow, a narrower band.
    Vinyl,
    /// The radio sound: all of the above, gently.
    #[default]
    Lofi,
}

impl FxPreset {
    /// Every preset, in the order of [`FxPreset::NAMES`].
    pub const ALL: [FxPreset; 5] = [
        FxPreset::None,
        FxPreset::Clean,
        FxPreset::Tape,
        FxPreset::Vinyl,
        FxPreset::Lofi,
    ];

    /// The names [`FxPreset::from_str`] accepts.
    pub const NAMES: [&'static str; 5] = ["none", "clean", "tape", "vinyl", "lofi"];

    /// The preset's name, as parsed.
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// The knobs this preset stands for.
    pub fn settings(self) -> FxSettings {
        let off = FxSettings::OFF;
        match self {
            FxPreset::None => off,
            FxPreset::Clean => FxSettings {
                highpass_hz: Some(30.0),
                width: 0.3,
                reverb_mix: 0.06,
                ceiling_dbfs: Some(-1.0),
                ..off
            },
            FxPreset::Tape => FxSettings {
                wow_percent: 0.25,
                flutter_percent: 0.06,
                drive_db: 6.0,
                highpass_hz: Some(40.0),
                lowpass_hz: Some(5000.0),
                hiss_dbfs: Some(-60.0),
                width: 0.35,
                reverb_mix: 0.08,
                ceiling_dbfs: Some(-1.0),
                ..off
            },
            FxPreset::Vinyl => FxSettings {
                wow_percent: 0.1,
                flutter_percent: 0.02,
                drive_db: 3.0,
                highpass_hz: Some(60.0),
                lowpass_hz: Some(6000.0),
                crackle_per_s: 12.0,
                hiss_dbfs: Some(-66.0),
                width: 0.4,
                reverb_mix: 0.1,
                ceiling_dbfs: Some(-1.0),
            },
            FxPreset::Lofi => FxSettings {
                wow_percent: 0.2,
                flutter_percent: 0.04,
                drive_db: 5.0,
                highpass_hz: Some(50.0),
                lowpass_hz: Some(3500.0),
                crackle_per_s: 6.0,
                hiss_dbfs: Some(-62.0),
                width: 0.4,
                reverb_mix: 0.12,
                ceiling_dbfs: Some(-1.0),
            },
        }
    }
}

impl fmt::Display for FxPreset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for FxPreset {
    type Err = FxError;

    /// Parses `none | clean | tape | vinyl | lofi` (case-insensitive, surrounding blanks ignored).
    fn from_str(s: &str) -> Result<Self, FxError> {
        let t = s.trim();
        Self::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(t))
            .ok_or_else(|| FxError::UnknownPreset { name: s.to_owned() })
    }
}

/// The knobs of the chain. A stage whose knob is 0 (or `None`) is left out of the chain
/// entirely, so [`FxSettings::OFF`] is resampling only.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FxSettings {
    /// Wow: the slow (0.55 Hz) tape-speed drift, as peak pitch deviation in percent, 0..=2.
    pub wow_percent: f32,
    /// Flutter: the fast (6.5 Hz) speed wobble, as peak pitch deviation in percent, 0..=1.
    pub flutter_percent: f32,
    /// Saturation: gain into a tanh curve, dB, 0..=24 (0 = off). Small signals keep unity gain;
    /// peaks are rounded off.
    pub drive_db: f32,
    /// High-pass (12 dB/octave) corner, Hz, 10..=1000; `None` = off. Removes DC and rumble.
    pub highpass_hz: Option<f32>,
    /// Low-pass (12 dB/octave) corner, Hz, 200..=20 000 and below 45 % of the output rate;
    /// `None` = off. Lower is warmer.
    pub lowpass_hz: Option<f32>,
    /// Vinyl crackle: average clicks per second, 0..=100 (0 = off).
    pub crackle_per_s: f32,
    /// Tape hiss: band-limited (400 Hz - 7 kHz) noise at this RMS level, dBFS, -96..=-20;
    /// `None` = off.
    pub hiss_dbfs: Option<f32>,
    /// Stereo width, 0..=1 (0 = mono): a delayed, high-passed side signal at up to half the mid's
    /// level; the mono sum (L + R) / 2 stays exactly the mid.
    pub width: f32,
    /// Room reverb, wet level against the dry signal, 0..=1 (0 = off).
    pub reverb_mix: f32,
    /// Limiter ceiling, dBFS, -24..=0: no output sample ever exceeds it; `None` = no limiter.
    pub ceiling_dbfs: Option<f32>,
}

impl Default for FxSettings {
    /// The default preset's ([`FxPreset::Lofi`]) settings.
    fn default() -> Self {
        FxPreset::default().settings()
    }
}

impl From<FxPreset> for FxSettings {
    fn from(preset: FxPreset) -> Self {
        preset.settings()
    }
}

impl FxSettings {
    /// Every stage off: resampling and duplication to stereo only.
    pub const OFF: FxSettings = FxSettings {
        wow_percent: 0.0,
        flutter_percent: 0.0,
        drive_db: 0.0,
        highpass_hz: None,
        lowpass_hz: None,
        crackle_per_s: 0.0,
        hiss_dbfs: None,
        width: 0.0,
        reverb_mix: 0.0,
        ceiling_dbfs: None,
    };

    /// Checks every knob against its documented range for output at `out_rate` Hz; the error
    /// names the first knob out of range and its value.
    pub fn validate(&self, out_rate: u32) -> Result<(), FxError> {
        fn check(
            knob: &'static str,
            value: f32,
            lo: f32,
            hi: f32,
            unit: &str,
        ) -> Result<(), FxError> {
            // NaN fails both comparisons, so it is rejected too.
            if value >= lo && value <= hi {
                Ok(())
            } else {
                Err(FxError::OutOfRange {
                    knob,
                    value,
                    range: format!("{lo}..={hi} {unit}").trim_end().to_owned(),
                })
            }
        }
        check("wow_percent", self.wow_percent, 0.0, 2.0, "%")?;
        check("flutter_percent", self.flutter_percent, 0.0, 1.0, "%")?;
        check("drive_db", self.drive_db, 0.0, 24.0, "dB")?;
        if let Some(hz) = self.highpass_hz {
            check("highpass_hz", hz, 10.0, 1000.0, "Hz")?;
        }
        if let Some(hz) = self.lowpass_hz {
            let top = 20_000f32.min(0.45 * out_rate as f32);
            check("lowpass_hz", hz, 200.0, top, "Hz")?;
        }
        check("crackle_per_s", self.crackle_per_s, 0.0, 100.0, "clicks/s")?;
        if let Some(db) = self.hiss_dbfs {
            check("hiss_dbfs", db, -96.0, -20.0, "dBFS")?;
        }
        check("width", self.width, 0.0, 1.0, "")?;
        check("reverb_mix", self.reverb_mix, 0.0, 1.0, "")?;
        if let Some(db) = self.ceiling_dbfs {
            check("ceiling_dbfs", db, -24.0, 0.0, "dBFS")?;
        }
        Ok(())
    }
}

/// The streaming effects chain: push mono blocks of any size with [`FxChain::process`], get
/// interleaved stereo back; [`FxChain::flush`] ends the stream.
///
/// After warm-up nothing is allocated per block except growth of the caller's output vector.
/// The output is a function of the input samples and the seed only, never of how the input was
/// split into blocks.
pub struct FxChain {
    settings: FxSettings,
    in_rate: u32,
    out_rate: u32,
    resampler: StreamResampler,
    /// Sanitised input, at most [`PIECE`] samples.
    piece: Vec<f32>,
    /// Resampled mono not yet run through the graph (less than one graph block between calls).
    resampled: Vec<f32>,
    graph: Graph,
    /// Time spent resampling, when profiling.
    resample_time: Duration,
}

impl FxChain {
    /// A chain from `in_rate` Hz mono to `out_rate` Hz stereo (8 000 to 192 000 Hz) with
    /// `settings` (or a preset), its noises seeded from `seed`.
    pub fn new(
        settings: impl Into<FxSettings>,
        in_rate: u32,
        out_rate: u32,
        seed: u64,
    ) -> Result<FxChain, FxError> {
        let settings = settings.into();
        let bad = |reason| FxError::BadRate {
            in_rate,
            out_rate,
            reason,
        };
        if in_rate == 0 {
            return Err(bad("the input rate is 0"));
        }
        if !(8000..=192_000).contains(&out_rate) {
            return Err(bad("the output rate must be 8000..=192000 Hz"));
        }
        settings.validate(out_rate)?;
        let resampler = StreamResampler::new(in_rate, out_rate);
        let graph = Graph::new(&settings, out_rate, seed);
        // A real resampler takes at most one block per push; a pass-through has no blocks.
        let piece_in = match resampler.block_frames_in() {
            1 => PIECE,
            block => PIECE.min(block),
        };
        // One resampler block, plus the graph's unfinished block and the flush's silence.
        let cap = 2 * resampler.block_frames_out() + piece_in + graph.delay_frames() + 128;
        Ok(FxChain {
            settings,
            in_rate,
            out_rate,
            piece: Vec::with_capacity(piece_in),
            resampled: Vec::with_capacity(cap),
            resampler,
            graph,
            resample_time: Duration::ZERO,
        })
    }

    /// The settings the chain runs with.
    pub fn settings(&self) -> &FxSettings {
        &self.settings
    }

    /// Output sample rate, Hz.
    pub fn out_rate(&self) -> u32 {
        self.out_rate
    }

    /// Output channels (interleaved): always 2.
    pub fn channels(&self) -> u16 {
        2
    }

    /// The most output frames the chain holds back: after `n` input samples,
    /// [`FxChain::process`] has delivered at least `round(n * out_rate / in_rate) -
    /// latency_frames()` frames; [`FxChain::flush`] delivers the rest. The output is not
    /// shifted in time: frame `k` corresponds to input time `k / out_rate`.
    pub fn latency_frames(&self) -> usize {
        self.resampler.latency_frames() + stages::BLOCK + self.graph.delay_frames()
    }

    /// Runs `input` (mono at the input rate, any length) through the chain and appends every
    /// finished stereo frame to `out` as `[l, r, l, r, ..]`. Non-finite samples count as 0.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        let step = self.piece.capacity().max(1);
        for piece in input.chunks(step) {
            self.piece.clear();
            self.piece.extend(piece.iter().map(|&x| {
                if x.is_finite() {
                    x.clamp(-INPUT_LIMIT, INPUT_LIMIT)
                } else {
                    0.0
                }
            }));
            let start = self.graph.profiling.then(std::time::Instant::now);
            self.resampler.push(&self.piece, &mut self.resampled);
            if let Some(t) = start {
                self.resample_time += t.elapsed();
            }
            self.run_graph(out);
        }
    }

    /// Ends the stream: delivers the resampler's tail and everything still inside the effects,
    /// so that the whole output has exactly `round(n * out_rate / in_rate)` frames for `n` input
    /// samples. The chain is then back at its initial state (same seed), ready for a new stream.
    pub fn flush(&mut self, out: &mut Vec<f32>) {
        let fresh = StreamResampler::new(self.in_rate, self.out_rate);
        std::mem::replace(&mut self.resampler, fresh).finish(&mut self.resampled);
        // Silence pushes the delayed tail (wow delay, limiter look-ahead) out of the graph.
        let tail = self.resampled.len() + self.graph.delay_frames();
        self.resampled.resize(tail, 0.0);
        self.run_graph(out);
        let rest = std::mem::take(&mut self.resampled);
        self.graph.process_block(&rest, out);
        self.resampled = rest;
        self.resampled.clear();
        self.graph.restart();
    }

    /// Starts (or stops) timing each stage; see [`FxChain::stage_times`]. Timing costs a clock
    /// read per stage and block, so it is off by default.
    pub fn set_profiling(&mut self, on: bool) {
        self.graph.profiling = on;
    }

    /// Time spent in each stage since profiling was switched on, in chain order, starting with
    /// `"resample"`; stages the settings leave out are not listed.
    pub fn stage_times(&self) -> Vec<(&'static str, Duration)> {
        std::iter::once(("resample", self.resample_time))
            .chain(self.graph.stage_times())
            .collect()
    }

    /// Runs every whole graph block waiting in `resampled`, keeping the remainder.
    fn run_graph(&mut self, out: &mut Vec<f32>) {
        let whole = self.resampled.len() / stages::BLOCK * stages::BLOCK;
        for block in self.resampled[..whole].chunks_exact(stages::BLOCK) {
            self.graph.process_block(block, out);
        }
        self.resampled.copy_within(whole.., 0);
        self.resampled.truncate(self.resampled.len() - whole);
    }
}
