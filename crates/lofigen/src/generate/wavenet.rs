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
use crate::controls::Guidance;
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

/// The control network of a locally conditioned model (see [`crate::model::wavenet::ControlNet`]),
/// run once per frame: its output is a gate bias per layer that holds for the frame's samples.
struct Controls {
    /// Values per frame.
    dims: usize,
    /// Samples per frame.
    hop: usize,
    /// `[channels][dims][3]`, the convolution over the previous, current and next frame.
    conv: Vec<f32>,
    /// `[channels]`.
    conv_bias: Vec<f32>,
    /// `[channels][layers * 2R]` (burn's `[in][out]` layout).
    proj: Vec<f32>,
    /// `[layers * 2R]`.
    proj_bias: Vec<f32>,
    /// Scratch: the hidden channels.
    hidden: Vec<f32>,
    /// Each guided group's strength and dims (see [`WaveNetEngine::set_guidance`]).
    guidance: Vec<(f32, std::ops::Range<usize>)>,
    /// Scratch: the window with a guided group left out, its hidden channels, the guided mix.
    base_window: Vec<f32>,
    base_hidden: Vec<f32>,
    mixed_hidden: Vec<f32>,
}

impl Controls {
    /// The hidden channels (after the ReLU) of a three-frame `window`, into `hidden`.
    fn hidden_into(&self, window: &[f32], hidden: &mut [f32]) {
        let dims = self.dims;
        for (o, h) in hidden.iter_mut().enumerate() {
            let w = &self.conv[o * dims * 3..(o + 1) * dims * 3];
            let mut acc = self.conv_bias[o];
            // w is [dims][3]; window is [3][dims].
            for i in 0..dims {
                for k in 0..3 {
                    acc += w[i * 3 + k] * window[k * dims + i];
                }
            }
            *h = acc.max(0.0);
        }
    }

