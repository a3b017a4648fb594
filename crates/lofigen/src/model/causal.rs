//! The one causal convolution every model family composes.
//!
//! Causality lives here: the input is padded on the left with `(kernel - 1) * dilation` zeros
//! and never on the right, so output `t` sees inputs `<= t` only and the length is kept.

use burn::nn::PaddingConfig1d;
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::prelude::*;

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
        CausalConv1d { conv }
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
}

impl CausalConv1d {
    /// Apply the convolution.
    ///
    /// # Shapes
    /// - input: `[batch, channels_in, time]`
    /// - output: `[batch, channels_out, time]`
    pub fn forward(&self, input: Tensor<3>) -> Tensor<3> {
        self.conv.forward(input)
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
