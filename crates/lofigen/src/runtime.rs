//! The runtime API: what every front end (the `lofigen` binary, a radio server, the Python
//! package) uses to turn a trained model into audio. A [`Generator`] holds a model (the bundled
//! one or a run's) and yields [`AudioStream`]s (the model's raw 8 kHz mono) or [`Render`]s (the
//! finished sound: the stream through the lofi effects chain, stereo at 44.1 or 48 kHz), read in
//! blocks of any size or written to a WAV file or a pipe as they are generated; a
//! [`RenderBatch`] renders several such streams together on every core (a batch of clips,
//! several channels), each the same samples as its own [`Render`].
//! No burn type appears in its signatures: front ends need not know which backend computes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lofigen_audio::fx::FxChain;
pub use lofigen_audio::fx::{FxPreset, FxSettings};
use lofigen_audio::{
    Clip, WavStream, load_mono_8k, write_wav16_all_from, write_wav16_channels_from,
};
use rayon::prelude::*;

use crate::config::{RunConfig, SAMPLE_RATE_HZ};
pub use crate::controls::{Conductor, Controls, Groove, Group, Guidance, Score, Style};
use crate::corpus::load_tracks;
use crate::device::{ComputeDevice, DeviceSpec};
use crate::error::{Error, Result};
pub use crate::generate::{AudioStream, ControlSource, Precision, Sampling};
use crate::generate::{GenerateOptions, Prompt, StreamBatch, genre_index};
use crate::model::Model;
use crate::run::RunDir;

/// The audio a stream continues.
#[derive(Clone, Debug, Default)]
pub enum PromptSource {
    /// The model's own: the bundled model's half second of "Island Dreams", or the first
    /// window of a run's test split (what the paper did).
    #[default]
    Default,
    /// An audio file of any supported format and rate.
    File(PathBuf),
    /// Audio already in memory (any rate; resampled to the model's).
    Clip(Clip),
}

/// How a stream is generated, beyond the model.
#[derive(Clone, Debug)]
pub struct StreamOptions {
    /// How a WaveNet's next sample is drawn (the paper's models regress and ignore it); its
    /// `seed` makes the audio reproducible.
    pub sampling: Sampling,
    /// Precision of the engine's weights. The default here is f16, unlike
    /// `Precision::default()` (the engine's exact f32): the whole chain runs about 1.3x faster
    /// on one core, and the bundled model measures as with f32 (see BENCHMARKS.md).
    pub precision: Precision,
    /// Genre of a genre-conditioned model (None: `lofi` if it knows it, else its first).
    pub genre: Option<String>,
    /// What the stream continues.
    pub prompt: PromptSource,
    /// The effects of a [`Render`] (default: the `lofi` preset). [`Generator::stream`] ignores
    /// them: an [`AudioStream`] is always the model's raw output.
    pub fx: FxSettings,
    /// Output sample rate of a [`Render`], Hz, 8000..=192000 (default 44 100). With
    /// [`FxSettings::OFF`] at the model's rate (8000) a render is the raw mono stream, sample
    /// for sample.
    pub rate: u32,
    /// The music a model with controls plays (tempo, chords, groove, swing, or a track to
    /// follow); what is left out, the model's style picks.
    pub music: MusicRequest,
}

/// What a user asks a model with controls to play. Every part is optional: the rest comes
/// from the style the model learnt ([`Generator::music`] says what was chosen).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MusicRequest {
    /// Tempo, 30-300 BPM.
    pub bpm: Option<f64>,
    /// One chord per bar, looped: `"Dm7 G7 Cmaj7 Am7"`.
    pub chords: Option<String>,
    /// Delay of the off 16ths, 0 (straight) to 0.5 of a 16th.
    pub swing: Option<f32>,
    /// A groove: a built-in or learnt pattern's name, or a pattern written as text
    /// (`"low: x...x... ; mid: ....x... ; high: x.x.x.x."`).
    pub groove: Option<String>,
    /// A track whose beats, chords and loudness drive the stream instead.
    pub follow: Option<PathBuf>,
    /// How strongly the model follows each group of controls (None: [`DEFAULT_GUIDANCE`]).
    pub guidance: Option<Guidance>,
}

