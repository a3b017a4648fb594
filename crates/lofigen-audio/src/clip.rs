//! A mono clip that carries its own sample rate, so that no caller can mix up rates.

/// Mono audio that carries its sample rate.
#[derive(Clone, Debug, PartialEq)]
pub struct Clip {
    /// The samples, nominally in [-1, 1].
    pub samples: Vec<f32>,
    /// Samples per second.
    pub sample_rate: u32,
}

impl Clip {
    /// Wraps `samples` recorded at `sample_rate`.
    pub fn new(samples: Vec<f32>, sample_rate: u32) -> Self {
        Self {
            samples,
            sample_rate,
        }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether the clip holds no samples.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Length in seconds (0 when the rate is 0, rather than infinity).
    pub fn duration_secs(&self) -> f64 {
        if self.sample_rate == 0 {
            return 0.0;
        }
        self.samples.len() as f64 / f64::from(self.sample_rate)
    }

    /// Root mean square level; 0 for an empty clip. Accumulates in f64 so long clips stay exact.
    pub fn rms(&self) -> f32 {
        if self.samples.is_empty() {
            return 0.0;
        }
        let sum: f64 = self
            .samples
            .iter()
            .map(|&s| f64::from(s) * f64::from(s))
            .sum();
        (sum / self.samples.len() as f64).sqrt() as f32
    }

    /// Largest absolute sample value; 0 for an empty clip.
    pub fn peak(&self) -> f32 {
        self.samples.iter().fold(0.0f32, |m, &s| m.max(s.abs()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_duration() {
        let c = Clip::new(vec![0.5, -0.5, 0.5, -1.0], 4);
        assert_eq!(c.len(), 4);
        assert!(!c.is_empty());
        assert!((c.duration_secs() - 1.0).abs() < 1e-12);
        assert!((c.rms() - (1.75f32 / 4.0).sqrt()).abs() < 1e-6);
        assert_eq!(c.peak(), 1.0);
    }

    #[test]
    fn empty_clip_is_silent() {
        let c = Clip::new(Vec::new(), 8000);
        assert!(c.is_empty());
        assert_eq!(c.rms(), 0.0);
        assert_eq!(c.peak(), 0.0);
        assert_eq!(c.duration_secs(), 0.0);
        assert_eq!(Clip::new(vec![1.0], 0).duration_secs(), 0.0);
    }
}
