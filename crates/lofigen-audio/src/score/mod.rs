//! The musical control score a WaveNet is locally conditioned on: the beats, the 16th-note
//! onsets per band, the chords and the level of a piece, and their rendering to frames.
//!
//! A [`Score`] comes from the analysis of training audio ([`Score::from_analysis`]) or from a
//! user's [`Controls`] ([`Score::from_controls`], or bar by bar with a [`Conductor`] while a
//! stream plays), and [`Score::render_frames`] is the one renderer for both, so that training
//! sees exactly what generation will show. A [`Style`] sums up the scores of a training set (tempo
//! range, grooves, chord moves) and suggests controls when the user gives none.
//!
//! # Frames
//! At sample rate `rate` and hop `hop`, frame `k` covers samples `[k*hop, (k+1)*hop)` and holds
//! the controls at its centre, `(k*hop + hop/2) / rate` seconds: [`CONTROL_DIMS`] values,
//!
//! | dims    | group                | values |
//! |---------|----------------------|--------|
//! | 0..3    | [`Group::Rhythm`]    | band envelopes low (kick, bass), mid (snare, body), high (hats), 0..[`ENVELOPE_MAX`] |
//! | 3..7    | [`Group::Rhythm`]    | sin, cos of 2π·beat phase; sin, cos of 2π·bar phase (4/4) |
//! | 7       | [`Group::Rhythm`]    | 1: rhythm given |
//! | 8..20   | [`Group::Harmony`]   | [`Chord::chroma_template`] of the chord sounding (all 0: no chord) |
//! | 20      | [`Group::Harmony`]   | 1: harmony given |
//! | 21      | [`Group::Loudness`]  | (level dBFS + 20) / 10, clamped to [-4, 2] |
//! | 22      | [`Group::Loudness`]  | 1: loudness given |
//!
//! A group that is not given reads all zeros, flag included; [`drop_group`] does the same to a
//! frame for control dropout in training.
//!
//! # Rendering
//! Each 16th-note step is an event at its (swung) time with a strength per band. A band's
//! envelope is the sum over events of strength × shape(t − t_event), clamped to
//! [0, [`ENVELOPE_MAX`]]: the shape rises linearly over [`ATTACK_S`] *before* the event (so the
//! peak sits on the step, and a frame knows a hit is coming a few ms ahead) and decays as
//! exp(−dt/τ) after it, τ = [`DECAY_S`] per band (kicks ring longer than hats), cut at
//! [`TAIL_DECAYS`] τ. The beat phase runs linearly between beat times (before the first and after
//! the last beat at the median interval); chords and levels hold from their [`Mark`] to the next.
//!
//! ```
//! use lofigen_audio::score::{CONTROL_DIMS, Controls, Groove, Score};
//!
//! let controls = Controls::new(90.0, Groove::named("boom-bap")?)?.with_chords("Dm7 G7")?;
//! let score = Score::from_controls(&controls, 10.0)?;
//! let mut frames = Vec::new();
//! score.render(8000, 64, &mut frames);
//! assert_eq!(frames.len(), 1250 * CONTROL_DIMS);
//! # Ok::<(), lofigen_audio::score::ScoreError>(())
//! ```

mod conductor;
mod guidance;
mod style;

pub use crate::error::ScoreError;
pub use conductor::{Conductor, Controls, Groove};
pub use guidance::{Guidance, MAX_GUIDANCE};
pub use style::{
    GROOVE_HIT, LEARNT_HAT_FLOOR, MAX_STYLE_GROOVES, SUGGESTED_BARS, Style, StyleGroove,
};

use std::ops::Range;

use crate::Clip;
use crate::analysis::{self, Chord, MusicAnalysis};

