//! The cached incremental generator for WaveNets: the same ring buffers, weight tiling and
//! kernel as [`super::Engine`], composed into WaveNet's graph (embedding input, dilated gated
//! residual layers, skip sum, output head). Each residual layer keeps only the two taps its
//! kernel-2 dilated convolution reads, `dilation` steps apart, so a step costs one column per
//! layer however long the receptive field.
//!
//! Everything is allocated in [`WaveNetEngine::new`]; [`WaveNetEngine::step`] allocates nothing.

use super::engine::{ConvWeights, Ring, default_pool, product};
use super::kernel::{Matrix, Precision, chunk_for};
use super::pool::SpinPool;
use crate::model::WaveNet;

/// One weight matrix and its bias, tiled for `streams` streams.
struct Dense {
    matrix: Matrix,
    bias: Vec<f32>,
}

impl Dense {
    fn new(
        weight: &[f32],
        bias: Vec<f32>,
        cols: usize,
        streams: usize,
        precision: Precision,
    ) -> Self {
        let rows = bias.len();
        let matrix = Matrix::new(weight, rows, cols, chunk_for(streams, cols), precision);
        Self { matrix, bias }
    }

    fn from_conv(c: ConvWeights, streams: usize, precision: Precision) -> Self {
        let cols = c.kernel * c.c_in;
        Self::new(&c.weight, c.bias, cols, streams, precision)
    }

    fn rows(&self) -> usize {
        self.bias.len()
    }
}

struct Layer {
    dilation: usize,
    /// `[2R][2R]`: both taps (older first) to the filter and gate halves.
    dilated: Dense,
    /// `[R + S][R]`: the residual and skip 1×1 convolutions stacked, one product for both.
    res_skip: Dense,
    /// `[genres][2R]` bias inside the gate.
    genre: Vec<f32>,
}

/// The incremental generator of a [`WaveNet`]: `streams` independent streams, logits out.
pub struct WaveNetEngine {
    streams: usize,
    classes: usize,
    r: usize,
    s: usize,
    input_kernel: usize,
    /// `[classes][R]`.
    embedding: Vec<f32>,
    input: Dense,
    layers: Vec<Layer>,
    head_hidden: Dense,
    head_out: Dense,
    /// Genre of each stream.
    genre: Vec<usize>,
    /// `input_rings[stream]`: embedded inputs; `rings[layer * streams + stream]`: residuals.
    input_rings: Vec<Ring>,
    rings: Vec<Ring>,
    // Scratch, `[stream][channel]` where a product reads it, `[channel][stream]` where one
    // writes it.
    x: Vec<f32>,
    taps: Vec<f32>,
    h: Vec<f32>,
    a: Vec<f32>,
    rs: Vec<f32>,
    skip: Vec<f32>,
    hidden: Vec<f32>,
    hidden_t: Vec<f32>,
    logits: Vec<f32>,
    partial: Vec<f32>,
    pool: Option<SpinPool>,
    force_portable: bool,
}

impl WaveNetEngine {
    /// Export `model` once into the engine's layout for `streams` streams at `precision`.
    pub fn new(model: &WaveNet, streams: usize, precision: Precision) -> Self {
        assert!(streams >= 1, "an engine needs at least one stream");
        let b = streams;
        let embedding = model
            .embedding
            .weight
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .expect("embedding weights are f32");
        let [_, r, input_kernel] = model.input.dims();
        let s = model.head_hidden.dims()[0];
        let classes = model.classes;
        let input = Dense::from_conv(ConvWeights::from_layer(&model.input), b, precision);
        let mut rings = Vec::new();
        let layers: Vec<Layer> = model
            .layers
            .iter()
            .map(|l| {
                let dilated = ConvWeights::from_layer(&l.dilated);
                let dilation = dilated.dilation;
                let res = ConvWeights::from_layer(&l.residual);
                let skip = ConvWeights::from_layer(&l.skip);
                let weight = [res.weight, skip.weight].concat();
                let bias = [res.bias, skip.bias].concat();
                for st in 0..b {
                    rings.push(Ring::new(dilation + 1, r, st));
                }
                Layer {
                    dilation,
                    dilated: Dense::from_conv(dilated, b, precision),
                    res_skip: Dense::new(&weight, bias, r, b, precision),
                    genre: l.genre.as_ref().map_or_else(Vec::new, |g| {
                        g.weight
                            .val()
                            .into_data()
                            .try_to_vec::<f32>()
                            .expect("genre embedding is f32")
                    }),
                }
            })
            .collect();
        let head_hidden =
            Dense::from_conv(ConvWeights::from_layer(&model.head_hidden), b, precision);
        let head_out = Dense::from_conv(ConvWeights::from_layer(&model.head_out), b, precision);
        let widest = [2 * r, r + s, s, classes].into_iter().max().unwrap_or(1);
        Self {
            streams: b,
            classes,
            r,
            s,
            input_kernel,
            embedding,
            input,
            layers,
            head_hidden,
            head_out,
            genre: vec![0; b],
            input_rings: (0..b).map(|st| Ring::new(input_kernel, r, st)).collect(),
            rings,
            x: vec![0.0; b * r],
            taps: vec![0.0; b * 2 * r],
            h: vec![0.0; 2 * r * b],
            a: vec![0.0; b * r],
            rs: vec![0.0; (r + s) * b],
            skip: vec![0.0; b * s],
            hidden: vec![0.0; s * b],
            hidden_t: vec![0.0; b * s],
            logits: vec![0.0; classes * b],
            partial: vec![0.0; widest * b * 8],
            pool: default_pool(),
            force_portable: false,
        }
    }

