//! What several commands share: device and sampling options, output checks, table cells.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args;
use lofigen::device::DeviceSpec;
use lofigen::runtime::{
    ControlSource, FxPreset, Generator, Guidance, MusicRequest, Precision, PromptSource, Sampling,
    StreamOptions,
};

/// The engine's weights for the commands that play the finished sound (`lofi`, `radio`,
/// `bench lofi`): f16 unless asked otherwise.
#[derive(Args, Debug, Clone, Copy)]
pub(crate) struct PlayPrecision {
    /// Engine weights: f16 (half the memory traffic, about 1.3x faster on one core; the bundled
    /// model measures as with f32) or f32 (the trained weights as they are).
    #[arg(long, default_value = "f16")]
    precision: Precision,
    /// The older spelling of `--precision f16`.
    #[arg(long, hide = true, conflicts_with = "precision")]
    f16: bool,
}

impl PlayPrecision {
    /// The precision asked for.
    pub(crate) fn get(self) -> Precision {
        if self.f16 {
            Precision::F16
        } else {
            self.precision
        }
    }
}

impl Default for PlayPrecision {
    fn default() -> Self {
        Self {
            precision: Precision::F16,
            f16: false,
        }
    }
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
    /// The device as named.
    pub(crate) fn spec(&self) -> Result<DeviceSpec> {
        Ok(self.device.parse()?)
    }

    /// The device, checked to exist.
    pub(crate) fn resolve(&self) -> Result<lofigen::device::ComputeDevice> {
        Ok(lofigen::device::resolve(self.device.parse()?)?)
    }
}

/// How a WaveNet's next sample is drawn (regressing models ignore these).
#[derive(Args, Debug, Clone)]
pub(crate) struct SamplingArgs {
    /// Genre of a genre-conditioned model (default: lofi if it knows it, else its first).
    #[arg(long)]
    pub(crate) genre: Option<String>,
    /// Softmax temperature: below 1 is safer and duller, above 1 noisier.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub(crate) temperature: f32,
    /// Draw only from the k most likely classes.
    #[arg(long)]
    pub(crate) top_k: Option<usize>,
    /// Draw only from the most likely classes that together hold this probability.
    #[arg(long, allow_negative_numbers = true)]
    pub(crate) top_p: Option<f32>,
    /// Always take the most likely class. Deterministic but prone to collapse into silence or
    /// a steady tone.
    #[arg(long)]
    pub(crate) greedy: bool,
    /// Seed of the sampler: the same seed gives the same audio.
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
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
    /// The runtime's stream options: these settings, a prompt file (None: the model's own)
    /// and the weights' precision, finished as the library's default (the caller sets `fx` and
    /// `rate`).
    pub(crate) fn stream_options(
        &self,
        prompt: Option<PathBuf>,
        precision: Precision,
    ) -> Result<StreamOptions> {
        Ok(StreamOptions {
            sampling: self.sampling()?,
            precision,
            genre: self.genre.clone(),
            prompt: prompt.map_or(PromptSource::Default, PromptSource::File),
            // The library's finished defaults; each command sets its own `--fx` and `--rate`.
            ..StreamOptions::default()
        })
    }

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

/// What a model with musical controls plays; anything left out, the model's style picks.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct MusicArgs {
    /// Tempo, 30-300 BPM.
    #[arg(long, allow_negative_numbers = true)]
    pub(crate) bpm: Option<f64>,
    /// One chord per bar, looped, e.g. "Dm9 G13 Cmaj9 Am7".
    #[arg(long)]
    pub(crate) chords: Option<String>,
    /// Delay of the off 16ths: 0 (straight) to 0.5 of a 16th (heard with a groove that has
    /// off-16th hats, such as sixteenths).
    #[arg(long, allow_negative_numbers = true)]
    pub(crate) swing: Option<f32>,
    /// Drum pattern: a name (boom-bap, half-time, four-floor, sparse, lazy, sixteenths: hats on
    /// every 16th, for --swing; or one the model learnt: train-1, ...) or text such as
    /// "low: x.......x.x..... ; mid: ....x.......x... ; high: x.x.x.x.x.x.x.x." (x = hit,
    /// o = soft, . = rest; 16 steps a bar).
    #[arg(long)]
    pub(crate) groove: Option<String>,
    /// A track whose beats, chords and loudness drive a new rendering of it.
    #[arg(long, conflicts_with_all = ["bpm", "chords", "swing", "groove"])]
    pub(crate) follow: Option<PathBuf>,
    /// How strongly the model follows its controls: one strength for all (e.g. 2) or per group
    /// ("rhythm=3,harmony=2,loudness=1"); 1 plays the model as trained, 0 ignores a group,
    /// 0-8 [default: rhythm=3,harmony=5]
    #[arg(long, value_parser = parse_guidance)]
    pub(crate) guidance: Option<Guidance>,
}