    /// The gate bias (`[layers * 2R]`) of hidden channels `hidden`, into `out`.
    fn project(&self, hidden: &[f32], out: &mut [f32]) {
        out.copy_from_slice(&self.proj_bias);
        let n = out.len();
        // Channels the ReLU zeroed add nothing: skip their rows.
        for (&h, row) in hidden.iter().zip(self.proj.chunks_exact(n)) {
            if h != 0.0 {
                out.iter_mut().zip(row).for_each(|(o, w)| *o += h * w);
            }
        }
    }
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
    /// The control network, if the model has one.
    controls: Option<Controls>,
    /// `[stream][layer][2R]`: the controls' share of the gate bias of the current frame.
    control_bias: Vec<f32>,
    /// `[stream][layer][2R]`: genre + controls, added inside every gate (if `biased`).
    gate_bias: Vec<f32>,
    /// Whether the model has genres or controls, so that the gates take a bias.
    biased: bool,
    /// `input_rings[stream]`: embedded inputs; `delays[layer * streams + stream]`: residuals.
    input_rings: Vec<Ring>,
    delays: Vec<Delay>,
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
        let mut delays = Vec::new();
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
                    delays.push(Delay::new(dilation, r, st));
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
        let vec_of = |t: burn::Tensor<1>| t.into_data().try_to_vec::<f32>().expect("f32 weights");
        let controls = model.controls.as_ref().map(|net| {
            let w = &net.conv.weight.val();
            let [channels, dims, _] = w.dims();
            Controls {
                dims,
                hop: net.hop,
                conv: vec_of(w.clone().reshape([channels * dims * 3])),
                conv_bias: net
                    .conv
                    .bias
                    .as_ref()
                    .map_or(vec![0.0; channels], |b| vec_of(b.val())),
                proj: vec_of(
                    net.proj
                        .weight
                        .val()
                        .reshape([channels * layers.len() * 2 * r]),
                ),
                proj_bias: net
                    .proj
                    .bias
                    .as_ref()
                    .map_or(vec![0.0; layers.len() * 2 * r], |b| vec_of(b.val())),
                hidden: vec![0.0; channels],
                guidance: Vec::new(),
                base_window: vec![0.0; 3 * dims],
                base_hidden: vec![0.0; channels],
                mixed_hidden: vec![0.0; channels],
            }
        });
        let biased = controls.is_some() || layers.iter().any(|l| !l.genre.is_empty());
        let bias_len = b * layers.len() * 2 * r;
        let mut engine = Self {
            controls,
            control_bias: vec![0.0; bias_len],
            gate_bias: vec![0.0; bias_len],
            biased,
            streams: b,
            classes,
            r,
            s,
            input_kernel,
            embedding,
            layers,
            genre: vec![0; b],
            input_rings: (0..b).map(|st| Ring::new(input_kernel, r, st)).collect(),
            delays,
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
        };
        for st in 0..b {
            engine.update_gate_bias(st);
        }
        engine
    }

    /// Mu-law classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Condition stream `stream` on genre index `genre` (ignored by an unconditioned model).
    pub fn set_genre(&mut self, stream: usize, genre: usize) {
        self.genre[stream] = genre;
        self.update_gate_bias(stream);
    }

    /// Values per control frame (0: the model takes no controls).
    pub fn control_dims(&self) -> usize {
        self.controls.as_ref().map_or(0, |c| c.dims)
    }

    /// Samples per control frame (1 for a model without controls).
    pub fn control_hop(&self) -> usize {
        self.controls.as_ref().map_or(1, |c| c.hop)
    }

    /// Follow each group of controls with `guidance`'s strength (see [`Guidance`]) from the
    /// next [`WaveNetEngine::set_controls`] on, on every stream. Costs one more pass of the
    /// control network per guided group and frame. Ignored by a model without controls.
    pub fn set_guidance(&mut self, guidance: &Guidance) {
        if let Some(c) = self.controls.as_mut() {
            c.guidance = guidance
                .guided_within(c.dims)
                .map(|(g, w)| (w, g.range()))
                .collect();
        }
    }

    /// Condition stream `stream`'s next samples on a control frame: `window` holds the previous,
    /// the current and the next frame (`3 * control_dims` values; zeros where there is none,
    /// as the training convolution's padding). The samples of input index `t` take frame
    /// `t / control_hop`: call this when `t` crosses into a new frame. Ignored by a model
    /// without controls. Allocates nothing.
    pub fn set_controls(&mut self, stream: usize, window: &[f32]) {
        let Some(c) = self.controls.as_mut() else {
            return;
        };
        let dims = c.dims;
        assert_eq!(window.len(), 3 * dims, "three frames of {dims} controls");
        let n = c.proj_bias.len();
        let out = &mut self.control_bias[stream * n..(stream + 1) * n];
        let mut hidden = std::mem::take(&mut c.hidden);
        c.hidden_into(window, &mut hidden);
        if c.guidance.is_empty() {
            c.project(&hidden, out);
        } else {
            // Each guided group's effect, b(all) - b(all but the group), scaled by its strength.
            // The projection is linear, so the effects are summed on the hidden channels and
            // projected once: guidance costs a convolution pass per group, not a projection.
            let mut base = std::mem::take(&mut c.base_hidden);
            let mut mixed = std::mem::take(&mut c.mixed_hidden);
            let mut base_window = std::mem::take(&mut c.base_window);
            mixed.copy_from_slice(&hidden);
            for (strength, range) in &c.guidance {
                base_window.copy_from_slice(window);
                for frame in base_window.chunks_exact_mut(dims) {
                    frame[range.clone()].fill(0.0);
                }
                c.hidden_into(&base_window, &mut base);
                mixed
                    .iter_mut()
                    .zip(hidden.iter().zip(&base))
                    .for_each(|(m, (h, b))| *m += (strength - 1.0) * (h - b));
            }
            c.project(&mixed, out);
            c.base_hidden = base;
            c.mixed_hidden = mixed;
            c.base_window = base_window;
        }
        c.hidden = hidden;
        self.update_gate_bias(stream);
    }

    /// Recompute stream `stream`'s gate bias from its genre and its controls.
    fn update_gate_bias(&mut self, stream: usize) {
        let two_r = 2 * self.r;
        let n = self.layers.len() * two_r;
        let out = &mut self.gate_bias[stream * n..(stream + 1) * n];
        out.copy_from_slice(&self.control_bias[stream * n..(stream + 1) * n]);
        for (layer, bias) in self.layers.iter().zip(out.chunks_exact_mut(two_r)) {
            if !layer.genre.is_empty() {
                let at = self.genre[stream] * two_r;
                bias.iter_mut()
                    .zip(&layer.genre[at..at + two_r])
                    .for_each(|(b, g)| *b += g);
            }
        }
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
        let ring = 2 * self.input_kernel;
        let delays = self.layers.iter().map(|l| l.dilation).sum::<usize>();
        (ring + delays) * self.r * 4
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
        self.delays.iter_mut().for_each(Delay::clear);
    }

    fn reset_stream(&mut self, stream: usize) {
        assert!(stream < self.streams, "stream {stream} of {}", self.streams);
        self.input_rings[stream].clear();
        // `delays[layer * streams + stream]`; the gate bias is the stream's genre and controls,
        // which are settings, not history.
        self.delays
            .iter_mut()
            .skip(stream)
            .step_by(self.streams)
            .for_each(Delay::clear);
    }

    fn step(&mut self, inputs: &[usize]) -> &[f32] {
        // The elementwise work between the products (gates, residual and skip sums, ReLUs) is
        // a fifth of a step at SSE2's four lanes.
        crate::cpu::wide(
            #[inline(always)]
            || self.advance(inputs),
        );
        if self.classes == self.head_out.ld() {
            &self.head
        } else {
            &self.logits
        }
    }
}

