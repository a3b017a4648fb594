//! Causal convolution computed by FFT (overlap-save), with a hand-written backward.
//!
//! Long kernels (128-256 taps) make the direct convolution cost `c_in * c_out * kernel` MACs per
//! sample. Here the time axis is cut into blocks of `hop = n - span` outputs, each block's input
//! segment (`n` samples, `span = (kernel - 1) * dilation` of them history) is transformed once,
//! and the channels are mixed per frequency bin as a complex matrix product. The kernel spectra
//! are computed once per call and kept, with the input spectra, for the backward pass, which is
//! the same machinery run on the adjoint:
//! - grad input = overlap-add of `irfft(H^H * G)` (a correlation with the kernel),
//! - grad weight = `irfft(sum over blocks of G * X^H)` (a correlation of output grad and input),
//!
//! where `G` is the spectrum of each block's output gradient placed where the forward's valid
//! outputs were. Every transform is a real FFT (realfft); the per-bin products run on gemm's
//! complex kernels; rayon spreads both over the cores.
//!
//! The host code works on plain slices; [`FftConvBackend`] is the burn backend extension that
//! routes a tensor call to it (Flex, with and without autodiff).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension, tensor::FloatTensor};
use burn::prelude::*;

use super::flex_io::{dims, flex, values};
use crate::cpu::ScratchPool;
use rayon::prelude::*;
use realfft::num_complex::Complex32 as C32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

/// Block layout of one FFT convolution: shapes of the call and the chosen transform size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FftConvPlan {
    /// Sequences in the batch.
    pub batch: usize,
    /// Input channels.
    pub c_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// Samples per sequence (input and output).
    pub time: usize,
    /// Taps of the kernel.
    pub kernel: usize,
    /// Spacing between taps, in samples.
    pub dilation: usize,
    /// FFT size in samples (a power of two).
    pub fft_size: usize,
}

impl FftConvPlan {
    /// Plan a call, choosing the FFT size that minimises an estimate of the step's work.
    pub fn new(
        batch: usize,
        c_in: usize,
        c_out: usize,
        time: usize,
        kernel: usize,
        dilation: usize,
    ) -> Self {
        let mut plan = Self {
            batch,
            c_in,
            c_out,
            time,
            kernel,
            dilation,
            fft_size: 0,
        };
        let span = plan.span();
        // Candidates from "hop >= span" up to one block covering the whole sequence.
        let lo = (2 * span + 2).next_power_of_two().max(16);
        let hi = (time + span).next_power_of_two().max(lo);
        let mut best = (f64::INFINITY, lo);
        let mut n = lo;
        while n <= hi {
            plan.fft_size = n;
            let cost = plan.cost();
            if cost < best.0 {
                best = (cost, n);
            }
            n *= 2;
        }
        plan.fft_size = best.1;
        plan
    }

    /// Estimated flops of forward + backward: three per-bin products (8 flops per complex MAC)
    /// and the real transforms (about 2.5 n log2 n each).
    fn cost(&self) -> f64 {
        let n = self.fft_size as f64;
        let products = 3.0 * 8.0 * (self.bins() * self.c_in * self.c_out * self.cols()) as f64;
        let transforms = 2 * ((self.c_in + self.c_out) * self.cols() + self.c_in * self.c_out);
        products + transforms as f64 * 2.5 * n * n.log2()
    }

    /// History samples one output needs: `(kernel - 1) * dilation`.
    pub fn span(&self) -> usize {
        (self.kernel - 1) * self.dilation
    }

    /// New outputs per block.
    pub fn hop(&self) -> usize {
        self.fft_size - self.span()
    }

    /// Blocks per sequence.
    pub fn blocks(&self) -> usize {
        self.time.div_ceil(self.hop())
    }

    /// Frequency bins of one real transform.
    pub fn bins(&self) -> usize {
        self.fft_size / 2 + 1
    }

    /// Columns of the per-bin products: every block of every sequence.
    fn cols(&self) -> usize {
        self.batch * self.blocks()
    }
}

/// A forward and an inverse real FFT of one size, shared by all threads.
struct Transforms {
    forward: Arc<dyn RealToComplex<f32>>,
    inverse: Arc<dyn ComplexToReal<f32>>,
}

