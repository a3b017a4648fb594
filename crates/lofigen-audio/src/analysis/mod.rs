//! Musical analysis of a clip: onsets, tempo, beats, downbeats and bars, chroma, chords, key and
//! loudness. (Not to be confused with [`crate::measures::analyse`], which measures a clip's
//! *sound* for comparison with other clips.)
//!
//! Everything is plain signal processing on one FFT crate, deterministic, and tuned for the
//! project's 8 kHz audio, with frame sizes given in seconds so other rates work the same way.
//! [`analyze_music`] runs it all; the pieces are public for callers that need one:
//!
//! - [`onset`]: spectral-flux onset strength, in total and for the kick/body/hats bands, 125
//!   frames a second at 8 kHz, and the loudness curve on the same grid;
//! - [`tempo`]: tempo with an octave rule, beat strength and "no beat found", beat tracking by
//!   dynamic programming, downbeats;
//! - [`chroma`]: a chromagram and the key;
//! - [`chord`]: chord symbols (parse, print, transpose, chroma templates) and chord labelling;
//! - [`compare`]: scores against a request (beat F-measure, tempo match, chord agreement).
//!
//! ```
//! use lofigen_audio::{Clip, analysis};
//!
//! // A click every 0.75 s (80 BPM) for 20 s at 8 kHz.
//! let mut x = vec![0.0f32; 160_000];
//! for beat in 0..26 {
//!     let at = 4000 + beat * 6000;
//!     for i in 0..40 {
//!         x[at + i] = if i % 2 == 0 { 0.8 } else { -0.8 };
//!     }
//! }
//! let a = analysis::analyze_music(&Clip::new(x, 8000)).unwrap();
//! let bpm = a.tempo.unwrap().bpm;
//! assert!((bpm - 80.0).abs() < 1.0, "{bpm}");
//! assert!(a.beat_strength > 0.8);
//! let chord: analysis::Chord = "Dm7".parse().unwrap();
//! assert_eq!(chord.transpose(5).to_string(), "Gm7");
//! ```

pub mod chord;
pub mod chroma;
pub mod compare;
pub mod onset;
pub mod tempo;

pub use crate::error::AnalysisError;
pub use chord::{Chord, Family, PitchClass, Quality, label_chords, parse_progression};
pub use chroma::{Chromagram, Key, Mode, estimate_key};
pub use compare::{
    BEAT_TOLERANCE_S, BarCheck, ChordAgreement, TEMPO_TOLERANCE, beat_f_measure, chord_agreement,
    tempo_matches,
};
pub use onset::OnsetEnvelopes;
pub use tempo::{Tempo, TempoEstimate, beat_strength, estimate_tempo, track_beats};

use crate::Clip;

/// Highest sample rate [`analyze_music`] accepts, Hz (frame sizes grow with the rate; far beyond
/// studio rates they would only waste memory).
pub const MAX_SAMPLE_RATE: u32 = 384_000;

/// One bar: its span, the chord heard in it, and its level.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    /// Start (a downbeat), seconds.
    pub start_s: f64,
    /// End (the next downbeat), seconds.
    pub end_s: f64,
    /// The chord labelled for the bar (`None`: too little tonal content to say).
    pub chord: Option<Chord>,
    /// RMS level of the bar, dB relative to full scale.
    pub loudness_db: f32,
}

/// Everything [`analyze_music`] finds in a clip. Times are in seconds from the clip's start.
#[derive(Clone, Debug, PartialEq)]
pub struct MusicAnalysis {
    /// Sample rate of the clip, Hz.
    pub sample_rate: u32,
    /// Duration of the clip, seconds.
    pub duration_s: f64,
    /// Onset strength in total and per band, with its frame rate (see [`onset`]).
    pub onsets: OnsetEnvelopes,
    /// The tempo, or `None` when no beat was found.
    pub tempo: Option<Tempo>,
    /// How clearly the clip has a beat, 0..1 (see [`beat_strength`]).
    pub beat_strength: f64,
    /// Beat times (empty when no beat was found).
    pub beats: Vec<f64>,
    /// The chord labelled over each beat (to the next beat; the last one over a median beat),
    /// one per entry of `beats`.
    pub beat_chords: Vec<Option<Chord>>,
    /// Downbeat times (every fourth beat, at the phase chosen by [`tempo::downbeat_phase`]).
    pub downbeats: Vec<f64>,
    /// Bars from each downbeat to the next (the last one ends four beats after its downbeat if
    /// the clip lasts that long), each with its chord and level.
    pub bars: Vec<Bar>,
    /// Chroma over time.
    pub chroma: Chromagram,
    /// The key (Krumhansl-Schmuckler on the mean chroma), or `None` for a clip without tonal
    /// content.
    pub key: Option<Key>,
    /// Smoothed loudness (dBFS, see [`onset::LOUDNESS_WINDOW_SECONDS`]) on the onset frame grid:
    /// value `t` is at `t / onsets.frame_rate` seconds.
    pub loudness_db: Vec<f32>,
}

