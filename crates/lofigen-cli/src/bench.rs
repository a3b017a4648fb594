//! `lofigen bench`: speed of the training step, of generation and of the finished lofi render,
//! with ratios printed in one run.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use clap::{Args, Subcommand};
use lofigen::RunConfig;
use lofigen::data::Windows;
use lofigen::generate::oracle::{full_logits, naive_generate};
use lofigen::generate::{
    ControlFeed, ControlSource, Engine, GenerateOptions, KernelPath, PaperEngine, Precision,
    Sampler, Sampling, StreamBatch, WaveNetEngine, engine_generate, wavenet_generate,
};
use lofigen::model::{ConvAlgorithm, Model, ModelConfig, WaveNet};
use lofigen::runtime::{Controls, DEFAULT_GUIDANCE, FxPreset, Generator, Groove, StreamOptions};
use lofigen_audio::load_mono_8k;

use crate::shared::{PlayPrecision, describe_output, parse_fx, parse_rate};

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: BenchWhat,
    /// Real audio the benchmark feeds (default: the bundled clip).
    #[arg(long, global = true)]
    audio: Option<PathBuf>,
    /// Where the burn model computes: cpu, cuda, cuda:N, wgpu or auto (see `train --help`).
    /// The cached generation engines always run on the CPU.
    #[arg(long, global = true, default_value = "auto")]
    device: String,
}

#[derive(Subcommand, Debug)]
enum BenchWhat {
    /// Milliseconds per training step (forward + backward + Adam) per preset and batch size.
    Train {
        /// Presets or config files, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "seed6,seed6-code,seed4")]
        presets: Vec<String>,
        /// Batch sizes, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1,8")]
        batches: Vec<usize>,
        /// Convolution algorithms to time, comma-separated (`direct`, `fft`, `auto`).
        #[arg(long, value_delimiter = ',', default_value = "direct,fft")]
        algorithms: Vec<String>,
        /// Timed steps per measurement (after one warm-up step); the fastest is reported.
        #[arg(long, default_value_t = 2)]
        steps: usize,
    },
    /// Samples per second of the naive generator and the cached engine.
    Generate {
        /// Preset or config file.
        #[arg(long, default_value = "seed6-code")]
        preset: String,
        /// Stream counts for the engine, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1,16")]
        streams: Vec<usize>,
        /// Samples the naive generator makes (it is slow).
        #[arg(long, default_value_t = 4)]
        oracle_samples: usize,
        /// Wall-clock seconds per engine measurement (after a warm-up).
        #[arg(long, default_value_t = 1.0)]
        seconds: f64,
        /// Kernel paths to time, comma-separated (`avx512`, `avx2`, `portable`; default: every
        /// path this CPU runs).
        #[arg(long, value_delimiter = ',')]
        kernels: Vec<String>,
    },
    /// Real-time factor of `lofigen lofi`'s whole chain (the bundled model, one stream, through
    /// the effects and, for stereo, the radio's MP3 encoder) and each stage's share of the
    /// time, measured in one run.
    Lofi {
        /// Seconds of audio to render.
        #[arg(long, default_value_t = 20.0, allow_negative_numbers = true)]
        seconds: f64,
        /// Effects chain: lofi, clean, tape, vinyl or none.
        #[arg(long, default_value = "lofi", value_parser = parse_fx)]
        fx: FxPreset,
        /// Output sample rate, Hz: 44100, 48000 or 8000.
        #[arg(long, default_value = "44100", value_parser = parse_rate)]
        rate: u32,
        #[command(flatten)]
        precision: PlayPrecision,
    },
}

