//! The hot loop of the incremental generator: one weight matrix times a few history vectors.
//!
//! `out[s][o] = bias[o] + sum_k W[o][k] * x[s][k]` for a handful of streams `s`, with f32 or
//! f16 weights and f32 accumulation. The product is computed output-stationary, the way a GEMM
//! microkernel does it: the weights are packed once (at export) in blocks of 16 outputs,
//! `[block][k][16]`, so that one vector load holds 16 outputs' weights for one `k`; each history
//! value `x[s][k]` is broadcast and multiplied into a register tile of `S` streams x `P` blocks.
//! There is no horizontal sum anywhere, the bias is the tile's starting value, and every
//! weight vector is loaded once per group of streams.
//!
//! Three implementations read the same packed layout, chosen once at run time (no compile flag):
//! AVX-512 (16 lanes, tiles up to 6 streams x 4 blocks, or 2 x 8 for one or two streams, in the
//! 32 zmm registers), AVX2+FMA (a block as two 8-lane halves, up to 6 streams x 1 block or one
//! stream x 4 in the 16 ymm registers) and a portable loop the compiler vectorises for the
//! baseline target. [`KernelPath`] lets tests and the benchmark force each one, so all are
//! checked against each other.
//!
//! Every output is one chain: its bias, then one multiply-add per column in column order. No
//! path keeps partial sums that are added at the end (with one stream those would hide the FMA
//! latency, but their order would depend on the tile); a tile of few streams takes more blocks
//! instead, for as many independent chains. So an output's bits depend on its weights and its
//! stream's history only: not on how many other streams share the product, how they are tiled
//! or chunked, or how the product is split across threads. A stream therefore generates the
//! same samples alone as in a batch of any size (tested here and in `tests/batch.rs`).
//!
//! Several streams make the reduction tiled in chunks of `k`: a chunk of every stream's history
//! stays in L1 and a chunk of weights in L2 while the stream groups pass over it, so the weights
//! come from memory once per step. Within a block the weights are read sequentially, which the
//! hardware prefetcher needs.

use std::ops::Range;

use half::f16;

/// Outputs per packed block (one AVX-512 vector of f32).
pub use crate::cpu::LANES;

/// Precision of the engine's weights.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    /// f32 storage: equal to the training model up to summation order.
    #[default]
    F32,
    /// f16 storage, f32 accumulation: half the memory traffic, outputs within 1e-2 of f32 (tested).
    F16,
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
        })
    }
}

impl std::str::FromStr for Precision {
    type Err = String;

    /// `f32` or `f16` (any case), the spelling of the CLI's `--precision` and Python's
    /// `precision=`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "f32" => Ok(Precision::F32),
            "f16" => Ok(Precision::F16),
            _ => Err(format!("{s:?} is not a weight precision (valid: f16, f32)")),
        }
    }
}

/// Which implementation of the kernel runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KernelPath {
    /// AVX-512F (with F16C for f16 weights): 16-lane FMAs, register tiles up to 6 x 4 vectors.
    Avx512,
    /// AVX2 + FMA + F16C: 8-lane FMAs.
    Avx2,
    /// Plain Rust the compiler vectorises for the baseline target; runs everywhere.
    Portable,
}

impl KernelPath {
    /// Every path, fastest first.
    pub const ALL: [KernelPath; 3] = [KernelPath::Avx512, KernelPath::Avx2, KernelPath::Portable];

    /// The fastest path this CPU supports (detected once).
    pub fn detect() -> Self {
        use std::sync::OnceLock;
        static BEST: OnceLock<KernelPath> = OnceLock::new();
        *BEST.get_or_init(|| {
            Self::ALL
                .into_iter()
                .find(|p| p.is_available())
                .unwrap_or(KernelPath::Portable)
        })
    }

    /// Whether this CPU can run the path.
    pub fn is_available(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            let avx2 = is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
                && is_x86_feature_detected!("f16c");
            match self {
                KernelPath::Avx512 => avx2 && is_x86_feature_detected!("avx512f"),
                KernelPath::Avx2 => avx2,
                KernelPath::Portable => true,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            self == KernelPath::Portable
        }
    }

