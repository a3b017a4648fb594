//! The paper's two experiments, rerun so that their comparisons hold, with measures of what was
//! generated.
//!
//! - [`genres`] (the paper's experiment 1): a fresh model per genre folder, each with the same
//!   config, seed and budget. The published code trained one model on lofi, then piano, then rap,
//!   so its genre comparison was confounded by the order; here no weights are shared.
//! - [`depth`] (experiment 2): several presets (seed4 against seed6, optionally more) on the same
//!   audio.
//!
//! Both go through [`run`]: per model it trains ([`crate::train::train`]), generates a clip from
//! the model's own test split ([`crate::generate::generate`]), measures the clip against that
//! test split ([`crate::eval::evaluate`]), and draws its spectrogram; then it overlays every
//! model's loss curves and writes one report folder:
//!
//! ```text
//! <out>/report.md            tables, settings, audio and time used
//! <out>/report.json          the same numbers (the whole ExperimentReport, eval rows included)
//! <out>/loss-<unit>.png      train (solid) and validation (dashed) curves of every model
//! <out>/clips/<model>.wav    the generated clip of every model
//! <out>/spectrograms/<model>.png   generated clip beside the first test-split clip
//! ```
//!
//! Run directories (checkpoints included) go to a separate folder so the report stays small.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::prelude::Device;
use lofigen_audio::measures::spectrogram;
use lofigen_audio::{Clip, write_wav16};
use serde::Serialize;

use crate::config::RunConfig;
use crate::corpus::{Track, find_audio_files, load_tracks};
use crate::data::{Split, Windows, split_tracks};
use crate::error::write_file;
use crate::error::{Error, Result};
use crate::eval::{EvalReport, evaluate, nll_bits_per_sample};
use crate::generate::{GenerateOptions, Prompt, Sampling, generate, genre_index, prompt_samples};
use crate::loss::nats_to_bits;
use crate::plot::{Series, loss_curves, spectrograms};
use crate::run::{EpochMetrics, RunDir, loss_series};
use crate::table::{Table, opt};
use crate::train::{TrainObserver, TrainOptions, train};

/// File names inside a report folder.
pub mod files {
    /// The human-readable report.
    pub const REPORT_MD: &str = "report.md";
    /// Every number of the report, as JSON.
    pub const REPORT_JSON: &str = "report.json";
    /// Folder of generated clips.
    pub const CLIPS: &str = "clips";
    /// Folder of spectrogram PNGs.
    pub const SPECTROGRAMS: &str = "spectrograms";
}

/// Shortest test-split piece used as reference audio, seconds (shorter ones are cut-off tails
/// of capped files, too short for stable spectra).
const MIN_REFERENCE_SECS: f64 = 1.0;

/// A validation or test split quieter than this (RMS, dBFS) is flagged: its loss is small only
/// because there is little to predict.
const QUIET_SPLIT_DBFS: f64 = -50.0;

/// How much each model may train and see. Every model of an experiment gets the same budget.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Budget {
    /// Override of `train.epochs` (None: the config's).
    pub epochs: Option<usize>,
    /// Wall-clock limit of each model's training, minutes (the epoch in progress ends early).
    pub minutes_per_model: Option<f64>,
    /// Audio per model: this many minutes spread evenly over its files, each share cut from
    /// the middle of its file (None: all). See [`take_minutes`].
    pub max_audio_minutes: Option<f64>,
    /// Override of `train.max_windows_per_epoch`.
    pub max_windows_per_epoch: Option<usize>,
    /// Override of `train.max_valid_windows` (also caps test-split windows).
    pub max_valid_windows: Option<usize>,
}

impl Budget {
    /// `config` with this budget's overrides applied.
    pub fn apply(&self, config: &RunConfig) -> RunConfig {
        let mut c = config.clone();
        if let Some(e) = self.epochs {
            c.train.epochs = e;
        }
        if self.max_windows_per_epoch.is_some() {
            c.train.max_windows_per_epoch = self.max_windows_per_epoch;
        }
        if self.max_valid_windows.is_some() {
            c.train.max_valid_windows = self.max_valid_windows;
        }
        c
    }
}

/// What an experiment run needs beyond its models.
#[derive(Clone, Debug)]
pub struct ExperimentOptions {
    /// The report folder.
    pub out: PathBuf,
    /// Where each model's run directory goes (`<runs>/<model>`); must not hold those runs yet.
    pub runs: PathBuf,
    /// The budget of every model.
    pub budget: Budget,
    /// Scale every file to -20 dBFS RMS before training (true), or keep the recorded levels,
    /// as the paper did, which lets level alone move the MSE.
    pub normalize_loudness: bool,
    /// Seconds of audio generated per model.
    pub seconds: f64,
    /// Where to train.
    pub device: Device,
    /// Set from outside (Ctrl-C): the current model stops after saving, and no further model
    /// starts.
    pub stop: Arc<AtomicBool>,
    /// The command line that started the experiment, quoted in the report.
    pub command: Option<String>,
}

