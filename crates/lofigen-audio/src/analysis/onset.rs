//! Onset strength: how much new energy arrives in each short frame, in total and per band, and
//! the loudness curve on the same frame grid.
//!
//! Frames are [`ONSET_FRAME_SECONDS`] long (512 samples at 8 kHz, rounded up to a power of two at
//! other rates) every [`ONSET_HOP_SECONDS`] (64 samples at 8 kHz: 125 frames per second, fine
//! enough that a beat period of 0.75 s is 94 frames and the beat tracker's timing error stays
//! under 8 ms). Their power spectra are pooled into [`N_ONSET_MELS`] mel bands from
//! [`ONSET_FMIN_HZ`] to the Nyquist frequency (mel bands give the few bins below 200 Hz, where the
//! kick lives, as much say as the hundreds above 2 kHz), compressed logarithmically relative to
//! the clip's own level (so the envelope does not depend on gain; see [`ONSET_KNEE_DB`]), and
//! differenced over [`ONSET_LAG_SECONDS`]; only rises count (half-wave rectification). The
//! envelope is the mean rise over bands.
//!
//! Frame `t` stands for time `t / frame_rate` seconds and its window ends [`ONSET_FRAME_SECONDS`]
//! / 8 after that time: a log spectrum jumps as soon as an attack enters the window, so a window
//! ending near the frame time puts the flux of an attack at the attack (librosa compensates its
//! centred frames the same way).

use super::Signal;
use crate::measures::Stft;

/// Length of an onset analysis frame (rounded up to a power of two in samples).
pub const ONSET_FRAME_SECONDS: f64 = 0.064;
/// Hop between onset frames: the onset envelope's frame period.
pub const ONSET_HOP_SECONDS: f64 = 0.008;
/// Interval over which the log spectrum is differenced (two hops at 8 kHz). Longer than one hop
/// because neighbouring frames overlap by 7/8: an attack is spread over several hops, while the
/// random flicker of noise grows only with the square root of the interval.
pub const ONSET_LAG_SECONDS: f64 = 0.016;
/// Number of mel bands the flux is measured in.
pub const N_ONSET_MELS: usize = 40;
/// Lowest frequency of the mel bands, Hz (below it there is rumble, not rhythm).
pub const ONSET_FMIN_HZ: f64 = 30.0;
/// Upper edge of the "kick" band, Hz.
pub const LOW_BAND_MAX_HZ: f64 = 200.0;
/// Lower edge of the "hats" band, Hz (the "body/snare" band lies between).
pub const HIGH_BAND_MIN_HZ: f64 = 2000.0;
/// Knee of the level compression, dB below the clip's mean power per bin: a band's level is
/// `ln(1 + P / knee)`, logarithmic (a rise counts by its ratio) above the knee and linear, so
/// nearly silent, below it. A pure dB scale would make the flicker of faint hiss in an empty band
/// count as much as a kick, and a quiet hat after silence as much as a loud one.
pub const ONSET_KNEE_DB: f64 = 20.0;

/// Onset strength envelopes of a clip, all on one frame grid.
#[derive(Clone, Debug, PartialEq)]
pub struct OnsetEnvelopes {
    /// Frames per second (`sample_rate / hop`; 125 at 8 kHz). Frame `t` is at `t / frame_rate` s.
    pub frame_rate: f64,
    /// Mean half-wave-rectified rise of the compressed band levels over all mel bands, per frame
    /// (in nepers well above the knee: a band that doubles in power rises by ln 2).
    pub all: Vec<f32>,
    /// The same over the bands centred below [`LOW_BAND_MAX_HZ`] (kick, bass).
    pub low: Vec<f32>,
    /// The same over the bands between [`LOW_BAND_MAX_HZ`] and [`HIGH_BAND_MIN_HZ`] (snare, body).
    pub mid: Vec<f32>,
    /// The same over the bands centred above [`HIGH_BAND_MIN_HZ`] (hats, cymbals).
    pub high: Vec<f32>,
}

/// Sample counts of the onset frame grid at one sample rate.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OnsetGrid {
    pub hop: usize,
    pub frame_len: usize,
    pub lag: usize,
    pub frame_rate: f64,
}

impl OnsetGrid {
    pub(crate) fn new(rate: u32) -> Self {
        let r = f64::from(rate);
        let hop = ((r * ONSET_HOP_SECONDS).round() as usize).max(1);
        let frame_len = ((r * ONSET_FRAME_SECONDS).round() as usize)
            .max(4)
            .next_power_of_two();
        let frame_rate = r / hop as f64;
        let lag = ((ONSET_LAG_SECONDS * frame_rate).round() as usize).max(1);
        Self {
            hop,
            frame_len,
            lag,
            frame_rate,
        }
    }

    /// Number of frames for `len` samples: one per hop, the last covering the clip's end.
    pub(crate) fn frames(&self, len: usize) -> usize {
        len.div_ceil(self.hop)
    }
}

