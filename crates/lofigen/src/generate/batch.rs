//! Several streams of one model at once, spread over the cores: a [`StreamBatch`] splits its
//! streams into one shard per thread; each [`Shard`] is a single-threaded engine stepping its
//! share of the streams together (so each weight it reads serves all of them), for a whole
//! block of samples, and the shards join once per block. One fork per block of thousands of
//! samples costs nothing; the alternative, splitting each product of one engine across threads,
//! forks per layer and sample and costs more than the work at these sizes.
//!
//! A shard of one stream is what an [`AudioStream`](super::AudioStream) runs, and the engine's
//! outputs for a stream do not depend on the other streams it steps with (see
//! [`super::kernel`]), so every stream of a batch is the same bits as the same stream generated
//! alone: same prompt, sampler seed, controls and genre.

use super::WaveNetEngine;
use super::{ControlFeed, Engine, FrameSource, GenerateOptions, PaperEngine, Sampler};
use crate::controls::{Controls, Guidance};
use crate::error::{Error, Result};
use crate::model::Model;

/// Streams that one engine steps together, on the thread that calls [`Shard::fill`].
pub(super) struct Shard {
    lanes: Lanes,
}

// One per shard, built once and never moved in a loop: the samplers' vector making one variant
// larger costs nothing.
#[allow(clippy::large_enum_variant)]
enum Lanes {
    /// A regressing model: the next sample is the prediction, clamped to [-1, 1].
    Paper {
        engine: PaperEngine,
        /// Each stream's prediction, and the clamped inputs of the next step.
        next: Vec<f32>,
        input: Vec<f32>,
    },
    /// A classifying model: each stream's next class is drawn from its logits.
    WaveNet {
        engine: WaveNetEngine,
        samplers: Vec<Sampler>,
        next: Vec<usize>,
        /// One feed per stream for a model with controls; none for a model without.
        controls: Vec<ControlFeed>,
    },
}

impl Shard {
    /// Stream `s` continues `prompts[s]` (at least one sample) with `opts[s]`'s sampling, genre
    /// and controls; the shard's engine splits its products over `threads` threads (`None`:
    /// the engine's default, every core). The options share one precision and one guidance
    /// (the engine's, for all its streams).
    pub(super) fn new(
        model: &Model,
        prompts: &[&[f32]],
        opts: &[&GenerateOptions],
        threads: Option<usize>,
    ) -> Self {
        let k = prompts.len();
        assert!(k >= 1, "a shard has at least one stream");
        assert_eq!(opts.len(), k, "one set of options per stream");
        assert!(
            prompts.iter().all(|p| !p.is_empty()),
            "a stream continues a non-empty seed"
        );
        let precision = opts[0].precision;
        assert!(
            opts.iter().all(|o| o.precision == precision),
            "the streams of one engine share its precision"
        );
        let lanes = match model {
            Model::Paper(m) => {
                let mut engine = PaperEngine::new(m, k, precision);
                if let Some(t) = threads {
                    engine = engine.with_threads(t);
                }
                let rf = engine.receptive_field();
                let histories: Vec<Vec<f32>> =
                    prompts.iter().map(|p| tail(p, rf).to_vec()).collect();
                let next = prime(&mut engine, &histories, |_, _| {});
                Lanes::Paper {
                    engine,
                    next,
                    input: vec![0.0; k],
                }
            }
            Model::WaveNet(m) => {
                let guidance = opts[0].guidance;
                assert!(
                    opts.iter().all(|o| o.guidance == guidance),
                    "the streams of one engine share its guidance"
                );
                let mut engine = WaveNetEngine::new(m, k, precision);
                if let Some(t) = threads {
                    engine = engine.with_threads(t);
                }
                engine.set_guidance(&guidance);
                for (s, o) in opts.iter().enumerate() {
                    engine.set_genre(s, o.genre);
                }
                let (dims, hop) = (engine.control_dims(), engine.control_hop());
                // A model with controls and none given hears "no control" frames, not no
                // frames at all.
                let mut controls: Vec<ControlFeed> = if dims > 0 {
                    opts.iter()
                        .map(|o| ControlFeed::new(o.controls.as_ref(), hop, dims))
                        .collect()
                } else {
                    Vec::new()
                };
                let q = m.classes;
                let mut samplers: Vec<Sampler> = opts
                    .iter()
                    .map(|o| Sampler::new(o.sampling.clone(), q))
                    .collect();
                // Only the receptive field's worth of a prompt can reach the first sample.
                let rf = engine.receptive_field();
                let histories: Vec<Vec<usize>> = prompts
                    .iter()
                    .map(|p| {
                        tail(p, rf)
                            .iter()
                            .map(|&x| lofigen_audio::mulaw::encode(x, q))
                            .collect()
                    })
                    .collect();
                let logits = prime(&mut engine, &histories, |engine, s| {
                    if let Some(f) = controls.get_mut(s) {
                        f.before_step(engine, s);
                    }
                });
                let next = samplers
                    .iter_mut()
                    .zip(logits.chunks_exact(q))
                    .map(|(sampler, l)| sampler.sample(l))
                    .collect();
                Lanes::WaveNet {
                    engine,
                    samplers,
                    next,
                    controls,
                }
            }
        };
        Self { lanes }
    }