impl ExperimentOptions {
    /// Defaults: runs under `<out>/runs`, no budget, loudness normalised, 10 s clips.
    pub fn new(out: impl Into<PathBuf>, device: Device) -> Self {
        let out = out.into();
        Self {
            runs: out.join("runs"),
            out,
            budget: Budget::default(),
            normalize_loudness: true,
            seconds: 10.0,
            device,
            stop: Arc::new(AtomicBool::new(false)),
            command: None,
        }
    }
}

/// One model of an experiment: a name (a genre or a preset), its config and its audio.
#[derive(Clone, Debug)]
pub struct ModelSpec {
    /// Names the run directory, clip and table rows; letters, digits, `-`, `_` and `.` only.
    pub name: String,
    /// Where the config came from (a preset name or a file), for the report.
    pub config_name: String,
    /// The config before the budget is applied.
    pub config: RunConfig,
    /// The audio, already capped to the budget.
    pub tracks: Vec<Track>,
}

/// Events for the binary's progress display. The library never prints.
pub trait ExperimentObserver: TrainObserver {
    /// Model `index` (0-based) of `total` starts training.
    fn model_started(&mut self, _name: &str, _index: usize, _total: usize) {}
    /// Training is over; generation of `seconds` starts.
    fn generating(&mut self, _name: &str, _seconds: f64) {}
    /// The model's clip is written and measured.
    fn model_done(&mut self, _result: &ModelResult) {}
}

/// An observer that ignores everything.
pub struct SilentExperiment;
impl TrainObserver for SilentExperiment {}
impl ExperimentObserver for SilentExperiment {}

/// How much of one source file a model used.
#[derive(Clone, Debug, Serialize)]
pub struct SourceUse {
    /// The file.
    pub path: PathBuf,
    /// Seconds of it used (before the train / validation / test split).
    pub seconds: f64,
}

/// Everything measured for one model.
#[derive(Clone, Debug, Serialize)]
pub struct ModelResult {
    /// The model's name (genre or preset).
    pub name: String,
    /// Where its config came from.
    pub config_name: String,
    /// Model family (`seed` or `wavenet`).
    pub family: String,
    /// Trainable parameters.
    pub parameters: usize,
    /// Receptive field, samples.
    pub receptive_field: usize,
    /// The resolved config, as trained (TOML).
    pub config_toml: String,
    /// Source files and the seconds used of each.
    pub sources: Vec<SourceUse>,
    /// Seconds of audio in train / validation / test.
    pub split_seconds: [f64; 3],
    /// Windows in train / validation / test.
    pub split_windows: [usize; 3],
    /// Loss per epoch.
    pub history: Vec<EpochMetrics>,
    /// Optimiser steps taken.
    pub steps: usize,
    /// Training windows seen in all.
    pub windows_seen: usize,
    /// Loss on the test split (MSE, or nats per sample for classifying models).
    pub test_loss: Option<f64>,
    /// Test loss in bits per sample, for classifying models.
    pub test_bits_per_sample: Option<f64>,
    /// Unit of the losses: `MSE` or `nats/sample`.
    pub loss_unit: String,
    /// Wall-clock seconds of training (test-split scoring included).
    pub train_seconds: f64,
    /// Wall-clock seconds of generation.
    pub generate_seconds: f64,
    /// The generated clip, relative to the report folder.
    pub clip: PathBuf,
    /// Its spectrogram beside the first reference clip, relative to the report folder.
    pub spectrogram: PathBuf,
    /// The run directory (checkpoints, metrics).
    pub run_dir: PathBuf,
    /// The clip measured against the model's own test split.
    pub eval: EvalReport,
    /// Problems with the data that weaken the comparison (a near-silent validation or test
    /// split, say); listed in the report.
    pub warnings: Vec<String>,
}

/// The whole report of one experiment.
#[derive(Clone, Debug, Serialize)]
pub struct ExperimentReport {
    /// `genres` or `depth`.
    pub experiment: String,
    /// lofigen version that ran it.
    pub lofigen_version: String,
    /// The command line, when the caller gave it.
    pub command: Option<String>,
    /// The data folder(s).
    pub data: Vec<PathBuf>,
    /// The budget every model had.
    pub budget: Budget,
    /// Whether inputs were loudness-normalised.
    pub normalize_loudness: bool,
    /// Seconds generated per model.
    pub seconds_generated: f64,
    /// The device trained on.
    pub device: String,
    /// One result per model, in order.
    pub models: Vec<ModelResult>,
    /// Loss plots, relative to the report folder (one per loss unit).
    pub loss_plots: Vec<PathBuf>,
    /// `cross_spectrum_db[i][j]`: spectrum distance (dB) of model i's clip to model j's test
    /// split. A clip that resembles its own genre has its row's smallest value on the diagonal.
    pub cross_spectrum_db: Vec<Vec<f64>>,
    /// `cross_test_loss[i][j]`: model i's loss on model j's test split (same unit as its
    /// test loss; `None` where j's test split holds no full window).
    pub cross_test_loss: Vec<Vec<Option<f64>>>,
    /// Models not run because of a stop request.
    pub skipped: Vec<String>,
    /// Remarks about what was and was not compared.
    pub notes: Vec<String>,
    /// Wall-clock seconds of the whole experiment.
    pub total_seconds: f64,
}

