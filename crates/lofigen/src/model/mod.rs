//! Model families. Each has a config (TOML, validated) that builds it on a device; all of them
//! are stacks of the one [`causal::CausalConv1d`].

pub mod causal;
pub mod seed;
pub mod wavenet;
pub mod wavenet_ops;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

pub use causal::{CausalConv1d, CausalConv1dConfig};
pub use seed::{SeedConvConfig, SeedConvNet, SeedLayerSpec};
pub use wavenet::{WaveNet, WaveNetConfig};

/// Which network to build; the `family` key in `[model]` selects the variant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "kebab-case")]
pub enum ModelConfig {
    /// The paper's causal Conv1D + ReLU stack, regressing the next sample with MSE.
    Seed(SeedConvConfig),
    /// Dilated gated residual layers over mu-law classes, trained with cross-entropy.
    #[serde(rename = "wavenet")]
    WaveNet(WaveNetConfig),
}

impl ModelConfig {
    /// Samples of context one prediction sees.
    pub fn receptive_field(&self) -> usize {
        match self {
            ModelConfig::Seed(c) => c.receptive_field(),
            ModelConfig::WaveNet(c) => c.receptive_field(),
        }
    }

    /// Check the architecture; the error is `(key, problem)`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        match self {
            ModelConfig::Seed(c) => c.validate(),
            ModelConfig::WaveNet(c) => c.validate(),
        }
    }

    /// Build the model with weights drawn from `seed`: the same seed gives the same weights.
    ///
    /// The backend's RNG is global to the process, so seeding and drawing happen under one
    /// lock; two models initialised at once on different threads would otherwise interleave
    /// their draws.
    pub fn init_seeded(&self, seed: u64, device: &Device) -> Model {
        static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _guard = INIT.lock().unwrap_or_else(|e| e.into_inner());
        device.seed(seed);
        // burn draws parameters lazily, at first use; materialise them here, under the lock,
        // or the draws would happen later, interleaved with other threads'.
        let model = self.init(device);
        let record = model.clone().into_record();
        model.load_record(record)
    }

    /// Build the model on `device` (weights drawn from the device's RNG as it stands).
    pub fn init(&self, device: &Device) -> Model {
        match self {
            ModelConfig::Seed(c) => Model::Seed(c.init(device)),
            ModelConfig::WaveNet(c) => Model::WaveNet(c.init(device)),
        }
    }

    /// A short name of the family, for reports.
    pub fn family(&self) -> &'static str {
        match self {
            ModelConfig::Seed(_) => "seed",
            ModelConfig::WaveNet(_) => "wavenet",
        }
    }

    /// Multiply-adds of one output sample in the direct (time-domain) computation.
    pub fn macs_per_sample(&self) -> usize {
        match self {
            ModelConfig::Seed(c) => {
                let mut c_in = 1;
                c.layers
                    .iter()
                    .map(|l| {
                        let m = c_in * l.channels * l.kernel;
                        c_in = l.channels;
                        m
                    })
                    .sum()
            }
            ModelConfig::WaveNet(c) => {
                let (r, s) = (c.residual_channels, c.skip_channels);
                let layer = 2 * r * 2 * r + r * r + s * r;
                r * r * c.input_kernel + c.dilations().len() * layer + s * s + s * c.classes
            }
        }
    }

    /// Mu-law classes of a classifying model (None: the model regresses sample values).
    pub fn classes(&self) -> Option<usize> {
        match self {
            ModelConfig::Seed(_) => None,
            ModelConfig::WaveNet(c) => Some(c.classes),
        }
    }

    /// Genres the model is conditioned on (empty: none).
    pub fn genres(&self) -> &[String] {
        match self {
            ModelConfig::Seed(_) => &[],
            ModelConfig::WaveNet(c) => &c.genres,
        }
    }
}

/// A built model of any family.
#[derive(Module, Debug)]
// A process holds one or two models; the padding of the smaller variant costs nothing, and
// boxing would hide the module from burn's derive.
#[allow(clippy::large_enum_variant)]
pub enum Model {
    /// See [`SeedConvNet`].
    Seed(SeedConvNet),
    /// See [`WaveNet`].
    WaveNet(WaveNet),
}

impl Model {
    /// Number of trainable scalars.
    pub fn param_count(&self) -> usize {
        self.num_params()
    }
}
