//! The residual stack of a WaveNet as one fused operation with a hand-written backward.
//!
//! Composed from burn ops, every layer of the stack is a dilated convolution, a chunk, two
//! activations, a product, two 1×1 convolutions and two sums, each a pass over memory with its
//! own autodiff node; on the CPU those passes and burn's convolution paths for thin matrices
//! cost several times the arithmetic. Here the stack runs in a channels-last layout
//! (`[batch][time][channels]`, rows are samples), where every convolution is a plain matrix
//! product (gemm) and the causal shift of the dilated tap is an offset of `d` rows. Rows are cut
//! into tiles that rayon spreads over the cores; a tile's gate, residual and skip products run
//! while its pre-activation is still in cache.
//!
//! The forward pass keeps each layer's input and pre-activation; the backward pass recomputes
//! the gate from them, then per layer:
//! - `ga = gx · Wres + gskip · Wskip`, `gh` from the gate's derivative,
//! - weight gradients `gh^T x` (both taps, the lagged one per sequence) and `[gx, gskip]^T a`,
//! - `gx += gh · W_now + (gh shifted back by d) · W_lag`.
//!
//! [`WaveNetStackBackend`] is the burn backend extension that routes tensors to the host code
//! (Flex, with and without autodiff); `model::wavenet` composes burn ops on other backends.

use std::sync::Arc;

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension, tensor::FloatTensor};
use burn::prelude::*;

use crate::cpu::{ScratchPool, wide};
use crate::model::flex_io::{dims, flex, values};
use rayon::prelude::*;

/// Samples per task: a tile's pre-activation (`TILE x 2R` floats) stays in L2.
pub(super) const TILE: usize = 256;

/// Taps of every dilated convolution of the stack (tap 0 sees `x[t - d]`, tap 1 sees `x[t]`).
const TAPS: usize = 2;

/// Shapes of one call of the fused residual stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackShape {
    /// Sequences in the batch.
    pub batch: usize,
    /// Samples per sequence.
    pub time: usize,
    /// Residual channels `R`.
    pub residual: usize,
    /// Skip channels `S`.
    pub skip: usize,
    /// Residual layers.
    pub layers: usize,
    /// Layers per dilation cycle: layer `l` has dilation `2^(l % layers_per_stack)`.
    pub layers_per_stack: usize,
    /// Samples per frame of the gate bias: sample `t` of a sequence takes frame `t / hop`
    /// (local conditioning; `hop >= time` is one bias for the whole sequence).
    pub hop: usize,
}

impl StackShape {
    /// Dilation of layer `l`, in samples.
    pub fn dilation(&self, l: usize) -> usize {
        1 << (l % self.layers_per_stack)
    }

    fn rows(&self) -> usize {
        self.batch * self.time
    }

    /// Frames of the gate bias per sequence.
    pub fn frames(&self) -> usize {
        self.time.div_ceil(self.hop).max(1)
    }
}

/// Weights of the whole stack in burn's layouts, layers stacked on the first axis.
#[derive(Clone, Copy, Debug)]
pub struct StackWeights<'a> {
    /// `[layer][2R][R][2]`: the dilated kernels, tanh half of the outputs first.
    pub dilated: &'a [f32],
    /// `[layer][2R]`: their biases.
    pub dilated_bias: &'a [f32],
    /// `[layer][R + S][R]`: the residual 1×1 kernel's rows, then the skip kernel's.
    pub out: &'a [f32],
    /// `[layer][R + S]`: their biases.
    pub out_bias: &'a [f32],
    /// `[batch][frame][layer][2R]`: a bias inside the gate per sequence and frame (genre and
    /// control conditioning).
    pub gate_bias: &'a [f32],
}

/// Gradients of every input of the stack, in the inputs' layouts.
#[derive(Debug)]
pub struct StackGrads {
    /// `[batch][time][R]`.
    pub input: Vec<f32>,
    /// `[layer][2R][R][2]`.
    pub dilated: Vec<f32>,
    /// `[layer][2R]`.
    pub dilated_bias: Vec<f32>,
    /// `[layer][R + S][R]`.
    pub out: Vec<f32>,
    /// `[layer][R + S]`.
    pub out_bias: Vec<f32>,
    /// `[batch][frame][layer][2R]`.
    pub gate_bias: Vec<f32>,
}