fn transforms(n: usize) -> Arc<Transforms> {
    static CACHE: OnceLock<Mutex<HashMap<usize, Arc<Transforms>>>> = OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    cache
        .entry(n)
        .or_insert_with(|| {
            let mut planner = RealFftPlanner::<f32>::new();
            Arc::new(Transforms {
                forward: planner.plan_fft_forward(n),
                inverse: planner.plan_fft_inverse(n),
            })
        })
        .clone()
}

/// Per-thread buffers for one transform (allocated once per rayon task, not per row).
struct Scratch {
    real: Vec<f32>,
    spectrum: Vec<C32>,
    fft: Vec<C32>,
}

impl Scratch {
    fn new(t: &Transforms) -> Self {
        let n = t.forward.len();
        let len = t.forward.get_scratch_len().max(t.inverse.get_scratch_len());
        Self {
            real: vec![0.0; n],
            spectrum: vec![C32::default(); n / 2 + 1],
            fft: vec![C32::default(); len],
        }
    }

    /// `real` -> `out` (the forward transform destroys `real`).
    fn forward(&mut self, t: &Transforms, out: &mut [C32]) {
        t.forward
            .process_with_scratch(&mut self.real, out, &mut self.fft)
            .expect("buffer lengths match the plan");
    }

    /// `spectrum` -> `real`. The imaginary parts of DC and Nyquist are zero in exact arithmetic
    /// (products of real bins); rounding may leave a signed zero, so they are cleared.
    fn inverse(&mut self, t: &Transforms) {
        let last = self.spectrum.len() - 1;
        self.spectrum[0].im = 0.0;
        self.spectrum[last].im = 0.0;
        t.inverse
            .process_with_scratch(&mut self.spectrum, &mut self.real, &mut self.fft)
            .expect("buffer lengths match the plan");
    }
}

/// A spectrum buffer that goes back to a process-wide pool when dropped.
///
/// The wide layers' spectra are tens of MB; fresh allocations that large come from mmap and
/// page-fault on first touch, every step, which cost as much system time as the FFTs took.
/// Contents are not cleared: every user overwrites the whole buffer.
struct Buf(Vec<C32>);

/// Recycled spectra buffers.
static POOL: ScratchPool<C32> = ScratchPool::new(1 << 30);

impl Buf {
    fn take(len: usize) -> Self {
        Buf(POOL.take(len))
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        POOL.give(std::mem::take(&mut self.0));
    }
}

impl std::ops::Deref for Buf {
    type Target = [C32];
    fn deref(&self) -> &[C32] {
        &self.0
    }
}

impl std::ops::DerefMut for Buf {
    fn deref_mut(&mut self) -> &mut [C32] {
        &mut self.0
    }
}

impl std::fmt::Debug for Buf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Buf({} complex)", self.0.len())
    }
}

/// Rows handled together when moving between row-major transforms and bin-major products:
/// a group's values for one bin are contiguous, so scattering and gathering stay cache-friendly
/// without a separate transpose pass over the whole spectrum.
const GROUP: usize = 16;

/// A pointer that rayon tasks may share because each writes disjoint elements.
#[derive(Clone, Copy)]
struct SharedOut(*mut C32);
// SAFETY: only used by `spectra_by_bin`, whose tasks write disjoint columns.
unsafe impl Send for SharedOut {}
// SAFETY: as above.
unsafe impl Sync for SharedOut {}
impl SharedOut {
    fn get(self) -> *mut C32 {
        self.0
    }
}

/// Bin-major spectra `[bin][row]` of `rows` real signals; `fill(row, buf)` writes row's signal
/// into the zeroed `buf` of `n` samples.
fn spectra_by_bin(t: &Transforms, rows: usize, fill: impl Fn(usize, &mut [f32]) + Sync) -> Buf {
    let bins = t.forward.len() / 2 + 1;
    let mut dst = Buf::take(rows * bins);
    let out = SharedOut(dst.as_mut_ptr());
    (0..rows.div_ceil(GROUP)).into_par_iter().for_each_init(
        || (Scratch::new(t), vec![C32::default(); GROUP * bins]),
        |(s, local), g| {
            let (r0, count) = (g * GROUP, GROUP.min(rows - g * GROUP));
            for q in 0..count {
                s.real.fill(0.0);
                fill(r0 + q, &mut s.real);
                s.forward(t, &mut local[q * bins..(q + 1) * bins]);
            }
            for f in 0..bins {
                for q in 0..count {
                    // SAFETY: element (f, r0 + q) is inside `dst`, and only group `g` writes
                    // rows r0..r0 + count.
                    unsafe { *out.get().add(f * rows + r0 + q) = local[q * bins + f] };
                }
            }
        },
    );
    dst
}