    /// The paths this CPU can run, fastest first.
    pub fn available() -> Vec<KernelPath> {
        Self::ALL.into_iter().filter(|p| p.is_available()).collect()
    }

    /// A short lowercase name (`avx512`, `avx2`, `portable`).
    pub fn name(self) -> &'static str {
        match self {
            KernelPath::Avx512 => "avx512",
            KernelPath::Avx2 => "avx2",
            KernelPath::Portable => "portable",
        }
    }

    /// The path named `name` (as [`KernelPath::name`] writes it).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// Weight storage: full precision, or IEEE half (halves the bytes read per step).
#[derive(Clone, Debug)]
enum WeightBuf {
    /// f32 weights.
    F32(Vec<f32>),
    /// f16 weights, widened to f32 in registers.
    F16(Vec<u16>),
}

/// A `rows x cols` weight matrix and its bias, packed as `[block][col][16]`: block `b` holds
/// rows `16 b .. 16 b + 16` (zero-padded past `rows`), one column after another.
#[derive(Clone, Debug)]
pub struct Matrix {
    buf: WeightBuf,
    /// Padded to [`Matrix::ld`] with zeros.
    bias: Vec<f32>,
    rows: usize,
    cols: usize,
}

impl Matrix {
    /// Pack the row-major `w` (`rows x cols`) and `bias` (`rows`) at `precision`.
    pub fn new(w: &[f32], bias: &[f32], rows: usize, cols: usize, precision: Precision) -> Self {
        assert_eq!(w.len(), rows * cols, "weight matrix size");
        assert_eq!(bias.len(), rows, "bias size");
        let blocks = rows.div_ceil(LANES);
        let mut packed = vec![0.0f32; blocks * cols * LANES];
        for o in 0..rows {
            let (b, lane) = (o / LANES, o % LANES);
            for k in 0..cols {
                packed[(b * cols + k) * LANES + lane] = w[o * cols + k];
            }
        }
        let mut padded = bias.to_vec();
        padded.resize(blocks * LANES, 0.0);
        let buf = match precision {
            Precision::F32 => WeightBuf::F32(packed),
            Precision::F16 => {
                WeightBuf::F16(packed.iter().map(|&v| f16::from_f32(v).to_bits()).collect())
            }
        };
        Self {
            buf,
            bias: padded,
            rows,
            cols,
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

    /// Blocks of 16 outputs.
    pub fn blocks(&self) -> usize {
        self.rows.div_ceil(LANES)
    }

    /// Floats per stream in an output buffer: `rows` rounded up to whole blocks (the padding
    /// outputs are computed too and come out as zero).
    pub fn ld(&self) -> usize {
        self.blocks() * LANES
    }

    /// Bytes held (weights and bias).
    pub fn bytes(&self) -> usize {
        let w = match &self.buf {
            WeightBuf::F32(w) => w.len() * 4,
            WeightBuf::F16(w) => w.len() * 2,
        };
        w + self.bias.len() * 4
    }
}

/// How one product's reduction is chunked: a cache choice made once for the whole product (all
/// its streams and blocks), so that every part of a threaded split walks the memory the same
/// way. Chunks change no bit (each output's chain goes on where the last chunk left it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Plan {
    /// Columns per reduction chunk: about 16 KiB of history for all streams (whole rows for up
    /// to two streams, whose histories stay in L1/L2 anyway).
    chunk: usize,
}

impl Plan {
    /// The plan for `streams` streams through a matrix of `cols` columns.
    pub(super) fn new(streams: usize, cols: usize) -> Self {
        let chunk = if streams <= 2 {
            cols.max(1)
        } else {
            ((4096 / streams).max(256) / 8 * 8).min(cols).max(1)
        };
        Self { chunk }
    }
}

/// FMA chains a tile needs to keep both FMA pipes busy (4 cycles of latency x 2 pipes): a tile
/// of few streams takes more blocks to have them.
const CHAINS: usize = 8;

/// `out[s * ld + o] = bias[o] + W[o] . xs[s]` for every output `o` of every stream `s`, where
/// `ld = w.ld()` (padding outputs are written as zero). Every `xs[s]` has at least `w.cols()`
/// values; `out` at least `xs.len() * ld`.
///
/// # Panics
/// If the sizes are wrong or `path` is not available on this CPU.
pub fn product(w: &Matrix, xs: &[&[f32]], out: &mut [f32], path: KernelPath) {
    assert!(out.len() >= xs.len() * w.ld(), "output buffer too small");
    let plan = Plan::new(xs.len(), w.cols);
    // SAFETY: `out` holds every stream's row of `ld` floats (asserted above).
    unsafe { product_part(w, 0..w.blocks(), xs, out.as_mut_ptr(), path, plan) }
}

/// [`product`] for the output blocks `blocks` only, writing `out[s * ld + 16 b ..][..16]` for
/// `b` in `blocks` and nothing else (so threads can share one output buffer), in the order
/// `plan` sets (the plan of the whole product, whatever part of it this call computes).
///
/// # Safety
/// `out` must be valid for writes of `xs.len() * w.ld()` floats, and no other thread may touch
/// the parts this call writes while it runs.
pub(super) unsafe fn product_part(
    w: &Matrix,
    blocks: Range<usize>,
    xs: &[&[f32]],
    out: *mut f32,
    path: KernelPath,
    plan: Plan,
) {
    assert!(blocks.end <= w.blocks(), "block range");
    assert!(
        xs.iter().all(|x| x.len() >= w.cols),
        "history shorter than the matrix's columns"
    );
    assert!(
        path.is_available(),
        "kernel path {path:?} is not supported by this CPU"
    );
    if blocks.is_empty() || xs.is_empty() {
        return;
    }
    match path {
        #[cfg(target_arch = "x86_64")]
        KernelPath::Avx512 => {
            // SAFETY: AVX-512F, AVX2, FMA and F16C are present (asserted above); the packed
            // layout, the asserted lengths and the caller's contract keep accesses in bounds.
            unsafe {
                match &w.buf {
                    WeightBuf::F32(b) => avx512::run_f32(w, b, blocks, xs, out, plan),
                    WeightBuf::F16(b) => avx512::run_f16(w, b, blocks, xs, out, plan),
                }
            }
        }
        #[cfg(target_arch = "x86_64")]
        KernelPath::Avx2 => {
            // SAFETY: as above, for AVX2, FMA and F16C.
            unsafe {
                match &w.buf {
                    WeightBuf::F32(b) => avx2::run_f32(w, b, blocks, xs, out, plan),
                    WeightBuf::F16(b) => avx2::run_f16(w, b, blocks, xs, out, plan),
                }
            }
        }
        // SAFETY: the caller's contract; the portable loop indexes the weights with bounds
        // checks and writes only the asserted rows of `out`. It sums in plain column order (one
        // accumulator per output), which no split changes either, so it needs no plan.
        _ => unsafe {
            let _ = plan;
            match &w.buf {
                WeightBuf::F32(b) => portable(w, b, blocks, xs, out, |v| v),
                WeightBuf::F16(b) => {
                    portable(w, b, blocks, xs, out, |v| f16::from_bits(v).to_f32())
                }
            }
        },
    }
}

/// The portable path: tiles of up to 4 streams x one block, 16 independent lanes that the
/// compiler turns into vector code for the baseline target.
///
/// # Safety
/// As [`product_part`].
unsafe fn portable<T: Copy>(
    m: &Matrix,
    w: &[T],
    blocks: Range<usize>,
    xs: &[&[f32]],
    out: *mut f32,
    widen: impl Fn(T) -> f32,
) {
    let (cols, ld) = (m.cols, m.ld());
    for b in blocks {
        let wb = &w[b * cols * LANES..(b + 1) * cols * LANES];
        let bias = &m.bias[b * LANES..(b + 1) * LANES];
        for (g, group) in xs.chunks(4).enumerate() {
            let mut acc = [[0.0f32; LANES]; 4];
            for a in &mut acc {
                a.copy_from_slice(bias);
            }
            for k in 0..cols {
                let mut wk = [0.0f32; LANES];
                for (d, &v) in wk.iter_mut().zip(&wb[k * LANES..(k + 1) * LANES]) {
                    *d = widen(v);
                }
                for (a, x) in acc.iter_mut().zip(group) {
                    let xv = x[k];
                    for (a, w) in a.iter_mut().zip(&wk) {
                        *a += w * xv;
                    }
                }
            }
            for (j, a) in acc.iter().take(group.len()).enumerate() {
                let s = g * 4 + j;
                // SAFETY: row `s` of `out` has `ld` floats and block `b` lies inside it.
                unsafe {
                    std::ptr::copy_nonoverlapping(a.as_ptr(), out.add(s * ld + b * LANES), LANES);
                }
            }
        }
    }
}

/// Split `n` streams (or blocks) into groups of at most `max`, as even as possible: the size of
/// the group starting at `s`.
#[inline(always)]
fn group_len(n: usize, s: usize, max: usize) -> usize {
    let left = n - s;
    let groups = left.div_ceil(max);
    left.div_ceil(groups)
}

/// One register tile's operands: `P` blocks starting at `w`, `S` streams, one chunk of columns.
#[cfg(target_arch = "x86_64")]
struct Tile<T> {
    /// The first block's weights at the chunk's first column.
    w: *const T,
    /// Elements from one block to the next (`cols * 16`).
    wstride: usize,
    /// Each stream's history at the chunk's first column.
    xs: [*const f32; 16],
    /// Columns in the chunk.
    kn: usize,
    /// The first stream's output at the first block.
    out: *mut f32,
    ld: usize,
    /// The first block's bias, the tile's start in the first chunk.
    bias: *const f32,
    first: bool,
}

/// A vector path's register tiles, for [`walk_tiles`]. Trait functions marked
/// `#[inline(always)]` rather than closures: a closure does not inherit the target features of
/// the function it is written in, so the intrinsics inside it could become calls.
#[cfg(target_arch = "x86_64")]
trait Tiles<T> {
    /// Most blocks per tile for `streams` streams.
    fn max_blocks(streams: usize) -> usize;
    /// Most streams per tile of `p` blocks.
    fn max_streams(p: usize) -> usize;
    /// Compute `t`, a tile of `p` blocks x `s` streams.
    ///
    /// # Safety
    /// As [`product_part`], for the tile's blocks and streams.
    unsafe fn tile(p: usize, s: usize, t: &Tile<T>);
}

/// Walk the product `blocks` x `xs` in `K`'s tiles: blocks in even groups of at most
/// `K::max_blocks`, then each chunk of columns (the plan's), then streams in even groups of at
/// most `K::max_streams(p)`.
///
/// # Safety
/// As [`product_part`].
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn walk_tiles<T, K: Tiles<T>>(
    m: &Matrix,
    w: &[T],
    blocks: Range<usize>,
    xs: &[&[f32]],
    out: *mut f32,
    plan: Plan,
) {
    let (cols, ld, streams) = (m.cols, m.ld(), xs.len());
    debug_assert!(w.len() >= m.blocks() * cols * LANES);
    let n_blocks = blocks.len();
    let max_blocks = K::max_blocks(streams);
    let mut b = blocks.start;
    while b < blocks.end {
        let p = group_len(n_blocks, b - blocks.start, max_blocks);
        let mut k0 = 0;
        while k0 < cols {
            let kn = plan.chunk.min(cols - k0);
            let mut s = 0;
            while s < streams {
                let n = group_len(streams, s, K::max_streams(p));
                let mut xp = [std::ptr::null(); 16];
                for (d, x) in xp.iter_mut().zip(&xs[s..s + n]) {
                    *d = x.as_ptr().wrapping_add(k0);
                }
                let t = Tile {
                    w: w.as_ptr().wrapping_add((b * cols + k0) * LANES),
                    wstride: cols * LANES,
                    xs: xp,
                    kn,
                    out: out.wrapping_add(s * ld + b * LANES),
                    ld,
                    bias: m.bias.as_ptr().wrapping_add(b * LANES),
                    first: k0 == 0,
                };
                // SAFETY: blocks b..b+p exist, every history has `cols` values, and the caller
                // lets us write these streams' rows of these blocks.
                unsafe { K::tile(p, n, &t) };
                s += n;
            }
            k0 += kn;
        }
        b += p;
    }
}

#[cfg(target_arch = "x86_64")]
// Index loops over the tile's const dimensions read like the register tile they unroll to.
#[allow(clippy::needless_range_loop)]
mod avx512 {
    use std::arch::x86_64::*;
    use std::ops::Range;