/// The subfolders of `data` that hold audio, as `(genre, folder)` in sorted order.
pub fn genre_folders(data: &Path) -> Result<Vec<(String, PathBuf)>> {
    let entries = std::fs::read_dir(data).map_err(|e| Error::io("read", data, e))?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut out = Vec::new();
    for dir in dirs {
        if !find_audio_files(std::slice::from_ref(&dir))?.is_empty() {
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.push((name, dir));
        }
    }
    if out.is_empty() {
        return Err(Error::Corpus {
            path: data.to_path_buf(),
            problem: "holds no subfolder with audio files; give a folder with one subfolder per \
                      genre (lofi/, piano/, ...)"
                .into(),
        });
    }
    Ok(out)
}

/// `minutes` of audio spread evenly over `tracks`: every track gives an equal share, cut from
/// its middle; a track shorter than its share gives all it has and the rest is shared among
/// the others. Each track is later split in time into train / validation / test, so a cap
/// that took the first minutes in file order would test on one file's tail (a fade-out, say)
/// instead of on every file.
pub fn take_minutes(tracks: Vec<Track>, minutes: f64) -> Vec<Track> {
    let budget = (minutes * 60.0).max(0.0);
    let mut lengths: Vec<f64> = tracks.iter().map(|t| t.clip.duration_secs()).collect();
    lengths.sort_by(f64::total_cmp);
    // Water-filling: the largest share s with sum(min(len, s)) <= budget.
    let mut share = f64::INFINITY;
    let mut left = budget;
    for (i, len) in lengths.iter().enumerate() {
        let even = left / (lengths.len() - i) as f64;
        if *len > even {
            share = even;
            break;
        }
        left -= len;
    }
    tracks
        .into_iter()
        .filter_map(|mut t| {
            let rate = f64::from(t.clip.sample_rate);
            let n = ((share * rate).round() as usize).min(t.clip.samples.len());
            if n == 0 {
                return None;
            }
            if n < t.clip.samples.len() {
                let start = (t.clip.samples.len() - n) / 2;
                t.clip = Clip::new(
                    t.clip.samples[start..start + n].to_vec(),
                    t.clip.sample_rate,
                );
            }
            Some(t)
        })
        .collect()
}

/// Loads `inputs` and caps them to the budget's audio.
fn load_capped(inputs: &[PathBuf], budget: &Budget) -> Result<Vec<Track>> {
    let tracks = load_tracks(inputs)?;
    Ok(match budget.max_audio_minutes {
        Some(m) => take_minutes(tracks, m),
        None => tracks,
    })
}

