//! The models' loss on windows of audio: MSE for the regressing (paper) family, cross-entropy
//! in nats per sample for WaveNets. Training steps on it, and validation, test and `lofigen
//! eval` score with it, so they all measure the same thing.

use burn::prelude::*;
use burn::tensor::DType;
use lofigen_audio::score::Guidance;

use crate::data::Windows;
use crate::model::Model;
use crate::model::wavenet::Conditioning;

/// MSE between prediction and target, as a 1-element tensor.
fn mse(pred: Tensor<3>, target: Tensor<3>) -> Tensor<1> {
    // Flattened first: on WGPU, burn 0.22.1's fusion pairs the elements of a conv1d output
    // and a `[batch, 1, time]` target wrongly when a subtraction, a square and a reduction
    // are fused (found by tests/wgpu.rs: 10-80% off; plain sums come out right). On one
    // axis it is exact, and on the CPU the reshape is free.
    let n = pred.shape().num_elements();
    (pred.reshape([n]) - target.reshape([n]))
        .powi_scalar(2)
        .mean()
}

/// The training loss of `model` on the windows `ids`: MSE for regressing models, cross-entropy
/// in nats per sample for classifying ones.
pub fn batch_loss(model: &Model, windows: &Windows, ids: &[usize], device: &Device) -> Tensor<1> {
    batch_loss_in(model, windows, ids, device, DType::F32, Guidance::default())
}

/// [`batch_loss`] with the model's weights already in `compute` (f32, f16 or bf16): the input
/// is cast to it, the output back to f32 before the loss. A model with controls follows them
/// with `guidance` (training: the default, as given).
pub(crate) fn batch_loss_in(
    model: &Model,
    windows: &Windows,
    ids: &[usize],
    device: &Device,
    compute: DType,
    guidance: Guidance,
) -> Tensor<1> {
    let to_f32 = |t: Tensor<3>| {
        if compute == DType::F32 {
            t
        } else {
            t.cast(DType::F32)
        }
    };
    match model {
        Model::Paper(m) => {
            let (x, y) = windows.batch(ids, device);
            let x = if compute == DType::F32 {
                x
            } else {
                x.cast(compute)
            };
            mse(to_f32(m.forward(x)), y)
        }
        Model::WaveNet(m) => {
            let b = windows.class_batch(ids, m.classes, device);
            let genre = m.conditioned().then_some(b.genre);
            let controls = b.controls.map(|c| {
                if compute == DType::F32 {
                    c
                } else {
                    c.cast(compute)
                }
            });
            let cond = Conditioning {
                genre,
                controls,
                guidance,
            };
            if compute == DType::F32 {
                // The fused head + cross-entropy where the backend has it (Flex).
                m.loss_channels_last(b.input, cond, b.target, true)
            } else {
                // Mixed precision: logits back to f32 before the loss.
                let logits = to_f32(m.forward_channels_last(b.input, cond));
                crate::model::wavenet::cross_entropy_channels_last(logits, b.target)
            }
        }
    }
}

/// Nats per sample as bits per sample.
pub fn nats_to_bits(nats: f64) -> f64 {
    nats / std::f64::consts::LN_2
}

/// Mean loss of `model` over every window of `windows` (capped at `max`), without gradients:
/// the validation and test loss of training, and the NLL of `lofigen eval`.
pub fn mean_loss(
    model: &Model,
    windows: &Windows,
    batch_size: usize,
    max: Option<usize>,
    device: &Device,
) -> f64 {
    mean_loss_guided(model, windows, batch_size, max, Guidance::default(), device)
}

/// [`mean_loss`] of a model with controls that follows them with `guidance`: the model as it
/// plays rather than as trained.
pub fn mean_loss_guided(
    model: &Model,
    windows: &Windows,
    batch_size: usize,
    max: Option<usize>,
    guidance: Guidance,
    device: &Device,
) -> f64 {
    let n = max.map_or(windows.len(), |m| m.min(windows.len()));
    let ids: Vec<usize> = (0..n).collect();
    let mut sum = 0.0;
    for chunk in ids.chunks(batch_size) {
        let loss: f32 =
            batch_loss_in(model, windows, chunk, device, DType::F32, guidance).into_scalar();
        sum += f64::from(loss) * chunk.len() as f64;
    }
    sum / n.max(1) as f64
}

/// The NLL of each sample of the windows `ids` (nats, `[ids.len() * window]`, window by
/// window) for a classifying model following its controls with `guidance`; `None` for the
/// regressing family, whose MSE is not a likelihood. Unlike [`mean_loss_guided`], this keeps
/// where in time the loss falls.
pub fn sample_nll_guided(
    model: &Model,
    windows: &Windows,
    ids: &[usize],
    guidance: Guidance,
    device: &Device,
) -> Option<Vec<f32>> {
    let Model::WaveNet(m) = model else {
        return None;
    };
    let mut out = Vec::new();
    for chunk in ids.chunks(4) {
        let b = windows.class_batch(chunk, m.classes, device);
        let cond = Conditioning {
            genre: m.conditioned().then_some(b.genre),
            controls: b.controls,
            guidance,
        };
        let logits = m.forward_channels_last(b.input, cond);
        let logp = burn::tensor::activation::log_softmax(logits, 2);
        let picked = logp.gather(2, b.target.unsqueeze_dim(2)).neg();
        out.extend(picked.into_data().iter::<f32>());
    }
    Some(out)
}