/// Values per frame (see the module documentation for the layout).
pub const CONTROL_DIMS: usize = 23;
/// The models' hop at 8 kHz: 64 samples, 125 frames a second, the onset analysis grid.
pub const FRAME_HOP_8K: usize = 64;
/// First of the three band envelopes (low, mid, high).
pub const BAND_DIMS: usize = 0;
/// sin, cos of the beat phase.
pub const BEAT_PHASE_DIMS: usize = 3;
/// sin, cos of the bar phase.
pub const BAR_PHASE_DIMS: usize = 5;
/// The rhythm-given flag.
pub const RHYTHM_FLAG: usize = 7;
/// First of the 12 chroma values (index 0 = C).
pub const CHROMA_DIMS: usize = 8;
/// The harmony-given flag.
pub const HARMONY_FLAG: usize = 20;
/// The loudness value.
pub const LOUDNESS_DIM: usize = 21;
/// The loudness-given flag.
pub const LOUDNESS_FLAG: usize = 22;

/// Number of rhythm bands: low (below 200 Hz), mid, high (above 2 kHz), as in
/// [`analysis::onset`].
pub const BANDS: usize = 3;
/// 16th notes per beat.
pub const STEPS_PER_BEAT: usize = 4;
/// Beats per bar (4/4 only, like the downbeat analysis).
pub const BEATS_PER_BAR: usize = analysis::tempo::BEATS_PER_BAR;
/// Rise of an event's envelope, seconds, ending on the event.
pub const ATTACK_S: f64 = 0.005;
/// Decay time constant per band (low, mid, high), seconds.
pub const DECAY_S: [f64; BANDS] = [0.060, 0.040, 0.025];
/// The decay is cut after this many time constants (e^-7 ≈ 0.001 of the peak).
pub const TAIL_DECAYS: f64 = 7.0;
/// Largest value of a band envelope (and of a step strength).
pub const ENVELOPE_MAX: f32 = 1.5;
/// A step's strength is the onset envelope's peak within this distance of the step, seconds:
/// played notes sit off the grid by a few ms, and the onset frames are 8 ms apart.
pub const STEP_WINDOW_S: f64 = 0.020;
/// Step strengths are divided by this quantile of the band's step strengths in the track (but by
/// at least half its largest), so "1" is a typical hit in any mix.
pub const STEP_NORM_QUANTILE: f64 = 0.95;
/// Largest swing: the off 16ths (2nd and 4th of a beat) delayed by half a 16th.
pub const MAX_SWING: f32 = 0.5;
/// The swings [`Score::from_analysis`] tries, in fractions of a 16th, from 0 to [`MAX_SWING`].
pub const SWING_GRID_STEP: f32 = 0.05;
/// Slowest tempo accepted in controls, BPM.
pub const MIN_BPM: f64 = 30.0;
/// Fastest tempo accepted in controls, BPM.
pub const MAX_BPM: f64 = 300.0;
/// Quietest level accepted in controls, dBFS.
pub const MIN_LOUDNESS_DB: f32 = -60.0;

/// One group of controls, given or dropped as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Group {
    /// Band envelopes and metrical phase.
    Rhythm,
    /// Chord chroma.
    Harmony,
    /// Level.
    Loudness,
}

impl Group {
    /// Every group, in frame order.
    pub const ALL: [Group; 3] = [Group::Rhythm, Group::Harmony, Group::Loudness];

    /// The group's dims in a frame, its flag included (the last of them).
    pub fn range(self) -> Range<usize> {
        match self {
            Group::Rhythm => 0..RHYTHM_FLAG + 1,
            Group::Harmony => CHROMA_DIMS..HARMONY_FLAG + 1,
            Group::Loudness => LOUDNESS_DIM..LOUDNESS_FLAG + 1,
        }
    }
}

/// Zeros `group`'s dims in `frame`, its flag included: the frame then reads as if the group had
/// not been given (control dropout). `frame` holds [`CONTROL_DIMS`] values.
pub fn drop_group(frame: &mut [f32], group: Group) {
    frame[group.range()].fill(0.0);
}

/// A value that holds from `time_s` until the next mark.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mark<T> {
    /// When it starts, seconds.
    pub time_s: f64,
    /// The value; `None`: the group is not given from here on.
    pub value: Option<T>,
}