/// Experiment 1: one fresh model per genre subfolder of `data` (only those named in `only`,
/// in that order, unless it is empty), all built from `config`.
///
/// Every file of a genre folder (walked recursively) is labelled with the genre, so a
/// conditioned WaveNet sees one genre per model.
pub fn genres(
    data: &Path,
    only: &[String],
    config: &RunConfig,
    config_name: &str,
    opts: &ExperimentOptions,
    observer: &mut dyn ExperimentObserver,
) -> Result<ExperimentReport> {
    let mut found = genre_folders(data)?;
    if !only.is_empty() {
        found = only
            .iter()
            .map(|g| {
                found
                    .iter()
                    .find(|(name, _)| name == g)
                    .cloned()
                    .ok_or_else(|| Error::Corpus {
                        path: data.join(g),
                        problem: format!(
                            "is not a genre subfolder with audio; found: {}",
                            found
                                .iter()
                                .map(|(n, _)| n.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    })
            })
            .collect::<Result<_>>()?;
    }
    let mut specs = Vec::new();
    for (genre, folder) in found {
        let mut tracks = load_capped(&[folder], &opts.budget)?;
        for t in &mut tracks {
            t.label = genre.clone();
        }
        specs.push(ModelSpec {
            name: sanitize(&genre),
            config_name: config_name.to_string(),
            config: config.clone(),
            tracks,
        });
    }
    let mut notes = vec![
        "Each genre trains its own freshly initialised model with the same config, seed and \
         budget; the published code trained one model on the genres in sequence, which \
         confounds the comparison with the order."
            .to_string(),
        "The paper's rap recording (a Juice WRLD freestyle) is not available under a free \
         licence, so it is not here; the genres compared are the subfolders of the data folder."
            .to_string(),
    ];
    if !opts.normalize_loudness {
        notes.push(
            "Recorded levels were kept (as in the paper): a quieter genre has a smaller MSE for \
             that reason alone."
                .into(),
        );
    }
    run(
        "genres",
        vec![data.to_path_buf()],
        specs,
        notes,
        opts,
        observer,
    )
}

/// Experiment 2: each `(name, config)` of `models` (seed4 against seed6, say) on the same audio.
pub fn depth(
    data: &[PathBuf],
    models: &[(String, RunConfig)],
    opts: &ExperimentOptions,
    observer: &mut dyn ExperimentObserver,
) -> Result<ExperimentReport> {
    let tracks = load_capped(data, &opts.budget)?;
    let specs = models
        .iter()
        .map(|(name, config)| ModelSpec {
            name: file_safe(name),
            config_name: name.clone(),
            config: config.clone(),
            tracks: tracks.clone(),
        })
        .collect();
    let notes = vec![
        "Every model sees the same audio, split, seed and budget. With a wall-clock budget a \
         larger model takes fewer steps; compare the steps column before the losses."
            .to_string(),
    ];
    run("depth", data.to_vec(), specs, notes, opts, observer)
}

/// A preset name or config path reduced to a file name: the file's stem, with anything but
/// letters, digits, `-`, `_` and `.` replaced by `_`.
fn file_safe(name: &str) -> String {
    let stem = Path::new(name)
        .file_stem()
        .map_or_else(|| name.to_string(), |s| s.to_string_lossy().into_owned());
    sanitize(&stem)
}

/// `name` with anything but letters, digits, `-`, `_` and `.` replaced by `_`.
fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() { "model".into() } else { s }
}

/// Test-split clips of `tracks` under `config`, named for the eval report.
fn reference_of(config: &RunConfig, tracks: &[Track]) -> Result<Vec<(String, Clip)>> {
    let splits = split_tracks(tracks, &config.data)?;
    let named: Vec<(String, Clip)> = splits
        .get(Split::Test)
        .iter()
        .zip(tracks)
        .filter(|(c, _)| !c.is_empty())
        .map(|(c, t)| (format!("test split of {}", t.path.display()), c.clone()))
        .collect();
    let long: Vec<(String, Clip)> = named
        .iter()
        .filter(|(_, c)| c.duration_secs() >= MIN_REFERENCE_SECS)
        .cloned()
        .collect();
    Ok(if long.is_empty() { named } else { long })
}

/// Runs every model of `specs` and writes the report folder. See the module documentation.
pub fn run(
    experiment: &str,
    data: Vec<PathBuf>,
    specs: Vec<ModelSpec>,
    notes: Vec<String>,
    opts: &ExperimentOptions,
    observer: &mut dyn ExperimentObserver,
) -> Result<ExperimentReport> {
    let started = Instant::now();
    if !(opts.seconds > 0.0 && opts.seconds.is_finite()) {
        return Err(Error::Config {
            path: "seconds".into(),
            problem: format!("must be a positive number of seconds, not {}", opts.seconds),
        });
    }
    // Check everything that can be checked before hours of training: names, configs, audio,
    // and that no earlier run would be overwritten.
    let mut names = std::collections::BTreeSet::new();
    let mut prepared = Vec::new();
    for spec in specs {
        if !names.insert(spec.name.clone()) {
            return Err(Error::Config {
                path: spec.config_name.clone().into(),
                problem: format!("two models are both named `{}`", spec.name),
            });
        }
        let mut config = opts.budget.apply(&spec.config);
        config.data.normalize_loudness = opts.normalize_loudness;
        config.validate(Path::new("experiment budget"))?;
        split_tracks(&spec.tracks, &config.data)?;
        let run_dir = opts.runs.join(&spec.name);
        if run_dir.exists() {
            return Err(Error::Run {
                path: run_dir,
                problem: "already exists; choose another --runs (or --out) folder or remove it"
                    .into(),
            });
        }
        prepared.push((spec, config, run_dir));
    }
    for sub in [files::CLIPS, files::SPECTROGRAMS] {
        let dir = opts.out.join(sub);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("create folder", &dir, e))?;
    }

    let total = prepared.len();
    let mut models = Vec::new();
    let mut skipped = Vec::new();
    let mut trained = Vec::new();
    for (i, (spec, config, run_dir)) in prepared.into_iter().enumerate() {
        if opts.stop.load(Ordering::Relaxed) {
            skipped.push(spec.name.clone());
            continue;
        }
        observer.model_started(&spec.name, i, total);
        let result = run_one(&spec, &config, &run_dir, opts, observer)?;
        observer.model_done(&result);
        models.push(result);
        trained.push((spec, config, run_dir));
    }

    // Cross measures: every model's clip against every model's test split, and every model's
    // loss there. Only meaningful between different audio (the genres experiment).
    let (mut cross_spectrum_db, mut cross_test_loss) = (Vec::new(), Vec::new());
    if experiment == "genres" && trained.len() > 1 {
        let clips: Vec<(String, Clip)> = models
            .iter()
            .map(|m| {
                let (clip, _) = lofigen_audio::load_mono_8k(&opts.out.join(&m.clip))?;
                Ok((m.name.clone(), clip))
            })
            .collect::<Result<_>>()?;
        let refs: Vec<Vec<(String, Clip)>> = trained
            .iter()
            .map(|(spec, config, _)| reference_of(config, &spec.tracks))
            .collect::<Result<_>>()?;
        let mut by_ref = Vec::new();
        for r in &refs {
            let report = evaluate(&clips, r)?;
            by_ref.push(
                report
                    .generated
                    .iter()
                    .map(|row| row.spectrum_distance_db.unwrap_or(f64::NAN))
                    .collect::<Vec<_>>(),
            );
        }
        cross_spectrum_db = (0..clips.len())
            .map(|i| by_ref.iter().map(|col| col[i]).collect())
            .collect();
        for (_, config, run_dir) in &trained {
            let (_, model) = RunDir::new(run_dir).load_trained(&opts.device)?;
            let row = refs
                .iter()
                .map(|r| {
                    let clips: Vec<Clip> = r.iter().map(|(_, c)| c.clone()).collect();
                    let w = config.data.window_samples;
                    let windows = Windows::new(&clips, w, w);
                    (!windows.is_empty()).then(|| {
                        crate::loss::mean_loss(
                            &model,
                            &windows,
                            config.train.batch_size,
                            config.train.max_valid_windows,
                            &opts.device,
                        )
                    })
                })
                .collect();
            cross_test_loss.push(row);
        }
    }

    let mut loss_plots = Vec::new();
    let mut units: Vec<String> = models.iter().map(|m| m.loss_unit.clone()).collect();
    units.dedup();
    units.sort();
    units.dedup();
    for unit in units {
        let series: Vec<Series> = models
            .iter()
            .enumerate()
            .filter(|(_, m)| m.loss_unit == unit)
            .flat_map(|(i, m)| {
                let mut s = loss_series(&m.name, &m.history);
                for x in &mut s {
                    x.color = i;
                }
                s
            })
            .collect();
        let file = PathBuf::from(format!(
            "loss-{}.png",
            if unit == "MSE" { "mse" } else { "nats" }
        ));
        loss_curves(
            &opts.out.join(&file),
            &format!("{experiment}: loss per epoch ({unit}; dashed: validation)"),
            &series,
        )?;
        loss_plots.push(file);
    }

    let report = ExperimentReport {
        experiment: experiment.to_string(),
        lofigen_version: env!("CARGO_PKG_VERSION").to_string(),
        command: opts.command.clone(),
        data,
        budget: opts.budget.clone(),
        normalize_loudness: opts.normalize_loudness,
        seconds_generated: opts.seconds,
        device: crate::device::describe(&opts.device),
        models,
        loss_plots,
        cross_spectrum_db,
        cross_test_loss,
        skipped,
        notes,
        total_seconds: started.elapsed().as_secs_f64(),
    };
    let json = serde_json::to_string_pretty(&report).expect("plain data serialises") + "\n";
    write_file(&opts.out.join(files::REPORT_JSON), json.as_bytes())?;
    write_file(
        &opts.out.join(files::REPORT_MD),
        markdown(&report).as_bytes(),
    )?;
    Ok(report)
}

