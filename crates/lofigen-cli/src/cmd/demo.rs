//! `lofigen demo`: the whole pipeline on the bundled clip, then 30 s of the bundled model
//! through the lofi chain: the paper's 4-layer model learns little in minutes (its clip is
//! close to a tone), so the finished render is what a newcomer should hear first.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use lofigen::runtime::{FxPreset, Precision};

use super::generate::GenerateArgs;
use super::lofi::LofiArgs;
use super::plot::PlotArgs;
use super::prepare::PrepareArgs;
use super::train::TrainArgs;
use crate::clips::CountArg;
use crate::shared::{DeviceArg, MusicArgs, PlayPrecision, SamplingArgs, default_demo_audio};

#[derive(Args, Debug)]
pub(crate) struct DemoArgs {
    /// Folder for the corpus, run, audio and plot.
    #[arg(long, default_value = "out/demo")]
    pub(crate) out: PathBuf,
    /// Audio to learn from (default: the bundled 30 s clip).
    #[arg(long)]
    pub(crate) audio: Option<PathBuf>,
    /// Minutes of training.
    #[arg(long, default_value_t = 4.0)]
    pub(crate) minutes: f64,
    /// Seconds of audio to generate.
    #[arg(long, default_value_t = 5.0)]
    pub(crate) seconds: f64,
    /// Seconds of the bundled model, through the lofi chain, rendered at the end.
    #[arg(long, default_value_t = 30.0)]
    pub(crate) lofi_seconds: f64,
}

pub(crate) fn run(a: DemoArgs) -> Result<()> {
    let audio = a.audio.clone().unwrap_or_else(default_demo_audio);
    let corpus = a.out.join("corpus");
    let run = a.out.join("run");
    if run.exists() {
        std::fs::remove_dir_all(&run).with_context(|| format!("cannot clear {}", run.display()))?;
    }
    println!("1/5 prepare {}", audio.display());
    super::prepare::run(PrepareArgs {
        inputs: vec![audio],
        out: corpus.clone(),
        strict: true,
    })?;
    println!("2/5 train seed4 for {} min", a.minutes);
    super::train::run(TrainArgs {
        config: "seed4".into(),
        data: vec![corpus],
        run: run.clone(),
        resume: false,
        epochs: Some(1000),
        batch_size: Some(4),
        lr: Some(3e-4),
        seed: None,
        max_windows: None,
        max_minutes: Some(a.minutes),
        precision: None,
        device: DeviceArg {
            device: "cpu".into(),
        },
        devices: None,
        init_from: None,
    })?;
    println!("3/5 generate {} s", a.seconds);
    let wav = a.out.join("generated.wav");
    super::generate::run(GenerateArgs {
        run: run.clone(),
        seconds: a.seconds,
        out: wav.clone(),
        fx: FxPreset::None,
        rate: lofigen::config::SAMPLE_RATE_HZ,
        prompt_audio: None,
        precision: Precision::F32,
        f16: false,
        device: DeviceArg {
            device: "cpu".into(),
        },
        sampling: SamplingArgs::default(),
        music: MusicArgs::default(),
        count: CountArg::default(),
    })?;
    println!("4/5 plot");
    let plot = a.out.join("loss.png");
    super::plot::run(PlotArgs {
        runs: vec![run.clone()],
        out: plot.clone(),
    })?;
    println!(
        "5/5 lofi: {} s of the bundled model through the lofi chain",
        a.lofi_seconds
    );
    let lofi = a.out.join("lofi.wav");
    super::lofi::run(LofiArgs {
        out: lofi.clone(),
        fx: FxPreset::Lofi,
        rate: 44_100,
        seconds: Some(a.lofi_seconds),
        run: None,
        prompt_audio: None,
        precision: PlayPrecision::default(),
        sampling: SamplingArgs::default(),
        music: MusicArgs::default(),
        count: CountArg::default(),
    })?;
    println!(
        "\ndone. outputs:\n  listen first: {} (the bundled model, finished as 44.1 kHz stereo \
         lofi)\n  generated audio: {} (the paper's model after {} min of training)\n  loss \
         curves: {}\n  run directory: {}",
        lofi.display(),
        wav.display(),
        a.minutes,
        plot.display(),
        run.display()
    );
    Ok(())
}