    /// Number of streams.
    pub(super) fn streams(&self) -> usize {
        match &self.lanes {
            Lanes::Paper { next, .. } => next.len(),
            Lanes::WaveNet { next, .. } => next.len(),
        }
    }

    /// The next `n` samples of every stream, stream-major: stream `s`'s at
    /// `out[s * n..(s + 1) * n]`, where `n = out.len() / streams`. Allocates nothing.
    pub(super) fn fill(&mut self, out: &mut [f32]) {
        let k = self.streams();
        assert_eq!(out.len() % k, 0, "a whole number of samples per stream");
        let n = out.len() / k;
        match &mut self.lanes {
            Lanes::Paper {
                engine,
                next,
                input,
            } => {
                for t in 0..n {
                    for (s, (x, p)) in input.iter_mut().zip(next.iter()).enumerate() {
                        *x = p.clamp(-1.0, 1.0);
                        out[s * n + t] = *x;
                    }
                    next.copy_from_slice(engine.step(input));
                }
            }
            Lanes::WaveNet {
                engine,
                samplers,
                next,
                controls,
            } => {
                let q = engine.classes();
                for t in 0..n {
                    for (s, &c) in next.iter().enumerate() {
                        out[s * n + t] = lofigen_audio::mulaw::decode(c, q);
                    }
                    for (s, f) in controls.iter_mut().enumerate() {
                        f.before_step(engine, s);
                    }
                    let logits = engine.step(next);
                    for ((c, sampler), l) in next
                        .iter_mut()
                        .zip(samplers.iter_mut())
                        .zip(logits.chunks_exact(q))
                    {
                        *c = sampler.sample(l);
                    }
                }
            }
        }
    }

    /// Stream `stream` plays `controls` from its next bar line on (one that follows a track, or
    /// a model without controls, ignores them). Bad values are an error that names them.
    pub(super) fn set_controls(&mut self, stream: usize, controls: Controls) -> Result<()> {
        assert!(
            stream < self.streams(),
            "stream {stream} of {}",
            self.streams()
        );
        controls.validate().map_err(|e| Error::Config {
            path: "controls".into(),
            problem: e.to_string(),
        })?;
        if let Lanes::WaveNet {
            controls: feeds, ..
        } = &mut self.lanes
            && let Some(feed) = feeds.get_mut(stream)
            && let FrameSource::Live(c) = &mut feed.source
        {
            c.set(controls).expect("validated above");
        }
        Ok(())
    }

    /// Every stream follows its controls with `guidance` from its next control frame on (the
    /// engine's, for all its streams); ignored by a model without controls. Bad strengths are
    /// an error that names them.
    pub(super) fn set_guidance(&mut self, guidance: &Guidance) -> Result<()> {
        guidance.validate().map_err(|e| Error::Config {
            path: "guidance".into(),
            problem: e.to_string(),
        })?;
        if let Lanes::WaveNet { engine, .. } = &mut self.lanes {
            engine.set_guidance(guidance);
        }
        Ok(())
    }

    /// Whether the streams play controls (a model with controls).
    pub(super) fn has_controls(&self) -> bool {
        matches!(&self.lanes, Lanes::WaveNet { controls, .. } if !controls.is_empty())
    }
}

/// The last `n` samples of `x` (all of it when shorter).
fn tail(x: &[f32], n: usize) -> &[f32] {
    &x[x.len().saturating_sub(n)..]
}

/// Feed each stream its history, right-aligned, so that every stream takes its last sample in
/// the last step: a shorter history starts later, from its stream's reset state, and every
/// stream ends in the state it would reach in an engine of its own. `before(engine, s)` runs
/// before each step that takes one of stream `s`'s samples. Returns the last step's outputs.
fn prime<E: Engine>(
    engine: &mut E,
    histories: &[Vec<E::Input>],
    mut before: impl FnMut(&mut E, usize),
) -> Vec<f32> {
    let longest = histories.iter().map(Vec::len).max().unwrap_or(0);
    let mut input = vec![E::Input::default(); histories.len()];
    let mut last = Vec::new();
    for t in 0..longest {
        for (s, h) in histories.iter().enumerate() {
            let start = longest - h.len();
            if t < start {
                // Not started: fed anything, and reset when it starts.
                continue;
            }
            if t == start && t > 0 {
                engine.reset_stream(s);
            }
            input[s] = h[t - start];
            before(engine, s);
        }
        let out = engine.step(&input);
        if t + 1 == longest {
            last = out.to_vec();
        }
    }
    last
}

