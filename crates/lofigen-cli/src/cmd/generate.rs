//! `lofigen generate`: audio from a trained run into a WAV file.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use lofigen::runtime::{FxPreset, Generator, Precision};
use lofigen_audio::write_wav16;

use crate::clips::{self, CountArg};
use crate::shared::{
    DeviceArg, MusicArgs, SamplingArgs, check_out_dir, describe_music, describe_output, parse_fx,
    parse_rate,
};

#[derive(Args, Debug)]
pub(crate) struct GenerateArgs {
    /// Run directory of a trained model.
    #[arg(long)]
    pub(crate) run: PathBuf,
    /// Seconds of audio to generate.
    // Negative numbers parse, so that `--seconds -1` gets lofigen's message, not clap's.
    #[arg(long, default_value_t = 10.0, allow_negative_numbers = true)]
    pub(crate) seconds: f64,
    /// Output WAV (16-bit; 8 kHz mono by default, stereo at --rate with effects).
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Effects chain: none (default here: the model's raw output, what research measures), or
    /// lofi, clean, tape, vinyl for the finished sound `lofigen lofi` makes.
    #[arg(long, default_value = "none", value_parser = parse_fx)]
    pub(crate) fx: FxPreset,
    /// Output sample rate, Hz: 8000 (default here: the model's own rate), 44100 or 48000.
    #[arg(long, default_value = "8000", value_parser = parse_rate)]
    pub(crate) rate: u32,
    /// Audio to continue, any format and rate (default: the first window of the test split, as
    /// the paper did).
    #[arg(long, alias = "seed-audio")]
    pub(crate) prompt_audio: Option<PathBuf>,
    /// Engine weights: f32 (default here: the trained weights as they are, what research
    /// measures) or f16 (half the memory traffic, about 1.3x faster on one core, outputs within
    /// 1e-2 of f32 per step).
    #[arg(long, default_value = "f32")]
    pub(crate) precision: Precision,
    /// Short for `--precision f16`.
    #[arg(long, conflicts_with = "precision")]
    pub(crate) f16: bool,
    /// Where the checkpoint is loaded. The samples themselves come from the cached CPU engine
    /// on every device (see docs/ARCHITECTURE.md, "GPUs").
    #[command(flatten)]
    pub(crate) device: DeviceArg,
    #[command(flatten)]
    pub(crate) sampling: SamplingArgs,
    #[command(flatten)]
    pub(crate) music: MusicArgs,
    #[command(flatten)]
    pub(crate) count: CountArg,
}

pub(crate) fn run(a: GenerateArgs) -> Result<()> {
    if !(a.seconds > 0.0 && a.seconds.is_finite()) {
        bail!("--seconds must be a positive number, not {}", a.seconds);
    }
    let count = a.count.checked(false)?;
    let mut opts = a.sampling.stream_options(
        a.prompt_audio.clone(),
        if a.f16 { Precision::F16 } else { a.precision },
    )?;
    opts.fx = a.fx.settings();
    opts.rate = a.rate;
    opts.music = a.music.request();
    opts.fx
        .validate(a.rate)
        .with_context(|| format!("--fx {} cannot run at --rate {}", a.fx, a.rate))?;
    check_out_dir(&a.out)?;
    let generator = Generator::from_run_on(&a.run, a.device.spec()?)?;
    if !generator.loaded_on_cpu() {
        eprintln!(
            "checkpoint loaded on {}; the samples come from the cached CPU engine",
            generator.device_name()
        );
    }
    if let Some(count) = count {
        return clips::render(&generator, &opts, count, a.seconds, &a.out, a.fx);
    }
    if let Some(music) = describe_music(&generator, &opts)? {
        eprintln!("{music}");
    }
    let start = Instant::now();
    if !opts.is_raw() {
        let mut render = generator.render(&opts)?;
        render.write_wav(&a.out, a.seconds, |_| {})?;
        let secs = start.elapsed().as_secs_f64();
        println!(
            "wrote {:.1} s of audio ({}, 16-bit) to {} ({:.1}x real time)",
            a.seconds,
            describe_output(render.sample_rate(), render.channels(), a.fx),
            a.out.display(),
            a.seconds / secs
        );
        return Ok(());
    }
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