    /// Use at most `threads` threads per product (1 = no threading).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.pool = (threads > 1).then(|| SpinPool::new(threads));
        self
    }

    /// Number of streams.
    pub fn streams(&self) -> usize {
        self.streams
    }

    /// Mu-law classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Samples of context one output sees.
    pub fn receptive_field(&self) -> usize {
        self.input_kernel + self.layers.iter().map(|l| l.dilation).sum::<usize>()
    }

    /// Condition stream `stream` on genre index `genre` (ignored by an unconditioned model).
    pub fn set_genre(&mut self, stream: usize, genre: usize) {
        self.genre[stream] = genre;
    }

    /// Bytes of state per stream (the ring buffers, stored twice over).
    pub fn state_bytes_per_stream(&self) -> usize {
        let cols = self.input_kernel + self.layers.iter().map(|l| l.dilation + 1).sum::<usize>();
        2 * cols * self.r * 4
    }

    /// Multiply-adds per generated sample per stream.
    pub fn macs_per_sample(&self) -> usize {
        let dense = |d: &Dense| d.matrix.rows() * d.matrix.cols();
        dense(&self.input)
            + self
                .layers
                .iter()
                .map(|l| dense(&l.dilated) + dense(&l.res_skip))
                .sum::<usize>()
            + dense(&self.head_hidden)
            + dense(&self.head_out)
    }

    /// Back to the initial (all-zero history) state; genres are kept.
    pub fn reset(&mut self) {
        self.input_rings.iter_mut().for_each(Ring::clear);
        self.rings.iter_mut().for_each(Ring::clear);
    }

    /// Feed one input class per stream; returns the logits of each stream's next class,
    /// `[stream][class]`.
    pub fn step(&mut self, inputs: &[usize]) -> &[f32] {
        let (b, r, s) = (self.streams, self.r, self.s);
        assert_eq!(inputs.len(), b, "one input per stream");
        let pool = self.pool.as_ref();
        let portable = self.force_portable;

        // Input: embed, then the causal input convolution over the last `input_kernel` inputs.
        for (st, &c) in inputs.iter().enumerate() {
            let c = c.min(self.classes - 1);
            let row = &self.embedding[c * r..(c + 1) * r];
            self.input_rings[st].push(row.iter().copied());
        }
        with_slices(b, |xs| {
            for (x, ring) in xs.iter_mut().zip(&self.input_rings) {
                *x = ring.window();
            }
            product(
                pool,
                &self.input.matrix,
                &self.input.bias,
                xs,
                &mut self.h[..r * b],
                &mut self.partial,
                portable,
            );
        });
        transpose(&self.h[..r * b], r, b, &mut self.x); // x: [stream][R]
        self.skip.fill(0.0);

        for (li, layer) in self.layers.iter().enumerate() {
            let rings = &mut self.rings[li * b..(li + 1) * b];
            for (st, ring) in rings.iter_mut().enumerate() {
                ring.push(self.x[st * r..(st + 1) * r].iter().copied());
                // Kernel 2: the tap `dilation` steps back (the oldest column), then now.
                let win = ring.window();
                let taps = &mut self.taps[st * 2 * r..(st + 1) * 2 * r];
                taps[..r].copy_from_slice(&win[..r]);
                taps[r..].copy_from_slice(&win[layer.dilation * r..(layer.dilation + 1) * r]);
            }
            with_slices(b, |xs| {
                stream_rows(&self.taps, 2 * r, xs);
                product(
                    pool,
                    &layer.dilated.matrix,
                    &layer.dilated.bias,
                    xs,
                    &mut self.h,
                    &mut self.partial,
                    portable,
                );
            });
            // Gate: h is [2R][stream]; a is [stream][R]. The genre's bias goes in first, so
            // the gate loop itself has no branch and vectorises.
            if !layer.genre.is_empty() {
                for st in 0..b {
                    let at = self.genre[st] * 2 * r;
                    for (c, v) in layer.genre[at..at + 2 * r].iter().enumerate() {
                        self.h[c * b + st] += v;
                    }
                }
            }
            if b == 1 {
                let (f, q) = self.h.split_at(r);
                for ((a, f), q) in self.a.iter_mut().zip(f).zip(q) {
                    *a = gate(*f, *q);
                }
            } else {
                for st in 0..b {
                    for c in 0..r {
                        self.a[st * r + c] = gate(self.h[c * b + st], self.h[(r + c) * b + st]);
                    }
                }
            }
            with_slices(b, |xs| {
                stream_rows(&self.a, r, xs);
                product(
                    pool,
                    &layer.res_skip.matrix,
                    &layer.res_skip.bias,
                    xs,
                    &mut self.rs,
                    &mut self.partial,
                    portable,
                );
            });
            if b == 1 {
                let (res, skip) = self.rs.split_at(r);
                self.x.iter_mut().zip(res).for_each(|(x, v)| *x += v);
                self.skip.iter_mut().zip(skip).for_each(|(x, v)| *x += v);
            } else {
                for st in 0..b {
                    for c in 0..r {
                        self.x[st * r + c] += self.rs[c * b + st];
                    }
                    for c in 0..s {
                        self.skip[st * s + c] += self.rs[(r + c) * b + st];
                    }
                }
            }
        }

        // Head: ReLU, 1×1, ReLU, 1×1 to the logits.
        self.skip.iter_mut().for_each(|v| *v = v.max(0.0));
        with_slices(b, |xs| {
            stream_rows(&self.skip, s, xs);
            product(
                pool,
                &self.head_hidden.matrix,
                &self.head_hidden.bias,
                xs,
                &mut self.hidden,
                &mut self.partial,
                portable,
            );
        });
        transpose(&self.hidden, s, b, &mut self.hidden_t);
        self.hidden_t.iter_mut().for_each(|v| *v = v.max(0.0));
        with_slices(b, |xs| {
            stream_rows(&self.hidden_t, s, xs);
            product(
                pool,
                &self.head_out.matrix,
                &self.head_out.bias,
                xs,
                &mut self.logits,
                &mut self.partial,
                portable,
            );
        });
        if b > 1 {
            // [class][stream] -> [stream][class], through the (now free) hidden scratch.
            let q = self.classes;
            for st in 0..b {
                for c in 0..q {
                    self.partial[st * q + c] = self.logits[c * b + st];
                }
            }
            self.logits.copy_from_slice(&self.partial[..q * b]);
        }
        debug_assert_eq!(self.head_out.rows(), self.classes);
        &self.logits
    }
}

