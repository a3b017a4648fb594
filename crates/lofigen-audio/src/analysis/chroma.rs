//! Chroma (energy per pitch class over time) and the key estimate built on it.
//!
//! Frames are [`CHROMA_FRAME_SECONDS`] long: 4096 samples at 8 kHz, so bins are 1.95 Hz apart.
//! Neighbouring semitones at the bottom of the range (A1 = 55 Hz) are 3.3 Hz apart, so shorter
//! frames would blur the bass notes, which carry the chord roots; longer ones would smear chords
//! that change every beat (a beat at 85 BPM is 0.7 s). Frames are centred on multiples of
//! [`CHROMA_HOP_SECONDS`] (512 samples at 8 kHz, 15.6 frames a second).
//!
//! Only spectral peaks between [`CHROMA_FMIN_HZ`] and [`CHROMA_FMAX_HZ`] (or 90 % of the Nyquist
//! frequency, if lower) count: each local maximum of the power spectrum has its frequency refined
//! by parabolic interpolation and its power (three bins) added to the pitch class nearest that
//! frequency (A = 440 Hz). Peak picking, rather than folding every bin, keeps a Hann window's
//! main lobe (four bins wide) from leaking a bass note into the neighbouring pitch classes.
//! Above 2 kHz there is little but upper partials, which add fifths and thirds that are not in
//! the chord. Each frame is then scaled so its largest class is 1; frames more than
//! [`CHROMA_SILENCE_DB`] below the clip's level are all zero.

use std::fmt;

use super::Signal;
use super::chord::PitchClass;
use crate::measures::Stft;

/// Length of a chroma frame (rounded up to a power of two in samples).
pub const CHROMA_FRAME_SECONDS: f64 = 0.512;
/// Hop between chroma frames.
pub const CHROMA_HOP_SECONDS: f64 = 0.064;
/// Lowest frequency folded into chroma, Hz (A1).
pub const CHROMA_FMIN_HZ: f64 = 55.0;
/// Highest frequency folded into chroma, Hz.
pub const CHROMA_FMAX_HZ: f64 = 2000.0;
/// Frames whose RMS is this far below the clip's RMS are treated as silent.
pub const CHROMA_SILENCE_DB: f64 = 50.0;
/// Peaks more than this far below the frame's strongest peak are ignored (window side lobes,
/// noise).
pub const CHROMA_PEAK_RANGE_DB: f64 = 50.0;

/// Energy per pitch class over time.
#[derive(Clone, Debug, PartialEq)]
pub struct Chromagram {
    /// Frames per second; frame `j` is centred on `j / frame_rate` seconds.
    pub frame_rate: f64,
    /// One 12-bin vector per frame (index 0 = C), largest value 1, or all zero when silent.
    pub frames: Vec<[f32; 12]>,
}

impl Chromagram {
    /// The mean of the frames centred in `start_s..end_s` seconds (the frame nearest the middle
    /// when none is), scaled so its largest value is 1; all zero if there are no frames.
    pub fn mean_over(&self, start_s: f64, end_s: f64) -> [f32; 12] {
        let mut out = [0.0f32; 12];
        if self.frames.is_empty() || self.frame_rate.is_nan() || self.frame_rate <= 0.0 {
            return out;
        }
        let last = self.frames.len() - 1;
        let index = |s: f64| (s * self.frame_rate).clamp(0.0, last as f64);
        let (a, b) = (index(start_s).ceil() as usize, index(end_s).ceil() as usize);
        let range = if b > a {
            a..b
        } else {
            let m = index(0.5 * (start_s + end_s)).round() as usize;
            m..m + 1
        };
        for f in &self.frames[range] {
            for (o, v) in out.iter_mut().zip(f) {
                *o += v;
            }
        }
        normalise_max(&mut out);
        out
    }