/// Copy rows `r0..r0 + count` of a bin-major `[bin][rows]` spectrum into row-major `local`.
fn gather_rows(spec: &[C32], rows: usize, r0: usize, count: usize, local: &mut [C32]) {
    let bins = spec.len() / rows;
    for f in 0..bins {
        let line = &spec[f * rows + r0..][..count];
        for (q, v) in line.iter().enumerate() {
            local[q * bins + f] = *v;
        }
    }
}

/// Spectra of the kernels, `[bin][c_out][c_in]`, scaled by `1 / n` (the inverse transform is
/// unnormalised). Tap `k` of a burn kernel multiplies `x[t - (kernel - 1 - k) * dilation]`.
fn kernel_spectra(plan: &FftConvPlan, weight: &[f32]) -> Buf {
    let t = transforms(plan.fft_size);
    let (k, d) = (plan.kernel, plan.dilation);
    let scale = 1.0 / plan.fft_size as f32;
    spectra_by_bin(&t, plan.c_out * plan.c_in, |pair, buf| {
        for (tap, &v) in weight[pair * k..][..k].iter().enumerate() {
            buf[(k - 1 - tap) * d] = v * scale;
        }
    })
}

/// Spectra of every block of `signal` (`[batch][channels][time]`), `[bin][channel][col]` with
/// `col = b * blocks + j`. Block `j` holds `signal[j * hop - span + m]` at `m` in `from..n`
/// (zero elsewhere): `from = 0` for forward inputs, `from = span` for output gradients.
fn block_spectra(plan: &FftConvPlan, signal: &[f32], channels: usize, from: usize) -> Buf {
    let t = transforms(plan.fft_size);
    let (n, hop, span) = (plan.fft_size, plan.hop(), plan.span());
    let (blocks, cols, time) = (plan.blocks(), plan.cols(), plan.time);
    spectra_by_bin(&t, channels * cols, |row, buf| {
        let (c, col) = (row / cols, row % cols);
        let (b, j) = (col / blocks, col % blocks);
        let seq = &signal[(b * channels + c) * time..][..time];
        // Sample index of m = 0, which may lie before the sequence start.
        let start = (j * hop) as isize - span as isize;
        let m0 = from.max((-start).max(0) as usize);
        let m1 = n.min((time as isize - start).max(0) as usize);
        if m0 < m1 {
            let a = (start + m0 as isize) as usize;
            buf[m0..m1].copy_from_slice(&seq[a..a + (m1 - m0)]);
        }
    })
}

/// How one operand of the per-bin product is read.
#[derive(Clone, Copy)]
struct Operand<'a> {
    data: &'a [C32],
    /// Elements between two bins' matrices.
    bin_stride: usize,
    row_stride: usize,
    col_stride: usize,
    conj: bool,
}

/// `out[f] = scale * a[f] x b[f]` for every bin `f`, an `m x k` by `k x n` product each.
fn per_bin_product(
    bins: usize,
    (m, n, k): (usize, usize, usize),
    a: Operand,
    b: Operand,
    scale: f32,
) -> Buf {
    let mut out = Buf::take(bins * m * n);
    if m * n == 0 {
        return out;
    }
    out.par_chunks_mut(m * n).enumerate().for_each(|(f, dst)| {
        let lhs = &a.data[f * a.bin_stride..];
        let rhs = &b.data[f * b.bin_stride..];
        // SAFETY: the strides describe matrices inside `lhs`, `rhs` (one bin's block of the
        // operand, checked by the callers' layouts) and `dst` (`m x n`, row-major).
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst.as_mut_ptr(),
                1,
                n as isize,
                false,
                lhs.as_ptr(),
                a.col_stride as isize,
                a.row_stride as isize,
                rhs.as_ptr(),
                b.col_stride as isize,
                b.row_stride as isize,
                C32::default(),
                C32::new(scale, 0.0),
                false,
                a.conj,
                b.conj,
                gemm::Parallelism::None,
            );
        }
    });
    out
}

