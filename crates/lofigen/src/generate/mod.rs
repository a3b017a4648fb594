//! Autoregressive generation: the cached [`paper::PaperEngine`] (default) and the straightforward
//! generator kept as its oracle.
//!
//! Both feed each prediction back as the next input, clamped to [-1, 1] (the waveform's range;
//! without it a regression model's feedback can run away to infinity).

mod batch;
pub mod engine;
pub mod kernel;
pub mod oracle;
pub mod paper;
mod pool;
pub mod sampler;
pub mod wavenet;

use std::io::Write;
use std::path::Path;

use lofigen_audio::{Clip, WavStream, write_wav16_from};

use crate::config::{RunConfig, SAMPLE_RATE_HZ};
pub use crate::controls::{Conductor, Controls, Guidance, Score};
use crate::corpus::Track;
use crate::data::{Split, split_tracks};
use crate::error::{Error, Result};
use crate::model::{Model, ModelConfig};
use batch::Shard;
pub use batch::StreamBatch;
pub use engine::Engine;
pub use kernel::{KernelPath, Precision};
pub use paper::PaperEngine;
pub use sampler::{Sampler, Sampling};
pub use wavenet::WaveNetEngine;

/// Generate `samples` new samples per stream with the cached engine, each stream continuing
/// its own seed (all seeds of equal length, at least one sample).
pub fn engine_generate(
    engine: &mut PaperEngine,
    seeds: &[&[f32]],
    samples: usize,
) -> Vec<Vec<f32>> {
    let b = engine.streams();
    assert_eq!(seeds.len(), b, "one seed per stream");
    engine.reset();
    let mut next = vec![0.0; b];
    engine.prefill(seeds, &mut next);
    let mut outs = vec![Vec::with_capacity(samples); b];
    let mut input = vec![0.0; b];
    for _ in 0..samples {
        for s in 0..b {
            input[s] = next[s].clamp(-1.0, 1.0);
            outs[s].push(input[s]);
        }
        next.copy_from_slice(engine.step(&input));
    }
    outs
}

/// Where the seed clip comes from.
#[derive(Clone, Debug)]
pub enum Prompt {
    /// A user's audio (already 8 kHz mono).
    Clip(Clip),
    /// The first window of the test split of the run's training data (what the paper did).
    TestSplit(Vec<Track>),
}

/// The seed samples to continue.
pub fn prompt_samples(config: &RunConfig, seed: &Prompt) -> Result<Vec<f32>> {
    match seed {
        Prompt::Clip(c) if c.is_empty() => Err(Error::Corpus {
            path: "prompt audio".into(),
            problem: "is empty".into(),
        }),
        // At the level the model trained on: a quiet seed would otherwise start it off in a
        // corner of the mu-law range it rarely saw.
        Prompt::Clip(c) if config.data.normalize_loudness => {
            Ok(crate::data::normalize_loudness(c).samples)
        }
        Prompt::Clip(c) => Ok(c.samples.clone()),
        Prompt::TestSplit(tracks) => {
            let splits = split_tracks(tracks, &config.data)?;
            let w = config.data.window_samples;
            let clip = splits
                .get(Split::Test)
                .iter()
                .find(|c| c.len() >= w)
                .expect("split_tracks guarantees a full window in the test split");
            Ok(clip.samples[..w].to_vec())
        }
    }
}

/// How to generate, beyond the model and the seed.
#[derive(Clone, Debug, Default)]
pub struct GenerateOptions {
    /// Seconds of new audio.
    pub seconds: f64,
    /// Weight precision of the engine.
    pub precision: Precision,
    /// How a classifying model's next class is drawn (ignored by regressing models).
    pub sampling: Sampling,
    /// Genre index for a conditioned model (see [`genre_index`]).
    pub genre: usize,
    /// What a model with controls plays (ignored by one without; `None` gives it no control).
    /// Controls must pass [`Controls::validate`] (the runtime's [`crate::runtime::Generator`]
    /// checks what users give).
    pub controls: Option<ControlSource>,
    /// How strongly a model with controls follows them (default: as trained).
    pub guidance: Guidance,
}

/// Where a stream's control frames come from.
#[derive(Clone, Debug)]
pub enum ControlSource {
    /// The user's (or the style's) tempo, chords, groove and swing, played bar after bar;
    /// they can change while the stream plays ([`AudioStream::set_controls`]).
    Play(Controls),
    /// The score of a real track (its beats, chords and loudness over time), looped.
    Follow(Score),
}

