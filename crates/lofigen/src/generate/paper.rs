//! The cached incremental generator (Fast WaveNet's queues for any causal convolution stack).
//!
//! A causal layer's newest output needs only its last `(kernel - 1) * dilation + 1` inputs, so
//! each layer keeps those in a ring buffer and computes one new output column per step:
//! ~4.7 M multiply-adds per sample for seed6-code instead of the paper's 38.7 G. Weights are
//! exported once from the trained burn model into `[out][tap][in]` rows (then packed for the
//! kernel), so that the ring's contiguous history window is the reduction of one output.
//! `B` streams advance together, each with its own state, turning the per-layer work into a
//! small matrix product.
//!
//! Everything is allocated in [`PaperEngine::from_stages`]; [`PaperEngine::step`] allocates nothing.

use super::engine::{Compute, Engine};
use super::kernel::{KernelPath, Matrix, Plan, Precision, product_part};
use super::pool::SpinPool;
use crate::model::{CausalConv1d, PaperNet};

/// A causal convolution in the engine's layout.
#[derive(Clone, Debug)]
pub struct ConvWeights {
    /// Input channels.
    pub c_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// Taps.
    pub kernel: usize,
    /// Spacing between taps.
    pub dilation: usize,
    /// `[c_out][kernel][c_in]`, f32; packed into the engine's matrix by [`PaperEngine::from_stages`].
    pub weight: Vec<f32>,
    /// `[c_out]`.
    pub bias: Vec<f32>,
}

impl ConvWeights {
    /// Re-lay a burn layer's `[out][in][tap]` weights as `[out][tap][in]`.
    pub fn from_layer(layer: &CausalConv1d) -> Self {
        let [c_out, c_in, kernel] = layer.dims();
        let (w, bias) = layer.export();
        let mut laid = vec![0.0; w.len()];
        for o in 0..c_out {
            for i in 0..c_in {
                for k in 0..kernel {
                    laid[(o * kernel + k) * c_in + i] = w[(o * c_in + i) * kernel + k];
                }
            }
        }
        Self {
            c_in,
            c_out,
            kernel,
            dilation: layer.conv.dilation,
            weight: laid,
            bias,
        }
    }

    /// Columns of history the layer keeps (its span).
    pub fn span(&self) -> usize {
        (self.kernel - 1) * self.dilation + 1
    }

    fn row_len(&self) -> usize {
        self.kernel * self.c_in
    }
}

/// One stage of the stack.
#[derive(Clone, Debug)]
pub struct Stage {
    /// The convolution.
    pub conv: ConvWeights,
    /// ReLU on its output.
    pub relu: bool,
}

/// Past inputs of one layer for one stream, stored twice over so that the last `span`
/// columns are always one contiguous slice (oldest first).
#[derive(Clone, Debug)]
pub(super) struct Ring {
    buf: Vec<f32>,
    /// Floats skipped at the start of `buf`: large buffers come page-aligned, and histories of
    /// several streams at equal page offsets would all land in the same L1 sets and evict each
    /// other inside the kernel. A different 64-byte shift per stream keeps them apart.
    off: usize,
    span: usize,
    width: usize,
    pos: usize,
}

impl Ring {
    pub(super) fn new(span: usize, width: usize, stream: usize) -> Self {
        let off = (stream % 61) * 16;
        Self {
            buf: vec![0.0; off + 2 * span * width],
            off,
            span,
            width,
            pos: span - 1,
        }
    }

    pub(super) fn clear(&mut self) {
        self.buf.fill(0.0);
        self.pos = self.span - 1;
    }

    #[inline]
    pub(super) fn push(&mut self, column: impl Iterator<Item = f32> + Clone) {
        self.pos = (self.pos + 1) % self.span;
        let w = self.width;
        for at in [self.pos, self.pos + self.span] {
            let at = self.off + at * w;
            for (d, v) in self.buf[at..at + w].iter_mut().zip(column.clone()) {
                *d = v;
            }
        }
    }

    /// The last `span` columns, oldest first.
    #[inline]
    pub(super) fn window(&self) -> &[f32] {
        let start = self.off + (self.pos + 1) * self.width;
        &self.buf[start..start + self.span * self.width]
    }
}

/// Work below this many multiply-adds per layer step stays on one thread (a fork costs a
/// microsecond or so).
const PARALLEL_MIN_MACS: usize = 1 << 16;