pub fn run(a: BenchArgs) -> Result<()> {
    // The lofi bench plays the bundled model: no audio to load, no burn device to pick.
    let what = match a.what {
        BenchWhat::Lofi {
            seconds,
            fx,
            rate,
            precision,
        } => return bench_lofi(seconds, fx, rate, precision.get()),
        other => other,
    };
    let audio = a.audio.unwrap_or_else(crate::shared::default_demo_audio);
    let clip = load_mono_8k(&audio)?.0;
    let device = crate::shared::DeviceArg { device: a.device }.resolve()?;
    println!("# device: {}", device.name);
    let device = device.device;
    match what {
        BenchWhat::Train {
            presets,
            batches,
            algorithms,
            steps,
        } => bench_train(
            &clip.samples,
            &presets,
            &batches,
            &algorithms,
            steps,
            &device,
        ),
        BenchWhat::Generate {
            preset,
            streams,
            oracle_samples,
            seconds,
            kernels,
        } => {
            if !(seconds > 0.0 && seconds.is_finite()) {
                bail!("--seconds must be a positive number of seconds, not {seconds}");
            }
            if streams.is_empty() || streams.contains(&0) {
                bail!("--streams: every stream count must be at least 1");
            }
            let kernels = kernel_paths(&kernels)?;
            let run = GenRun {
                streams,
                oracle_samples: oracle_samples.max(1),
                seconds,
                kernels,
            };
            bench_generate(&clip.samples, &preset, &run, &device)
        }
        // Returned above, before any audio was loaded.
        BenchWhat::Lofi { .. } => Ok(()),
    }
}

/// Renders `seconds` of the bundled model through the chain `fx` at `rate`, as `lofigen lofi`
/// does (one stream, 0.1 s reads), then encodes stereo as the radio does, timing generation,
/// each effect and the encoder in the same run.
fn bench_lofi(seconds: f64, fx: FxPreset, rate: u32, precision: Precision) -> Result<()> {
    if !(seconds > 0.0 && seconds.is_finite()) {
        bail!("--seconds must be a positive number of seconds, not {seconds}");
    }
    let generator = Generator::bundled()?;
    let opts = StreamOptions {
        fx: fx.settings(),
        rate,
        precision,
        ..StreamOptions::default()
    };
    let mut render = generator.render(&opts)?;
    let channels = usize::from(render.channels());
    let frames = render.frames_for(seconds)?;
    println!(
        "# lofi render: {} s of {} as {}, weights {}; {}",
        seconds,
        generator.name(),
        describe_output(render.sample_rate(), render.channels(), fx),
        precision,
        machine()
    );
    // Warm-up (buffers sized, caches filled), outside the timing.
    let block = (render.sample_rate() as usize / 10).max(1);
    let mut buf = vec![0.0f32; block * channels];
    render.fill(&mut buf);
    // Finished stereo is also encoded as the radio sends it (MP3, 128 kbit/s), so that the
    // whole chain is timed; the raw mono stream is not.
    let mut mp3 = (channels == 2)
        .then(|| lofigen_radio::Mp3Encoder::new(render.sample_rate(), 128))
        .transpose()?;
    let (mut pcm, mut bytes) = (vec![0i16; buf.len()], Vec::with_capacity(1 << 16));
    let mut encode_time = 0.0;
    render.set_profiling(true);
    let start = Instant::now();
    let mut left = frames;
    while left > 0 {
        let n = left.min(block);
        render.fill(&mut buf[..n * channels]);
        if let Some(enc) = &mut mp3 {
            let t = Instant::now();
            lofigen_radio::to_pcm16(&buf[..n * channels], &mut pcm);
            enc.encode(&pcm[..n * channels], &mut bytes)?;
            bytes.clear();
            encode_time += t.elapsed().as_secs_f64();
        }
        left -= n;
    }
    let wall = start.elapsed().as_secs_f64();
    let audio = frames as f64 / f64::from(render.sample_rate());
    println!(
        "whole chain: {audio:.1} s of audio in {wall:.2} s wall = {:.2}x real time",
        audio / wall
    );
    let stages = render.stage_times();
    let staged: f64 = stages.iter().map(|(_, t)| t.as_secs_f64()).sum();
    println!("| stage | seconds | share of wall time | x real time alone |");
    println!("|---|---:|---:|---:|");
    let row = |name: &str, t: f64| {
        println!(
            "| {name} | {t:.3} | {:.1} % | {:.1} |",
            100.0 * t / wall,
            audio / t.max(1e-9)
        )
    };
    for (name, t) in &stages {
        row(name, t.as_secs_f64());
    }
    let effects = staged - stages[0].1.as_secs_f64();
    row("effects (all but generate)", effects);
    if mp3.is_some() {
        row("encode (MP3 128 kbit/s, as the radio)", encode_time);
    }
    row(
        "untimed (copies, clock reads)",
        (wall - staged - encode_time).max(0.0),
    );
    println!("# load average at the end: {}", load_average());
    Ok(())
}

