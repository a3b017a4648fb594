//! The run directory: one type that knows its layout and reads and writes it, for training,
//! generation, evaluation and plots alike.
//!
//! A run directory holds:
//! - `config.toml`: the resolved config, written before training starts;
//! - `checkpoints/epoch-NNNN/`: model, optimizer state and `state.json` after each epoch,
//!   built in a temporary folder and renamed into place, so a kill never leaves a checkpoint
//!   that looks complete but is not;
//! - `metrics.csv` (`epoch,split,loss`) and `loss.png`, rewritten from the checkpoint's history,
//!   so after a resume they never hold duplicated or missing rows;
//! - `run.json`: what was trained on, for how long, on which device.

use std::path::{Path, PathBuf};

use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use burn::store::{ModuleRecord, RecordError};
use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::error::{Error, Result, write_file};
use crate::model::Model;
use crate::plot::{Series, loss_curves};

/// File names inside a run directory.
pub mod files {
    /// The resolved config.
    pub const CONFIG: &str = "config.toml";
    /// Loss per epoch and split.
    pub const METRICS: &str = "metrics.csv";
    /// Train and validation curves.
    pub const LOSS_PLOT: &str = "loss.png";
    /// Summary of the run.
    pub const RUN_INFO: &str = "run.json";
    /// Folder of per-epoch checkpoints.
    pub const CHECKPOINTS: &str = "checkpoints";
    /// Model weights inside a checkpoint.
    pub const MODEL: &str = "model.bpk";
    /// Optimizer state inside a checkpoint.
    pub const OPTIMIZER: &str = "optimizer.bpk";
    /// Progress inside a checkpoint.
    pub const STATE: &str = "state.json";
    /// The training set's musical style (tempi, grooves, chord moves) for a model with
    /// controls: what it plays when the user asks for nothing.
    pub const STYLE: &str = "style.json";
}

/// How many checkpoints to keep (the newest ones).
const KEEP_CHECKPOINTS: usize = 2;

/// Loss of one epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss over the windows used.
    pub train_loss: f64,
    /// Mean validation loss.
    pub valid_loss: f64,
    /// Validation NLL in bits per sample, for classifying models (8 bits = a uniform guess
    /// over 256 classes).
    #[serde(default)]
    pub valid_bits_per_sample: Option<f64>,
    /// Training windows used in this epoch.
    pub windows: usize,
    /// Wall-clock seconds of this epoch.
    pub seconds: f64,
}

/// Progress stored with each checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Epochs completed.
    pub epoch: usize,
    /// Optimiser steps taken.
    pub step: usize,
    /// Metrics of every completed epoch.
    pub history: Vec<EpochMetrics>,
    /// Loss on the test split, once training has finished.
    pub test_loss: Option<f64>,
}

/// Summary written to `run.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunInfo {
    /// lofigen version that trained it.
    pub lofigen_version: String,
    /// Model family.
    pub family: String,
    /// Trainable parameters.
    pub parameters: usize,
    /// Receptive field in samples.
    pub receptive_field: usize,
    /// The device trained on.
    pub device: String,
    /// Source files.
    pub sources: Vec<PathBuf>,
    /// Seconds of audio in train / validation / test.
    pub split_seconds: [f64; 3],
    /// Windows per split.
    pub split_windows: [usize; 3],
    /// Progress so far.
    pub state: TrainState,
}

