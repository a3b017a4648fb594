//! The runtime API: what every front end (the `lofigen` binary, a radio server, the Python
//! package) uses to turn a trained model into audio. A [`Generator`] holds a model (the bundled
//! one or a run's) and yields [`AudioStream`]s, read in blocks of any size or written to a WAV
//! file or a pipe as they are generated.
//! No burn type appears in its signatures: front ends need not know which backend computes.

use std::path::{Path, PathBuf};

use lofigen_audio::{Clip, load_mono_8k};

use crate::config::{RunConfig, SAMPLE_RATE_HZ};
use crate::corpus::load_tracks;
use crate::device::{ComputeDevice, DeviceSpec};
use crate::error::{Error, Result};
pub use crate::generate::{AudioStream, Precision, Sampling};
use crate::generate::{GenerateOptions, Prompt, genre_index};
use crate::model::Model;
use crate::run::RunDir;

/// The audio a stream continues.
#[derive(Clone, Debug, Default)]
pub enum PromptSource {
    /// The model's own: the bundled model's half second of "Island Dreams", or the first
    /// window of a run's test split (what the paper did).
    #[default]
    Default,
    /// An audio file of any supported format and rate.
    File(PathBuf),
    /// Audio already in memory (any rate; resampled to the model's).
    Clip(Clip),
}

/// How a stream is generated, beyond the model.
#[derive(Clone, Debug, Default)]
pub struct StreamOptions {
    /// How a WaveNet's next sample is drawn (the paper's models regress and ignore it); its
    /// `seed` makes the audio reproducible.
    pub sampling: Sampling,
    /// Precision of the engine's weights.
    pub precision: Precision,
    /// Genre of a genre-conditioned model (None: `lofi` if it knows it, else its first).
    pub genre: Option<String>,
    /// What the stream continues.
    pub prompt: PromptSource,
}

/// Where a generator's model came from.
#[derive(Clone, Debug)]
enum Origin {
    Bundled,
    Run(PathBuf),
}

/// A trained model ready to generate.
pub struct Generator {
    config: RunConfig,
    model: Model,
    origin: Origin,
    /// Where the checkpoint was loaded (the samples always come from the CPU engine).
    device: ComputeDevice,
}

impl Generator {
    /// The lofi model that ships inside lofigen (see [`crate::bundled`]).
    pub fn bundled() -> Result<Self> {
        let device = crate::device::resolve(DeviceSpec::Cpu)?;
        let (config, model) = crate::bundled::lofi_model(&device.device)?;
        Ok(Self {
            config,
            model,
            origin: Origin::Bundled,
            device,
        })
    }

    /// The latest checkpoint of the run directory `run`, loaded on the CPU.
    pub fn from_run(run: &Path) -> Result<Self> {
        Self::from_run_on(run, DeviceSpec::Cpu)
    }

    /// The latest checkpoint of `run`, loaded on `device` (an absent device is an error). The
    /// samples come from the cached CPU engine wherever the checkpoint is loaded.
    pub fn from_run_on(run: &Path, device: DeviceSpec) -> Result<Self> {
        let device = crate::device::resolve(device)?;
        let (config, model) = RunDir::new(run).load_trained(&device.device)?;
        Ok(Self {
            config,
            model,
            origin: Origin::Run(run.to_path_buf()),
            device,
        })
    }

    /// What messages call the model: "the bundled lofi model" or the run's path.
    pub fn name(&self) -> String {
        match &self.origin {
            Origin::Bundled => crate::bundled::NAME.to_string(),
            Origin::Run(p) => p.display().to_string(),
        }
    }

    /// Where the checkpoint was loaded, e.g. `cpu (Flex)` or `cuda:0 (NVIDIA ...)`.
    pub fn device_name(&self) -> &str {
        &self.device.name
    }

    /// Whether the checkpoint sits on the CPU backend (where the engine runs anyway).
    pub fn loaded_on_cpu(&self) -> bool {
        crate::device::is_flex(&self.device.device)
    }

    /// Samples per second of the audio it makes.
    pub fn sample_rate(&self) -> u32 {
        SAMPLE_RATE_HZ
    }

    /// The model's genres (empty: not genre-conditioned).
    pub fn genres(&self) -> &[String] {
        self.config.model.genres()
    }

    /// The resolved config of the model.
    pub fn config(&self) -> &RunConfig {
        &self.config
    }

    /// An endless stream of audio, read in blocks of any size.
    pub fn stream(&self, opts: &StreamOptions) -> Result<AudioStream> {
        opts.sampling.validate().map_err(|problem| Error::Config {
            path: "sampling".into(),
            problem,
        })?;
        let genre = genre_index(&self.config.model, opts.genre.as_deref())?;
        let prompt = self.prompt(&opts.prompt)?;
        let gen_opts = GenerateOptions {
            seconds: 0.0,
            precision: opts.precision,
            sampling: opts.sampling.clone(),
            genre,
        };
        Ok(AudioStream::new(&self.model, &prompt, &gen_opts))
    }

    /// `seconds` of audio (the same samples as reading [`Self::stream`] for that long).
    pub fn generate(&self, seconds: f64, opts: &StreamOptions) -> Result<Clip> {
        let n = samples_for(seconds)?;
        let mut out = vec![0.0; n];
        self.stream(opts)?.fill(&mut out);
        Ok(Clip::new(out, SAMPLE_RATE_HZ))
    }

    /// The prompt's samples, at the model's rate and training level.
    fn prompt(&self, source: &PromptSource) -> Result<Vec<f32>> {
        let prompt = match (source, &self.origin) {
            (PromptSource::File(p), _) => Prompt::Clip(load_mono_8k(p)?.0),
            (PromptSource::Clip(c), _) => Prompt::Clip(lofigen_audio::resample(c, SAMPLE_RATE_HZ)),
            (PromptSource::Default, Origin::Bundled) => {
                Prompt::Clip(crate::bundled::lofi_prompt()?)
            }
            (PromptSource::Default, Origin::Run(run)) => {
                let info = RunDir::new(run).info()?;
                Prompt::TestSplit(load_tracks(&info.sources)?)
            }
        };
        crate::generate::prompt_samples(&self.config, &prompt)
    }
}

/// `seconds` as a sample count, refusing what is not a positive, finite duration.
pub fn samples_for(seconds: f64) -> Result<usize> {
    if !(seconds > 0.0 && seconds.is_finite()) {
        return Err(Error::Config {
            path: "seconds".into(),
            problem: format!("must be a positive number, not {seconds}"),
        });
    }
    Ok((seconds * f64::from(SAMPLE_RATE_HZ)).round() as usize)
}
