//! WaveNet-class models: mu-law classes in, logits over the classes out, through a causal
//! input convolution and a stack of dilated, gated residual layers with skip connections
//! (van den Oord et al., 2016).
//!
//! Unlike the seed family's regression of the conditional mean, the output is a distribution
//! over the next sample's class, trained with cross-entropy and sampled at generation time;
//! that is what keeps generated audio from collapsing onto a steady tone.

use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig, PaddingConfig1d};
use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid, tanh};
use lofigen_audio::score::Guidance;
use serde::{Deserialize, Serialize};

use crate::model::causal::{CausalConv1d, CausalConv1dConfig};
use crate::model::paper::MAX_PARAMETERS;
pub mod head;
pub mod stack;

/// Genre list value that is resolved, when training starts, to the corpus's labels.
pub const AUTO_GENRES: &str = "auto";

/// Settings of a WaveNet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaveNetConfig {
    /// Mu-law classes of the input and output (256 = 8-bit mu-law).
    #[serde(default = "default_classes")]
    pub classes: usize,
    /// Channels of the residual path (and of the input embedding).
    pub residual_channels: usize,
    /// Channels of the skip path and of the output head.
    pub skip_channels: usize,
    /// Residual layers per stack; their dilations are 1, 2, 4, ..., 2^(n-1) samples.
    pub layers_per_stack: usize,
    /// How many times the dilation cycle repeats.
    pub stacks: usize,
    /// Taps of the causal input convolution.
    #[serde(default = "default_input_kernel")]
    pub input_kernel: usize,
    /// Genre labels the model is conditioned on (empty: unconditioned). `["auto"]` is replaced
    /// by the sorted labels (source subfolders) of the training corpus when training starts.
    #[serde(default)]
    pub genres: Vec<String>,
    /// Values per frame of the musical controls the model is locally conditioned on (0: none;
    /// otherwise `lofigen_audio::score::CONTROL_DIMS`: rhythm, metrical phase, harmony,
    /// loudness). See [`ControlNet`].
    #[serde(default)]
    pub controls: usize,
    /// Channels of the control network's convolution over frames.
    #[serde(default = "default_control_channels")]
    pub control_channels: usize,
    /// Samples per control frame (64 at 8 kHz: 125 frames a second, the onset grid).
    #[serde(default = "default_control_hop")]
    pub control_hop: usize,
}

fn default_control_channels() -> usize {
    64
}
fn default_control_hop() -> usize {
    64
}

/// Frames the control network's convolution spans (the previous, the current and the next):
/// a control is a score, known ahead, so the model may look one frame (8 ms) forward.
pub const CONTROL_KERNEL: usize = 3;

fn default_classes() -> usize {
    256
}
fn default_input_kernel() -> usize {
    2
}

/// Taps of every dilated convolution (WaveNet's choice).
pub const DILATED_KERNEL: usize = 2;

impl crate::model::Family for WaveNetConfig {
    fn name(&self) -> &'static str {
        "wavenet"
    }

    fn receptive_field(&self) -> usize {
        WaveNetConfig::receptive_field(self)
    }

    fn validate(&self) -> Result<(), (String, String)> {
        WaveNetConfig::validate(self)
    }

    fn macs_per_sample(&self) -> usize {
        let (r, s) = (self.residual_channels, self.skip_channels);
        let layer = 2 * r * 2 * r + r * r + s * r;
        // The control network runs once per frame; spread over the frame's samples.
        let control = if self.controls > 0 {
            let cc = self.control_channels;
            (cc * self.controls * CONTROL_KERNEL + cc * self.dilations().len() * 2 * r)
                .div_ceil(self.control_hop.max(1))
        } else {
            0
        };
        r * r * self.input_kernel
            + self.dilations().len() * layer
            + s * s
            + s * self.classes
            + control
    }

    fn classes(&self) -> Option<usize> {
        Some(self.classes)
    }

    fn genres(&self) -> &[String] {
        &self.genres
    }

    fn controls(&self) -> Option<(usize, usize)> {
        (self.controls > 0).then_some((self.controls, self.control_hop))
    }
}

