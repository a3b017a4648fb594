//! A tiny spectrum analyser for tests: enough to check that a tone survived resampling at the
//! right pitch.

use realfft::RealFftPlanner;

/// Frequency (Hz) of the strongest bin of the magnitude spectrum of `samples`.
///
/// The whole signal is Hann-windowed (to keep leakage from hiding the peak), zero-padded to at
/// least twice the next power of two, transformed with realfft, and the peak refined by
/// parabolic interpolation over its neighbours, so the answer is accurate to a fraction of a bin.
/// The DC bin is skipped: an offset is not a pitch. Returns 0 for fewer than 4 samples or a zero
/// rate.
pub fn peak_frequency(samples: &[f32], sample_rate: u32) -> f32 {
    let n = samples.len();
    if n < 4 || sample_rate == 0 {
        return 0.0;
    }
    let size = (n.next_power_of_two() * 2).max(8);
    let mut input = vec![0.0f64; size];
    let denom = (n - 1) as f64;
    for (i, &s) in samples.iter().enumerate() {
        let w = 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / denom).cos();
        input[i] = f64::from(s) * w;
    }
    let fft = RealFftPlanner::<f64>::new().plan_fft_forward(size);
    let mut spectrum = fft.make_output_vec();
    fft.process(&mut input, &mut spectrum)
        .expect("buffers sized by the plan");
    let mag: Vec<f64> = spectrum.iter().map(|c| c.norm()).collect();
    let mut best = 1;
    for k in 2..mag.len() {
        if mag[k] > mag[best] {
            best = k;
        }
    }
    let mut pos = best as f64;
    if best + 1 < mag.len() {
        // Parabolic interpolation on log magnitudes (a Gaussian-ish peak shape for Hann).
        let l = mag[best - 1].max(1e-30).ln();
        let c = mag[best].max(1e-30).ln();
        let r = mag[best + 1].max(1e-30).ln();
        let d = l - 2.0 * c + r;
        if d < 0.0 {
            pos += 0.5 * (l - r) / d;
        }
    }
    (pos * f64::from(sample_rate) / size as f64) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::sine;

    #[test]
    fn finds_sine_pitch() {
        for f in [55.0f32, 440.0, 1234.5, 3500.0] {
            let s = sine(f, 8000, 0.5, 0.7);
            let p = peak_frequency(&s, 8000);
            assert!((p - f).abs() < 1.0, "{f} Hz read as {p}");
        }
    }

    #[test]
    fn strongest_of_two_tones_wins() {
        let a = sine(300.0, 8000, 0.3, 0.2);
        let b = sine(2000.0, 8000, 0.3, 0.6);
        let mix: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
        assert!((peak_frequency(&mix, 8000) - 2000.0).abs() < 1.0);
    }

    #[test]
    fn degenerate_inputs() {
        assert_eq!(peak_frequency(&[], 8000), 0.0);
        assert_eq!(peak_frequency(&[1.0, 0.0], 8000), 0.0);
        assert_eq!(peak_frequency(&[1.0; 100], 0), 0.0);
    }
}
