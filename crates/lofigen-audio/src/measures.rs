//! Objective measures of a clip's sound, for judging generated audio against real audio.
//!
//! Everything starts from one short-time Fourier transform: frames of [`FRAME_LEN`] samples
//! (128 ms at 8 kHz, so bins are 7.8 Hz apart: fine enough to resolve a stuck tone), a periodic
//! Hann window, a hop of [`HOP`] samples (32 ms, 75 % overlap). From its power spectra come:
//!
//! - the **long-term average spectrum** (LTAS), normalised to unit total power, and the RMS
//!   difference in dB between two of them ([`spectrum_distance_db`]);
//! - per-frame **MFCCs** ([`N_MFCC`] coefficients of a [`N_MELS`]-band mel filterbank), a
//!   [`Gaussian`] fitted to them, and the Fréchet distance between two such Gaussians;
//! - **spectral flatness**, **tonal peak**, **loudness dynamics**, **band contrast**, **silence**
//!   and **clipping** ([`ClipMeasures`]).
//!
//! Level must not decide a comparison, so the spectral measures see the clip with its mean removed
//! and its RMS set to [`NORMALISED_RMS`]; silence and clipping are about the absolute level, so
//! they (and the frame levels behind the dynamics) are measured on the samples as they are.
//!
//! ```
//! use lofigen_audio::{Clip, measures, signal};
//!
//! let noise = measures::analyse(&Clip::new(signal::white_noise(40_000, 0.5, 1), 8000));
//! let tone = measures::analyse(&Clip::new(signal::sine(440.0, 8000, 5.0, 0.5), 8000));
//! assert!(noise.measures.flatness.unwrap() > 0.8);
//! assert!(tone.measures.tonal_peak.unwrap() > 0.95);
//! assert!(measures::spectrum_distance_db(&noise.ltas, &tone.ltas) > 20.0);
//! ```

use std::sync::Arc;

use nalgebra::{DMatrix, DVector, SymmetricEigen};
use realfft::{RealFftPlanner, RealToComplex, num_complex::Complex};

use crate::Clip;

/// STFT frame length in samples (128 ms at 8 kHz).
pub const FRAME_LEN: usize = 1024;
/// STFT hop in samples (32 ms at 8 kHz; 75 % overlap, so a Hann-windowed signal is covered evenly).
pub const HOP: usize = 256;
/// Number of triangular mel bands (HTK mel scale, 0 Hz to half the sample rate).
pub const N_MELS: usize = 40;
/// Number of MFCCs kept per frame (c0, which follows loudness, included).
pub const N_MFCC: usize = 20;
/// Frames whose RMS level is below this (dB relative to full scale, 1.0) count as silent.
pub const SILENCE_DBFS: f64 = -60.0;
/// Samples whose magnitude reaches this count as clipped.
pub const CLIP_LEVEL: f32 = 0.999;
/// RMS the spectral measures normalise every clip to (-20 dBFS).
pub const NORMALISED_RMS: f64 = 0.1;
/// Frames averaged into one spectrum before flatness is taken (16 x 32 ms, about half a second).
///
/// A single periodogram of white noise fluctuates so much (each bin is exponentially distributed)
/// that its flatness is only e^-γ ≈ 0.56; averaging these overlapping frames brings white noise to
/// about 0.94, so "near 1" means what it says, while notes that change every half second still
/// read as tonal.
pub const FLATNESS_SEGMENT_FRAMES: usize = 16;
/// Half-width, in bins, of the narrow band around the LTAS peak that [`ClipMeasures::tonal_peak`]
/// measures (±2 bins holds a Hann-windowed sine's whole main lobe).
pub const TONAL_HALF_WIDTH_BINS: usize = 2;
/// Floor for LTAS bins (relative to total power, -90 dB), so that an empty band compares as
/// "very quiet" rather than as minus infinity.
const LTAS_FLOOR: f64 = 1e-9;
/// Floor for mel energies, so that digital silence has finite MFCCs.
const MEL_FLOOR: f64 = 1e-12;
/// How far below the clip's mean mel-band level a band's level is floored for
/// [`ClipMeasures::band_contrast_db`], dB: a band that falls silent counts as this far down, not
/// as minus infinity (nor as the sidelobes of a window).
const CONTRAST_RANGE_DB: f64 = 60.0;

