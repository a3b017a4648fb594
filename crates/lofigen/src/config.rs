//! Run configuration: the model, the data windows and the training schedule, read from TOML.
//!
//! Every struct denies unknown keys, so a typo is an error that names the key rather than a
//! silently ignored setting. [`RunConfig::validate`] then checks values that parse but cannot
//! work (zero channels, a window shorter than the receptive field, a negative learning rate).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::ModelConfig;

/// Sample rate of everything lofigen trains on and generates, in Hz (the paper's choice).
pub const SAMPLE_RATE_HZ: u32 = lofigen_audio::TARGET_RATE;

/// A complete run: what to build, what to feed it, and how long to train.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// The network.
    pub model: ModelConfig,
    /// How audio becomes training windows.
    #[serde(default)]
    pub data: DataConfig,
    /// Optimiser and schedule.
    #[serde(default)]
    pub train: TrainConfig,
}

/// How the corpus is split and cut into windows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Samples per training window (the paper: 8192).
    #[serde(default = "default_window")]
    pub window_samples: usize,
    /// Samples between the starts of consecutive windows. Defaults to the window length
    /// (non-overlapping, every sample seen once per epoch); 1 is the paper's sliding window.
    #[serde(default)]
    pub stride_samples: Option<usize>,
    /// Fractions of each file, in time order, for train / validation / test (the published
    /// code: 0.7 / 0.2 / 0.1).
    #[serde(default = "default_split")]
    pub split: [f64; 3],
    /// Scale each file to a common RMS level before training (off in the paper).
    #[serde(default)]
    pub normalize_loudness: bool,
    /// For a model with controls: the chance that a training window loses each control group
    /// (rhythm, harmony, loudness) as a whole, so that any subset can be given at generation.
    #[serde(default = "default_control_dropout")]
    pub control_dropout: f32,
    /// For a model with controls: extra copies of each track's training part, pitch-shifted by
    /// these many semitones (resampled, so a little faster or slower too) with their scores
    /// transposed and time-scaled to match, so that the model hears its grooves and
    /// progressions in other keys and tempi. Empty: none.
    #[serde(default)]
    pub transpose_semitones: Vec<i32>,
    /// With `transpose_semitones`: the share of each epoch's training windows taken from the
    /// pitch-shifted copies (0 to 1), the rest from the tracks as they are. Unset: every window
    /// alike, so the copies, being more, fill most of an epoch (five shifts: 5/6). The
    /// resampled copies sound unlike the tracks (the bundled model lost level contrast learning
    /// mostly from them), so a half keeps the tracks' sound and still teaches other keys. When
    /// one group runs short an epoch is shorter, so that the share holds. Ignored without
    /// `transpose_semitones`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transposed_share: Option<f32>,
}

fn default_control_dropout() -> f32 {
    0.2
}

/// Optimiser settings and the training budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Adam learning rate. The published code used 1e-5 and its model card 1e-4; 1e-4 is the
    /// default because at 1e-5 the loss barely moves within a CPU-sized budget.
    #[serde(default = "default_lr")]
    pub learning_rate: f64,
    /// Windows per optimiser step.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// Passes over the training split.
    #[serde(default = "default_epochs")]
    pub epochs: usize,
    /// One seed for the weights, the shuffle and the sampler.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Cap on training windows per epoch (None: all of them); keeps CPU runs bounded.
    #[serde(default)]
    pub max_windows_per_epoch: Option<usize>,
    /// Cap on validation windows per evaluation (None: all of them).
    #[serde(default)]
    pub max_valid_windows: Option<usize>,
    /// Arithmetic of the training forward and backward passes (see [`TrainPrecision`]).
    #[serde(default, skip_serializing_if = "TrainPrecision::is_f32")]
    pub precision: TrainPrecision,
}

/// Arithmetic of training's forward and backward passes.
///
/// The mixed modes keep the weights and Adam's state in f32 (the "master weights"): every step
/// casts the weights to the compute type, runs forward and backward there, and the gradients
/// arrive back in f32 through the cast. Losses are computed in f32. Only the GPU backends run
/// them; the CPU backend (Flex) refuses, since its hand-written kernels compute in f32.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrainPrecision {
    /// Plain f32 everywhere (the default).
    #[default]
    F32,
    /// f16 compute with a static loss scale (f16's range is narrow; see `train`).
    F16,
    /// bf16 compute (f32's range, 8 bits of mantissa; no loss scale needed).
    Bf16,
}

impl TrainPrecision {
    /// Whether this is plain f32.
    pub fn is_f32(&self) -> bool {
        *self == TrainPrecision::F32
    }
}

fn default_window() -> usize {
    8192
}
fn default_split() -> [f64; 3] {
    [0.7, 0.2, 0.1]
}
fn default_lr() -> f64 {
    1e-4
}
fn default_batch() -> usize {
    8
}
fn default_epochs() -> usize {
    5
}
fn default_seed() -> u64 {
    42
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            window_samples: default_window(),
            stride_samples: None,
            split: default_split(),
            normalize_loudness: false,
            control_dropout: default_control_dropout(),
            transpose_semitones: Vec::new(),
            transposed_share: None,
        }
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            learning_rate: default_lr(),
            batch_size: default_batch(),
            epochs: default_epochs(),
            seed: default_seed(),
            max_windows_per_epoch: None,
            max_valid_windows: None,
            precision: TrainPrecision::F32,
        }
    }
}