/// A triangular mel band as (bin, weight) pairs, with its centre frequency.
struct MelBand {
    centre_hz: f64,
    weights: Vec<(usize, f64)>,
}

/// [`N_ONSET_MELS`] triangular bands (HTK mel scale) between [`ONSET_FMIN_HZ`] and the Nyquist
/// frequency, each normalised to unit total weight (a band's value is a mean power, so wide and
/// narrow bands compare). A band too narrow to contain a bin takes the bin nearest its centre.
fn mel_bands(rate: u32, frame_len: usize) -> Vec<MelBand> {
    let mel = |f: f64| 2595.0 * (1.0 + f / 700.0).log10();
    let hz = |m: f64| 700.0 * (10f64.powf(m / 2595.0) - 1.0);
    let nyquist = f64::from(rate) / 2.0;
    let fmin = if nyquist > 2.0 * ONSET_FMIN_HZ {
        ONSET_FMIN_HZ
    } else {
        0.0
    };
    let (lo_mel, hi_mel) = (mel(fmin), mel(nyquist));
    let edges: Vec<f64> = (0..N_ONSET_MELS + 2)
        .map(|i| hz(lo_mel + (hi_mel - lo_mel) * i as f64 / (N_ONSET_MELS + 1) as f64))
        .collect();
    let bin_hz = f64::from(rate) / frame_len as f64;
    let top_bin = frame_len / 2;
    (0..N_ONSET_MELS)
        .map(|m| {
            let (lo, mid, hi) = (edges[m], edges[m + 1], edges[m + 2]);
            let mut weights: Vec<(usize, f64)> = (1..=top_bin)
                .filter_map(|k| {
                    let f = k as f64 * bin_hz;
                    let w = if f <= lo || f >= hi {
                        0.0
                    } else if f <= mid {
                        (f - lo) / (mid - lo)
                    } else {
                        (hi - f) / (hi - mid)
                    };
                    (w > 0.0).then_some((k, w))
                })
                .collect();
            if weights.is_empty() {
                let k = ((mid / bin_hz).round() as usize).clamp(1, top_bin.max(1));
                weights.push((k, 1.0));
            }
            let total: f64 = weights.iter().map(|(_, w)| w).sum();
            weights.iter_mut().for_each(|(_, w)| *w /= total);
            MelBand {
                centre_hz: mid,
                weights,
            }
        })
        .collect()
}

/// The onset envelopes of a prepared signal (see the module documentation).
pub(crate) fn onset_envelopes_of(signal: &Signal) -> OnsetEnvelopes {
    let grid = OnsetGrid::new(signal.rate);
    let frames = grid.frames(signal.len);
    let bands = mel_bands(signal.rate, grid.frame_len);
    let group = |lo: f64, hi: f64| -> Vec<usize> {
        (0..bands.len())
            .filter(|&b| bands[b].centre_hz >= lo && bands[b].centre_hz < hi)
            .collect()
    };
    let groups = [
        group(0.0, LOW_BAND_MAX_HZ),
        group(LOW_BAND_MAX_HZ, HIGH_BAND_MIN_HZ),
        group(HIGH_BAND_MIN_HZ, f64::INFINITY),
    ];
    // Powers are per bin, and white noise of mean square ms reads about ms in every bin.
    let knee = signal.mean_square * 10f64.powf(-ONSET_KNEE_DB / 10.0);

    let mut out = OnsetEnvelopes {
        frame_rate: grid.frame_rate,
        all: vec![0.0; frames],
        low: vec![0.0; frames],
        mid: vec![0.0; frames],
        high: vec![0.0; frames],
    };
    let mut stft = Stft::with_len(grid.frame_len);
    // The last `lag + 1` frames of band levels, as a ring.
    let mut history = vec![vec![0.0f64; bands.len()]; grid.lag + 1];
    let mut rise = vec![0.0f64; bands.len()];
    let end_offset = grid.frame_len / 8;
    for t in 0..frames {
        // Window [t*hop - frame_len + frame_len/8, t*hop + frame_len/8) in clip samples.
        let start = signal.pad + t * grid.hop + end_offset - grid.frame_len;
        let power = stft.power(&signal.padded, start);
        let slot = t % history.len();
        for (level, band) in history[slot].iter_mut().zip(&bands) {
            let p: f64 = band.weights.iter().map(|&(k, w)| power[k] * w).sum();
            // A silent clip (knee 0) has no rises at all.
            *level = if knee > 0.0 { (p / knee).ln_1p() } else { 0.0 };
        }
        if t < grid.lag {
            continue;
        }
        let before = &history[(t - grid.lag) % history.len()];
        for ((r, now), then) in rise.iter_mut().zip(&history[slot]).zip(before) {
            *r = (now - then).max(0.0);
        }
        let mean = |idx: &[usize]| -> f32 {
            if idx.is_empty() {
                0.0
            } else {
                (idx.iter().map(|&b| rise[b]).sum::<f64>() / idx.len() as f64) as f32
            }
        };
        out.all[t] = (rise.iter().sum::<f64>() / rise.len() as f64) as f32;
        out.low[t] = mean(&groups[0]);
        out.mid[t] = mean(&groups[1]);
        out.high[t] = mean(&groups[2]);
    }
    out
}