/// What the forward pass keeps for the backward pass.
#[derive(Debug)]
pub struct StackSaved {
    shape: StackShape,
    dilated: Vec<f32>,
    out: Vec<f32>,
    /// Per layer, its input `[batch][time][R]`.
    inputs: Vec<Vec<f32>>,
    /// Per layer, its gate's pre-activation `[batch][time][2R]` (biases included).
    pre: Vec<Vec<f32>>,
}

/// Recycled buffers for the per-layer state and the head's tiles.
///
/// A wavenet-small step keeps ~120 MB per sequence; see [`ScratchPool`] for why they are kept.
static POOL: ScratchPool<f32> = ScratchPool::new(1 << 30);

/// A buffer of `len` values, as it was left (every caller overwrites all of it).
pub(super) fn take(len: usize) -> Vec<f32> {
    POOL.take(len)
}

/// Hand a buffer back to the pool.
pub(super) fn give(v: Vec<f32>) {
    POOL.give(v);
}

impl Drop for StackSaved {
    fn drop(&mut self) {
        for v in self.inputs.drain(..).chain(self.pre.drain(..)) {
            give(v);
        }
    }
}

/// A strided read-only matrix starting at the start of `data`.
#[derive(Clone, Copy)]
pub(super) struct View<'a> {
    pub(super) data: &'a [f32],
    pub(super) row_stride: usize,
    pub(super) col_stride: usize,
}

impl<'a> View<'a> {
    pub(super) fn rows(data: &'a [f32], row_stride: usize) -> Self {
        Self {
            data,
            row_stride,
            col_stride: 1,
        }
    }
}

fn check_bounds(len: usize, rows: usize, cols: usize, rs: usize, cs: usize) {
    if rows > 0 && cols > 0 {
        assert!(
            (rows - 1) * rs + (cols - 1) * cs < len,
            "matrix view out of bounds"
        );
    }
}

/// `dst (+)= lhs · rhs` with `lhs` `m x k`, `rhs` `k x n`, `dst` `m x n` (row-major, stride
/// `dst_rs` between rows, `dst_cs` between columns); single-threaded, the callers split rows.
#[allow(clippy::too_many_arguments)] // the shape of a gemm call
pub(super) fn matmul(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    (dst_rs, dst_cs): (usize, usize),
    accumulate: bool,
    lhs: View,
    rhs: View,
) {
    if m == 0 || n == 0 {
        return;
    }
    check_bounds(dst.len(), m, n, dst_rs, dst_cs);
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                for j in 0..n {
                    dst[i * dst_rs + j * dst_cs] = 0.0;
                }
            }
        }
        return;
    }
    check_bounds(lhs.data.len(), m, k, lhs.row_stride, lhs.col_stride);
    check_bounds(rhs.data.len(), k, n, rhs.row_stride, rhs.col_stride);
    // SAFETY: the three views were checked to lie inside their slices, and `dst` is borrowed
    // mutably, so it aliases neither operand.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            dst_cs as isize,
            dst_rs as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// `lhs^T · rhs` over `rows` rows (`lhs` `rows x m`, `rhs` `rows x n`, both row-major and
/// contiguous): the weight-gradient shape, a long reduction split over the cores.
pub(super) fn transposed_product(
    rows: usize,
    m: usize,
    lhs: &[f32],
    n: usize,
    rhs: &[f32],
) -> Vec<f32> {
    // Fixed-size parts, not one per thread, so the sums do not depend on the core count.
    const PART: usize = 2048;
    let parts = rows.div_ceil(PART).max(1);
    let per = PART;
    (0..parts)
        .into_par_iter()
        .map(|p| {
            let (r0, r1) = (p * per, ((p + 1) * per).min(rows));
            let mut acc = vec![0.0f32; m * n];
            if r0 < r1 {
                let lhs_t = View {
                    data: &lhs[r0 * m..r1 * m],
                    row_stride: 1,
                    col_stride: m,
                };
                matmul(
                    (m, n, r1 - r0),
                    &mut acc,
                    (n, 1),
                    false,
                    lhs_t,
                    View::rows(&rhs[r0 * n..r1 * n], n),
                );
            }
            acc
        })
        .collect::<Vec<_>>()
        .into_iter()
        // Summed in a fixed order (rayon's reduce tree depends on work stealing): the same
        // inputs give the same bits, so training stays reproducible.
        .reduce(|mut a, b| {
            a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
            a
        })
        .unwrap_or_else(|| vec![0.0f32; m * n])
}

