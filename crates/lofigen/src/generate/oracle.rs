//! Test oracles: the straightforward full-recompute computations that the cached engines are
//! checked against (tests) and timed against (`lofigen bench generate`). Not part of the
//! runtime API: nothing generates audio through them.

use burn::prelude::*;

use crate::controls::Guidance;
use crate::model::wavenet::Conditioning;
use crate::model::{PaperNet, WaveNet};

/// The model's prediction at every position of `signal` in one full forward pass.
///
/// `out[t]` predicts `signal[t + 1]` from `signal[..=t]` (zero history before the start).
pub fn full_forward(model: &PaperNet, signal: &[f32], device: &Device) -> Vec<f32> {
    let x = Tensor::<3>::from_data(
        TensorData::new(signal.to_vec(), [1, 1, signal.len()]),
        device,
    );
    model
        .forward(x)
        .into_data()
        .try_to_vec::<f32>()
        .expect("model output is f32")
}

/// The straightforward generator: for every new sample, run the model over the recent past
/// (the receptive field, or the whole history while it is shorter) and keep the last output.
pub fn naive_generate(model: &PaperNet, seed: &[f32], samples: usize, device: &Device) -> Vec<f32> {
    let rf = receptive_field(model);
    let mut history = seed.to_vec();
    let mut out = Vec::with_capacity(samples);
    for _ in 0..samples {
        let from = history.len().saturating_sub(rf);
        let pred = full_forward(model, &history[from..], device);
        let next = pred.last().copied().unwrap_or(0.0).clamp(-1.0, 1.0);
        history.push(next);
        out.push(next);
    }
    out
}

/// Samples of context one output of `model` sees.
pub fn receptive_field(model: &PaperNet) -> usize {
    1 + model.layers.iter().map(|l| l.lookback()).sum::<usize>()
}

/// The logits of every position of `classes` in one full forward pass of `model`,
/// `[time][class]`: the oracle of [`super::WaveNetEngine`].
pub fn full_logits(model: &WaveNet, classes: &[usize], genre: usize, device: &Device) -> Vec<f32> {
    full_logits_controlled(model, classes, genre, &[], device)
}

/// [`full_logits`] of a model with controls: `controls` holds `[frame][control]` values, frame
/// `t / hop` for position `t` (empty: all zeros).
pub fn full_logits_controlled(
    model: &WaveNet,
    classes: &[usize],
    genre: usize,
    controls: &[f32],
    device: &Device,
) -> Vec<f32> {
    full_logits_guided(model, classes, genre, controls, Guidance::default(), device)
}

/// [`full_logits_controlled`] with the controls followed with `guidance`.
pub fn full_logits_guided(
    model: &WaveNet,
    classes: &[usize],
    genre: usize,
    controls: &[f32],
    guidance: Guidance,
    device: &Device,
) -> Vec<f32> {
    let t = classes.len();
    let input = Tensor::<2, Int>::from_data(
        TensorData::new(classes.iter().map(|&c| c as i64).collect(), [1, t]),
        device,
    );
    let genre = model
        .conditioned()
        .then(|| Tensor::<1, Int>::from_data(TensorData::new(vec![genre as i64], [1]), device));
    let dims = model.control_dims();
    let controls = (dims > 0 && !controls.is_empty()).then(|| {
        let frames = controls.len() / dims;
        Tensor::<3>::from_data(
            TensorData::new(controls.to_vec(), [1, frames, dims]),
            device,
        )
    });
    model
        .forward(
            input,
            Conditioning {
                genre,
                controls,
                guidance,
            },
        ) // [1, classes, time]
        .swap_dims(1, 2) // [1, time, classes]
        .into_data()
        .try_to_vec::<f32>()
        .expect("model output is f32")
}