    /// The mean over all frames, scaled so its largest value is 1.
    pub fn mean(&self) -> [f32; 12] {
        let mut out = [0.0f32; 12];
        for f in &self.frames {
            for (o, v) in out.iter_mut().zip(f) {
                *o += v;
            }
        }
        normalise_max(&mut out);
        out
    }
}

fn normalise_max(v: &mut [f32; 12]) {
    let max = v.iter().copied().fold(0.0f32, f32::max);
    if max > 0.0 && max.is_finite() {
        v.iter_mut().for_each(|x| *x /= max);
    } else {
        *v = [0.0; 12];
    }
}

/// Frame length in samples at `rate`.
pub(crate) fn chroma_frame_len(rate: u32) -> usize {
    ((f64::from(rate) * CHROMA_FRAME_SECONDS).round() as usize)
        .max(4)
        .next_power_of_two()
}

/// The chromagram of a prepared signal (see the module documentation).
pub(crate) fn chromagram_of(signal: &Signal) -> Chromagram {
    let rate = f64::from(signal.rate);
    let frame_len = chroma_frame_len(signal.rate);
    let hop = ((rate * CHROMA_HOP_SECONDS).round() as usize).max(1);
    let frame_rate = rate / hop as f64;
    let bin_hz = rate / frame_len as f64;
    let fmax = CHROMA_FMAX_HZ.min(0.9 * rate / 2.0);
    let (k_lo, k_hi) = (
        ((CHROMA_FMIN_HZ / bin_hz).floor() as usize).max(1),
        ((fmax / bin_hz).ceil() as usize).min(frame_len / 2 - 1),
    );
    let silent_ms = signal.mean_square * 10f64.powf(-CHROMA_SILENCE_DB / 10.0);
    let peak_floor = 10f64.powf(-CHROMA_PEAK_RANGE_DB / 10.0);
    let frames = signal.len.div_ceil(hop);
    let mut stft = Stft::with_len(frame_len);
    let mut out = Vec::with_capacity(frames);
    for j in 0..frames {
        let centre = j * hop;
        let (a, b) = (
            centre.saturating_sub(frame_len / 2),
            (centre + frame_len / 2).min(signal.len),
        );
        let ms = (signal.energy_prefix[b] - signal.energy_prefix[a]) / (b - a).max(1) as f64;
        if ms.is_nan() || ms <= silent_ms || k_hi <= k_lo {
            out.push([0.0; 12]);
            continue;
        }
        let p = stft.power(&signal.padded, signal.pad + centre - frame_len / 2);
        let strongest = p[k_lo..=k_hi].iter().copied().fold(0.0, f64::max);
        let mut c = [0.0f64; 12];
        for k in k_lo..=k_hi {
            if !(p[k] > p[k - 1] && p[k] >= p[k + 1] && p[k] >= strongest * peak_floor) {
                continue;
            }
            // Parabolic interpolation on log power: a Hann main lobe is close to a parabola there.
            let (l, m, r) = (p[k - 1].ln(), p[k].ln(), p[k + 1].ln());
            let d = l - 2.0 * m + r;
            let offset = if d < 0.0 && d.is_finite() {
                (0.5 * (l - r) / d).clamp(-0.5, 0.5)
            } else {
                0.0
            };
            let f = (k as f64 + offset) * bin_hz;
            if !(CHROMA_FMIN_HZ..=fmax).contains(&f) {
                continue;
            }
            let midi = 69.0 + 12.0 * (f / 440.0).log2();
            c[PitchClass::new(midi.round() as i32).index()] += p[k - 1] + p[k] + p[k + 1];
        }
        let mut frame = c.map(|v| v as f32);
        normalise_max(&mut frame);
        out.push(frame);
    }
    Chromagram {
        frame_rate,
        frames: out,
    }
}

/// Major or minor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Major (Ionian).
    Major,
    /// Minor (Aeolian).
    Minor,
}