/// Sum of the rows of a row-major `[rows][cols]` matrix, added into `out`.
pub(super) fn add_column_sums(data: &[f32], cols: usize, out: &mut [f32]) {
    for row in data.chunks_exact(cols) {
        out.iter_mut().zip(row).for_each(|(o, v)| *o += v);
    }
}

/// tanh to within a few ulp, branch-free so that loops over it vectorise (Eigen's rational
/// approximation; std's tanh is a libm call per value).
#[inline(always)]
// inlined into the AVX2 loops of the gate
// The coefficients are Eigen's, as published; truncating them would change the result.
#[allow(clippy::excessive_precision)]
pub fn fast_tanh(x: f32) -> f32 {
    const CLAMP: f32 = 7.905_311;
    let x = x.clamp(-CLAMP, CLAMP);
    let x2 = x * x;
    let mut p = x2 * -2.760_768_5e-16 + 2.000_187_9e-13;
    p = x2 * p + -8.604_671_5e-11;
    p = x2 * p + 5.122_297e-8;
    p = x2 * p + 1.485_722_4e-5;
    p = x2 * p + 6.372_619_3e-4;
    p = x2 * p + 4.893_524_6e-3;
    p *= x;
    let mut q = x2 * 1.198_258_4e-6 + 1.185_347_1e-4;
    q = x2 * q + 2.268_434_6e-3;
    q = x2 * q + 4.893_525_2e-3;
    p / q
}

/// Sigmoid through tanh (`σ(x) = (1 + tanh(x / 2)) / 2`), vectorisable like [`fast_tanh`].
#[inline(always)]
pub fn fast_sigmoid(x: f32) -> f32 {
    0.5 + 0.5 * fast_tanh(0.5 * x)
}

/// The gate `tanh(f) σ(g)` of each row `[f (R), g (R)]` of `pre` into the rows of `a`.
fn gate(pre: &[f32], r: usize, a: &mut [f32]) {
    wide(
        #[inline(always)]
        || {
            for (h, out) in pre.chunks_exact(2 * r).zip(a.chunks_exact_mut(r)) {
                let (f, g) = h.split_at(r);
                for ((o, &f), &g) in out.iter_mut().zip(f).zip(g) {
                    *o = fast_tanh(f) * fast_sigmoid(g);
                }
            }
        },
    )
}

/// The gate's backward, row by row: from the pre-activation rows `pre` and the gradient `ga`
/// of the gate's output, the gradient `gh` of the pre-activation, and the gate's output `a`
/// (recomputed rather than kept).
fn gate_backward(pre: &[f32], ga: &[f32], r: usize, gh: &mut [f32], a: &mut [f32]) {
    wide(
        #[inline(always)]
        || {
            let rows = pre
                .chunks_exact(2 * r)
                .zip(gh.chunks_exact_mut(2 * r))
                .zip(a.chunks_exact_mut(r))
                .zip(ga.chunks_exact(r));
            for (((h, gh), a), ga) in rows {
                // Equal lengths up front let the loop run without bounds checks, vectorised.
                let (f, q) = h.split_at(r);
                let (gf, gq) = gh.split_at_mut(r);
                let (f, q, ga, gf, gq, a) = (
                    &f[..r],
                    &q[..r],
                    &ga[..r],
                    &mut gf[..r],
                    &mut gq[..r],
                    &mut a[..r],
                );
                for c in 0..r {
                    let th = fast_tanh(f[c]);
                    let sg = fast_sigmoid(q[c]);
                    a[c] = th * sg;
                    gf[c] = ga[c] * sg * (1.0 - th * th);
                    gq[c] = ga[c] * th * sg * (1.0 - sg);
                }
            }
        },
    )
}

/// Per `[batch][frame][layer]`, the bias added to the pre-activation: dilated bias + gate bias.
fn pre_biases(shape: &StackShape, w: &StackWeights) -> Vec<f32> {
    let two_r = 2 * shape.residual;
    let mut out = w.gate_bias.to_vec();
    for row in out.chunks_exact_mut(shape.layers * two_r) {
        row.iter_mut()
            .zip(w.dilated_bias)
            .for_each(|(o, b)| *o += b);
    }
    out
}

