//! Musical analysis for reports: serialisable mirrors of [`lofigen_audio::analysis`]'s results
//! (the audio crate has no serde), and the musical scores `lofigen eval` gives a clip against a
//! requested tempo and chord progression.
//!
//! [`FileAnalysis::new`] turns a [`MusicAnalysis`] into what `lofigen analyze` writes to JSON;
//! [`score`] measures a clip's analysis against a [`MusicTarget`].

use lofigen_audio::analysis::{
    self, BEAT_TOLERANCE_S, Chord, MusicAnalysis, TEMPO_TOLERANCE, beat_f_measure, chord_agreement,
    tempo_matches,
};
use lofigen_audio::score::Score;
use serde::Serialize;

/// Beats per bar of the requested chord grid (4/4, as [`analysis::tempo::BEATS_PER_BAR`]).
pub const BEATS_PER_BAR: u32 = analysis::tempo::BEATS_PER_BAR as u32;

/// Step of the phase search of [`grid_beat_f_measure`], seconds: well below the ±70 ms beat
/// tolerance, so the best phase found is within 2.5 ms of the best there is.
pub const PHASE_STEP_S: f64 = 0.005;

/// One bar of an analysed clip.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BarReport {
    /// Start (a downbeat), seconds.
    pub start_s: f64,
    /// End (the next downbeat), seconds.
    pub end_s: f64,
    /// The chord heard in the bar (e.g. `"Dm7"`), or `None` when no chord is clear.
    pub chord: Option<String>,
    /// RMS level of the bar, dBFS.
    pub loudness_db: f32,
}

/// What `lofigen analyze` reports of one file: the serialisable part of a [`MusicAnalysis`]
/// (times in seconds from the start of the clip; envelopes and chroma are left to the PNG).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FileAnalysis {
    /// The file, as named on the command line.
    pub file: String,
    /// Duration, seconds.
    pub seconds: f64,
    /// Sample rate of the analysed clip, Hz.
    pub sample_rate: u32,
    /// Tempo, beats per minute; `None` when no beat was found (silence, noise, free time).
    pub tempo_bpm: Option<f64>,
    /// Confidence of the tempo, 0..1 (`None` without a tempo).
    pub tempo_confidence: Option<f64>,
    /// How clearly the clip has a beat, 0..1.
    pub beat_strength: f64,
    /// How late the off 16ths are, in fractions of a 16th (0 straight, up to 0.5); `None`
    /// without a beat. See [`swing`].
    pub swing: Option<f64>,
    /// Beat times.
    pub beats: Vec<f64>,
    /// Which beat (0-based, 0..4) is the first downbeat; `None` without downbeats.
    pub downbeat_phase: Option<usize>,
    /// Downbeat times (every fourth beat).
    pub downbeats: Vec<f64>,
    /// The key, e.g. `"D minor"`; `None` for a clip without tonal content.
    pub key: Option<String>,
    /// Correlation of the clip's mean chroma with the key's profile, -1..1.
    pub key_correlation: Option<f32>,
    /// Bars from downbeat to downbeat, each with its chord.
    pub bars: Vec<BarReport>,
}

impl FileAnalysis {
    /// The report of `analysis`, the analysis of the file named `file`.
    pub fn new(file: &str, analysis: &MusicAnalysis) -> Self {
        Self {
            file: file.to_string(),
            seconds: analysis.duration_s,
            sample_rate: analysis.sample_rate,
            tempo_bpm: analysis.tempo.map(|t| t.bpm),
            tempo_confidence: analysis.tempo.map(|t| t.confidence),
            beat_strength: analysis.beat_strength,
            swing: swing(analysis),
            beats: analysis.beats.clone(),
            downbeat_phase: downbeat_phase(analysis),
            downbeats: analysis.downbeats.clone(),
            key: analysis.key.map(|k| k.to_string()),
            key_correlation: analysis.key.map(|k| k.correlation),
            bars: analysis
                .bars
                .iter()
                .map(|b| BarReport {
                    start_s: b.start_s,
                    end_s: b.end_s,
                    chord: b.chord.map(|c| c.to_string()),
                    loudness_db: b.loudness_db,
                })
                .collect(),
        }
    }
}

/// Everything `lofigen analyze` writes to `analysis.json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AnalysisReport {
    /// Beats per bar assumed for downbeats and bars.
    pub beats_per_bar: u32,
    /// One entry per file, in the order given.
    pub files: Vec<FileAnalysis>,
}

impl AnalysisReport {
    /// A report of `files`.
    pub fn new(files: Vec<FileAnalysis>) -> Self {
        Self {
            beats_per_bar: BEATS_PER_BAR,
            files,
        }
    }
}

/// The swing of an analysed clip: how late its off 16ths (the 2nd and 4th of each beat) fall,
/// in fractions of a 16th, as the control score reads it for training
/// ([`Score::from_analysis`]); `None` without a beat. A clip with almost nothing on its off
/// 16ths reads as straight (0).
pub fn swing(analysis: &MusicAnalysis) -> Option<f64> {
    Score::from_analysis(analysis)
        .ok()
        .map(|s| f64::from(s.swing()))
}

/// Index (0..4) of the first downbeat among the beats of `analysis`; `None` without downbeats.
pub fn downbeat_phase(analysis: &MusicAnalysis) -> Option<usize> {
    let first = *analysis.downbeats.first()?;
    analysis.beats.iter().position(|&b| b == first)
}