impl MusicRequest {
    /// Whether nothing was asked.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl Default for StreamOptions {
    /// Default sampling and prompt, f16 weights, finished as 44.1 kHz stereo lofi.
    fn default() -> Self {
        Self {
            sampling: Sampling::default(),
            precision: Precision::F16,
            genre: None,
            prompt: PromptSource::default(),
            fx: FxSettings::default(),
            rate: FINISHED_RATE_HZ,
            music: MusicRequest::default(),
        }
    }
}

impl StreamOptions {
    /// Whether a [`Render`] with these options is the model's raw stream: no effects, at the
    /// model's own rate (mono, not resampled).
    pub fn is_raw(&self) -> bool {
        self.fx == FxSettings::OFF && self.rate == SAMPLE_RATE_HZ
    }
}

/// The output rate of a finished render unless told otherwise, Hz (CD audio: what every player
/// takes).
pub const FINISHED_RATE_HZ: u32 = 44_100;

/// Tempo of a model with controls but no style (a run trained before styles were saved).
pub const DEFAULT_BPM: f64 = 85.0;
/// Groove of a model with controls but no style.
pub const DEFAULT_GROOVE: &str = "boom-bap";
/// How strongly a model follows its controls unless told (see [`Guidance`]): rhythm and chords
/// pushed past the trained model, which then keeps its beat and changes chords audibly more;
/// loudness as trained (pushing it dulled the timbre). Chosen on the bundled model in
/// docs/experiments/lofi-controls: harmony 5 also brought its sound closer to real lofi
/// (MFCC distance 0.5-0.7x that at 3), and rhythm 3 kept the beat harmony 5 weakened.
pub const DEFAULT_GUIDANCE: Guidance = Guidance::uniform(1.0)
    .with(Group::Rhythm, 3.0)
    .with(Group::Harmony, 5.0);

/// Where a generator's model came from.
#[derive(Clone, Debug)]
enum Origin {
    Bundled,
    Run(PathBuf),
}

/// A trained model ready to generate.
pub struct Generator {
    config: RunConfig,
    model: Model,
    origin: Origin,
    /// The training set's style, for a model with controls.
    style: Option<Style>,
    /// Where the checkpoint was loaded (the samples always come from the CPU engine).
    device: ComputeDevice,
}

impl Generator {
    /// The lofi model that ships inside lofigen (see [`crate::bundled`]).
    pub fn bundled() -> Result<Self> {
        let device = crate::device::resolve(DeviceSpec::Cpu)?;
        let (config, model) = crate::bundled::lofi_model(&device.device)?;
        Ok(Self {
            config,
            model,
            origin: Origin::Bundled,
            style: crate::bundled::lofi_style()?,
            device,
        })
    }

    /// The latest checkpoint of the run directory `run`, loaded on the CPU.
    pub fn from_run(run: &Path) -> Result<Self> {
        Self::from_run_on(run, DeviceSpec::Cpu)
    }

    /// The latest checkpoint of `run`, loaded on `device` (an absent device is an error). The
    /// samples come from the cached CPU engine wherever the checkpoint is loaded.
    pub fn from_run_on(run: &Path, device: DeviceSpec) -> Result<Self> {
        let device = crate::device::resolve(device)?;
        let (config, model) = RunDir::new(run).load_trained(&device.device)?;
        crate::controls::check_layout(&config)?;
        Ok(Self {
            config,
            model,
            style: RunDir::new(run).style()?,
            origin: Origin::Run(run.to_path_buf()),
            device,
        })
    }