/// One layer's forward on the tiles of every sequence: reads `x` (`[batch][time][R]`), writes
/// `pre` (`[batch][time][2R]`) and `next` (`x` plus the residual branch), adds into `skip`.
#[allow(clippy::too_many_arguments)] // one layer's operands
fn layer_forward(
    shape: &StackShape,
    l: usize,
    w: &StackWeights,
    biases: &[f32],
    x: &[f32],
    pre: &mut [f32],
    next: &mut [f32],
    skip: &mut [f32],
) {
    let (t_len, r, s, d) = (shape.time, shape.residual, shape.skip, shape.dilation(l));
    let (two_r, frames, hop) = (2 * r, shape.frames(), shape.hop);
    let wd = &w.dilated[l * two_r * r * TAPS..][..two_r * r * TAPS];
    let wo = &w.out[l * (r + s) * r..][..(r + s) * r];
    let bo = &w.out_bias[l * (r + s)..][..r + s];
    // Tap k of kernel row o, column i is wd[(o R + i) 2 + k]: as an `[in][out]` matrix, rows
    // step 2 and columns step 2R.
    let tap = |k: usize| View {
        data: &wd[k..],
        row_stride: TAPS,
        col_stride: r * TAPS,
    };
    // The 1×1 kernels are `[out][in]`; their transposes read columns as rows.
    let res_t = View {
        data: &wo[..r * r],
        row_stride: 1,
        col_stride: r,
    };
    let skip_t = View {
        data: &wo[r * r..],
        row_stride: 1,
        col_stride: r,
    };
    pre.par_chunks_mut(t_len * two_r)
        .zip(next.par_chunks_mut(t_len * r))
        .zip(skip.par_chunks_mut(t_len * s))
        .enumerate()
        .for_each(|(b, ((pre_b, next_b), skip_b))| {
            let x_b = &x[b * t_len * r..][..t_len * r];
            let bias = |t: usize| {
                let f = (b * frames + t / hop) * shape.layers + l;
                &biases[f * two_r..][..two_r]
            };
            pre_b
                .par_chunks_mut(TILE * two_r)
                .zip(next_b.par_chunks_mut(TILE * r))
                .zip(skip_b.par_chunks_mut(TILE * s))
                .enumerate()
                .for_each_init(Vec::new, |a, (j, ((pre_t, next_t), skip_o))| {
                    let n = pre_t.len() / two_r;
                    let (t0, t1) = (j * TILE, j * TILE + n);
                    for (i, row) in pre_t.chunks_exact_mut(two_r).enumerate() {
                        row.copy_from_slice(bias(t0 + i));
                    }
                    let x_t = View::rows(&x_b[t0 * r..t1 * r], r);
                    matmul((n, two_r, r), pre_t, (two_r, 1), true, x_t, tap(1));
                    // The causal lag: rows t >= d see x[t - d]; earlier rows see the zero pad.
                    let ts = t0.max(d);
                    if ts < t1 {
                        let lagged = View::rows(&x_b[(ts - d) * r..(t1 - d) * r], r);
                        let rows = &mut pre_t[(ts - t0) * two_r..];
                        matmul((t1 - ts, two_r, r), rows, (two_r, 1), true, lagged, tap(0));
                    }
                    a.resize(n * r, 0.0);
                    gate(pre_t, r, a);
                    let a_v = View::rows(a, r);
                    next_t.copy_from_slice(&x_b[t0 * r..t1 * r]);
                    for row in next_t.chunks_exact_mut(r) {
                        row.iter_mut().zip(&bo[..r]).for_each(|(o, b)| *o += b);
                    }
                    matmul((n, r, r), next_t, (r, 1), true, a_v, res_t);
                    for row in skip_o.chunks_exact_mut(s) {
                        row.iter_mut().zip(&bo[r..]).for_each(|(o, b)| *o += b);
                    }
                    matmul((n, s, r), skip_o, (s, 1), true, a_v, skip_t);
                });
        });
}

