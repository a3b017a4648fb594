//! Autoregressive generation: the cached [`engine::Engine`] (default) and the straightforward
//! generator kept as its oracle.
//!
//! Both feed each prediction back as the next input, clamped to [-1, 1] (the waveform's range;
//! without it a regression model's feedback can run away to infinity).

pub mod engine;
pub mod kernel;
mod pool;

use burn::prelude::*;
use lofigen_audio::Clip;

use crate::config::{RunConfig, SAMPLE_RATE_HZ};
use crate::corpus::Track;
use crate::data::{Split, split_tracks};
use crate::error::{Error, Result};
use crate::model::{Model, SeedConvNet};
pub use engine::Engine;
pub use kernel::Precision;

/// The model's prediction at every position of `signal` in one full forward pass.
///
/// `out[t]` predicts `signal[t + 1]` from `signal[..=t]` (zero history before the start).
pub fn full_forward(model: &SeedConvNet, signal: &[f32], device: &Device) -> Vec<f32> {
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
pub fn naive_generate(
    model: &SeedConvNet,
    seed: &[f32],
    samples: usize,
    device: &Device,
) -> Vec<f32> {
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
pub fn receptive_field(model: &SeedConvNet) -> usize {
    1 + model.layers.iter().map(|l| l.lookback()).sum::<usize>()
}

/// Generate `samples` new samples per stream with the cached engine, each stream continuing
/// its own seed (all seeds of equal length, at least one sample).
pub fn engine_generate(engine: &mut Engine, seeds: &[&[f32]], samples: usize) -> Vec<Vec<f32>> {
    let b = engine.streams();
    assert_eq!(seeds.len(), b, "one seed per stream");
    engine.reset();
    let mut next = vec![0.0; b];
    engine.prefill(seeds, &mut next);
    let mut outs = vec![Vec::with_capacity(samples); b];
    let mut input = vec![0.0; b];
    for _ in 0..samples {
        for s in 0..b {
            input[s] = next[s].clamp(-1.0, 1.0);
            outs[s].push(input[s]);
        }
        engine.step(&input, &mut next);
    }
    outs
}

/// Where the seed clip comes from.
#[derive(Clone, Debug)]
pub enum SeedAudio {
    /// A user's audio (already 8 kHz mono).
    Clip(Clip),
    /// The first window of the test split of the run's training data (what the paper did).
    TestSplit(Vec<Track>),
}

/// The seed samples to continue.
pub fn seed_samples(config: &RunConfig, seed: &SeedAudio) -> Result<Vec<f32>> {
    match seed {
        SeedAudio::Clip(c) if c.is_empty() => Err(Error::Corpus {
            path: "seed audio".into(),
            problem: "is empty".into(),
        }),
        SeedAudio::Clip(c) => Ok(c.samples.clone()),
        SeedAudio::TestSplit(tracks) => {
            let splits = split_tracks(tracks, &config.data)?;
            let w = config.data.window_samples;
            let clip = splits
                .get(Split::Test)
                .iter()
                .find(|c| c.len() >= w)
                .expect("split_tracks guarantees a full window in the test split");
            Ok(clip.samples[..w].to_vec())
        }
    }
}

/// Generate `seconds` of audio from a trained model, continuing `seed`.
pub fn generate(model: &Model, seed: &[f32], seconds: f64, precision: Precision) -> Clip {
    let samples = (seconds * f64::from(SAMPLE_RATE_HZ)).round() as usize;
    let Model::Seed(m) = model;
    let mut engine = Engine::from_seed(m, 1, precision);
    let out = engine_generate(&mut engine, &[seed], samples);
    Clip::new(out.into_iter().next().unwrap_or_default(), SAMPLE_RATE_HZ)
}
