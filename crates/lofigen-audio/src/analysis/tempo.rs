//! Tempo, beat strength, beat times and downbeats, all from an onset envelope.
//!
//! **Tempo** is read from the autocorrelation of the onset envelope (see [`autocorrelation`]):
//! every lag between [`MIN_BPM`] and [`MAX_BPM`] is weighted by a log-Gaussian prior centred on
//! [`PRIOR_BPM`] with a standard deviation of [`PRIOR_OCTAVES`] octaves, and the best local peak
//! wins. A beat at period T also correlates at 2T, 3T..., and a pattern with hats on the
//! off-beats also at T/2, so the prior alone decides between octaves and gets a click track at
//! 123 BPM wrong (61.5 BPM sits closer to 85 on a log scale). The octave rule:
//!
//! - **faster**: the half period T/2 replaces T when its prior-weighted correlation is at least
//!   [`FASTER_OCTAVE_RATIO`] of T's (and T/2 is within range); applied repeatedly. T won the
//!   weighted comparison, so this only settles near-ties, and settles them towards the faster
//!   pulse because a pulse at T/2 always correlates at T as well, never the other way round.
//!   Off-beat hats correlate much less at T/2 than the kick and snare do at T, and a fast
//!   reading far from the prior needs a much stronger correlation, so lofi at 90 BPM with busy
//!   hats stays at 90. The price: a bare click track faster than about 134 BPM reads at half
//!   its tempo, which [`super::tempo_matches`] accepts.
//! - **slower**: never by correlation. A 2T peak higher than T's is the norm (bars repeat more
//!   exactly than beats), so moving to 2T is left to the prior.
//!
//! The chosen lag is then refined to a fraction of a frame by maximising the mean correlation at
//! T, 2T, 3T and 4T (a comb), which pins 80 BPM to within about 0.2 BPM at 125 frames a second.
//!
//! **Beat strength** is the largest correlation at lags for 50-200 BPM, clamped to [0, 1]: a
//! click track reads near 1, white noise near 0. Below [`NO_BEAT_STRENGTH`] no tempo is
//! reported.
//!
//! **Beats** come from dynamic programming (Ellis 2007, "Beat tracking by dynamic programming",
//! as in librosa's `beat_track`), **downbeats** from the phase of every fourth beat with the
//! strongest low-band accent and chroma change.

use super::chord::cosine;
use super::chroma::Chromagram;

/// Slowest tempo considered, BPM.
pub const MIN_BPM: f64 = 30.0;
/// Fastest tempo considered, BPM.
pub const MAX_BPM: f64 = 300.0;
/// Centre of the tempo prior, BPM: where lofi sits.
pub const PRIOR_BPM: f64 = 85.0;
/// Standard deviation of the tempo prior, octaves (broad: 60 and 120 BPM keep 94 % of its weight).
pub const PRIOR_OCTAVES: f64 = 1.0;
/// See the module documentation: the share of T's prior-weighted correlation that T/2 needs to
/// replace it.
pub const FASTER_OCTAVE_RATIO: f64 = 0.85;
/// Slowest tempo whose lag counts towards beat strength, BPM.
pub const STRENGTH_MIN_BPM: f64 = 50.0;
/// Fastest tempo whose lag counts towards beat strength, BPM.
pub const STRENGTH_MAX_BPM: f64 = 200.0;
/// Beat strength below which no tempo is reported: white noise reads about 0.05 over 30 s,
/// real lofi 0.25 and up. Shorter clips need more (see [`SHORT_CLIP_STRENGTH`]).
pub const NO_BEAT_STRENGTH: f64 = 0.2;
/// The strength noise reaches by chance shrinks with the square root of the clip's length (0.12
/// to 0.26 over 5 s, 0.05 to 0.06 over 30 s), so a clip of `d` seconds needs a beat strength of
/// at least `SHORT_CLIP_STRENGTH / sqrt(d)` as well as [`NO_BEAT_STRENGTH`]: 0.31 over 5 s,
/// 0.22 over 10 s, no more than [`NO_BEAT_STRENGTH`] from 12 s on.
pub const SHORT_CLIP_STRENGTH: f64 = 0.7;
/// How strongly the beat tracker holds the tempo (librosa's `tightness`): the penalty for an
/// interval `d` beats long is `BEAT_TIGHTNESS * ln(d)^2`.
pub const BEAT_TIGHTNESS: f64 = 100.0;
/// Width of the slow trend removed from the onset envelope before correlating, seconds (three
/// passes of a moving average this long: close to a Gaussian smoother with a 1 s deviation).
/// Without it, a quiet intro and a loud chorus correlate at every lag and pass for rhythm.
pub const DETREND_SECONDS: f64 = 2.0;

