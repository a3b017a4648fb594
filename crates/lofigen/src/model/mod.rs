//! Model families. Each has a config (TOML, validated) that builds it on a device; all of them
//! are stacks of the one [`causal::CausalConv1d`].

pub mod causal;
pub mod fftconv;
mod flex_io;
pub mod paper;
pub mod wavenet;

use burn::module::{ModuleMapper, Param, ParamId};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

pub use causal::{CausalConv1d, CausalConv1dConfig, ConvAlgorithm};
pub use paper::{PaperConfig, PaperLayerSpec, PaperNet};
pub use wavenet::{WaveNet, WaveNetConfig};

/// Which network to build; the `family` key in `[model]` selects the variant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "kebab-case")]
pub enum ModelConfig {
    /// The paper's causal Conv1D + ReLU stack, regressing the next sample with MSE. Configs
    /// and run directories written before the rename say `family = "seed"`.
    #[serde(rename = "paper", alias = "seed")]
    Paper(PaperConfig),
    /// Dilated gated residual layers over mu-law classes, trained with cross-entropy.
    #[serde(rename = "wavenet")]
    WaveNet(WaveNetConfig),
}

/// What every model family's config answers; the rest of lofigen asks [`ModelConfig`], which
/// hands each question to its family, so a new family implements this once.
pub trait Family {
    /// The `family` key's value.
    fn name(&self) -> &'static str;
    /// Samples of context one prediction sees.
    fn receptive_field(&self) -> usize;
    /// Check the architecture; the error is `(key, problem)`.
    fn validate(&self) -> Result<(), (String, String)>;
    /// Multiply-adds of one output sample in the direct (time-domain) computation.
    fn macs_per_sample(&self) -> usize;
    /// Mu-law classes of a classifying model (None: the model regresses sample values).
    fn classes(&self) -> Option<usize> {
        None
    }
    /// Genres the model is conditioned on (empty: none).
    fn genres(&self) -> &[String] {
        &[]
    }
    /// Values per control frame and samples per frame of a locally conditioned model
    /// (`None`: the model takes no controls).
    fn controls(&self) -> Option<(usize, usize)> {
        None
    }
    /// The training loss's name and unit, for plots and reports.
    fn loss_unit(&self) -> &'static str {
        match self.classes() {
            Some(_) => "cross-entropy, nats per sample",
            None => "MSE",
        }
    }
}

impl ModelConfig {
    /// The family's own config, for the questions every family answers.
    pub fn family_config(&self) -> &dyn Family {
        match self {
            ModelConfig::Paper(c) => c,
            ModelConfig::WaveNet(c) => c,
        }
    }

    /// The `family` key's value.
    pub fn family(&self) -> &'static str {
        self.family_config().name()
    }

    /// Samples of context one prediction sees.
    pub fn receptive_field(&self) -> usize {
        self.family_config().receptive_field()
    }

    /// Check the architecture; the error is `(key, problem)`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        self.family_config().validate()
    }

    /// Multiply-adds of one output sample in the direct (time-domain) computation.
    pub fn macs_per_sample(&self) -> usize {
        self.family_config().macs_per_sample()
    }

    /// Mu-law classes of a classifying model (None: the model regresses sample values).
    pub fn classes(&self) -> Option<usize> {
        self.family_config().classes()
    }

    /// Genres the model is conditioned on (empty: none).
    pub fn genres(&self) -> &[String] {
        self.family_config().genres()
    }

    /// Values per control frame and samples per frame (`None`: no controls).
    pub fn controls(&self) -> Option<(usize, usize)> {
        self.family_config().controls()
    }

    /// The training loss's name and unit.
    pub fn loss_unit(&self) -> &'static str {
        self.family_config().loss_unit()
    }

    /// Build the model with weights drawn from `seed`: the same seed gives the same weights,
    /// on every backend.
    ///
    /// Each backend has its own RNG, so the weights are always drawn on the Flex CPU backend
    /// and then loaded onto `device`; a run seeded alike starts alike on a GPU. The CPU RNG is
    /// global to the process, so seeding and drawing happen under one lock; two models
    /// initialised at once on different threads would otherwise interleave their draws.
    pub fn init_seeded(&self, seed: u64, device: &Device) -> Model {
        static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let record = {
            let _guard = INIT.lock().unwrap_or_else(|e| e.into_inner());
            let cpu = crate::cpu_device();
            cpu.seed(seed);
            // burn draws parameters lazily, at first use; `into_record` reads every one, so
            // the draws all happen here, under the lock.
            self.init(&cpu).into_record()
        };
        // Loading replaces each lazy parameter before it is drawn, so `device`'s own RNG is
        // never touched; the parameters keep `device`'s autodiff setting.
        self.init(device)
            .load_record(record)
            .map(&mut PathParamIds::default())
    }

    /// Build the model on `device` (weights drawn from the device's RNG as it stands).
    pub fn init(&self, device: &Device) -> Model {
        match self {
            ModelConfig::Paper(c) => Model::Paper(c.init(device)),
            ModelConfig::WaveNet(c) => Model::WaveNet(c.init(device)),
        }
    }
}

/// Gives every parameter a [`ParamId`] derived from its path in the module (`layers.0.conv.weight`)
/// instead of burn's random one.
///
/// The ids are written into `model.bpk` and key the Adam state in `optimizer.bpk`, so random ids
/// made two runs with the same seed differ in their checkpoint bytes. Paths are unique within a
/// module, so the ids stay unique. Checkpoints written before this keep their random ids: loading
/// restores the ids from the record, which still match their optimizer state.
#[derive(Default)]
pub struct PathParamIds {
    path: Vec<String>,
}

impl PathParamIds {
    /// FNV-1a (64-bit) of the dotted path: stable across runs, platforms and Rust versions,
    /// unlike `std`'s hasher.
    fn id(&self) -> ParamId {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.path.join(".").bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        ParamId::from(h)
    }
}

impl ModuleMapper for PathParamIds {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, mut param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.id = self.id();
        param
    }

    fn map_int<const D: usize>(
        &mut self,
        mut param: Param<Tensor<D, Int>>,
    ) -> Param<Tensor<D, Int>> {
        param.id = self.id();
        param
    }

    fn map_bool<const D: usize>(
        &mut self,
        mut param: Param<Tensor<D, Bool>>,
    ) -> Param<Tensor<D, Bool>> {
        param.id = self.id();
        param
    }
}

/// A built model of any family.
#[derive(Module, Debug)]
// A process holds one or two models; the padding of the smaller variant costs nothing, and
// boxing would hide the module from burn's derive.
#[allow(clippy::large_enum_variant)]
pub enum Model {
    /// See [`PaperNet`].
    Paper(PaperNet),
    /// See [`WaveNet`].
    WaveNet(WaveNet),
}

impl Model {
    /// Number of trainable scalars.
    pub fn param_count(&self) -> usize {
        self.num_params()
    }
}