/// The stack's forward pass: the sum of every layer's skip output, `[batch][time][S]`, for the
/// input `x` (`[batch][time][R]`), and, if `keep`, what the backward pass needs.
pub fn forward(
    shape: &StackShape,
    x: &[f32],
    w: &StackWeights,
    keep: bool,
) -> (Vec<f32>, Option<StackSaved>) {
    let (rows, r, s) = (shape.rows(), shape.residual, shape.skip);
    assert_eq!(x.len(), rows * r, "input is not [batch][time][R]");
    assert_eq!(w.dilated.len(), shape.layers * 2 * r * r * TAPS);
    assert_eq!(w.dilated_bias.len(), shape.layers * 2 * r);
    assert_eq!(w.out.len(), shape.layers * (r + s) * r);
    assert_eq!(w.out_bias.len(), shape.layers * (r + s));
    assert!(shape.hop >= 1, "a gate-bias frame of zero samples");
    assert_eq!(
        w.gate_bias.len(),
        shape.batch * shape.frames() * shape.layers * 2 * r,
        "gate bias is not [batch][frame][layer][2R]"
    );
    let biases = pre_biases(shape, w);
    let mut skip = vec![0.0f32; rows * s];
    let mut inputs: Vec<Vec<f32>> = Vec::new();
    let mut pre_all: Vec<Vec<f32>> = Vec::new();
    let mut x_cur = take(rows * r);
    x_cur.copy_from_slice(x);
    let mut pre = take(rows * 2 * r);
    let mut next = take(rows * r);
    for l in 0..shape.layers {
        layer_forward(shape, l, w, &biases, &x_cur, &mut pre, &mut next, &mut skip);
        if keep {
            // The layer's input and pre-activation move into the saved state; fresh buffers
            // take their place.
            inputs.push(std::mem::replace(&mut x_cur, next));
            pre_all.push(std::mem::replace(&mut pre, take(rows * 2 * r)));
            next = take(rows * r);
        } else {
            std::mem::swap(&mut x_cur, &mut next);
        }
    }
    // The last layer's residual output is not used.
    for v in [pre, next, x_cur] {
        give(v);
    }
    let saved = keep.then(|| StackSaved {
        shape: *shape,
        dilated: w.dilated.to_vec(),
        out: w.out.to_vec(),
        inputs,
        pre: pre_all,
    });
    (skip, saved)
}