/// A tempo estimate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tempo {
    /// Beats per minute.
    pub bpm: f64,
    /// 0..1: the correlation at the chosen period times how far it stands above the best
    /// unrelated period (one that is not a multiple or fraction of it).
    pub confidence: f64,
}

/// What [`estimate_tempo`] finds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TempoEstimate {
    /// The tempo, or `None` when no beat was found (beat strength below [`NO_BEAT_STRENGTH`] or,
    /// for a short clip, [`SHORT_CLIP_STRENGTH`]; or a clip too short to hold two periods).
    pub tempo: Option<Tempo>,
    /// See [`beat_strength`].
    pub beat_strength: f64,
}

/// `x` minus its slow trend (see [`DETREND_SECONDS`]), in f64.
fn detrend(x: &[f32], frame_rate: f64) -> Vec<f64> {
    let mut smooth: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    let half = ((DETREND_SECONDS * frame_rate / 2.0).round() as usize).max(1);
    for _ in 0..3 {
        smooth = moving_average(&smooth, half);
    }
    x.iter()
        .zip(&smooth)
        .map(|(&v, s)| f64::from(v) - s)
        .collect()
}

/// Centred moving average over `2 * half + 1` values (fewer at the ends).
fn moving_average(x: &[f64], half: usize) -> Vec<f64> {
    let mut prefix = Vec::with_capacity(x.len() + 1);
    prefix.push(0.0);
    for v in x {
        prefix.push(prefix.last().copied().unwrap_or(0.0) + v);
    }
    (0..x.len())
        .map(|i| {
            let (a, b) = (i.saturating_sub(half), (i + half + 1).min(x.len()));
            (prefix[b] - prefix[a]) / (b - a) as f64
        })
        .collect()
}

/// Normalised autocorrelation of the detrended onset envelope at lags `0..=max_lag` frames:
/// at lag τ, the correlation coefficient (without re-centring) between `x[..n-τ]` and `x[τ..]`,
/// so it is 1 for a perfectly periodic envelope whatever the lag, and near 0 for noise.
/// Lags beyond half the envelope's length read 0 (too few periods to mean anything).
pub fn autocorrelation(onset: &[f32], frame_rate: f64, max_lag: usize) -> Vec<f64> {
    let x = detrend(onset, frame_rate);
    let n = x.len();
    // Prefix sums of squares give both energies at every lag in O(1).
    let mut sq = Vec::with_capacity(n + 1);
    sq.push(0.0);
    for v in &x {
        sq.push(sq.last().copied().unwrap_or(0.0) + v * v);
    }
    (0..=max_lag)
        .map(|lag| {
            if lag == 0 {
                return if sq[n] > 0.0 { 1.0 } else { 0.0 };
            }
            if 2 * lag > n {
                return 0.0;
            }
            let dot: f64 = x[..n - lag].iter().zip(&x[lag..]).map(|(a, b)| a * b).sum();
            let energy = (sq[n - lag] * (sq[n] - sq[lag])).sqrt();
            if energy > 1e-12 * sq[n].max(1e-300) && energy > 0.0 {
                (dot / energy).clamp(-1.0, 1.0)
            } else {
                0.0
            }
        })
        .collect()
}

/// Lag in frames of a tempo.
fn lag_of(bpm: f64, frame_rate: f64) -> f64 {
    60.0 * frame_rate / bpm
}

/// The strongest normalised autocorrelation of the onset envelope at lags for
/// [`STRENGTH_MIN_BPM`]..[`STRENGTH_MAX_BPM`], clamped to [0, 1]: how clearly the clip has a
/// beat. A click track reads near 1, white noise and silence near 0.
pub fn beat_strength(onset: &[f32], frame_rate: f64) -> f64 {
    if frame_rate.is_nan() || frame_rate <= 0.0 {
        return 0.0;
    }
    let max_lag = lag_of(STRENGTH_MIN_BPM, frame_rate).ceil() as usize;
    strength_from(&autocorrelation(onset, frame_rate, max_lag), frame_rate)
}