/// The level-free and level-bound measures of one clip.
#[derive(Clone, Debug, PartialEq)]
pub struct ClipMeasures {
    /// Spectral flatness: geometric over arithmetic mean of power (bins between DC and Nyquist),
    /// of spectra averaged over [`FLATNESS_SEGMENT_FRAMES`] frames, averaged over non-silent
    /// segments. White noise ≈ 0.94, a pure tone ≈ 0. `None` when every segment is silent.
    pub flatness: Option<f64>,
    /// Share of the long-term spectrum's energy within ±[`TONAL_HALF_WIDTH_BINS`] bins of its
    /// strongest bin: a stuck tone ≈ 1, white noise ≈ 0.01. `None` for a silent clip.
    pub tonal_peak: Option<f64>,
    /// Loudness dynamics: standard deviation (dB) of the frame RMS levels of non-silent frames.
    /// `None` with fewer than two non-silent frames.
    pub dynamics_db: Option<f64>,
    /// Band contrast: the standard deviation (dB) over non-silent frames of each mel band's
    /// level, averaged over the [`N_MELS`] bands, levels floored [`CONTRAST_RANGE_DB`] below the
    /// clip's mean band level. Notes that start and stop, hits and the gaps between them raise
    /// it even where the overall level stays steady, which [`dynamics_db`](Self::dynamics_db)
    /// does not see; a steady wash of sound keeps it low (steady noise ≈ 1.5 dB).
    /// `None` with fewer than two non-silent frames.
    pub band_contrast_db: Option<f64>,
    /// Fraction of frames below [`SILENCE_DBFS`].
    pub silence_fraction: f64,
    /// Fraction of samples with magnitude at least [`CLIP_LEVEL`].
    pub clipping_fraction: f64,
    /// RMS level of the whole clip in dB relative to full scale (-inf for digital silence is
    /// reported as -200).
    pub rms_dbfs: f64,
}

/// What [`analyse`] extracts from a clip: enough to compare it with other clips.
#[derive(Clone, Debug)]
pub struct Analysis {
    /// Sample rate of the clip, Hz (spectra of clips at different rates do not compare).
    pub sample_rate: u32,
    /// Duration in seconds.
    pub seconds: f64,
    /// Long-term average power spectrum, `FRAME_LEN / 2 + 1` bins, bin 0 (DC) set to 0 and the
    /// rest normalised to sum to 1 (all zero for a silent clip).
    pub ltas: Vec<f64>,
    /// Per-frame MFCCs of the loudness-normalised clip.
    pub mfcc: Vec<[f64; N_MFCC]>,
    /// Flatness, tonal peak, dynamics, silence, clipping, level.
    pub measures: ClipMeasures,
}

/// A spectrogram in dB for display: `columns` x `bins` values, row-major by column.
#[derive(Clone, Debug)]
pub struct Spectrogram {
    /// Sample rate of the clip, Hz.
    pub sample_rate: u32,
    /// Number of time columns.
    pub columns: usize,
    /// Frequency bins per column (`FRAME_LEN / 2 + 1`, from 0 Hz to half the sample rate).
    pub bins: usize,
    /// Seconds of audio each column covers.
    pub seconds_per_column: f64,
    /// Power in dB (of the loudness-normalised clip), `db[column * bins + bin]`.
    pub db: Vec<f32>,
}

impl Spectrogram {
    /// Duration covered, seconds.
    pub fn seconds(&self) -> f64 {
        self.columns as f64 * self.seconds_per_column
    }

    /// The largest value (or -200 dB for an empty spectrogram).
    pub fn max_db(&self) -> f32 {
        self.db.iter().copied().fold(-200.0, f32::max)
    }
}

/// A multivariate Gaussian fitted to feature vectors (frames of MFCCs).
#[derive(Clone, Debug)]
pub struct Gaussian {
    /// Mean vector.
    pub mean: DVector<f64>,
    /// Covariance (unbiased, divided by n - 1).
    pub cov: DMatrix<f64>,
    /// Number of vectors fitted.
    pub count: usize,
}

impl Gaussian {
    /// Fits mean and covariance to the union of `sets` of frames (two passes, so the covariance
    /// does not suffer from cancellation). `None` with fewer than two frames.
    pub fn fit(sets: &[&[[f64; N_MFCC]]]) -> Option<Self> {
        let count: usize = sets.iter().map(|s| s.len()).sum();
        if count < 2 {
            return None;
        }
        let frames = || sets.iter().flat_map(|s| s.iter());
        let mut mean = DVector::zeros(N_MFCC);
        for f in frames() {
            mean += DVector::from_column_slice(f);
        }
        mean /= count as f64;
        let mut cov = DMatrix::zeros(N_MFCC, N_MFCC);
        for f in frames() {
            let d = DVector::from_column_slice(f) - &mean;
            cov.ger(1.0, &d, &d, 1.0);
        }
        cov /= (count - 1) as f64;
        Some(Self { mean, cov, count })
    }
}

/// Fréchet distance between two Gaussians:
/// ‖μa − μb‖² + Tr(Σa + Σb − 2 (Σa Σb)^½).
///
/// The trace of the matrix square root is taken as Tr((Σa^½ Σb Σa^½)^½), whose argument is
/// symmetric positive semi-definite, so a symmetric eigen decomposition gives it stably (small
/// negative eigenvalues from rounding are clamped to 0). Never negative.
pub fn frechet_distance(a: &Gaussian, b: &Gaussian) -> f64 {
    let diff = &a.mean - &b.mean;
    let sa = psd_sqrt(&a.cov);
    let m = &sa * &b.cov * &sa;
    let tr_sqrt: f64 = SymmetricEigen::new(symmetrise(&m))
        .eigenvalues
        .iter()
        .map(|&l| l.max(0.0).sqrt())
        .sum();
    (diff.norm_squared() + a.cov.trace() + b.cov.trace() - 2.0 * tr_sqrt).max(0.0)
}