/// The control frames a stream plays, one frame ahead of its samples: the engine's control
/// network sees the previous, the current and the next frame. `lofigen bench` drives the
/// engine through it too, so what it times is what a stream does.
pub struct ControlFeed {
    source: FrameSource,
    hop: usize,
    dims: usize,
    /// The previous, current and next frame.
    window: Vec<f32>,
    /// Input samples fed so far.
    t: usize,
    scratch: Vec<f32>,
}

enum FrameSource {
    Live(Box<Conductor>),
    Fixed { frames: Vec<f32>, at: usize },
}

impl ControlFeed {
    /// The feed of `source`; `None` plays "no control" frames (zeros, as when training drops
    /// every group).
    pub fn new(source: Option<&ControlSource>, hop: usize, dims: usize) -> Self {
        let source = match source {
            None => FrameSource::Fixed {
                frames: vec![0.0; dims],
                at: 0,
            },
            Some(ControlSource::Play(c)) => FrameSource::Live(Box::new(
                Conductor::new(c.clone(), SAMPLE_RATE_HZ, hop)
                    .expect("controls are checked by Controls::validate before they play"),
            )),
            Some(ControlSource::Follow(score)) => {
                let mut frames = Vec::new();
                score.render(SAMPLE_RATE_HZ, hop, &mut frames);
                if frames.is_empty() {
                    frames = vec![0.0; dims];
                }
                FrameSource::Fixed { frames, at: 0 }
            }
        };
        let mut feed = Self {
            source,
            hop,
            dims,
            window: vec![0.0; 3 * dims],
            t: 0,
            scratch: Vec::with_capacity(dims),
        };
        // Before the first sample: no previous frame (zeros, as the training padding), the
        // first frame, and the next.
        for k in 1..3 {
            feed.pull(k);
        }
        feed
    }

    /// The next frame into slot `k` of the window.
    fn pull(&mut self, k: usize) {
        let d = self.dims;
        let slot = &mut self.window[k * d..(k + 1) * d];
        match &mut self.source {
            FrameSource::Live(c) => {
                self.scratch.clear();
                c.next_frames(1, &mut self.scratch);
                slot.copy_from_slice(&self.scratch[..d]);
            }
            FrameSource::Fixed { frames, at } => {
                if *at + d > frames.len() {
                    *at = 0;
                }
                slot.copy_from_slice(&frames[*at..*at + d]);
                *at += d;
            }
        }
    }

    /// Before the engine takes stream `stream`'s input sample `t`: a new frame every `hop`
    /// samples.
    pub fn before_step(&mut self, engine: &mut WaveNetEngine, stream: usize) {
        if self.t.is_multiple_of(self.hop) {
            if self.t > 0 {
                self.window.copy_within(self.dims.., 0);
                self.pull(2);
            }
            engine.set_controls(stream, &self.window);
        }
        self.t += 1;
    }
}

/// The index of genre `name` among the model's genres; `None` picks `lofi` if the model knows
/// it, else its first genre. An unconditioned model accepts no genre.
pub fn genre_index(model: &ModelConfig, name: Option<&str>) -> Result<usize> {
    let genres = model.genres();
    let bad = |problem: String| Error::Config {
        path: "--genre".into(),
        problem,
    };
    match name {
        None => Ok(genres.iter().position(|g| g == "lofi").unwrap_or(0)),
        Some(_) if genres.is_empty() => Err(bad(
            "this model was trained without genre conditioning; leave --genre out".into(),
        )),
        Some(n) => genres.iter().position(|g| g == n).ok_or_else(|| {
            bad(format!(
                "`{n}` is not one of the model's genres: {}",
                genres.join(", ")
            ))
        }),
    }
}

/// Generate `samples` classes per stream with the WaveNet engine and `samplers` (one per
/// stream), each stream continuing its own seed classes (equal lengths, at least one).
pub fn wavenet_generate(
    engine: &mut WaveNetEngine,
    samplers: &mut [Sampler],
    seeds: &[&[usize]],
    samples: usize,
) -> Vec<Vec<usize>> {
    let b = engine.streams();
    assert_eq!(seeds.len(), b, "one seed per stream");
    assert_eq!(samplers.len(), b, "one sampler per stream");
    let q = engine.classes();
    engine.reset();
    let len = seeds[0].len();
    assert!(
        len >= 1 && seeds.iter().all(|s| s.len() == len),
        "equal, non-empty seeds"
    );
    let from = len.saturating_sub(engine.receptive_field());
    let mut input = vec![0usize; b];
    let mut outs = vec![Vec::with_capacity(samples); b];
    for t in from..len {
        for (st, seed) in seeds.iter().enumerate() {
            input[st] = seed[t];
        }
        let logits = engine.step(&input);
        if t + 1 == len {
            for st in 0..b {
                input[st] = samplers[st].sample(&logits[st * q..(st + 1) * q]);
            }
        }
    }
    for n in 0..samples {
        for st in 0..b {
            outs[st].push(input[st]);
        }
        if n + 1 == samples {
            break;
        }
        let logits = engine.step(&input);
        for st in 0..b {
            input[st] = samplers[st].sample(&logits[st * q..(st + 1) * q]);
        }
    }
    outs
}

