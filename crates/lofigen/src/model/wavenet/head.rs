//! The output head of a WaveNet and its cross-entropy as one fused operation with a
//! hand-written backward.
//!
//! Composed from burn ops, `relu -> 1×1 -> relu -> 1×1 -> log_softmax -> gather -> mean` and
//! their backward are some twenty passes over `[batch × time, classes]` tensors, each a fresh
//! allocation that page-faults on first touch; on the CPU they cost more than the head's two
//! matrix products. Here rows of samples are cut into tiles that rayon spreads over the cores,
//! and a tile's products, softmax and the softmax's gradient run while it is in cache. The
//! forward pass keeps `dz = softmax(z) - onehot(target)` per row (the gradient of the summed
//! loss with respect to the logits), so the backward pass is four matrix products and two
//! masks.
//!
//! [`WaveNetHeadBackend`] routes tensors to the host code (Flex, with and without autodiff);
//! `model::wavenet` composes burn ops on other backends, and the tests compare the two.

use std::sync::Arc;

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{
    Backend, Dispatch, Flex, backend_extension,
    tensor::{FloatTensor, IntTensor},
};
use burn::prelude::*;
use rayon::prelude::*;

use super::stack::{TILE, View, add_column_sums, give, matmul, take, transposed_product};
use crate::cpu::{LANES, wide};
use crate::model::flex_io::{dims, flex, values};

/// Shapes of one call of the fused head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeadShape {
    /// Rows (`batch × time` samples).
    pub rows: usize,
    /// Skip channels `S` (input and hidden width).
    pub skip: usize,
    /// Classes `Q`.
    pub classes: usize,
}

/// Weights of the head in burn's 1×1 convolution layouts (`[out][in]`).
#[derive(Clone, Copy, Debug)]
pub struct HeadWeights<'a> {
    /// `[S][S]`.
    pub hidden: &'a [f32],
    /// `[S]`.
    pub hidden_bias: &'a [f32],
    /// `[Q][S]`.
    pub out: &'a [f32],
    /// `[Q]`.
    pub out_bias: &'a [f32],
}

/// Gradients of the head's inputs for a loss gradient of 1, in the inputs' layouts.
#[derive(Debug)]
pub struct HeadGrads {
    /// `[rows][S]`.
    pub skips: Vec<f32>,
    /// `[S][S]`.
    pub hidden: Vec<f32>,
    /// `[S]`.
    pub hidden_bias: Vec<f32>,
    /// `[Q][S]`.
    pub out: Vec<f32>,
    /// `[Q]`.
    pub out_bias: Vec<f32>,
}

/// What the forward pass keeps for the backward pass.
#[derive(Debug)]
pub struct HeadSaved {
    shape: HeadShape,
    hidden: Vec<f32>,
    out: Vec<f32>,
    /// `relu(skips)`, `[rows][S]`.
    u: Vec<f32>,
    /// The hidden activation `relu(u W1^T + b1)`, `[rows][S]`.
    h: Vec<f32>,
    /// `softmax(z) - onehot(target)` per row, `[rows][Q]`.
    dz: Vec<f32>,
}

impl Drop for HeadSaved {
    fn drop(&mut self) {
        for v in [&mut self.u, &mut self.h, &mut self.dz] {
            give(std::mem::take(v));
        }
    }
}

/// `e^x` to a few ulp for `x` in `[-87, 88]` (clamped outside), branch-free so that the
/// softmax loop vectorises (Cephes' `expf`; std's exp is a libm call per value).
#[inline(always)]
// The coefficients are Cephes', as published.
#[allow(clippy::excessive_precision)]
pub fn fast_exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split so that `n * LN2_HI` is exact.
    const LN2_HI: f32 = 0.693_359_375;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer (|x log2 e| < 2^22).
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5.000_000_1e-1;
    let y = p * r * r + r + 1.0;
    // 2^n through the exponent bits; n is in [-126, 127] after the clamp.
    y * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// For one row of logits, in place: replaces them with `softmax(z) - onehot(target)` and