/// Train, generate, measure and draw one model.
fn run_one(
    spec: &ModelSpec,
    config: &RunConfig,
    run_dir: &Path,
    opts: &ExperimentOptions,
    observer: &mut dyn ExperimentObserver,
) -> Result<ModelResult> {
    let mut train_opts = TrainOptions::new(run_dir, opts.device.clone());
    train_opts.max_minutes = opts.budget.minutes_per_model;
    train_opts.stop = opts.stop.clone();
    let t0 = Instant::now();
    let state = train(config, &spec.tracks, &train_opts, observer)?;
    let train_seconds = t0.elapsed().as_secs_f64();
    // The config as trained (genres resolved), and the model of its newest checkpoint.
    let (config, model) = RunDir::new(run_dir).load_trained(&opts.device)?;

    observer.generating(&spec.name, opts.seconds);
    let seed = prompt_samples(&config, &Prompt::TestSplit(spec.tracks.clone()))?;
    let genre = genre_index(&config.model, None)?;
    let gen_opts = GenerateOptions {
        seconds: opts.seconds,
        sampling: Sampling {
            seed: config.train.seed,
            ..Sampling::default()
        },
        genre,
        ..GenerateOptions::default()
    };
    let t1 = Instant::now();
    let clip = generate(&model, &seed, &gen_opts);
    let generate_seconds = t1.elapsed().as_secs_f64();
    let clip_rel = Path::new(files::CLIPS).join(format!("{}.wav", spec.name));
    write_wav16(&opts.out.join(&clip_rel), &clip)?;

    let reference = reference_of(&config, &spec.tracks)?;
    let mut eval = evaluate(
        &[(clip_rel.display().to_string(), clip.clone())],
        &reference,
    )?;
    let ref_clips: Vec<Clip> = reference.iter().map(|(_, c)| c.clone()).collect();
    eval.set_model_nll(nll_bits_per_sample(
        &model,
        &ref_clips,
        config.data.window_samples,
        genre,
        config.train.max_valid_windows,
        &opts.device,
    ));
    let sg_rel = Path::new(files::SPECTROGRAMS).join(format!("{}.png", spec.name));
    spectrograms(
        &opts.out.join(&sg_rel),
        &format!("{}: generated vs. test split (shared dB scale)", spec.name),
        &[
            (
                &format!("generated by {}", spec.name),
                &spectrogram(&clip, crate::eval::SPECTROGRAM_COLUMNS),
            ),
            (
                &format!("{} test split", spec.name),
                &spectrogram(&reference[0].1, crate::eval::SPECTROGRAM_COLUMNS),
            ),
        ],
    )?;

    let splits = split_tracks(&spec.tracks, &config.data)?;
    let w = config.data.window_samples;
    let stride = config.data.stride();
    let classes = config.model.classes();
    let warnings = quiet_splits(&splits, &spec.tracks);
    Ok(ModelResult {
        name: spec.name.clone(),
        config_name: spec.config_name.clone(),
        family: config.model.family().to_string(),
        parameters: model.param_count(),
        receptive_field: config.model.receptive_field(),
        config_toml: config.to_toml(),
        sources: spec
            .tracks
            .iter()
            .map(|t| SourceUse {
                path: t.path.clone(),
                seconds: t.clip.duration_secs(),
            })
            .collect(),
        split_seconds: splits.seconds(),
        split_windows: [Split::Train, Split::Valid, Split::Test]
            .map(|s| Windows::new(splits.get(s), w, stride).len()),
        windows_seen: state.history.iter().map(|m| m.windows).sum(),
        history: state.history,
        steps: state.step,
        test_loss: state.test_loss,
        test_bits_per_sample: classes.and(state.test_loss.map(nats_to_bits)),
        loss_unit: if classes.is_some() {
            "nats/sample"
        } else {
            "MSE"
        }
        .into(),
        train_seconds,
        generate_seconds,
        clip: clip_rel,
        spectrogram: sg_rel,
        run_dir: run_dir.to_path_buf(),
        eval,
        warnings,
    })
}

