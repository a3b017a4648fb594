//! Mu-law companding to and from class indices, as used by the sample-level models: it spends more
//! classes on quiet samples, where the ear (and most of the music) is.

/// Maps `x` (clamped to [-1, 1]; NaN counts as 0) to a class in `0..classes`, with mu = classes - 1.
/// 0 lands on the middle class (`classes / 2`). Fewer than 2 classes leaves nothing to choose, so
/// the answer is then always 0.
pub fn encode(x: f32, classes: usize) -> usize {
    if classes < 2 {
        return 0;
    }
    let mu = (classes - 1) as f64;
    let x = if x.is_nan() {
        0.0
    } else {
        f64::from(x.clamp(-1.0, 1.0))
    };
    let y = x.signum() * (mu * x.abs()).ln_1p() / mu.ln_1p();
    // y in [-1, 1] -> [0, mu]; round to the nearest class.
    let c = ((y + 1.0) * 0.5 * mu).round();
    (c.max(0.0) as usize).min(classes - 1)
}

/// Inverse of [`encode`]: the sample value at the centre of `class` (clamped to the last class).
pub fn decode(class: usize, classes: usize) -> f32 {
    if classes < 2 {
        return 0.0;
    }
    let mu = (classes - 1) as f64;
    let c = class.min(classes - 1) as f64;
    let y = 2.0 * c / mu - 1.0;
    let x = y.signum() * ((1.0 + mu).powf(y.abs()) - 1.0) / mu;
    x as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_maps_to_middle_class() {
        assert_eq!(encode(0.0, 256), 128);
        assert_eq!(encode(0.0, 255), 127);
        assert_eq!(encode(-0.0, 256), 128);
        assert!(decode(128, 256).abs() < 0.01);
    }

    #[test]
    fn extremes_and_clamping() {
        assert_eq!(encode(1.0, 256), 255);
        assert_eq!(encode(-1.0, 256), 0);
        assert_eq!(encode(7.0, 256), 255);
        assert_eq!(encode(-7.0, 256), 0);
        assert_eq!(encode(f32::NAN, 256), 128);
        assert!((decode(255, 256) - 1.0).abs() < 1e-6);
        assert!((decode(0, 256) + 1.0).abs() < 1e-6);
        assert!((decode(9999, 256) - 1.0).abs() < 1e-6);
        assert_eq!(encode(0.3, 1), 0);
        assert_eq!(decode(0, 0), 0.0);
    }

    #[test]
    fn encode_is_monotonic() {
        for classes in [2usize, 16, 255, 256, 1024] {
            let mut last = 0;
            for i in -2000..=2000 {
                let c = encode(i as f32 / 2000.0, classes);
                assert!(c >= last, "classes {classes}: not monotonic at {i}");
                assert!(c < classes);
                last = c;
            }
            assert_eq!(encode(-1.0, classes), 0);
            assert_eq!(encode(1.0, classes), classes - 1);
        }
    }

    #[test]
    fn decode_is_strictly_increasing() {
        let classes = 256;
        for c in 1..classes {
            assert!(decode(c, classes) > decode(c - 1, classes));
        }
    }

    #[test]
    fn round_trip_within_class_width() {
        for classes in [16usize, 256, 1024] {
            for i in -1000..=1000 {
                let x = i as f32 / 1000.0;
                let c = encode(x, classes);
                let back = decode(c, classes);
                // The quantisation error is about half the neighbouring step; the curve bends within
                // a step (slopes differ by (1 + mu)^(2 / mu) at most, 1.45 for 16 classes), so
                // allow 0.6 of the wider step.
                let lo = decode(c.saturating_sub(1), classes);
                let hi = decode((c + 1).min(classes - 1), classes);
                let width = (hi - back).max(back - lo);
                assert!(
                    (back - x).abs() <= width * 0.6 + 1e-6,
                    "classes {classes}: x {x} -> {c} -> {back}, width {width}"
                );
                // And each class decodes back to itself.
                assert_eq!(encode(back, classes), c);
            }
        }
    }
}