impl DataConfig {
    /// The effective stride between windows, in samples.
    pub fn stride(&self) -> usize {
        self.stride_samples.unwrap_or(self.window_samples)
    }
}

impl RunConfig {
    /// Parse TOML text; `path` only labels error messages.
    pub fn from_toml_str(text: &str, path: &Path) -> Result<Self> {
        let config: RunConfig = toml::from_str(text).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            problem: e.to_string().trim_end().to_string(),
        })?;
        config.validate(path)?;
        Ok(config)
    }

    /// Read and validate a TOML config file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
        Self::from_toml_str(&text, path)
    }

    /// The config as TOML, as written into a run directory.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("RunConfig always serialises to TOML")
    }

    /// Check values that parse but cannot work. Errors name the offending key.
    pub fn validate(&self, path: &Path) -> Result<()> {
        let bad = |key: &str, problem: String| Error::Config {
            path: path.to_path_buf(),
            problem: format!("`{key}`: {problem}"),
        };
        self.model.validate().map_err(|(key, p)| bad(&key, p))?;

        let d = &self.data;
        let receptive = self.model.receptive_field();
        if d.window_samples <= receptive {
            return Err(bad(
                "data.window_samples",
                format!(
                    "{} samples is not longer than the model's receptive field ({receptive} samples)",
                    d.window_samples
                ),
            ));
        }
        if d.stride() == 0 {
            return Err(bad("data.stride_samples", "must be at least 1".into()));
        }
        if d.split.iter().any(|f| !f.is_finite() || *f <= 0.0) {
            return Err(bad(
                "data.split",
                format!("{:?}: every fraction must be positive", d.split),
            ));
        }
        let sum: f64 = d.split.iter().sum();
        if sum > 1.0 + 1e-9 {
            return Err(bad(
                "data.split",
                format!("{:?} adds up to {sum}, more than 1", d.split),
            ));
        }
        if let Some(k) = d
            .transpose_semitones
            .iter()
            .find(|k| **k == 0 || k.abs() > 12)
        {
            return Err(bad(
                "data.transpose_semitones",
                format!("{k}: each shift must be -12..=12 semitones and not 0"),
            ));
        }
        if let Some(share) = d.transposed_share
            && !(0.0..=1.0).contains(&share)
        {
            return Err(bad(
                "data.transposed_share",
                format!("{share} is not a share (0 to 1)"),
            ));
        }
        if !(0.0..=1.0).contains(&d.control_dropout) {
            return Err(bad(
                "data.control_dropout",
                format!("{} is not a probability (0 to 1)", d.control_dropout),
            ));
        }

        let t = &self.train;
        if !t.learning_rate.is_finite() || t.learning_rate <= 0.0 {
            return Err(bad(
                "train.learning_rate",
                format!("{} must be a positive number", t.learning_rate),
            ));
        }
        if t.batch_size == 0 {
            return Err(bad("train.batch_size", "must be at least 1".into()));
        }
        if t.max_windows_per_epoch == Some(0) {
            return Err(bad(
                "train.max_windows_per_epoch",
                "must be at least 1".into(),
            ));
        }
        if t.max_valid_windows == Some(0) {
            return Err(bad("train.max_valid_windows", "must be at least 1".into()));
        }
        Ok(())
    }
}

/// Path label used in errors for configs that did not come from a file.
pub fn builtin_path() -> PathBuf {
    PathBuf::from("<built-in config>")
}

/// The presets shipped under `configs/`, by name.
pub const PRESETS: &[(&str, &str)] = &[
    ("seed6", include_str!("../../../configs/seed6.toml")),
    (
        "seed6-code",
        include_str!("../../../configs/seed6-code.toml"),
    ),
    ("seed4", include_str!("../../../configs/seed4.toml")),
    (
        "wavenet-small",
        include_str!("../../../configs/wavenet-small.toml"),
    ),
    ("wavenet", include_str!("../../../configs/wavenet.toml")),
    (
        "wavenet-controls",
        include_str!("../../../configs/wavenet-controls.toml"),
    ),
];

impl RunConfig {
    /// A shipped preset by name (`seed6`, `seed6-code`, `seed4`, `wavenet-small`, `wavenet`,
    /// `wavenet-controls`).
    pub fn preset(name: &str) -> Result<Self> {
        let (_, text) = PRESETS
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| Error::Config {
                path: PathBuf::from(name),
                problem: format!(
                    "no such preset; the presets are: {}",
                    PRESETS
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })?;
        Self::from_toml_str(text, Path::new(&format!("configs/{name}.toml")))
    }

    /// A config file path, or else a preset name.
    pub fn load_or_preset(spec: &str) -> Result<Self> {
        let path = Path::new(spec);
        if path.exists() || spec.ends_with(".toml") {
            Self::load(path)
        } else {
            Self::preset(spec)
        }
    }
}