/// One line per validation or test piece quieter than [`QUIET_SPLIT_DBFS`], and per split that
/// is near silent as a whole.
fn quiet_splits(splits: &crate::data::Splits, tracks: &[Track]) -> Vec<String> {
    let dbfs = |sum_sq: f64, n: usize| 10.0 * (sum_sq / n.max(1) as f64 + 1e-20).log10();
    let mut out = Vec::new();
    for split in [Split::Valid, Split::Test] {
        let (mut sum_sq, mut n) = (0.0, 0);
        for (clip, track) in splits.get(split).iter().zip(tracks) {
            if clip.is_empty() {
                continue;
            }
            let e: f64 = clip
                .samples
                .iter()
                .map(|&x| f64::from(x) * f64::from(x))
                .sum();
            let level = dbfs(e, clip.len());
            if level < QUIET_SPLIT_DBFS {
                out.push(format!(
                    "the {} split of {} is near silent ({level:.0} dBFS RMS)",
                    split.name(),
                    track.path.display()
                ));
            }
            sum_sq += e;
            n += clip.len();
        }
        let level = dbfs(sum_sq, n);
        if n > 0 && level < QUIET_SPLIT_DBFS {
            out.push(format!(
                "the whole {} split is near silent ({level:.0} dBFS RMS): its loss says little",
                split.name()
            ));
        }
    }
    out
}

/// A loss in a compact form that keeps small MSEs readable.
fn loss(v: Option<f64>) -> String {
    v.filter(|x| x.is_finite())
        .map_or("-".to_string(), |x| format!("{x:.4e}"))
}

fn minutes(secs: f64) -> String {
    format!("{:.1}", secs / 60.0)
}

