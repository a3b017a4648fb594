//! The cached incremental generator (Fast WaveNet's queues for any causal convolution stack).
//!
//! A causal layer's newest output needs only its last `(kernel - 1) * dilation + 1` inputs, so
//! each layer keeps those in a ring buffer and computes one new output column per step:
//! ~4.7 M multiply-adds per sample for seed6-code instead of the paper's 38.7 G. Weights are
//! exported once from the trained burn model into `[out][tap][in]` rows, so that one output
//! row is a dot product with the ring's contiguous history window. `B` streams advance
//! together, each with its own state, turning the per-layer work into a small matrix product.
//!
//! Everything is allocated in [`Engine::new`]; [`Engine::step`] allocates nothing.

use super::kernel::{Matrix, Precision, chunk_for, rows_times_vectors};
use super::pool::SpinPool;
use crate::model::{CausalConv1d, SeedConvNet};

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
    /// `[c_out][kernel][c_in]`, f32; moved into the engine's tiled matrix by [`Engine::new`].
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
pub struct Engine {
    stages: Vec<Stage>,
    streams: usize,
    /// `rings[stage * streams + s]`.
    rings: Vec<Ring>,
    /// Gathered taps for dilated layers, `[stream][kernel * c_in]` per stage.
    gathered: Vec<Vec<f32>>,
    /// Stage outputs, `[c_out][streams]`.
    outs: Vec<Vec<f32>>,
    /// The stages' weights as the kernel reads them.
    matrices: Vec<Matrix>,
    /// Kernel scratch, `[c_out][streams][8]` per stage.
    partials: Vec<Vec<f32>>,
    /// Helpers for the per-layer split (None: one thread).
    pool: Option<SpinPool>,
    force_portable: bool,
}

impl Engine {
    /// An engine over `stages` with `streams` streams (>= 1), in the zero state, with its
    /// weights stored at `precision` in the layout the kernel wants for this many streams.
    pub fn new(mut stages: Vec<Stage>, streams: usize, precision: Precision) -> Self {
        assert!(streams >= 1, "an engine needs at least one stream");
        let mut rings = Vec::new();
        let mut gathered = Vec::new();
        let mut outs = Vec::new();
        let mut partials = Vec::new();
        let mut matrices = Vec::new();
        for st in &mut stages {
            // The tiled matrix is the only copy the engine reads: drop the row-major one
            // instead of holding every weight twice.
            let weight = std::mem::take(&mut st.conv.weight);
            let c = &st.conv;
            let chunk = chunk_for(streams, c.row_len());
            matrices.push(Matrix::new(&weight, c.c_out, c.row_len(), chunk, precision));
            partials.push(vec![0.0; st.conv.c_out * streams * 8]);
            for s in 0..streams {
                rings.push(Ring::new(st.conv.span(), st.conv.c_in, s));
            }
            let g = if st.conv.dilation > 1 {
                streams * st.conv.row_len()
            } else {
                0
            };
            gathered.push(vec![0.0; g]);
            outs.push(vec![0.0; st.conv.c_out * streams]);
        }
        Self {
            stages,
            streams,
            rings,
            gathered,
            outs,
            partials,
            matrices,
            pool: default_pool(),
            force_portable: false,
        }
    }

    /// The paper's model, exported once into the engine's layout.
    pub fn from_seed(model: &SeedConvNet, streams: usize, precision: Precision) -> Self {
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
        Self::new(stages, streams, precision)
    }

