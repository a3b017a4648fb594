//! Training: the step, the run directory, checkpoints, metrics and resume.
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
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::module::{ModuleMapper, ModuleVisitor, Param};
use burn::optim::{AdamConfig, GradientsAccumulator, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::store::{ModuleRecord, RecordError};
use burn::tensor::DType;
use serde::{Deserialize, Serialize};

use crate::config::{RunConfig, TrainPrecision};
use crate::corpus::Track;
use crate::data::{Split, Splits, Windows, split_tracks};
use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use crate::model::{Model, ModelConfig};

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

/// Events from training, for progress display. The library never prints.
pub trait TrainObserver {
    /// Training is about to start (or resume).
    fn started(&mut self, _info: &RunInfo) {}
    /// An epoch starts with `batches` optimiser steps.
    fn epoch_started(&mut self, _epoch: usize, _epochs: usize, _batches: usize) {}
    /// One step finished with this batch loss.
    fn batch_done(&mut self, _batch: usize, _loss: f64) {}
    /// An epoch finished.
    fn epoch_done(&mut self, _metrics: &EpochMetrics) {}
}

/// Observer that ignores everything.
pub struct Silent;
impl TrainObserver for Silent {}

/// What a training call may do beyond the config.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// The run directory.
    pub run_dir: PathBuf,
    /// Continue from the run's latest checkpoint.
    pub resume: bool,
    /// Wall-clock budget for this call, in minutes; the epoch in progress ends early.
    pub max_minutes: Option<f64>,
    /// Where to train: this device holds the weights and the optimizer state.
    pub device: Device,
    /// Further devices for data-parallel training (empty: `device` alone). Each device takes
    /// `batch_size` windows of every step; see [`train`].
    pub replicas: Vec<Device>,
    /// Set from outside (Ctrl-C) to stop after saving.
    pub stop: Arc<AtomicBool>,
}

impl TrainOptions {
    /// Defaults: a fresh run on `device`, no budget.
    pub fn new(run_dir: impl Into<PathBuf>, device: Device) -> Self {
        Self {
            run_dir: run_dir.into(),
            resume: false,
            max_minutes: None,
            device,
            replicas: Vec::new(),
            stop: Arc::new(AtomicBool::new(false)),
        }
    }
}

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
    batch_loss_in(model, windows, ids, device, DType::F32)
}

/// [`batch_loss`] with the model's weights already in `compute` (f32, f16 or bf16): the input
/// is cast to it, the output back to f32 before the loss.
fn batch_loss_in(
    model: &Model,
    windows: &Windows,
    ids: &[usize],
    device: &Device,
    compute: DType,
) -> Tensor<1> {
    let to_f32 = |t: Tensor<3>| {
        if compute == DType::F32 {
            t
        } else {
            t.cast(DType::F32)
        }
    };
    match model {
        Model::Seed(m) => {
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
            if compute == DType::F32 {
                // The fused head + cross-entropy where the backend has it (Flex).
                m.loss_channels_last(b.input, genre, b.target, true)
            } else {
                // Mixed precision: logits back to f32 before the loss.
                let logits = to_f32(m.forward_channels_last(b.input, genre));
                crate::model::wavenet::cross_entropy_channels_last(logits, b.target)
            }
        }
    }
}

/// f16's largest finite value is 65504 and its smallest normal 6e-5: gradients of a mean loss
/// over thousands of samples fall below that, so the f16 loss is multiplied by this before the
/// backward pass and the gradients divided by it after (static loss scaling). A power of two,
/// so the scaling itself rounds nothing.
pub const F16_LOSS_SCALE: f32 = 1024.0;

/// How one precision mode computes: the tensor type and the loss scale.
fn compute_dtype(precision: TrainPrecision) -> (DType, f32) {
    match precision {
        TrainPrecision::F32 => (DType::F32, 1.0),
        TrainPrecision::F16 => (DType::F16, F16_LOSS_SCALE),
        TrainPrecision::Bf16 => (DType::BF16, 1.0),
    }
}