impl WaveNetConfig {
    /// Dilations of the residual layers, first layer first.
    pub fn dilations(&self) -> Vec<usize> {
        (0..self.stacks)
            .flat_map(|_| (0..self.layers_per_stack).map(|i| 1usize << i))
            .collect()
    }

    /// Samples of context one prediction sees.
    pub fn receptive_field(&self) -> usize {
        1 + self.input_kernel.saturating_sub(1)
            + self
                .dilations()
                .iter()
                .map(|d| d * (DILATED_KERNEL - 1))
                .sum::<usize>()
    }

    /// Trainable parameters, or None if the count overflows.
    pub fn parameters(&self) -> Option<usize> {
        let (r, s, q) = (self.residual_channels, self.skip_channels, self.classes);
        let g = self.genres.len();
        let conv = |c_in: usize, c_out: usize, k: usize| {
            c_in.checked_mul(c_out)?.checked_mul(k)?.checked_add(c_out)
        };
        let layer = conv(r, 2 * r, DILATED_KERNEL)?
            .checked_add(conv(r, r, 1)?)?
            .checked_add(conv(r, s, 1)?)?
            .checked_add(g.checked_mul(2 * r)?)?;
        let layers = self.layers_per_stack.checked_mul(self.stacks)?;
        let control = if self.controls > 0 {
            let cc = self.control_channels;
            conv(self.controls, cc, CONTROL_KERNEL)?.checked_add(conv(
                cc,
                layers.checked_mul(2 * r)?,
                1,
            )?)?
        } else {
            0
        };
        q.checked_mul(r)?
            .checked_add(conv(r, r, self.input_kernel)?)?
            .checked_add(layer.checked_mul(layers)?)?
            .checked_add(conv(s, s, 1)?)?
            .checked_add(conv(s, q, 1)?)?
            .checked_add(control)
    }

    /// Whether the genre list still waits for the corpus's labels.
    pub fn genres_auto(&self) -> bool {
        self.genres.len() == 1 && self.genres[0] == AUTO_GENRES
    }

