//! `lofigen`: prepare music, train causal convolution models on it, generate new audio.

mod bench;
mod progress;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use lofigen::RunConfig;
use lofigen::corpus::{find_audio_files, load_tracks, prepare};
use lofigen::eval::evaluate;
use lofigen::generate::{
    AudioStream, GenerateOptions, Precision, Sampling, SeedAudio, generate, genre_index,
    seed_samples,
};
use lofigen::plot::{Series, loss_curves, spectrograms};
use lofigen::train::{TrainOptions, load_trained, read_metrics, train};
use lofigen_audio::measures::spectrogram;
use lofigen_audio::{
    Clip, MAX_WAV16_FRAMES, WavStream, load_mono_8k, write_wav16, write_wav16_from,
};

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
    Prepare(PrepareArgs),
    /// Train a model and write a run directory (config, checkpoints, metrics, loss plot).
    Train(TrainArgs),
    /// Generate audio from a trained run into a 16-bit 8 kHz WAV.
    Generate(GenerateArgs),
    /// Lofi out of the box: the model that ships with lofigen (or a run of yours) into a WAV
    /// file, or as an endless WAV stream on stdout (`lofigen lofi --out - | aplay`).
    Lofi(LofiArgs),
    /// Overlay the loss curves of one or more runs in one PNG.
    Plot(PlotArgs),
    /// Measure generated audio against real reference audio (table, JSON, spectrogram PNGs).
    #[command(long_about = EVAL_ABOUT)]
    Eval(EvalArgs),
    /// The paper's experiments, rerun: one model per genre, or models of several depths.
    #[command(subcommand)]
    Experiment(ExperimentCommand),
    /// Measure training steps and generation speed (prints ratios).
    Bench(bench::BenchArgs),
    /// The whole pipeline on the bundled clip: prepare, train briefly, generate, plot.
    Demo(DemoArgs),
}

#[derive(Args, Debug)]
struct PrepareArgs {
    /// Audio files or folders (walked recursively; a file's label is its folder's name).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Corpus folder to write.
    #[arg(long)]
    out: PathBuf,
    /// Fail if any file could not be decoded (by default bad files are listed and skipped).
    #[arg(long)]
    strict: bool,
}

/// Where tensors compute.
#[derive(Args, Debug, Clone)]
pub(crate) struct DeviceArg {
    /// cpu, cuda, cuda:N, wgpu, or auto: a GPU when one is compiled in and present, else the
    /// CPU. GPUs need a build with `--features cuda` or `--features wgpu`.
    #[arg(long, default_value = "auto")]
    pub(crate) device: String,
}

impl DeviceArg {
    /// The device, checked to exist.
    pub(crate) fn resolve(&self) -> Result<lofigen::device::ComputeDevice> {
        Ok(lofigen::device::resolve(self.device.parse()?)?)
    }
}

#[derive(Args, Debug)]
struct TrainArgs {
    /// Config file, or a preset name: seed6, seed6-code, seed4, wavenet-small, wavenet.
    #[arg(long, default_value = "seed6")]
    config: String,
    /// Corpus folder(s) from `prepare`, or audio files and folders directly.
    #[arg(long, required = true, num_args = 1..)]
    data: Vec<PathBuf>,
    /// Run directory to write.
    #[arg(long)]
    run: PathBuf,
    /// Continue the run from its latest checkpoint.
    #[arg(long)]
    resume: bool,
    /// Override `train.epochs`.
    #[arg(long)]
    epochs: Option<usize>,
    /// Override `train.batch_size`.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Override `train.learning_rate`.
    #[arg(long, allow_negative_numbers = true)]
    lr: Option<f64>,
    /// Override `train.seed`.
    #[arg(long)]
    seed: Option<u64>,
    /// Override `train.max_windows_per_epoch`.
    #[arg(long)]
    max_windows: Option<usize>,
    /// Stop (after saving) once this many minutes have passed.
    #[arg(long)]
    max_minutes: Option<f64>,
    /// Override `train.precision`: f32, or f16 / bf16 mixed precision (GPU backends only).
    #[arg(long)]
    precision: Option<String>,
    #[command(flatten)]
    device: DeviceArg,
    /// Data-parallel training on several devices, comma-separated (cuda:0,cuda:1). Each takes
    /// `batch_size` windows per step, so a step sees batch_size x devices windows; the gradients
    /// are averaged and the first device takes the optimizer step.
    #[arg(long, conflicts_with = "device")]
    devices: Option<String>,
}