/// Many endless streams of one model generated together, read in blocks: the streams split
/// into one shard per thread (at most one per stream), each a single-threaded engine over its
/// share, all running in parallel for the block and joined once at its end. Each stream's
/// samples are the same bits as an [`AudioStream`](super::AudioStream) with the same prompt and
/// options, whatever the number of streams and threads, and whatever the block sizes.
///
/// For a batch render (clips with seeds `s, s + 1, ..`) or several radio channels from one
/// model; the runtime's [`RenderBatch`](crate::runtime::RenderBatch) finishes each stream
/// through its own effects chain.
pub struct StreamBatch {
    shards: Vec<Shard>,
    streams: usize,
}

impl StreamBatch {
    /// `prompts.len()` streams (at least one): stream `s` continues `prompts[s]` (at least one
    /// sample) with `opts[s]` (`seconds` is not used), spread over `threads` threads (at least
    /// one; more than the streams leaves the rest idle). The options share one precision, and
    /// for a WaveNet one guidance: every stream's engine is the same. The shards are primed in
    /// parallel.
    ///
    /// # Panics
    /// On counts or options that break the rules above (the runtime checks what users give).
    pub fn new(
        model: &Model,
        prompts: &[&[f32]],
        opts: &[GenerateOptions],
        threads: usize,
    ) -> Self {
        let streams = prompts.len();
        assert!(streams >= 1, "a batch has at least one stream");
        assert!(threads >= 1, "a batch runs on at least one thread");
        assert_eq!(opts.len(), streams, "one set of options per stream");
        let opts: Vec<&GenerateOptions> = opts.iter().collect();
        // Even shards: a join waits for the slowest.
        let n = threads.min(streams);
        let bounds: Vec<usize> = (0..=n).map(|i| i * streams / n).collect();
        let build = |i: usize| {
            let r = bounds[i]..bounds[i + 1];
            Shard::new(model, &prompts[r.clone()], &opts[r], Some(1))
        };
        let shards = if n == 1 {
            vec![build(0)]
        } else {
            use rayon::prelude::*;
            (0..n).into_par_iter().map(build).collect()
        };
        Self { shards, streams }
    }

    /// Number of streams.
    pub fn streams(&self) -> usize {
        self.streams
    }

    /// Number of shards: the threads the batch runs on.
    pub fn threads(&self) -> usize {
        self.shards.len()
    }

    /// The next `n` samples of every stream, stream-major: stream `s`'s at
    /// `out[s * n..(s + 1) * n]`, where `n = out.len() / streams` (any `n`: a stream's samples do
    /// not depend on how it is read). One fork and join for the whole block; the engines'
    /// steps allocate nothing.
    pub fn fill(&mut self, out: &mut [f32]) {
        assert_eq!(
            out.len() % self.streams,
            0,
            "a whole number of samples per stream"
        );
        let n = out.len() / self.streams;
        fill_shards(&mut self.shards, out, n);
    }

    /// Stream `stream` plays other controls from its next bar line on (see
    /// [`AudioStream::set_controls`](super::AudioStream::set_controls)).
    pub fn set_controls(&mut self, stream: usize, controls: Controls) -> Result<()> {
        assert!(stream < self.streams, "stream {stream} of {}", self.streams);
        let mut first = 0;
        for shard in &mut self.shards {
            let k = shard.streams();
            if stream < first + k {
                return shard.set_controls(stream - first, controls);
            }
            first += k;
        }
        unreachable!("the shards hold every stream")
    }

    /// Every stream follows its controls with `guidance` from its next control frame on (see
    /// [`AudioStream::set_guidance`](super::AudioStream::set_guidance)). One guidance for all:
    /// it is a setting of each shard's engine.
    pub fn set_guidance(&mut self, guidance: &Guidance) -> Result<()> {
        for shard in &mut self.shards {
            shard.set_guidance(guidance)?;
        }
        Ok(())
    }

    /// Whether the streams play controls (a model with controls).
    pub fn has_controls(&self) -> bool {
        self.shards[0].has_controls()
    }
}

/// Run every shard on its part of `out` (`n` samples per stream), in parallel: halves by
/// `rayon::join`, which needs no allocation.
fn fill_shards(shards: &mut [Shard], out: &mut [f32], n: usize) {
    match shards {
        [] => {}
        [one] => one.fill(out),
        _ => {
            let (a, b) = shards.split_at_mut(shards.len() / 2);
            let split = a.iter().map(Shard::streams).sum::<usize>() * n;
            let (out_a, out_b) = out.split_at_mut(split);
            rayon::join(|| fill_shards(a, out_a, n), || fill_shards(b, out_b, n));
        }
    }
}