/// The incremental generator: `streams` independent streams through one causal stack.
pub struct PaperEngine {
    stages: Vec<Stage>,
    streams: usize,
    /// `rings[stage * streams + s]`.
    rings: Vec<Ring>,
    /// Gathered taps for dilated layers, `[stream][kernel * c_in]` per stage.
    gathered: Vec<Vec<f32>>,
    /// Stage outputs, `[streams][ld]` (`ld` = `c_out` rounded up to the kernel's blocks).
    outs: Vec<Vec<f32>>,
    /// The stages' weights and biases as the kernel reads them.
    matrices: Vec<Matrix>,
    /// Kernel path and threads for the per-layer split.
    compute: Compute,
    /// Each stream's latest prediction, what [`Engine::step`] returns.
    last: Vec<f32>,
}

impl PaperEngine {
    /// An engine over `stages` with `streams` streams (>= 1), in the zero state, with its
    /// weights stored at `precision` in the layout the kernel wants for this many streams.
    pub fn from_stages(mut stages: Vec<Stage>, streams: usize, precision: Precision) -> Self {
        assert!(streams >= 1, "an engine needs at least one stream");
        let mut rings = Vec::new();
        let mut gathered = Vec::new();
        let mut outs = Vec::new();
        let mut matrices = Vec::new();
        for st in &mut stages {
            // The packed matrix is the only copy the engine reads: drop the row-major one
            // instead of holding every weight twice.
            let weight = std::mem::take(&mut st.conv.weight);
            let c = &st.conv;
            let m = Matrix::new(&weight, &c.bias, c.c_out, c.row_len(), precision);
            outs.push(vec![0.0; m.ld() * streams]);
            matrices.push(m);
            for s in 0..streams {
                rings.push(Ring::new(st.conv.span(), st.conv.c_in, s));
            }
            let g = if st.conv.dilation > 1 {
                streams * st.conv.row_len()
            } else {
                0
            };
            gathered.push(vec![0.0; g]);
        }
        Self {
            stages,
            streams,
            rings,
            gathered,
            outs,
            matrices,
            last: vec![0.0; streams],
            compute: Compute::new(),
        }
    }

    /// The paper's model, exported once into the engine's layout.
    pub fn new(model: &PaperNet, streams: usize, precision: Precision) -> Self {
        let last = model.layers.len() - 1;
        let stages = model
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| Stage {
                conv: ConvWeights::from_layer(l),
                relu: i < last || model.final_relu,
            })
            .collect();
        Self::from_stages(stages, streams, precision)
    }

    /// Bytes of weights and biases (as packed for the kernel).
    pub fn weight_bytes(&self) -> usize {
        self.matrices.iter().map(Matrix::bytes).sum::<usize>()
    }

    /// Feed a whole history per stream (equal lengths), discarding predictions except the last.
    /// Only the last receptive-field samples can influence what follows, so longer histories
    /// are cut to that.
    pub fn prefill(&mut self, histories: &[&[f32]], last_outputs: &mut [f32]) {
        let b = self.streams;
        assert_eq!(histories.len(), b, "one history per stream");
        let len = histories[0].len();
        assert!(
            histories.iter().all(|h| h.len() == len),
            "histories must have equal lengths"
        );
        let from = len.saturating_sub(self.receptive_field());
        let mut input = vec![0.0; b];
        for t in from..len {
            for (s, h) in histories.iter().enumerate() {
                input[s] = h[t];
            }
            let out = self.step(&input);
            last_outputs.copy_from_slice(out);
        }
    }
}

impl Engine for PaperEngine {
    type Input = f32;

    fn compute(&self) -> &Compute {
        &self.compute
    }

    fn compute_mut(&mut self) -> &mut Compute {
        &mut self.compute
    }

    fn streams(&self) -> usize {
        self.streams
    }

    fn receptive_field(&self) -> usize {
        1 + self.stages.iter().map(|s| s.conv.span() - 1).sum::<usize>()
    }

    fn state_bytes_per_stream(&self) -> usize {
        self.stages
            .iter()
            .map(|s| 2 * s.conv.span() * s.conv.c_in * 4)
            .sum()
    }

    fn macs_per_sample(&self) -> usize {
        self.stages
            .iter()
            .map(|s| s.conv.c_out * s.conv.row_len())
            .sum()
    }

    fn reset(&mut self) {
        self.rings.iter_mut().for_each(Ring::clear);
    }

    fn reset_stream(&mut self, stream: usize) {
        assert!(stream < self.streams, "stream {stream} of {}", self.streams);
        // `rings[stage * streams + s]`.
        self.rings
            .iter_mut()
            .skip(stream)
            .step_by(self.streams)
            .for_each(Ring::clear);
    }