/// Refuse a precision the device cannot run, naming the config key.
pub fn check_precision(precision: TrainPrecision, device: &Device) -> Result<()> {
    let (dtype, _) = compute_dtype(precision);
    if dtype == DType::F32 {
        return Ok(());
    }
    let problem = if crate::device::is_flex(device) {
        format!(
            "{precision:?} mixed precision needs a GPU backend (--device cuda or wgpu, built with \
             --features cuda or wgpu); the CPU backend (Flex) trains in f32 only, so set \
             `train.precision = \"f32\"`"
        )
    } else if !device.supports_dtype(dtype) {
        format!(
            "{} cannot compute in {dtype:?}; set `train.precision` to \"f32\"{}",
            crate::device::describe(device),
            if dtype == DType::BF16 {
                " or \"f16\""
            } else {
                " or \"bf16\""
            }
        )
    } else {
        return Ok(());
    };
    Err(Error::Config {
        path: "train.precision".into(),
        problem,
    })
}

/// The model with every float parameter cast to `dtype`, keeping the parameter ids: under
/// autodiff the cast is part of the graph, so the gradients of the loss reach the f32 weights.
fn cast_params(model: Model, dtype: DType) -> Model {
    struct Cast(DType);
    impl ModuleMapper for Cast {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let dtype = self.0;
            param.map(|t| t.cast(dtype))
        }
    }
    if dtype == DType::F32 {
        model
    } else {
        model.map(&mut Cast(dtype))
    }
}

/// Multiply every gradient of `model` in `grads` by `factor`.
fn scale_grads(grads: &mut GradientsParams, model: &Model, factor: f32) {
    struct Scale<'a>(&'a mut GradientsParams, f32);
    impl ModuleVisitor for Scale<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.0.remove::<D>(param.id) {
                self.0.register(param.id, g.mul_scalar(self.1));
            }
        }
    }
    model.visit(&mut Scale(grads, factor));
}

/// One share of a step: its windows, on which model copy and device.
struct Share<'a> {
    model: &'a Model,
    device: &'a Device,
    ids: &'a [usize],
}

/// The gradients of the mean loss over all windows of `shares` (on the first share's device),
/// and that mean loss.
///
/// Each share's loss is weighted by its part of the windows, so the sum of the shares'
/// gradients is the gradient of the mean over all of them: the same step as one device taking
/// every window, whatever the split. Shares run on their own threads, so several devices
/// compute at once.
fn step_gradients(
    shares: &[Share],
    windows: &Windows,
    precision: TrainPrecision,
) -> (GradientsParams, f64) {
    let (dtype, loss_scale) = compute_dtype(precision);
    let total: usize = shares.iter().map(|s| s.ids.len()).sum();
    let one = |s: &Share| -> (GradientsParams, f64) {
        let weight = s.ids.len() as f32 / total as f32;
        let compute = cast_params(s.model.clone(), dtype);
        let loss = batch_loss_in(&compute, windows, s.ids, s.device, dtype);
        let value = f64::from(loss.clone().into_scalar::<f32>());
        let factor = weight * loss_scale;
        let loss = if factor == 1.0 {
            loss
        } else {
            loss.mul_scalar(factor)
        };
        let mut grads = GradientsParams::from_grads(loss.backward(), s.model);
        if loss_scale != 1.0 {
            scale_grads(&mut grads, s.model, 1.0 / loss_scale);
        }
        (grads, value * f64::from(weight))
    };
    let parts: Vec<(GradientsParams, f64)> = if shares.len() == 1 {
        vec![one(&shares[0])]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = shares.iter().map(|s| scope.spawn(|| one(s))).collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a training thread panicked"))
                .collect()
        })
    };
    let (main, main_device) = (shares[0].model, shares[0].device);
    let mut sum = GradientsAccumulator::<Model>::new();
    let mut loss = 0.0;
    for ((grads, value), share) in parts.into_iter().zip(shares) {
        sum.accumulate(main, grads.to_device(main_device, share.model));
        loss += value;
    }
    (sum.grads(), loss)
}