    /// The notice the model's licence asks to keep with its audio (the bundled model's CC BY
    /// 3.0 attribution); `None` for a run of yours.
    pub fn attribution(&self) -> Option<&'static str> {
        match self.origin {
            Origin::Bundled => Some(crate::bundled::ATTRIBUTION),
            Origin::Run(_) => None,
        }
    }

    /// What messages call the model: "the bundled lofi model" or the run's path.
    pub fn name(&self) -> String {
        match &self.origin {
            Origin::Bundled => crate::bundled::NAME.to_string(),
            Origin::Run(p) => p.display().to_string(),
        }
    }

    /// Where the checkpoint was loaded, e.g. `cpu (Flex)` or `cuda:0 (NVIDIA ...)`.
    pub fn device_name(&self) -> &str {
        &self.device.name
    }

    /// Whether the checkpoint sits on the CPU backend (where the engine runs anyway).
    pub fn loaded_on_cpu(&self) -> bool {
        crate::device::is_flex(&self.device.device)
    }

    /// Samples per second of the audio it makes.
    pub fn sample_rate(&self) -> u32 {
        SAMPLE_RATE_HZ
    }

    /// The model's genres (empty: not genre-conditioned).
    pub fn genres(&self) -> &[String] {
        self.config.model.genres()
    }

    /// The resolved config of the model.
    pub fn config(&self) -> &RunConfig {
        &self.config
    }

    /// Whether the model takes musical controls (tempo, chords, groove).
    pub fn has_controls(&self) -> bool {
        self.config.model.controls().is_some()
    }

    /// The style the model learnt (tempi, grooves, chord moves), if it has controls.
    pub fn style(&self) -> Option<&Style> {
        self.style.as_ref()
    }

    /// What a stream with `opts` plays: `None` for a model without controls (asking one for
    /// music is an error that says so); otherwise the request completed from the model's style
    /// (seeded by the sampler's seed, so one seed gives the same choice), or the analysed
    /// track to follow. A bad value is an error that names it.
    pub fn music(&self, opts: &StreamOptions) -> Result<Option<ControlSource>> {
        let m = &opts.music;
        if !self.has_controls() {
            if m.is_empty() {
                return Ok(None);
            }
            return Err(Error::Config {
                path: "music controls (bpm, chords, swing, groove, follow, guidance)".into(),
                problem: format!(
                    "{} was trained without musical controls; leave them out, or train a model \
                     with `model.controls` (the wavenet-controls preset)",
                    self.name()
                ),
            });
        }
        let bad = |flag: &str, e: lofigen_audio::score::ScoreError| Error::Config {
            path: flag.into(),
            problem: e.to_string(),
        };
        if let Some(path) = &m.follow {
            let (clip, _) = load_mono_8k(path)?;
            let analysis =
                lofigen_audio::analysis::analyze_music(&clip).map_err(|e| Error::Config {
                    path: path.clone(),
                    problem: e.to_string(),
                })?;
            let score = Score::from_analysis(&analysis).map_err(|e| Error::Config {
                path: path.clone(),
                problem: format!("cannot be followed: {e}"),
            })?;
            return Ok(Some(ControlSource::Follow(score)));
        }
        let mut c = match &self.style {
            Some(style) => style.suggest(opts.sampling.seed),
            None => Controls::new(
                DEFAULT_BPM,
                Groove::named(DEFAULT_GROOVE).map_err(|e| bad("groove", e))?,
            )
            .map_err(|e| bad("bpm", e))?,
        };
        if let Some(bpm) = m.bpm {
            c.bpm = bpm;
            c.validate().map_err(|e| bad("bpm", e))?;
        }
        if let Some(text) = &m.chords {
            c = c.with_chords(text).map_err(|e| bad("chords", e))?;
        }
        if let Some(swing) = m.swing {
            c = c.with_swing(swing).map_err(|e| bad("swing", e))?;
        }
        if let Some(text) = &m.groove {
            c.groove = Groove::lookup(text, self.style.as_ref()).map_err(|e| bad("groove", e))?;
        }
        Ok(Some(ControlSource::Play(c)))
    }

    /// How strongly a stream with `opts` follows its controls: the request's guidance, checked,
    /// else [`DEFAULT_GUIDANCE`].
    pub fn guidance(&self, opts: &StreamOptions) -> Result<Guidance> {
        let g = opts.music.guidance.unwrap_or(DEFAULT_GUIDANCE);
        g.validate().map_err(|e| Error::Config {
            path: "guidance".into(),
            problem: e.to_string(),
        })?;
        Ok(g)
    }

    /// An endless stream of audio, read in blocks of any size.
    pub fn stream(&self, opts: &StreamOptions) -> Result<AudioStream> {
        let prompt = self.prompt(&opts.prompt)?;
        let controls = self.music(opts)?;
        let gen_opts = self.generate_options(opts, controls)?;
        Ok(AudioStream::new(&self.model, &prompt, &gen_opts))
    }

    /// What the engine takes from `opts` (checked), with the stream's `controls`.
    fn generate_options(
        &self,
        opts: &StreamOptions,
        controls: Option<ControlSource>,
    ) -> Result<GenerateOptions> {
        opts.sampling.validate().map_err(|problem| Error::Config {
            path: "sampling".into(),
            problem,
        })?;
        Ok(GenerateOptions {
            seconds: 0.0,
            precision: opts.precision,
            sampling: opts.sampling.clone(),
            genre: genre_index(&self.config.model, opts.genre.as_deref())?,
            guidance: self.guidance(opts)?,
            controls,
        })
    }

    /// Several finished streams rendered together on `threads` threads (at least 1; at most
    /// one per stream is used): stream `i` is, sample for sample, what
    /// [`render(&opts[i])`](Self::render) gives, however the batch is read. Each stream has its
    /// own prompt, sampler seed, genre, music and effects chain; they share the engine's
    /// precision and guidance and the output's rate and layout (effects on or off), and a
    /// difference there is an error naming the stream. See [`RenderBatch`].
    pub fn render_batch(&self, opts: &[StreamOptions], threads: usize) -> Result<RenderBatch> {
        let bad = |path: &str, problem: String| Error::Config {
            path: path.into(),
            problem,
        };
        let Some(first) = opts.first() else {
            return Err(bad(
                "count",
                "a batch needs at least one stream, not 0".into(),
            ));
        };
        if threads == 0 {
            return Err(bad(
                "threads",
                "a batch needs at least one thread, not 0".into(),
            ));
        }
        let guidance = self.guidance(first)?;
        let mut prompts: Vec<Vec<f32>> = Vec::with_capacity(opts.len());
        let mut engine_opts = Vec::with_capacity(opts.len());
        let mut chains = Vec::with_capacity(opts.len());
        let mut controls: Option<ControlSource> = None;
        for (i, o) in opts.iter().enumerate() {
            let differs = |what: &str| {
                bad(
                    what,
                    format!("stream {i} differs from stream 0: the streams of a batch share it"),
                )
            };
            if o.precision != first.precision {
                return Err(differs("precision"));
            }
            if self.guidance(o)? != guidance {
                return Err(differs("guidance"));
            }
            if o.rate != first.rate || o.is_raw() != first.is_raw() {
                return Err(differs("rate (and effects on or off)"));
            }
            // The chain first: a bad knob is refused before any model is primed.
            chains.push(if o.is_raw() {
                None
            } else {
                Some(FxChain::new(o.fx, SAMPLE_RATE_HZ, o.rate, o.sampling.seed)?)
            });
            // A prompt file or a track to follow that the previous stream had too is read and
            // analysed once.
            let prev = i.checked_sub(1).map(|p| &opts[p]);
            let prompt = match prev {
                Some(p) if same_prompt(&p.prompt, &o.prompt) => prompts[i - 1].clone(),
                _ => self.prompt(&o.prompt)?,
            };
            prompts.push(prompt);
            controls = match (prev, controls) {
                (Some(p), Some(c @ ControlSource::Follow(_))) if p.music == o.music => Some(c),
                _ => self.music(o)?,
            };
            engine_opts.push(self.generate_options(o, controls.clone())?);
        }
        let refs: Vec<&[f32]> = prompts.iter().map(|p| &p[..]).collect();
        let batch = StreamBatch::new(&self.model, &refs, &engine_opts, threads);
        Ok(RenderBatch::new(batch, chains))
    }

    /// The finished sound: an endless [`Self::stream`] through the effects chain of `opts.fx`,
    /// at `opts.rate`. The chain's noises are seeded from the sampler's seed, so one seed
    /// reproduces the whole output.
    pub fn render(&self, opts: &StreamOptions) -> Result<Render> {
        // The chain first: a bad rate or knob is refused before the model is primed.
        let chain = if opts.is_raw() {
            None
        } else {
            Some(FxChain::new(
                opts.fx,
                SAMPLE_RATE_HZ,
                opts.rate,
                opts.sampling.seed,
            )?)
        };
        Ok(Render::new(self.stream(opts)?, chain, opts.sampling.seed))
    }

    /// `seconds` of audio (the same samples as reading [`Self::stream`] for that long).
    pub fn generate(&self, seconds: f64, opts: &StreamOptions) -> Result<Clip> {
        let n = samples_for(seconds)?;
        let mut out = vec![0.0; n];
        self.stream(opts)?.fill(&mut out);
        Ok(Clip::new(out, SAMPLE_RATE_HZ))
    }

    /// The prompt's samples, at the model's rate and training level.
    fn prompt(&self, source: &PromptSource) -> Result<Vec<f32>> {
        let prompt = match (source, &self.origin) {
            (PromptSource::File(p), _) => Prompt::Clip(load_mono_8k(p)?.0),
            (PromptSource::Clip(c), _) => Prompt::Clip(lofigen_audio::resample(c, SAMPLE_RATE_HZ)),
            (PromptSource::Default, Origin::Bundled) => {
                Prompt::Clip(crate::bundled::lofi_prompt()?)
            }
            (PromptSource::Default, Origin::Run(run)) => {
                let info = RunDir::new(run).info()?;
                Prompt::TestSplit(load_tracks(&info.sources)?)
            }
        };
        crate::generate::prompt_samples(&self.config, &prompt)
    }
}