fn strength_from(acf: &[f64], frame_rate: f64) -> f64 {
    let lo = lag_of(STRENGTH_MAX_BPM, frame_rate).floor() as usize;
    let hi = lag_of(STRENGTH_MIN_BPM, frame_rate).ceil() as usize;
    acf.iter()
        .take(hi + 1)
        .skip(lo.max(1))
        .copied()
        .fold(0.0, f64::max)
        .clamp(0.0, 1.0)
}

/// Weight of the tempo prior at `bpm` (1 at [`PRIOR_BPM`]).
fn prior(bpm: f64) -> f64 {
    let octaves = (bpm / PRIOR_BPM).log2() / PRIOR_OCTAVES;
    (-0.5 * octaves * octaves).exp()
}

/// `acf` at a fractional lag, by linear interpolation (0 outside).
fn acf_at(acf: &[f64], lag: f64) -> f64 {
    if lag.is_nan() || lag < 0.0 {
        return 0.0;
    }
    let i = lag.floor() as usize;
    match (acf.get(i), acf.get(i + 1)) {
        (Some(&a), Some(&b)) => a + (b - a) * (lag - i as f64),
        (Some(&a), None) => a,
        _ => 0.0,
    }
}

/// Integer lags in `lo..=hi` where `acf` has a local maximum.
fn peaks(acf: &[f64], lo: usize, hi: usize) -> Vec<usize> {
    let hi = hi.min(acf.len().saturating_sub(2));
    (lo.max(1)..=hi)
        .filter(|&k| acf[k] > acf[k - 1] && acf[k] >= acf[k + 1])
        .collect()
}

/// The best local peak of `acf` within a relative `tolerance` of `lag`, if any.
fn peak_near(acf: &[f64], lag: f64, tolerance: f64) -> Option<usize> {
    let lo = (lag * (1.0 - tolerance)).floor().max(1.0) as usize;
    let hi = (lag * (1.0 + tolerance)).ceil() as usize;
    peaks(acf, lo, hi)
        .into_iter()
        .max_by(|&a, &b| acf[a].total_cmp(&acf[b]))
}

/// Tempo and beat strength of an onset envelope sampled at `frame_rate` frames per second (see
/// the module documentation for the rule). Deterministic; never panics.
pub fn estimate_tempo(onset: &[f32], frame_rate: f64) -> TempoEstimate {
    let none = |beat_strength| TempoEstimate {
        tempo: None,
        beat_strength,
    };
    if !frame_rate.is_finite() || frame_rate <= 0.0 {
        return none(0.0);
    }
    let lo = lag_of(MAX_BPM, frame_rate).floor().max(1.0) as usize;
    let hi = lag_of(MIN_BPM, frame_rate).ceil() as usize;
    // Room for the comb at 4T over the slowest tempo, bounded by what the clip can hold.
    let max_lag = (4 * hi + 8).min(onset.len() / 2 + 1);
    let acf = autocorrelation(onset, frame_rate, max_lag);
    let strength = strength_from(&acf, frame_rate);
    let seconds = onset.len() as f64 / frame_rate;
    if strength < NO_BEAT_STRENGTH.max(SHORT_CLIP_STRENGTH / seconds.sqrt()) {
        return none(strength);
    }
    let weighted = |k: usize| acf[k].max(0.0) * prior(lag_of(k as f64, frame_rate));
    let candidates = peaks(&acf, lo, hi);
    let Some(mut best) = candidates
        .iter()
        .copied()
        .max_by(|&a, &b| weighted(a).total_cmp(&weighted(b)))
    else {
        return none(strength);
    };
    while let Some(half) = peak_near(&acf, best as f64 / 2.0, 0.05) {
        if half < lo || weighted(half) < FASTER_OCTAVE_RATIO * weighted(best) {
            break;
        }
        best = half;
    }
    let period = refine(&acf, best as f64);

    // Confidence: how far the chosen period stands above unrelated ones.
    let related = |k: usize| {
        let ratio = k as f64 / period;
        let r = if ratio >= 1.0 { ratio } else { 1.0 / ratio };
        (r - r.round()).abs() < 0.08 * r.round()
    };
    let rival = candidates
        .iter()
        .filter(|&&k| !related(k))
        .map(|&k| weighted(k))
        .fold(0.0, f64::max);
    let chosen = acf_at(&acf, period).max(0.0) * prior(lag_of(period, frame_rate));
    let margin = if chosen > 0.0 {
        (1.0 - rival / chosen).clamp(0.0, 1.0)
    } else {
        0.0
    };
    TempoEstimate {
        tempo: Some(Tempo {
            bpm: lag_of(period, frame_rate),
            confidence: acf_at(&acf, period).clamp(0.0, 1.0) * margin,
        }),
        beat_strength: strength,
    }
}