/// A run directory (see the module's documentation for its layout).
#[derive(Clone, Debug)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// The run directory at `path` (which need not exist yet).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether it already holds a run (a config).
    pub fn exists(&self) -> bool {
        self.path.join(files::CONFIG).exists()
    }

    /// The resolved config.
    pub fn config(&self) -> Result<RunConfig> {
        let path = self.path.join(files::CONFIG);
        if !path.is_file() {
            return Err(Error::Run {
                path: self.path.clone(),
                problem: "not a run directory (no config.toml)".into(),
            });
        }
        RunConfig::load(&path)
    }

    /// Write the resolved config (before training starts).
    pub fn write_config(&self, config: &RunConfig) -> Result<()> {
        std::fs::create_dir_all(&self.path)
            .map_err(|e| Error::io("create folder", &self.path, e))?;
        write_file(&self.path.join(files::CONFIG), config.to_toml().as_bytes())
    }

    /// The training set's style (`None`: the run has none, as a model without controls).
    pub fn style(&self) -> Result<Option<lofigen_audio::score::Style>> {
        let path = self.path.join(files::STYLE);
        if !path.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
        parse_style(&text, &path).map(Some)
    }

    /// Write `style.json`.
    pub fn write_style(&self, style: &lofigen_audio::score::Style) -> Result<()> {
        write_file(&self.path.join(files::STYLE), &to_json(style))
    }

    /// The summary in `run.json`.
    pub fn info(&self) -> Result<RunInfo> {
        let path = self.path.join(files::RUN_INFO);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
        serde_json::from_str(&text).map_err(|e| Error::Run {
            path,
            problem: format!("not a valid run summary: {e}"),
        })
    }

    /// Write `run.json`.
    pub fn write_info(&self, info: &RunInfo) -> Result<()> {
        write_file(&self.path.join(files::RUN_INFO), &to_json(info))
    }

    /// The newest complete checkpoint, if any.
    pub fn latest_checkpoint(&self) -> Option<PathBuf> {
        let dir = self.path.join(files::CHECKPOINTS);
        let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("epoch-"))
                    && p.join(files::STATE).is_file()
            })
            .collect();
        found.sort();
        found.pop()
    }

    /// The latest trained model and its config, for inference.
    pub fn load_trained(&self, device: &Device) -> Result<(RunConfig, Model)> {
        let config = self.config()?;
        let checkpoint = self.latest_checkpoint().ok_or_else(|| Error::Run {
            path: self.path.clone(),
            problem: "has no checkpoint yet (train at least one epoch)".into(),
        })?;
        let model = load_model(&config, &checkpoint, device)?;
        Ok((config, model))
    }

    /// Write a checkpoint folder aside, then rename it into place; prune old ones.
    pub fn save_checkpoint(
        &self,
        model: &Model,
        optim: &ModuleOptimizer,
        state: &TrainState,
    ) -> Result<PathBuf> {
        let dir = self.path.join(files::CHECKPOINTS);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("create folder", &dir, e))?;
        let final_dir = dir.join(format!("epoch-{:04}", state.epoch));
        let tmp = dir.join(format!(
            ".epoch-{:04}.tmp-{}",
            state.epoch,
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&tmp);
        if let Err(e) = write_checkpoint_files(&tmp, model, optim, state) {
            // A full disk or a failing write leaves nothing behind, not even the hidden folder:
            // only a folder renamed to `epoch-NNNN` is ever loaded, but a stale one would waste
            // the space that was just found missing.
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(Error::Run {
                path: final_dir,
                problem: format!("checkpoint not saved (earlier checkpoints are kept): {e}"),
            });
        }
        if final_dir.exists() {
            // A rerun of the same epoch (after a resume from an older checkpoint) replaces it.
            std::fs::remove_dir_all(&final_dir).map_err(|e| Error::io("replace", &final_dir, e))?;
        }
        std::fs::rename(&tmp, &final_dir).map_err(|e| Error::io("write", &final_dir, e))?;

        let mut all: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| Error::io("read", &dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("epoch-"))
            })
            .collect();
        all.sort();
        let excess = all.len().saturating_sub(KEEP_CHECKPOINTS);
        for old in &all[..excess] {
            let _ = std::fs::remove_dir_all(old);
        }
        remove_stale_temp_folders(&dir);
        Ok(final_dir)
    }

    /// Write `metrics.csv` from the history (plus the test loss when known).
    pub fn write_metrics(&self, state: &TrainState) -> Result<()> {
        let mut csv = String::from("epoch,split,loss\n");
        for m in &state.history {
            csv.push_str(&format!("{},train,{}\n", m.epoch, m.train_loss));
            csv.push_str(&format!("{},valid,{}\n", m.epoch, m.valid_loss));
        }
        if let Some(t) = state.test_loss {
            csv.push_str(&format!("{},test,{t}\n", state.epoch));
        }
        write_file(&self.path.join(files::METRICS), csv.as_bytes())
    }

    /// Read a run's `metrics.csv` back: rows of `(epoch, split, loss)`.
    pub fn metrics(&self) -> Result<Vec<(usize, String, f64)>> {
        let path = self.path.join(files::METRICS);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
        let mut rows = Vec::new();
        for (i, line) in text.lines().enumerate().skip(1) {
            let bad = || Error::Run {
                path: path.clone(),
                problem: format!(
                    "line {}: expected `epoch,split,loss`, found `{line}`",
                    i + 1
                ),
            };
            let mut parts = line.split(',');
            let (Some(e), Some(s), Some(l), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(bad());
            };
            rows.push((
                e.parse().map_err(|_| bad())?,
                s.to_string(),
                l.parse().map_err(|_| bad())?,
            ));
        }
        Ok(rows)
    }

    /// Draw `loss.png` from the history (`loss` names the unit).
    pub fn write_loss_plot(&self, history: &[EpochMetrics], loss: &str) -> Result<()> {
        loss_curves(
            &self.path.join(files::LOSS_PLOT),
            &format!("Training and validation loss ({loss})"),
            &loss_series("", history),
        )
    }
}

