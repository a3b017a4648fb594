//! `lofigen experiment genres | depth`: the paper's two experiments, rerun.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use lofigen::RunConfig;

use crate::progress;
use crate::shared::{DeviceArg, default_demo_audio};

#[derive(Subcommand, Debug)]
pub(crate) enum ExperimentCommand {
    /// Experiment 1: a fresh model per genre subfolder of --data, same config, seed and budget;
    /// writes report.md, report.json, overlaid loss curves, a clip per genre and its measures.
    Genres(GenresArgs),
    /// Experiment 2: seed4 against seed6 (or any presets and config files) on the same audio;
    /// writes the same report.
    Depth(DepthArgs),
}

/// Options both experiments share: where the report goes and how much each model may use.
#[derive(Args, Debug)]
pub(crate) struct ExperimentShared {
    /// Report folder (report.md, report.json, loss-*.png, clips/, spectrograms/).
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Folder for the run directories (checkpoints); default <out>/runs.
    #[arg(long)]
    pub(crate) runs: Option<PathBuf>,
    /// Keep the recorded levels (as the paper did) instead of scaling every file to -20 dBFS
    /// RMS; level alone then moves the MSE.
    #[arg(long)]
    pub(crate) raw_levels: bool,
    /// Override `train.epochs` of every model.
    #[arg(long)]
    pub(crate) epochs: Option<usize>,
    /// Wall-clock limit of each model's training, minutes.
    #[arg(long)]
    pub(crate) minutes_per_model: Option<f64>,
    /// Audio per model: N minutes spread evenly over its files (an equal share from the middle
    /// of each).
    #[arg(long)]
    pub(crate) max_audio_minutes: Option<f64>,
    /// Override `train.max_windows_per_epoch` (training windows per epoch).
    #[arg(long)]
    pub(crate) max_windows: Option<usize>,
    /// Override `train.max_valid_windows` (validation and test windows scored).
    #[arg(long)]
    pub(crate) max_valid_windows: Option<usize>,
    /// Override `train.seed` of every model (weights, shuffle, sampler).
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// Override `train.batch_size` of every model.
    #[arg(long)]
    pub(crate) batch_size: Option<usize>,
    /// Override `train.learning_rate` of every model.
    #[arg(long, allow_negative_numbers = true)]
    pub(crate) lr: Option<f64>,
    /// Seconds of audio generated per model.
    #[arg(long, default_value_t = 10.0, allow_negative_numbers = true)]
    pub(crate) seconds: f64,
    #[command(flatten)]
    pub(crate) device: DeviceArg,
}

#[derive(Args, Debug)]
pub(crate) struct GenresArgs {
    /// A folder with one subfolder of audio per genre (lofi/, piano/, ...).
    #[arg(long)]
    pub(crate) data: PathBuf,
    /// Only these genre subfolders, in this order, comma-separated (default: all of them).
    #[arg(long, value_delimiter = ',')]
    pub(crate) genres: Vec<String>,
    /// Config file or preset name, the same for every genre.
    #[arg(long, default_value = "seed4")]
    pub(crate) config: String,
    #[command(flatten)]
    pub(crate) shared: ExperimentShared,
}

#[derive(Args, Debug)]
pub(crate) struct DepthArgs {
    /// Audio files or folders, the same for every model (default: the bundled 30 s clip).
    #[arg(long, num_args = 1..)]
    pub(crate) data: Vec<PathBuf>,
    /// Presets or config files to compare, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "seed4,seed6")]
    pub(crate) presets: Vec<String>,
    #[command(flatten)]
    pub(crate) shared: ExperimentShared,
}

/// Applies the shared options to `config` and builds the experiment's options.
fn experiment_options(
    shared: &ExperimentShared,
    default_out: &str,
) -> Result<lofigen::experiment::ExperimentOptions> {
    use lofigen::experiment::{Budget, ExperimentOptions};
    if !(shared.seconds > 0.0 && shared.seconds.is_finite()) {
        bail!(
            "--seconds must be a positive number, not {}",
            shared.seconds
        );
    }
    for (name, v) in [
        ("--minutes-per-model", shared.minutes_per_model),
        ("--max-audio-minutes", shared.max_audio_minutes),
    ] {
        if let Some(v) = v
            && !(v > 0.0 && v.is_finite())
        {
            bail!("{name} must be a positive number of minutes, not {v}");
        }
    }
    let out = shared
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(default_out));
    let mut opts = ExperimentOptions::new(&out, shared.device.resolve()?.device);
    if let Some(r) = &shared.runs {
        opts.runs = r.clone();
    }
    opts.normalize_loudness = !shared.raw_levels;
    opts.seconds = shared.seconds;
    opts.budget = Budget {
        epochs: shared.epochs,
        minutes_per_model: shared.minutes_per_model,
        max_audio_minutes: shared.max_audio_minutes,
        max_windows_per_epoch: shared.max_windows,
        max_valid_windows: shared.max_valid_windows,
    };
    opts.command = Some(
        std::iter::once("lofigen".to_string())
            .chain(std::env::args().skip(1))
            .collect::<Vec<_>>()
            .join(" "),
    );
    progress::stop_on_ctrl_c(opts.stop.clone());
    Ok(opts)
}

/// `config` with the command line's seed, batch size and learning rate, checked.
fn with_overrides(mut config: RunConfig, shared: &ExperimentShared) -> Result<RunConfig> {
    let t = &mut config.train;
    if let Some(s) = shared.seed {
        t.seed = s;
    }
    if let Some(b) = shared.batch_size {
        t.batch_size = b;
    }
    if let Some(lr) = shared.lr {
        t.learning_rate = lr;
    }
    config.validate(Path::new("command-line options"))?;
    Ok(config)
}

pub(crate) fn run(c: ExperimentCommand) -> Result<()> {
    let mut observer = progress::ExperimentProgress::new();
    let (report, out) = match c {
        ExperimentCommand::Genres(a) => {
            let opts = experiment_options(&a.shared, "out/experiment-genres")?;
            let config = with_overrides(RunConfig::load_or_preset(&a.config)?, &a.shared)?;
            let report = lofigen::experiment::genres(
                &a.data,
                &a.genres,
                &config,
                &a.config,
                &opts,
                &mut observer,
            )
            .context("the genres experiment failed")?;
            (report, opts.out)
        }
        ExperimentCommand::Depth(a) => {
            let opts = experiment_options(&a.shared, "out/experiment-depth")?;
            let data = if a.data.is_empty() {
                vec![default_demo_audio()]
            } else {
                a.data.clone()
            };
            let models = a
                .presets
                .iter()
                .map(|p| {
                    Ok((
                        p.clone(),
                        with_overrides(RunConfig::load_or_preset(p)?, &a.shared)?,
                    ))
                })
                .collect::<Result<Vec<_>>>()?;
            let report = lofigen::experiment::depth(&data, &models, &opts, &mut observer)
                .context("the depth experiment failed")?;
            (report, opts.out)
        }
    };
    observer.finish();
    for m in &report.models {
        println!(
            "{:<14} {} epoch(s), {} steps, test loss {} ({}), clip {}",
            m.name,
            m.history.len(),
            m.steps,
            m.test_loss.map_or("-".into(), |l| format!("{l:.4e}")),
            m.loss_unit,
            out.join(&m.clip).display()
        );
    }
    if !report.skipped.is_empty() {
        println!("stopped early; not run: {}", report.skipped.join(", "));
    }
    println!(
        "wrote {}",
        out.join(lofigen::experiment::files::REPORT_MD).display()
    );
    Ok(())
}
