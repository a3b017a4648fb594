//! Training: the step (data-parallel, mixed precision), the epoch loop and resume. What a run
//! writes, and where, is [`crate::run`]'s.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::module::{ModuleMapper, ModuleVisitor, Param};
use burn::optim::{AdamConfig, GradientsAccumulator, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::DType;

use crate::config::{RunConfig, TrainPrecision};
use crate::controls::Guidance;
use crate::corpus::Track;
use crate::data::{Split, Splits, Windows, split_tracks_aligned};
use crate::error::{Error, Result};
use crate::loss::{batch_loss_in, mean_loss, nats_to_bits};
use crate::model::{Model, ModelConfig};
use crate::run::{EpochMetrics, RunDir, RunInfo, TrainState, files, load_model, read_state};

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
    /// A fresh run starts from this trained model's weights where the shapes agree (see
    /// [`crate::model::WaveNet::warm_start`]): `lofigen train --init-from`.
    pub init_from: Option<Model>,
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
            init_from: None,
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
        let loss = batch_loss_in(
            &compute,
            windows,
            s.ids,
            s.device,
            dtype,
            Guidance::default(),
        );
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
    let run = RunDir::new(&opts.run_dir);
    let config_path = run.path().join(files::CONFIG);
    let checkpoint = if opts.resume {
        let saved = run.config()?;
        if saved.model != config.model {
            return Err(Error::Run {
                path: config_path,
                problem: "this run holds a different model than the given config; \
                          start a new run directory or resume with the run's own config"
                    .into(),
            });
        }
        run.latest_checkpoint()
    } else {
        if run.exists() {
            return Err(Error::Run {
                path: run.path().to_path_buf(),
                problem:
                    "already holds a run; pass --resume to continue it, or choose a new folder"
                        .into(),
            });
        }
        None
    };
    // Check the audio before anything is written, so a failed start leaves no run behind.
    let hop = crate::controls::check_layout(config)?;
    let splits: Splits = split_tracks_aligned(tracks, &config.data, hop.unwrap_or(1))?;
    // A model with controls learns them from the analysis of its own training audio.
    let control_frames = hop.map(|hop| {
        let scores = crate::controls::track_scores(tracks, config);
        let lengths: Vec<usize> = tracks.iter().map(|t| t.clip.len()).collect();
        let frames =
            crate::controls::split_frames(&scores, &lengths, &splits, hop, |s| Some(s.clone()));
        (hop, scores, frames)
    });
    // On resume too: the model must match (checked above), but data and training settings may
    // change between sessions, and the run records what it trains with now.
    run.write_config(config)?;
    if let Some((_, scores, _)) = &control_frames {
        let found: Vec<_> = scores.iter().flatten().cloned().collect();
        run.write_style(&crate::controls::Style::fit(&found))?;
    }

    let data = &config.data;
    // Pitch-shifted copies of the training parts join the training windows only.
    let copies = match &control_frames {
        Some((hop, scores, _)) if !data.transpose_semitones.is_empty() => {
            crate::controls::transposed_copies(&splits, scores, &data.transpose_semitones, *hop)
        }
        _ => Default::default(),
    };
    let windows = |s: Split| {
        let mut clips = splits.get(s).to_vec();
        let mut genres = genre_ids.clone();
        if s == Split::Train {
            clips.extend(copies.0.iter().cloned());
            genres.extend(copies.2.iter().map(|&i| genre_ids[i]));
        }
        let w = Windows::new(&clips, data.window_samples, data.stride()).with_genres(genres);
        match &control_frames {
            Some((hop, _, frames)) => {
                let i = s as usize;
                let mut frames = frames[i].clone();
                if s == Split::Train {
                    frames.extend(copies.1.iter().cloned());
                }
                // Dropout only where the model learns; validation and test see every control.
                let p = if s == Split::Train {
                    data.control_dropout
                } else {
                    0.0
                };
                let groups = crate::controls::dropout_groups();
                let seed = config.train.seed;
                w.with_controls(
                    frames,
                    crate::controls::CONTROL_DIMS,
                    *hop,
                    (groups, p, seed),
                )
            }
            None => w,
        }
    };
    let (train_w, valid_w, test_w) = (
        windows(Split::Train),
        windows(Split::Valid),
        windows(Split::Test),
    );
    // The copies' clips follow the tracks' own (see `windows`), and so do their windows.
    let copy_share = data.transposed_share.filter(|_| !copies.0.is_empty());
    let own_windows = train_w.windows_of_first(splits.get(Split::Train).len());

    let device = opts.device.clone();
    let ad_device = device.clone().autodiff();
    let ad_replicas: Vec<Device> = opts.replicas.iter().map(|d| d.clone().autodiff()).collect();
    let mut model = config.model.init_seeded(config.train.seed, &ad_device);
    let mut optim: ModuleOptimizer = AdamConfig::new().init();
    let mut state = TrainState::default();
    if let (None, Some(from)) = (&checkpoint, &opts.init_from) {
        model = match (model, from.clone()) {
            (Model::WaveNet(m), Model::WaveNet(f)) => {
                Model::WaveNet(m.warm_start(f).map_err(|problem| Error::Run {
                    path: opts.run_dir.clone(),
                    problem: format!("--init-from: {problem}"),
                })?)
            }
            _ => {
                return Err(Error::Run {
                    path: opts.run_dir.clone(),
                    problem: "--init-from: both models must be WaveNets".into(),
                });
            }
        };
    }
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
        let total = t.max_windows_per_epoch.unwrap_or(order.len());
        match copy_share {
            Some(share) => order = mix_windows(&order, own_windows, share, total),
            None => order.truncate(total),
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
        let valid_loss = mean_loss(
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
        run.save_checkpoint(&model, &optim, &state)?;
        run.write_metrics(&state)?;
        info.state = state.clone();
        run.write_info(&info)?;
        run.write_loss_plot(&state.history, config.model.loss_unit())?;
        observer.epoch_done(&metrics);
    }
    if let Some(ck) = run.latest_checkpoint() {
        // The test split is scored once, when this call ends, on the newest checkpoint.
        let model = load_model(config, &ck, &device)?;
        state.test_loss = Some(mean_loss(
            &model,
            &test_w,
            t.batch_size,
            t.max_valid_windows,
            &device,
        ));
        run.write_metrics(&state)?;
        info.state = state.clone();
        run.write_info(&info)?;
    }
    Ok(state)
}

/// At most `total` windows of a shuffled `order`, a `share` of them from the pitch-shifted
/// copies (indices from `own` on) and the rest from the tracks as they are (below `own`), each
/// group in its shuffled order, the copies spread evenly through the epoch. When a group runs
/// short the epoch is shorter, so that the share holds.
fn mix_windows(order: &[usize], own: usize, share: f32, total: usize) -> Vec<usize> {
    let (tracks, copies): (Vec<usize>, Vec<usize>) = order.iter().partition(|&&i| i < own);
    let s = f64::from(share);
    let mut longest = total.min(order.len()) as f64;
    if s < 1.0 {
        longest = longest.min(tracks.len() as f64 / (1.0 - s));
    }
    if s > 0.0 {
        longest = longest.min(copies.len() as f64 / s);
    }
    let longest = longest.floor() as usize;
    let n_copies = ((longest as f64 * s).round() as usize).min(copies.len());
    let n_tracks = (longest - n_copies).min(tracks.len());
    let n = n_tracks + n_copies;
    let (mut c, mut r) = (0, 0);
    let mut out = Vec::with_capacity(n);
    for k in 1..=n {
        // A copy whenever the copies taken so far fall behind their share of the first k.
        if r == n_tracks || (c < n_copies && c * n < n_copies * k) {
            out.push(copies[c]);
            c += 1;
        } else {
            out.push(tracks[r]);
            r += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::mix_windows;

    /// Copies of a window index list: the own windows are 0..10, the copies 10..60.
    fn copies(epoch: &[usize]) -> usize {
        epoch.iter().filter(|&&i| i >= 10).count()
    }

    #[test]
    fn an_epoch_takes_its_share_from_the_copies_spread_evenly() {
        let order: Vec<usize> = (0..60).map(|i| (i * 37) % 60).collect();
        let epoch = mix_windows(&order, 10, 0.5, 20);
        assert_eq!((epoch.len(), copies(&epoch)), (20, 10));
        assert_eq!(copies(&epoch[..10]), 5, "not spread: {epoch:?}");
        // Each group keeps its shuffled order, every window once.
        let own: Vec<usize> = epoch.iter().copied().filter(|&i| i < 10).collect();
        let shuffled_own: Vec<usize> = order.iter().copied().filter(|&i| i < 10).collect();
        assert_eq!(own, shuffled_own);
        // A group that runs out gives a shorter epoch with the share kept, not more of the other.
        let short = mix_windows(&order, 10, 0.2, 40);
        assert_eq!((short.len(), copies(&short)), (12, 2));
        let all = mix_windows(&order, 10, 0.5, usize::MAX);
        assert_eq!((all.len(), copies(&all)), (20, 10));
        assert_eq!(copies(&mix_windows(&order, 10, 0.0, 10)), 0);
        assert_eq!(copies(&mix_windows(&order, 10, 1.0, 30)), 30);
    }
}
