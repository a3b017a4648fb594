//! The cached incremental generator for WaveNets: the same ring buffers, packed weights and
//! kernel as [`super::PaperEngine`], composed into WaveNet's graph (embedding input, dilated gated
//! residual layers, skip sum, output head). Each residual layer keeps only the two taps its
//! kernel-2 dilated convolution reads, `dilation` steps apart, so a step costs one column per
//! layer however long the receptive field.
//!
//! Everything is allocated in [`WaveNetEngine::new`]; [`WaveNetEngine::step`] allocates nothing.

use super::engine::{Compute, Engine};
use super::kernel::{Matrix, Precision};
use super::paper::{ConvWeights, Ring, product};
use crate::model::WaveNet;

/// A convolution's packed matrix (with its bias): `rows x (kernel * c_in)`.
fn dense(c: &ConvWeights, precision: Precision) -> Matrix {
    Matrix::new(&c.weight, &c.bias, c.c_out, c.kernel * c.c_in, precision)
}

struct Layer {
    dilation: usize,
    /// `[2R][2R]`: both taps (older first) to the filter and gate halves.
    dilated: Matrix,
    /// `[R + S][R]`: the residual and skip 1×1 convolutions stacked, one product for both.
    res_skip: Matrix,
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
    input: Matrix,
    layers: Vec<Layer>,
    head_hidden: Matrix,
    head_out: Matrix,
    /// Genre of each stream.
    genre: Vec<usize>,
    /// `input_rings[stream]`: embedded inputs; `rings[layer * streams + stream]`: residuals.
    input_rings: Vec<Ring>,
    rings: Vec<Ring>,
    // Scratch, all `[stream][channel]`; a product's output rows are `ld` long (its rows
    // rounded up to the kernel's blocks).
    x: Vec<f32>,
    taps: Vec<f32>,
    h: Vec<f32>,
    a: Vec<f32>,
    rs: Vec<f32>,
    skip: Vec<f32>,
    hidden: Vec<f32>,
    /// The head's output, `[stream][ld]`.
    head: Vec<f32>,
    /// `[stream][class]`.
    logits: Vec<f32>,
    compute: Compute,
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
        let input = dense(&ConvWeights::from_layer(&model.input), precision);
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
                let res_skip = Matrix::new(&weight, &bias, r + s, r, precision);
                for st in 0..b {
                    rings.push(Ring::new(dilation + 1, r, st));
                }
                Layer {
                    dilation,
                    dilated: dense(&dilated, precision),
                    res_skip,
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
        let head_hidden = dense(&ConvWeights::from_layer(&model.head_hidden), precision);
        let head_out = dense(&ConvWeights::from_layer(&model.head_out), precision);
        let ld_h = layers.first().map_or(2 * r, |l| l.dilated.ld());
        let ld_rs = layers.first().map_or(r + s, |l| l.res_skip.ld());
        Self {
            streams: b,
            classes,
            r,
            s,
            input_kernel,
            embedding,
            layers,
            genre: vec![0; b],
            input_rings: (0..b).map(|st| Ring::new(input_kernel, r, st)).collect(),
            rings,
            x: vec![0.0; b * input.ld()],
            taps: vec![0.0; b * 2 * r],
            h: vec![0.0; b * ld_h],
            a: vec![0.0; b * r],
            rs: vec![0.0; b * ld_rs],
            skip: vec![0.0; b * s],
            hidden: vec![0.0; b * head_hidden.ld()],
            head: vec![0.0; b * head_out.ld()],
            logits: vec![0.0; b * classes],
            input,
            head_hidden,
            head_out,
            compute: Compute::new(),
        }
    }

    /// Mu-law classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Condition stream `stream` on genre index `genre` (ignored by an unconditioned model).
    pub fn set_genre(&mut self, stream: usize, genre: usize) {
        self.genre[stream] = genre;
    }
}