/// The fractional lag within one frame of `lag` that maximises the mean correlation at 1, 2, 3
/// and 4 times it (as many multiples as the autocorrelation holds).
fn refine(acf: &[f64], lag: f64) -> f64 {
    let limit = (acf.len() - 1) as f64;
    let comb = |p: f64| {
        let ks: Vec<f64> = (1..=4)
            .map(f64::from)
            .filter(|k| k * (p + 1.0) <= limit)
            .collect();
        if ks.is_empty() {
            acf_at(acf, p)
        } else {
            ks.iter().map(|k| acf_at(acf, k * p)).sum::<f64>() / ks.len() as f64
        }
    };
    let mut best = (lag, comb(lag));
    for step in -50..=50 {
        let p = lag + f64::from(step) * 0.02;
        let c = comb(p);
        if p >= 1.0 && c > best.1 {
            best = (p, c);
        }
    }
    best.0
}

/// Beat times (seconds) of an onset envelope at `frame_rate`, for a tempo of `bpm`, by dynamic
/// programming (Ellis 2007): each frame's score is its onset strength (normalised by the
/// envelope's standard deviation and smoothed over a thirty-second of a period) plus the best
/// score of a previous beat between half and two periods back, less [`BEAT_TIGHTNESS`] times
/// the squared log of the interval in periods. The best path is traced back from the last strong
/// ending, and weak beats at either end (silence before or after the music) are trimmed.
/// Empty for an empty or flat envelope or a meaningless tempo.
pub fn track_beats(onset: &[f32], frame_rate: f64, bpm: f64) -> Vec<f64> {
    if !(frame_rate > 0.0 && bpm > 0.0 && frame_rate.is_finite() && bpm.is_finite()) {
        return Vec::new();
    }
    let period = lag_of(bpm, frame_rate);
    let n = onset.len();
    if n == 0 || period.is_nan() || period < 1.0 || period > n as f64 {
        return Vec::new();
    }
    let mean = onset.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
    let var = onset
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n.saturating_sub(1).max(1) as f64;
    if var.is_nan() || var <= 0.0 {
        return Vec::new();
    }
    let std = var.sqrt();
    // Local score: the normalised envelope smoothed by a Gaussian of width period / 32.
    let half = period.round() as i64;
    let kernel: Vec<f64> = (-half..=half)
        .map(|k| (-0.5 * (k as f64 * 32.0 / period).powi(2)).exp())
        .collect();
    let local: Vec<f64> = (0..n as i64)
        .map(|t| {
            kernel
                .iter()
                .enumerate()
                .filter_map(|(j, w)| {
                    let i = t + j as i64 - half;
                    (0..n as i64)
                        .contains(&i)
                        .then(|| w * f64::from(onset[i as usize]) / std)
                })
                .sum()
        })
        .collect();

    let (near, far) = (
        (period / 2.0).round().max(1.0) as usize,
        (2.0 * period).round() as usize,
    );
    let penalty: Vec<f64> = (0..=far)
        .map(|d| {
            if d < near {
                f64::NEG_INFINITY
            } else {
                -BEAT_TIGHTNESS * (d as f64 / period).ln().powi(2)
            }
        })
        .collect();
    let mut cumulative = vec![0.0f64; n];
    let mut backlink: Vec<Option<usize>> = vec![None; n];
    let max_local = local.iter().copied().fold(0.0, f64::max);
    let mut started = false;
    for t in 0..n {
        let mut best: Option<(usize, f64)> = None;
        for d in near..=far.min(t) {
            let s = cumulative[t - d] + penalty[d];
            if best.is_none_or(|(_, b)| s > b) {
                best = Some((t - d, s));
            }
        }
        // Before the first real onset, beats do not link back (librosa's first-beat rule), so
        // the path may start wherever the music does.
        match best {
            Some((prev, s)) if started || local[t] >= 0.01 * max_local => {
                cumulative[t] = local[t] + s;
                backlink[t] = Some(prev);
            }
            _ => cumulative[t] = local[t],
        }
        started |= local[t] >= 0.01 * max_local;
    }

    // The last beat: the last local maximum of the cumulative score above half their median.
    let maxima: Vec<usize> = (1..n.saturating_sub(1))
        .filter(|&t| cumulative[t] > cumulative[t - 1] && cumulative[t] >= cumulative[t + 1])
        .collect();
    let Some(last) = ({
        let mut values: Vec<f64> = maxima.iter().map(|&t| cumulative[t]).collect();
        values.sort_by(f64::total_cmp);
        let median = values.get(values.len() / 2).copied().unwrap_or(0.0);
        maxima
            .iter()
            .rev()
            .find(|&&t| cumulative[t] >= 0.5 * median)
            .copied()
    }) else {
        return Vec::new();
    };
    let mut beats = vec![last];
    let mut t = last;
    while let Some(prev) = backlink[t] {
        beats.push(prev);
        t = prev;
    }
    beats.reverse();
    trim_weak_ends(&local, &mut beats);
    beats.into_iter().map(|t| t as f64 / frame_rate).collect()
}