    use super::{CHAINS, LANES, Matrix, Plan, Tile, Tiles, walk_tiles};

    /// 16 weights at `p` widened to f32 lanes.
    pub(super) trait Load16: Copy {
        unsafe fn load16(p: *const Self) -> __m512;
    }
    impl Load16 for f32 {
        #[inline(always)]
        unsafe fn load16(p: *const f32) -> __m512 {
            unsafe { _mm512_loadu_ps(p) }
        }
    }
    impl Load16 for u16 {
        #[inline(always)]
        unsafe fn load16(p: *const u16) -> __m512 {
            unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(p as *const __m256i)) }
        }
    }

    /// `S` streams x `P` blocks over one chunk: `S * P` accumulators, each one output's chain.
    #[inline(always)]
    unsafe fn tile<T: Load16, const S: usize, const P: usize>(t: &Tile<T>) {
        unsafe {
            // Loops, not `array::from_fn` closures: a closure does not inherit the caller's
            // target features, so the intrinsics inside it would become calls.
            let mut acc = [[_mm512_setzero_ps(); P]; S];
            for s in 0..S {
                for p in 0..P {
                    acc[s][p] = if t.first {
                        _mm512_loadu_ps(t.bias.add(p * LANES))
                    } else {
                        _mm512_loadu_ps(t.out.add(s * t.ld + p * LANES))
                    };
                }
            }
            for k in 0..t.kn {
                let mut wv = [_mm512_setzero_ps(); P];
                for (p, v) in wv.iter_mut().enumerate() {
                    *v = T::load16(t.w.add(p * t.wstride + k * LANES));
                }
                for s in 0..S {
                    let xb = _mm512_set1_ps(*t.xs[s].add(k));
                    for p in 0..P {
                        acc[s][p] = _mm512_fmadd_ps(wv[p], xb, acc[s][p]);
                    }
                }
            }
            for s in 0..S {
                for p in 0..P {
                    _mm512_storeu_ps(t.out.add(s * t.ld + p * LANES), acc[s][p]);
                }
            }
        }
    }

    /// The zmm tiles.
    struct Zmm;

    impl<T: Load16> Tiles<T> for Zmm {
        /// 4, or up to 8 where one stream's tile would have too few chains.
        #[inline(always)]
        fn max_blocks(streams: usize) -> usize {
            CHAINS.div_ceil(streams).clamp(4, 8)
        }

        /// `S * P` accumulators plus `P` weight vectors and a broadcast within the 32 registers
        /// (tiles of 5 to 8 blocks are for one stream).
        #[inline(always)]
        fn max_streams(p: usize) -> usize {
            [0, 12, 10, 7, 6, 1, 1, 1, 1][p]
        }

        #[inline(always)]
        unsafe fn tile(p: usize, s: usize, t: &Tile<T>) {
            // SAFETY: the caller's contract.
            unsafe { dispatch(p, s, t) }
        }
    }

    #[inline(always)]
    unsafe fn dispatch<T: Load16>(p: usize, s: usize, t: &Tile<T>) {
        macro_rules! pick {
            ($(($p:literal, $s:literal)),* $(,)?) => {
                match (p, s) {
                    $(($p, $s) => tile::<T, $s, $p>(t),)*
                    _ => unreachable!("tile {p} x {s}"),
                }
            };
        }
        unsafe {
            pick!(
                (1, 1),
                (1, 2),
                (1, 3),
                (1, 4),
                (1, 5),
                (1, 6),
                (1, 7),
                (1, 8),
                (1, 9),
                (1, 10),
                (1, 11),
                (1, 12),
                (2, 1),
                (2, 2),
                (2, 3),
                (2, 4),
                (2, 5),
                (2, 6),
                (2, 7),
                (2, 8),
                (2, 9),
                (2, 10),
                (3, 1),
                (3, 2),
                (3, 3),
                (3, 4),
                (3, 5),
                (3, 6),
                (3, 7),
                (4, 1),
                (4, 2),
                (4, 3),
                (4, 4),
                (4, 5),
                (4, 6),
                (5, 1),
                (6, 1),
                (7, 1),
                (8, 1),
            )
        }
    }

    #[inline(always)]
    unsafe fn run<T: Load16>(
        m: &Matrix,
        w: &[T],
        blocks: Range<usize>,
        xs: &[&[f32]],
        out: *mut f32,
        plan: Plan,
    ) {
        // SAFETY: the caller's contract (see `product_part`).
        unsafe { walk_tiles::<T, Zmm>(m, w, blocks, xs, out, plan) }
    }

    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    pub(super) unsafe fn run_f32(
        m: &Matrix,
        w: &[f32],
        blocks: Range<usize>,
        xs: &[&[f32]],
        out: *mut f32,
        plan: Plan,
    ) {
        unsafe { run(m, w, blocks, xs, out, plan) }
    }

    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    pub(super) unsafe fn run_f16(
        m: &Matrix,
        w: &[u16],
        blocks: Range<usize>,
        xs: &[&[f32]],
        out: *mut f32,
        plan: Plan,
    ) {
        unsafe { run(m, w, blocks, xs, out, plan) }
    }
}