/// The events of a piece on its beat grid (see the module documentation). Built by
/// [`Score::from_analysis`], [`Score::from_clip`] or [`Score::from_controls`]; it always has at
/// least two beats, and [`STEPS_PER_BEAT`] steps per beat.
#[derive(Clone, Debug, PartialEq)]
pub struct Score {
    beats: Vec<f64>,
    /// Index of a downbeat in `beats`, 0..4.
    downbeat: usize,
    /// Swing of each beat's off 16ths, fractions of a 16th.
    swing: Vec<f32>,
    /// Strength per band of each step, `STEPS_PER_BEAT` per beat.
    steps: Vec<[f32; BANDS]>,
    /// Per step, where its onset was heard relative to the grid, in beats (0 for a score from
    /// controls): training frames put each hit where it is in the audio, not where the grid
    /// says, so that the model learns to play exactly where its controls point.
    nudge: Vec<f32>,
    harmony: Vec<Mark<Option<Chord>>>,
    loudness: Vec<Mark<f32>>,
    duration_s: f64,
    /// Median beat interval, for times outside the beats.
    ibi: f64,
}

/// Median of `v` (which it sorts); `None` when empty.
fn median(v: &mut [f64]) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

/// The largest value of `env` (frames at `fps`) within `half_width_s` of `t` (the nearest frame
/// when none is that close); 0 outside the envelope.
fn peak_near(env: &[f32], fps: f64, t: f64, half_width_s: f64) -> f32 {
    let lo = ((t - half_width_s) * fps).ceil().max(0.0) as usize;
    let hi = ((t + half_width_s) * fps).floor();
    if hi < lo as f64 {
        return env
            .get((t * fps).round().max(0.0) as usize)
            .copied()
            .unwrap_or(0.0);
    }
    let hi = (hi as usize + 1).min(env.len());
    env.get(lo..hi)
        .map_or(0.0, |s| s.iter().copied().fold(0.0, f32::max))
}

/// How long after a hit the onset envelope (and so the beat tracker) peaks, seconds: measured
/// on synthetic kicks (`training_frames_put_each_hit_where_it_is_heard`), about the envelope's
/// differencing lag.
pub const ONSET_LATENCY_S: f64 = analysis::onset::ONSET_LAG_SECONDS;

/// The time of the strongest frame of `env` within `half_width_s` of `t` that is a real peak
/// (above a tenth of the envelope's largest value), or `None`.
fn peak_frame_near(env: &[f32], fps: f64, t: f64, half_width_s: f64) -> Option<f64> {
    let lo = ((t - half_width_s) * fps).ceil().max(0.0) as usize;
    let hi = (((t + half_width_s) * fps).floor().max(0.0) as usize + 1).min(env.len());
    let floor = 0.1 * env.iter().copied().fold(0.0, f32::max);
    (lo..hi)
        .filter(|&k| env[k] > floor && env[k] > 0.0)
        .max_by(|&a, &b| env[a].total_cmp(&env[b]))
        .map(|k| k as f64 / fps)
}

impl Score {
    /// An empty score (no beats yet) for bars to be appended to.
    fn empty(duration_s: f64) -> Self {
        Self {
            beats: Vec::new(),
            downbeat: 0,
            swing: Vec::new(),
            steps: Vec::new(),
            nudge: Vec::new(),
            harmony: Vec::new(),
            loudness: Vec::new(),
            duration_s,
            ibi: 0.5,
        }
    }

    fn refresh_ibi(&mut self) {
        let mut d: Vec<f64> = self.beats.windows(2).map(|w| w[1] - w[0]).collect();
        self.ibi = median(&mut d).unwrap_or(self.ibi);
    }