/// What the forward pass keeps for the backward pass.
#[derive(Debug)]
pub struct FftConvSaved {
    plan: FftConvPlan,
    /// `[bin][c_out][c_in]`, scaled by `1 / n`.
    kernel: Buf,
    /// `[bin][c_in][col]`.
    input: Buf,
}

/// Causal convolution of `input` (`[batch][c_in][time]`) with `weight` (`[c_out][c_in][kernel]`,
/// burn's layout), no bias. Returns `[batch][c_out][time]` and, if `keep`, the spectra the
/// backward pass needs.
pub fn forward(
    plan: &FftConvPlan,
    input: &[f32],
    weight: &[f32],
    keep: bool,
) -> (Vec<f32>, Option<FftConvSaved>) {
    let kernel = kernel_spectra(plan, weight);
    let x = block_spectra(plan, input, plan.c_in, 0);
    let (bins, ci, co, cols) = (plan.bins(), plan.c_in, plan.c_out, plan.cols());
    // Y[f] = H[f] X[f]: [c_out x c_in] x [c_in x cols].
    let y = per_bin_product(
        bins,
        (co, cols, ci),
        Operand {
            data: &kernel,
            bin_stride: co * ci,
            row_stride: ci,
            col_stride: 1,
            conj: false,
        },
        Operand {
            data: &x,
            bin_stride: ci * cols,
            row_stride: cols,
            col_stride: 1,
            conj: false,
        },
        1.0,
    );
    let out = blocks_to_signal(plan, &y, co, Placement::Crop);
    let saved = keep.then_some(FftConvSaved {
        plan: *plan,
        kernel,
        input: x,
    });
    (out, saved)
}

/// Gradients of [`forward`]'s output with respect to its input and its weight, given the
/// output gradient `grad` (`[batch][c_out][time]`). Each is computed only if asked for.
pub fn backward(
    saved: &FftConvSaved,
    grad: &[f32],
    want_input: bool,
    want_weight: bool,
) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
    let plan = &saved.plan;
    let (bins, ci, co, cols) = (plan.bins(), plan.c_in, plan.c_out, plan.cols());
    let g = block_spectra(plan, grad, co, plan.span());
    let grad_input = want_input.then(|| {
        // GX[f] = H[f]^H G[f]: [c_in x c_out] x [c_out x cols].
        let gx = per_bin_product(
            bins,
            (ci, cols, co),
            Operand {
                data: &saved.kernel,
                bin_stride: co * ci,
                row_stride: 1,
                col_stride: ci,
                conj: true,
            },
            Operand {
                data: &g,
                bin_stride: co * cols,
                row_stride: cols,
                col_stride: 1,
                conj: false,
            },
            1.0,
        );
        blocks_to_signal(plan, &gx, ci, Placement::OverlapAdd)
    });
    let grad_weight = want_weight.then(|| {
        // GH[f] = G[f] X[f]^H / n: [c_out x cols] x [cols x c_in], summed over blocks.
        let gh = per_bin_product(
            bins,
            (co, ci, cols),
            Operand {
                data: &g,
                bin_stride: co * cols,
                row_stride: cols,
                col_stride: 1,
                conj: false,
            },
            Operand {
                data: &saved.input,
                bin_stride: ci * cols,
                row_stride: 1,
                col_stride: cols,
                conj: true,
            },
            1.0 / plan.fft_size as f32,
        );
        kernel_from_spectra(plan, &gh)
    });
    (grad_input, grad_weight)
}

/// Where a block's inverse transform goes in the time signal.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Placement {
    /// Forward: keep `m` in `span..n` as outputs `j * hop + m - span` (overlap-save).
    Crop,
    /// Grad input: add all of `m` in `0..n` to `j * hop - span + m` (overlap-add).
    OverlapAdd,
}