    /// Use at most `threads` threads per layer step (1 = no threading).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.pool = (threads > 1).then(|| SpinPool::new(threads));
        self
    }

    /// Use the portable kernel even where AVX2 is available (for tests and benchmarks).
    pub fn with_portable_kernel(mut self, portable: bool) -> Self {
        self.force_portable = portable;
        self
    }

    /// Number of streams.
    pub fn streams(&self) -> usize {
        self.streams
    }

    /// Samples of context one output sees.
    pub fn receptive_field(&self) -> usize {
        1 + self.stages.iter().map(|s| s.conv.span() - 1).sum::<usize>()
    }

    /// Bytes of state per stream (the ring buffers, stored twice over).
    pub fn state_bytes_per_stream(&self) -> usize {
        self.stages
            .iter()
            .map(|s| 2 * s.conv.span() * s.conv.c_in * 4)
            .sum()
    }

    /// Bytes of weights.
    pub fn weight_bytes(&self) -> usize {
        self.matrices.iter().map(Matrix::bytes).sum::<usize>()
            + self
                .stages
                .iter()
                .map(|s| s.conv.bias.len() * 4)
                .sum::<usize>()
    }

    /// Multiply-adds per generated sample per stream.
    pub fn macs_per_sample(&self) -> usize {
        self.stages
            .iter()
            .map(|s| s.conv.c_out * s.conv.row_len())
            .sum()
    }

    /// Back to the initial (all-zero) state.
    pub fn reset(&mut self) {
        self.rings.iter_mut().for_each(Ring::clear);
    }

    /// Feed one input sample per stream; write each stream's prediction of its next sample.
    pub fn step(&mut self, inputs: &[f32], outputs: &mut [f32]) {
        let b = self.streams;
        assert_eq!(inputs.len(), b, "one input per stream");
        assert_eq!(outputs.len(), b, "one output per stream");
        for (si, stage) in self.stages.iter().enumerate() {
            // Push this stage's input column into every stream's ring.
            let (before, rest) = self.outs.split_at_mut(si);
            for s in 0..b {
                let ring = &mut self.rings[si * b + s];
                if si == 0 {
                    ring.push(std::iter::once(inputs[s]));
                } else {
                    let prev = &before[si - 1];
                    ring.push(prev[s..].iter().step_by(b).copied());
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
                self.pool.as_ref(),
                &self.matrices[si],
                &conv.bias,
                xs,
                out,
                &mut self.partials[si],
                self.force_portable,
            );
            if stage.relu {
                out.iter_mut().for_each(|v| *v = v.max(0.0));
            }
        }
        // The last stage has one output channel: `[1][streams]`.
        let last = self.outs.last().expect("an engine has at least one stage");
        outputs.copy_from_slice(&last[..b]);
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
            self.step(&input, last_outputs);
        }
    }
}

/// `out[o * xs.len() + s] = bias[o] + W[o] . xs[s]` for every row, split across the pool's
/// threads by rows when the work is large enough to pay for the fork.
pub(super) fn product(
    pool: Option<&SpinPool>,
    matrix: &Matrix,
    bias: &[f32],
    xs: &[&[f32]],
    out: &mut [f32],
    partial: &mut [f32],
    portable: bool,
) {
    let (rows, b) = (matrix.rows(), xs.len());
    let macs = rows * matrix.cols() * b;
    let pool = pool.filter(|p| macs >= PARALLEL_MIN_MACS && rows >= 2 * p.threads());
    let Some(pool) = pool else {
        rows_times_vectors(matrix, 0..rows, bias, xs, out, partial, portable);
        return;
    };
    // Split output rows evenly (a multiple of 4) across threads; each thread writes only its
    // own rows of `out` and `partial`.
    let per = rows.div_ceil(pool.threads()).next_multiple_of(4);
    let (out_at, partial_at) = (RowPtr(out.as_mut_ptr()), RowPtr(partial.as_mut_ptr()));
    assert!(out.len() >= rows * b && partial.len() >= rows * b * 8);
    pool.run(&|t| {
        let lo = (t * per).min(rows);
        let hi = (lo + per).min(rows);
        if lo == hi {
            return;
        }
        // SAFETY: thread t's row range [lo, hi) is disjoint from every other's, and both
        // buffers hold `rows` rows of b (and b * 8) floats (asserted above).
        let (chunk, scratch) = unsafe {
            (
                std::slice::from_raw_parts_mut(out_at.get().add(lo * b), (hi - lo) * b),
                std::slice::from_raw_parts_mut(partial_at.get().add(lo * b * 8), (hi - lo) * b * 8),
            )
        };
        rows_times_vectors(matrix, lo..hi, bias, xs, chunk, scratch, portable);
    });
}

/// One pool thread per core (rayon's count, so `RAYON_NUM_THREADS` limits it too).
pub(super) fn default_pool() -> Option<SpinPool> {
    let threads = rayon::current_num_threads();
    (threads > 1).then(|| SpinPool::new(threads))
}

/// A row pointer shared with the pool's threads, each of which touches only its own rows.
#[derive(Clone, Copy)]
struct RowPtr(*mut f32);
// SAFETY: see the split in `Engine::step`: every thread writes a disjoint row range.
unsafe impl Send for RowPtr {}
unsafe impl Sync for RowPtr {}
impl RowPtr {
    /// A method, so closures capture the whole (Sync) wrapper rather than the raw field.
    fn get(self) -> *mut f32 {
        self.0
    }
}