/// The report as Markdown: settings, audio and time used, losses, eval, cross tables, plots.
pub fn markdown(r: &ExperimentReport) -> String {
    let mut s = String::new();
    let title = match r.experiment.as_str() {
        "genres" => "Experiment 1: one model per genre",
        "depth" => "Experiment 2: model depth",
        other => other,
    };
    let _ = writeln!(s, "# {title}\n");
    if let Some(c) = &r.command {
        let _ = writeln!(s, "```sh\n{c}\n```\n");
    }
    let _ = writeln!(s, "## Settings\n");
    let data: Vec<String> = r
        .data
        .iter()
        .map(|p| format!("`{}`", p.display()))
        .collect();
    let b = &r.budget;
    let none = |v: Option<String>| v.unwrap_or_else(|| "as configured".into());
    let _ = writeln!(s, "- lofigen {}, device `{}`", r.lofigen_version, r.device);
    let _ = writeln!(s, "- data: {}", data.join(", "));
    let _ = writeln!(
        s,
        "- loudness: {}",
        if r.normalize_loudness {
            "every file scaled to -20 dBFS RMS (peak kept within full scale) before the split"
        } else {
            "recorded levels kept (as in the paper)"
        }
    );
    let _ = writeln!(
        s,
        "- budget per model: epochs {}, wall clock (min) {}, audio (min) {}, training windows per epoch {}, validation/test windows {}",
        none(b.epochs.map(|e| e.to_string())),
        none(b.minutes_per_model.map(|m| m.to_string())),
        none(b.max_audio_minutes.map(|m| m.to_string())),
        none(b.max_windows_per_epoch.map(|m| m.to_string())),
        none(b.max_valid_windows.map(|m| m.to_string())),
    );
    let _ = writeln!(
        s,
        "- generated per model: {} s, continuing the first window of the model's own test split \
         (seed models regress the next sample; WaveNets sample at temperature 1 with the training seed)",
        r.seconds_generated
    );
    let _ = writeln!(
        s,
        "- whole experiment: {} min ({:.0} s) wall clock",
        minutes(r.total_seconds),
        r.total_seconds
    );
    if let Some(m) = r.models.first() {
        let _ = writeln!(
            s,
            "\nConfig of `{}` as trained (the others differ only in the model):\n\n```toml\n{}```",
            m.name, m.config_toml
        );
    }

    let _ = writeln!(s, "\n## Audio and time used\n");
    let mut t = Table::new(&[
        "model",
        "files",
        "audio min",
        "train / valid / test s",
        "windows train / valid / test",
        "epochs",
        "steps",
        "windows seen",
        "train s",
        "generate s",
    ])
    .left(&[3, 4]);
    for m in &r.models {
        let audio: f64 = m.sources.iter().map(|x| x.seconds).sum();
        let [a, b2, c] = m.split_seconds;
        let [wa, wb, wc] = m.split_windows;
        t.row([
            m.name.clone(),
            m.sources.len().to_string(),
            minutes(audio),
            format!("{a:.0} / {b2:.0} / {c:.0}"),
            format!("{wa} / {wb} / {wc}"),
            m.history.len().to_string(),
            m.steps.to_string(),
            m.windows_seen.to_string(),
            format!("{:.0}", m.train_seconds),
            format!("{:.1}", m.generate_seconds),
        ]);
    }
    s.push_str(&t.markdown());
    let _ = writeln!(
        s,
        "\nFiles used (seconds taken from the middle of each, when capped; each piece is split \
         in time into train / validation / test):\n"
    );
    for m in &r.models {
        let list: Vec<String> = m
            .sources
            .iter()
            .map(|x| {
                let name = x.path.file_name().map_or_else(
                    || x.path.display().to_string(),
                    |n| n.to_string_lossy().into(),
                );
                format!("{name} ({:.0} s)", x.seconds)
            })
            .collect();
        let _ = writeln!(s, "- {}: {}", m.name, list.join(", "));
    }
    let warnings: Vec<String> = r
        .models
        .iter()
        .flat_map(|m| m.warnings.iter().map(move |w| format!("- {}: {w}", m.name)))
        .collect();
    if !warnings.is_empty() {
        let _ = writeln!(s, "\n**Data warnings:**\n\n{}", warnings.join("\n"));
    }

    let _ = writeln!(s, "\n## Losses\n");
    let mut t = Table::new(&[
        "model",
        "config",
        "family",
        "parameters",
        "receptive field",
        "unit",
        "first train",
        "last train",
        "first valid",
        "last valid",
        "test",
        "test bits/sample",
    ])
    .left(&[1, 2, 5]);
    for m in &r.models {
        let (first, last) = (m.history.first(), m.history.last());
        t.row([
            m.name.clone(),
            m.config_name.clone(),
            m.family.clone(),
            m.parameters.to_string(),
            m.receptive_field.to_string(),
            m.loss_unit.clone(),
            loss(first.map(|h| h.train_loss)),
            loss(last.map(|h| h.train_loss)),
            loss(first.map(|h| h.valid_loss)),
            loss(last.map(|h| h.valid_loss)),
            loss(m.test_loss),
            opt(m.test_bits_per_sample, 3),
        ]);
    }
    s.push_str(&t.markdown());
    for p in &r.loss_plots {
        let _ = writeln!(s, "\n![loss curves]({})", p.display());
    }

    let _ = writeln!(
        s,
        "\n## Generated audio, measured against the model's own test split\n"
    );
    let _ = writeln!(
        s,
        "Columns as in `lofigen eval` (README): spectrum dB and MFCC FD are distances to the test \
         split (lower is closer); the `reference` rows give the same measures for the test split \
         itself (its distances compare each test piece with the others), for scale. NLL is the \
         test split's negative log-likelihood under the model (WaveNets only), bits per sample.\n"
    );
    let mut t = Table::new(&[
        "model",
        "clip",
        "spectrum dB",
        "MFCC FD",
        "flatness",
        "tonal",
        "dyn dB",
        "silence",
        "clipped",
        "RMS dBFS",
        "NLL bits",
    ])
    .left(&[1]);
    for m in &r.models {
        for (row, label) in m
            .eval
            .generated
            .iter()
            .map(|g| (g, format!("[{}]({})", m.clip.display(), m.clip.display())))
            .chain(std::iter::once((
                &m.eval.reference,
                format!("reference ({} piece(s))", m.eval.reference_files.len()),
            )))
        {
            let name = if std::ptr::eq(row, &m.eval.reference) {
                format!("{} (test split)", m.name)
            } else {
                m.name.clone()
            };
            t.row([
                name,
                label,
                opt(row.spectrum_distance_db, 2),
                opt(row.mfcc_frechet, 1),
                opt(row.flatness, 3),
                opt(row.tonal_peak, 3),
                opt(row.dynamics_db, 2),
                format!("{:.3}", row.silence_fraction),
                format!("{:.4}", row.clipping_fraction),
                format!("{:.1}", row.rms_dbfs),
                opt(row.nll_bits_per_sample, 3),
            ]);
        }
    }
    s.push_str(&t.markdown());
    let _ = writeln!(s);
    for m in &r.models {
        let _ = writeln!(s, "![{} spectrogram]({})", m.name, m.spectrogram.display());
    }

    if !r.cross_spectrum_db.is_empty() {
        let cross = |corner: &str, rows: Vec<Vec<String>>| {
            let header: Vec<&str> = std::iter::once(corner)
                .chain(r.models.iter().map(|m| m.name.as_str()))
                .collect();
            let mut t = Table::new(&header);
            for (m, row) in r.models.iter().zip(rows) {
                t.row(std::iter::once(m.name.clone()).chain(row));
            }
            t.markdown()
        };
        let _ = writeln!(s, "\n## Across genres\n");
        let _ = writeln!(
            s,
            "Spectrum distance (dB) of each model's clip (rows) to each genre's test split \
             (columns). If a clip resembled its own genre, the smallest value of its row would sit \
             on the diagonal.\n"
        );
        s.push_str(&cross(
            "clip \\ test split",
            r.cross_spectrum_db
                .iter()
                .map(|row| row.iter().map(|v| opt(Some(*v), 2)).collect())
                .collect(),
        ));
        let _ = writeln!(
            s,
            "\nTest loss of each model (rows) on each genre's test split (columns), in the model's \
             loss unit. A model that learnt something specific to its genre has its row's smallest \
             value on the diagonal; with recorded levels, quiet genres score low under every \
             model.\n"
        );
        s.push_str(&cross(
            "model \\ test split",
            r.cross_test_loss
                .iter()
                .map(|row| row.iter().map(|v| loss(*v)).collect())
                .collect(),
        ));
    }

    if !r.skipped.is_empty() {
        let _ = writeln!(s, "\nStopped early: not run: {}.", r.skipped.join(", "));
    }
    let _ = writeln!(s, "\n## Notes\n");
    for n in &r.notes {
        let _ = writeln!(s, "- {n}");
    }
    let _ = writeln!(
        s,
        "- Every number above is also in `report.json`; the run directories (checkpoints, \
         metrics.csv) are not part of the report."
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(seconds: f64) -> Track {
        Track {
            path: PathBuf::from(format!("{seconds}.wav")),
            label: "x".into(),
            clip: Clip::new(vec![0.0; (seconds * 8000.0) as usize], 8000),
        }
    }

    #[test]
    fn take_minutes_spreads_the_budget_over_every_track() {
        // 100 s over tracks of 10, 60 and 90 s: the short one gives all of its 10 s, the
        // others 45 s each.
        let got = take_minutes(vec![track(60.0), track(10.0), track(90.0)], 100.0 / 60.0);
        let secs: Vec<f64> = got.iter().map(|t| t.clip.duration_secs()).collect();
        assert_eq!(secs, [45.0, 10.0, 45.0]);
        // More budget than audio keeps everything; none keeps nothing.
        let all = take_minutes(vec![track(30.0), track(5.0)], 10.0);
        assert_eq!(all.iter().map(|t| t.clip.len()).sum::<usize>(), 35 * 8000);
        assert!(take_minutes(vec![track(5.0)], 0.0).is_empty());
    }

    #[test]
    fn take_minutes_cuts_from_the_middle() {
        let mut t = track(3.0);
        t.clip = Clip::new((0..24_000).map(|i| i as f32).collect(), 8000);
        let got = take_minutes(vec![t], 1.0 / 60.0);
        assert_eq!(got[0].clip.len(), 8000);
        assert_eq!(got[0].clip.samples[0], 8000.0);
    }

    #[test]
    fn quiet_splits_flags_a_silent_test_tail() {
        // Loud for 90% of the file, silent after: the 0.7 / 0.2 / 0.1 split tests on silence.
        let n = 100_000;
        let loud = |i: usize| {
            if i < n * 9 / 10 {
                0.3 * (i as f32 * 0.05).sin()
            } else {
                0.0
            }
        };
        let mut fading = track(0.0);
        fading.path = PathBuf::from("fading.wav");
        fading.clip = Clip::new((0..n).map(loud).collect(), 8000);
        let data = crate::config::DataConfig {
            window_samples: 1024,
            ..Default::default()
        };
        let splits = split_tracks(std::slice::from_ref(&fading), &data).unwrap();
        let warnings = quiet_splits(&splits, std::slice::from_ref(&fading));
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].contains("test split of fading.wav"),
            "{warnings:?}"
        );
        assert!(warnings[1].contains("whole test split"), "{warnings:?}");

        let mut steady = fading.clone();
        steady.clip = Clip::new(
            (0..n).map(|i| 0.3 * (i as f32 * 0.05).sin()).collect(),
            8000,
        );
        let splits = split_tracks(std::slice::from_ref(&steady), &data).unwrap();
        assert!(quiet_splits(&splits, std::slice::from_ref(&steady)).is_empty());
    }

    #[test]
    fn file_safe_names() {
        assert_eq!(file_safe("seed4"), "seed4");
        assert_eq!(file_safe("configs/my model.toml"), "my_model");
        assert_eq!(file_safe("wavenet-small"), "wavenet-small");
    }
}