/// Whether two streams continue the same prompt, known without reading it.
fn same_prompt(a: &PromptSource, b: &PromptSource) -> bool {
    match (a, b) {
        (PromptSource::Default, PromptSource::Default) => true,
        (PromptSource::File(x), PromptSource::File(y)) => x == y,
        _ => false,
    }
}

/// `seconds` as a sample count, refusing what is not a positive, finite duration.
pub fn samples_for(seconds: f64) -> Result<usize> {
    if !(seconds > 0.0 && seconds.is_finite()) {
        return Err(Error::Config {
            path: "seconds".into(),
            problem: format!("must be a positive number, not {seconds}"),
        });
    }
    Ok((seconds * f64::from(SAMPLE_RATE_HZ)).round() as usize)
}

/// Model samples pulled per step of a [`Render`] (50 ms at 8 kHz): fixed, so that the caller's
/// block size never reaches the effects chain, and short, so a player hears the start at once.
const RENDER_BLOCK: usize = 400;

/// What a render does after the model: the effects chain (none: the raw stream passes through)
/// and the finished samples not yet read. [`Render`] and [`RenderBatch`] feed it the same
/// blocks of [`RENDER_BLOCK`] model samples, so a stream sounds the same either way.
struct Finish {
    chain: Option<FxChain>,
    /// Finished samples not yet read, from `pos` on.
    ready: Vec<f32>,
    pos: usize,
}

