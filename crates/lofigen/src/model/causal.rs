//! The one causal convolution every model family composes.
//!
//! Causality lives here: the input is padded on the left with `(kernel - 1) * dilation` zeros
//! and never on the right, so output `t` sees inputs `<= t` only and the length is kept.
//!
//! Two algorithms compute it, chosen per call ([`ConvAlgorithm`]): burn's direct convolution,
//! and the FFT convolution of [`super::fftconv`], which is tens of times cheaper for the long
//! kernels of the seed models. The weights are the same `Conv1d` parameters either way, so
//! checkpoints and the generation engine do not depend on the choice.

use burn::nn::PaddingConfig1d;
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::prelude::*;
use burn::tensor::DType;
use serde::{Deserialize, Serialize};

use super::fftconv;

/// How a causal convolution is computed. Both give the same values (to float rounding) and
/// the same gradients.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConvAlgorithm {
    /// FFT for kernels of at least [`FFT_MIN_KERNEL`] taps on a backend that has it (Flex),
    /// direct otherwise.
    #[default]
    Auto,
    /// burn's direct convolution, on every backend.
    Direct,
    /// The FFT convolution; falls back to direct on a backend without it.
    Fft,
}

/// Shortest kernel that `auto` computes by FFT. Below it the direct convolution is cheaper (and
/// kernel-2 dilated stacks stay direct).
pub const FFT_MIN_KERNEL: usize = 16;

/// Settings of one causal convolution layer.
#[derive(Config, Debug)]
pub struct CausalConv1dConfig {
    /// Input channels.
    pub channels_in: usize,
    /// Output channels.
    pub channels_out: usize,
    /// Taps of the kernel.
    pub kernel_size: usize,
    /// Spacing between taps, in samples.
    #[config(default = 1)]
    pub dilation: usize,
    /// How to compute it.
    #[config(default = "ConvAlgorithm::Auto")]
    pub algorithm: ConvAlgorithm,
}

impl CausalConv1dConfig {
    /// Build the layer with PyTorch's default initialisation (Kaiming uniform, burn's default).
    pub fn init(&self, device: &Device) -> CausalConv1d {
        let conv = Conv1dConfig::new(self.channels_in, self.channels_out, self.kernel_size)
            .with_dilation(self.dilation)
            .with_padding(PaddingConfig1d::Explicit(
                causal_padding(self.kernel_size, self.dilation),
                0,
            ))
            .init(device);
        CausalConv1d {
            conv,
            algorithm: self.algorithm,
        }
    }
}

/// Left padding that keeps a causal convolution's output as long as its input.
pub fn causal_padding(kernel_size: usize, dilation: usize) -> usize {
    (kernel_size - 1) * dilation
}

/// A 1-D convolution whose output at `t` depends only on inputs at `<= t`.
#[derive(Module, Debug)]
pub struct CausalConv1d {
    /// The underlying convolution, with left-only padding.
    pub conv: Conv1d,
    /// How the forward pass is computed (not a parameter: not saved with the weights).
    #[module(skip)]
    pub algorithm: ConvAlgorithm,
}

impl CausalConv1d {
    /// Apply the convolution.
    ///
    /// # Shapes
    /// - input: `[batch, channels_in, time]`
    /// - output: `[batch, channels_out, time]`
    pub fn forward(&self, input: Tensor<3>) -> Tensor<3> {
        if !self.uses_fft(&input) {
            return self.conv.forward(input);
        }
        let [c_out, _, _] = self.dims();
        let out = fftconv::fft_causal_conv1d(input, self.conv.weight.val(), self.conv.dilation);
        match &self.conv.bias {
            Some(bias) => out + bias.val().reshape([1, c_out, 1]), // [1, channels_out, 1]
            None => out,
        }
    }

    /// Whether [`Self::forward`] takes the FFT path for this input.
    pub fn uses_fft(&self, input: &Tensor<3>) -> bool {
        let fft = match self.algorithm {
            ConvAlgorithm::Direct => false,
            ConvAlgorithm::Fft => true,
            ConvAlgorithm::Auto => self.conv.kernel_size >= FFT_MIN_KERNEL,
        };
        fft && input.dtype() == DType::F32 && fftconv::supports(&input.device())
    }

    /// How many past samples (beyond the current one) this layer looks at.
    pub fn lookback(&self) -> usize {
        causal_padding(self.conv.kernel_size, self.conv.dilation)
    }

    /// `[channels_out, channels_in, kernel]` of the weight.
    pub fn dims(&self) -> [usize; 3] {
        self.conv.weight.dims()
    }

    /// Weights as a flat `[out][in][tap]` vector and the bias (zeros if the layer has none).
    pub fn export(&self) -> (Vec<f32>, Vec<f32>) {
        let [c_out, _, _] = self.dims();
        let weight = self
            .conv
            .weight
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .expect("conv weights are f32");
        let bias = match &self.conv.bias {
            Some(b) => b
                .val()
                .into_data()
                .try_to_vec::<f32>()
                .expect("conv bias is f32"),
            None => vec![0.0; c_out],
        };
        (weight, bias)
    }
}