    /// The score of an analysed clip: its beats and downbeat, each beat's 16ths with the onset
    /// strength per band near them (see [`STEP_WINDOW_S`], [`STEP_NORM_QUANTILE`]) at the
    /// track's swing (see [`Score::swing`]), a chord mark per beat from `beat_chords`, and a
    /// level mark per beat (the mean of the loudness curve over it).
    ///
    /// The swing is the delay of the off 16ths, tried from 0 to [`MAX_SWING`] in steps of
    /// [`SWING_GRID_STEP`], that puts the most onset strength on them; the smallest one within 5%
    /// of the best wins (ties go straight), and a track with almost nothing on its off 16ths
    /// (under a tenth of what its on 16ths carry) is straight.
    pub fn from_analysis(a: &MusicAnalysis) -> Result<Score, ScoreError> {
        if a.tempo.is_none() || a.beats.len() < 2 {
            return Err(ScoreError::NoBeat {
                duration_s: a.duration_s,
                beat_strength: a.beat_strength,
            });
        }
        let n = a.beats.len();
        let downbeat = a
            .downbeats
            .first()
            .and_then(|d| a.beats.iter().position(|b| b == d))
            .map_or(0, |p| p % BEATS_PER_BAR);
        // The onset envelope peaks a lag after a hit (it differences levels over
        // `ONSET_LAG_SECONDS`), and the beats follow it: the score moves both back, so that its
        // frames rise where the audio's hits begin, which a causal model must know ahead.
        let latency = ONSET_LATENCY_S;
        let mut score = Score {
            beats: a.beats.iter().map(|b| b - latency).collect(),
            downbeat,
            swing: vec![0.0; n],
            steps: vec![[0.0; BANDS]; n * STEPS_PER_BEAT],
            nudge: vec![0.0; n * STEPS_PER_BEAT],
            harmony: Vec::with_capacity(n),
            loudness: Vec::with_capacity(n),
            duration_s: a.duration_s,
            ibi: 0.5,
        };
        score.refresh_ibi();
        let (env, fps) = (&a.onsets, a.onsets.frame_rate);

        // Swing: onset strength at the delayed off 16ths, sampled within a frame.
        let near = |t: f64| peak_near(&env.all, fps, t + latency, 0.5 / fps);
        let on: f32 = (0..n)
            .flat_map(|i| [0.0, 0.5].map(|f| near(score.time_in_beat(i, f))))
            .sum();
        let tries: Vec<(f32, f32)> = (0..=(MAX_SWING / SWING_GRID_STEP).round() as usize)
            .map(|k| {
                let s = k as f32 * SWING_GRID_STEP;
                let off = (0..n)
                    .flat_map(|i| {
                        [1.0, 3.0].map(|j| {
                            near(score.time_in_beat(i, (j + f64::from(s)) / STEPS_PER_BEAT as f64))
                        })
                    })
                    .sum();
                (s, off)
            })
            .collect();
        let best = tries.iter().map(|t| t.1).fold(0.0, f32::max);
        let swing = if best < 0.1 * on {
            0.0
        } else {
            tries
                .iter()
                .find(|t| t.1 >= 0.95 * best)
                .map_or(0.0, |t| t.0)
        };
        score.swing.fill(swing);

        // Nudges: each step moves to the strongest onset frame within the step window, if
        // there is one, so that its frames say where the hit is (within a frame).
        for i in 0..n.saturating_sub(1) {
            let ibi = score.beats[i + 1] - score.beats[i];
            for j in 0..STEPS_PER_BEAT {
                let t = score.step_time(i, j);
                if let Some(at) = peak_frame_near(&env.all, fps, t + latency, STEP_WINDOW_S) {
                    score.nudge[i * STEPS_PER_BEAT + j] = ((at - latency - t) / ibi) as f32;
                }
            }
        }

        // Step strengths per band, normalised per track.
        for (b, band) in [&env.low, &env.mid, &env.high].into_iter().enumerate() {
            for i in 0..n {
                for j in 0..STEPS_PER_BEAT {
                    // Around the grid time: the nudge moved only where the hit is drawn.
                    let t = score.time_in_beat(i, score.grid_fraction(i, j));
                    score.steps[i * STEPS_PER_BEAT + j][b] =
                        peak_near(band, fps, t + latency, STEP_WINDOW_S);
                }
            }
            let mut all: Vec<f64> = score.steps.iter().map(|s| f64::from(s[b])).collect();
            let max = all.iter().copied().fold(0.0, f64::max);
            all.sort_by(f64::total_cmp);
            let q = all[((all.len() - 1) as f64 * STEP_NORM_QUANTILE).round() as usize];
            let scale = q.max(max / 2.0);
            for s in &mut score.steps {
                s[b] = if scale > 1e-9 {
                    ((f64::from(s[b]) / scale) as f32).clamp(0.0, ENVELOPE_MAX)
                } else {
                    0.0
                };
            }
        }

        for i in 0..n {
            let (start, end) = (score.beats[i], score.time_in_beat(i, 1.0));
            score.harmony.push(Mark {
                time_s: start,
                value: Some(a.beat_chords.get(i).copied().flatten()),
            });
            let lo = ((start * fps).round().max(0.0) as usize).min(a.loudness_db.len());
            let hi = ((end * fps).round().max(0.0) as usize).clamp(lo, a.loudness_db.len());
            if hi > lo {
                let db = a.loudness_db[lo..hi].iter().sum::<f32>() / (hi - lo) as f32;
                score.loudness.push(Mark {
                    time_s: start,
                    value: Some(db),
                });
            }
        }
        Ok(score)
    }

