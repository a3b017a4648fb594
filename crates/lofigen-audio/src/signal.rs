//! Deterministic test signals, so tests and benchmarks need no audio files and no `rand`.

/// A sine of `freq_hz` lasting `seconds` (rounded to whole samples) at `sample_rate`, starting at
/// phase 0. The phase is computed in f64 from the sample index so long signals do not drift.
pub fn sine(freq_hz: f32, sample_rate: u32, seconds: f32, amplitude: f32) -> Vec<f32> {
    if sample_rate == 0 || seconds.is_nan() || seconds <= 0.0 {
        return Vec::new();
    }
    let n = (f64::from(seconds) * f64::from(sample_rate)).round() as usize;
    let w = std::f64::consts::TAU * f64::from(freq_hz) / f64::from(sample_rate);
    (0..n)
        .map(|i| (f64::from(amplitude) * (w * i as f64).sin()) as f32)
        .collect()
}

/// `len` samples of uniform white noise in [-amplitude, amplitude), reproducible from `seed`
/// (splitmix64, so every seed, 0 included, gives a good stream).
pub fn white_noise(len: usize, amplitude: f32, seed: u64) -> Vec<f32> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            // Top 24 bits -> [0, 1) exactly representable in f32, then to [-1, 1).
            let u = (z >> 40) as f32 / (1u64 << 24) as f32;
            amplitude * (2.0 * u - 1.0)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sine_length_level_and_phase() {
        let s = sine(1000.0, 8000, 0.5, 0.5);
        assert_eq!(s.len(), 4000);
        assert_eq!(s[0], 0.0);
        assert!((s[2] - 0.5).abs() < 1e-6); // quarter period at 8 samples/cycle
        let rms = (s.iter().map(|x| x * x).sum::<f32>() / s.len() as f32).sqrt();
        assert!((rms - 0.5 / 2f32.sqrt()).abs() < 1e-3);
        assert!(sine(440.0, 0, 1.0, 1.0).is_empty());
        assert!(sine(440.0, 8000, -1.0, 1.0).is_empty());
    }

    #[test]
    fn noise_is_reproducible_bounded_and_centred() {
        let a = white_noise(10_000, 0.3, 7);
        let b = white_noise(10_000, 0.3, 7);
        let c = white_noise(10_000, 0.3, 8);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.iter().all(|x| x.abs() <= 0.3));
        let mean = a.iter().sum::<f32>() / a.len() as f32;
        assert!(mean.abs() < 0.01);
        // Uniform in [-A, A) has RMS A/sqrt(3).
        let rms = (a.iter().map(|x| x * x).sum::<f32>() / a.len() as f32).sqrt();
        assert!((rms - 0.3 / 3f32.sqrt()).abs() < 0.005);
    }
}