fn symmetrise(m: &DMatrix<f64>) -> DMatrix<f64> {
    (m + m.transpose()) * 0.5
}

/// Square root of a symmetric positive semi-definite matrix via its eigen decomposition.
fn psd_sqrt(m: &DMatrix<f64>) -> DMatrix<f64> {
    let e = SymmetricEigen::new(symmetrise(m));
    let roots = e.eigenvalues.map(|l| l.max(0.0).sqrt());
    &e.eigenvectors * DMatrix::from_diagonal(&roots) * e.eigenvectors.transpose()
}

/// RMS difference in dB, over the bins above DC, between two long-term spectra as [`Analysis`]
/// holds them (each normalised to unit power, so only the spectral shape counts).
///
/// # Panics
/// If the spectra have different lengths (they come from the same [`FRAME_LEN`], so this is a
/// programming error).
pub fn spectrum_distance_db(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "spectra of different sizes");
    if a.len() < 2 {
        return 0.0;
    }
    let db = |p: f64| 10.0 * p.max(LTAS_FLOOR).log10();
    let sum: f64 = a[1..]
        .iter()
        .zip(&b[1..])
        .map(|(&x, &y)| (db(x) - db(y)).powi(2))
        .sum();
    (sum / (a.len() - 1) as f64).sqrt()
}

/// The average of several long-term spectra, each weighted equally and the result normalised to
/// unit power again: the spectrum of a reference set.
pub fn average_spectrum(spectra: &[&[f64]]) -> Vec<f64> {
    let bins = spectra.first().map_or(FRAME_LEN / 2 + 1, |s| s.len());
    let mut avg = vec![0.0; bins];
    for s in spectra {
        for (a, &x) in avg.iter_mut().zip(s.iter()) {
            *a += x;
        }
    }
    normalise_power(&mut avg);
    avg
}

/// Sets bin 0 to 0 and scales the rest to sum to 1 (leaves an all-zero spectrum as it is).
fn normalise_power(p: &mut [f64]) {
    if let Some(dc) = p.first_mut() {
        *dc = 0.0;
    }
    let total: f64 = p.iter().sum();
    if total > 0.0 {
        p.iter_mut().for_each(|x| *x /= total);
    }
}

/// Level in dB relative to full scale of a mean square; -200 for digital silence.
fn dbfs(mean_square: f64) -> f64 {
    10.0 * mean_square.max(1e-20).log10()
}

/// The clip with its mean removed and its RMS set to [`NORMALISED_RMS`] (a silent clip stays
/// silent).
fn loudness_normalised(samples: &[f32]) -> Vec<f64> {
    if samples.is_empty() {
        return Vec::new();
    }
    let n = samples.len() as f64;
    let mean = samples.iter().map(|&s| f64::from(s)).sum::<f64>() / n;
    let ms = samples
        .iter()
        .map(|&s| (f64::from(s) - mean).powi(2))
        .sum::<f64>()
        / n;
    let gain = if ms > 1e-20 {
        NORMALISED_RMS / ms.sqrt()
    } else {
        0.0
    };
    samples
        .iter()
        .map(|&s| (f64::from(s) - mean) * gain)
        .collect()
}

/// Start of every STFT frame of a signal of `len` samples: frames that fit entirely (the tail of
/// fewer than [`HOP`] samples is left out), or one zero-padded frame when the signal is shorter
/// than [`FRAME_LEN`].
pub fn frame_starts(len: usize) -> impl Iterator<Item = usize> {
    let count = if len <= FRAME_LEN {
        1
    } else {
        1 + (len - FRAME_LEN) / HOP
    };
    (0..count).map(|i| i * HOP)
}

/// One STFT with its buffers, reused for every frame. [`crate::analysis`] uses it too, at its own
/// frame lengths, so the project has one windowing and one power normalisation.
pub(crate) struct Stft {
    fft: Arc<dyn RealToComplex<f64>>,
    window: Vec<f64>,
    /// Sum of squared window values: power is divided by it so that levels do not depend on the
    /// window.
    window_energy: f64,
    input: Vec<f64>,
    output: Vec<Complex<f64>>,
    scratch: Vec<Complex<f64>>,
    power: Vec<f64>,
}

impl Stft {
    fn new() -> Self {
        Self::with_len(FRAME_LEN)
    }