#[derive(Args, Debug)]
struct GenerateArgs {
    /// Run directory of a trained model.
    #[arg(long)]
    run: PathBuf,
    /// Seconds of audio to generate.
    // Negative numbers parse, so that `--seconds -1` gets lofigen's message, not clap's.
    #[arg(long, default_value_t = 10.0, allow_negative_numbers = true)]
    seconds: f64,
    /// Output WAV (16-bit, 8 kHz, mono).
    #[arg(long)]
    out: PathBuf,
    /// Audio to continue (default: the first window of the test split, as the paper did).
    #[arg(long)]
    seed_audio: Option<PathBuf>,
    /// Store the engine's weights as f16 (about twice as fast, outputs within 1e-2 of f32).
    #[arg(long)]
    f16: bool,
    /// Where the checkpoint is loaded. The samples themselves come from the cached CPU engine
    /// on every device (see docs/ARCHITECTURE.md, "GPUs").
    #[command(flatten)]
    device: DeviceArg,
    #[command(flatten)]
    sampling: SamplingArgs,
}

/// How a WaveNet's next sample is drawn (regressing models ignore these).
#[derive(Args, Debug, Clone)]
struct SamplingArgs {
    /// Genre of a genre-conditioned model (default: lofi if it knows it, else its first).
    #[arg(long)]
    genre: Option<String>,
    /// Softmax temperature: below 1 is safer and duller, above 1 noisier.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    temperature: f32,
    /// Draw only from the k most likely classes.
    #[arg(long)]
    top_k: Option<usize>,
    /// Draw only from the most likely classes that together hold this probability.
    #[arg(long, allow_negative_numbers = true)]
    top_p: Option<f32>,
    /// Always take the most likely class. Deterministic but prone to collapse into silence or
    /// a steady tone.
    #[arg(long)]
    greedy: bool,
    /// Seed of the sampler: the same seed gives the same audio.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

impl Default for SamplingArgs {
    fn default() -> Self {
        Self {
            genre: None,
            temperature: 1.0,
            top_k: None,
            top_p: None,
            greedy: false,
            seed: 42,
        }
    }
}

impl SamplingArgs {
    fn sampling(&self) -> Result<Sampling> {
        let s = Sampling {
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            greedy: self.greedy,
            seed: self.seed,
        };
        s.validate().map_err(anyhow::Error::msg)?;
        Ok(s)
    }
}

#[derive(Args, Debug)]
struct PlotArgs {
    /// Run directories.
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// PNG to write.
    #[arg(long, default_value = "loss.png")]
    out: PathBuf,
}

const EVAL_ABOUT: &str = "\
Measure generated audio against real reference audio.

Every file is decoded to 8 kHz mono and loudness-normalised, so level does not decide the spectral
measures. Per generated file (and for the reference set, for scale):
  spectrum dB   RMS difference (dB) between long-term average spectra; lower is closer
  MFCC FD       Frechet distance between Gaussians fitted to per-frame MFCCs; lower is closer
  flatness      spectral flatness: white noise ~0.94, a pure tone ~0
  tonal         share of energy in the strongest narrow band: a stuck tone ~1
  dyn dB        spread (standard deviation) of frame levels, dB
  silence       fraction of frames below -60 dBFS
  clipped       fraction of samples at full scale
  NLL bits      with --run of a WaveNet: the reference's negative log-likelihood under it,
                bits per sample (8 = a uniform guess over 256 classes)
The reference row's distances compare each reference file with the others.

Writes <out>/eval.json and, per generated file, <out>/spectrogram-<N>-<name>.png (generated and
first reference side by side).";

#[derive(Args, Debug)]
struct EvalArgs {
    /// Generated audio files (or folders of them) to measure.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Real audio to compare with: folders (walked recursively) or files. It takes every value
    /// up to the next option, so give it after the generated files, or repeat it.
    #[arg(long, required = true, num_args = 1..)]
    reference: Vec<PathBuf>,
    /// Folder for eval.json and the spectrogram PNGs.
    #[arg(long, default_value = "eval")]
    out: PathBuf,
    /// Where to write the JSON report (default: <out>/eval.json).
    #[arg(long)]
    json: Option<PathBuf>,
    /// The run that generated the files: for a WaveNet, the reference's negative
    /// log-likelihood under it (bits per sample) fills the NLL column.
    #[arg(long)]
    run: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum ExperimentCommand {
    /// Experiment 1: a fresh model per genre subfolder of --data, same config, seed and budget;
    /// writes report.md, report.json, overlaid loss curves, a clip per genre and its measures.
    Genres(GenresArgs),
    /// Experiment 2: seed4 against seed6 (or any presets and config files) on the same audio;
    /// writes the same report.
    Depth(DepthArgs),
}

/// Options both experiments share: where the report goes and how much each model may use.
#[derive(Args, Debug)]
struct ExperimentShared {
    /// Report folder (report.md, report.json, loss-*.png, clips/, spectrograms/).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Folder for the run directories (checkpoints); default <out>/runs.
    #[arg(long)]
    runs: Option<PathBuf>,
    /// Keep the recorded levels (as the paper did) instead of scaling every file to -20 dBFS
    /// RMS; level alone then moves the MSE.
    #[arg(long)]
    raw_levels: bool,
    /// Override `train.epochs` of every model.
    #[arg(long)]
    epochs: Option<usize>,
    /// Wall-clock limit of each model's training, minutes.
    #[arg(long)]
    minutes_per_model: Option<f64>,
    /// Audio per model: N minutes spread evenly over its files (an equal share from the middle
    /// of each).
    #[arg(long)]
    max_audio_minutes: Option<f64>,
    /// Override `train.max_windows_per_epoch` (training windows per epoch).
    #[arg(long)]
    max_windows: Option<usize>,
    /// Override `train.max_valid_windows` (validation and test windows scored).
    #[arg(long)]
    max_valid_windows: Option<usize>,
    /// Override `train.seed` of every model (weights, shuffle, sampler).
    #[arg(long)]
    seed: Option<u64>,
    /// Override `train.batch_size` of every model.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Override `train.learning_rate` of every model.
    #[arg(long, allow_negative_numbers = true)]
    lr: Option<f64>,
    /// Seconds of audio generated per model.
    #[arg(long, default_value_t = 10.0, allow_negative_numbers = true)]
    seconds: f64,
    #[command(flatten)]
    device: DeviceArg,
}

#[derive(Args, Debug)]
struct GenresArgs {
    /// A folder with one subfolder of audio per genre (lofi/, piano/, ...).
    #[arg(long)]
    data: PathBuf,
    /// Only these genre subfolders, in this order, comma-separated (default: all of them).
    #[arg(long, value_delimiter = ',')]
    genres: Vec<String>,
    /// Config file or preset name, the same for every genre.
    #[arg(long, default_value = "seed4")]
    config: String,
    #[command(flatten)]
    shared: ExperimentShared,
}

#[derive(Args, Debug)]
struct DepthArgs {
    /// Audio files or folders, the same for every model (default: the bundled 30 s clip).
    #[arg(long, num_args = 1..)]
    data: Vec<PathBuf>,
    /// Presets or config files to compare, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "seed4,seed6")]
    presets: Vec<String>,
    #[command(flatten)]
    shared: ExperimentShared,
}

#[derive(Args, Debug)]
struct LofiArgs {
    /// Output WAV (16-bit, 8 kHz, mono), or `-` for a WAV stream on stdout.
    #[arg(long, default_value = "lofi.wav")]
    out: PathBuf,
    /// Seconds to generate [default: 60 into a file; no end on stdout].
    #[arg(long, allow_negative_numbers = true)]
    seconds: Option<f64>,
    /// A trained run to play instead of the bundled model.
    #[arg(long)]
    run: Option<PathBuf>,
    /// Audio to continue (default: the bundled half second of "Island Dreams" by K-Pone, or
    /// the run's test split with --run).
    #[arg(long)]
    seed_audio: Option<PathBuf>,
    /// Store the engine's weights as f16 (faster, outputs within 1e-2 of f32).
    #[arg(long)]
    f16: bool,
    #[command(flatten)]
    sampling: SamplingArgs,
}

#[derive(Args, Debug)]
struct DemoArgs {
    /// Folder for the corpus, run, audio and plot.
    #[arg(long, default_value = "out/demo")]
    out: PathBuf,
    /// Audio to learn from (default: the bundled 30 s clip).
    #[arg(long)]
    audio: Option<PathBuf>,
    /// Minutes of training.
    #[arg(long, default_value_t = 4.0)]
    minutes: f64,
    /// Seconds of audio to generate.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
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
        Command::Prepare(a) => cmd_prepare(a),
        Command::Train(a) => cmd_train(a),
        Command::Generate(a) => cmd_generate(a),
        Command::Lofi(a) => cmd_lofi(a),
        Command::Plot(a) => cmd_plot(a),
        Command::Eval(a) => cmd_eval(a),
        Command::Experiment(c) => cmd_experiment(c),
        Command::Bench(a) => bench::run(a),
        Command::Demo(a) => cmd_demo(a),
    }
}

fn cmd_prepare(a: PrepareArgs) -> Result<()> {
    let mut bar = progress::PrepareBar::new();
    let report = prepare(&a.inputs, &a.out, &mut bar).context("preparing the corpus failed")?;
    bar.finish();
    let m = &report.manifest;
    for e in m
        .entries
        .iter()
        .filter(|e| e.truncated || e.skipped_packets > 0)
    {
        eprintln!(
            "warning: {} is damaged: decoded {:.1} s{}{}",
            e.source.display(),
            e.duration_secs,
            if e.truncated {
                ", the rest is cut off"
            } else {
                ""
            },
            if e.skipped_packets > 0 {
                format!(", {} bad packet(s) skipped", e.skipped_packets)
            } else {
                String::new()
            }
        );
    }
    if !report.failures.is_empty() {
        eprintln!("{} file(s) could not be prepared:", report.failures.len());
        for f in &report.failures {
            eprintln!("  {}", f.error);
        }
        if a.strict {
            // A strict corpus is all or nothing: take back what this run wrote, so that no
            // partial corpus is left looking complete.
            for e in &m.entries {
                let _ = std::fs::remove_file(a.out.join(&e.file));
            }
            let _ = std::fs::remove_file(a.out.join(lofigen::corpus::MANIFEST));
            bail!(
                "{} bad file(s) (--strict); nothing was kept in {}",
                report.failures.len(),
                a.out.display()
            );
        }
    }
    if m.entries.is_empty() {
        bail!("no audio could be prepared from the given inputs");
    }
    let minutes: f64 = m.entries.iter().map(|e| e.duration_secs).sum::<f64>() / 60.0;
    println!(
        "prepared {} file(s), {minutes:.1} min of 8 kHz mono audio, into {}",
        m.entries.len(),
        a.out.display()
    );
    Ok(())
}

fn resolve_config(a: &TrainArgs) -> Result<RunConfig> {
    let mut config =
        if a.resume && !Path::new(&a.config).exists() && a.run.join("config.toml").is_file() {
            // Resuming without an explicit config file: the run's own config.
            lofigen::train::load_run_config(&a.run)?
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

fn cmd_train(a: TrainArgs) -> Result<()> {
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

fn cmd_generate(a: GenerateArgs) -> Result<()> {
    if !(a.seconds > 0.0 && a.seconds.is_finite()) {
        bail!("--seconds must be a positive number, not {}", a.seconds);
    }
    let sampling = a.sampling.sampling()?;
    check_out_dir(&a.out)?;
    let device = a.device.resolve()?;
    if !lofigen::device::is_flex(&device.device) {
        eprintln!(
            "checkpoint loaded on {}; the samples come from the cached CPU engine",
            device.name
        );
    }
    let (config, model) = load_trained(&a.run, &device.device)?;
    let genre = genre_index(&config.model, a.sampling.genre.as_deref())?;
    let seed = match &a.seed_audio {
        Some(p) => SeedAudio::Clip(load_mono_8k(p)?.0),
        None => test_split_seed(&a.run)?,
    };
    let seed = seed_samples(&config, &seed)?;
    let start = Instant::now();
    let opts = GenerateOptions {
        seconds: a.seconds,
        precision: engine_precision(a.f16),
        sampling,
        genre,
    };
    let clip = generate(&model, &seed, &opts);
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

fn cmd_lofi(a: LofiArgs) -> Result<()> {
    let to_stdout = a.out.as_os_str() == "-";
    let seconds = match a.seconds {
        Some(s) if !(s > 0.0 && s.is_finite()) => {
            bail!("--seconds must be a positive number, not {s}")
        }
        Some(s) => Some(s),
        None if to_stdout => None,
        None => Some(60.0),
    };
    let sampling = a.sampling.sampling()?;
    if to_stdout && std::io::stdout().is_terminal() {
        bail!(
            "--out - writes a WAV stream, and stdout is a terminal: pipe it to a player \
             (`lofigen lofi --out - | aplay`) or give --out a file"
        );
    }
    if !to_stdout {
        check_out_dir(&a.out)?;
        let most = MAX_WAV16_FRAMES as f64 / f64::from(lofigen::config::SAMPLE_RATE_HZ);
        if seconds.is_some_and(|s| s > most) {
            bail!(
                "--seconds: one WAV file holds at most {most:.0} s ({:.1} hours); stream longer \
                 with --out -",
                most / 3600.0
            );
        }
    }
    let device = lofigen::cpu_device();
    let (config, model, name) = match &a.run {
        Some(run) => {
            let (c, m) = load_trained(run, &device)?;
            (c, m, run.display().to_string())
        }
        None => {
            let (c, m) = lofigen::bundled::lofi_model(&device)?;
            (c, m, lofigen::bundled::NAME.to_string())
        }
    };
    let seed = match (&a.seed_audio, &a.run) {
        (Some(p), _) => SeedAudio::Clip(load_mono_8k(p)?.0),
        (None, Some(run)) => test_split_seed(run)?,
        (None, None) => SeedAudio::Clip(lofigen::bundled::lofi_seed()?),
    };
    let seed = seed_samples(&config, &seed)?;
    let opts = GenerateOptions {
        seconds: 0.0,
        precision: engine_precision(a.f16),
        sampling,
        genre: genre_index(&config.model, a.sampling.genre.as_deref())?,
    };
    let mut stream = AudioStream::new(&model, &seed, &opts);
    let rate = lofigen::config::SAMPLE_RATE_HZ;
    let total = seconds.map(|s| (s * f64::from(rate)).round() as usize);
    // A tenth of a second per chunk: a player hears the stream start at once.
    let chunk = rate as usize / 10;
    eprintln!(
        "playing {name} {} (sampler seed {})",
        match seconds {
            Some(s) => format!("for {s} s"),
            None => "with no end: Ctrl-C stops".into(),
        },
        a.sampling.seed
    );
    if to_stdout {
        let frames = total.map(|n| u32::try_from(n).unwrap_or(u32::MAX));
        let mut out = WavStream::new(std::io::stdout().lock(), rate, frames)
            .context("cannot write to stdout")?;
        let mut buf = vec![0.0; chunk];
        let mut left = total;
        while left != Some(0) {
            let n = left.map_or(chunk, |l| l.min(chunk));
            stream.fill(&mut buf[..n]);
            match out.write(&buf[..n]) {
                Ok(()) => {}
                // The player went away: that is how an endless stream ends.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                Err(e) => return Err(e).context("cannot write to stdout"),
            }
            left = left.map(|l| l - n);
        }
        return Ok(());
    }
    let total = total.expect("a file has a length");
    let bar = progress::SamplesBar::new(total);
    let start = Instant::now();
    write_wav16_from(&a.out, rate, total, |part| {
        stream.fill(part);
        bar.advance(part.len());
    })?;
    bar.finish();
    let seconds = total as f64 / f64::from(rate);
    println!(
        "wrote {seconds:.1} s of lofi to {} ({:.1}x real time)",
        a.out.display(),
        seconds / start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The output's folder exists: found out before generating, not after minutes of it.
fn check_out_dir(out: &Path) -> Result<()> {
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        bail!(
            "cannot write {}: {} is not an existing folder",
            out.display(),
            dir.display()
        );
    }
    Ok(())
}

/// The default seed of a run: its training audio, from which `seed_samples` takes the first
/// window of the test split (what the paper did).
fn test_split_seed(run: &Path) -> Result<SeedAudio> {
    let path = run.join(lofigen::train::files::RUN_INFO);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let info: lofigen::train::RunInfo = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid run summary", path.display()))?;
    let tracks = load_tracks(&info.sources)
        .context("loading the run's training audio for the seed failed")?;
    Ok(SeedAudio::TestSplit(tracks))
}

/// The engine's weight precision for `--f16`.
fn engine_precision(f16: bool) -> Precision {
    if f16 { Precision::F16 } else { Precision::F32 }
}

fn cmd_plot(a: PlotArgs) -> Result<()> {
    let mut series = Vec::new();
    let mut families = Vec::new();
    for (i, run) in a.runs.iter().enumerate() {
        let rows = read_metrics(run)?;
        families.push(lofigen::train::load_run_config(run)?.model.family());
        let pick = |split: &str| -> Vec<(f64, f64)> {
            rows.iter()
                .filter(|r| r.1 == split)
                .map(|r| (r.0 as f64, r.2))
                .collect()
        };
        let name = run.file_name().map_or_else(
            || run.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        series.extend(Series::pair(&name, pick("train"), pick("valid"), i));
    }
    // Say which loss, unless the runs mix the two (MSE and cross-entropy share no unit).
    families.dedup();
    let loss = match families[..] {
        ["seed"] => "MSE",
        ["wavenet"] => "cross-entropy, nats per sample",
        _ => "each run's own loss",
    };
    loss_curves(
        &a.out,
        &format!("Loss per epoch ({loss}; dashed: validation)"),
        &series,
    )?;
    println!("wrote {}", a.out.display());
    Ok(())
}

/// Decode every audio file under `inputs` (see `find_audio_files`), named as found; `what` says
/// which side failed in the error.
fn load_named(inputs: &[PathBuf], what: &str) -> Result<Vec<(String, Clip)>> {
    let files = find_audio_files(inputs)?;
    if files.is_empty() {
        let list: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
        bail!(
            "no audio files (mp3, wav, flac, ogg) found in {}",
            list.join(", ")
        );
    }
    files
        .into_iter()
        .map(|path| {
            let (clip, _) = load_mono_8k(&path)
                .with_context(|| format!("cannot read {what} audio {}", path.display()))?;
            Ok((path.display().to_string(), clip))
        })
        .collect()
}

fn cmd_eval(a: EvalArgs) -> Result<()> {
    let generated = load_named(&a.files, "generated")?;
    let reference = load_named(&a.reference, "reference")?;
    let mut report = evaluate(&generated, &reference).context("evaluation failed")?;
    if let Some(run) = &a.run {
        let device = lofigen::cpu_device();
        let (config, model) = load_trained(run, &device)?;
        // The model is scored on the audio as it was trained: normalised if its run was.
        let clips: Vec<Clip> = reference
            .iter()
            .map(|(_, c)| {
                if config.data.normalize_loudness {
                    lofigen::data::normalize_loudness(c)
                } else {
                    c.clone()
                }
            })
            .collect();
        report.set_model_nll(lofigen::eval::nll_bits_per_sample(
            &model,
            &clips,
            config.data.window_samples,
            genre_index(&config.model, None)?,
            config.train.max_valid_windows,
            &device,
        ));
    }

    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create folder {}", a.out.display()))?;
    let json_path = a.json.clone().unwrap_or_else(|| a.out.join("eval.json"));
    let json = serde_json::to_string_pretty(&report)?;
    std::fs::write(&json_path, json + "\n")
        .with_context(|| format!("cannot write {}", json_path.display()))?;

    // One PNG per generated file: it and the first reference file, side by side.
    let (ref_name, ref_clip) = &reference[0];
    let ref_sg = spectrogram(ref_clip, SPECTROGRAM_COLUMNS);
    let mut pngs = Vec::new();
    for (i, (name, clip)) in generated.iter().enumerate() {
        let stem = Path::new(name)
            .file_stem()
            .map_or_else(|| "audio".into(), |s| s.to_string_lossy().into_owned());
        let png = a.out.join(format!("spectrogram-{}-{stem}.png", i + 1));
        let sg = spectrogram(clip, SPECTROGRAM_COLUMNS);
        spectrograms(
            &png,
            "Spectrograms (loudness-normalised, shared dB scale)",
            &[
                (&format!("generated: {}", short_name(name)), &sg),
                (&format!("reference: {}", short_name(ref_name)), &ref_sg),
            ],
        )?;
        pngs.push(png);
    }

    print!("{}", eval_table(&report));
    println!("wrote {}", json_path.display());
    for p in &pngs {
        println!("wrote {}", p.display());
    }
    Ok(())
}

/// Time columns per spectrogram panel (about one per pixel).
const SPECTROGRAM_COLUMNS: usize = 480;

fn short_name(name: &str) -> String {
    Path::new(name)
        .file_name()
        .map_or_else(|| name.to_string(), |n| n.to_string_lossy().into_owned())
}

/// The report as an aligned table: one line per generated file, then the reference set.
fn eval_table(r: &lofigen::eval::EvalReport) -> String {
    let opt = |v: Option<f64>, prec: usize| v.map_or("-".to_string(), |x| format!("{x:.prec$}"));
    let header = [
        "file",
        "seconds",
        "spectrum dB",
        "MFCC FD",
        "flatness",
        "tonal",
        "dyn dB",
        "silence",
        "clipped",
        "NLL bits",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for row in r.generated.iter().chain(std::iter::once(&r.reference)) {
        let name = if std::ptr::eq(row, &r.reference) {
            format!("reference ({} file(s))", r.reference_files.len())
        } else {
            short_name(&row.name)
        };
        rows.push(vec![
            name,
            format!("{:.1}", row.seconds),
            opt(row.spectrum_distance_db, 2),
            opt(row.mfcc_frechet, 1),
            opt(row.flatness, 3),
            opt(row.tonal_peak, 3),
            opt(row.dynamics_db, 2),
            format!("{:.3}", row.silence_fraction),
            format!("{:.4}", row.clipping_fraction),
            opt(row.nll_bits_per_sample, 3),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, &w))| {
                // Names left-aligned, numbers right-aligned so that their points line up.
                if c == 0 {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
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

fn cmd_experiment(c: ExperimentCommand) -> Result<()> {
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

fn default_demo_audio() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/demo_island_dreams_30s.flac")
}

fn cmd_demo(a: DemoArgs) -> Result<()> {
    let audio = a.audio.clone().unwrap_or_else(default_demo_audio);
    let corpus = a.out.join("corpus");
    let run = a.out.join("run");
    if run.exists() {
        std::fs::remove_dir_all(&run).with_context(|| format!("cannot clear {}", run.display()))?;
    }
    println!("1/4 prepare {}", audio.display());
    cmd_prepare(PrepareArgs {
        inputs: vec![audio],
        out: corpus.clone(),
        strict: true,
    })?;
    println!("2/4 train seed4 for {} min", a.minutes);
    cmd_train(TrainArgs {
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
    })?;
    println!("3/4 generate {} s", a.seconds);
    let wav = a.out.join("generated.wav");
    cmd_generate(GenerateArgs {
        run: run.clone(),
        seconds: a.seconds,
        out: wav.clone(),
        seed_audio: None,
        f16: false,
        device: DeviceArg {
            device: "cpu".into(),
        },
        sampling: SamplingArgs::default(),
    })?;
    println!("4/4 plot");
    let plot = a.out.join("loss.png");
    cmd_plot(PlotArgs {
        runs: vec![run.clone()],
        out: plot.clone(),
    })?;
    println!(
        "\ndone. outputs:\n  generated audio: {}\n  loss curves:     {}\n  run directory:   {}",
        wav.display(),
        plot.display(),
        run.display()
    );
    Ok(())
}