fn machine() -> String {
    format!(
        "{} threads available (rayon); load average {}",
        rayon::current_num_threads(),
        load_average()
    )
}

/// The 1-, 5- and 15-minute load averages (Linux; "?" elsewhere): other work on the machine
/// slows every figure, so each table says how busy it was.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|t| t.split(' ').take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "?".into())
}

/// The kernel paths named on the command line (all this CPU runs when none are named).
fn kernel_paths(names: &[String]) -> Result<Vec<KernelPath>> {
    if names.is_empty() {
        return Ok(KernelPath::available());
    }
    names
        .iter()
        .map(|n| {
            let Some(p) = KernelPath::from_name(n) else {
                bail!("--kernels: unknown kernel {n:?} (avx512, avx2 or portable)");
            };
            if !p.is_available() {
                bail!("--kernels: this CPU cannot run the {n} kernel");
            }
            Ok(p)
        })
        .collect()
}

/// What `bench generate` measures.
struct GenRun {
    streams: Vec<usize>,
    oracle_samples: usize,
    seconds: f64,
    kernels: Vec<KernelPath>,
}

/// Run `step` (one step of every stream) until `seconds` of wall time have passed: steps per
/// wall second, and per CPU second of all the process's threads (on a shared machine the
/// wall time includes waiting for a core; the CPU time does not, but includes spinning).
fn time_steps(seconds: f64, mut step: impl FnMut()) -> (f64, f64) {
    let (start, cpu) = (Instant::now(), lofigen::cpu::process_cpu_seconds());
    let mut steps = 0usize;
    loop {
        for _ in 0..32 {
            step();
        }
        steps += 32;
        let t = start.elapsed().as_secs_f64();
        if t >= seconds {
            let c = (lofigen::cpu::process_cpu_seconds() - cpu).max(1e-9);
            return (steps as f64 / t, steps as f64 / c);
        }
    }
}