/// Inverse-transform `[bin][channel][col]` block spectra into `[batch][channel][time]`.
fn blocks_to_signal(
    plan: &FftConvPlan,
    spec: &[C32],
    channels: usize,
    place: Placement,
) -> Vec<f32> {
    let t = transforms(plan.fft_size);
    let (bins, n, hop, span) = (plan.bins(), plan.fft_size, plan.hop(), plan.span());
    let (blocks, cols, time) = (plan.blocks(), plan.cols(), plan.time);
    let mut out = vec![0.0f32; plan.batch * channels * time];
    if time == 0 {
        return out;
    }
    out.par_chunks_mut(time).enumerate().for_each_init(
        || (Scratch::new(&t), vec![C32::default(); blocks * bins]),
        |(s, local), (bc, seq)| {
            let (b, c) = (bc / channels, bc % channels);
            // The sequence's blocks are consecutive rows of the [bin][channel][col] spectrum.
            gather_rows(spec, channels * cols, c * cols + b * blocks, blocks, local);
            for j in 0..blocks {
                s.spectrum.copy_from_slice(&local[j * bins..][..bins]);
                s.inverse(&t);
                let start = (j * hop) as isize - span as isize;
                match place {
                    Placement::Crop => {
                        let a = j * hop;
                        let len = hop.min(time - a);
                        seq[a..a + len].copy_from_slice(&s.real[span..span + len]);
                    }
                    Placement::OverlapAdd => {
                        let m0 = (-start).max(0) as usize;
                        let m1 = n.min((time as isize - start).max(0) as usize);
                        let a = (start + m0 as isize) as usize;
                        for (o, v) in seq[a..a + (m1 - m0)].iter_mut().zip(&s.real[m0..m1]) {
                            *o += v;
                        }
                    }
                }
            }
        },
    );
    out
}

/// Inverse-transform `[bin][c_out][c_in]` correlation spectra into a `[c_out][c_in][kernel]`
/// weight gradient (tap `k` is lag `(kernel - 1 - k) * dilation`).
fn kernel_from_spectra(plan: &FftConvPlan, spec: &[C32]) -> Vec<f32> {
    let t = transforms(plan.fft_size);
    let (bins, k, d) = (plan.bins(), plan.kernel, plan.dilation);
    let pairs = plan.c_out * plan.c_in;
    let mut out = vec![0.0f32; pairs * k];
    out.par_chunks_mut(k * GROUP).enumerate().for_each_init(
        || (Scratch::new(&t), vec![C32::default(); GROUP * bins]),
        |(s, local), (g, taps)| {
            let count = taps.len() / k;
            gather_rows(spec, pairs, g * GROUP, count, local);
            for (q, taps) in taps.chunks_mut(k).enumerate() {
                s.spectrum.copy_from_slice(&local[q * bins..][..bins]);
                s.inverse(&t);
                for (tap, v) in taps.iter_mut().enumerate() {
                    *v = s.real[(k - 1 - tap) * d];
                }
            }
        },
    );
    out
}

/// A burn backend that can run the FFT causal convolution.
///
/// Implemented for Flex, plain and under autodiff (with its own backward). Another backend joins
/// by implementing it (the host code above only needs its data as `f32` slices) and being listed
/// in the attribute; [`supports`] says where the operation may be called.
#[backend_extension(Flex, Autodiff)]
pub trait FftConvBackend: Backend {
    /// Causal convolution by FFT, no bias.
    ///
    /// # Shapes
    /// - input: `[batch, c_in, time]`
    /// - weight: `[c_out, c_in, kernel]`
    /// - output: `[batch, c_out, time]`
    fn fft_causal_conv1d(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        dilation: usize,
    ) -> FloatTensor<Self>;
}

/// Causal convolution of `input` with `weight` by FFT, differentiable; see [`FftConvBackend`].
///
/// # Shapes
/// - input: `[batch, c_in, time]`
/// - weight: `[c_out, c_in, kernel]`
/// - output: `[batch, c_out, time]`
pub fn fft_causal_conv1d(input: Tensor<3>, weight: Tensor<3>, dilation: usize) -> Tensor<3> {
    Tensor::from_dispatch(<Dispatch as FftConvBackend>::fft_causal_conv1d(
        input.into_dispatch(),
        weight.into_dispatch(),
        dilation,
    ))
}

/// The plan of a call on Flex tensors.
fn plan_of(input: &FlexTensor, weight: &FlexTensor, dilation: usize) -> FftConvPlan {
    let [batch, c_in, time] = dims3(input);
    let [c_out, w_in, kernel] = dims3(weight);
    assert_eq!(
        c_in, w_in,
        "input has {c_in} channels, the weight expects {w_in}"
    );
    assert!(
        kernel >= 1 && dilation >= 1,
        "empty kernel or zero dilation"
    );
    FftConvPlan::new(batch, c_in, c_out, time, kernel, dilation)
}

