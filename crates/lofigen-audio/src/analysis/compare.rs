//! Scores of an analysed clip against what was asked of it: beat F-measure, tempo match, and
//! chord agreement (for `lofigen eval --bpm/--chords`).

use super::{Chord, MusicAnalysis, chords_over};

/// Tolerance of [`beat_f_measure`], seconds (the MIREX value, ±70 ms).
pub const BEAT_TOLERANCE_S: f64 = 0.07;
/// Relative tolerance of [`tempo_matches`] (4 %, as in the MIREX tempo task).
pub const TEMPO_TOLERANCE: f64 = 0.04;

/// The MIREX beat F-measure of `estimated` beat times against `reference` ones (seconds): a
/// hit is an estimated beat within `tolerance_s` of a reference beat, each beat used at most
/// once; precision = hits / estimated, recall = hits / reference, F = their harmonic mean. 0 when
/// either list is empty (as `mir_eval` does). Non-finite times are ignored; neither list needs
/// to be sorted.
pub fn beat_f_measure(estimated: &[f64], reference: &[f64], tolerance_s: f64) -> f64 {
    let sorted = |x: &[f64]| {
        let mut v: Vec<f64> = x.iter().copied().filter(|t| t.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let (est, reference) = (sorted(estimated), sorted(reference));
    if est.is_empty() || reference.is_empty() || tolerance_s.is_nan() || tolerance_s < 0.0 {
        return 0.0;
    }
    // Greedy matching in time order is a maximum matching for points and equal windows.
    let (mut i, mut j, mut hits) = (0, 0, 0usize);
    while i < reference.len() && j < est.len() {
        if est[j] < reference[i] - tolerance_s {
            j += 1;
        } else if est[j] > reference[i] + tolerance_s {
            i += 1;
        } else {
            hits += 1;
            i += 1;
            j += 1;
        }
    }
    if hits == 0 {
        return 0.0;
    }
    let precision = hits as f64 / est.len() as f64;
    let recall = hits as f64 / reference.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

/// Whether an estimated tempo matches a requested one within a relative `tolerance` (e.g.
/// [`TEMPO_TOLERANCE`]), accepting double and half the requested tempo (the usual octave
/// ambiguity: a listener may tap either).
pub fn tempo_matches(estimated_bpm: f64, requested_bpm: f64, tolerance: f64) -> bool {
    if !(estimated_bpm > 0.0 && requested_bpm > 0.0 && tolerance >= 0.0) {
        return false;
    }
    [1.0, 2.0, 0.5].iter().any(|&m| {
        let want = requested_bpm * m;
        (estimated_bpm - want).abs() <= tolerance * want
    })
}

/// One bar of a requested grid, with what was asked and what was heard.
#[derive(Clone, Debug, PartialEq)]
pub struct BarCheck {
    /// Start of the bar, seconds.
    pub start_s: f64,
    /// The requested chord.
    pub requested: Chord,
    /// The chord labelled in the clip over the bar (`None`: no clear chord).
    pub detected: Option<Chord>,
    /// Whether they agree ([`Chord::same_family`]).
    pub agrees: bool,
}

/// What [`chord_agreement`] finds.
#[derive(Clone, Debug, PartialEq)]
pub struct ChordAgreement {
    /// Share of bars whose detected chord agrees with the requested one, 0..1.
    pub share: f64,
    /// Every whole bar of the grid that fits in the clip.
    pub bars: Vec<BarCheck>,
}

/// How well a clip follows a requested chord progression: one chord per bar of `beats_per_bar`
/// beats at `bpm`, the grid starting at `start_s` seconds and the progression looping. Each whole
/// bar that fits in the clip is labelled from the clip's chroma over it (see
/// [`super::chords_over`]), and counts as agreeing when the labelled chord has the same root and
/// the same kind of third as the requested one ([`Chord::same_family`]): sevenths and ninths are
/// too faint at 8 kHz to judge, roots and thirds are not. `None` for an empty progression, a
/// meaningless grid, or a clip shorter than one bar.
pub fn chord_agreement(
    analysis: &MusicAnalysis,
    progression: &[Chord],
    bpm: f64,
    beats_per_bar: u32,
    start_s: f64,
) -> Option<ChordAgreement> {
    let bar_s = 60.0 / bpm * f64::from(beats_per_bar);
    if progression.is_empty() || !(bar_s > 0.0 && bar_s.is_finite() && start_s.is_finite()) {
        return None;
    }
    // A bar may overrun the clip by a few milliseconds of rounding.
    let end = analysis.duration_s + 1e-3;
    let spans: Vec<(f64, f64)> = (0..)
        .map(|k| start_s.max(0.0) + f64::from(k) * bar_s)
        .take_while(|s| s + bar_s <= end)
        .map(|s| (s, s + bar_s))
        .collect();
    if spans.is_empty() {
        return None;
    }
    let detected = chords_over(&analysis.chroma, &spans);
    let bars: Vec<BarCheck> = spans
        .iter()
        .zip(detected)
        .enumerate()
        .map(|(k, (&(s, _), detected))| {
            let requested = progression[k % progression.len()];
            BarCheck {
                start_s: s,
                requested,
                detected,
                agrees: detected.is_some_and(|d| d.same_family(&requested)),
            }
        })
        .collect();
    let share = bars.iter().filter(|b| b.agrees).count() as f64 / bars.len() as f64;
    Some(ChordAgreement { share, bars })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f_measure_counts_each_beat_once() {
        let reference: Vec<f64> = (0..10).map(|i| f64::from(i) * 0.5).collect();
        assert_eq!(beat_f_measure(&reference, &reference, 0.07), 1.0);
        // Shifted by 60 ms: still hits; by 80 ms: misses.
        let late: Vec<f64> = reference.iter().map(|t| t + 0.06).collect();
        assert_eq!(beat_f_measure(&late, &reference, 0.07), 1.0);
        let later: Vec<f64> = reference.iter().map(|t| t + 0.08).collect();
        assert_eq!(beat_f_measure(&later, &reference, 0.07), 0.0);
        // Doubled beats: precision 1/2, recall 1, F = 2/3.
        let double: Vec<f64> = (0..20).map(|i| f64::from(i) * 0.25).collect();
        assert!((beat_f_measure(&double, &reference, 0.07) - 2.0 / 3.0).abs() < 1e-12);
        // Two estimates near one reference beat count once.
        let f = beat_f_measure(&[0.0, 0.01], &[0.0], 0.07);
        assert!((f - 2.0 / 3.0).abs() < 1e-12, "{f}");
        assert_eq!(beat_f_measure(&[], &reference, 0.07), 0.0);
        assert_eq!(beat_f_measure(&reference, &[], 0.07), 0.0);
        assert_eq!(beat_f_measure(&[f64::NAN], &[0.0], 0.07), 0.0);
        // Order does not matter.
        let mut shuffled = reference.clone();
        shuffled.reverse();
        assert_eq!(beat_f_measure(&shuffled, &reference, 0.07), 1.0);
    }

    #[test]
    fn tempo_matches_within_four_percent_and_at_octaves() {
        assert!(tempo_matches(80.0, 80.0, TEMPO_TOLERANCE));
        assert!(tempo_matches(83.0, 80.0, TEMPO_TOLERANCE));
        assert!(!tempo_matches(84.0, 80.0, TEMPO_TOLERANCE));
        assert!(tempo_matches(160.0, 80.0, TEMPO_TOLERANCE));
        assert!(tempo_matches(40.5, 80.0, TEMPO_TOLERANCE));
        assert!(!tempo_matches(120.0, 80.0, TEMPO_TOLERANCE));
        assert!(!tempo_matches(f64::NAN, 80.0, TEMPO_TOLERANCE));
        assert!(!tempo_matches(80.0, 0.0, TEMPO_TOLERANCE));
    }
}