/// Drops beats at either end whose smoothed local score is below half the RMS of all beats'
/// (librosa's `trim`): the tracker keeps ticking through silence, the beats there mean nothing.
fn trim_weak_ends(local: &[f64], beats: &mut Vec<usize>) {
    let w = [0.5, 1.0, 0.5];
    let at: Vec<f64> = beats.iter().map(|&t| local[t]).collect();
    let smooth: Vec<f64> = (0..at.len())
        .map(|i| {
            (0..3)
                .filter_map(|j| {
                    (i + j)
                        .checked_sub(1)
                        .and_then(|k| at.get(k))
                        .map(|v| v * w[j])
                })
                .sum()
        })
        .collect();
    if smooth.is_empty() {
        return;
    }
    let threshold = 0.5 * (smooth.iter().map(|v| v * v).sum::<f64>() / smooth.len() as f64).sqrt();
    let first = smooth.iter().position(|&v| v > threshold);
    let last = smooth.iter().rposition(|&v| v > threshold);
    match (first, last) {
        (Some(a), Some(b)) => {
            beats.truncate(b + 1);
            beats.drain(..a);
        }
        _ => beats.clear(),
    }
}

/// Beats per bar assumed by [`downbeat_phase`] (4/4, as lofi nearly always is).
pub const BEATS_PER_BAR: usize = 4;

/// Which of the first [`BEATS_PER_BAR`] beats starts a bar: the phase whose beats have, on
/// average, the strongest low-band accent (the kick lands on the one) plus the largest chroma
/// change (chords change at the bar line), each standardised over all beats so neither dominates
/// by its units. `None` with fewer than [`BEATS_PER_BAR`] beats.
///
/// `low` is the low-band onset envelope at `frame_rate`; `chroma` the clip's chromagram.
pub fn downbeat_phase(
    beats: &[f64],
    low: &[f32],
    frame_rate: f64,
    chroma: &Chromagram,
) -> Option<usize> {
    if beats.len() < BEATS_PER_BAR || frame_rate.is_nan() || frame_rate <= 0.0 {
        return None;
    }
    let ibi = median_interval(beats)?;
    // Accent: the low-band onset strength summed within an eighth of a beat of each beat.
    let reach = ((ibi * frame_rate / 8.0).round() as usize).max(1);
    let accent: Vec<f64> = beats
        .iter()
        .map(|&b| {
            let c = (b * frame_rate).round() as usize;
            let (a, z) = (c.saturating_sub(reach), (c + reach + 1).min(low.len()));
            low.get(a..z)
                .map_or(0.0, |s| s.iter().map(|&v| f64::from(v)).sum())
        })
        .collect();
    // Chroma novelty: how different the two beats after each beat sound from the two before.
    let novelty: Vec<f64> = beats
        .iter()
        .map(|&b| {
            let before = chroma.mean_over(b - 2.0 * ibi, b);
            let after = chroma.mean_over(b, b + 2.0 * ibi);
            1.0 - f64::from(cosine(&before, &after))
        })
        .collect();
    let (za, zn) = (standardise(&accent), standardise(&novelty));
    let score = |p: usize| {
        let idx = (p..beats.len()).step_by(BEATS_PER_BAR);
        let count = idx.len().max(1) as f64;
        idx.map(|i| za[i] + zn[i]).sum::<f64>() / count
    };
    (0..BEATS_PER_BAR).max_by(|&a, &b| score(a).total_cmp(&score(b)).then(b.cmp(&a)))
}