impl Finish {
    /// Sized for `blocks` blocks pushed between reads, on top of what is still unread: nothing
    /// is allocated per block after that.
    fn new(chain: Option<FxChain>, blocks: usize) -> Self {
        let capacity = match &chain {
            // Per block its output plus the chain's held-back frames (stereo: two samples per
            // frame), twice over for what a read left.
            Some(c) => {
                let per_block =
                    RENDER_BLOCK as u64 * u64::from(c.out_rate()) / u64::from(SAMPLE_RATE_HZ) + 1;
                2 * (blocks * per_block as usize + c.latency_frames() + 1024)
                    * usize::from(c.channels()).max(1)
            }
            None => 2 * blocks * RENDER_BLOCK,
        };
        Self {
            chain,
            ready: Vec::with_capacity(capacity),
            pos: 0,
        }
    }

    /// Finished samples not yet read.
    fn available(&self) -> usize {
        self.ready.len() - self.pos
    }

    /// One block of model samples, finished, after what is unread.
    fn push(&mut self, mono: &[f32]) {
        self.ready.drain(..self.pos);
        self.pos = 0;
        match &mut self.chain {
            // The chain may hold a block back (its latency): then nothing is added.
            Some(c) => c.process(mono, &mut self.ready),
            None => self.ready.extend_from_slice(mono),
        }
    }

    /// Up to `out.len()` unread samples into `out`: how many.
    fn take(&mut self, out: &mut [f32]) -> usize {
        let n = self.available().min(out.len());
        out[..n].copy_from_slice(&self.ready[self.pos..self.pos + n]);
        self.pos += n;
        n
    }

    /// Ends the chain's stream into the unread samples (what it owed for the samples it was
    /// given) and continues with `fresh`.
    fn switch(&mut self, fresh: FxChain) {
        self.ready.drain(..self.pos);
        self.pos = 0;
        if let Some(old) = &mut self.chain {
            old.flush(&mut self.ready);
        }
        self.chain = Some(fresh);
    }
}