    /// An STFT of `frame_len` samples (at least 2).
    pub(crate) fn with_len(frame_len: usize) -> Self {
        let frame_len = frame_len.max(2);
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(frame_len);
        // Periodic Hann: overlap-adds to a constant at 75 % overlap.
        let window: Vec<f64> = (0..frame_len)
            .map(|i| 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / frame_len as f64).cos())
            .collect();
        let window_energy = window.iter().map(|w| w * w).sum();
        Self {
            input: fft.make_input_vec(),
            output: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
            power: vec![0.0; frame_len / 2 + 1],
            fft,
            window,
            window_energy,
        }
    }

    /// Power spectrum of the frame of `signal` that starts at `start` (zero past its end).
    pub(crate) fn power(&mut self, signal: &[f64], start: usize) -> &[f64] {
        for (i, (x, w)) in self.input.iter_mut().zip(&self.window).enumerate() {
            *x = signal.get(start + i).copied().unwrap_or(0.0) * w;
        }
        self.fft
            .process_with_scratch(&mut self.input, &mut self.output, &mut self.scratch)
            .expect("buffers come from the plan, so their sizes match");
        for (p, c) in self.power.iter_mut().zip(&self.output) {
            *p = c.norm_sqr() / self.window_energy;
        }
        &self.power
    }
}

/// Triangular mel filters (HTK scale), `N_MELS` rows of `FRAME_LEN / 2 + 1` weights.
pub fn mel_filterbank(sample_rate: u32) -> Vec<Vec<f64>> {
    let mel = |f: f64| 2595.0 * (1.0 + f / 700.0).log10();
    let hz = |m: f64| 700.0 * (10f64.powf(m / 2595.0) - 1.0);
    let nyquist = f64::from(sample_rate) / 2.0;
    let top = mel(nyquist);
    let edges: Vec<f64> = (0..N_MELS + 2)
        .map(|i| hz(top * i as f64 / (N_MELS + 1) as f64))
        .collect();
    let bin_hz = f64::from(sample_rate) / FRAME_LEN as f64;
    (0..N_MELS)
        .map(|m| {
            let (lo, mid, hi) = (edges[m], edges[m + 1], edges[m + 2]);
            (0..=FRAME_LEN / 2)
                .map(|k| {
                    let f = k as f64 * bin_hz;
                    if f <= lo || f >= hi {
                        0.0
                    } else if f <= mid {
                        (f - lo) / (mid - lo)
                    } else {
                        (hi - f) / (hi - mid)
                    }
                })
                .collect()
        })
        .collect()
}

/// Orthonormal DCT-II basis: `N_MFCC` rows of `N_MELS` weights.
fn dct_basis() -> Vec<[f64; N_MELS]> {
    (0..N_MFCC)
        .map(|k| {
            let scale = if k == 0 {
                (1.0 / N_MELS as f64).sqrt()
            } else {
                (2.0 / N_MELS as f64).sqrt()
            };
            std::array::from_fn(|n| {
                scale * (std::f64::consts::PI * k as f64 * (n as f64 + 0.5) / N_MELS as f64).cos()
            })
        })
        .collect()
}

/// Every measure of one clip: long-term spectrum, per-frame MFCCs, and [`ClipMeasures`].
/// Memory grows with the number of frames by the MFCCs (160 bytes per 32 ms) and, while it
/// runs, the mel energies of the non-silent frames for the band contrast (320 bytes per 32 ms).
pub fn analyse(clip: &Clip) -> Analysis {
    let raw = &clip.samples;
    let norm = loudness_normalised(raw);
    let bins = FRAME_LEN / 2 + 1;
    let mut stft = Stft::new();
    let mels = mel_filterbank(clip.sample_rate);
    let dct = dct_basis();

    let mut ltas = vec![0.0; bins];
    let mut mfcc = Vec::new();
    let mut levels = Vec::new();
    // Log-mel levels of the non-silent frames and their summed energy, for the band contrast.
    let mut loud_mels: Vec<[f64; N_MELS]> = Vec::new();
    let mut loud_energy = 0.0;
    // Flatness: spectra summed over segments of FLATNESS_SEGMENT_FRAMES frames.
    let mut segment = vec![0.0; bins];
    let (mut seg_frames, mut seg_ms) = (0usize, 0.0f64);
    let mut flatness = Vec::new();
    let mut frames = 0usize;
    let starts: Vec<usize> = frame_starts(raw.len()).collect();
    let total_frames = starts.len();
    for start in starts {
        let end = (start + FRAME_LEN).min(raw.len());
        let ms = raw[start..end]
            .iter()
            .map(|&s| f64::from(s).powi(2))
            .sum::<f64>()
            / FRAME_LEN as f64;
        let level = dbfs(ms);
        levels.push(level);
        let power = stft.power(&norm, start);
        for (l, &p) in ltas.iter_mut().zip(power) {
            *l += p;
        }
        let mut log_mel = [0.0; N_MELS];
        let mut energy = 0.0;
        for (lm, filter) in log_mel.iter_mut().zip(&mels) {
            let e: f64 = filter.iter().zip(power).map(|(w, p)| w * p).sum();
            energy += e;
            *lm = 10.0 * e.max(MEL_FLOOR).log10();
        }
        if level >= SILENCE_DBFS {
            loud_mels.push(log_mel);
            loud_energy += energy;
        }
        mfcc.push(std::array::from_fn(|k| {
            dct[k].iter().zip(&log_mel).map(|(d, l)| d * l).sum()
        }));
        for (s, &p) in segment.iter_mut().zip(power) {
            *s += p;
        }
        seg_frames += 1;
        seg_ms += ms;
        frames += 1;
        // A segment closes when full, or at the end of a clip too short for one full segment.
        let last = frames == total_frames;
        if seg_frames == FLATNESS_SEGMENT_FRAMES
            || (last && flatness.is_empty() && frames < FLATNESS_SEGMENT_FRAMES)
        {
            if dbfs(seg_ms / seg_frames as f64) >= SILENCE_DBFS {
                flatness.push(spectral_flatness(&segment));
            }
            segment.iter_mut().for_each(|s| *s = 0.0);
            (seg_frames, seg_ms) = (0, 0.0);
        }
    }
    normalise_power(&mut ltas);

    let loud: Vec<f64> = levels
        .iter()
        .copied()
        .filter(|&l| l >= SILENCE_DBFS)
        .collect();
    let dynamics_db = (loud.len() >= 2).then(|| {
        let mean = loud.iter().sum::<f64>() / loud.len() as f64;
        (loud.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / loud.len() as f64).sqrt()
    });
    let band_contrast_db = band_contrast(&loud_mels, loud_energy);
    let clipped = raw.iter().filter(|s| s.abs() >= CLIP_LEVEL).count();
    let measures = ClipMeasures {
        flatness: (!flatness.is_empty())
            .then(|| flatness.iter().sum::<f64>() / flatness.len() as f64),
        tonal_peak: tonal_peak(&ltas),
        dynamics_db,
        band_contrast_db,
        silence_fraction: (levels.len() - loud.len()) as f64 / levels.len() as f64,
        clipping_fraction: if raw.is_empty() {
            0.0
        } else {
            clipped as f64 / raw.len() as f64
        },
        rms_dbfs: dbfs(f64::from(clip.rms()).powi(2)),
    };
    Analysis {
        sample_rate: clip.sample_rate,
        seconds: clip.duration_secs(),
        ltas,
        mfcc,
        measures,
    }
}