/// Nats per sample as bits per sample.
pub fn nats_to_bits(nats: f64) -> f64 {
    nats / std::f64::consts::LN_2
}

/// Replace `genres = ["auto"]` with the tracks' sorted labels, and check that every track's
/// label is one of the model's genres. Returns the config to train and each track's genre.
pub fn resolve_genres(config: &RunConfig, tracks: &[Track]) -> Result<(RunConfig, Vec<usize>)> {
    let mut config = config.clone();
    if let ModelConfig::WaveNet(w) = &mut config.model
        && w.genres_auto()
    {
        let mut labels: Vec<String> = tracks.iter().map(|t| t.label.clone()).collect();
        labels.sort();
        labels.dedup();
        w.genres = labels;
    }
    let genres = config.model.genres();
    if genres.is_empty() {
        return Ok((config.clone(), vec![0; tracks.len()]));
    }
    let ids = tracks
        .iter()
        .map(|t| {
            genres
                .iter()
                .position(|g| *g == t.label)
                .ok_or_else(|| Error::Corpus {
                    path: t.path.clone(),
                    problem: format!(
                        "its genre `{}` (its folder) is not one of the model's genres: {}",
                        t.label,
                        genres.join(", ")
                    ),
                })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((config, ids))
}

/// Mean loss of `model` over every window of `windows` (capped at `max`), without gradients.
pub fn evaluate(
    model: &Model,
    windows: &Windows,
    batch_size: usize,
    max: Option<usize>,
    device: &Device,
) -> f64 {
    let n = max.map_or(windows.len(), |m| m.min(windows.len()));
    let ids: Vec<usize> = (0..n).collect();
    let mut sum = 0.0;
    for chunk in ids.chunks(batch_size) {
        let loss: f32 = batch_loss(model, windows, chunk, device).into_scalar();
        sum += f64::from(loss) * chunk.len() as f64;
    }
    sum / n.max(1) as f64
}

/// The newest complete checkpoint of a run, if any.
pub fn latest_checkpoint(run_dir: &Path) -> Option<PathBuf> {
    let dir = run_dir.join(files::CHECKPOINTS);
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

/// Load a run's resolved config.
pub fn load_run_config(run_dir: &Path) -> Result<RunConfig> {
    let path = run_dir.join(files::CONFIG);
    if !path.is_file() {
        return Err(Error::Run {
            path: run_dir.to_path_buf(),
            problem: "not a run directory (no config.toml)".into(),
        });
    }
    RunConfig::load(&path)
}

/// Load model weights from a checkpoint into a model built from `config`.
pub fn load_model(config: &RunConfig, checkpoint: &Path, device: &Device) -> Result<Model> {
    let path = checkpoint.join(files::MODEL);
    let record = ModuleRecord::load(&path).map_err(|e| Error::Run {
        path: path.clone(),
        problem: format!("cannot read checkpoint: {e}"),
    })?;
    model_from_record(config, record, &path, device)
}

/// The configured model with the weights of `record` (read from `path`, for messages).
pub(crate) fn model_from_record(
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

/// Load a run's latest trained model for inference.
pub fn load_trained(run_dir: &Path, device: &Device) -> Result<(RunConfig, Model)> {
    let config = load_run_config(run_dir)?;
    let checkpoint = latest_checkpoint(run_dir).ok_or_else(|| Error::Run {
        path: run_dir.to_path_buf(),
        problem: "has no checkpoint yet (train at least one epoch)".into(),
    })?;
    let model = load_model(&config, &checkpoint, device)?;
    Ok((config, model))
}

fn read_state(checkpoint: &Path) -> Result<TrainState> {
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
    write_atomic(&dir.join(files::STATE), &to_json(state))
}

/// Write a checkpoint folder aside, then rename it into place; prune old ones.
fn save_checkpoint(
    run_dir: &Path,
    model: &Model,
    optim: &ModuleOptimizer,
    state: &TrainState,
) -> Result<PathBuf> {
    let dir = run_dir.join(files::CHECKPOINTS);
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

/// Write `metrics.csv` from the history (plus the test loss when known).
fn write_metrics(run_dir: &Path, state: &TrainState) -> Result<()> {
    let mut csv = String::from("epoch,split,loss\n");
    for m in &state.history {
        csv.push_str(&format!("{},train,{}\n", m.epoch, m.train_loss));
        csv.push_str(&format!("{},valid,{}\n", m.epoch, m.valid_loss));
    }
    if let Some(t) = state.test_loss {
        csv.push_str(&format!("{},test,{t}\n", state.epoch));
    }
    write_atomic(&run_dir.join(files::METRICS), csv.as_bytes())
}

/// Read a run's `metrics.csv` back: rows of `(epoch, split, loss)`.
pub fn read_metrics(run_dir: &Path) -> Result<Vec<(usize, String, f64)>> {
    let path = run_dir.join(files::METRICS);
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

/// Train `config` on `tracks` into the run directory of `opts`.
pub fn train(
    config: &RunConfig,
    tracks: &[Track],
    opts: &TrainOptions,
    observer: &mut dyn TrainObserver,
) -> Result<TrainState> {
    let (config, genre_ids) = resolve_genres(config, tracks)?;
    let config = &config;
    // Before anything is written, so a refused start leaves no run behind.
    for d in std::iter::once(&opts.device).chain(&opts.replicas) {
        check_precision(config.train.precision, d)?;
    }
    let run_dir = &opts.run_dir;
    let config_path = run_dir.join(files::CONFIG);
    let checkpoint = if opts.resume {
        let saved = load_run_config(run_dir)?;
        if saved.model != config.model {
            return Err(Error::Run {
                path: config_path,
                problem: "this run holds a different model than the given config; \
                          start a new run directory or resume with the run's own config"
                    .into(),
            });
        }
        latest_checkpoint(run_dir)
    } else {
        if config_path.exists() {
            return Err(Error::Run {
                path: run_dir.clone(),
                problem:
                    "already holds a run; pass --resume to continue it, or choose a new folder"
                        .into(),
            });
        }
        None
    };
    // Check the audio before anything is written, so a failed start leaves no run behind.
    let splits: Splits = split_tracks(tracks, &config.data)?;
    std::fs::create_dir_all(run_dir).map_err(|e| Error::io("create folder", run_dir, e))?;
    if !opts.resume {
        write_atomic(&config_path, config.to_toml().as_bytes())?;
    }

    let data = &config.data;
    let windows = |s: Split| {
        Windows::new(splits.get(s), data.window_samples, data.stride())
            .with_genres(genre_ids.clone())
    };
    let (train_w, valid_w, test_w) = (
        windows(Split::Train),
        windows(Split::Valid),
        windows(Split::Test),
    );

    let device = opts.device.clone();
    let ad_device = device.clone().autodiff();
    let ad_replicas: Vec<Device> = opts.replicas.iter().map(|d| d.clone().autodiff()).collect();
    let mut model = config.model.init_seeded(config.train.seed, &ad_device);
    let mut optim: ModuleOptimizer = AdamConfig::new().init();
    let mut state = TrainState::default();
    if let Some(ck) = &checkpoint {
        model = load_model(config, ck, &ad_device)?;
        let optim_path = ck.join(files::OPTIMIZER);
        optim = optim.load(&optim_path).map_err(|e| Error::Run {
            path: optim_path.clone(),
            problem: format!("cannot read optimizer state: {e}"),
        })?;
        state = read_state(ck)?;
    }

    let mut info = RunInfo {
        lofigen_version: env!("CARGO_PKG_VERSION").to_string(),
        family: config.model.family().to_string(),
        parameters: model.param_count(),
        receptive_field: config.model.receptive_field(),
        device: std::iter::once(&device)
            .chain(&opts.replicas)
            .map(crate::device::describe)
            .collect::<Vec<_>>()
            .join(", "),
        sources: tracks.iter().map(|t| t.path.clone()).collect(),
        split_seconds: splits.seconds(),
        split_windows: [train_w.len(), valid_w.len(), test_w.len()],
        state: state.clone(),
    };
    observer.started(&info);

    let t = &config.train;
    let started = Instant::now();
    let out_of_time = || {
        opts.max_minutes
            .is_some_and(|m| started.elapsed().as_secs_f64() > m * 60.0)
            || opts.stop.load(Ordering::Relaxed)
    };
    while state.epoch < t.epochs && !out_of_time() {
        let epoch = state.epoch + 1;
        let epoch_start = Instant::now();
        let mut order = train_w.shuffled(t.seed, epoch);
        if let Some(cap) = t.max_windows_per_epoch {
            order.truncate(cap);
        }
        // Data parallel: a step takes `batch_size` windows per device, the first share on the
        // main device, the next on the first replica, and so on.
        let per_step = t.batch_size * (1 + ad_replicas.len());
        let batches = order.len().div_ceil(per_step);
        observer.epoch_started(epoch, t.epochs, batches);
        let (mut sum, mut seen) = (0.0, 0usize);
        for (b, ids) in order.chunks(per_step).enumerate() {
            // The replicas get this step's weights, each with its own autodiff graph.
            let copies: Vec<Model> = ad_replicas.iter().map(|d| model.clone().fork(d)).collect();
            let shares: Vec<Share> = ids
                .chunks(t.batch_size)
                .zip(std::iter::once((&model, &ad_device)).chain(copies.iter().zip(&ad_replicas)))
                .map(|(ids, (model, device))| Share { model, device, ids })
                .collect();
            let (grads, value) = step_gradients(&shares, &train_w, t.precision);
            drop(shares);
            if !value.is_finite() {
                return Err(Error::Diverged {
                    epoch,
                    step: state.step + 1,
                    loss: value,
                });
            }
            model = optim.step(t.learning_rate, model, grads);
            state.step += 1;
            sum += value * ids.len() as f64;
            seen += ids.len();
            observer.batch_done(b + 1, value);
            if out_of_time() {
                break;
            }
        }
        let valid_model = model.valid();
        let valid_loss = evaluate(
            &valid_model,
            &valid_w,
            t.batch_size,
            t.max_valid_windows,
            &device,
        );
        let metrics = EpochMetrics {
            epoch,
            train_loss: sum / seen.max(1) as f64,
            valid_loss,
            valid_bits_per_sample: config.model.classes().map(|_| nats_to_bits(valid_loss)),
            windows: seen,
            seconds: epoch_start.elapsed().as_secs_f64(),
        };
        state.epoch = epoch;
        state.history.push(metrics.clone());
        state.test_loss = None;
        save_checkpoint(run_dir, &model, &optim, &state)?;
        write_metrics(run_dir, &state)?;
        info.state = state.clone();
        write_atomic(&run_dir.join(files::RUN_INFO), &to_json(&info))?;
        crate::plot::loss_curves(
            &run_dir.join(files::LOSS_PLOT),
            match config.model.classes() {
                Some(_) => "Training and validation loss (cross-entropy, nats per sample)",
                None => "Training and validation loss (MSE)",
            },
            &[crate::plot::Series::from_history("", &state.history)].concat(),
        )?;
        observer.epoch_done(&metrics);
    }
    if let Some(ck) = latest_checkpoint(run_dir) {
        // The test split is scored once, when this call ends, on the newest checkpoint.
        let model = load_model(config, &ck, &device)?;
        state.test_loss = Some(evaluate(
            &model,
            &test_w,
            t.batch_size,
            t.max_valid_windows,
            &device,
        ));
        write_metrics(run_dir, &state)?;
        info.state = state.clone();
        write_atomic(&run_dir.join(files::RUN_INFO), &to_json(&info))?;
    }
    Ok(state)
}