    /// Analyses `clip` (see [`analysis::analyze_music`]) and builds its score.
    pub fn from_clip(clip: &Clip) -> Result<Score, ScoreError> {
        Score::from_analysis(&analysis::analyze_music(clip)?)
    }

    /// The score that `controls` play for `duration_s` seconds from a downbeat at 0 s: what a
    /// [`Conductor`] renders when the controls never change.
    pub fn from_controls(controls: &Controls, duration_s: f64) -> Result<Score, ScoreError> {
        controls.validate()?;
        let mut score = Score::empty(duration_s.max(0.0));
        let (mut bar, mut start) = (0u64, 0.0f64);
        while score.beats.len() < 2
            || score.beats[score.beats.len() - 1] <= duration_s + LOOKAHEAD_S
        {
            start = score.append_bar(controls, bar, start);
            bar += 1;
        }
        Ok(score)
    }

    /// Appends bar number `bar` of `controls` starting at `start_s`; returns when it ends. The
    /// one place bars are laid out, for [`Score::from_controls`] and [`Conductor`] alike.
    fn append_bar(&mut self, controls: &Controls, bar: u64, start_s: f64) -> f64 {
        let ibi = 60.0 / controls.bpm;
        self.beats
            .extend((0..BEATS_PER_BAR).map(|k| start_s + k as f64 * ibi));
        self.swing
            .extend(std::iter::repeat_n(controls.swing, BEATS_PER_BAR));
        self.steps
            .extend_from_slice(controls.groove.bar(bar as usize % controls.groove.bars()));
        self.nudge
            .extend(std::iter::repeat_n(0.0, BEATS_PER_BAR * STEPS_PER_BEAT));
        self.harmony.push(Mark {
            time_s: start_s,
            value: (!controls.chords.is_empty())
                .then(|| Some(controls.chords[bar as usize % controls.chords.len()])),
        });
        self.loudness.push(Mark {
            time_s: start_s,
            value: controls.loudness_db,
        });
        // The newest bar's interval (no median over a collected list: a conductor lays out a
        // bar while a stream plays, and allocates nothing there).
        self.ibi = ibi;
        start_s + BEATS_PER_BAR as f64 * ibi
    }

    /// Beat times, seconds.
    pub fn beats(&self) -> &[f64] {
        &self.beats
    }

    /// Index of a downbeat among [`Score::beats`], 0..4 (every fourth beat from it is one).
    pub fn downbeat(&self) -> usize {
        self.downbeat
    }

    /// Strength per band (low, mid, high) of each 16th, [`STEPS_PER_BEAT`] per beat, 0..1.5.
    pub fn steps(&self) -> &[[f32; BANDS]] {
        &self.steps
    }

