//! Autoregressive generation: the cached [`engine::Engine`] (default) and the straightforward
//! generator kept as its oracle.
//!
//! Both feed each prediction back as the next input, clamped to [-1, 1] (the waveform's range;
//! without it a regression model's feedback can run away to infinity).

pub mod engine;
pub mod kernel;
mod pool;
pub mod sampler;
pub mod wavenet;

use burn::prelude::*;
use lofigen_audio::Clip;

use crate::config::{RunConfig, SAMPLE_RATE_HZ};
use crate::corpus::Track;
use crate::data::{Split, split_tracks};
use crate::error::{Error, Result};
use crate::model::{Model, ModelConfig, SeedConvNet, WaveNet};
pub use engine::Engine;
pub use kernel::{KernelPath, Precision};
pub use sampler::{Sampler, Sampling};
pub use wavenet::WaveNetEngine;

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
        // At the level the model trained on: a quiet seed would otherwise start it off in a
        // corner of the mu-law range it rarely saw.
        SeedAudio::Clip(c) if config.data.normalize_loudness => {
            Ok(crate::data::normalize_loudness(c).samples)
        }
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

/// How to generate, beyond the model and the seed.
#[derive(Clone, Debug, Default)]
pub struct GenerateOptions {
    /// Seconds of new audio.
    pub seconds: f64,
    /// Weight precision of the engine.
    pub precision: Precision,
    /// How a classifying model's next class is drawn (ignored by regressing models).
    pub sampling: Sampling,
    /// Genre index for a conditioned model (see [`genre_index`]).
    pub genre: usize,
}

/// The index of genre `name` among the model's genres; `None` picks `lofi` if the model knows
/// it, else its first genre. An unconditioned model accepts no genre.
pub fn genre_index(model: &ModelConfig, name: Option<&str>) -> Result<usize> {
    let genres = model.genres();
    let bad = |problem: String| Error::Config {
        path: "--genre".into(),
        problem,
    };
    match name {
        None => Ok(genres.iter().position(|g| g == "lofi").unwrap_or(0)),
        Some(_) if genres.is_empty() => Err(bad(
            "this model was trained without genre conditioning; leave --genre out".into(),
        )),
        Some(n) => genres.iter().position(|g| g == n).ok_or_else(|| {
            bad(format!(
                "`{n}` is not one of the model's genres: {}",
                genres.join(", ")
            ))
        }),
    }
}

/// The logits of every position of `classes` in one full forward pass of `model`,
/// `[time][class]`: the oracle of [`WaveNetEngine`].
pub fn full_logits(model: &WaveNet, classes: &[usize], genre: usize, device: &Device) -> Vec<f32> {
    let t = classes.len();
    let input = Tensor::<2, Int>::from_data(
        TensorData::new(classes.iter().map(|&c| c as i64).collect(), [1, t]),
        device,
    );
    let genre = model
        .conditioned()
        .then(|| Tensor::<1, Int>::from_data(TensorData::new(vec![genre as i64], [1]), device));
    model
        .forward(input, genre) // [1, classes, time]
        .swap_dims(1, 2) // [1, time, classes]
        .into_data()
        .try_to_vec::<f32>()
        .expect("model output is f32")
}

/// Generate `samples` classes per stream with the WaveNet engine and `samplers` (one per
/// stream), each stream continuing its own seed classes (equal lengths, at least one).
pub fn wavenet_generate(
    engine: &mut WaveNetEngine,
    samplers: &mut [Sampler],
    seeds: &[&[usize]],
    samples: usize,
) -> Vec<Vec<usize>> {
    let b = engine.streams();
    assert_eq!(seeds.len(), b, "one seed per stream");
    assert_eq!(samplers.len(), b, "one sampler per stream");
    let q = engine.classes();
    engine.reset();
    let len = seeds[0].len();
    assert!(
        len >= 1 && seeds.iter().all(|s| s.len() == len),
        "equal, non-empty seeds"
    );
    let from = len.saturating_sub(engine.receptive_field());
    let mut input = vec![0usize; b];
    let mut outs = vec![Vec::with_capacity(samples); b];
    for t in from..len {
        for (st, seed) in seeds.iter().enumerate() {
            input[st] = seed[t];
        }
        let logits = engine.step(&input);
        if t + 1 == len {
            for st in 0..b {
                input[st] = samplers[st].sample(&logits[st * q..(st + 1) * q]);
            }
        }
    }
    for n in 0..samples {
        for st in 0..b {
            outs[st].push(input[st]);
        }
        if n + 1 == samples {
            break;
        }
        let logits = engine.step(&input);
        for st in 0..b {
            input[st] = samplers[st].sample(&logits[st * q..(st + 1) * q]);
        }
    }
    outs
}

