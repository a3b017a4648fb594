//! `lofigen lofi`: the bundled model (or a run), finished through the effects chain, into a WAV
//! file or an endless WAV stream.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use lofigen::runtime::{FxPreset, Generator};
use lofigen_audio::MAX_WAV16_FRAMES;

use crate::clips::{self, CountArg};
use crate::progress;
use crate::shared::{
    MusicArgs, PlayPrecision, SamplingArgs, check_out_dir, describe_music, describe_output,
    parse_fx, parse_rate,
};

#[derive(Args, Debug)]
pub(crate) struct LofiArgs {
    /// Output WAV (16-bit; stereo at --rate, or 8 kHz mono with `--rate 8000 --fx none`), or
    /// `-` for a WAV stream on stdout.
    #[arg(long, default_value = "lofi.wav")]
    pub(crate) out: PathBuf,
    /// Effects chain: lofi, clean, tape, vinyl or none (resampling only). `--rate 8000 --fx
    /// none` is the model's raw 8 kHz mono output.
    #[arg(long, default_value = "lofi", value_parser = parse_fx)]
    pub(crate) fx: FxPreset,
    /// Output sample rate, Hz: 44100, 48000 or 8000.
    #[arg(long, default_value = "44100", value_parser = parse_rate)]
    pub(crate) rate: u32,
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
    #[command(flatten)]
    pub(crate) precision: PlayPrecision,
    #[command(flatten)]
    pub(crate) sampling: SamplingArgs,
    #[command(flatten)]
    pub(crate) music: MusicArgs,
    #[command(flatten)]
    pub(crate) count: CountArg,
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
    let count = a.count.checked(to_stdout)?;
    let mut opts = a
        .sampling
        .stream_options(a.prompt_audio.clone(), a.precision.get())?;
    opts.fx = a.fx.settings();
    opts.rate = a.rate;
    opts.music = a.music.request();
    // Before the model loads: some presets cannot run at every rate (tape's low-pass at 8 kHz).
    opts.fx
        .validate(a.rate)
        .with_context(|| format!("--fx {} cannot run at --rate {}", a.fx, a.rate))?;
    if to_stdout && std::io::stdout().is_terminal() {
        bail!(
            "--out - writes a WAV stream, and stdout is a terminal: pipe it to a player \
             (`lofigen lofi --out - | aplay`) or give --out a file"
        );
    }
    let channels = if opts.is_raw() { 1 } else { 2 };
    if !to_stdout {
        check_out_dir(&a.out)?;
        let most = (MAX_WAV16_FRAMES / channels) as f64 / f64::from(a.rate);
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
    if let Some(count) = count {
        let seconds = seconds.expect("a file has a length");
        return clips::render(&generator, &opts, count, seconds, &a.out, a.fx);
    }
    let mut render = generator.render(&opts)?;
    let sound = describe_output(render.sample_rate(), render.channels(), a.fx);
    eprintln!(
        "playing {} {} as {sound} (sampler seed {}, which seeds the effects too)",
        generator.name(),
        match seconds {
            Some(s) => format!("for {s} s"),
            None => "with no end: Ctrl-C stops".into(),
        },
        a.sampling.seed
    );
    if let Some(music) = describe_music(&generator, &opts)? {
        eprintln!("{music}");
    }
    if let Some(notice) = generator.attribution() {
        eprintln!("{notice}");
    }
    if to_stdout {
        return render
            .pipe_wav(std::io::stdout().lock(), seconds)
            .context("cannot write to stdout");
    }
    let seconds = seconds.expect("a file has a length");
    let frames = render.frames_for(seconds)?;
    let bar = progress::SamplesBar::new(frames);
    let start = Instant::now();
    render.write_wav(&a.out, seconds, |n| bar.advance(n))?;
    bar.finish();
    let seconds = frames as f64 / f64::from(render.sample_rate());
    println!(
        "wrote {seconds:.1} s of lofi ({sound}, 16-bit) to {} ({:.1}x real time)",
        a.out.display(),
        seconds / start.elapsed().as_secs_f64()
    );
    Ok(())
}
