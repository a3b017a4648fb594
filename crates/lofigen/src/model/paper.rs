//! The paper's model: a plain stack of causal convolutions with ReLU, regressing the next sample.

use burn::prelude::*;
use burn::tensor::activation::relu;
use serde::{Deserialize, Serialize};

use super::causal::{CausalConv1d, CausalConv1dConfig, ConvAlgorithm};

/// Largest receptive field accepted, in samples: an hour at 8 kHz.
pub const MAX_RECEPTIVE_FIELD: usize = 8000 * 3600;

/// Largest model accepted, in parameters (4 GB of f32 weights, before Adam doubles it): a
/// config beyond that is a typo, and would abort allocating instead of failing clearly.
pub const MAX_PARAMETERS: usize = 1_000_000_000;

/// One layer of the seed stack.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaperLayerSpec {
    /// Output channels (the last layer must have 1: the predicted sample).
    pub channels: usize,
    /// Kernel length in samples.
    pub kernel: usize,
    /// Spacing between taps in samples (the paper: 1).
    #[serde(default = "one")]
    pub dilation: usize,
}

fn one() -> usize {
    1
}

/// The seed family: layers in order, from the 1-channel waveform to the 1-channel prediction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaperConfig {
    /// The stack, first layer first.
    pub layers: Vec<PaperLayerSpec>,
    /// ReLU after the output layer too, as the paper's text literally says. Off by default:
    /// it clamps every predicted amplitude at >= 0.
    #[serde(default)]
    pub final_relu: bool,
    /// How the convolutions are computed: `"auto"` (FFT for long kernels), `"direct"` or
    /// `"fft"`. A speed choice only: results agree to float rounding.
    #[serde(default)]
    pub conv_algorithm: ConvAlgorithm,
}

impl super::Family for PaperConfig {
    fn name(&self) -> &'static str {
        "paper"
    }

    fn receptive_field(&self) -> usize {
        PaperConfig::receptive_field(self)
    }

    fn validate(&self) -> Result<(), (String, String)> {
        PaperConfig::validate(self)
    }

    fn macs_per_sample(&self) -> usize {
        let mut c_in = 1;
        self.layers
            .iter()
            .map(|l| {
                let m = c_in * l.channels * l.kernel;
                c_in = l.channels;
                m
            })
            .sum()
    }
}

impl PaperConfig {
    /// Samples of context that one output sees: the sum of `(kernel - 1) * dilation`, plus one.
    ///
    /// Saturates at `usize::MAX` rather than overflowing on absurd kernels or dilations;
    /// [`Self::validate`] refuses those.
    pub fn receptive_field(&self) -> usize {
        self.layers.iter().fold(1usize, |rf, l| {
            rf.saturating_add(l.kernel.saturating_sub(1).saturating_mul(l.dilation))
        })
    }

    /// Trainable scalars, computed from the config alone (`None` if it overflows `usize`).
    pub fn param_count(&self) -> Option<usize> {
        let mut channels_in = 1usize;
        let mut total = 0usize;
        for l in &self.layers {
            let weights = channels_in.checked_mul(l.channels)?.checked_mul(l.kernel)?;
            total = total.checked_add(weights)?.checked_add(l.channels)?;
            channels_in = l.channels;
        }
        Some(total)
    }

    /// Check the stack; the error is `(key, problem)`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.layers.is_empty() {
            return Err(("model.layers".into(), "needs at least one layer".into()));
        }
        for (i, l) in self.layers.iter().enumerate() {
            let key = |f: &str| format!("model.layers[{i}].{f}");
            if l.channels == 0 {
                return Err((key("channels"), "must be at least 1".into()));
            }
            if l.kernel == 0 {
                return Err((key("kernel"), "must be at least 1".into()));
            }
            if l.dilation == 0 {
                return Err((key("dilation"), "must be at least 1".into()));
            }
        }
        let last = self.layers.len() - 1;
        // Absurd kernels or dilations overflowed `(kernel - 1) * dilation`, and a model with a
        // trillion parameters passed validation only to abort allocating.
        if self.receptive_field() > MAX_RECEPTIVE_FIELD {
            return Err((
                "model.layers".into(),
                format!(
                    "the receptive field is over {MAX_RECEPTIVE_FIELD} samples \
                     (sum of (kernel - 1) * dilation + 1); use smaller kernels or dilations"
                ),
            ));
        }
        match self.param_count() {
            Some(n) if n <= MAX_PARAMETERS => {}
            n => {
                return Err((
                    "model.layers".into(),
                    format!(
                        "{} parameters; lofigen accepts at most {MAX_PARAMETERS}",
                        n.map_or("more than usize::MAX".to_string(), |n| n.to_string())
                    ),
                ));
            }
        }
        if self.layers[last].channels != 1 {
            return Err((
                format!("model.layers[{last}].channels"),
                format!(
                    "the output layer must have 1 channel (the predicted sample), not {}",
                    self.layers[last].channels
                ),
            ));
        }
        Ok(())
    }

    /// Build the network on `device`.
    pub fn init(&self, device: &Device) -> PaperNet {
        let mut channels_in = 1;
        let layers = self
            .layers
            .iter()
            .map(|l| {
                let layer = CausalConv1dConfig::new(channels_in, l.channels, l.kernel)
                    .with_dilation(l.dilation)
                    .with_algorithm(self.conv_algorithm)
                    .init(device);
                channels_in = l.channels;
                layer
            })
            .collect();
        PaperNet {
            layers,
            final_relu: self.final_relu,
        }
    }
}

/// The paper's network: causal convolutions, ReLU between them, one output channel.
#[derive(Module, Debug)]
pub struct PaperNet {
    /// The convolutions, first layer first.
    pub layers: Vec<CausalConv1d>,
    /// Whether the output layer is followed by a ReLU too.
    pub final_relu: bool,
}

impl PaperNet {
    /// Predict, at every position, the next sample.
    ///
    /// # Shapes
    /// - input: `[batch, 1, time]` waveform in [-1, 1]
    /// - output: `[batch, 1, time]`; `output[.., t]` predicts `input[.., t + 1]`
    pub fn forward(&self, input: Tensor<3>) -> Tensor<3> {
        let last = self.layers.len() - 1;
        let mut x = input;
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x);
            if i < last || self.final_relu {
                x = relu(x);
            }
        }
        x
    }
}