/// [`ClipMeasures::band_contrast_db`] of these frames' log-mel levels (dB), whose mel energies
/// sum to `energy`.
fn band_contrast(frames: &[[f64; N_MELS]], energy: f64) -> Option<f64> {
    if frames.len() < 2 {
        return None;
    }
    let n = frames.len() as f64;
    let floor_db = 10.0 * (energy / (n * N_MELS as f64)).max(MEL_FLOOR).log10() - CONTRAST_RANGE_DB;
    let sd_sum: f64 = (0..N_MELS)
        .map(|band| {
            let db = |f: &[f64; N_MELS]| f[band].max(floor_db);
            let mean = frames.iter().map(db).sum::<f64>() / n;
            (frames.iter().map(|f| (db(f) - mean).powi(2)).sum::<f64>() / n).sqrt()
        })
        .sum();
    Some(sd_sum / N_MELS as f64)
}

/// Geometric over arithmetic mean of the bins strictly between DC and Nyquist (those two carry
/// half-weight, window-shaped leakage that says nothing about the sound).
fn spectral_flatness(power: &[f64]) -> f64 {
    let inner = &power[1..power.len() - 1];
    let arith = inner.iter().sum::<f64>() / inner.len() as f64;
    if arith <= 0.0 {
        return 0.0;
    }
    let log_geo = inner
        .iter()
        .map(|&p| p.max(arith * 1e-30).ln())
        .sum::<f64>()
        / inner.len() as f64;
    log_geo.exp() / arith
}

/// Share of a unit-power long-term spectrum within ±[`TONAL_HALF_WIDTH_BINS`] of its peak.
fn tonal_peak(ltas: &[f64]) -> Option<f64> {
    let total: f64 = ltas.iter().sum();
    if total <= 0.0 {
        return None;
    }
    let (peak, _) =
        ltas.iter().enumerate().skip(1).fold(
            (1, f64::MIN),
            |best, (k, &p)| {
                if p > best.1 { (k, p) } else { best }
            },
        );
    let lo = peak.saturating_sub(TONAL_HALF_WIDTH_BINS).max(1);
    let hi = (peak + TONAL_HALF_WIDTH_BINS).min(ltas.len() - 1);
    Some(ltas[lo..=hi].iter().sum::<f64>() / total)
}

