//! The hot loop of the incremental generator: a few weight rows times a few history vectors.
//!
//! `rows x streams` dot products of length `n`, with f32 or f16 weights and f32 accumulation.
//! On x86-64 with AVX2+FMA+F16C (checked once at run time) a register-blocked kernel loads each
//! weight vector once for several streams; elsewhere a portable loop with eight independent
//! accumulators lets the compiler vectorise for the baseline target. No compile flag needed.

use half::f16;

/// Weight storage: full precision, or IEEE half (halves the bytes read per step).
#[derive(Clone, Debug)]
pub enum WeightBuf {
    /// f32 weights.
    F32(Vec<f32>),
    /// f16 weights, widened to f32 in registers.
    F16(Vec<u16>),
}

/// Precision of the engine's weights.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    /// f32 storage: equal to the training model up to summation order.
    #[default]
    F32,
    /// f16 storage, f32 accumulation: half the memory traffic, outputs within ~1e-3.
    F16,
}

impl WeightBuf {
    /// Store `w` at `precision`.
    pub fn new(w: Vec<f32>, precision: Precision) -> Self {
        match precision {
            Precision::F32 => WeightBuf::F32(w),
            Precision::F16 => {
                WeightBuf::F16(w.iter().map(|&v| f16::from_f32(v).to_bits()).collect())
            }
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        match self {
            WeightBuf::F32(w) => w.len() * 4,
            WeightBuf::F16(w) => w.len() * 2,
        }
    }
}

/// Whether the fast x86-64 path can run here (checked once).
pub fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static AVX2: OnceLock<bool> = OnceLock::new();
        *AVX2.get_or_init(|| {
            is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
                && is_x86_feature_detected!("f16c")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `out[(o - rows.start) * xs.len() + s] = bias[o] + W[o] . xs[s]` for `o` in `rows`.
///
/// `W` is row-major with rows of length `n`; every `xs[s]` has length `n`.
pub fn rows_times_vectors(
    w: &WeightBuf,
    n: usize,
    rows: std::ops::Range<usize>,
    bias: &[f32],
    xs: &[&[f32]],
    out: &mut [f32],
    force_portable: bool,
) {
    let streams = xs.len();
    debug_assert_eq!(out.len(), rows.len() * streams);
    debug_assert!(xs.iter().all(|x| x.len() == n));
    #[cfg(target_arch = "x86_64")]
    if !force_portable && has_avx2() {
        // SAFETY: the CPU supports AVX2, FMA and F16C (checked above); every slice is long
        // enough (asserted by the callers' layouts and the debug asserts).
        unsafe {
            match w {
                WeightBuf::F32(w) => avx2::rows_f32(w, n, rows, bias, xs, out),
                WeightBuf::F16(w) => avx2::rows_f16(w, n, rows, bias, xs, out),
            }
        }
        return;
    }
    let _ = force_portable;
    for (r, o) in rows.enumerate() {
        for (s, x) in xs.iter().enumerate() {
            let d = match w {
                WeightBuf::F32(w) => dot_portable(&w[o * n..(o + 1) * n], x, |v| v),
                WeightBuf::F16(w) => {
                    dot_portable(&w[o * n..(o + 1) * n], x, |v| f16::from_bits(v).to_f32())
                }
            };
            out[r * streams + s] = bias[o] + d;
        }
    }
}

/// Eight independent partial sums, so the baseline compiler can vectorise the loop.
fn dot_portable<T: Copy>(w: &[T], x: &[f32], widen: impl Fn(T) -> f32) -> f32 {
    let mut acc = [0.0f32; 8];
    let (wc, xc) = (w.chunks_exact(8), x.chunks_exact(8));
    let (wr, xr) = (wc.remainder(), xc.remainder());
    for (wv, xv) in wc.zip(xc) {
        for j in 0..8 {
            acc[j] += widen(wv[j]) * xv[j];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (a, b) in wr.iter().zip(xr) {
        sum += widen(*a) * b;
    }
    sum
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// Widen 8 weights at `p` to f32 lanes.
    trait Load8: Copy {
        unsafe fn load8(p: *const Self) -> __m256;
        fn widen(self) -> f32;
    }
    impl Load8 for f32 {
        #[inline(always)]
        unsafe fn load8(p: *const f32) -> __m256 {
            unsafe { _mm256_loadu_ps(p) }
        }
        #[inline(always)]
        fn widen(self) -> f32 {
            self
        }
    }
    impl Load8 for u16 {
        #[inline(always)]
        unsafe fn load8(p: *const u16) -> __m256 {
            unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i)) }
        }
        #[inline(always)]
        fn widen(self) -> f32 {
            half::f16::from_bits(self).to_f32()
        }
    }

    #[inline(always)]
    unsafe fn hsum(v: __m256) -> f32 {
        unsafe {
            let lo = _mm256_castps256_ps128(v);
            let hi = _mm256_extractf128_ps(v, 1);
            let s = _mm_add_ps(lo, hi);
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
            _mm_cvtss_f32(s)
        }
    }

    /// R rows times S vectors, each weight vector loaded once per S streams.
    #[inline(always)]
    unsafe fn block<T: Load8, const R: usize, const S: usize>(
        w: &[T],
        n: usize,
        o: usize,
        xs: &[&[f32]],
        s0: usize,
    ) -> [[f32; S]; R] {
        unsafe {
            let mut acc = [[_mm256_setzero_ps(); S]; R];
            let wp: [*const T; R] = std::array::from_fn(|r| w.as_ptr().add((o + r) * n));
            let xp: [*const f32; S] = std::array::from_fn(|s| xs[s0 + s].as_ptr());
            let body = n / 8 * 8;
            let mut i = 0;
            while i < body {
                let xv: [__m256; S] = std::array::from_fn(|s| _mm256_loadu_ps(xp[s].add(i)));
                for r in 0..R {
                    let wv = T::load8(wp[r].add(i));
                    for s in 0..S {
                        acc[r][s] = _mm256_fmadd_ps(wv, xv[s], acc[r][s]);
                    }
                }
                i += 8;
            }
            let mut res = [[0.0f32; S]; R];
            for r in 0..R {
                for s in 0..S {
                    let mut v = hsum(acc[r][s]);
                    for j in body..n {
                        v += (*wp[r].add(j)).widen() * *xp[s].add(j);
                    }
                    res[r][s] = v;
                }
            }
            res
        }
    }

    #[inline(always)]
    unsafe fn rows<T: Load8>(
        w: &[T],
        n: usize,
        rows: std::ops::Range<usize>,
        bias: &[f32],
        xs: &[&[f32]],
        out: &mut [f32],
    ) {
        let streams = xs.len();
        let base = rows.start;
        let mut put = |o: usize, s: usize, v: f32| out[(o - base) * streams + s] = bias[o] + v;
        unsafe {
            if streams == 1 {
                // One stream is bound by reading weights: four rows give four independent
                // accumulation chains.
                let mut o = rows.start;
                while o + 4 <= rows.end {
                    let r = block::<T, 4, 1>(w, n, o, xs, 0);
                    for (k, v) in r.iter().enumerate() {
                        put(o + k, 0, v[0]);
                    }
                    o += 4;
                }
                for o in o..rows.end {
                    put(o, 0, block::<T, 1, 1>(w, n, o, xs, 0)[0][0]);
                }
                return;
            }
            let mut o = rows.start;
            while o < rows.end {
                let two = o + 2 <= rows.end;
                let mut s = 0;
                while s + 4 <= streams {
                    if two {
                        let r = block::<T, 2, 4>(w, n, o, xs, s);
                        for (k, row) in r.iter().enumerate() {
                            for (j, v) in row.iter().enumerate() {
                                put(o + k, s + j, *v);
                            }
                        }
                    } else {
                        let r = block::<T, 1, 4>(w, n, o, xs, s);
                        for (j, v) in r[0].iter().enumerate() {
                            put(o, s + j, *v);
                        }
                    }
                    s += 4;
                }
                for s in s..streams {
                    for k in 0..if two { 2 } else { 1 } {
                        put(o + k, s, block::<T, 1, 1>(w, n, o + k, xs, s)[0][0]);
                    }
                }
                o += if two { 2 } else { 1 };
            }
        }
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn rows_f32(
        w: &[f32],
        n: usize,
        r: std::ops::Range<usize>,
        bias: &[f32],
        xs: &[&[f32]],
        out: &mut [f32],
    ) {
        unsafe { rows(w, n, r, bias, xs, out) }
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn rows_f16(
        w: &[u16],
        n: usize,
        r: std::ops::Range<usize>,
        bias: &[f32],
        xs: &[&[f32]],
        out: &mut [f32],
    ) {
        unsafe { rows(w, n, r, bias, xs, out) }
    }
}
