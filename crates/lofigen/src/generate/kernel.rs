//! The hot loop of the incremental generator: weight rows times a few history vectors.
//!
//! `rows x streams` dot products with f32 or f16 weights and f32 accumulation. On x86-64 with
//! AVX2+FMA+F16C (checked once at run time) a register-blocked kernel loads each weight vector
//! once for several streams; elsewhere a portable loop with eight independent accumulators
//! lets the compiler vectorise for the baseline target. No compile flag is needed.
//!
//! For several streams the reduction is tiled in chunks, so that every stream's slice of
//! history stays in L1 while the weights stream past once per step; the weights are stored
//! chunk by chunk (`[chunk][row][k]`) so that this pass reads memory sequentially, which the
//! hardware prefetcher needs (short runs 64 KiB apart stall on every row).

use half::f16;

/// Precision of the engine's weights.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    /// f32 storage: equal to the training model up to summation order.
    #[default]
    F32,
    /// f16 storage, f32 accumulation: half the memory traffic, outputs within 1e-2 of f32 (tested).
    F16,
}

/// Weight storage: full precision, or IEEE half (halves the bytes read per step).
#[derive(Clone, Debug)]
pub enum WeightBuf {
    /// f32 weights.
    F32(Vec<f32>),
    /// f16 weights, widened to f32 in registers.
    F16(Vec<u16>),
}

/// A `rows x cols` weight matrix stored chunk by chunk: chunk `c` holds columns
/// `c*chunk .. (c+1)*chunk` of every row, row after row.
#[derive(Clone, Debug)]
pub struct Matrix {
    buf: WeightBuf,
    rows: usize,
    cols: usize,
    chunk: usize,
}

/// Reduction chunk for `streams` streams: about 16 KiB of history in L1 (whole rows for one).
pub fn chunk_for(streams: usize, cols: usize) -> usize {
    if streams <= 1 || !cols.is_multiple_of(8) {
        cols
    } else {
        ((4096 / streams).clamp(128, 4096) / 8 * 8).min(cols)
    }
}

impl Matrix {
    /// Tile the row-major `w` (`rows x cols`) into chunks of `chunk` columns, at `precision`.
    pub fn new(w: &[f32], rows: usize, cols: usize, chunk: usize, precision: Precision) -> Self {
        assert_eq!(w.len(), rows * cols, "weight matrix size");
        let chunk = chunk.clamp(1, cols.max(1));
        let mut tiled = Vec::with_capacity(w.len());
        let mut k0 = 0;
        while k0 < cols {
            let kn = chunk.min(cols - k0);
            for o in 0..rows {
                tiled.extend_from_slice(&w[o * cols + k0..o * cols + k0 + kn]);
            }
            k0 += kn;
        }
        let buf = match precision {
            Precision::F32 => WeightBuf::F32(tiled),
            Precision::F16 => {
                WeightBuf::F16(tiled.iter().map(|&v| f16::from_f32(v).to_bits()).collect())
            }
        };
        Self {
            buf,
            rows,
            cols,
            chunk,
        }
    }