fn dims3(t: &FlexTensor) -> [usize; 3] {
    dims(t)
        .try_into()
        .expect("the FFT convolution takes 3-d tensors")
}

impl FftConvBackend for Flex {
    fn fft_causal_conv1d(input: FlexTensor, weight: FlexTensor, dilation: usize) -> FlexTensor {
        let plan = plan_of(&input, &weight, dilation);
        let (out, _) = forward(&plan, &values(&input), &values(&weight), false);
        flex(out, &[plan.batch, plan.c_out, plan.time])
    }
}

#[derive(Debug)]
struct FftConvBackward;

impl Backward<Flex, 2> for FftConvBackward {
    type State = Arc<FftConvSaved>;

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_input, node_weight] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let saved = ops.state;
        let plan = saved.plan;
        let (gx, gw) = backward(
            &saved,
            &values(&grad),
            node_input.is_some(),
            node_weight.is_some(),
        );
        if let (Some(node), Some(gx)) = (node_input, gx) {
            grads.register::<Flex>(node.id, flex(gx, &[plan.batch, plan.c_in, plan.time]));
        }
        if let (Some(node), Some(gw)) = (node_weight, gw) {
            grads.register::<Flex>(node.id, flex(gw, &[plan.c_out, plan.c_in, plan.kernel]));
        }
    }
}

impl<C: CheckpointStrategy> FftConvBackend for Autodiff<Flex, C> {
    fn fft_causal_conv1d(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        dilation: usize,
    ) -> FloatTensor<Self> {
        let nodes = [input.node(), weight.node()];
        let (input, weight) = (input.into_primitive(), weight.into_primitive());
        let plan = plan_of(&input, &weight, dilation);
        let shape = [plan.batch, plan.c_out, plan.time];
        match FftConvBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (out, saved) = forward(&plan, &values(&input), &values(&weight), true);
                let saved = saved.expect("asked to keep the spectra");
                prep.finish(Arc::new(saved), flex(out, &shape))
            }
            OpsKind::UnTracked(prep) => {
                let (out, _) = forward(&plan, &values(&input), &values(&weight), false);
                prep.finish(flex(out, &shape))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct causal convolution in f64: `y[b][o][t] = sum w[o][i][k] x[b][i][t - (K-1-k) d]`.
    fn direct(plan: &FftConvPlan, x: &[f32], w: &[f32]) -> Vec<f64> {
        let (k, d, t_len) = (plan.kernel, plan.dilation, plan.time);
        let mut y = vec![0.0f64; plan.batch * plan.c_out * t_len];
        for b in 0..plan.batch {
            for o in 0..plan.c_out {
                for i in 0..plan.c_in {
                    for tap in 0..k {
                        let lag = (k - 1 - tap) * d;
                        let wv = f64::from(w[(o * plan.c_in + i) * k + tap]);
                        for t in lag..t_len {
                            y[(b * plan.c_out + o) * t_len + t] +=
                                wv * f64::from(x[(b * plan.c_in + i) * t_len + t - lag]);
                        }
                    }
                }
            }
        }
        y
    }

    fn noise(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn rel_err(a: &[f32], b: &[f64]) -> f64 {
        let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-30);
        a.iter()
            .zip(b)
            .fold(0.0f64, |m, (x, y)| m.max((f64::from(*x) - y).abs()))
            / scale
    }

    /// Forward, and both gradients checked through the adjoint identity
    /// `<g, conv(x, w)> = <grad_x, x> = <grad_w, w>` plus element-wise against direct sums.
    fn check(batch: usize, c_in: usize, c_out: usize, time: usize, kernel: usize, dil: usize) {
        let plan = FftConvPlan::new(batch, c_in, c_out, time, kernel, dil);
        let x = noise(batch * c_in * time, 1);
        let w = noise(c_out * c_in * kernel, 2);
        let g = noise(batch * c_out * time, 3);
        let (y, saved) = forward(&plan, &x, &w, true);
        let e = rel_err(&y, &direct(&plan, &x, &w));
        assert!(e < 1e-5, "forward {plan:?}: rel err {e}");
        let (gx, gw) = backward(&saved.unwrap(), &g, true, true);
        let (gx, gw) = (gx.unwrap(), gw.unwrap());
        // grad_x[b][i][s] = sum_o sum_k w[o][i][k] g[b][o][s + lag(k)].
        let (k, d, tl) = (kernel, dil, time);
        let mut rx = vec![0.0f64; gx.len()];
        let mut rw = vec![0.0f64; gw.len()];
        for b in 0..batch {
            for o in 0..c_out {
                for i in 0..c_in {
                    for tap in 0..k {
                        let lag = (k - 1 - tap) * d;
                        let wi = (o * c_in + i) * k + tap;
                        for t in lag..tl {
                            let gv = f64::from(g[(b * c_out + o) * tl + t]);
                            let xi = (b * c_in + i) * tl + t - lag;
                            rx[xi] += f64::from(w[wi]) * gv;
                            rw[wi] += f64::from(x[xi]) * gv;
                        }
                    }
                }
            }
        }
        let ex = rel_err(&gx, &rx);
        let ew = rel_err(&gw, &rw);
        assert!(ex < 1e-5, "grad input {plan:?}: rel err {ex}");
        assert!(ew < 1e-5, "grad weight {plan:?}: rel err {ew}");
    }

    #[test]
    fn fft_conv_matches_direct_sums_small_shapes() {
        check(1, 1, 1, 50, 5, 1);
        check(2, 3, 4, 97, 8, 1);
        check(2, 2, 3, 131, 4, 3);
        check(1, 3, 2, 7, 16, 1); // kernel longer than the sequence
        check(3, 2, 2, 1000, 33, 2);
    }
}

#[cfg(test)]
mod profile {
    use super::*;
    use std::time::Instant;