/// A spectrogram of the loudness-normalised clip for display, with at most `max_columns` columns:
/// neighbouring frames' power is averaged into one column, so memory stays bounded for long
/// clips.
pub fn spectrogram(clip: &Clip, max_columns: usize) -> Spectrogram {
    let norm = loudness_normalised(&clip.samples);
    let bins = FRAME_LEN / 2 + 1;
    let frames = frame_starts(norm.len()).count();
    let per_column = frames.div_ceil(max_columns.max(1)).max(1);
    let columns = frames.div_ceil(per_column);
    let mut stft = Stft::new();
    let mut db = vec![0.0f32; columns * bins];
    let mut acc = vec![0.0f64; bins];
    let mut column = 0;
    for (i, start) in frame_starts(norm.len()).enumerate() {
        for (a, &p) in acc.iter_mut().zip(stft.power(&norm, start)) {
            *a += p;
        }
        let in_column = i + 1 - column * per_column;
        if in_column == per_column || i + 1 == frames {
            for (d, a) in db[column * bins..(column + 1) * bins]
                .iter_mut()
                .zip(&mut acc)
            {
                *d = dbfs(*a / in_column as f64) as f32;
                *a = 0.0;
            }
            column += 1;
        }
    }
    Spectrogram {
        sample_rate: clip.sample_rate,
        columns,
        bins,
        seconds_per_column: (per_column * HOP) as f64 / f64::from(clip.sample_rate.max(1)),
        db,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::{sine, white_noise};

    const SR: u32 = 8000;

    fn noise(seconds: f32, amplitude: f32, seed: u64) -> Clip {
        Clip::new(
            white_noise((seconds * SR as f32) as usize, amplitude, seed),
            SR,
        )
    }

    fn tone(freq: f32, seconds: f32, amplitude: f32) -> Clip {
        Clip::new(sine(freq, SR, seconds, amplitude), SR)
    }

    #[test]
    fn frames_cover_the_signal() {
        assert_eq!(frame_starts(0).count(), 1);
        assert_eq!(frame_starts(FRAME_LEN).count(), 1);
        assert_eq!(frame_starts(FRAME_LEN + HOP - 1).count(), 1);
        assert_eq!(frame_starts(FRAME_LEN + HOP).count(), 2);
        let last = frame_starts(80_000).last().unwrap();
        assert!(last + FRAME_LEN <= 80_000 && last + FRAME_LEN + HOP > 80_000);
    }

    #[test]
    fn white_noise_is_flat_and_a_sine_is_not() {
        let n = analyse(&noise(10.0, 0.5, 1)).measures;
        let s = analyse(&tone(440.0, 10.0, 0.5)).measures;
        let (nf, sf) = (n.flatness.unwrap(), s.flatness.unwrap());
        assert!(nf > 0.85 && nf <= 1.0, "white noise flatness {nf}");
        assert!(sf < 0.05, "sine flatness {sf}");
    }

    #[test]
    fn a_sine_is_one_tonal_peak_and_noise_is_not() {
        for f in [110.0, 440.0, 1234.5, 3000.0] {
            let t = analyse(&tone(f, 5.0, 0.5)).measures.tonal_peak.unwrap();
            assert!(t > 0.98, "{f} Hz sine: tonal peak {t}");
        }
        let n = analyse(&noise(5.0, 0.5, 2)).measures.tonal_peak.unwrap();
        assert!(n < 0.03, "noise tonal peak {n}");
        // Two equal tones: about half the energy in the strongest narrow band.
        let a = tone(300.0, 5.0, 0.3);
        let b = tone(2000.0, 5.0, 0.3);
        let mix = Clip::new(
            a.samples
                .iter()
                .zip(&b.samples)
                .map(|(x, y)| x + y)
                .collect(),
            SR,
        );
        let t = analyse(&mix).measures.tonal_peak.unwrap();
        assert!((t - 0.5).abs() < 0.05, "two tones: {t}");
    }

    #[test]
    fn level_does_not_change_the_spectral_measures() {
        let loud = noise(5.0, 0.8, 3);
        let quiet = Clip::new(loud.samples.iter().map(|x| x * 0.01).collect(), SR);
        let (a, b) = (analyse(&loud), analyse(&quiet));
        assert!(spectrum_distance_db(&a.ltas, &b.ltas) < 1e-6);
        assert!((a.measures.flatness.unwrap() - b.measures.flatness.unwrap()).abs() < 1e-9);
        let ga = Gaussian::fit(&[&a.mfcc]).unwrap();
        let gb = Gaussian::fit(&[&b.mfcc]).unwrap();
        assert!(frechet_distance(&ga, &gb) < 1e-6);
        // ...but the level itself is reported: 40 dB apart.
        assert!((a.measures.rms_dbfs - b.measures.rms_dbfs - 40.0).abs() < 1e-3);
    }

    #[test]
    fn spectrum_distance_separates_noise_from_tones() {
        let a = analyse(&noise(10.0, 0.5, 4));
        let b = analyse(&noise(10.0, 0.5, 5));
        let s = analyse(&tone(440.0, 10.0, 0.5));
        let same = spectrum_distance_db(&a.ltas, &b.ltas);
        let far = spectrum_distance_db(&a.ltas, &s.ltas);
        assert!(same < 1.0, "two white noises: {same} dB");
        assert!(far > 20.0, "noise vs sine: {far} dB");
        assert_eq!(spectrum_distance_db(&a.ltas, &a.ltas), 0.0);
        // Halving the power of the upper half of the spectrum is a 3 dB change over half the
        // bins: an RMS difference of about 3/sqrt(2) dB after renormalisation shifts it evenly.
        let mut tilted = a.ltas.clone();
        let half = tilted.len() / 2;
        tilted[half..].iter_mut().for_each(|p| *p *= 0.5);
        let d = spectrum_distance_db(&a.ltas, &average_spectrum(&[&tilted]));
        assert!((d - 10.0 * 2f64.log10() / 2.0).abs() < 0.1, "tilt: {d} dB");
    }

    #[test]
    fn average_spectrum_is_normalised() {
        let a = analyse(&noise(2.0, 0.5, 6));
        let s = analyse(&tone(440.0, 2.0, 0.5));
        let avg = average_spectrum(&[&a.ltas, &s.ltas]);
        assert!((avg.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert_eq!(avg[0], 0.0);
        // Half of it is the tone.
        assert!((tonal_peak(&avg).unwrap() - 0.5).abs() < 0.02);
    }

    #[test]
    fn dynamics_follow_the_level_changes() {
        // One second at 0.5, one at 0.05, repeated: levels 20 dB apart, half the time each,
        // so a standard deviation of 10 dB.
        let mut x = Vec::new();
        for i in 0..6 {
            let amp = if i % 2 == 0 { 0.5 } else { 0.05 };
            x.extend(white_noise(SR as usize, amp, i));
        }
        let d = analyse(&Clip::new(x, SR)).measures.dynamics_db.unwrap();
        assert!((d - 10.0).abs() < 1.0, "alternating levels: {d} dB");
        let steady = analyse(&noise(6.0, 0.5, 9)).measures.dynamics_db.unwrap();
        assert!(steady < 0.5, "steady noise: {steady} dB");
    }

    #[test]
    fn band_contrast_hears_notes_change_where_the_level_stays() {
        // A tone that moves between 500 Hz and 2 kHz every quarter second at one level: each
        // band switches between the tone and nothing, while the overall level is steady.
        let mut x = Vec::new();
        for i in 0..24 {
            x.extend(sine(if i % 2 == 0 { 500.0 } else { 2000.0 }, SR, 0.25, 0.5));
        }
        let moving = analyse(&Clip::new(x, SR)).measures;
        let steady = analyse(&noise(6.0, 0.5, 14)).measures;
        let held = analyse(&tone(500.0, 6.0, 0.5)).measures;
        let (m, s, h) = (
            moving.band_contrast_db.unwrap(),
            steady.band_contrast_db.unwrap(),
            held.band_contrast_db.unwrap(),
        );
        assert!(
            moving.dynamics_db.unwrap() < 1.0,
            "{:?}",
            moving.dynamics_db
        );
        assert!(m > 10.0, "moving tone: {m} dB");
        assert!(s < 3.0, "steady noise: {s} dB");
        assert!(h < 1.0, "held tone: {h} dB");
        let silent = analyse(&Clip::new(vec![0.0; 8000], SR)).measures;
        assert_eq!(silent.band_contrast_db, None);
    }

    #[test]
    fn silence_and_clipping_are_counted() {
        let mut x = white_noise(4 * SR as usize, 0.5, 10);
        x.extend(vec![0.0; 4 * SR as usize]);
        for s in x.iter_mut().take(800) {
            *s = 1.0;
        }
        let m = analyse(&Clip::new(x.clone(), SR)).measures;
        assert!(
            (m.silence_fraction - 0.5).abs() < 0.02,
            "{}",
            m.silence_fraction
        );
        assert!((m.clipping_fraction - 800.0 / x.len() as f64).abs() < 1e-12);
        // Silent frames do not count towards flatness or dynamics.
        assert!(m.flatness.unwrap() > 0.8);

        let silent = analyse(&Clip::new(vec![0.0; 20_000], SR)).measures;
        assert_eq!(silent.silence_fraction, 1.0);
        assert_eq!(silent.flatness, None);
        assert_eq!(silent.tonal_peak, None);
        assert_eq!(silent.dynamics_db, None);
        assert_eq!(silent.rms_dbfs, -200.0);
    }

    #[test]
    fn short_and_empty_clips_do_not_break() {
        for len in [0, 1, 100, FRAME_LEN] {
            let a = analyse(&Clip::new(white_noise(len, 0.5, 11), SR));
            assert_eq!(a.mfcc.len(), 1);
            assert!(a.mfcc[0].iter().all(|c| c.is_finite()));
            assert!(a.ltas.iter().all(|p| p.is_finite()));
        }
    }

    #[test]
    fn mel_filters_rise_in_frequency_and_cover_every_band() {
        let bank = mel_filterbank(SR);
        assert_eq!(bank.len(), N_MELS);
        let mut last_peak = 0;
        for (m, f) in bank.iter().enumerate() {
            assert!(f.iter().sum::<f64>() > 0.0, "mel band {m} is empty");
            let peak = (0..f.len()).max_by(|&a, &b| f[a].total_cmp(&f[b])).unwrap();
            assert!(
                peak >= last_peak,
                "band {m} peaks below band {}",
                m.saturating_sub(1)
            );
            last_peak = peak;
        }
    }

    #[test]
    fn dct_basis_is_orthonormal() {
        let d = dct_basis();
        for i in 0..N_MFCC {
            for j in 0..N_MFCC {
                let dot: f64 = d[i].iter().zip(&d[j]).map(|(a, b)| a * b).sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < 1e-12, "rows {i}, {j}: {dot}");
            }
        }
    }

    fn gaussian(mean: &[f64], cov: DMatrix<f64>) -> Gaussian {
        Gaussian {
            mean: DVector::from_column_slice(mean),
            cov,
            count: 100,
        }
    }

    #[test]
    fn frechet_matches_the_closed_form_for_commuting_covariances() {
        // Diagonal covariances: |dmu|^2 + sum (sqrt(a_i) - sqrt(b_i))^2.
        let a = gaussian(
            &[1.0, 2.0],
            DMatrix::from_diagonal(&DVector::from_vec(vec![4.0, 9.0])),
        );
        let b = gaussian(
            &[0.0, 0.0],
            DMatrix::from_diagonal(&DVector::from_vec(vec![1.0, 1.0])),
        );
        let want = 1.0 + 4.0 + (2.0 - 1.0f64).powi(2) + (3.0 - 1.0f64).powi(2);
        assert!((frechet_distance(&a, &b) - want).abs() < 1e-9);
        assert!(frechet_distance(&a, &a) < 1e-9);
        // Rotating both Gaussians together changes nothing.
        let (c, s) = (0.6f64, 0.8f64);
        let r = DMatrix::from_row_slice(2, 2, &[c, -s, s, c]);
        let ra = gaussian(&[c - 2.0 * s, s + 2.0 * c], &r * &a.cov * r.transpose());
        let rb = gaussian(&[0.0, 0.0], &r * &b.cov * r.transpose());
        assert!((frechet_distance(&ra, &rb) - want).abs() < 1e-9);
    }

    #[test]
    fn frechet_is_symmetric_for_non_commuting_covariances() {
        let a = gaussian(
            &[0.0, 0.0],
            DMatrix::from_row_slice(2, 2, &[2.0, 0.9, 0.9, 1.0]),
        );
        let b = gaussian(
            &[0.5, -1.0],
            DMatrix::from_row_slice(2, 2, &[1.0, -0.3, -0.3, 3.0]),
        );
        let (ab, ba) = (frechet_distance(&a, &b), frechet_distance(&b, &a));
        assert!((ab - ba).abs() < 1e-9, "{ab} vs {ba}");
        // In 2-D, Tr(sqrt(M)) = sqrt(Tr M + 2 sqrt(det M)) for M = Sa^1/2 Sb Sa^1/2.
        let det = a.cov.determinant() * b.cov.determinant();
        let tr = (&a.cov * &b.cov).trace();
        let want = 1.25 + a.cov.trace() + b.cov.trace() - 2.0 * (tr + 2.0 * det.sqrt()).sqrt();
        assert!((ab - want).abs() < 1e-9, "{ab} vs {want}");
    }

    #[test]
    fn mfcc_gaussians_tell_noise_from_tones() {
        let n1 = analyse(&noise(10.0, 0.5, 12));
        let n2 = analyse(&noise(10.0, 0.5, 13));
        let s = analyse(&tone(440.0, 10.0, 0.5));
        let g = |a: &Analysis| Gaussian::fit(&[&a.mfcc]).unwrap();
        let same = frechet_distance(&g(&n1), &g(&n2));
        let far = frechet_distance(&g(&n1), &g(&s));
        assert!(same * 100.0 < far, "noise/noise {same}, noise/sine {far}");
        assert!(Gaussian::fit(&[&n1.mfcc[..1]]).is_none());
        // Pooling two sets is fitting their concatenation.
        let joined: Vec<_> = n1.mfcc.iter().chain(&s.mfcc).copied().collect();
        let pooled = Gaussian::fit(&[&n1.mfcc, &s.mfcc]).unwrap();
        let direct = Gaussian::fit(&[&joined]).unwrap();
        assert!((&pooled.cov - &direct.cov).abs().max() < 1e-9);
        assert_eq!(pooled.count, n1.mfcc.len() + s.mfcc.len());
    }

    #[test]
    fn spectrogram_shows_the_tone_where_it_is() {
        let clip = tone(1000.0, 10.0, 0.5);
        let sg = spectrogram(&clip, 50);
        assert!(
            sg.columns <= 50 && sg.columns >= 45,
            "{} columns",
            sg.columns
        );
        assert_eq!(sg.bins, FRAME_LEN / 2 + 1);
        assert!((sg.seconds() - 10.0).abs() < 0.5, "{} s", sg.seconds());
        let want = (1000.0 * FRAME_LEN as f32 / SR as f32).round() as usize;
        for c in 0..sg.columns {
            let col = &sg.db[c * sg.bins..(c + 1) * sg.bins];
            let peak = (0..sg.bins)
                .max_by(|&a, &b| col[a].total_cmp(&col[b]))
                .unwrap();
            assert_eq!(peak, want, "column {c}");
        }
    }
}