/// Generate `opts.seconds` of audio from a trained model, continuing `seed`: an
/// [`AudioStream`] read for that long.
pub fn generate(model: &Model, seed: &[f32], opts: &GenerateOptions) -> Clip {
    let samples = (opts.seconds * f64::from(SAMPLE_RATE_HZ)).round() as usize;
    let mut out = vec![0.0; samples];
    AudioStream::new(model, seed, opts).fill(&mut out);
    Clip::new(out, SAMPLE_RATE_HZ)
}

/// Endless audio from a trained model: the cached engine fed its own output, continuing a
/// seed, read in chunks of any size. The samples do not depend on how it is chunked, nor on
/// whether the stream runs alone or in a [`StreamBatch`] (it is a batch's shard of one).
pub struct AudioStream {
    shard: Shard,
}

impl AudioStream {
    /// Prime the engine with `seed` (at least one sample). `opts.seconds` is not used: the
    /// stream has no end. The engine splits its products over every core (rayon's count).
    pub fn new(model: &Model, seed: &[f32], opts: &GenerateOptions) -> Self {
        Self {
            shard: Shard::new(model, &[seed], &[opts], None),
        }
    }

    /// The next `samples` samples into a 16-bit WAV at `path`, generated and written block by
    /// block (never whole in memory) and atomically; `progress` hears each block's length.
    pub fn write_wav(
        &mut self,
        path: &Path,
        samples: usize,
        mut progress: impl FnMut(usize),
    ) -> Result<()> {
        write_wav16_from(path, SAMPLE_RATE_HZ, samples, |part| {
            self.fill(part);
            progress(part.len());
        })?;
        Ok(())
    }

    /// A WAV stream into `out` (a pipe): the next `samples` samples, or endless with `None`. A
    /// reader that goes away (a broken pipe) ends it without an error: that is how an endless
    /// stream stops.
    pub fn pipe_wav(&mut self, out: impl Write, samples: Option<usize>) -> std::io::Result<()> {
        let frames = samples.map(|n| u32::try_from(n).unwrap_or(u32::MAX));
        let broken = |e: &std::io::Error| e.kind() == std::io::ErrorKind::BrokenPipe;
        let mut wav = match WavStream::new(out, SAMPLE_RATE_HZ, frames) {
            Err(e) if broken(&e) => return Ok(()),
            other => other?,
        };
        // A tenth of a second per block: a player hears the stream start at once.
        let mut buf = vec![0.0; SAMPLE_RATE_HZ as usize / 10];
        let mut left = samples;
        while left != Some(0) {
            let n = left.map_or(buf.len(), |l| l.min(buf.len()));
            self.fill(&mut buf[..n]);
            match wav.write(&buf[..n]) {
                Err(e) if broken(&e) => return Ok(()),
                other => other?,
            }
            left = left.map(|l| l - n);
        }
        Ok(())
    }

    /// Write the next `out.len()` samples.
    pub fn fill(&mut self, out: &mut [f32]) {
        self.shard.fill(out);
    }

    /// Play other controls from the next bar line on (a stream that follows a track, or that
    /// plays for a model without controls, ignores them). Bad values are an error that names
    /// them, and the stream plays on as before.
    pub fn set_controls(&mut self, controls: Controls) -> Result<()> {
        self.shard.set_controls(0, controls)
    }

    /// Follow the controls with `guidance` from the next control frame on (see [`Guidance`]);
    /// ignored by a model without controls.
    pub fn set_guidance(&mut self, guidance: &Guidance) -> Result<()> {
        self.shard.set_guidance(guidance)
    }

    /// Whether the stream plays controls (a model with controls).
    pub fn has_controls(&self) -> bool {
        self.shard.has_controls()
    }
}