/// The stack's backward pass for the gradient `gskip` (`[batch][time][S]`) of its output.
pub fn backward(saved: &StackSaved, gskip: &[f32]) -> StackGrads {
    let shape = &saved.shape;
    let (rows, t_len, r, s, layers) = (
        shape.rows(),
        shape.time,
        shape.residual,
        shape.skip,
        shape.layers,
    );
    let two_r = 2 * r;
    assert_eq!(gskip.len(), rows * s, "gradient is not [batch][time][S]");
    let mut g = StackGrads {
        input: vec![0.0; rows * r],
        dilated: vec![0.0; layers * two_r * r * TAPS],
        dilated_bias: vec![0.0; layers * two_r],
        out: vec![0.0; layers * (r + s) * r],
        out_bias: vec![0.0; layers * (r + s)],
        gate_bias: vec![0.0; shape.batch * shape.frames() * layers * two_r],
    };
    let mut gskip_sum = vec![0.0f32; s];
    add_column_sums(gskip, s, &mut gskip_sum);
    // The gradient reaching the current layer's output on the residual path; the last layer's
    // residual output is not used.
    let gx = &mut g.input;
    let mut gh = take(rows * two_r);
    let mut a = take(rows * r);
    for l in (0..layers).rev() {
        let d = shape.dilation(l);
        let wd = &saved.dilated[l * two_r * r * TAPS..][..two_r * r * TAPS];
        let wo = &saved.out[l * (r + s) * r..][..(r + s) * r];
        let (x_l, pre_l) = (&saved.inputs[l], &saved.pre[l]);
        // Pass A, per tile: the gate's gradient and its recomputed output.
        {
            let gx_r: &[f32] = gx;
            gh.par_chunks_mut(TILE * two_r)
                .zip(a.par_chunks_mut(TILE * r))
                .zip(pre_l.par_chunks(TILE * two_r))
                .enumerate()
                .for_each_init(Vec::new, |ga, (j, ((gh_t, a_t), pre_t))| {
                    let n = pre_t.len() / two_r;
                    let (t0, t1) = (j * TILE, j * TILE + n);
                    ga.resize(n * r, 0.0);
                    let res = View::rows(&wo[..r * r], r);
                    let skp = View::rows(&wo[r * r..], r);
                    let gx_t = View::rows(&gx_r[t0 * r..t1 * r], r);
                    let gs_t = View::rows(&gskip[t0 * s..t1 * s], s);
                    matmul((n, r, r), ga, (r, 1), false, gx_t, res);
                    matmul((n, r, s), ga, (r, 1), true, gs_t, skp);
                    gate_backward(pre_t, ga, r, gh_t, a_t);
                });
        }
        // Weight and bias gradients: long reductions over every row.
        let g_res = transposed_product(rows, r, gx, r, &a);
        let g_skip = transposed_product(rows, s, gskip, r, &a);
        let g_out = &mut g.out[l * (r + s) * r..][..(r + s) * r];
        g_out[..r * r].copy_from_slice(&g_res);
        g_out[r * r..].copy_from_slice(&g_skip);
        let g_ob = &mut g.out_bias[l * (r + s)..][..r + s];
        add_column_sums(gx, r, &mut g_ob[..r]);
        g_ob[r..].copy_from_slice(&gskip_sum);
        let g_now = transposed_product(rows, two_r, &gh, r, x_l);
        let mut g_lag = vec![0.0f32; two_r * r];
        for b in 0..shape.batch {
            if d < t_len {
                let n = t_len - d;
                let gh_b = &gh[(b * t_len + d) * two_r..][..n * two_r];
                let x_b = &x_l[b * t_len * r..][..n * r];
                let part = transposed_product(n, two_r, gh_b, r, x_b);
                g_lag.iter_mut().zip(&part).for_each(|(o, v)| *o += v);
            }
            let gh_b = &gh[b * t_len * two_r..][..t_len * two_r];
            for (f, part) in gh_b.chunks(shape.hop * two_r).enumerate() {
                let mut sums = vec![0.0f32; two_r];
                add_column_sums(part, two_r, &mut sums);
                let at = ((b * shape.frames() + f) * layers + l) * two_r;
                g.gate_bias[at..][..two_r].copy_from_slice(&sums);
                g.dilated_bias[l * two_r..][..two_r]
                    .iter_mut()
                    .zip(&sums)
                    .for_each(|(o, v)| *o += v);
            }
        }
        let g_wd = &mut g.dilated[l * two_r * r * TAPS..][..two_r * r * TAPS];
        for (oi, (now, lag)) in g_now.iter().zip(&g_lag).enumerate() {
            g_wd[oi * TAPS] = *lag;
            g_wd[oi * TAPS + 1] = *now;
        }
        // Pass B, per tile: the gradient reaching the layer's input (the residual path carries
        // gx through unchanged).
        let tap = |k: usize| View {
            data: &wd[k..],
            row_stride: r * TAPS,
            col_stride: TAPS,
        };
        let gh_r: &[f32] = &gh;
        gx.par_chunks_mut(t_len * r)
            .enumerate()
            .for_each(|(b, gx_b)| {
                let gh_b = &gh_r[b * t_len * two_r..][..t_len * two_r];
                gx_b.par_chunks_mut(TILE * r)
                    .enumerate()
                    .for_each(|(j, gx_t)| {
                        let n = gx_t.len() / r;
                        let (t0, t1) = (j * TILE, j * TILE + n);
                        let gh_t = View::rows(&gh_b[t0 * two_r..t1 * two_r], two_r);
                        matmul((n, r, two_r), gx_t, (r, 1), true, gh_t, tap(1));
                        // x[t] fed the lagged tap of output t + d.
                        let te = t1.min(t_len.saturating_sub(d));
                        if t0 < te {
                            let later =
                                View::rows(&gh_b[(t0 + d) * two_r..(te + d) * two_r], two_r);
                            matmul((te - t0, r, two_r), gx_t, (r, 1), true, later, tap(0));
                        }
                    });
            });
    }
    give(gh);
    give(a);
    g
}