    /// Check the architecture; the error is `(key, problem)`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let positive = [
            ("model.classes", self.classes, 2),
            ("model.residual_channels", self.residual_channels, 1),
            ("model.skip_channels", self.skip_channels, 1),
            ("model.layers_per_stack", self.layers_per_stack, 1),
            ("model.stacks", self.stacks, 1),
            ("model.input_kernel", self.input_kernel, 1),
            ("model.control_channels", self.control_channels, 1),
            ("model.control_hop", self.control_hop, 1),
        ];
        for (key, value, min) in positive {
            if value < min {
                return Err((key.into(), format!("{value} is too small (at least {min})")));
            }
        }
        if self.classes > 65536 {
            return Err((
                "model.classes".into(),
                format!("{} is more than 65536 (16-bit mu-law)", self.classes),
            ));
        }
        if self.layers_per_stack > 20 {
            return Err((
                "model.layers_per_stack".into(),
                format!(
                    "{}: the last dilation would be 2^{} samples, far beyond any window",
                    self.layers_per_stack,
                    self.layers_per_stack - 1
                ),
            ));
        }
        if self.parameters().is_none_or(|n| n > MAX_PARAMETERS) {
            return Err((
                "model.residual_channels".into(),
                format!(
                    "the model would have more than {MAX_PARAMETERS} parameters; use fewer \
                     channels, classes or layers"
                ),
            ));
        }
        if !self.genres_auto() {
            let mut seen = std::collections::HashSet::new();
            for g in &self.genres {
                if g.is_empty() || g == AUTO_GENRES {
                    return Err((
                        "model.genres".into(),
                        format!("`{g}` is not a usable genre name"),
                    ));
                }
                if !seen.insert(g) {
                    return Err(("model.genres".into(), format!("`{g}` is listed twice")));
                }
            }
        }
        Ok(())
    }

    /// Build the network on `device`. `["auto"]` genres must have been resolved first.
    pub fn init(&self, device: &Device) -> WaveNet {
        assert!(
            !self.genres_auto(),
            "genres = [\"auto\"] is resolved from the corpus before the model is built"
        );
        let r = self.residual_channels;
        let s = self.skip_channels;
        let conv = |c_in, c_out, k, d| {
            CausalConv1dConfig::new(c_in, c_out, k)
                .with_dilation(d)
                .init(device)
        };
        let layers: Vec<ResidualLayer> = self
            .dilations()
            .into_iter()
            .map(|d| ResidualLayer {
                dilated: conv(r, 2 * r, DILATED_KERNEL, d),
                residual: conv(r, r, 1, 1),
                skip: conv(r, s, 1, 1),
                genre: (!self.genres.is_empty())
                    .then(|| EmbeddingConfig::new(self.genres.len(), 2 * r).init(device)),
            })
            .collect();
        let controls = (self.controls > 0).then(|| ControlNet {
            conv: Conv1dConfig::new(self.controls, self.control_channels, CONTROL_KERNEL)
                .with_padding(PaddingConfig1d::Explicit(1, 1))
                .init(device),
            proj: LinearConfig::new(self.control_channels, layers.len() * 2 * r).init(device),
            hop: self.control_hop,
        });
        WaveNet {
            controls,
            embedding: EmbeddingConfig::new(self.classes, r).init(device),
            input: conv(r, r, self.input_kernel, 1),
            layers,
            head_hidden: conv(s, s, 1, 1),
            head_out: conv(s, self.classes, 1, 1),
            classes: self.classes,
        }
    }
}

/// The control network: a convolution over the control frames, then per residual layer a
/// projection into both halves of its gate (as r9y9's `ResidualConv1dGLU` adds its 1×1
/// projection of the conditioning), all layers in one matrix. Its output is constant over a
/// frame's samples, so the fused stack and the engine add it as a per-frame bias.
#[derive(Module, Debug)]
pub struct ControlNet {
    /// Over frames, centred (`[control_channels, controls, 3]`).
    pub conv: Conv1d,
    /// `control_channels` to `layers * 2R`: layer `l`'s gate bias is columns `l*2R..(l+1)*2R`.
    pub proj: Linear,
    /// Samples per frame.
    pub hop: usize,
}

impl ControlNet {
    /// Every layer's gate bias per frame.
    ///
    /// # Shapes
    /// - controls: `[batch, frames, controls]`
    /// - output: `[batch, frames, layers, 2R]`
    pub fn forward(&self, controls: Tensor<3>, layers: usize) -> Tensor<4> {
        self.forward_guided(controls, layers, &Guidance::default())
    }

    /// [`ControlNet::forward`] followed with `guidance` (see [`Guidance`]): the hidden channels
    /// `h + Σ_g (w_g − 1)(h − h_g)`, `h_g` those of the frames with group `g` left out, then
    /// the projection, as the cached engine computes it, so that a model can be scored as it
    /// plays.
    pub fn forward_guided(
        &self,
        controls: Tensor<3>,
        layers: usize,
        guidance: &Guidance,
    ) -> Tensor<4> {
        let hidden = |c: Tensor<3>| {
            let h = self.conv.forward(c.swap_dims(1, 2)); // [batch, channels, frames]
            relu(h).swap_dims(1, 2) // [batch, frames, channels]
        };
        let dims = self.controls();
        let guided: Vec<_> = guidance.guided_within(dims).collect();
        let mixed = if guided.is_empty() {
            // Training and the plain forward: one pass, nothing kept for a mix.
            hidden(controls)
        } else {
            let h = hidden(controls.clone());
            let mut mixed = h.clone();
            for (group, strength) in guided {
                let keep: Vec<f32> = (0..dims)
                    .map(|i| if group.range().contains(&i) { 0.0 } else { 1.0 })
                    .collect();
                let keep =
                    Tensor::<1>::from_data(TensorData::new(keep, [dims]), &controls.device())
                        .reshape([1, 1, dims]);
                let without = hidden(controls.clone() * keep);
                mixed = mixed + (h.clone() - without) * (strength - 1.0);
            }
            mixed
        };
        let out = self.proj.forward(mixed); // [batch, frames, layers * 2R]
        let [b, f, n] = out.dims();
        out.reshape([b, f, layers, n / layers])
    }