/// Generate `opts.seconds` of audio from a trained model, continuing `seed`: an
/// [`AudioStream`] read for that long.
pub fn generate(model: &Model, seed: &[f32], opts: &GenerateOptions) -> Clip {
    let samples = (opts.seconds * f64::from(SAMPLE_RATE_HZ)).round() as usize;
    let mut out = vec![0.0; samples];
    AudioStream::new(model, seed, opts).fill(&mut out);
    Clip::new(out, SAMPLE_RATE_HZ)
}

/// Endless audio from a trained model: the cached engine fed its own output, continuing a
/// seed, read in chunks of any size. The samples do not depend on how it is chunked.
pub struct AudioStream {
    source: Source,
}

// One per stream, built once and never moved in a loop: the sampler's RNG state making one
// variant larger costs nothing.
#[allow(clippy::large_enum_variant)]
enum Source {
    /// A regressing model: the next sample is the prediction, clamped to [-1, 1].
    Seed { engine: Engine, next: f32 },
    /// A classifying model: the next class is drawn from the logits.
    WaveNet {
        engine: WaveNetEngine,
        sampler: Sampler,
        next: usize,
    },
}

impl AudioStream {
    /// Prime the engine with `seed` (at least one sample). `opts.seconds` is not used: the
    /// stream has no end.
    pub fn new(model: &Model, seed: &[f32], opts: &GenerateOptions) -> Self {
        assert!(!seed.is_empty(), "a stream continues a non-empty seed");
        let source = match model {
            Model::Seed(m) => {
                let mut engine = Engine::from_seed(m, 1, opts.precision);
                let mut next = [0.0];
                engine.prefill(&[seed], &mut next);
                Source::Seed {
                    engine,
                    next: next[0],
                }
            }
            Model::WaveNet(m) => {
                let mut engine = WaveNetEngine::new(m, 1, opts.precision);
                engine.set_genre(0, opts.genre);
                let q = m.classes;
                let mut sampler = Sampler::new(opts.sampling.clone(), q);
                // Only the receptive field's worth of the seed can reach the first sample.
                let from = seed.len().saturating_sub(engine.receptive_field());
                let classes: Vec<usize> = seed[from..]
                    .iter()
                    .map(|&x| lofigen_audio::mulaw::encode(x, q))
                    .collect();
                let (last, history) = classes.split_last().expect("the seed is not empty");
                for &c in history {
                    engine.step(&[c]);
                }
                let next = sampler.sample(engine.step(&[*last]));
                Source::WaveNet {
                    engine,
                    sampler,
                    next,
                }
            }
        };
        Self { source }
    }

    /// Write the next `out.len()` samples.
    pub fn fill(&mut self, out: &mut [f32]) {
        match &mut self.source {
            Source::Seed { engine, next } => {
                let mut pred = [0.0];
                for o in out {
                    let x = next.clamp(-1.0, 1.0);
                    *o = x;
                    engine.step(&[x], &mut pred);
                    *next = pred[0];
                }
            }
            Source::WaveNet {
                engine,
                sampler,
                next,
            } => {
                let q = engine.classes();
                for o in out {
                    *o = lofigen_audio::mulaw::decode(*next, q);
                    *next = sampler.sample(engine.step(&[*next]));
                }
            }
        }
    }
}