    static CPU_MS: Mutex<f64> = Mutex::new(0.0);

    /// Best wall ms of 4 runs; the CPU ms of that run is added to `CPU_MS`.
    fn best<T>(mut f: impl FnMut() -> T) -> (f64, T) {
        let mut best = (f64::INFINITY, 0.0);
        let mut out = f();
        for _ in 0..4 {
            let (t, c) = (Instant::now(), crate::cpu::process_cpu_seconds());
            out = f();
            let wall = t.elapsed().as_secs_f64() * 1e3;
            if wall < best.0 {
                best = (wall, (crate::cpu::process_cpu_seconds() - c) * 1e3);
            }
        }
        *CPU_MS.lock().unwrap() = best.1;
        (best.0, out)
    }

    fn last_cpu() -> f64 {
        *CPU_MS.lock().unwrap()
    }

    /// Milliseconds per phase for seed6's layers at batch 1 x 8192 (run with --ignored --nocapture).
    #[test]
    #[ignore = "timing, not a check"]
    fn profile_seed6_phases() {
        let layers = [
            (1, 16, 128),
            (16, 64, 256),
            (64, 128, 256),
            (128, 64, 256),
            (64, 16, 128),
            (16, 1, 128),
        ];
        let (mut total, mut cpu) = (0.0, 0.0);
        for (ci, co, k) in layers {
            let plan = FftConvPlan::new(1, ci, co, 8192, k, 1);
            let x = vec![0.5f32; ci * 8192];
            let w = vec![0.1f32; co * ci * k];
            let g = vec![0.2f32; co * 8192];
            let (tk, kernel) = best(|| kernel_spectra(&plan, &w));
            let (tx, xs) = best(|| block_spectra(&plan, &x, ci, 0));
            let (tf, saved) = best(|| forward(&plan, &x, &w, true));
            let cf = last_cpu();
            let saved = saved.1.unwrap();
            let (tg, gs) = best(|| block_spectra(&plan, &g, co, plan.span()));
            let cg = last_cpu();
            let (tbx, _) = best(|| backward(&saved, &g, true, false));
            let cbx = last_cpu();
            let (tbw, _) = best(|| backward(&saved, &g, false, true));
            let cbw = last_cpu();
            drop((kernel, xs, gs));
            println!(
                "{ci:>3}->{co:<3} k{k} n={} blocks={}: forward {tf:.1} ms (kernel fft {tk:.1}, input fft {tx:.1}); grad-out fft {tg:.1}; backward input {tbx:.1}, weight {tbw:.1}",
                plan.fft_size,
                plan.blocks()
            );
            total += tf + tbx + tbw - tg;
            cpu += cf + cbx + cbw - cg;
        }
        println!("total forward + backward: {total:.1} ms wall (best of 4), {cpu:.1} ms CPU");
    }
}