/// The finished sound: an [`AudioStream`] run through the effects chain, read as interleaved
/// samples (`[l, r, l, r, ..]` when stereo) in blocks of any size. The output depends on the
/// model, the options and the seed only, never on how it is read. Nothing is allocated per
/// block once the first blocks have sized the buffers.
pub struct Render {
    stream: AudioStream,
    /// The chain (`None`: the raw stream, passed through untouched, mono at the model's rate)
    /// and what it finished.
    finish: Finish,
    /// One block of model samples.
    mono: Vec<f32>,
    /// Whether generation is timed (see [`Render::set_profiling`]).
    profiling: bool,
    generate_time: Duration,
    /// Seed of the chain's noises, for a chain built by [`Render::set_fx`].
    seed: u64,
}

impl Render {
    fn new(stream: AudioStream, chain: Option<FxChain>, seed: u64) -> Self {
        Self {
            stream,
            finish: Finish::new(chain, 1),
            mono: vec![0.0; RENDER_BLOCK],
            profiling: false,
            generate_time: Duration::ZERO,
            seed,
        }
    }

    /// Play other controls from the next bar line on (see [`AudioStream::set_controls`]).
    pub fn set_controls(&mut self, controls: Controls) -> Result<()> {
        self.stream.set_controls(controls)
    }

    /// Follow the controls with `guidance` from the next control frame on (see
    /// [`AudioStream::set_guidance`]).
    pub fn set_guidance(&mut self, guidance: &Guidance) -> Result<()> {
        self.stream.set_guidance(guidance)
    }

    /// Samples per second per channel.
    pub fn sample_rate(&self) -> u32 {
        self.finish
            .chain
            .as_ref()
            .map_or(SAMPLE_RATE_HZ, FxChain::out_rate)
    }

    /// Interleaved channels: 2 through the chain, 1 for the raw stream.
    pub fn channels(&self) -> u16 {
        self.finish.chain.as_ref().map_or(1, FxChain::channels)
    }

    /// Whether this is the model's raw stream (no effects, 8 kHz mono).
    pub fn is_raw(&self) -> bool {
        self.finish.chain.is_none()
    }

    /// Switches the effects to `fx` from the next block on, continuing the same stream (a radio
    /// changing its sound while it plays). The old chain is flushed first, so no frame is lost
    /// or repeated: the output stays in time. The new chain's reverb and wow start afresh, yet
    /// the seam shows no step and no dip in level (`tests/render.rs` measures it; a crossfade
    /// of the two chains was tried and dipped to a third of the level, their wows out of
    /// phase, so the switch stays a clean cut). The
    /// rate and channels stay; the raw stream (no chain) cannot take effects, and settings that
    /// cannot run at this rate are refused, leaving the old chain playing.
    pub fn set_fx(&mut self, fx: FxSettings) -> Result<()> {
        let Some(chain) = &self.finish.chain else {
            return Err(Error::Config {
                path: "fx".into(),
                problem: "the raw 8 kHz stream has no effects chain to change; render with \
                          effects or at another rate"
                    .into(),
            });
        };
        let mut fresh = FxChain::new(fx, SAMPLE_RATE_HZ, chain.out_rate(), self.seed)?;
        fresh.set_profiling(self.profiling);
        // Unread frames first, then the old chain's tail: what it still owed for the samples
        // it was given.
        self.finish.switch(fresh);
        Ok(())
    }

    /// `seconds` as a number of frames at the output rate, refusing what is not a positive,
    /// finite duration.
    pub fn frames_for(&self, seconds: f64) -> Result<usize> {
        samples_for(seconds)?;
        Ok((seconds * f64::from(self.sample_rate())).round() as usize)
    }

    /// Write the next `out.len()` interleaved samples (a whole number of frames keeps the
    /// channels in place for the next read).
    pub fn fill(&mut self, out: &mut [f32]) {
        if self.finish.chain.is_none() {
            let start = self.profiling.then(Instant::now);
            self.stream.fill(out);
            if let Some(t) = start {
                self.generate_time += t.elapsed();
            }
            return;
        }
        let mut done = 0;
        while done < out.len() {
            if self.finish.available() == 0 {
                let start = self.profiling.then(Instant::now);
                self.stream.fill(&mut self.mono);
                if let Some(t) = start {
                    self.generate_time += t.elapsed();
                }
                // The chain may hold a block back (its latency): then the loop pulls another.
                self.finish.push(&self.mono);
                continue;
            }
            done += self.finish.take(&mut out[done..]);
        }
    }

