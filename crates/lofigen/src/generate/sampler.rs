//! Drawing the next class from a classifying model's logits: temperature, top-k, top-p (nucleus)
//! and greedy, from one seeded RNG per sampler so that a `--seed` reproduces the audio exactly.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// How to choose the next class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sampling {
    /// Divides the logits: below 1 sharpens the distribution, above 1 flattens it.
    pub temperature: f32,
    /// Keep only the `k` most likely classes (None: all).
    pub top_k: Option<usize>,
    /// Keep the smallest set of most likely classes whose probability reaches `p` (None: all).
    pub top_p: Option<f32>,
    /// Always take the most likely class. Deterministic, and prone to collapse into silence or
    /// a steady tone: the most likely next sample is rarely what music does.
    pub greedy: bool,
    /// Seed of the random draws.
    pub seed: u64,
}

impl Default for Sampling {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            top_k: None,
            top_p: None,
            greedy: false,
            seed: 42,
        }
    }
}

impl Sampling {
    /// Check the settings; the error names the option.
    pub fn validate(&self) -> Result<(), String> {
        if !self.temperature.is_finite() || self.temperature <= 0.0 {
            return Err(format!(
                "--temperature {} must be a positive number",
                self.temperature
            ));
        }
        if self.top_k == Some(0) {
            return Err("--top-k must be at least 1".into());
        }
        if let Some(p) = self.top_p
            && !(p > 0.0 && p <= 1.0)
        {
            return Err(format!("--top-p {p} must be in (0, 1]"));
        }
        Ok(())
    }
}

/// A sampler over `classes` classes; its buffers are allocated once.
pub struct Sampler {
    settings: Sampling,
    rng: StdRng,
    probs: Vec<f32>,
    order: Vec<u32>,
}

impl Sampler {
    /// A sampler for `classes` classes with `settings` (validated by the caller).
    pub fn new(settings: Sampling, classes: usize) -> Self {
        Self {
            rng: StdRng::seed_from_u64(settings.seed),
            settings,
            probs: vec![0.0; classes],
            order: (0..classes as u32).collect(),
        }
    }

    /// Draw a class from `logits` (one per class).
    pub fn sample(&mut self, logits: &[f32]) -> usize {
        let n = logits.len();
        debug_assert_eq!(n, self.probs.len());
        let argmax = logits
            .iter()
            .enumerate()
            .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
                if v > best.1 { (i, v) } else { best }
            })
            .0;
        if self.settings.greedy {
            return argmax;
        }
        // Softmax at temperature, shifted by the maximum for stability.
        let inv_t = 1.0 / self.settings.temperature;
        let max = logits[argmax];
        let mut total = 0.0f64;
        for (p, &l) in self.probs.iter_mut().zip(logits) {
            *p = ((l - max) * inv_t).exp();
            total += f64::from(*p);
        }
        let filtered = self.settings.top_k.is_some_and(|k| k < n) || self.settings.top_p.is_some();
        if !filtered {
            return self.draw_all(total);
        }
        // Most likely first; ties by class index so the order never depends on the sort.
        let probs = &self.probs;
        let mut keep = self.settings.top_k.unwrap_or(n).min(n);
        self.order
            .iter_mut()
            .enumerate()
            .for_each(|(i, o)| *o = i as u32);
        self.order.select_nth_unstable_by(keep - 1, |&a, &b| {
            probs[b as usize]
                .total_cmp(&probs[a as usize])
                .then(a.cmp(&b))
        });
        let head = &mut self.order[..keep];
        head.sort_unstable_by(|&a, &b| {
            probs[b as usize]
                .total_cmp(&probs[a as usize])
                .then(a.cmp(&b))
        });
        if let Some(p) = self.settings.top_p {
            let target = f64::from(p) * total;
            let mut acc = 0.0;
            for (i, &c) in head.iter().enumerate() {
                acc += f64::from(probs[c as usize]);
                if acc >= target {
                    keep = i + 1;
                    break;
                }
            }
        }
        let kept = &self.order[..keep];
        let mass: f64 = kept.iter().map(|&c| f64::from(probs[c as usize])).sum();
        let mut u = self.rng.random::<f64>() * mass;
        for &c in kept {
            u -= f64::from(probs[c as usize]);
            if u < 0.0 {
                return c as usize;
            }
        }
        kept[keep - 1] as usize
    }

    fn draw_all(&mut self, total: f64) -> usize {
        let mut u = self.rng.random::<f64>() * total;
        for (i, &p) in self.probs.iter().enumerate() {
            u -= f64::from(p);
            if u < 0.0 {
                return i;
            }
        }
        // Rounding left a sliver: the last class with any mass.
        self.probs.iter().rposition(|&p| p > 0.0).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits() -> Vec<f32> {
        (0..16).map(|i| (i as f32 * 0.37).sin() * 3.0).collect()
    }

    #[test]
    fn same_seed_same_draws_other_seed_other_draws() {
        let draw = |seed| {
            let mut s = Sampler::new(
                Sampling {
                    seed,
                    ..Default::default()
                },
                16,
            );
            (0..200).map(|_| s.sample(&logits())).collect::<Vec<_>>()
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
    }

    #[test]
    fn greedy_takes_the_argmax() {
        let l = logits();
        let best = (0..16).max_by(|&a, &b| l[a].total_cmp(&l[b])).unwrap();
        let mut s = Sampler::new(
            Sampling {
                greedy: true,
                ..Default::default()
            },
            16,
        );
        assert_eq!(s.sample(&l), best);
    }

    #[test]
    fn top_k_only_draws_the_k_most_likely() {
        let l = logits();
        let mut ranked: Vec<usize> = (0..16).collect();
        ranked.sort_by(|&a, &b| l[b].total_cmp(&l[a]));
        let mut s = Sampler::new(
            Sampling {
                top_k: Some(3),
                temperature: 5.0,
                ..Default::default()
            },
            16,
        );
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2000 {
            seen.insert(s.sample(&l));
        }
        let allowed: std::collections::HashSet<usize> = ranked[..3].iter().copied().collect();
        assert_eq!(seen, allowed, "high temperature reaches all 3, and no more");
    }

    #[test]
    fn top_p_keeps_the_nucleus() {
        // One class holds ~88% of the mass: p = 0.5 keeps it alone.
        let mut l = vec![0.0f32; 16];
        l[5] = 5.0;
        let mut s = Sampler::new(
            Sampling {
                top_p: Some(0.5),
                ..Default::default()
            },
            16,
        );
        assert!((0..500).all(|_| s.sample(&l) == 5));
        // p = 1 keeps everything: other classes appear.
        let mut s = Sampler::new(
            Sampling {
                top_p: Some(1.0),
                ..Default::default()
            },
            16,
        );
        assert!((0..500).any(|_| s.sample(&l) != 5));
    }

    #[test]
    fn temperature_sharpens() {
        let l = logits();
        let best = (0..16).max_by(|&a, &b| l[a].total_cmp(&l[b])).unwrap();
        let hits = |t| {
            let mut s = Sampler::new(
                Sampling {
                    temperature: t,
                    ..Default::default()
                },
                16,
            );
            (0..2000).filter(|_| s.sample(&l) == best).count()
        };
        assert!(
            hits(0.2) > hits(1.0) + 200,
            "{} vs {}",
            hits(0.2),
            hits(1.0)
        );
    }

    #[test]
    fn bad_settings_are_named() {
        let bad = Sampling {
            temperature: 0.0,
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().contains("--temperature"));
        let bad = Sampling {
            top_p: Some(1.5),
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().contains("--top-p"));
    }
}