/// A burn backend that can run the fused WaveNet residual stack.
///
/// Implemented for Flex, plain and under autodiff (with its own backward). Another backend joins
/// by implementing it and being listed in the attribute; [`supports`] says where the operation
/// may be called, and `model::wavenet` composes burn ops elsewhere.
#[backend_extension(Flex, Autodiff)]
pub trait WaveNetStackBackend: Backend {
    /// The sum of the skip outputs of a stack of gated residual layers; layer `l` has dilation
    /// `2^(l % layers_per_stack)`.
    ///
    /// # Shapes
    /// - input: `[batch, time, R]` (channels last)
    /// - dilated: `[layers, 2R, R, 2]`; dilated_bias: `[layers, 2R]`
    /// - out: `[layers, R + S, R]` (residual rows, then skip rows); out_bias: `[layers, R + S]`
    /// - gate_bias: `[batch, frames, layers, 2R]`, frame `t / hop` for sample `t`, with
    ///   `frames = ceil(time / hop)`
    /// - output: `[batch, time, S]`
    #[allow(clippy::too_many_arguments)] // the operation's tensors and its two sizes
    fn wavenet_stack(
        input: FloatTensor<Self>,
        dilated: FloatTensor<Self>,
        dilated_bias: FloatTensor<Self>,
        out: FloatTensor<Self>,
        out_bias: FloatTensor<Self>,
        gate_bias: FloatTensor<Self>,
        layers_per_stack: usize,
        hop: usize,
    ) -> FloatTensor<Self>;
}

/// The fused residual stack, differentiable; see [`WaveNetStackBackend`] for the shapes.
#[allow(clippy::too_many_arguments)] // the operation's tensors and its two sizes
pub fn wavenet_stack(
    input: Tensor<3>,
    dilated: Tensor<4>,
    dilated_bias: Tensor<2>,
    out: Tensor<3>,
    out_bias: Tensor<2>,
    gate_bias: Tensor<4>,
    layers_per_stack: usize,
    hop: usize,
) -> Tensor<3> {
    Tensor::from_dispatch(<Dispatch as WaveNetStackBackend>::wavenet_stack(
        input.into_dispatch(),
        dilated.into_dispatch(),
        dilated_bias.into_dispatch(),
        out.into_dispatch(),
        out_bias.into_dispatch(),
        gate_bias.into_dispatch(),
        layers_per_stack,
        hop,
    ))
}

/// The shape of a call on Flex tensors, checked.
fn shape_of(
    [input, dilated, out, gate_bias]: [&FlexTensor; 4],
    lps: usize,
    hop: usize,
) -> StackShape {
    let (x, wd, wo, gb) = (dims(input), dims(dilated), dims(out), dims(gate_bias));
    assert_eq!(x.len(), 3, "the stack's input is [batch, time, R]");
    assert_eq!(wd.len(), 4, "dilated kernels are [layers, 2R, R, 2]");
    let (r, layers) = (x[2], wd[0]);
    assert_eq!(
        wd[1..],
        [2 * r, r, TAPS],
        "dilated kernels do not match R = {r}"
    );
    assert!(wo.len() == 3 && wo[0] == layers && wo[2] == r && wo[1] > r);
    assert!(lps >= 1, "zero layers per stack");
    let shape = StackShape {
        batch: x[0],
        time: x[1],
        residual: r,
        skip: wo[1] - r,
        layers,
        layers_per_stack: lps,
        hop: hop.max(1),
    };
    assert_eq!(
        gb[..],
        [shape.batch, shape.frames(), layers, 2 * r],
        "gate bias is not [batch, frames, layers, 2R] for hop {hop}"
    );
    shape
}

/// Run the host forward on Flex tensors.
fn forward_flex(
    [input, dilated, dilated_bias, out, out_bias, gate_bias]: [&FlexTensor; 6],
    (lps, hop): (usize, usize),
    keep: bool,
) -> (FlexTensor, Option<StackSaved>) {
    let shape = shape_of([input, dilated, out, gate_bias], lps, hop);
    let (wd, bd, wo, bo, gb) = (
        values(dilated),
        values(dilated_bias),
        values(out),
        values(out_bias),
        values(gate_bias),
    );
    let w = StackWeights {
        dilated: &wd,
        dilated_bias: &bd,
        out: &wo,
        out_bias: &bo,
        gate_bias: &gb,
    };
    let (skip, saved) = forward(&shape, &values(input), &w, keep);
    (flex(skip, &[shape.batch, shape.time, shape.skip]), saved)
}