    /// The next `seconds` into a 16-bit WAV at `path` (the output rate and channels), rendered
    /// and written chunk by chunk (never whole in memory) and atomically; `progress` hears each
    /// chunk's number of frames.
    pub fn write_wav(
        &mut self,
        path: &Path,
        seconds: f64,
        mut progress: impl FnMut(usize),
    ) -> Result<()> {
        let frames = self.frames_for(seconds)?;
        let (rate, channels) = (self.sample_rate(), self.channels());
        write_wav16_channels_from(path, rate, channels, frames, |part| {
            self.fill(part);
            progress(part.len() / usize::from(channels));
        })?;
        Ok(())
    }

    /// A 16-bit WAV stream into `out` (a pipe): the next `seconds`, or endless with `None`. A
    /// reader that goes away (a broken pipe) ends it without an error: that is how an endless
    /// stream stops.
    pub fn pipe_wav(&mut self, out: impl Write, seconds: Option<f64>) -> Result<()> {
        let frames = seconds.map(|s| self.frames_for(s)).transpose()?;
        let channels = usize::from(self.channels());
        let write_err = |e| Error::io("write", "the WAV stream", e);
        let broken = |e: &std::io::Error| e.kind() == std::io::ErrorKind::BrokenPipe;
        let header = frames.map(|n| u32::try_from(n).unwrap_or(u32::MAX));
        let mut wav =
            match WavStream::with_channels(out, self.sample_rate(), self.channels(), header) {
                Err(e) if broken(&e) => return Ok(()),
                other => other.map_err(write_err)?,
            };
        // A tenth of a second per block: a player hears the stream start at once.
        let block = (self.sample_rate() as usize / 10).max(1);
        let mut buf = vec![0.0; block * channels];
        let mut left = frames;
        while left != Some(0) {
            let n = left.map_or(block, |l| l.min(block));
            let part = &mut buf[..n * channels];
            self.fill(part);
            match wav.write(part) {
                Err(e) if broken(&e) => return Ok(()),
                other => other.map_err(write_err)?,
            }
            left = left.map(|l| l - n);
        }
        Ok(())
    }

    /// Starts (or stops) timing generation and each effect; see [`Render::stage_times`].
    /// Timing costs a clock read per stage and block, so it is off by default.
    pub fn set_profiling(&mut self, on: bool) {
        self.profiling = on;
        if let Some(chain) = &mut self.finish.chain {
            chain.set_profiling(on);
        }
    }

    /// Time spent in each stage while profiling, in order: `"generate"` (the model), then the
    /// effects chain's stages (`"resample"` first; stages the settings leave out are not
    /// listed).
    pub fn stage_times(&self) -> Vec<(&'static str, Duration)> {
        std::iter::once(("generate", self.generate_time))
            .chain(self.finish.chain.iter().flat_map(FxChain::stage_times))
            .collect()
    }
}

/// Model samples a [`RenderBatch`] generates per stream between two joins of its threads (half
/// a second): one fork per block is then nothing beside the work.
const BATCH_BLOCK: usize = 10 * RENDER_BLOCK;

/// Several finished streams of one model rendered together: a [`StreamBatch`] (the streams
/// split into one shard per thread, each a single-threaded engine over its share, joined once
/// per block), then each stream through its own effects chain, the chains run in parallel too.
/// Read in blocks, each stream's samples into its own buffer; stream `i` is, sample for sample,
/// the [`Render`] of its options, however the batch is read. For a batch of clips (seeds
/// `s, s + 1, ..`) or several channels of one model. Nothing is allocated per block once the
/// first blocks have sized the buffers.
pub struct RenderBatch {
    batch: StreamBatch,
    /// Per stream, its chain and what it finished.
    finishes: Vec<Finish>,
    /// One block of model samples per stream, `[stream][BATCH_BLOCK]`.
    mono: Vec<f32>,
    /// Per stream, what the current [`RenderBatch::fill`] has written.
    done: Vec<usize>,
    rate: u32,
    channels: u16,
}