/// What a clip was asked to be: a tempo, and a chord progression over bars at that tempo.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MusicTarget {
    /// Requested tempo, BPM.
    pub bpm: Option<f64>,
    /// Requested chords, one per bar of [`BEATS_PER_BAR`] beats at `bpm`, looped; empty for none.
    /// Without `bpm` they are not scored (there is no bar grid to put them on).
    pub chords: Vec<Chord>,
}

/// A clip's musical measures: its own tempo and beat strength, and how well it meets a
/// [`MusicTarget`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MusicScore {
    /// The clip's tempo, BPM (`None`: no beat found).
    pub tempo_bpm: Option<f64>,
    /// How clearly the clip has a beat, 0..1.
    pub beat_strength: f64,
    /// The clip's swing in fractions of a 16th (see [`swing`]); `None` without a beat.
    pub swing: Option<f64>,
    /// Beat F-measure against the requested grid at its best phase (see
    /// [`grid_beat_f_measure`]); `None` without a requested tempo.
    pub beat_f: Option<f64>,
    /// Whether the clip's tempo is within [`TEMPO_TOLERANCE`] of the requested one, or of its
    /// double or half; `None` without a requested tempo (`false` when no beat was found).
    pub tempo_ok: Option<bool>,
    /// Share of bars whose chord agrees with the requested one (see [`chord_agreement`]);
    /// `None` without requested chords and tempo, or for a clip shorter than a bar.
    pub chord_agreement: Option<f64>,
}

/// The beat F-measure of `beats` (seconds) against an ideal grid at `bpm` over
/// `[0, duration_s]`, at the grid phase that scores best, with that phase (seconds, within half a
/// beat of 0).
///
/// A generated clip has no known beat phase: nothing says where its first beat should fall, so
/// any phase is as right as another, and the grid is slid over one beat period in steps of
/// [`PHASE_STEP_S`] (ties go to the phase nearest 0). Tolerance is [`BEAT_TOLERANCE_S`]. `(0, 0)`
/// for no beats or a meaningless tempo or duration.
pub fn grid_beat_f_measure(beats: &[f64], bpm: f64, duration_s: f64) -> (f64, f64) {
    let period = 60.0 / bpm;
    if beats.is_empty() || !(period.is_finite() && period > 0.0 && duration_s > 0.0) {
        return (0.0, 0.0);
    }
    let steps = (period / PHASE_STEP_S).ceil().max(1.0) as i64;
    // Phases from -period/2 to +period/2, ordered by distance from 0 so that ties keep the
    // smallest shift (the grid that starts with the clip).
    let mut phases: Vec<f64> = (-steps / 2..=steps / 2)
        .map(|k| k as f64 * PHASE_STEP_S)
        .filter(|p| p.abs() <= period / 2.0)
        .collect();
    phases.sort_by(|a, b| a.abs().total_cmp(&b.abs()));
    let mut best = (0.0, 0.0);
    for phase in phases {
        let grid = beat_grid(bpm, phase, duration_s);
        let f = beat_f_measure(beats, &grid, BEAT_TOLERANCE_S);
        if f > best.0 {
            best = (f, phase);
        }
    }
    best
}

/// Beat times at `bpm` from `phase` (seconds; those before 0 dropped) to `duration_s`.
fn beat_grid(bpm: f64, phase: f64, duration_s: f64) -> Vec<f64> {
    let period = 60.0 / bpm;
    (0..)
        .map(|k| phase + f64::from(k) * period)
        .take_while(|&t| t <= duration_s)
        .filter(|&t| t >= 0.0)
        .collect()
}

/// The musical measures of `analysis` against `target`. Chords are laid on bars of
/// [`BEATS_PER_BAR`] beats at the requested tempo, starting at the phase [`grid_beat_f_measure`]
/// found (so bars line up with the clip's beats), with the progression's first chord in the
/// first bar: a generated clip is taken to start its progression where it starts.
pub fn score(analysis: &MusicAnalysis, target: &MusicTarget) -> MusicScore {
    let tempo_bpm = analysis.tempo.map(|t| t.bpm);
    let mut s = MusicScore {
        tempo_bpm,
        beat_strength: analysis.beat_strength,
        swing: swing(analysis),
        ..MusicScore::default()
    };
    let Some(bpm) = target.bpm else {
        return s;
    };
    let (f, phase) = grid_beat_f_measure(&analysis.beats, bpm, analysis.duration_s);
    s.beat_f = Some(f);
    s.tempo_ok = Some(tempo_bpm.is_some_and(|t| tempo_matches(t, bpm, TEMPO_TOLERANCE)));
    if !target.chords.is_empty() {
        s.chord_agreement =
            chord_agreement(analysis, &target.chords, bpm, BEATS_PER_BAR, phase).map(|a| a.share);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_phase_is_found_and_a_wrong_tempo_scores_low() {
        // Beats at 80 BPM starting 0.3 s in.
        let beats: Vec<f64> = (0..25).map(|k| 0.3 + f64::from(k) * 0.75).collect();
        let (f, phase) = grid_beat_f_measure(&beats, 80.0, 19.0);
        assert!(f > 0.97, "{f}");
        assert!((phase - 0.3).abs() < 0.075, "{phase}");
        let (f, _) = grid_beat_f_measure(&beats, 120.0, 19.0);
        assert!(f < 0.7, "{f}");
        assert_eq!(grid_beat_f_measure(&[], 80.0, 19.0), (0.0, 0.0));
        assert_eq!(grid_beat_f_measure(&beats, 0.0, 19.0), (0.0, 0.0));
        assert_eq!(grid_beat_f_measure(&beats, f64::NAN, 19.0), (0.0, 0.0));
        assert_eq!(grid_beat_f_measure(&beats, 80.0, 0.0), (0.0, 0.0));
    }
}