#[cfg(target_arch = "x86_64")]
// Index loops over the tile's const dimensions read like the register tile they unroll to.
#[allow(clippy::needless_range_loop)]
mod avx2 {
    use std::arch::x86_64::*;
    use std::ops::Range;

    use super::{CHAINS, LANES, Matrix, Plan, Tile, Tiles, walk_tiles};

    /// 16 weights at `p` widened to two 8-lane halves.
    pub(super) trait Load16: Copy {
        unsafe fn load16(p: *const Self) -> [__m256; 2];
    }
    impl Load16 for f32 {
        #[inline(always)]
        unsafe fn load16(p: *const f32) -> [__m256; 2] {
            unsafe { [_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8))] }
        }
    }
    impl Load16 for u16 {
        #[inline(always)]
        unsafe fn load16(p: *const u16) -> [__m256; 2] {
            unsafe {
                let q = p as *const __m128i;
                [
                    _mm256_cvtph_ps(_mm_loadu_si128(q)),
                    _mm256_cvtph_ps(_mm_loadu_si128(q.add(1))),
                ]
            }
        }
    }

    /// `S` streams x `P` blocks (two halves each) over one chunk: `2 S P` accumulators, each
    /// half an output block's chain.
    #[inline(always)]
    unsafe fn tile<T: Load16, const S: usize, const P: usize>(t: &Tile<T>) {
        unsafe {
            let mut acc = [[[_mm256_setzero_ps(); 2]; P]; S];
            for s in 0..S {
                for p in 0..P {
                    for h in 0..2 {
                        let at = p * LANES + 8 * h;
                        acc[s][p][h] = if t.first {
                            _mm256_loadu_ps(t.bias.add(at))
                        } else {
                            _mm256_loadu_ps(t.out.add(s * t.ld + at))
                        };
                    }
                }
            }
            for k in 0..t.kn {
                for p in 0..P {
                    let wv = T::load16(t.w.add(p * t.wstride + k * LANES));
                    for s in 0..S {
                        let xb = _mm256_set1_ps(*t.xs[s].add(k));
                        for h in 0..2 {
                            acc[s][p][h] = _mm256_fmadd_ps(wv[h], xb, acc[s][p][h]);
                        }
                    }
                }
            }
            for s in 0..S {
                for p in 0..P {
                    for h in 0..2 {
                        _mm256_storeu_ps(t.out.add(s * t.ld + p * LANES + 8 * h), acc[s][p][h]);
                    }
                }
            }
        }
    }

    /// The ymm tiles.
    struct Ymm;

    impl<T: Load16> Tiles<T> for Ymm {
        /// One, or up to 4 where the streams alone would give a tile too few chains.
        #[inline(always)]
        fn max_blocks(streams: usize) -> usize {
            CHAINS.div_ceil(2 * streams).clamp(1, 4)
        }

        /// Within the 16 registers: `2 S P` accumulators, a block's two weight halves and a
        /// broadcast.
        #[inline(always)]
        fn max_streams(p: usize) -> usize {
            [0, 6, 3, 1, 1][p]
        }

        #[inline(always)]
        unsafe fn tile(p: usize, s: usize, t: &Tile<T>) {
            // SAFETY: the caller's contract; each arm computes the tile of the shape it is given.
            unsafe {
                match (p, s) {
                    (1, 1) => tile::<T, 1, 1>(t),
                    (1, 2) => tile::<T, 2, 1>(t),
                    (1, 3) => tile::<T, 3, 1>(t),
                    (1, 4) => tile::<T, 4, 1>(t),
                    (1, 5) => tile::<T, 5, 1>(t),
                    (1, 6) => tile::<T, 6, 1>(t),
                    (2, 1) => tile::<T, 1, 2>(t),
                    (2, 2) => tile::<T, 2, 2>(t),
                    (2, 3) => tile::<T, 3, 2>(t),
                    (3, 1) => tile::<T, 1, 3>(t),
                    (4, 1) => tile::<T, 1, 4>(t),
                    _ => unreachable!("tile {p} x {s}"),
                }
            }
        }
    }

    #[inline(always)]
    unsafe fn run<T: Load16>(
        m: &Matrix,
        w: &[T],
        blocks: Range<usize>,
        xs: &[&[f32]],
        out: *mut f32,
        plan: Plan,
    ) {
        // SAFETY: the caller's contract (see `product_part`).
        unsafe { walk_tiles::<T, Ymm>(m, w, blocks, xs, out, plan) }
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn run_f32(
        m: &Matrix,
        w: &[f32],
        blocks: Range<usize>,
        xs: &[&[f32]],
        out: *mut f32,
        plan: Plan,
    ) {
        unsafe { run(m, w, blocks, xs, out, plan) }
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn run_f16(
        m: &Matrix,
        w: &[u16],
        blocks: Range<usize>,
        xs: &[&[f32]],
        out: *mut f32,
        plan: Plan,
    ) {
        unsafe { run(m, w, blocks, xs, out, plan) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random matrix and histories.
    fn fixture(rows: usize, cols: usize, streams: usize) -> (Vec<f32>, Vec<f32>, Vec<Vec<f32>>) {
        let mut state = 0x9e37_79b9_u32 ^ (rows * 31 + cols * 7 + streams) as u32;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state as f32 / u32::MAX as f32) * 2.0 - 1.0
        };
        let w = (0..rows * cols).map(|_| next() * 0.1).collect();
        let bias = (0..rows).map(|_| next()).collect();
        let xs = (0..streams)
            .map(|_| (0..cols + 3).map(|_| next()).collect())
            .collect();
        (w, bias, xs)
    }

    /// Every path against a plain f64 reference, across odd sizes (partial blocks, every tile
    /// shape and block- and stream-group remainder, chunked reductions), with a sentinel after
    /// each stream's row to catch stray writes.
    #[test]
    fn every_kernel_path_equals_the_reference_product() {
        for &(rows, cols) in &[
            (1, 7),
            (16, 128),
            (40, 33),
            (64, 515),
            (128, 2051),
            (200, 9),
        ] {
            for streams in [1, 2, 3, 5, 7, 8, 11, 13, 16, 17] {
                let (w, bias, xs) = fixture(rows, cols, streams);
                let refs: Vec<&[f32]> = xs.iter().map(|x| &x[..]).collect();
                for precision in [Precision::F32, Precision::F16] {
                    let m = Matrix::new(&w, &bias, rows, cols, precision);
                    let round = |v: f32| match precision {
                        Precision::F32 => v as f64,
                        Precision::F16 => f16::from_f32(v).to_f32() as f64,
                    };
                    let ld = m.ld();
                    for path in KernelPath::available() {
                        let mut out = vec![f32::NAN; streams * ld + 1];
                        product(&m, &refs, &mut out, path);
                        assert!(out[streams * ld].is_nan(), "{path:?} wrote past the end");
                        for (s, x) in xs.iter().enumerate() {
                            for o in 0..ld {
                                let want = if o < rows {
                                    bias[o] as f64
                                        + (0..cols)
                                            .map(|k| round(w[o * cols + k]) * x[k] as f64)
                                            .sum::<f64>()
                                } else {
                                    0.0
                                };
                                let got = out[s * ld + o] as f64;
                                assert!(
                                    (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                                    "{path:?} {precision:?} {rows}x{cols} streams {streams}: \
                                     out[{s}][{o}] = {got}, want {want}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    /// Every output is one chain in column order, so a stream's outputs are the same bits
    /// whatever other streams share its product (a batch's promise that each stream sounds as
    /// it would alone), chunked or not, at every tile shape and on every path.
    #[test]
    fn a_streams_outputs_do_not_depend_on_the_other_streams() {
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for &(rows, cols) in &[(40, 33), (128, 2051), (200, 9), (256, 130)] {
            let (w, bias, xs) = fixture(rows, cols, 17);
            let refs: Vec<&[f32]> = xs.iter().map(|x| &x[..]).collect();
            for precision in [Precision::F32, Precision::F16] {
                let m = Matrix::new(&w, &bias, rows, cols, precision);
                let ld = m.ld();
                for path in KernelPath::available() {
                    let alone: Vec<Vec<u32>> = refs
                        .iter()
                        .map(|x| {
                            let mut out = vec![0.0; ld];
                            product(&m, &[x], &mut out, path);
                            bits(&out)
                        })
                        .collect();
                    for n in [2, 3, 4, 5, 7, 8, 12, 13, 16, 17] {
                        let mut out = vec![0.0; n * ld];
                        product(&m, &refs[..n], &mut out, path);
                        for (s, row) in out.chunks_exact(ld).enumerate() {
                            assert_eq!(
                                bits(row),
                                alone[s],
                                "{path:?} {precision:?} {rows}x{cols}: stream {s} of {n}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// The threaded split writes only its own part, and the same bits as the whole product.
    #[test]
    fn a_part_writes_only_its_blocks_or_streams_and_the_same_bits() {
        for streams in [1, 3, 5, 16] {
            let (rows, cols) = (64, 1000);
            let (w, bias, xs) = fixture(rows, cols, streams);
            let refs: Vec<&[f32]> = xs.iter().map(|x| &x[..]).collect();
            let m = Matrix::new(&w, &bias, rows, cols, Precision::F32);
            let ld = m.ld();
            let plan = Plan::new(streams, cols);
            for path in KernelPath::available() {
                let mut full = vec![0.0; streams * ld];
                product(&m, &refs, &mut full, path);
                let mut part = vec![f32::NAN; streams * ld];
                // SAFETY: `part` holds every stream's row; this thread is the only user.
                unsafe { product_part(&m, 1..3, &refs, part.as_mut_ptr(), path, plan) };
                for s in 0..streams {
                    for o in 0..ld {
                        let v = part[s * ld + o];
                        if (16..48).contains(&o) {
                            assert_eq!(v, full[s * ld + o], "{path:?}");
                        } else {
                            assert!(v.is_nan(), "{path:?} wrote out[{s}][{o}]");
                        }
                    }
                }
                // By streams: the last streams only, same bits.
                let from = streams / 2;
                let mut part = vec![f32::NAN; streams * ld];
                // SAFETY: as above; the pointer is at stream `from`'s row.
                unsafe {
                    let at = part.as_mut_ptr().add(from * ld);
                    product_part(&m, 0..m.blocks(), &refs[from..], at, path, plan);
                }
                assert!(part[..from * ld].iter().all(|v| v.is_nan()), "{path:?}");
                assert_eq!(part[from * ld..], full[from * ld..], "{path:?} {streams}");
            }
        }
    }
}
