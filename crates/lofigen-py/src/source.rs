//! The audio `generate` and `stream` read: the model's stream, through the effects chain when
//! one is asked for. One type for both, so that a stream's blocks joined are exactly what
//! `generate` returns.

use std::str::FromStr;

use lofigen::runtime::{AudioStream, Generator, StreamOptions};
use lofigen_audio::fx::{FxChain, FxPreset};
use pyo3::PyResult;
use pyo3::exceptions::PyValueError;

/// Model samples pulled through the effects chain at most at a time (and at least, so that the
/// chain is not fed one sample per call while its latency fills).
const FX_PULL_MAX: usize = 4096;
const FX_PULL_MIN: usize = 64;

/// The form of the output: the model's raw mono samples, or the effects chain's stereo.
pub(crate) enum Output {
    /// The model's own samples, mono at its rate.
    Raw,
    /// Through [`FxChain`], stereo at the chain's rate (boxed: the chain's state is large).
    Fx(Box<FxChain>),
}

impl Output {
    /// `fx` (a preset name) and `rate` (Hz) for a model at `model_rate` Hz: raw for `"none"` at
    /// the model's rate, else the effects chain seeded with `seed`. Unknown presets and rates
    /// the chain cannot make are `ValueError`s.
    pub(crate) fn new(fx: &str, model_rate: u32, rate: u32, seed: u64) -> PyResult<Self> {
        let value_error = |e: lofigen_audio::fx::FxError| PyValueError::new_err(e.to_string());
        let preset = FxPreset::from_str(fx).map_err(value_error)?;
        if preset == FxPreset::None && rate == model_rate {
            return Ok(Output::Raw);
        }
        let chain = FxChain::new(preset, model_rate, rate, seed).map_err(value_error)?;
        Ok(Output::Fx(Box::new(chain)))
    }

    /// Channels of the output.
    pub(crate) fn channels(&self) -> usize {
        match self {
            Output::Raw => 1,
            Output::Fx(chain) => usize::from(chain.channels()),
        }
    }

    /// Output frames standing for `model_samples` samples of the model at `model_rate` Hz (the
    /// chain's own rule: `round(n * out_rate / in_rate)`).
    pub(crate) fn frames_for(&self, model_samples: usize, model_rate: u32) -> usize {
        match self {
            Output::Raw => model_samples,
            Output::Fx(chain) => {
                let ratio = f64::from(chain.out_rate()) / f64::from(model_rate);
                (model_samples as f64 * ratio).round() as usize
            }
        }
    }
}

/// A generator's stream in the form of an [`Output`], read frame by frame.
pub(crate) struct Source {
    stream: AudioStream,
    output: Output,
    model_rate: u32,
    /// Model samples on their way into the chain.
    input: Vec<f32>,
    /// Interleaved frames out of the chain, not yet read.
    pending: Vec<f32>,
}

impl Source {
    /// `generator`'s stream with `opts`, in the form of `output`.
    pub(crate) fn new(
        generator: &Generator,
        opts: &StreamOptions,
        output: Output,
    ) -> lofigen::Result<Self> {
        let stream = generator.stream(opts)?;
        Ok(Self {
            stream,
            output,
            model_rate: generator.sample_rate(),
            input: Vec::with_capacity(FX_PULL_MAX),
            pending: Vec::new(),
        })
    }

    /// Appends the next `frames` frames (interleaved) to `out`.
    ///
    /// The chain's output does not depend on how its input is split, and nothing is flushed:
    /// frame `k` is always the same frame, whatever was read before, which is what makes a
    /// stream's blocks join to `generate`'s array (the last frames of a clip are what the
    /// music does next, not a chain emptied into silence).
    pub(crate) fn read(&mut self, frames: usize, out: &mut Vec<f32>) {
        match &mut self.output {
            Output::Raw => {
                let start = out.len();
                out.resize(start + frames, 0.0);
                self.stream.fill(&mut out[start..]);
            }
            Output::Fx(chain) => {
                let channels = usize::from(chain.channels());
                let ratio = f64::from(self.model_rate) / f64::from(chain.out_rate());
                while self.pending.len() < frames * channels {
                    let missing = frames - self.pending.len() / channels;
                    let pull =
                        ((missing as f64 * ratio).ceil() as usize).clamp(FX_PULL_MIN, FX_PULL_MAX);
                    self.input.resize(pull, 0.0);
                    self.stream.fill(&mut self.input);
                    chain.process(&self.input, &mut self.pending);
                }
                out.extend(self.pending.drain(..frames * channels));
            }
        }
    }
}
