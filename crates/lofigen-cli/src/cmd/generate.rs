//! `lofigen generate`: audio from a trained run into a WAV file.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use clap::Args;
use lofigen::runtime::Generator;
use lofigen_audio::write_wav16;

use crate::shared::{DeviceArg, SamplingArgs, check_out_dir};

#[derive(Args, Debug)]
pub(crate) struct GenerateArgs {
    /// Run directory of a trained model.
    #[arg(long)]
    pub(crate) run: PathBuf,
    /// Seconds of audio to generate.
    // Negative numbers parse, so that `--seconds -1` gets lofigen's message, not clap's.
    #[arg(long, default_value_t = 10.0, allow_negative_numbers = true)]
    pub(crate) seconds: f64,
    /// Output WAV (16-bit, 8 kHz, mono).
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Audio to continue, any format and rate (default: the first window of the test split, as
    /// the paper did).
    #[arg(long, alias = "seed-audio")]
    pub(crate) prompt_audio: Option<PathBuf>,
    /// Store the engine's weights as f16 (about twice as fast, outputs within 1e-2 of f32).
    #[arg(long)]
    pub(crate) f16: bool,
    /// Where the checkpoint is loaded. The samples themselves come from the cached CPU engine
    /// on every device (see docs/ARCHITECTURE.md, "GPUs").
    #[command(flatten)]
    pub(crate) device: DeviceArg,
    #[command(flatten)]
    pub(crate) sampling: SamplingArgs,
}

pub(crate) fn run(a: GenerateArgs) -> Result<()> {
    if !(a.seconds > 0.0 && a.seconds.is_finite()) {
        bail!("--seconds must be a positive number, not {}", a.seconds);
    }
    let opts = a.sampling.stream_options(a.prompt_audio.clone(), a.f16)?;
    check_out_dir(&a.out)?;
    let generator = Generator::from_run_on(&a.run, a.device.spec()?)?;
    if !generator.loaded_on_cpu() {
        eprintln!(
            "checkpoint loaded on {}; the samples come from the cached CPU engine",
            generator.device_name()
        );
    }
    let start = Instant::now();
    let clip = generator.generate(a.seconds, &opts)?;
    let secs = start.elapsed().as_secs_f64();
    write_wav16(&a.out, &clip)?;
    println!(
        "wrote {:.1} s of audio to {} ({:.0} samples/s, {:.1}x real time)",
        clip.duration_secs(),
        a.out.display(),
        clip.len() as f64 / secs,
        clip.duration_secs() / secs
    );
    Ok(())
}