impl WaveNetStackBackend for Flex {
    #[allow(clippy::too_many_arguments)] // the operation's tensors and its two sizes
    fn wavenet_stack(
        input: FlexTensor,
        dilated: FlexTensor,
        dilated_bias: FlexTensor,
        out: FlexTensor,
        out_bias: FlexTensor,
        gate_bias: FlexTensor,
        layers_per_stack: usize,
        hop: usize,
    ) -> FlexTensor {
        let args = [&input, &dilated, &dilated_bias, &out, &out_bias, &gate_bias];
        forward_flex(args, (layers_per_stack, hop), false).0
    }
}

#[derive(Debug)]
struct StackBackward;

impl Backward<Flex, 6> for StackBackward {
    type State = Arc<StackSaved>;

    fn backward(self, ops: Ops<Self::State, 6>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        let saved = ops.state;
        let sh = saved.shape;
        let g = backward(&saved, &values(&grad));
        let (l, r, s, b) = (sh.layers, sh.residual, sh.skip, sh.batch);
        let parts: [(Vec<f32>, Vec<usize>); 6] = [
            (g.input, vec![b, sh.time, r]),
            (g.dilated, vec![l, 2 * r, r, TAPS]),
            (g.dilated_bias, vec![l, 2 * r]),
            (g.out, vec![l, r + s, r]),
            (g.out_bias, vec![l, r + s]),
            (g.gate_bias, vec![b, sh.frames(), l, 2 * r]),
        ];
        for (node, (data, shape)) in ops.parents.into_iter().zip(parts) {
            if let Some(node) = node {
                grads.register::<Flex>(node.id, flex(data, &shape));
            }
        }
    }
}

impl<C: CheckpointStrategy> WaveNetStackBackend for Autodiff<Flex, C> {
    #[allow(clippy::too_many_arguments)] // the operation's tensors and its two sizes
    fn wavenet_stack(
        input: FloatTensor<Self>,
        dilated: FloatTensor<Self>,
        dilated_bias: FloatTensor<Self>,
        out: FloatTensor<Self>,
        out_bias: FloatTensor<Self>,
        gate_bias: FloatTensor<Self>,
        layers_per_stack: usize,
        hop: usize,
    ) -> FloatTensor<Self> {
        let nodes = [
            input.node(),
            dilated.node(),
            dilated_bias.node(),
            out.node(),
            out_bias.node(),
            gate_bias.node(),
        ];
        let prims = [
            input.into_primitive(),
            dilated.into_primitive(),
            dilated_bias.into_primitive(),
            out.into_primitive(),
            out_bias.into_primitive(),
            gate_bias.into_primitive(),
        ];
        let args = [
            &prims[0], &prims[1], &prims[2], &prims[3], &prims[4], &prims[5],
        ];
        match StackBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (y, saved) = forward_flex(args, (layers_per_stack, hop), true);
                prep.finish(Arc::new(saved.expect("asked to keep")), y)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(forward_flex(args, (layers_per_stack, hop), false).0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect()
    }

    /// Regression: weight gradients were summed in rayon's work-stealing order, so two runs
    /// on the same inputs could differ in the last bits and training was not reproducible.
    #[test]
    fn stack_gradients_are_bitwise_reproducible() {
        let shape = StackShape {
            batch: 2,
            time: 5000,
            residual: 4,
            skip: 6,
            layers: 3,
            layers_per_stack: 3,
            hop: 64,
        };
        let (r, s, l) = (4, 6, 3);
        let w = [
            noise(l * 2 * r * r * TAPS, 1),
            noise(l * 2 * r, 2),
            noise(l * (r + s) * r, 3),
            noise(l * (r + s), 4),
            noise(shape.batch * shape.frames() * l * 2 * r, 5),
        ];
        let weights = StackWeights {
            dilated: &w[0],
            dilated_bias: &w[1],
            out: &w[2],
            out_bias: &w[3],
            gate_bias: &w[4],
        };
        let x = noise(shape.batch * shape.time * r, 6);
        let g = noise(shape.batch * shape.time * s, 7);
        let run = || {
            let (y, saved) = forward(&shape, &x, &weights, true);
            let grads = backward(&saved.expect("kept"), &g);
            (y, grads.dilated, grads.out, grads.input, grads.gate_bias)
        };
        let first = run();
        for _ in 0..3 {
            assert!(run() == first, "a second run gave different bits");
        }
    }
}