fn bench_train(
    samples: &[f32],
    presets: &[String],
    batches: &[usize],
    algorithms: &[String],
    steps: usize,
    device: &burn::prelude::Device,
) -> Result<()> {
    if steps == 0 {
        bail!("--steps must be at least 1");
    }
    let algorithms = algorithms
        .iter()
        .map(|a| {
            Ok(match a.as_str() {
                "direct" => ConvAlgorithm::Direct,
                "fft" => ConvAlgorithm::Fft,
                "auto" => ConvAlgorithm::Auto,
                other => bail!("unknown algorithm {other:?} (direct, fft or auto)"),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    println!(
        "# training step = forward + backward + Adam, batch x 8192 samples, fastest of --steps; {}",
        machine()
    );
    println!(
        "| preset | batch | algorithm | ms/step | CPU ms/step | ms/window | direct-conv GFLOP/s equiv. | x first algorithm |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|---:|");
    for name in presets {
        let config = RunConfig::load_or_preset(name)?;
        let w = config.data.window_samples;
        let clip = lofigen_audio::Clip::new(samples.to_vec(), lofigen_audio::TARGET_RATE);
        let windows = Windows::new(&[clip], w, w);
        if windows.is_empty() {
            bail!("the benchmark audio is shorter than one {w}-sample window");
        }
        // Direct convolution cost: forward MACs; backward is about twice that.
        let fwd_macs = config.model.macs_per_sample() * w;
        for &b in batches {
            let mut first_ms = None;
            for &algorithm in &algorithms {
                let mut model_config = config.model.clone();
                match &mut model_config {
                    ModelConfig::Paper(s) => s.conv_algorithm = algorithm,
                    // WaveNet's kernel-2 and 1x1 convolutions always run direct.
                    ModelConfig::WaveNet(_) if first_ms.is_some() => continue,
                    ModelConfig::WaveNet(_) => {}
                }
                let ad = device.clone().autodiff();
                let mut model: Model = model_config.init_seeded(config.train.seed, &ad);
                let mut optim: ModuleOptimizer = AdamConfig::new().init();
                let ids: Vec<usize> = (0..b).map(|i| i % windows.len()).collect();
                let mut step = |model: Model| -> Model {
                    let loss = lofigen::loss::batch_loss(&model, &windows, &ids, &ad);
                    let grads = GradientsParams::from_grads(loss.backward(), &model);
                    let model = optim.step(1e-4, model, grads);
                    // A GPU queues the work: the step has taken its time once the queue is done.
                    let _ = ad.sync();
                    model
                };
                model = step(model);
                // The fastest timed step: other work on the machine only ever adds time.
                let (mut ms, mut cpu_ms) = (f64::INFINITY, 0.0);
                for _ in 0..steps {
                    let (start, cpu) = (Instant::now(), lofigen::cpu::process_cpu_seconds());
                    model = step(model);
                    let t = start.elapsed().as_secs_f64() * 1000.0;
                    if t < ms {
                        (ms, cpu_ms) = (t, (lofigen::cpu::process_cpu_seconds() - cpu) * 1000.0);
                    }
                }
                let gflops = 3.0 * 2.0 * fwd_macs as f64 * b as f64 / (ms / 1000.0) / 1e9;
                let first = *first_ms.get_or_insert(ms);
                let label = match &model_config {
                    ModelConfig::Paper(_) => format!("{algorithm:?}").to_lowercase(),
                    // No convolution algorithm to choose: the fused stack and head where the
                    // backend has them.
                    ModelConfig::WaveNet(_) => "fused".to_string(),
                };
                println!(
                    "| {name} | {b} | {label} | {ms:.0} | {cpu_ms:.0} | {:.0} | {gflops:.1} | {:.1} |",
                    ms / b as f64,
                    first / ms
                );
            }
        }
    }
    Ok(())
}

fn bench_generate(
    samples: &[f32],
    preset: &str,
    run: &GenRun,
    device: &burn::prelude::Device,
) -> Result<()> {
    let config = RunConfig::load_or_preset(preset)?;
    let model = match config.model.init_seeded(config.train.seed, device) {
        Model::Paper(m) => m,
        Model::WaveNet(m) => return bench_generate_wavenet(samples, preset, &m, run, device),
    };
    let rf = config.model.receptive_field();
    if samples.len() < rf {
        bail!("the benchmark audio is shorter than the receptive field ({rf} samples)");
    }
    let seed = &samples[..rf];
    println!(
        "# generation, {preset} (receptive field {rf}), random weights; {}",
        machine()
    );

    let start = Instant::now();
    let _ = naive_generate(&model, seed, run.oracle_samples, device);
    let oracle = run.oracle_samples as f64 / start.elapsed().as_secs_f64();
    println!("naive (burn forward over the receptive field): {oracle:.1} samples/s");

    let threads = rayon::current_num_threads();
    println!(
        "| kernel | weights | streams | threads | samples/s (total) | per CPU s | x naive | x {} | x real time (8 kHz, per stream) | state/stream | weights |",
        run.kernels[0].name()
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &b in &run.streams {
        for precision in [Precision::F32, Precision::F16] {
            let mut first = None;
            for &path in &run.kernels {
                let mut engine = PaperEngine::new(&model, b, precision).with_kernel(path);
                let seeds: Vec<&[f32]> = (0..b).map(|_| seed).collect();
                let warm = engine_generate(&mut engine, &seeds, 64);
                let mut input: Vec<f32> = warm.iter().map(|s| s[s.len() - 1]).collect();
                let mut next = vec![0.0; b];
                let (steps, per_cpu) = time_steps(run.seconds, || {
                    next.copy_from_slice(engine.step(&input));
                    for (i, n) in input.iter_mut().zip(&next) {
                        *i = n.clamp(-1.0, 1.0);
                    }
                });
                let total = steps * b as f64;
                let first = *first.get_or_insert(total);
                println!(
                    "| {} | {precision:?} | {b} | {threads} | {total:.0} | {:.0} | {:.0} | {:.2} | {:.2} | {:.1} KiB | {:.1} MiB |",
                    path.name(),
                    per_cpu * b as f64,
                    total / oracle,
                    total / first,
                    total / b as f64 / 8000.0,
                    engine.state_bytes_per_stream() as f64 / 1024.0,
                    engine.weight_bytes() as f64 / (1024.0 * 1024.0)
                );
            }
        }
    }
    println!("# load average at the end: {}", load_average());
    Ok(())
}

fn bench_generate_wavenet(
    samples: &[f32],
    preset: &str,
    model: &WaveNet,
    run: &GenRun,
    device: &burn::prelude::Device,
) -> Result<()> {
    let q = model.classes;
    let probe = WaveNetEngine::new(model, 1, Precision::F32);
    let rf = probe.receptive_field();
    if samples.len() < rf {
        bail!("the benchmark audio is shorter than the receptive field ({rf} samples)");
    }
    let seed: Vec<usize> = samples[..rf]
        .iter()
        .map(|&x| lofigen_audio::mulaw::encode(x, q))
        .collect();
    println!(
        "# generation, {preset} (receptive field {rf}, {} multiply-adds per sample), random weights; {}",
        probe.macs_per_sample(),
        machine()
    );

    // The oracle: one full forward pass over the receptive field per new sample.
    let mut sampler = Sampler::new(Sampling::default(), q);
    let mut history = seed.clone();
    let start = Instant::now();
    for _ in 0..run.oracle_samples {
        let from = history.len() - rf;
        let logits = full_logits(model, &history[from..], 0, device);
        let next = sampler.sample(&logits[logits.len() - q..]);
        history.push(next);
    }
    let oracle = run.oracle_samples as f64 / start.elapsed().as_secs_f64();
    println!("naive (burn forward over the receptive field): {oracle:.1} samples/s");

    println!(
        "| kernel | weights | streams | threads | samples/s (total) | per CPU s | x naive | x {} | x real time (8 kHz, per stream) | state/stream |",
        run.kernels[0].name()
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let most = rayon::current_num_threads();
    for &b in &run.streams {
        for precision in [Precision::F32, Precision::F16] {
            for threads in [1, most] {
                let mut first = None;
                for &path in &run.kernels {
                    let mut engine = WaveNetEngine::new(model, b, precision)
                        .with_threads(threads)
                        .with_kernel(path);
                    let seeds: Vec<&[usize]> = (0..b).map(|_| &seed[..]).collect();
                    let mut samplers: Vec<Sampler> = (0..b)
                        .map(|s| {
                            Sampler::new(
                                Sampling {
                                    seed: s as u64,
                                    ..Default::default()
                                },
                                q,
                            )
                        })
                        .collect();
                    let warm = wavenet_generate(&mut engine, &mut samplers, &seeds, 64);
                    let mut input: Vec<usize> = warm.iter().map(|s| s[s.len() - 1]).collect();
                    let mut controls = BenchControls::new(&mut engine, b)?;
                    let (steps, per_cpu) = time_steps(run.seconds, || {
                        controls.before_step(&mut engine);
                        let logits = engine.step(&input);
                        for (st, i) in input.iter_mut().enumerate() {
                            *i = samplers[st].sample(&logits[st * q..(st + 1) * q]);
                        }
                    });
                    let total = steps * b as f64;
                    let first = *first.get_or_insert(total);
                    println!(
                        "| {} | {precision:?} | {b} | {threads} | {total:.0} | {:.0} | {:.0} | {:.2} | {:.2} | {:.1} KiB |",
                        path.name(),
                        per_cpu * b as f64,
                        total / oracle,
                        total / first,
                        total / b as f64 / 8000.0,
                        engine.state_bytes_per_stream() as f64 / 1024.0,
                    );
                }
                if threads == most {
                    break;
                }
            }
        }
    }
    batch_scaling(model, &samples[..rf], probe.control_dims() > 0, run)?;
    if probe.control_dims() > 0 {
        controls_overhead(model, &seed, run)?;
    }
    println!("# load average at the end: {}", load_average());
    Ok(())
}

/// Samples per stream that a batch generates between two joins in the bench: short enough for
/// several blocks per timed round, long enough that the fork costs nothing beside the work.
const BATCH_BENCH_BLOCK: usize = 512;

/// The sharded batch (`StreamBatch`: one single-threaded engine per thread over its share of
/// the streams, joined once per block) on one thread and on all, alternating in three rounds so
/// that a change in the machine's load falls on both: how several streams scale across cores.
/// Streams play controls as `lofigen lofi` does where the model has them.
fn batch_scaling(model: &WaveNet, prompt: &[f32], controlled: bool, run: &GenRun) -> Result<()> {
    let most = rayon::current_num_threads();
    let threads: Vec<usize> = if most > 1 { vec![1, most] } else { vec![1] };
    let model = Model::WaveNet(model.clone());
    let source = if controlled {
        let c = Controls::new(85.0, Groove::named("boom-bap")?)?.with_chords("Dm7 G7 Cmaj7 Am7")?;
        Some(ControlSource::Play(c))
    } else {
        None
    };
    println!(
        "\n# sharded batch (StreamBatch): one single-threaded engine per thread over its share of \
         the streams, joined once per block of {BATCH_BENCH_BLOCK} samples; kernel {}; threads \
         {threads:?} alternating, three rounds of --seconds / 3 each",
        KernelPath::detect().name()
    );
    println!(
        "| weights | streams | threads | samples/s (total) | per CPU s | CPU cores used | x 1 thread | x real time (8 kHz, per stream) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for &b in run.streams.iter().filter(|&&b| b > 1) {
        for precision in [Precision::F32, Precision::F16] {
            let opts: Vec<GenerateOptions> = (0..b)
                .map(|s| GenerateOptions {
                    precision,
                    sampling: Sampling {
                        seed: s as u64,
                        ..Default::default()
                    },
                    controls: source.clone(),
                    guidance: DEFAULT_GUIDANCE,
                    ..Default::default()
                })
                .collect();
            let prompts = vec![prompt; b];
            let mut out = vec![0.0f32; b * BATCH_BENCH_BLOCK];
            let mut batches: Vec<StreamBatch> = threads
                .iter()
                .map(|&t| {
                    let mut batch = StreamBatch::new(&model, &prompts, &opts, t);
                    // Warm-up, outside the timing.
                    batch.fill(&mut out);
                    batch
                })
                .collect();
            let mut rates = vec![(0.0f64, 0.0f64); threads.len()];
            for _ in 0..3 {
                for (batch, rate) in batches.iter_mut().zip(&mut rates) {
                    let (wall, cpu) = time_blocks(run.seconds / 3.0, || batch.fill(&mut out));
                    let per_block = (b * BATCH_BENCH_BLOCK) as f64;
                    rate.0 += wall * per_block / 3.0;
                    rate.1 += cpu * per_block / 3.0;
                }
            }
            for (&t, &(total, per_cpu)) in threads.iter().zip(&rates) {
                // CPU seconds per wall second: below the threads, the machine did not give them
                // a core each (other work, or another session's share of the scheduler).
                println!(
                    "| {precision:?} | {b} | {t} | {total:.0} | {per_cpu:.0} | {:.2} | {:.2} | {:.2} |",
                    total / per_cpu,
                    total / rates[0].0,
                    total / b as f64 / 8000.0
                );
            }
        }
    }
    Ok(())
}

/// Run `block` until `seconds` of wall time have passed: calls per wall second, and per CPU
/// second of all the process's threads.
fn time_blocks(seconds: f64, mut block: impl FnMut()) -> (f64, f64) {
    let (start, cpu) = (Instant::now(), lofigen::cpu::process_cpu_seconds());
    let mut calls = 0usize;
    loop {
        block();
        calls += 1;
        let t = start.elapsed().as_secs_f64();
        if t >= seconds {
            let c = (lofigen::cpu::process_cpu_seconds() - cpu).max(1e-9);
            return (calls as f64 / t, calls as f64 / c);
        }
    }
}

/// A model with controls, as `lofigen lofi` drives it: per stream the runtime's own feed (a
/// conductor rendering the next frame every `hop` samples, the engine's control network run on
/// it, at the default guidance); nothing for a model without controls.
struct BenchControls(Vec<ControlFeed>);

impl BenchControls {
    fn new(engine: &mut WaveNetEngine, streams: usize) -> Result<Self> {
        engine.set_guidance(&DEFAULT_GUIDANCE);
        let controls =
            Controls::new(85.0, Groove::named("boom-bap")?)?.with_chords("Dm7 G7 Cmaj7 Am7")?;
        let source = ControlSource::Play(controls);
        let (dims, hop) = (engine.control_dims(), engine.control_hop());
        let n = if dims > 0 { streams } else { 0 };
        Ok(Self(
            (0..n)
                .map(|_| ControlFeed::new(Some(&source), hop, dims))
                .collect(),
        ))
    }

    fn before_step(&mut self, engine: &mut WaveNetEngine) {
        for (st, feed) in self.0.iter_mut().enumerate() {
            feed.before_step(engine, st);
        }
    }
}

/// One stream of the model with its controls against the same network without them (the
/// control network and the per-layer frame bias removed), timed alternately in one run: the
/// price of conditioning.
fn controls_overhead(model: &WaveNet, seed: &[usize], run: &GenRun) -> Result<()> {
    let mut bare = model.clone();
    bare.controls = None;
    println!(
        "\n# controls' cost (guidance {DEFAULT_GUIDANCE}), one stream, one thread (three rounds, alternating)"
    );
    println!("| weights | with controls samples/s | without samples/s | ratio |");
    println!("|---|---:|---:|---:|");
    let q = model.classes;
    for precision in [Precision::F32, Precision::F16] {
        let mut rates = [0.0f64; 2];
        for _ in 0..3 {
            for (i, m) in [model, &bare].into_iter().enumerate() {
                let mut engine = WaveNetEngine::new(m, 1, precision).with_threads(1);
                let mut sampler = vec![Sampler::new(Sampling::default(), q)];
                let warm = wavenet_generate(&mut engine, &mut sampler, &[seed], 64);
                let mut input = vec![warm[0][warm[0].len() - 1]];
                let mut controls = BenchControls::new(&mut engine, 1)?;
                let (steps, _) = time_steps(run.seconds / 3.0, || {
                    controls.before_step(&mut engine);
                    let logits = engine.step(&input);
                    input[0] = sampler[0].sample(&logits[..q]);
                });
                rates[i] += steps / 3.0;
            }
        }
        println!(
            "| {precision:?} | {:.0} | {:.0} | {:.3} |",
            rates[0],
            rates[1],
            rates[0] / rates[1]
        );
    }
    Ok(())
}