    /// Values per control frame.
    pub fn controls(&self) -> usize {
        self.conv.weight.dims()[1]
    }
}

/// What a WaveNet is conditioned on besides its past samples.
#[derive(Clone, Debug, Default)]
pub struct Conditioning {
    /// `[batch]` genre indices (ignored by a model without genres).
    pub genre: Option<Tensor<1, Int>>,
    /// `[batch, frames, controls]` control frames, frame `t / hop` for sample `t`, at least
    /// `ceil(time / hop)` of them (ignored by a model without controls; zeros if missing).
    pub controls: Option<Tensor<3>>,
    /// How strongly the controls are followed (the default: as trained).
    pub guidance: Guidance,
}

impl Conditioning {
    /// Only a genre.
    pub fn genre(genre: Option<Tensor<1, Int>>) -> Self {
        Self {
            genre,
            ..Self::default()
        }
    }
}

/// Per-frame gate biases `[batch, frames, 2R]` repeated over each frame's samples:
/// `[batch, time, 2R]`.
fn per_sample(bias: Tensor<3>, hop: usize, time: usize) -> Tensor<3> {
    let [b, f, c] = bias.dims();
    bias.unsqueeze_dim::<4>(2) // [batch, frames, 1, 2R]
        .repeat_dim(2, hop)
        .reshape([b, f * hop, c])
        .slice([0..b, 0..time, 0..c])
}

/// One dilated, gated residual layer.
#[derive(Module, Debug)]
pub struct ResidualLayer {
    /// Dilated causal convolution into the gate: `[2 * residual]` channels, tanh half first.
    pub dilated: CausalConv1d,
    /// 1×1 convolution back onto the residual path.
    pub residual: CausalConv1d,
    /// 1×1 convolution onto the skip path.
    pub skip: CausalConv1d,
    /// Per-genre bias inside the gate (global conditioning), `[genres, 2 * residual]`.
    pub genre: Option<Embedding>,
}

impl ResidualLayer {
    /// The gated activation of this layer, channels first.
    ///
    /// # Shapes
    /// - x: `[batch, residual, time]`; genre: `[batch]`; frame_bias: `[batch, time, 2R]`
    /// - output: `[batch, residual, time]`
    fn gate(
        &self,
        x: Tensor<3>,
        genre: Option<&Tensor<1, Int>>,
        frame_bias: Option<Tensor<3>>,
    ) -> Tensor<3> {
        let mut h = self.dilated.forward(x); // [batch, 2 * residual, time]
        if let (Some(table), Some(ids)) = (&self.genre, genre) {
            let bias = table.forward(ids.clone().unsqueeze_dim(1)); // [batch, 1, 2 * residual]
            h = h + bias.swap_dims(1, 2); // broadcast over time
        }
        if let Some(bias) = frame_bias {
            h = h + bias.swap_dims(1, 2);
        }
        let [_, two_r, _] = h.dims();
        let halves = h.chunk(2, 1);
        debug_assert_eq!(halves[0].dims()[1] * 2, two_r);
        let [filter, gate] = [halves[0].clone(), halves[1].clone()];
        tanh(filter) * sigmoid(gate)
    }
}

