//! `lofigen train`: a model from a corpus into a run directory.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use lofigen::RunConfig;
use lofigen::corpus::load_tracks;
use lofigen::run::RunDir;
use lofigen::train::{TrainOptions, train};

use crate::progress;
use crate::shared::DeviceArg;

#[derive(Args, Debug)]
pub(crate) struct TrainArgs {
    /// Config file, or a preset name: seed6, seed6-code, seed4, wavenet-small, wavenet, wavenet-controls.
    #[arg(long, default_value = "seed6")]
    pub(crate) config: String,
    /// Corpus folder(s) from `prepare`, or audio files and folders directly.
    #[arg(long, required = true, num_args = 1..)]
    pub(crate) data: Vec<PathBuf>,
    /// Run directory to write.
    #[arg(long)]
    pub(crate) run: PathBuf,
    /// Continue the run from its latest checkpoint.
    #[arg(long)]
    pub(crate) resume: bool,
    /// Override `train.epochs`.
    #[arg(long)]
    pub(crate) epochs: Option<usize>,
    /// Override `train.batch_size`.
    #[arg(long)]
    pub(crate) batch_size: Option<usize>,
    /// Override `train.learning_rate`.
    #[arg(long, allow_negative_numbers = true)]
    pub(crate) lr: Option<f64>,
    /// Override `train.seed`.
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// Override `train.max_windows_per_epoch`.
    #[arg(long)]
    pub(crate) max_windows: Option<usize>,
    /// Stop (after saving) once this many minutes have passed.
    #[arg(long)]
    pub(crate) max_minutes: Option<f64>,
    /// Override `train.precision`: f32, or f16 / bf16 mixed precision (GPU backends only).
    #[arg(long)]
    pub(crate) precision: Option<String>,
    #[command(flatten)]
    pub(crate) device: DeviceArg,
    /// Data-parallel training on several devices, comma-separated (cuda:0,cuda:1). Each takes
    /// `batch_size` windows per step, so a step sees batch_size x devices windows; the gradients
    /// are averaged and the first device takes the optimizer step.
    #[arg(long, conflicts_with = "device")]
    pub(crate) devices: Option<String>,
    /// Start a new run from a trained model's weights: a run directory, or `bundled` for the
    /// model behind `lofigen lofi`. Parts of the same shape are copied; a control network the
    /// other model lacks starts silent, so fine-tuning adds controls to a model that already
    /// has the sound.
    #[arg(long, value_name = "RUN|bundled", conflicts_with = "resume")]
    pub(crate) init_from: Option<PathBuf>,
}

fn resolve_config(a: &TrainArgs) -> Result<RunConfig> {
    let mut config =
        if a.resume && !Path::new(&a.config).exists() && a.run.join("config.toml").is_file() {
            // Resuming without an explicit config file: the run's own config.
            RunDir::new(&a.run).config()?
        } else {
            RunConfig::load_or_preset(&a.config)?
        };
    let t = &mut config.train;
    if let Some(v) = a.epochs {
        t.epochs = v;
    }
    if let Some(v) = a.batch_size {
        t.batch_size = v;
    }
    if let Some(v) = a.lr {
        t.learning_rate = v;
    }
    if let Some(v) = a.seed {
        t.seed = v;
    }
    if a.max_windows.is_some() {
        t.max_windows_per_epoch = a.max_windows;
    }
    if let Some(p) = &a.precision {
        t.precision = match p.to_ascii_lowercase().as_str() {
            "f32" => lofigen::config::TrainPrecision::F32,
            "f16" => lofigen::config::TrainPrecision::F16,
            "bf16" => lofigen::config::TrainPrecision::Bf16,
            other => bail!("--precision {other}: expected f32, f16 or bf16"),
        };
    }
    config.validate(Path::new("command-line options"))?;
    Ok(config)
}

pub(crate) fn run(a: TrainArgs) -> Result<()> {
    let config = resolve_config(&a)?;
    // Absolute paths, so that the sources recorded in run.json (which `generate` reads back for
    // its default seed) still resolve when generate runs from another working directory.
    let data: Vec<PathBuf> = a
        .data
        .iter()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
        .collect();
    let tracks = load_tracks(&data).context("loading the training audio failed")?;
    let mut devices = match &a.devices {
        Some(list) => lofigen::device::resolve_all(&lofigen::device::parse_device_list(list)?)?,
        None => vec![a.device.resolve()?],
    }
    .into_iter()
    .map(|d| d.device);
    let main_device = devices.next().expect("at least one device");
    let mut opts = TrainOptions::new(&a.run, main_device);
    opts.replicas = devices.collect();
    opts.resume = a.resume;
    opts.max_minutes = a.max_minutes;
    if let Some(from) = &a.init_from {
        let cpu = lofigen::cpu_device();
        let model = if from.as_os_str() == "bundled" {
            lofigen::bundled::lofi_model(&cpu)?.1
        } else {
            RunDir::new(from)
                .load_trained(&cpu)
                .with_context(|| format!("--init-from {}", from.display()))?
                .1
        };
        opts.init_from = Some(model);
    }
    progress::stop_on_ctrl_c(opts.stop.clone());
    let mut observer = progress::TrainProgress::new();
    let state = train(&config, &tracks, &opts, &mut observer)
        .with_context(|| format!("training into {} failed", a.run.display()))?;
    observer.finish();
    println!(
        "trained {} epoch(s), {} steps; test loss {}; run directory: {}",
        state.epoch,
        state.step,
        state
            .test_loss
            .map_or("-".to_string(), |l| format!("{l:.6}")),
        a.run.display()
    );
    Ok(())
}