/// A clip prepared once for every analysis: finite samples in f64, padded with zeros in front so
/// frames may start before the clip, and prefix sums of their squares for levels over any span.
pub(crate) struct Signal {
    pub padded: Vec<f64>,
    pub pad: usize,
    pub len: usize,
    pub rate: u32,
    pub mean_square: f64,
    /// `energy_prefix[i]` = sum of squares of the first `i` samples.
    pub energy_prefix: Vec<f64>,
}

impl Signal {
    /// Prepares `clip`, whose rate the caller has checked (see [`check_rate`]). Non-finite
    /// samples count as silence.
    pub(crate) fn new(clip: &Clip) -> Self {
        let rate = clip.sample_rate.max(1);
        let pad = onset::OnsetGrid::new(rate)
            .frame_len
            .max(chroma::chroma_frame_len(rate) / 2);
        let mut padded = vec![0.0; pad];
        padded.extend(
            clip.samples
                .iter()
                .map(|&s| if s.is_finite() { f64::from(s) } else { 0.0 }),
        );
        let mut energy_prefix = Vec::with_capacity(clip.len() + 1);
        energy_prefix.push(0.0);
        let mut acc = 0.0;
        for &s in &padded[pad..] {
            acc += s * s;
            energy_prefix.push(acc);
        }
        let len = clip.len();
        Self {
            padded,
            pad,
            len,
            rate,
            mean_square: if len > 0 { acc / len as f64 } else { 0.0 },
            energy_prefix,
        }
    }
}

fn check_rate(clip: &Clip) -> Result<(), AnalysisError> {
    if clip.sample_rate == 0 || clip.sample_rate > MAX_SAMPLE_RATE {
        return Err(AnalysisError::BadSampleRate {
            rate: clip.sample_rate,
            max: MAX_SAMPLE_RATE,
        });
    }
    Ok(())
}

/// Onset strength envelopes of `clip` (see [`onset`]). Fails only for a sample rate of 0 or
/// above [`MAX_SAMPLE_RATE`].
pub fn onset_envelopes(clip: &Clip) -> Result<OnsetEnvelopes, AnalysisError> {
    check_rate(clip)?;
    Ok(onset::onset_envelopes_of(&Signal::new(clip)))
}

/// The chromagram of `clip` (see [`chroma`]). Fails only for a sample rate of 0 or above
/// [`MAX_SAMPLE_RATE`].
pub fn chromagram(clip: &Clip) -> Result<Chromagram, AnalysisError> {
    check_rate(clip)?;
    Ok(chroma::chromagram_of(&Signal::new(clip)))
}

/// Labels the chord of each span (`(start_s, end_s)` pairs, in time order) from the mean chroma
/// over it, smoothed over neighbouring spans (see [`label_chords`]).
pub fn chords_over(chroma: &Chromagram, spans: &[(f64, f64)]) -> Vec<Option<Chord>> {
    let means: Vec<[f32; 12]> = spans.iter().map(|&(a, b)| chroma.mean_over(a, b)).collect();
    label_chords(&means)
}