/// A WaveNet over mu-law classes.
#[derive(Module, Debug)]
pub struct WaveNet {
    /// The control network of a locally conditioned model.
    pub controls: Option<ControlNet>,
    /// Class index to residual-channel vector.
    pub embedding: Embedding,
    /// The causal input convolution.
    pub input: CausalConv1d,
    /// The residual stack, first layer first.
    pub layers: Vec<ResidualLayer>,
    /// First 1×1 convolution of the output head.
    pub head_hidden: CausalConv1d,
    /// Last 1×1 convolution, to the class logits.
    pub head_out: CausalConv1d,
    /// Mu-law classes.
    pub classes: usize,
}

impl WaveNet {
    /// Logits of the next sample's class at every position.
    ///
    /// # Shapes
    /// - input: `[batch, time]` class indices; cond: see [`Conditioning`]
    /// - output: `[batch, classes, time]`; `output[.., t]` predicts `input[.., t + 1]`
    pub fn forward(&self, input: Tensor<2, Int>, cond: Conditioning) -> Tensor<3> {
        self.forward_channels_last(input, cond).swap_dims(1, 2)
    }

    /// [`WaveNet::forward`] with the classes last, the layout it computes in: every convolution
    /// is a matrix product over rows of samples, and the residual stack runs as one fused
    /// operation where the backend has it ([`crate::device::is_flex`]).
    ///
    /// # Shapes
    /// - input: `[batch, time]` class indices; cond: see [`Conditioning`]
    /// - output: `[batch, time, classes]`
    pub fn forward_channels_last(&self, input: Tensor<2, Int>, cond: Conditioning) -> Tensor<3> {
        self.forward_channels_last_with(input, cond, true)
    }

    /// [`WaveNet::forward_channels_last`], choosing the residual stack: `fuse` uses the fused
    /// operation where the backend has it, otherwise burn ops compose it (what other backends
    /// run; the tests compare the two).
    ///
    /// # Shapes
    /// - as [`WaveNet::forward_channels_last`]
    pub fn forward_channels_last_with(
        &self,
        input: Tensor<2, Int>,
        cond: Conditioning,
        fuse: bool,
    ) -> Tensor<3> {
        let skips = self.skips_channels_last(input, cond, fuse);
        self.head_channels_last(skips)
    }

    /// Mean cross-entropy (nats per sample) of the next sample's class, channels last: the
    /// training loss. The head and the loss run as one fused operation where the backend has
    /// it ([`crate::device::is_flex`]) and `fuse` is set; otherwise burn ops compose
    /// [`WaveNet::forward_channels_last_with`] and [`cross_entropy_channels_last`].
    ///
    /// # Shapes
    /// - input: `[batch, time]` class indices; cond: see [`Conditioning`]; target: `[batch, time]`
    /// - output: `[1]`
    pub fn loss_channels_last(
        &self,
        input: Tensor<2, Int>,
        cond: Conditioning,
        target: Tensor<2, Int>,
        fuse: bool,
    ) -> Tensor<1> {
        let skips = self.skips_channels_last(input, cond, fuse);
        if !(fuse && crate::device::is_flex(&skips.device())) {
            return cross_entropy_channels_last(self.head_channels_last(skips), target);
        }
        let device = skips.device();
        let bias = |c: &CausalConv1d| match &c.conv.bias {
            Some(b) => b.val(),
            None => Tensor::zeros([c.dims()[0]], &device),
        };
        head::wavenet_head_loss(
            skips,
            self.head_hidden.conv.weight.val(),
            bias(&self.head_hidden),
            self.head_out.conv.weight.val(),
            bias(&self.head_out),
            target,
        )
    }