/// The train and validation curves of one run's history; `name` prefixes the legend.
pub fn loss_series(name: &str, history: &[EpochMetrics]) -> Vec<Series> {
    Series::pair(
        name,
        history
            .iter()
            .map(|m| (m.epoch as f64, m.train_loss))
            .collect(),
        history
            .iter()
            .map(|m| (m.epoch as f64, m.valid_loss))
            .collect(),
        0,
    )
}

/// A style file's text (`style.json`, read from `path`, which errors name), checked: a
/// hand-set `default_groove` must name a groove the style knows.
pub fn parse_style(text: &str, path: &Path) -> Result<lofigen_audio::score::Style> {
    let bad = |problem: String| Error::Run {
        path: path.to_path_buf(),
        problem,
    };
    let style: lofigen_audio::score::Style =
        serde_json::from_str(text).map_err(|e| bad(format!("not a valid style: {e}")))?;
    style
        .validate()
        .map_err(|e| bad(format!("bad default_groove: {e}")))?;
    Ok(style)
}

/// Load model weights from a checkpoint folder into a model built from `config`.
pub fn load_model(config: &RunConfig, checkpoint: &Path, device: &Device) -> Result<Model> {
    let path = checkpoint.join(files::MODEL);
    let record = ModuleRecord::load(&path).map_err(|e| Error::Run {
        path: path.clone(),
        problem: format!("cannot read checkpoint: {e}"),
    })?;
    model_from_record(config, record, &path, device)
}

/// The configured model with the weights of `record` (read from `path`, for messages).
pub fn model_from_record(
    config: &RunConfig,
    record: ModuleRecord,
    path: &Path,
    device: &Device,
) -> Result<Model> {
    // Seeded so that the throw-away initial draws never touch the process's RNG unlocked.
    config
        .model
        .init_seeded(0, device)
        .try_load_record(record)
        .map_err(|e| Error::Run {
            path: path.to_path_buf(),
            problem: format!("checkpoint does not fit the configured model: {e}"),
        })
}

/// The progress stored with a checkpoint.
pub fn read_state(checkpoint: &Path) -> Result<TrainState> {
    let path = checkpoint.join(files::STATE);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::Run {
        path,
        problem: format!("corrupt training state: {e}"),
    })
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_string_pretty(value)
        .expect("plain data serialises")
        .into_bytes()
}

/// Write the optimizer state with its tensors in name order.
///
/// `ModuleOptimizer::save` lays the tensors out in the order of a hash map whose seed changes
/// from process to process, so the same state gave different bytes. Reading its output back and
/// sorting it is cheap next to a training epoch, and the file stays what `ModuleOptimizer::load`
/// reads (scalars and metadata are copied as they are).
fn save_optimizer(optim: &ModuleOptimizer, path: &Path) -> Result<(), RecordError> {
    let reader = burn_pack::Reader::from_bytes(optim.into_bytes()?)?;
    let scalars = reader.scalars().clone();
    let metadata = reader.metadata().clone();
    let mut tensors = reader.into_tensors()?;
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    let mut writer = burn_pack::Writer::new(tensors);
    for (key, value) in &scalars {
        writer = writer.with_scalar(key, *value);
    }
    for (key, value) in &metadata {
        writer = writer.with_metadata(key, value);
    }
    // Written aside and renamed into place by burn-pack itself.
    writer.write_to_file(path)?;
    Ok(())
}

/// Model, optimizer state and `state.json` into the (temporary) folder `dir`, each on disk
/// before this returns.
fn write_checkpoint_files(
    dir: &Path,
    model: &Model,
    optim: &ModuleOptimizer,
    state: &TrainState,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create folder", dir, e))?;
    let record_err = |path: &Path, e: RecordError| Error::Run {
        path: path.to_path_buf(),
        problem: format!("cannot write checkpoint: {e}"),
    };
    let model_path = dir.join(files::MODEL);
    model
        .clone()
        .into_record()
        .save(&model_path)
        .map_err(|e| record_err(&model_path, e))?;
    let optim_path = dir.join(files::OPTIMIZER);
    save_optimizer(optim, &optim_path).map_err(|e| record_err(&optim_path, e))?;
    for f in [&model_path, &optim_path] {
        std::fs::File::open(f)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io("write", f, e))?;
    }
    write_file(&dir.join(files::STATE), &to_json(state))
}

/// Temporary checkpoint folders (`.epoch-NNNN.tmp-PID`) left by killed runs: never loaded, but
/// each holds a model's worth of disk. One process trains a run at a time, so any left once ours
/// is renamed into place are stale.
fn remove_stale_temp_folders(checkpoints: &Path) {
    let Ok(entries) = std::fs::read_dir(checkpoints) else {
        return;
    };
    for p in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        if p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(".epoch-"))
        {
            let _ = std::fs::remove_dir_all(&p);
        }
    }
}