impl WaveNetEngine {
    /// One step of every stream, up to the logits (in `head`, or `logits` where the head's
    /// rows are padded).
    #[inline(always)]
    fn advance(&mut self, inputs: &[usize]) {
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
            let delays = &mut self.delays[li * b..(li + 1) * b];
            for (st, delay) in delays.iter_mut().enumerate() {
                // Kernel 2: the tap `dilation` steps back, then now.
                let now = &self.x[st * ld_x..st * ld_x + r];
                let (then, taps_now) = self.taps[st * 2 * r..(st + 1) * 2 * r].split_at_mut(r);
                delay.exchange(now, then);
                taps_now.copy_from_slice(now);
            }
            with_slices(b, |xs| {
                stream_rows(&self.taps, 2 * r, xs);
                product(pool, &layer.dilated, xs, &mut self.h, path);
            });
            // Gate: h is [stream][ld_h] (filter, then gate halves); a is [stream][R]. The
            // genre's and controls' bias goes in first, so the gate loop itself has no branch
            // and vectorises.
            let ld_h = layer.dilated.ld();
            let n_bias = self.layers.len() * 2 * r;
            for st in 0..b {
                let h = &mut self.h[st * ld_h..st * ld_h + 2 * r];
                if self.biased {
                    let at = st * n_bias + li * 2 * r;
                    h.iter_mut()
                        .zip(&self.gate_bias[at..at + 2 * r])
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
        if ld_q != q {
            for st in 0..b {
                self.logits[st * q..(st + 1) * q].copy_from_slice(&self.head[st * ld_q..][..q]);
            }
        }
    }
}

/// A delay line of `dilation` columns: what a dilated kernel-2 convolution needs of its input's
/// past. Each step reads the column `dilation` steps back and writes the new one in its place,
/// one copy each way (a [`Ring`] keeps a contiguous window by writing every column twice).
struct Delay {
    buf: Vec<f32>,
    /// Floats skipped at the start of `buf`, different per stream (see [`Ring`]).
    off: usize,
    width: usize,
    columns: usize,
    pos: usize,
}

impl Delay {
    fn new(dilation: usize, width: usize, stream: usize) -> Self {
        assert!(dilation >= 1, "a dilation of at least 1");
        let off = (stream % 61) * 16;
        Self {
            buf: vec![0.0; off + dilation * width],
            off,
            width,
            columns: dilation,
            pos: 0,
        }
    }

    fn clear(&mut self) {
        self.buf.fill(0.0);
        self.pos = 0;
    }

    /// Write `now` and read into `then` the column pushed `dilation` steps ago (zeros at first).
    #[inline]
    fn exchange(&mut self, now: &[f32], then: &mut [f32]) {
        let at = self.off + self.pos * self.width;
        let slot = &mut self.buf[at..at + self.width];
        then.copy_from_slice(slot);
        slot.copy_from_slice(now);
        self.pos = (self.pos + 1) % self.columns;
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
    // Filling 64 empty slices is 1 KB of stores, a few times per layer: small batches get a
    // small array.
    if streams <= 4 {
        let mut buf: [&[f32]; 4] = [&[]; 4];
        f(&mut buf[..streams]);
    } else if streams <= 64 {
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
