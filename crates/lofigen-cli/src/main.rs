//! `lofigen`: prepare music, train models on it, generate new audio. This file parses the
//! command line and dispatches to one module per command (`cmd/`); the library computes.

mod bench;
mod clips;
mod cmd;
mod progress;
mod shared;

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Learn music from raw waveforms and generate new music, lofi first.
#[derive(Parser, Debug)]
#[command(name = "lofigen", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Decode music files (mp3, wav, flac, ogg) to an 8 kHz mono corpus with a manifest.
    Prepare(cmd::prepare::PrepareArgs),
    /// Train a model and write a run directory (config, checkpoints, metrics, loss plot).
    Train(cmd::train::TrainArgs),
    /// Generate audio from a trained run into a 16-bit 8 kHz WAV.
    Generate(cmd::generate::GenerateArgs),
    /// Lofi out of the box: the model that ships with lofigen (or a run of yours) into a WAV
    /// file, or as an endless WAV stream on stdout (`lofigen lofi --out - | aplay`).
    Lofi(cmd::lofi::LofiArgs),
    /// Endless lofi over HTTP: a page to listen in a browser, /stream.mp3 and /stream.wav for
    /// any number of listeners, /control, /status and /metrics.
    Radio(cmd::radio::RadioArgs),
    /// Overlay the loss curves of one or more runs in one PNG.
    Plot(cmd::plot::PlotArgs),
    /// Measure generated audio against real reference audio (table, JSON, spectrogram PNGs).
    #[command(long_about = cmd::eval::EVAL_ABOUT)]
    Eval(cmd::eval::EvalArgs),
    /// Analyse music: tempo, beats, downbeats, key and chords per bar (text, JSON, PNGs).
    #[command(long_about = cmd::analyze::ANALYZE_ABOUT)]
    Analyze(cmd::analyze::AnalyzeArgs),
    /// The paper's experiments, rerun: one model per genre, or models of several depths.
    #[command(subcommand)]
    Experiment(cmd::experiment::ExperimentCommand),
    /// Measure training steps and generation speed (prints ratios).
    Bench(bench::BenchArgs),
    /// The whole pipeline on the bundled clip: prepare, train briefly, generate, plot.
    Demo(cmd::demo::DemoArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            // The decoder's own log lines repeat, without the file name, problems that lofigen
            // reports itself (naming the file), so they are off unless RUST_LOG asks for them.
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,symphonia=off".into()),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprint!("{}", error_report(&e));
            ExitCode::FAILURE
        }
    }
}

/// The whole chain: what we were doing, then why it failed. A cause whose text the line above
/// already shows (errors that print their source, such as "cannot open x: No such file") is
/// not repeated.
fn error_report(e: &anyhow::Error) -> String {
    let mut out = format!("error: {e}\n");
    let mut shown = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !shown.contains(&text) {
            out.push_str(&format!("  caused by: {text}\n"));
        }
        shown = text;
    }
    out
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Prepare(a) => cmd::prepare::run(a),
        Command::Train(a) => cmd::train::run(a),
        Command::Generate(a) => cmd::generate::run(a),
        Command::Lofi(a) => cmd::lofi::run(a),
        Command::Radio(a) => cmd::radio::run(a),
        Command::Plot(a) => cmd::plot::run(a),
        Command::Eval(a) => cmd::eval::run(a),
        Command::Analyze(a) => cmd::analyze::run(a),
        Command::Experiment(c) => cmd::experiment::run(c),
        Command::Bench(a) => bench::run(a),
        Command::Demo(a) => cmd::demo::run(a),
    }
}