    /// The times, seconds, of the 16ths with a hit (a band at [`GROOVE_HIT`] or more), on the
    /// grid (swing aside), in rising order.
    pub fn hit_times(&self) -> impl Iterator<Item = f64> + '_ {
        self.steps
            .iter()
            .enumerate()
            .filter(|(_, step)| step.iter().any(|&v| v >= GROOVE_HIT))
            .map(|(k, _)| self.time_at(k as f64 / STEPS_PER_BEAT as f64))
    }

    /// The swing of the first beat: how late the off 16ths (2nd and 4th of a beat) are, in
    /// fractions of a 16th.
    pub fn swing(&self) -> f32 {
        self.swing.first().copied().unwrap_or(0.0)
    }

    /// Chord marks (`Some(None)`: given, no chord).
    pub fn harmony(&self) -> &[Mark<Option<Chord>>] {
        &self.harmony
    }

    /// Level marks, dBFS.
    pub fn loudness(&self) -> &[Mark<f32>] {
        &self.loudness
    }

    /// Length of the piece, seconds.
    pub fn duration_s(&self) -> f64 {
        self.duration_s
    }

    /// Tempo from the median beat interval, BPM.
    pub fn bpm(&self) -> f64 {
        60.0 / self.ibi
    }

    /// Time `frac` (0..1) of the way through beat `i`, whose end is the next beat (or one median
    /// interval on, for the last). Computed from the beat itself, never from a running total, so
    /// a score cut short at its start (a [`Conductor`]'s) gives the same times.
    fn time_in_beat(&self, i: usize, frac: f64) -> f64 {
        let next = self.beats.get(i + 1).copied();
        let len = next.map_or(self.ibi, |n| n - self.beats[i]);
        self.beats[i] + frac * len
    }

    fn step_time(&self, i: usize, j: usize) -> f64 {
        let nudge = self
            .nudge
            .get(i * STEPS_PER_BEAT + j)
            .copied()
            .unwrap_or(0.0);
        self.time_in_beat(i, self.grid_fraction(i, j) + f64::from(nudge))
    }

    /// Where step `j` of beat `i` sits on the (swung) grid, as a fraction of the beat.
    fn grid_fraction(&self, i: usize, j: usize) -> f64 {
        let late = if j % 2 == 1 { self.swing[i] } else { 0.0 };
        (j as f64 + f64::from(late)) / STEPS_PER_BEAT as f64
    }

    /// Where `t` falls: the beat index (negative before the first beat) and the fraction of it.
    fn locate(&self, t: f64) -> (i64, f64) {
        let n = self.beats.len();
        let p = self.beats.partition_point(|&b| b <= t);
        let b = if p == 0 {
            (t - self.beats[0]) / self.ibi
        } else if p == n {
            (n - 1) as f64 + (t - self.beats[n - 1]) / self.ibi
        } else {
            let i = p - 1;
            return (
                i as i64,
                (t - self.beats[i]) / (self.beats[p] - self.beats[i]),
            );
        };
        let i = b.floor();
        (i as i64, b - i)
    }

    /// The position of time `t` in beats (0 at the first beat; fractional between beats).
    pub fn beat_at(&self, t: f64) -> f64 {
        let (i, f) = self.locate(t);
        i as f64 + f
    }

    /// The time of beat position `b` (the inverse of [`Score::beat_at`]).
    pub fn time_at(&self, b: f64) -> f64 {
        let n = self.beats.len();
        if b < 0.0 {
            self.beats[0] + b * self.ibi
        } else if b >= (n - 1) as f64 {
            self.beats[n - 1] + (b - (n - 1) as f64) * self.ibi
        } else {
            self.time_in_beat(b.floor() as usize, b.fract())
        }
    }

    /// Number of frames covering the piece at `rate` and `hop`.
    pub fn frame_count(&self, rate: u32, hop: usize) -> usize {
        (self.duration_s * f64::from(rate) / hop.max(1) as f64).ceil() as usize
    }

    /// Renders every frame of the piece (see [`Score::frame_count`]) into `out`, replacing its
    /// contents: `frames × CONTROL_DIMS` values, row-major.
    ///
    /// # Panics
    /// If `rate` or `hop` is 0.
    pub fn render(&self, rate: u32, hop: usize, out: &mut Vec<f32>) {
        out.clear();
        self.render_frames(rate, hop, 0..self.frame_count(rate, hop), out);
    }

    /// Appends frames `frames` (which may run past the piece's end) to `out`: the one renderer
    /// of the project's controls (see the module documentation). A frame depends only on the
    /// score within a second or so of its time, so any window of a piece renders the same
    /// values as the whole.
    ///
    /// # Panics
    /// If `rate` or `hop` is 0.
    pub fn render_frames(&self, rate: u32, hop: usize, frames: Range<usize>, out: &mut Vec<f32>) {
        assert!(rate > 0 && hop > 0, "render at {rate} Hz, hop {hop}");
        let base = out.len();
        out.resize(base + frames.len() * CONTROL_DIMS, 0.0);
        if frames.is_empty() {
            return;
        }
        let block = &mut out[base..];
        let (rate, hopf) = (f64::from(rate), hop as f64);
        let centre = |k: usize| (k as f64 * hopf + hopf / 2.0) / rate;
        // The frame whose centre is the first at or after time `t`.
        let frame_from = |t: f64| (t * rate / hopf - 0.5).ceil().max(0.0) as usize;

        // Rhythm: events of the beats that can reach the frames, added in step order.
        let tail = TAIL_DECAYS * DECAY_S[0];
        let (t0, t1) = (centre(frames.start), centre(frames.end - 1));
        let first = (self.locate(t0 - tail).0 - 1).max(0) as usize;
        let last = ((self.locate(t1 + ATTACK_S).0 + 2).max(0) as usize).min(self.beats.len());
        for i in first..last {
            for j in 0..STEPS_PER_BEAT {
                let strength = self.steps[i * STEPS_PER_BEAT + j];
                if strength == [0.0; BANDS] {
                    continue;
                }
                let t = self.step_time(i, j);
                let lo = frame_from(t - ATTACK_S).max(frames.start);
                let hi = frame_from(t + tail).min(frames.end);
                for k in lo..hi.max(lo) {
                    let dt = centre(k) - t;
                    let row = &mut block[(k - frames.start) * CONTROL_DIMS..];
                    for b in 0..BANDS {
                        row[BAND_DIMS + b] += strength[b] * shape(dt, DECAY_S[b]);
                    }
                }
            }
        }

        for (row, k) in block.chunks_exact_mut(CONTROL_DIMS).zip(frames) {
            let t = centre(k);
            for v in &mut row[BAND_DIMS..BAND_DIMS + BANDS] {
                *v = v.clamp(0.0, ENVELOPE_MAX);
            }
            let (i, frac) = self.locate(t);
            // The bar phase from the beat's place in its bar and the fraction, never from a
            // large beat count (whose rounding would depend on where the score starts).
            let in_bar = (i - self.downbeat as i64).rem_euclid(BEATS_PER_BAR as i64) as f64;
            let bar = (in_bar + frac) / BEATS_PER_BAR as f64;
            let (tau, f) = (std::f64::consts::TAU, frac);
            row[BEAT_PHASE_DIMS] = (tau * f).sin() as f32;
            row[BEAT_PHASE_DIMS + 1] = (tau * f).cos() as f32;
            row[BAR_PHASE_DIMS] = (tau * bar).sin() as f32;
            row[BAR_PHASE_DIMS + 1] = (tau * bar).cos() as f32;
            row[RHYTHM_FLAG] = 1.0;
            if let Some(chord) = mark_at(&self.harmony, t) {
                if let Some(c) = chord {
                    row[CHROMA_DIMS..CHROMA_DIMS + 12].copy_from_slice(&c.chroma_template());
                }
                row[HARMONY_FLAG] = 1.0;
            }
            if let Some(db) = mark_at(&self.loudness, t) {
                row[LOUDNESS_DIM] = ((db + 20.0) / 10.0).clamp(-4.0, 2.0);
                row[LOUDNESS_FLAG] = 1.0;
            }
        }
    }

    /// The same piece with its rhythm and metrical phase moved `beats` beats later (negative:
    /// earlier), along its own beat grid; chords and levels stay where they were. Half a beat is
    /// the "wrong rhythm" control of the likelihood test.
    pub fn shifted(&self, beats: f64) -> Score {
        let mut s = self.clone();
        s.beats = (0..self.beats.len())
            .map(|i| self.time_at(i as f64 + beats))
            .collect();
        s.refresh_ibi();
        s
    }

    /// The same piece with every chord `semitones` higher (negative: lower).
    pub fn transposed(&self, semitones: i32) -> Score {
        let mut s = self.clone();
        for m in &mut s.harmony {
            m.value = m.value.map(|c| c.map(|c| c.transpose(semitones)));
        }
        s
    }

    /// The same piece with all times multiplied by `factor` (> 0). Audio resampled so that it
    /// plays 2^(k/12) times faster (and k semitones higher) has the score
    /// `time_scaled(2^(-k/12)).transposed(k)`.
    ///
    /// # Panics
    /// If `factor` is not positive and finite.
    pub fn time_scaled(&self, factor: f64) -> Score {
        assert!(factor > 0.0 && factor.is_finite(), "time factor {factor}");
        let mut s = self.clone();
        s.beats.iter_mut().for_each(|b| *b *= factor);
        s.harmony.iter_mut().for_each(|m| m.time_s *= factor);
        s.loudness.iter_mut().for_each(|m| m.time_s *= factor);
        s.duration_s *= factor;
        s.ibi *= factor;
        s
    }

    /// The chord sounding at `t`: `None` when no harmony is given there, `Some(None)` for no
    /// chord.
    pub fn chord_at(&self, t: f64) -> Option<Option<Chord>> {
        mark_at(&self.harmony, t)
    }

    /// Number of whole bars from the first downbeat.
    pub(crate) fn bar_count(&self) -> usize {
        self.beats.len().saturating_sub(self.downbeat) / BEATS_PER_BAR
    }

    /// Index of the first beat of bar `m` (counted from the first downbeat).
    pub(crate) fn bar_start(&self, m: usize) -> usize {
        self.downbeat + m * BEATS_PER_BAR
    }

    /// Drops the first `bars` bars (from beat 0, which must be a downbeat).
    fn drop_front(&mut self, bars: usize) {
        let beats = bars * BEATS_PER_BAR;
        let cut = self.beats[beats];
        self.beats.drain(..beats);
        self.swing.drain(..beats);
        self.steps.drain(..beats * STEPS_PER_BEAT);
        self.nudge.drain(..beats * STEPS_PER_BEAT);
        // Keep the mark in force at the cut.
        let keep = |marks: usize| marks.saturating_sub(1);
        let h = keep(self.harmony.partition_point(|m| m.time_s <= cut));
        self.harmony.drain(..h);
        let l = keep(self.loudness.partition_point(|m| m.time_s <= cut));
        self.loudness.drain(..l);
    }

    /// Room for `bars` bars in every list, so that laying them out allocates nothing.
    pub(crate) fn reserve_bars(&mut self, bars: usize) {
        let beats = bars * BEATS_PER_BAR;
        self.beats.reserve(beats);
        self.swing.reserve(beats);
        self.steps.reserve(beats * STEPS_PER_BEAT);
        self.nudge.reserve(beats * STEPS_PER_BEAT);
        self.harmony.reserve(bars + 2);
        self.loudness.reserve(bars + 2);
    }

    /// Keeps the first `bars` bars (from beat 0, a downbeat), dropping the rest.
    fn truncate_bars(&mut self, bars: usize) {
        let beats = bars * BEATS_PER_BAR;
        let Some(&cut) = self.beats.get(beats) else {
            return;
        };
        self.beats.truncate(beats);
        self.swing.truncate(beats);
        self.steps.truncate(beats * STEPS_PER_BEAT);
        self.nudge.truncate(beats * STEPS_PER_BEAT);
        self.harmony.retain(|m| m.time_s < cut);
        self.loudness.retain(|m| m.time_s < cut);
    }
}

/// How far past the last frame asked for a score must have beats, seconds: beyond the attack of
/// the next event, so that no step a frame hears is a last beat measured by the median interval.
const LOOKAHEAD_S: f64 = 0.25;

/// An event's envelope `dt` seconds after it (see the module documentation).
fn shape(dt: f64, decay_s: f64) -> f32 {
    if dt < -ATTACK_S || dt > TAIL_DECAYS * decay_s {
        0.0
    } else if dt < 0.0 {
        ((dt + ATTACK_S) / ATTACK_S) as f32
    } else {
        (-dt / decay_s).exp() as f32
    }
}

/// The value of the mark in force at `t` (the first mark's before it); `None` when not given.
fn mark_at<T: Copy>(marks: &[Mark<T>], t: f64) -> Option<T> {
    let p = marks.partition_point(|m| m.time_s <= t);
    marks.get(p.saturating_sub(1)).and_then(|m| m.value)
}
