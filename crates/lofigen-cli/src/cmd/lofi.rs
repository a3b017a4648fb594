//! `lofigen lofi`: the bundled model (or a run) into a WAV file or an endless WAV stream.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use lofigen::runtime::{Generator, samples_for};
use lofigen_audio::MAX_WAV16_FRAMES;

use crate::progress;
use crate::shared::{SamplingArgs, check_out_dir};

#[derive(Args, Debug)]
pub(crate) struct LofiArgs {
    /// Output WAV (16-bit, 8 kHz, mono), or `-` for a WAV stream on stdout.
    #[arg(long, default_value = "lofi.wav")]
    pub(crate) out: PathBuf,
    /// Seconds to generate [default: 60 into a file; no end on stdout].
    #[arg(long, allow_negative_numbers = true)]
    pub(crate) seconds: Option<f64>,
    /// A trained run to play instead of the bundled model.
    #[arg(long)]
    pub(crate) run: Option<PathBuf>,
    /// Audio to continue, any format and rate (default: the bundled half second of "Island
    /// Dreams" by K-Pone, or the run's test split with --run).
    #[arg(long, alias = "seed-audio")]
    pub(crate) prompt_audio: Option<PathBuf>,
    /// Store the engine's weights as f16 (faster, outputs within 1e-2 of f32).
    #[arg(long)]
    f16: bool,
    #[command(flatten)]
    pub(crate) sampling: SamplingArgs,
}

pub(crate) fn run(a: LofiArgs) -> Result<()> {
    let to_stdout = a.out.as_os_str() == "-";
    let seconds = match a.seconds {
        Some(s) if !(s > 0.0 && s.is_finite()) => {
            bail!("--seconds must be a positive number, not {s}")
        }
        Some(s) => Some(s),
        None if to_stdout => None,
        None => Some(60.0),
    };
    let opts = a.sampling.stream_options(a.prompt_audio.clone(), a.f16)?;
    if to_stdout && std::io::stdout().is_terminal() {
        bail!(
            "--out - writes a WAV stream, and stdout is a terminal: pipe it to a player \
             (`lofigen lofi --out - | aplay`) or give --out a file"
        );
    }
    let rate = lofigen::config::SAMPLE_RATE_HZ;
    if !to_stdout {
        check_out_dir(&a.out)?;
        let most = MAX_WAV16_FRAMES as f64 / f64::from(rate);
        if seconds.is_some_and(|s| s > most) {
            bail!(
                "--seconds: one WAV file holds at most {most:.0} s ({:.1} hours); stream longer \
                 with --out -",
                most / 3600.0
            );
        }
    }
    let generator = match &a.run {
        Some(run) => Generator::from_run(run)?,
        None => Generator::bundled()?,
    };
    let mut stream = generator.stream(&opts)?;
    let total = seconds.map(samples_for).transpose()?;
    eprintln!(
        "playing {} {} (sampler seed {})",
        generator.name(),
        match seconds {
            Some(s) => format!("for {s} s"),
            None => "with no end: Ctrl-C stops".into(),
        },
        a.sampling.seed
    );
    if to_stdout {
        return stream
            .pipe_wav(std::io::stdout().lock(), total)
            .context("cannot write to stdout");
    }
    let total = total.expect("a file has a length");
    let bar = progress::SamplesBar::new(total);
    let start = Instant::now();
    stream.write_wav(&a.out, total, |n| bar.advance(n))?;
    bar.finish();
    let seconds = total as f64 / f64::from(rate);
    println!(
        "wrote {seconds:.1} s of lofi to {} ({:.1}x real time)",
        a.out.display(),
        seconds / start.elapsed().as_secs_f64()
    );
    Ok(())
}