impl RenderBatch {
    fn new(batch: StreamBatch, chains: Vec<Option<FxChain>>) -> Self {
        let (rate, channels) = chains[0]
            .as_ref()
            .map_or((SAMPLE_RATE_HZ, 1), |c| (c.out_rate(), c.channels()));
        let blocks = BATCH_BLOCK / RENDER_BLOCK;
        let streams = batch.streams();
        Self {
            batch,
            finishes: chains.into_iter().map(|c| Finish::new(c, blocks)).collect(),
            mono: vec![0.0; streams * BATCH_BLOCK],
            done: vec![0; streams],
            rate,
            channels,
        }
    }

    /// Number of streams.
    pub fn streams(&self) -> usize {
        self.finishes.len()
    }

    /// Threads the model runs on (one per shard of streams).
    pub fn threads(&self) -> usize {
        self.batch.threads()
    }

    /// Samples per second per channel, every stream.
    pub fn sample_rate(&self) -> u32 {
        self.rate
    }

    /// Interleaved channels of every stream: 2 through the chains, 1 for raw streams.
    pub fn channels(&self) -> u16 {
        self.channels
    }

    /// `seconds` as a number of frames at the output rate, refusing what is not a positive,
    /// finite duration.
    pub fn frames_for(&self, seconds: f64) -> Result<usize> {
        samples_for(seconds)?;
        Ok((seconds * f64::from(self.rate)).round() as usize)
    }

    /// Stream `stream` plays other controls from its next bar line on (see
    /// [`AudioStream::set_controls`]).
    pub fn set_controls(&mut self, stream: usize, controls: Controls) -> Result<()> {
        if stream >= self.streams() {
            return Err(Error::Config {
                path: "stream".into(),
                problem: format!("no stream {stream} in a batch of {}", self.streams()),
            });
        }
        self.batch.set_controls(stream, controls)
    }

    /// Every stream follows its controls with `guidance` from its next control frame on (see
    /// [`AudioStream::set_guidance`]); one guidance for all, as the engines share it.
    pub fn set_guidance(&mut self, guidance: &Guidance) -> Result<()> {
        self.batch.set_guidance(guidance)
    }

    /// The next `outs[i].len()` interleaved samples of stream `i` into `outs[i]`, one buffer per
    /// stream, all of one length (a whole number of frames keeps the channels in place).
    pub fn fill(&mut self, outs: &mut [&mut [f32]]) {
        assert_eq!(outs.len(), self.streams(), "one buffer per stream");
        let n = outs[0].len();
        assert!(outs.iter().all(|o| o.len() == n), "buffers of one length");
        self.done.fill(0);
        loop {
            let mut short = false;
            for ((f, out), done) in self
                .finishes
                .iter_mut()
                .zip(outs.iter_mut())
                .zip(&mut self.done)
            {
                *done += f.take(&mut out[*done..]);
                short |= *done < n;
            }
            if !short {
                return;
            }
            self.refill();
        }
    }

    /// The next block of every stream: the model's samples from every shard at once, then each
    /// stream's chain, in blocks of [`RENDER_BLOCK`] as a [`Render`] feeds it.
    fn refill(&mut self) {
        self.batch.fill(&mut self.mono);
        self.finishes
            .par_iter_mut()
            .zip(self.mono.par_chunks_exact(BATCH_BLOCK))
            .for_each(|(f, mono)| {
                for block in mono.chunks_exact(RENDER_BLOCK) {
                    f.push(block);
                }
            });
    }

    /// The next `seconds` of every stream into one 16-bit WAV each, `paths[i]` for stream `i`,
    /// rendered and written chunk by chunk (never whole in memory) and atomically (all or
    /// none); `progress` hears each chunk's number of frames (per stream).
    pub fn write_wavs(
        &mut self,
        paths: &[&Path],
        seconds: f64,
        mut progress: impl FnMut(usize),
    ) -> Result<()> {
        if paths.len() != self.streams() {
            return Err(Error::Config {
                path: "paths".into(),
                problem: format!(
                    "{} files for a batch of {} streams",
                    paths.len(),
                    self.streams()
                ),
            });
        }
        let frames = self.frames_for(seconds)?;
        let (rate, channels) = (self.rate, self.channels);
        write_wav16_all_from(paths, rate, channels, frames, |parts| {
            self.fill(parts);
            progress(parts[0].len() / usize::from(channels));
        })?;
        Ok(())
    }
}
