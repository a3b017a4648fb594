//! The one causal convolution every model family composes.
//!
//! Causality lives here: the input is padded on the left with `(kernel - 1) * dilation` zeros
//! and never on the right, so output `t` sees inputs `<= t` only and the length is kept. In the
//! channels-last form (rows are samples) each tap is a matrix product of the input [`delay`]ed
//! by the tap's lag, so the causal shift lives in that one helper.
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

/// Delay a channels-last sequence by `lag` samples: zeros enter at the start and the last `lag`
/// samples fall off, so output `t` holds input `t - lag`.
///
/// # Shapes
/// - input and output: `[batch, time, channels]`
pub fn delay(input: Tensor<3>, lag: usize) -> Tensor<3> {
    let [batch, time, channels] = input.dims();
    if lag == 0 {
        return input;
    }
    if lag >= time {
        return input.zeros_like();
    }
    // In the input's float type, so that mixed-precision (f16, bf16) training concatenates.
    let zeros = Tensor::zeros([batch, lag, channels], (&input.device(), input.dtype()));
    let kept = input.slice([0..batch, 0..time - lag, 0..channels]);
    Tensor::cat(vec![zeros, kept], 1)
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
        fft && input.dtype() == DType::F32 && crate::device::is_flex(&input.device())
    }

    /// Apply the convolution to a channels-last sequence: per tap, the input delayed by the
    /// tap's lag times the tap's `[in, out]` matrix, summed, plus the bias. Same weights and
    /// result as [`CausalConv1d::forward`], as matrix products that CPU backends run far faster
    /// than their convolution paths for thin kernels.
    ///
    /// # Shapes
    /// - input: `[batch, time, channels_in]`
    /// - output: `[batch, time, channels_out]`
    pub fn forward_channels_last(&self, input: Tensor<3>) -> Tensor<3> {
        let [batch, time, c_in] = input.dims();
        let [c_out, _, kernel] = self.dims();
        let (device, input_dtype) = (input.device(), input.dtype());
        let weight = self.conv.weight.val();
        let mut sum: Option<Tensor<2>> = None;
        for tap in 0..kernel {
            let lag = (kernel - 1 - tap) * self.conv.dilation;
            if lag >= time {
                continue; // this tap only ever sees the zero padding
            }
            let w = weight
                .clone()
                .slice([0..c_out, 0..c_in, tap..tap + 1])
                .reshape([c_out, c_in])
                .transpose(); // [in, out]
            let x = delay(input.clone(), lag).reshape([batch * time, c_in]);
            let y = x.matmul(w); // [batch * time, out]
            sum = Some(match sum {
                Some(s) => s + y,
                None => y,
            });
        }
        let mut y =
            sum.unwrap_or_else(|| Tensor::zeros([batch * time, c_out], (&device, input_dtype)));
        if let Some(bias) = &self.conv.bias {
            y = y + bias.val().unsqueeze::<2>();
        }
        y.reshape([batch, time, c_out])
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

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    fn max_abs_diff(a: Tensor<3>, b: Tensor<3>) -> f32 {
        (a - b).abs().max().into_scalar()
    }

    #[test]
    fn channels_last_form_equals_the_convolution_and_is_causal() {
        let device = Device::flex();
        device.seed(7);
        for (k, d) in [(1, 1), (2, 1), (2, 4), (3, 2), (2, 40)] {
            let conv = CausalConv1dConfig::new(3, 5, k)
                .with_dilation(d)
                .init(&device);
            let x = Tensor::<3>::random([2, 3, 23], Distribution::Normal(0.0, 1.0), &device);
            let reference = conv.forward(x.clone()); // [batch, out, time]
            let last = conv.forward_channels_last(x.clone().swap_dims(1, 2));
            let diff = max_abs_diff(last.clone().swap_dims(1, 2), reference);
            assert!(diff < 1e-5, "k {k} d {d}: differs by {diff}");
            // Changing inputs at >= t must leave outputs before t alone.
            for t in [0, 1, 11, 22] {
                let noise =
                    Tensor::<3>::random([2, 23 - t, 3], Distribution::Normal(0.0, 1.0), &device);
                let mut changed = x.clone().swap_dims(1, 2);
                changed = changed.slice_assign([0..2, t..23, 0..3], noise);
                let moved = conv.forward_channels_last(changed);
                let before = |y: Tensor<3>| y.slice([0..2, 0..t, 0..5]);
                if t > 0 {
                    let diff = max_abs_diff(before(moved), before(last.clone()));
                    assert_eq!(diff, 0.0, "k {k} d {d}: output before {t} moved");
                }
            }
        }
    }

    #[test]
    fn delay_shifts_later_and_pads_with_zeros() {
        let device = Device::flex();
        let x = Tensor::<3>::from_floats([[[1.0], [2.0], [3.0], [4.0]]], &device);
        let y: Vec<f32> = delay(x.clone(), 2).into_data().try_to_vec().unwrap();
        assert_eq!(y, [0.0, 0.0, 1.0, 2.0]);
        let y: Vec<f32> = delay(x, 9).into_data().try_to_vec().unwrap();
        assert_eq!(y, [0.0; 4]);
    }
}