/// A key: tonic and mode; `Display` writes e.g. `C major`, `A minor`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Key {
    /// The tonic.
    pub tonic: PitchClass,
    /// Major or minor.
    pub mode: Mode,
    /// Correlation (-1..1) of the clip's mean chroma with the key's profile: how clearly the clip
    /// is in this key.
    pub correlation: f32,
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.mode {
            Mode::Major => "major",
            Mode::Minor => "minor",
        };
        write!(f, "{} {mode}", self.tonic)
    }
}

/// Krumhansl-Kessler probe-tone profile of C major (index 0 = C).
pub const MAJOR_PROFILE: [f32; 12] = [
    6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88,
];
/// Krumhansl-Kessler probe-tone profile of C minor.
pub const MINOR_PROFILE: [f32; 12] = [
    6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17,
];

/// The key whose Krumhansl-Kessler profile (rotated to each of the 12 tonics, major and minor)
/// correlates best with `chroma` (the Krumhansl-Schmuckler algorithm). Ties go to major, then to
/// the lower tonic. `None` when `chroma` is flat (silence, or every class equal).
pub fn estimate_key(chroma: &[f32; 12]) -> Option<Key> {
    let mut best: Option<Key> = None;
    for mode in [Mode::Major, Mode::Minor] {
        let profile = match mode {
            Mode::Major => &MAJOR_PROFILE,
            Mode::Minor => &MINOR_PROFILE,
        };
        for tonic in 0..12 {
            // Profile rotated so that its tonic sits at `tonic`.
            let rotated: [f32; 12] = std::array::from_fn(|i| profile[(i + 12 - tonic) % 12]);
            let r = pearson(chroma, &rotated)?;
            if best.is_none_or(|b| r > b.correlation) {
                best = Some(Key {
                    tonic: PitchClass::new(tonic as i32),
                    mode,
                    correlation: r,
                });
            }
        }
    }
    best
}

/// Pearson correlation; `None` when either vector is constant or not finite.
fn pearson(a: &[f32; 12], b: &[f32; 12]) -> Option<f32> {
    let ma = a.iter().sum::<f32>() / 12.0;
    let mb = b.iter().sum::<f32>() / 12.0;
    let (mut ab, mut aa, mut bb) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        ab += (x - ma) * (y - mb);
        aa += (x - ma).powi(2);
        bb += (y - mb).powi(2);
    }
    let r = ab / (aa * bb).sqrt();
    (aa > 1e-12 && bb > 1e-12 && r.is_finite()).then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_name_their_own_keys() {
        let k = estimate_key(&MAJOR_PROFILE).unwrap();
        assert_eq!(k.to_string(), "C major");
        let rotated: [f32; 12] = std::array::from_fn(|i| MINOR_PROFILE[(i + 12 - 9) % 12]);
        assert_eq!(estimate_key(&rotated).unwrap().to_string(), "A minor");
        assert_eq!(estimate_key(&[0.0; 12]), None);
        assert_eq!(estimate_key(&[0.5; 12]), None);
        assert_eq!(estimate_key(&[f32::NAN; 12]), None);
    }

    #[test]
    fn mean_over_picks_the_frames_in_the_span() {
        let mut a = [0.0; 12];
        a[0] = 1.0;
        let mut b = [0.0; 12];
        b[7] = 1.0;
        let g = Chromagram {
            frame_rate: 10.0,
            frames: vec![a, a, a, b, b, b],
        };
        assert_eq!(g.mean_over(0.0, 0.3), a);
        assert_eq!(g.mean_over(0.3, 0.6), b);
        // No frame centre inside: the nearest frame.
        assert_eq!(g.mean_over(0.41, 0.42), b);
        assert_eq!(g.mean_over(-5.0, -4.0), a);
        let empty = Chromagram {
            frame_rate: 10.0,
            frames: vec![],
        };
        assert_eq!(empty.mean_over(0.0, 1.0), [0.0; 12]);
    }
}