/// The median interval between consecutive times (`None` with fewer than two).
pub(crate) fn median_interval(times: &[f64]) -> Option<f64> {
    let mut d: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    if d.is_empty() {
        return None;
    }
    d.sort_by(f64::total_cmp);
    Some(d[d.len() / 2])
}

/// `x` shifted to mean 0 and scaled to standard deviation 1 (all zeros when it is constant).
fn standardise(x: &[f64]) -> Vec<f64> {
    let n = x.len().max(1) as f64;
    let mean = x.iter().sum::<f64>() / n;
    let std = (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    x.iter()
        .map(|v| if std > 1e-12 { (v - mean) / std } else { 0.0 })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An onset envelope with a spike every `period` frames (fractional periods allowed).
    fn spikes(n: usize, period: f64, offset: f64) -> Vec<f32> {
        let mut x = vec![0.0f32; n];
        let mut t = offset;
        while (t.round() as usize) < n {
            x[t.round() as usize] = 1.0;
            t += period;
        }
        x
    }

    #[test]
    fn a_periodic_envelope_correlates_fully_at_its_period() {
        let acf = autocorrelation(&spikes(3000, 100.0, 7.0), 125.0, 300);
        assert!(
            acf[100] > 0.95 && acf[200] > 0.95,
            "{} {}",
            acf[100],
            acf[200]
        );
        assert!(acf[50].abs() < 0.1);
        assert_eq!(acf.len(), 301);
        // Lags beyond half the length are not trusted.
        assert_eq!(autocorrelation(&spikes(100, 10.0, 0.0), 125.0, 80)[60], 0.0);
    }

    #[test]
    fn the_octave_rule_prefers_the_full_pulse() {
        // 123 BPM at 125 fps: 61.5 BPM sits closer to the prior, but the pulse is at 123.
        let fps = 125.0;
        let est = estimate_tempo(&spikes(4000, lag_of(123.0, fps), 3.0), fps);
        let bpm = est.tempo.unwrap().bpm;
        assert!((bpm - 123.0).abs() < 0.5, "{bpm}");
        // Beats with much weaker off-beats: the off-beats do not make it 160.
        let mut x = spikes(4000, lag_of(80.0, fps), 3.0);
        for (a, b) in x
            .iter_mut()
            .zip(spikes(4000, lag_of(80.0, fps), 3.0 + lag_of(160.0, fps)))
        {
            *a += 0.3 * b;
        }
        let bpm = estimate_tempo(&x, fps).tempo.unwrap().bpm;
        assert!((bpm - 80.0).abs() < 0.5, "{bpm}");
    }

    #[test]
    fn flat_short_and_odd_envelopes_have_no_tempo() {
        for env in [vec![], vec![0.0; 5000], vec![1.0; 5000], vec![f32::MAX; 10]] {
            let est = estimate_tempo(&env, 125.0);
            assert_eq!(est.tempo, None);
            assert!(est.beat_strength <= 0.0 + 1e-9);
        }
        assert_eq!(estimate_tempo(&spikes(1000, 90.0, 0.0), 0.0).tempo, None);
        assert_eq!(
            estimate_tempo(&spikes(1000, 90.0, 0.0), f64::NAN).tempo,
            None
        );
        assert!(track_beats(&[], 125.0, 80.0).is_empty());
        assert!(track_beats(&spikes(1000, 90.0, 0.0), 125.0, 0.0).is_empty());
        assert!(track_beats(&spikes(1000, 90.0, 0.0), 125.0, f64::INFINITY).is_empty());
        assert!(track_beats(&vec![0.0; 1000], 125.0, 80.0).is_empty());
    }

    #[test]
    fn the_tracker_lands_on_the_spikes() {
        let fps = 125.0;
        let period = lag_of(100.0, fps);
        let x = spikes(3000, period, 20.0);
        let beats = track_beats(&x, fps, 100.0);
        assert!(beats.len() >= 30, "{} beats", beats.len());
        for b in &beats {
            let k = ((b * fps - 20.0) / period).round();
            let want = (20.0 + k * period).round() / fps;
            assert!((b - want).abs() < 0.02, "beat at {b}, spike at {want}");
        }
    }
}