/// returns the row's loss `logsumexp(z) - z[target]`.
#[inline(always)]
fn softmax_row(row: &mut [f32], target: usize) -> f64 {
    let picked = row[target];
    let mut m = f32::NEG_INFINITY;
    for &v in row.iter() {
        m = if v > m { v } else { m };
    }
    let mut acc = [0.0f32; LANES];
    let body = row.len() / LANES * LANES;
    let (head, tail) = row.split_at_mut(body);
    for chunk in head.chunks_exact_mut(LANES) {
        for i in 0..LANES {
            let e = fast_exp(chunk[i] - m);
            chunk[i] = e;
            acc[i] += e;
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for v in tail.iter_mut() {
        *v = fast_exp(*v - m);
        sum += *v;
    }
    let inv = 1.0 / sum;
    row.iter_mut().for_each(|d| *d *= inv);
    row[target] -= 1.0;
    f64::from(m) + f64::from(sum).ln() - f64::from(picked)
}

/// `out[i] = relu(x[i])`.
fn relu_into(x: &[f32], out: &mut [f32]) {
    out.iter_mut().zip(x).for_each(|(o, &v)| *o = v.max(0.0));
}

/// The head's forward pass: the mean cross-entropy (nats per sample) of the logits
/// `relu(relu(skips) W1^T + b1) W2^T + b2` against `targets`, and, if `keep`, what the backward
/// pass needs.
pub fn forward(
    shape: &HeadShape,
    skips: &[f32],
    w: &HeadWeights,
    targets: &[usize],
    keep: bool,
) -> (f32, Option<HeadSaved>) {
    let HeadShape {
        rows,
        skip: s,
        classes: q,
    } = *shape;
    assert_eq!(skips.len(), rows * s, "skips are not [rows][S]");
    assert_eq!(targets.len(), rows, "one target per row");
    assert_eq!(w.hidden.len(), s * s);
    assert_eq!(w.hidden_bias.len(), s);
    assert_eq!(w.out.len(), q * s);
    assert_eq!(w.out_bias.len(), q);
    assert!(targets.iter().all(|&t| t < q), "a target is not a class");
    let (mut u, mut h, mut dz) = (take(rows * s), take(rows * s), take(rows * q));
    // The 1×1 kernels are `[out][in]`; their transposes read columns as rows.
    let w1_t = View {
        data: w.hidden,
        row_stride: 1,
        col_stride: s,
    };
    let w2_t = View {
        data: w.out,
        row_stride: 1,
        col_stride: s,
    };
    let partial: Vec<f64> = u
        .par_chunks_mut(TILE * s)
        .zip(h.par_chunks_mut(TILE * s))
        .zip(dz.par_chunks_mut(TILE * q))
        .enumerate()
        .map(|(j, ((u_t, h_t), dz_t))| {
            let n = u_t.len() / s;
            let r0 = j * TILE;
            relu_into(&skips[r0 * s..(r0 + n) * s], u_t);
            for row in h_t.chunks_exact_mut(s) {
                row.copy_from_slice(w.hidden_bias);
            }
            matmul((n, s, s), h_t, (s, 1), true, View::rows(u_t, s), w1_t);
            h_t.iter_mut().for_each(|v| *v = v.max(0.0));
            // The logits go into `dz` and are replaced there by the softmax's gradient.
            for row in dz_t.chunks_exact_mut(q) {
                row.copy_from_slice(w.out_bias);
            }
            matmul((n, q, s), dz_t, (q, 1), true, View::rows(h_t, s), w2_t);
            let mut loss = 0.0f64;
            wide(
                #[inline(always)]
                || {
                    for (row, &t) in dz_t.chunks_exact_mut(q).zip(&targets[r0..r0 + n]) {
                        loss += softmax_row(row, t);
                    }
                },
            );
            loss
        })
        .collect();
    // Summed in row order, so the loss does not depend on how rayon split the work.
    let loss = (partial.iter().sum::<f64>() / rows.max(1) as f64) as f32;
    if !keep {
        for v in [u, h, dz] {
            give(v);
        }
        return (loss, None);
    }
    let saved = HeadSaved {
        shape: *shape,
        hidden: w.hidden.to_vec(),
        out: w.out.to_vec(),
        u,
        h,
        dz,
    };
    (loss, Some(saved))
}

/// The head's backward pass for the gradient `grad` of its (mean) loss.
pub fn backward(saved: &HeadSaved, grad: f32) -> HeadGrads {
    let HeadShape {
        rows,
        skip: s,
        classes: q,
    } = saved.shape;
    // d(mean)/d(sum) times the incoming gradient.
    let c = grad / rows.max(1) as f32;
    let mut gh = take(rows * s);
    let mut g_skips = vec![0.0f32; rows * s];
    let (w1, w2) = (View::rows(&saved.hidden, s), View::rows(&saved.out, s));
    gh.par_chunks_mut(TILE * s)
        .zip(g_skips.par_chunks_mut(TILE * s))
        .enumerate()
        .for_each(|(j, (gh_t, gs_t))| {
            let n = gh_t.len() / s;
            let (r0, r1) = (j * TILE, j * TILE + n);
            let dz_t = View::rows(&saved.dz[r0 * q..r1 * q], q);
            matmul((n, s, q), gh_t, (s, 1), false, dz_t, w2);
            let h_t = &saved.h[r0 * s..r1 * s];
            gh_t.iter_mut()
                .zip(h_t)
                .for_each(|(g, &h)| *g = if h > 0.0 { c * *g } else { 0.0 });
            matmul((n, s, s), gs_t, (s, 1), false, View::rows(gh_t, s), w1);
            let u_t = &saved.u[r0 * s..r1 * s];
            gs_t.iter_mut()
                .zip(u_t)
                .for_each(|(g, &u)| *g = if u > 0.0 { *g } else { 0.0 });
        });
    let mut g_out = transposed_product(rows, q, &saved.dz, s, &saved.h);
    g_out.iter_mut().for_each(|v| *v *= c);
    let mut g_out_bias = vec![0.0f32; q];
    add_column_sums(&saved.dz, q, &mut g_out_bias);
    g_out_bias.iter_mut().for_each(|v| *v *= c);
    let g_hidden = transposed_product(rows, s, &gh, s, &saved.u);
    let mut g_hidden_bias = vec![0.0f32; s];
    add_column_sums(&gh, s, &mut g_hidden_bias);
    give(gh);
    HeadGrads {
        skips: g_skips,
        hidden: g_hidden,
        hidden_bias: g_hidden_bias,
        out: g_out,
        out_bias: g_out_bias,
    }
}

/// A burn backend that can run the fused WaveNet head and loss.
///
/// Implemented for Flex, plain and under autodiff (with its own backward); [`supports`] says
/// where the operation may be called, and `model::wavenet` composes burn ops elsewhere.
#[backend_extension(Flex, Autodiff)]
pub trait WaveNetHeadBackend: Backend {
    /// Mean cross-entropy (nats per sample) of the head's logits against `target`.
    ///
    /// # Shapes
    /// - skips: `[batch, time, S]` (channels last); target: `[batch, time]` class indices
    /// - hidden: `[S, S, 1]`; hidden_bias: `[S]`; out: `[Q, S, 1]`; out_bias: `[Q]`
    /// - output: `[1]`
    fn wavenet_head_loss(
        skips: FloatTensor<Self>,
        hidden: FloatTensor<Self>,
        hidden_bias: FloatTensor<Self>,
        out: FloatTensor<Self>,
        out_bias: FloatTensor<Self>,
        target: IntTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// The fused head and cross-entropy, differentiable in every float input; see
/// [`WaveNetHeadBackend`] for the shapes.
pub fn wavenet_head_loss(
    skips: Tensor<3>,
    hidden: Tensor<3>,
    hidden_bias: Tensor<1>,
    out: Tensor<3>,
    out_bias: Tensor<1>,
    target: Tensor<2, Int>,
) -> Tensor<1> {
    Tensor::from_dispatch(<Dispatch as WaveNetHeadBackend>::wavenet_head_loss(
        skips.into_dispatch(),
        hidden.into_dispatch(),
        hidden_bias.into_dispatch(),
        out.into_dispatch(),
        out_bias.into_dispatch(),
        target.into_dispatch(),
    ))
}

/// Run the host forward on Flex tensors.
fn forward_flex(
    [skips, hidden, hidden_bias, out, out_bias]: [&FlexTensor; 5],
    target: &FlexTensor,
    keep: bool,
) -> (FlexTensor, Option<HeadSaved>) {
    let (x, wo) = (dims(skips), dims(out));
    assert_eq!(x.len(), 3, "the head's input is [batch, time, S]");
    let s = x[2];
    assert_eq!(dims(hidden), [s, s, 1], "hidden kernel is not [S, S, 1]");
    assert!(
        wo.len() == 3 && wo[1] == s && wo[2] == 1,
        "out kernel is not [Q, S, 1]"
    );
    let shape = HeadShape {
        rows: x[0] * x[1],
        skip: s,
        classes: wo[0],
    };
    assert_eq!(dims(target), x[..2], "targets are not [batch, time]");
    let targets: Vec<usize> = target
        .clone()
        .into_data()
        .iter::<i64>()
        .map(|t| usize::try_from(t).expect("a negative class index"))
        .collect();
    let (w1, b1, w2, b2) = (
        values(hidden),
        values(hidden_bias),
        values(out),
        values(out_bias),
    );
    let w = HeadWeights {
        hidden: &w1,
        hidden_bias: &b1,
        out: &w2,
        out_bias: &b2,
    };
    let (loss, saved) = forward(&shape, &values(skips), &w, &targets, keep);
    (flex(vec![loss], &[1]), saved)
}

impl WaveNetHeadBackend for Flex {
    fn wavenet_head_loss(
        skips: FlexTensor,
        hidden: FlexTensor,
        hidden_bias: FlexTensor,
        out: FlexTensor,
        out_bias: FlexTensor,
        target: FlexTensor,
    ) -> FlexTensor {
        let args = [&skips, &hidden, &hidden_bias, &out, &out_bias];
        forward_flex(args, &target, false).0
    }
}

/// The backward of the fused head; its state is the forward's [`HeadSaved`] and the input's
/// `[batch, time, S]` shape.
#[derive(Debug)]
struct HeadBackward;

impl Backward<Flex, 5> for HeadBackward {
    type State = (Arc<HeadSaved>, [usize; 2]);

    fn backward(self, ops: Ops<Self::State, 5>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        let (saved, [b, t]) = ops.state;
        let g = backward(&saved, values(&grad)[0]);
        let HeadShape {
            skip: s,
            classes: q,
            ..
        } = saved.shape;
        let parts: [(Vec<f32>, Vec<usize>); 5] = [
            (g.skips, vec![b, t, s]),
            (g.hidden, vec![s, s, 1]),
            (g.hidden_bias, vec![s]),
            (g.out, vec![q, s, 1]),
            (g.out_bias, vec![q]),
        ];
        for (node, (data, shape)) in ops.parents.into_iter().zip(parts) {
            if let Some(node) = node {
                grads.register::<Flex>(node.id, flex(data, &shape));
            }
        }
    }
}

impl<C: CheckpointStrategy> WaveNetHeadBackend for Autodiff<Flex, C> {
    fn wavenet_head_loss(
        skips: FloatTensor<Self>,
        hidden: FloatTensor<Self>,
        hidden_bias: FloatTensor<Self>,
        out: FloatTensor<Self>,
        out_bias: FloatTensor<Self>,
        target: IntTensor<Self>,
    ) -> FloatTensor<Self> {
        let nodes = [
            skips.node(),
            hidden.node(),
            hidden_bias.node(),
            out.node(),
            out_bias.node(),
        ];
        let prims = [
            skips.into_primitive(),
            hidden.into_primitive(),
            hidden_bias.into_primitive(),
            out.into_primitive(),
            out_bias.into_primitive(),
        ];
        let args = [&prims[0], &prims[1], &prims[2], &prims[3], &prims[4]];
        let x = dims(&prims[0]);
        match HeadBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (y, saved) = forward_flex(args, &target, true);
                prep.finish((Arc::new(saved.expect("asked to keep")), [x[0], x[1]]), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(forward_flex(args, &target, false).0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_exp_is_within_a_few_ulp_of_std() {
        let mut worst = 0.0f32;
        let mut x = -87.0f32;
        while x < 88.0 {
            let (got, want) = (fast_exp(x), x.exp());
            worst = worst.max(((got - want) / want).abs());
            x += 0.0137;
        }
        assert!(worst < 4.0 * f32::EPSILON, "relative error {worst}");
        assert_eq!(fast_exp(0.0), 1.0);
        assert!(fast_exp(-1000.0) > 0.0 && fast_exp(-1000.0) < 1e-37);
    }

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

    /// Weight gradients are long reductions over rows; like the stack's, they must be summed
    /// in an order that does not depend on rayon's work stealing.
    #[test]
    fn head_loss_and_gradients_are_bitwise_reproducible() {
        let shape = HeadShape {
            rows: 5000,
            skip: 12,
            classes: 37,
        };
        let (s, q) = (12, 37);
        let w = [noise(s * s, 1), noise(s, 2), noise(q * s, 3), noise(q, 4)];
        let weights = HeadWeights {
            hidden: &w[0],
            hidden_bias: &w[1],
            out: &w[2],
            out_bias: &w[3],
        };
        let x = noise(shape.rows * s, 5);
        let targets: Vec<usize> = (0..shape.rows).map(|i| (i * 7919) % q).collect();
        let run = || {
            let (loss, saved) = forward(&shape, &x, &weights, &targets, true);
            let g = backward(&saved.expect("kept"), 1.0);
            (loss.to_bits(), g.skips, g.hidden, g.out, g.out_bias)
        };
        let first = run();
        assert!(first.2.iter().any(|v| *v != 0.0), "vacuous: zero gradient");
        for _ in 0..3 {
            assert!(run() == first, "a second run gave different bits");
        }
        // Without gradients the loss is the same number.
        let (loss, saved) = forward(&shape, &x, &weights, &targets, false);
        assert!(saved.is_none());
        assert_eq!(loss.to_bits(), first.0);
    }
}