    fn step(&mut self, inputs: &[f32]) -> &[f32] {
        let b = self.streams;
        assert_eq!(inputs.len(), b, "one input per stream");
        for (si, stage) in self.stages.iter().enumerate() {
            // Push this stage's input column into every stream's ring.
            let (before, rest) = self.outs.split_at_mut(si);
            for s in 0..b {
                let ring = &mut self.rings[si * b + s];
                if si == 0 {
                    ring.push(std::iter::once(inputs[s]));
                } else {
                    let ld = self.matrices[si - 1].ld();
                    let prev = &before[si - 1][s * ld..s * ld + stage.conv.c_in];
                    ring.push(prev.iter().copied());
                }
            }
            let conv = &stage.conv;
            let n = conv.row_len();
            // The history each stream contributes: the ring's window, or its dilated taps.
            let rings = &self.rings[si * b..(si + 1) * b];
            let gathered = &mut self.gathered[si];
            if conv.dilation > 1 {
                for (s, ring) in rings.iter().enumerate() {
                    let win = ring.window();
                    for k in 0..conv.kernel {
                        let col = k * conv.dilation;
                        gathered[s * n + k * conv.c_in..s * n + (k + 1) * conv.c_in]
                            .copy_from_slice(&win[col * conv.c_in..(col + 1) * conv.c_in]);
                    }
                }
            }
            let mut xs_buf = [&[][..]; 64];
            let xs_vec;
            let xs: &[&[f32]] = if b <= 64 {
                for s in 0..b {
                    xs_buf[s] = if conv.dilation > 1 {
                        &gathered[s * n..(s + 1) * n]
                    } else {
                        rings[s].window()
                    };
                }
                &xs_buf[..b]
            } else {
                // Beyond 64 streams a per-step vector of references is a negligible cost.
                xs_vec = (0..b)
                    .map(|s| {
                        if conv.dilation > 1 {
                            &gathered[s * n..(s + 1) * n]
                        } else {
                            rings[s].window()
                        }
                    })
                    .collect::<Vec<_>>();
                &xs_vec
            };
            let out = &mut rest[0];
            product(
                self.compute.pool.as_ref(),
                &self.matrices[si],
                xs,
                out,
                self.compute.path,
            );
            if stage.relu {
                out.iter_mut().for_each(|v| *v = v.max(0.0));
            }
        }
        // The last stage has one output channel: `[streams][ld]`, channel 0.
        let last = self.outs.last().expect("an engine has at least one stage");
        let ld = last.len() / b;
        for (o, row) in self.last.iter_mut().zip(last.chunks_exact(ld)) {
            *o = row[0];
        }
        &self.last
    }
}

/// `out[s * ld + o] = bias[o] + W[o] . xs[s]` for every output (`ld = matrix.ld()`), split
/// across the pool's threads when the work is large enough to pay for the fork: by blocks of
/// outputs (each thread streams its own part of the weights), or by streams where a matrix
/// has fewer blocks than threads.
pub(super) fn product(
    pool: Option<&SpinPool>,
    matrix: &Matrix,
    xs: &[&[f32]],
    out: &mut [f32],
    path: KernelPath,
) {
    let (blocks, b, ld) = (matrix.blocks(), xs.len(), matrix.ld());
    assert!(out.len() >= b * ld, "output buffer too small");
    let macs = matrix.rows() * matrix.cols() * b;
    let pool =
        pool.filter(|p| macs >= PARALLEL_MIN_MACS && (blocks >= p.threads() || b >= p.threads()));
    let Some(pool) = pool else {
        super::kernel::product(matrix, xs, out, path);
        return;
    };
    let threads = pool.threads();
    let by_blocks = blocks >= threads;
    // The whole product's plan, so that every part sums in the order one thread would.
    let plan = Plan::new(b, matrix.cols());
    let out_at = RowPtr(out.as_mut_ptr());
    pool.run(threads, &|t| {
        let part = |n: usize| t * n / threads..(t + 1) * n / threads;
        // SAFETY: each thread writes either its own blocks of every row or its own rows
        // (disjoint ranges), and `out` holds `b` rows of `ld` floats (asserted above).
        unsafe {
            if by_blocks {
                product_part(matrix, part(blocks), xs, out_at.get(), path, plan);
            } else {
                let rows = part(b);
                let at = out_at.get().add(rows.start * ld);
                product_part(matrix, 0..blocks, &xs[rows], at, path, plan);
            }
        }
    });
}

/// A row pointer shared with the pool's threads, each of which touches only its own rows.
#[derive(Clone, Copy)]
struct RowPtr(*mut f32);
// SAFETY: see the split in `product`: every thread writes a disjoint part.
unsafe impl Send for RowPtr {}
unsafe impl Sync for RowPtr {}
impl RowPtr {
    /// A method, so closures capture the whole (Sync) wrapper rather than the raw field.
    fn get(self) -> *mut f32 {
        self.0
    }
}