impl Engine for WaveNetEngine {
    type Input = usize;

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
        self.input_kernel + self.layers.iter().map(|l| l.dilation).sum::<usize>()
    }

    fn state_bytes_per_stream(&self) -> usize {
        let cols = self.input_kernel + self.layers.iter().map(|l| l.dilation + 1).sum::<usize>();
        2 * cols * self.r * 4
    }

    fn macs_per_sample(&self) -> usize {
        let dense = |d: &Matrix| d.rows() * d.cols();
        dense(&self.input)
            + self
                .layers
                .iter()
                .map(|l| dense(&l.dilated) + dense(&l.res_skip))
                .sum::<usize>()
            + dense(&self.head_hidden)
            + dense(&self.head_out)
    }

    fn reset(&mut self) {
        self.input_rings.iter_mut().for_each(Ring::clear);
        self.rings.iter_mut().for_each(Ring::clear);
    }

    fn step(&mut self, inputs: &[usize]) -> &[f32] {
        let (b, r, s) = (self.streams, self.r, self.s);
        assert_eq!(inputs.len(), b, "one input per stream");
        let pool = self.compute.pool.as_ref();
        let path = self.compute.path;

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
            product(pool, &self.input, xs, &mut self.x, path);
        });
        let ld_x = self.input.ld(); // x: [stream][ld_x], channels 0..R
        self.skip.fill(0.0);

        for (li, layer) in self.layers.iter().enumerate() {
            let rings = &mut self.rings[li * b..(li + 1) * b];
            for (st, ring) in rings.iter_mut().enumerate() {
                ring.push(self.x[st * ld_x..st * ld_x + r].iter().copied());
                // Kernel 2: the tap `dilation` steps back (the oldest column), then now.
                let win = ring.window();
                let taps = &mut self.taps[st * 2 * r..(st + 1) * 2 * r];
                taps[..r].copy_from_slice(&win[..r]);
                taps[r..].copy_from_slice(&win[layer.dilation * r..(layer.dilation + 1) * r]);
            }
            with_slices(b, |xs| {
                stream_rows(&self.taps, 2 * r, xs);
                product(pool, &layer.dilated, xs, &mut self.h, path);
            });
            // Gate: h is [stream][ld_h] (filter, then gate halves); a is [stream][R]. The
            // genre's bias goes in first, so the gate loop itself has no branch and vectorises.
            let ld_h = layer.dilated.ld();
            for st in 0..b {
                let h = &mut self.h[st * ld_h..st * ld_h + 2 * r];
                if !layer.genre.is_empty() {
                    let at = self.genre[st] * 2 * r;
                    h.iter_mut()
                        .zip(&layer.genre[at..at + 2 * r])
                        .for_each(|(h, g)| *h += g);
                }
                let (f, q) = h.split_at(r);
                for ((a, f), q) in self.a[st * r..(st + 1) * r].iter_mut().zip(f).zip(q) {
                    *a = gate(*f, *q);
                }
            }
            with_slices(b, |xs| {
                stream_rows(&self.a, r, xs);
                product(pool, &layer.res_skip, xs, &mut self.rs, path);
            });
            let ld_rs = layer.res_skip.ld();
            for st in 0..b {
                let rs = &self.rs[st * ld_rs..st * ld_rs + r + s];
                let (res, skip) = rs.split_at(r);
                let x = &mut self.x[st * ld_x..st * ld_x + r];
                x.iter_mut().zip(res).for_each(|(x, v)| *x += v);
                let sk = &mut self.skip[st * s..(st + 1) * s];
                sk.iter_mut().zip(skip).for_each(|(x, v)| *x += v);
            }
        }

        // Head: ReLU, 1×1, ReLU, 1×1 to the logits.
        self.skip.iter_mut().for_each(|v| *v = v.max(0.0));
        with_slices(b, |xs| {
            stream_rows(&self.skip, s, xs);
            product(pool, &self.head_hidden, xs, &mut self.hidden, path);
        });
        self.hidden.iter_mut().for_each(|v| *v = v.max(0.0));
        let ld_hidden = self.head_hidden.ld();
        with_slices(b, |xs| {
            stream_rows(&self.hidden, ld_hidden, xs);
            product(pool, &self.head_out, xs, &mut self.head, path);
        });
        let (q, ld_q) = (self.classes, self.head_out.ld());
        if ld_q == q {
            return &self.head;
        }
        for st in 0..b {
            self.logits[st * q..(st + 1) * q].copy_from_slice(&self.head[st * ld_q..][..q]);
        }
        &self.logits
    }
}

/// WaveNet's gated unit, `tanh(f) * sigmoid(q)`, with sigmoid as `(1 + tanh(q / 2)) / 2`.
#[inline(always)]
fn gate(f: f32, q: f32) -> f32 {
    fast_tanh(f) * (0.5 + 0.5 * fast_tanh(0.5 * q))
}

/// Point `xs[s]` at row `s` of the stream-major `buf` (rows of `width`).
fn stream_rows<'a>(buf: &'a [f32], width: usize, xs: &mut [&'a [f32]]) {
    for (x, row) in xs.iter_mut().zip(buf.chunks(width)) {
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
pub use crate::model::wavenet::stack::fast_tanh;

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