    /// Rows (outputs).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns (the reduction length).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        match &self.buf {
            WeightBuf::F32(w) => w.len() * 4,
            WeightBuf::F16(w) => w.len() * 2,
        }
    }

    /// Where row `o`'s part of the chunk starting at column `k0` begins.
    #[inline(always)]
    fn offset(&self, o: usize, k0: usize) -> usize {
        k0 * self.rows + o * self.chunk.min(self.cols - k0)
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
/// Every `xs[s]` has `w.cols` values. `partial` is scratch of at least
/// `rows.len() * xs.len() * 8` floats.
pub fn rows_times_vectors(
    w: &Matrix,
    rows: std::ops::Range<usize>,
    bias: &[f32],
    xs: &[&[f32]],
    out: &mut [f32],
    partial: &mut [f32],
    force_portable: bool,
) {
    debug_assert_eq!(out.len(), rows.len() * xs.len());
    debug_assert!(xs.iter().all(|x| x.len() == w.cols));
    #[cfg(target_arch = "x86_64")]
    if !force_portable && has_avx2() {
        // SAFETY: the CPU supports AVX2, FMA and F16C (checked above); the matrix layout and
        // the slice lengths (asserted above) keep every access in bounds.
        unsafe {
            match &w.buf {
                WeightBuf::F32(b) => avx2::rows_f32(w, b, rows, bias, xs, out, partial),
                WeightBuf::F16(b) => avx2::rows_f16(w, b, rows, bias, xs, out, partial),
            }
        }
        return;
    }
    let _ = (force_portable, &partial);
    let streams = xs.len();
    for (r, o) in rows.enumerate() {
        for (s, x) in xs.iter().enumerate() {
            let mut sum = bias[o];
            let mut k0 = 0;
            while k0 < w.cols {
                let kn = w.chunk.min(w.cols - k0);
                let at = w.offset(o, k0);
                let xk = &x[k0..k0 + kn];
                sum += match &w.buf {
                    WeightBuf::F32(b) => dot_portable(&b[at..at + kn], xk, |v| v),
                    WeightBuf::F16(b) => {
                        dot_portable(&b[at..at + kn], xk, |v| f16::from_bits(v).to_f32())
                    }
                };
                k0 += kn;
            }
            out[r * streams + s] = sum;
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

    use super::Matrix;

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

    /// R whole rows times one stream (untiled matrix), summed horizontally at the end.
    #[inline(always)]
    unsafe fn rows_one<T: Load8, const R: usize>(
        m: &Matrix,
        w: &[T],
        o: usize,
        x: &[f32],
    ) -> [f32; R] {
        unsafe {
            let n = m.cols;
            let mut acc = [_mm256_setzero_ps(); R];
            let wp: [*const T; R] = std::array::from_fn(|r| w.as_ptr().add(m.offset(o + r, 0)));
            let xp = x.as_ptr();
            let body = n / 8 * 8;
            let mut i = 0;
            while i < body {
                let xv = _mm256_loadu_ps(xp.add(i));
                for r in 0..R {
                    acc[r] = _mm256_fmadd_ps(T::load8(wp[r].add(i)), xv, acc[r]);
                }
                i += 8;
            }
            // Plain loops, not `array::from_fn` closures: a closure does not inherit the
            // caller's target features, so the intrinsics inside it become calls.
            let mut sums = [0.0f32; R];
            for r in 0..R {
                let mut v = hsum(acc[r]);
                for j in body..n {
                    v += (*wp[r].add(j)).widen() * *xp.add(j);
                }
                sums[r] = v;
            }
            sums
        }
    }

    /// R rows times S streams over the chunk at `k0`, accumulating into 8-lane partial sums
    /// kept in memory (`partial[(row * streams + stream) * 8..]`), so no horizontal sum is
    /// paid per chunk. Chunks are multiples of 8 columns here.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)] // the kernel's operands
    unsafe fn block_acc<T: Load8, const R: usize, const S: usize>(
        m: &Matrix,
        w: &[T],
        k0: usize,
        o: usize,
        xs: &[&[f32]],
        s0: usize,
        partial: *mut f32,
        streams: usize,
    ) {
        unsafe {
            let kn = m.chunk.min(m.cols - k0);
            let at = |r: usize, s: usize| partial.add((r * streams + s0 + s) * 8);
            // Loops rather than `array::from_fn` closures, which would not inherit the target
            // features and turn every intrinsic into a call.
            let mut acc = [[_mm256_setzero_ps(); S]; R];
            for (r, row) in acc.iter_mut().enumerate() {
                for (s, a) in row.iter_mut().enumerate() {
                    *a = _mm256_loadu_ps(at(r, s));
                }
            }
            let wp: [*const T; R] = std::array::from_fn(|r| w.as_ptr().add(m.offset(o + r, k0)));
            let xp: [*const f32; S] = std::array::from_fn(|s| xs[s0 + s].as_ptr().add(k0));
            let mut i = 0;
            while i < kn {
                let mut xv = [_mm256_setzero_ps(); S];
                for (v, p) in xv.iter_mut().zip(&xp) {
                    *v = _mm256_loadu_ps(p.add(i));
                }
                for r in 0..R {
                    let wv = T::load8(wp[r].add(i));
                    for s in 0..S {
                        acc[r][s] = _mm256_fmadd_ps(wv, xv[s], acc[r][s]);
                    }
                }
                i += 8;
            }
            for (r, row) in acc.iter().enumerate() {
                for (s, a) in row.iter().enumerate() {
                    _mm256_storeu_ps(at(r, s), *a);
                }
            }
        }
    }

    #[inline(always)]
    unsafe fn rows<T: Load8>(
        m: &Matrix,
        w: &[T],
        rows: std::ops::Range<usize>,
        bias: &[f32],
        xs: &[&[f32]],
        out: &mut [f32],
        partial: &mut [f32],
    ) {
        let streams = xs.len();
        let base = rows.start;
        unsafe {
            if m.chunk == m.cols && (streams == 1 || !m.cols.is_multiple_of(8)) {
                // Whole rows (one stream is bound by reading weights): four rows give four
                // independent accumulation chains.
                for s in 0..streams {
                    let mut o = rows.start;
                    while o + 4 <= rows.end {
                        let r = rows_one::<T, 4>(m, w, o, xs[s]);
                        for (k, v) in r.iter().enumerate() {
                            out[(o + k - base) * streams + s] = bias[o + k] + v;
                        }
                        o += 4;
                    }
                    for o in o..rows.end {
                        out[(o - base) * streams + s] =
                            bias[o] + rows_one::<T, 1>(m, w, o, xs[s])[0];
                    }
                }
                return;
            }
            let partial = &mut partial[..rows.len() * streams * 8];
            partial.fill(0.0);
            let p = partial.as_mut_ptr();
            let mut k0 = 0;
            while k0 < m.cols {
                let mut o = rows.start;
                while o < rows.end {
                    let two = o + 2 <= rows.end;
                    let po = p.add((o - base) * streams * 8);
                    let mut s = 0;
                    while s + 4 <= streams {
                        if two {
                            block_acc::<T, 2, 4>(m, w, k0, o, xs, s, po, streams);
                        } else {
                            block_acc::<T, 1, 4>(m, w, k0, o, xs, s, po, streams);
                        }
                        s += 4;
                    }
                    for s in s..streams {
                        if two {
                            block_acc::<T, 2, 1>(m, w, k0, o, xs, s, po, streams);
                        } else {
                            block_acc::<T, 1, 1>(m, w, k0, o, xs, s, po, streams);
                        }
                    }
                    o += if two { 2 } else { 1 };
                }
                k0 += m.chunk.min(m.cols - k0);
            }
            for o in rows.clone() {
                for s in 0..streams {
                    let lanes = &partial[((o - base) * streams + s) * 8..][..8];
                    out[(o - base) * streams + s] = bias[o] + lanes.iter().sum::<f32>();
                }
            }
        }
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn rows_f32(
        m: &Matrix,
        w: &[f32],
        r: std::ops::Range<usize>,
        bias: &[f32],
        xs: &[&[f32]],
        out: &mut [f32],
        partial: &mut [f32],
    ) {
        unsafe { rows(m, w, r, bias, xs, out, partial) }
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn rows_f16(
        m: &Matrix,
        w: &[u16],
        r: std::ops::Range<usize>,
        bias: &[f32],
        xs: &[&[f32]],
        out: &mut [f32],
        partial: &mut [f32],
    ) {
        unsafe { rows(m, w, r, bias, xs, out, partial) }
    }
}