/// `--guidance`: the message names the value and what is wrong with it.
pub(crate) fn parse_guidance(s: &str) -> Result<Guidance, String> {
    s.parse()
        .map_err(|e: lofigen_audio::score::ScoreError| e.to_string())
}

impl MusicArgs {
    /// The runtime's request.
    pub(crate) fn request(&self) -> MusicRequest {
        MusicRequest {
            bpm: self.bpm,
            chords: self.chords.clone(),
            swing: self.swing,
            groove: self.groove.clone(),
            follow: self.follow.clone(),
            guidance: self.guidance,
        }
    }
}

/// One line on what a model with controls will play, with the flags that ask for it again;
/// `None` for a model without controls.
pub(crate) fn describe_music(
    generator: &Generator,
    opts: &StreamOptions,
) -> Result<Option<String>> {
    let guidance = generator.guidance(opts)?;
    Ok(generator.music(opts)?.map(|source| match source {
        ControlSource::Play(c) => {
            let chords: Vec<String> = c.chords.iter().map(ToString::to_string).collect();
            // A named groove (built-in or learnt) by its name, shorter to ask for again.
            let groove = c
                .groove
                .name_in(generator.style())
                .unwrap_or_else(|| format!("\"{}\"", c.groove));
            format!(
                "music: {} BPM, chords {}, swing {}, groove {groove}, guidance {guidance}\n  (again: \
                 --bpm {} --chords \"{}\" --swing {} --groove {groove} --guidance {guidance})",
                c.bpm,
                if chords.is_empty() {
                    "-".into()
                } else {
                    chords.join(" ")
                },
                c.swing,
                c.bpm,
                chords.join(" "),
                c.swing,
            )
        }
        ControlSource::Follow(_) => format!(
            "music: following {}, guidance {guidance}",
            opts.music
                .follow
                .as_ref()
                .map_or_else(String::new, |p| p.display().to_string())
        ),
    }))
}

/// The output rates `--rate` takes, Hz.
pub(crate) const RATES: [u32; 3] = [44_100, 48_000, 8000];

/// `--rate`: one of [`RATES`]; the message lists them.
pub(crate) fn parse_rate(s: &str) -> Result<u32, String> {
    let valid = || {
        RATES
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match s.trim().parse::<u32>() {
        Ok(hz) if RATES.contains(&hz) => Ok(hz),
        _ => Err(format!("{s:?} is not an output rate (valid: {})", valid())),
    }
}

/// `--fx`: a preset name; the message lists the valid ones.
pub(crate) fn parse_fx(s: &str) -> Result<FxPreset, String> {
    s.parse()
        .map_err(|e: lofigen_audio::fx::FxError| e.to_string())
}

/// What the user hears, for messages: "44.1 kHz stereo, lofi effects" or "8 kHz mono, raw".
pub(crate) fn describe_output(rate: u32, channels: u16, fx: FxPreset) -> String {
    let khz = f64::from(rate) / 1000.0;
    let layout = if channels == 2 { "stereo" } else { "mono" };
    let fx = match fx {
        FxPreset::None if channels == 1 => "raw".to_string(),
        FxPreset::None => "no effects".to_string(),
        p => format!("{p} effects"),
    };
    format!("{khz} kHz {layout}, {fx}")
}

/// The output's folder exists: found out before generating, not after minutes of it.
pub(crate) fn check_out_dir(out: &Path) -> Result<()> {
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

/// The bundled 30 s clip.
pub(crate) fn default_demo_audio() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/demo_island_dreams_30s.flac")
}

/// The file name of `name` (a path), for table rows and plot labels.
pub(crate) fn short_name(name: &str) -> String {
    Path::new(name)
        .file_name()
        .map_or_else(|| name.to_string(), |n| n.to_string_lossy().into_owned())
}