/// Analyses `clip`: onsets, tempo, beats, downbeats and bars with their chords and levels,
/// chroma, key and loudness. Any clip at a sample rate from 1 Hz to [`MAX_SAMPLE_RATE`] gives a
/// result (empty, silent or NaN-filled ones too: without tempo, beats or key); other rates are an
/// error. A 4-minute 8 kHz track takes a fraction of a second in a release build.
pub fn analyze_music(clip: &Clip) -> Result<MusicAnalysis, AnalysisError> {
    check_rate(clip)?;
    let signal = Signal::new(clip);
    let onsets = onset::onset_envelopes_of(&signal);
    let fps = onsets.frame_rate;
    let estimate = estimate_tempo(&onsets.all, fps);
    let beats = estimate
        .tempo
        .map(|t| track_beats(&onsets.all, fps, t.bpm))
        .unwrap_or_default();
    let chroma = chroma::chromagram_of(&signal);
    let downbeats: Vec<f64> = tempo::downbeat_phase(&beats, &onsets.low, fps, &chroma)
        .map(|p| {
            beats
                .iter()
                .copied()
                .skip(p)
                .step_by(tempo::BEATS_PER_BAR)
                .collect()
        })
        .unwrap_or_default();

    let beat_spans: Vec<(f64, f64)> = beats
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            let next = beats.get(i + 1).copied();
            (
                b,
                next.unwrap_or(b + tempo::median_interval(&beats).unwrap_or(0.0)),
            )
        })
        .collect();
    let beat_chords = chords_over(&chroma, &beat_spans);

    let duration_s = clip.duration_secs();
    let mut spans: Vec<(f64, f64)> = downbeats.windows(2).map(|w| (w[0], w[1])).collect();
    if let (Some(&last), Some(ibi)) = (downbeats.last(), tempo::median_interval(&beats)) {
        // The last bar has no next downbeat: it ends a bar later if the clip still plays then.
        let end = last + ibi * tempo::BEATS_PER_BAR as f64;
        if end <= duration_s + 0.5 * ibi {
            spans.push((last, end.min(duration_s)));
        }
    }
    let chords = chords_over(&chroma, &spans);
    let rate = f64::from(signal.rate);
    let bars = spans
        .iter()
        .zip(chords)
        .map(|(&(start_s, end_s), chord)| Bar {
            start_s,
            end_s,
            chord,
            loudness_db: onset::level_db(
                &signal,
                (start_s * rate) as usize,
                (end_s * rate) as usize,
            ),
        })
        .collect();
    Ok(MusicAnalysis {
        sample_rate: clip.sample_rate,
        duration_s,
        tempo: estimate.tempo,
        beat_strength: estimate.beat_strength,
        beats,
        beat_chords,
        downbeats,
        bars,
        key: estimate_key(&chroma.mean()),
        chroma,
        loudness_db: onset::loudness_curve(&signal),
        onsets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_rates_are_errors_and_odd_clips_are_empty_results() {
        for rate in [0, MAX_SAMPLE_RATE + 1, u32::MAX] {
            let e = analyze_music(&Clip::new(vec![0.1; 100], rate)).unwrap_err();
            assert!(e.to_string().contains(&rate.to_string()), "{e}");
        }
        let clips = [
            Clip::new(vec![], 8000),
            Clip::new(vec![0.5], 8000),
            Clip::new(vec![f32::NAN; 20_000], 8000),
            Clip::new(vec![f32::INFINITY; 20_000], 8000),
            Clip::new(vec![0.0; 20_000], 8000),
            Clip::new(crate::signal::white_noise(5000, 0.5, 1), 1),
            Clip::new(crate::signal::white_noise(5000, 0.5, 1), 100),
            Clip::new(crate::signal::white_noise(50_000, 0.5, 1), MAX_SAMPLE_RATE),
            Clip::new(vec![1e30; 20_000], 8000),
        ];
        for clip in clips {
            let a = analyze_music(&clip).unwrap();
            assert!(
                a.tempo.is_none(),
                "{} samples at {} Hz",
                clip.len(),
                clip.sample_rate
            );
            assert!(a.beats.is_empty() && a.bars.is_empty());
            assert!(a.beat_strength.is_finite());
            assert!(a.onsets.all.iter().all(|v| v.is_finite()));
            assert!(a.loudness_db.iter().all(|v| v.is_finite()));
            assert!(a.chroma.frames.iter().flatten().all(|v| v.is_finite()));
        }
    }
}