    /// Every layer's gate bias per control frame, the control network's output over the first
    /// `ceil(time / hop)` frames (zeros where the caller gave none), or `None` for a model
    /// without controls.
    ///
    /// # Shapes
    /// - output: `[batch, frames, layers, 2R]`
    fn control_bias(&self, cond: &Conditioning, batch: usize, time: usize) -> Option<Tensor<4>> {
        let net = self.controls.as_ref()?;
        let frames = time.div_ceil(net.hop).max(1);
        let device = self.embedding.weight.device();
        let c = match &cond.controls {
            Some(c) => {
                let [b, f, n] = c.dims();
                assert!(
                    b == batch && f >= frames && n == net.controls(),
                    "controls are [{b}, {f}, {n}], the model needs [{batch}, >= {frames}, {}]",
                    net.controls()
                );
                c.clone().slice([0..b, 0..frames, 0..n])
            }
            None => Tensor::zeros([batch, frames, net.controls()], &device),
        };
        Some(net.forward_guided(c, self.layers.len(), &cond.guidance))
    }

    /// The sum of the residual stack's skip outputs.
    ///
    /// # Shapes
    /// - input: `[batch, time]` class indices; cond: see [`Conditioning`]
    /// - output: `[batch, time, skip]`
    fn skips_channels_last(
        &self,
        input: Tensor<2, Int>,
        cond: Conditioning,
        fuse: bool,
    ) -> Tensor<3> {
        let x = self.embedding.forward(input); // [batch, time, residual]
        let x = self.input.forward_channels_last(x);
        match self.cycle_length() {
            Some(lps) if fuse && crate::device::is_flex(&x.device()) => {
                self.stack_fused(x, &cond, lps)
            }
            _ => self.stack_composed(x, &cond),
        }
    }

    /// The output head: ReLU, 1×1, ReLU, 1×1 to the class logits.
    ///
    /// # Shapes
    /// - skips: `[batch, time, skip]`; output: `[batch, time, classes]`
    fn head_channels_last(&self, skips: Tensor<3>) -> Tensor<3> {
        let h = relu(self.head_hidden.forward_channels_last(relu(skips)));
        self.head_out.forward_channels_last(h)
    }

    /// Layers per dilation cycle, if the dilations are `2^(l % n)` as the fused stack assumes.
    fn cycle_length(&self) -> Option<usize> {
        let dilation = |l: &ResidualLayer| l.dilated.conv.dilation;
        let n = self
            .layers
            .iter()
            .skip(1)
            .position(|l| dilation(l) == 1)
            .map_or(self.layers.len(), |p| p + 1);
        let fits = self
            .layers
            .iter()
            .enumerate()
            .all(|(i, l)| dilation(l) == 1 << (i % n) && l.dilated.dims()[2] == DILATED_KERNEL);
        (n > 0 && fits).then_some(n)
    }

    /// The residual stack as one fused operation: the layers' parameters are stacked into the
    /// operation's inputs (burn routes their gradients back to each parameter). The genre and
    /// the controls enter as one gate bias per sequence and frame.
    ///
    /// # Shapes
    /// - x: `[batch, time, residual]`; output: `[batch, time, skip]`
    fn stack_fused(&self, x: Tensor<3>, cond: &Conditioning, lps: usize) -> Tensor<3> {
        let [batch, time, r] = x.dims();
        let device = x.device();
        let weight = |c: &CausalConv1d| c.conv.weight.val();
        let bias = |c: &CausalConv1d| match &c.conv.bias {
            Some(b) => b.val(),
            None => Tensor::zeros([c.dims()[0]], &device),
        };
        let dilated = Tensor::stack(self.layers.iter().map(|l| weight(&l.dilated)).collect(), 0);
        let dilated_bias = Tensor::stack(self.layers.iter().map(|l| bias(&l.dilated)).collect(), 0);
        let out = Tensor::stack(
            self.layers
                .iter()
                .map(|l| {
                    let w = Tensor::cat(vec![weight(&l.residual), weight(&l.skip)], 0);
                    let rows = w.dims()[0];
                    w.reshape([rows, r]) // [residual + skip, residual]
                })
                .collect(),
            0,
        );
        let out_bias = Tensor::stack(
            self.layers
                .iter()
                .map(|l| Tensor::cat(vec![bias(&l.residual), bias(&l.skip)], 0))
                .collect(),
            0,
        );
        let genre = match &cond.genre {
            Some(ids) if self.conditioned() => Some(
                Tensor::cat(
                    self.layers
                        .iter()
                        .filter_map(|l| l.genre.as_ref())
                        .map(|t| t.forward(ids.clone().unsqueeze_dim(1))) // [batch, 1, 2R]
                        .collect(),
                    1,
                )
                .unsqueeze_dim::<4>(1), // [batch, 1, layers, 2R]
            ),
            _ => None,
        };
        let (gate_bias, hop) = match (genre, self.control_bias(cond, batch, time)) {
            (g, Some(c)) => (g.map_or(c.clone(), |g| c + g), self.control_hop()),
            (Some(g), None) => (g, time),
            (None, None) => (
                Tensor::zeros([batch, 1, self.layers.len(), 2 * r], &device),
                time,
            ),
        }; // [batch, frames, layers, 2R]
        stack::wavenet_stack(x, dilated, dilated_bias, out, out_bias, gate_bias, lps, hop)
    }