/// WaveNet's gated unit, `tanh(f) * sigmoid(q)`, with sigmoid as `(1 + tanh(q / 2)) / 2`.
#[inline(always)]
fn gate(f: f32, q: f32) -> f32 {
    fast_tanh(f) * (0.5 + 0.5 * fast_tanh(0.5 * q))
}

/// `dst[j][i] = src[i][j]` for a `rows x cols` `src`.
fn transpose(src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
    for i in 0..rows {
        for j in 0..cols {
            dst[j * rows + i] = src[i * cols + j];
        }
    }
}

/// Point `xs[s]` at row `s` of the stream-major `buf` (rows of `width`).
fn stream_rows<'a>(buf: &'a [f32], width: usize, xs: &mut [&'a [f32]]) {
    for (x, row) in xs.iter_mut().zip(buf.chunks_exact(width)) {
        *x = row;
    }
}

/// Run `f` with a scratch array of `streams` slice references (on the stack up to 64 streams).
fn with_slices<'a>(streams: usize, f: impl FnOnce(&mut [&'a [f32]])) {
    if streams <= 64 {
        let mut buf: [&[f32]; 64] = [&[]; 64];
        f(&mut buf[..streams]);
    } else {
        // Beyond 64 streams a per-step vector is a negligible cost.
        let mut v: Vec<&[f32]> = vec![&[]; streams];
        f(&mut v);
    }
}

/// The vectorisable tanh the fused training op uses too; kept here under its old path.
pub use crate::model::wavenet_ops::fast_tanh;

#[cfg(test)]
mod tests {
    use super::fast_tanh;

    #[test]
    fn fast_tanh_matches_std() {
        let mut worst = 0.0f32;
        for i in -20_000..=20_000 {
            let x = i as f32 * 1e-3;
            worst = worst.max((fast_tanh(x) - x.tanh()).abs());
        }
        assert!(worst < 1e-6, "max error {worst}");
    }
}