/// Length of the window the loudness curve averages power over (a quarter second: short enough
/// to follow phrasing, long enough not to flicker with every drum hit).
pub const LOUDNESS_WINDOW_SECONDS: f64 = 0.25;
/// Level reported for digital silence, dB relative to full scale.
pub const SILENCE_FLOOR_DB: f32 = -120.0;

/// RMS level in dB relative to full scale (1.0) of a centred [`LOUDNESS_WINDOW_SECONDS`] window
/// around each onset frame time: the smoothed loudness curve, on the onset grid.
pub(crate) fn loudness_curve(signal: &Signal) -> Vec<f32> {
    let grid = OnsetGrid::new(signal.rate);
    let half = ((f64::from(signal.rate) * LOUDNESS_WINDOW_SECONDS / 2.0).round() as usize).max(1);
    (0..grid.frames(signal.len))
        .map(|t| {
            let c = t * grid.hop;
            level_db(signal, c.saturating_sub(half), (c + half).min(signal.len))
        })
        .collect()
}

/// RMS level (dBFS) of clip samples `start..end` (from the prefix sums, so any span is O(1));
/// [`SILENCE_FLOOR_DB`] for an empty or silent span.
pub(crate) fn level_db(signal: &Signal, start: usize, end: usize) -> f32 {
    let (start, end) = (start.min(signal.len), end.min(signal.len));
    if end <= start {
        return SILENCE_FLOOR_DB;
    }
    let ms =
        (signal.energy_prefix[end] - signal.energy_prefix[start]).max(0.0) / (end - start) as f64;
    ((10.0 * ms.max(1e-30).log10()) as f32).max(SILENCE_FLOOR_DB)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Clip;

    #[test]
    fn grid_at_8k_is_64_samples_per_frame() {
        let g = OnsetGrid::new(8000);
        assert_eq!((g.hop, g.frame_len, g.lag), (64, 512, 2));
        assert_eq!(g.frame_rate, 125.0);
        let g = OnsetGrid::new(44_100);
        assert_eq!((g.hop, g.frame_len), (353, 4096));
        let g = OnsetGrid::new(1);
        assert!(g.hop >= 1 && g.frame_len >= 4);
    }

    #[test]
    fn every_mel_band_has_weight_at_every_rate() {
        for rate in [100, 1000, 8000, 16_000, 44_100] {
            let g = OnsetGrid::new(rate);
            for b in mel_bands(rate, g.frame_len) {
                let total: f64 = b.weights.iter().map(|(_, w)| w).sum();
                assert!((total - 1.0).abs() < 1e-9, "{rate} Hz");
                assert!(b.weights.iter().all(|&(k, _)| k <= g.frame_len / 2));
            }
        }
    }

    #[test]
    fn a_click_rises_in_the_frame_of_its_time_and_the_right_band() {
        let rate = 8000;
        let mut x = vec![0.0f32; 2 * rate as usize];
        // A low thump at 0.5 s, a burst of high noise at 1.25 s.
        let thump = crate::signal::sine(80.0, rate, 0.1, 0.8);
        for (i, s) in thump.iter().enumerate() {
            x[4000 + i] = s * (-(i as f32) / 300.0).exp();
        }
        let hiss = crate::signal::white_noise(400, 0.5, 3);
        for (i, s) in hiss.iter().enumerate() {
            // Differencing removes everything below 3 kHz: a hat-like burst.
            x[10_000 + i] += s - if i > 0 { hiss[i - 1] } else { 0.0 };
        }
        let sig = Signal::new(&Clip::new(x, rate));
        let env = onset_envelopes_of(&sig);
        let peak = |v: &[f32]| (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap();
        let thump_frame = peak(&env.low);
        assert!(
            (thump_frame as i64 - 62).abs() <= 3,
            "low band peaks at frame {thump_frame}, want 62 (0.5 s)"
        );
        let hiss_frame = peak(&env.high);
        assert!(
            (hiss_frame as i64 - 156).abs() <= 3,
            "high band peaks at frame {hiss_frame}, want 156 (1.25 s)"
        );
        assert!(env.low[thump_frame] > 5.0 * env.low[hiss_frame].max(0.01));
    }

    #[test]
    fn gain_does_not_change_the_envelope() {
        let x = crate::signal::white_noise(16_000, 0.5, 1);
        let quiet: Vec<f32> = x.iter().map(|v| v * 0.001).collect();
        let a = onset_envelopes_of(&Signal::new(&Clip::new(x, 8000)));
        let b = onset_envelopes_of(&Signal::new(&Clip::new(quiet, 8000)));
        for (p, q) in a.all.iter().zip(&b.all) {
            assert!((p - q).abs() < 1e-3, "{p} vs {q}");
        }
    }
}