    /// The residual stack composed of burn ops, channels last, for backends without the fused
    /// operation.
    ///
    /// # Shapes
    /// - x: `[batch, time, residual]`; output: `[batch, time, skip]`
    fn stack_composed(&self, mut x: Tensor<3>, cond: &Conditioning) -> Tensor<3> {
        let [batch, time, _] = x.dims();
        let control = self.control_bias(cond, batch, time);
        let mut skips: Option<Tensor<3>> = None;
        for (l, layer) in self.layers.iter().enumerate() {
            let mut h = layer.dilated.forward_channels_last(x.clone()); // [batch, time, 2R]
            if let (Some(table), Some(ids)) = (&layer.genre, &cond.genre) {
                h = h + table.forward(ids.clone().unsqueeze_dim(1)); // broadcast over time
            }
            if let Some(c) = &control {
                h = h + self.layer_bias(c, l, time);
            }
            let [b, t, two_r] = h.dims();
            let r = two_r / 2;
            let filter = h.clone().slice([0..b, 0..t, 0..r]);
            let gate = h.slice([0..b, 0..t, r..two_r]);
            let a = tanh(filter) * sigmoid(gate); // [batch, time, residual]
            let s = layer.skip.forward_channels_last(a.clone());
            skips = Some(match skips {
                Some(sum) => sum + s,
                None => s,
            });
            x = x + layer.residual.forward_channels_last(a);
        }
        skips.expect("a WaveNet has at least one layer")
    }

    /// Layer `l`'s control gate bias for every sample.
    ///
    /// # Shapes
    /// - control: `[batch, frames, layers, 2R]`; output: `[batch, time, 2R]`
    fn layer_bias(&self, control: &Tensor<4>, l: usize, time: usize) -> Tensor<3> {
        let [b, f, _, two_r] = control.dims();
        let c = control
            .clone()
            .slice([0..b, 0..f, l..l + 1, 0..two_r])
            .reshape([b, f, two_r]);
        per_sample(c, self.control_hop(), time)
    }

    /// Samples per control frame (that of a model without controls is never used).
    pub fn control_hop(&self) -> usize {
        self.controls.as_ref().map_or(1, |c| c.hop)
    }

    /// Values per control frame (0: the model takes no controls).
    pub fn control_dims(&self) -> usize {
        self.controls.as_ref().map_or(0, ControlNet::controls)
    }

    /// The straightforward composition of the convolution modules, channels first: the oracle
    /// the fast paths are tested against.
    ///
    /// # Shapes
    /// - as [`WaveNet::forward`]
    pub fn forward_reference(&self, input: Tensor<2, Int>, cond: Conditioning) -> Tensor<3> {
        let [batch, time] = input.dims();
        let control = self.control_bias(&cond, batch, time);
        let x = self.embedding.forward(input).swap_dims(1, 2); // [batch, residual, time]
        let mut x = self.input.forward(x);
        let mut skips: Option<Tensor<3>> = None;
        for (l, layer) in self.layers.iter().enumerate() {
            let bias = control.as_ref().map(|c| self.layer_bias(c, l, time));
            let a = layer.gate(x.clone(), cond.genre.as_ref(), bias);
            let s = layer.skip.forward(a.clone()); // [batch, skip, time]
            skips = Some(match skips {
                Some(sum) => sum + s,
                None => s,
            });
            x = x + layer.residual.forward(a);
        }
        let skips = skips.expect("a WaveNet has at least one layer");
        let h = relu(self.head_hidden.forward(relu(skips)));
        self.head_out.forward(h)
    }

    /// This model with the weights of `from` wherever the two share a part (embedding, input,
    /// residual layers, head), and a control network that starts silent: its projection is
    /// zeroed, so the warm-started model first plays exactly as `from` did, and training grows
    /// the controls in from there (ControlNet's zero convolution). Genre tables stay as built.
    /// The error says which size differs.
    pub fn warm_start(mut self, from: WaveNet) -> Result<WaveNet, String> {
        let sizes = |m: &WaveNet| {
            (
                m.classes,
                m.input.dims(),
                m.layers.len(),
                m.head_hidden.dims(),
                m.layers
                    .iter()
                    .map(|l| l.dilated.conv.dilation)
                    .collect::<Vec<_>>(),
            )
        };
        if sizes(&self) != sizes(&from) {
            return Err(format!(
                "the model to start from has another shape (classes, input, layers, head, \
                 dilations: {:?}, here {:?})",
                sizes(&from),
                sizes(&self)
            ));
        }
        // Each part loads the other's values into its own parameters (their ids and device
        // stay this model's).
        self.embedding = self.embedding.load_record(from.embedding.into_record());
        self.input = self.input.load_record(from.input.into_record());
        self.head_hidden = self.head_hidden.load_record(from.head_hidden.into_record());
        self.head_out = self.head_out.load_record(from.head_out.into_record());
        self.layers = self
            .layers
            .into_iter()
            .zip(from.layers)
            .map(|(mut l, f)| {
                l.dilated = l.dilated.load_record(f.dilated.into_record());
                l.residual = l.residual.load_record(f.residual.into_record());
                l.skip = l.skip.load_record(f.skip.into_record());
                l
            })
            .collect();
        if let Some(net) = self.controls.take() {
            let weight = net.proj.weight.val().zeros_like();
            let bias = net.proj.bias.as_ref().map(|b| b.val().zeros_like());
            let mut proj = net.proj;
            proj.weight = burn::module::Param::from_tensor(weight);
            proj.bias = bias.map(burn::module::Param::from_tensor);
            self.controls = Some(ControlNet { proj, ..net });
        }
        Ok(self)
    }

    /// Whether the model takes a genre.
    pub fn conditioned(&self) -> bool {
        self.layers.first().is_some_and(|l| l.genre.is_some())
    }
}

/// Mean cross-entropy (nats per sample) of `logits` against the `target` classes.
///
/// # Shapes
/// - logits: `[batch, classes, time]`; target: `[batch, time]`
pub fn cross_entropy(logits: Tensor<3>, target: Tensor<2, Int>) -> Tensor<1> {
    let logp = burn::tensor::activation::log_softmax(logits, 1);
    let picked = logp.gather(1, target.unsqueeze_dim(1)); // [batch, 1, time]
    picked.mean().neg()
}

/// [`cross_entropy`] of logits with the classes last (contiguous rows for the softmax).
///
/// # Shapes
/// - logits: `[batch, time, classes]`; target: `[batch, time]`
pub fn cross_entropy_channels_last(logits: Tensor<3>, target: Tensor<2, Int>) -> Tensor<1> {
    let logp = burn::tensor::activation::log_softmax(logits, 2);
    let picked = logp.gather(2, target.unsqueeze_dim(2)); // [batch, time, 1]
    picked.mean().neg()
}
