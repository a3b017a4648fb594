//! The chain's stages as fundsp graphs, and the glue that runs them block by block.

use std::f32::consts::{FRAC_1_SQRT_2, TAU};
use std::time::{Duration, Instant};

use fundsp::prelude32::{
    An, AttoHash, AudioNode, AudioUnit, BufferArray, MAX_BUFFER_SIZE, Tanh, U0, U1, U2, clip_to,
    db_amp, dc, delay, highpass_hz, limiter_stereo, lowpass_hz, multipass, pass, reverb_stereo,
    shape, shape_fn, sine_hz, tap, white,
};

use super::FxSettings;

/// Frames per graph block: fundsp's largest block. Every stream is cut into blocks at the same
/// places, whatever the caller's block size, so the output never depends on it.
pub(super) const BLOCK: usize = MAX_BUFFER_SIZE;

/// Wow rate, Hz: a slightly eccentric capstan or platter.
const WOW_HZ: f32 = 0.55;
/// Flutter rate, Hz: capstan and pinch-roller wobble.
const FLUTTER_HZ: f32 = 6.5;
/// Delay kept below the shortest modulated delay, seconds, so the tap never reaches "now".
const WOW_MARGIN_S: f32 = 0.001;

/// Average peak level of a crackle click before its band-pass (the filter takes off about two
/// thirds), relative to full scale.
const CRACKLE_PEAK: f32 = 0.5;

/// Hiss band, Hz: tape hiss is broadband but the ear hears its upper mids.
const HISS_LOW_HZ: f32 = 400.0;
const HISS_HIGH_HZ: f32 = 7000.0;

/// Side-signal delay, seconds (Haas region: widens without an audible echo).
const SIDE_DELAY_S: f32 = 0.0121;
/// Side-signal high-pass, Hz: bass stays centred (and mono-safe on club systems).
const SIDE_HIGHPASS_HZ: f32 = 250.0;

/// A small, slightly damped room.
const ROOM_M: f32 = 6.0;
const ROOM_TIME_S: f32 = 0.7;
const ROOM_DAMPING: f32 = 0.6;

/// Limiter look-ahead (= attack) and release, seconds.
const LIMIT_ATTACK_S: f32 = 0.005;
const LIMIT_RELEASE_S: f32 = 0.15;

/// One stage: a fundsp unit with 1 or 2 inputs and outputs.
struct Stage {
    name: &'static str,
    unit: Box<dyn AudioUnit>,
    time: Duration,
}

/// The stages after resampling, run in fixed blocks of [`BLOCK`] frames.
pub(super) struct Graph {
    stages: Vec<Stage>,
    /// Ping-pong block buffers (two channels each).
    bufs: [BufferArray<U2>; 2],
    /// Frames the stages delay the signal by (wow's mean delay, the limiter's look-ahead).
    delay: usize,
    /// Output frames still to drop at the start, to undo `delay`.
    skip: usize,
    /// Whether to time each stage.
    pub(super) profiling: bool,
    /// What the graph was built from, to rebuild it.
    settings: FxSettings,
    sample_rate: u32,
    seed: u64,
}

impl Graph {
    /// The stages `settings` ask for (all already validated), at `sample_rate`, seeded.
    pub(super) fn new(settings: &FxSettings, sample_rate: u32, seed: u64) -> Graph {
        let sr = sample_rate as f32;
        let mut stages = Vec::new();
        let mut delay = 0;
        let mut add = |name: &'static str, mut unit: Box<dyn AudioUnit>| {
            unit.set_sample_rate(f64::from(sample_rate));
            // Seeded by name, so a stage's noise does not change when other stages come or go.
            unit.ping(false, AttoHash::new(stage_seed(seed, name)));
            unit.reset();
            unit.allocate();
            stages.push(Stage {
                name,
                unit,
                time: Duration::ZERO,
            });
        };
        if settings.wow_percent > 0.0 || settings.flutter_percent > 0.0 {
            let (unit, frames) = wow(settings.wow_percent, settings.flutter_percent, sr);
            add("wow", unit);
            delay += frames;
        }
        if settings.drive_db > 0.0 {
            let g = db_amp(settings.drive_db);
            // tanh(g x) / g: unity gain for small signals, peaks rounded off.
            add("saturation", Box::new(shape(Tanh(g)) * (1.0 / g)));
        }
        if let Some(unit) = tone(settings.highpass_hz, settings.lowpass_hz) {
            add("tone", unit);
        }
        if let Some(unit) = noises(settings.crackle_per_s, settings.hiss_dbfs, sr) {
            add("noise", unit);
        }
        if settings.width > 0.0 {
            add("stereo", stereo(settings.width));
        }
        if settings.reverb_mix > 0.0 {
            let wet = reverb_stereo(ROOM_M, ROOM_TIME_S, ROOM_DAMPING) * settings.reverb_mix;
            let room = multipass::<U2>() & wet;
            add("reverb", Box::new(room));
        }
        if let Some(db) = settings.ceiling_dbfs {
            let c = db_amp(db);
            // fundsp's limiter holds ±1; scale around it for the ceiling. Its follower can
            // overshoot by a hair on a sudden peak, so a clip at the ceiling backs it up.
            let limit = (multipass::<U2>() * (1.0 / c))
                >> limiter_stereo(LIMIT_ATTACK_S, LIMIT_RELEASE_S)
                >> (multipass::<U2>() * c)
                >> (clip_to(-c, c) | clip_to(-c, c));
            let mut limit: Box<dyn AudioUnit> = Box::new(limit);
            limit.set_sample_rate(f64::from(sample_rate));
            // The look-ahead as fundsp itself states it (its rounding, not ours).
            let ahead = limit.latency().unwrap_or(0.0).round() as usize;
            add("limiter", limit);
            delay += ahead;
        }
        Graph {
            stages,
            bufs: [BufferArray::new(), BufferArray::new()],
            delay,
            skip: delay,
            profiling: false,
            settings: *settings,
            sample_rate,
            seed,
        }
    }

    /// Frames the stages delay the signal by; dropped from the start of the output and pushed
    /// out with silence at the end.
    pub(super) fn delay_frames(&self) -> usize {
        self.delay
    }

    /// Back to the state just after construction (noises restart from their seeds), keeping the
    /// profile. Rebuilt rather than `reset`, because fundsp's limiter keeps its follower's
    /// state through a reset and would then start a stream slower than a fresh one.
    pub(super) fn restart(&mut self) {
        let mut fresh = Graph::new(&self.settings, self.sample_rate, self.seed);
        for (new, old) in fresh.stages.iter_mut().zip(&self.stages) {
            new.time = old.time;
        }
        fresh.profiling = self.profiling;
        *self = fresh;
    }

    /// Time spent in each stage, in chain order.
    pub(super) fn stage_times(&self) -> impl Iterator<Item = (&'static str, Duration)> + '_ {
        self.stages.iter().map(|s| (s.name, s.time))
    }

    /// Runs up to [`BLOCK`] mono frames through every stage and appends the stereo result,
    /// interleaved, to `out` (less the frames still to skip).
    pub(super) fn process_block(&mut self, input: &[f32], out: &mut Vec<f32>) {
        let n = input.len().min(BLOCK);
        if n == 0 {
            return;
        }
        let mut cur = 0;
        self.bufs[cur].channel_f32_mut(0)[..n].copy_from_slice(&input[..n]);
        let mut channels = 1;
        for stage in &mut self.stages {
            let inputs = stage.unit.inputs();
            if inputs == 2 && channels == 1 {
                // Mono into a stereo stage: both sides get the mono signal.
                let buf = &mut self.bufs[cur];
                for i in 0..n {
                    buf.set_f32(1, i, buf.at_f32(0, i));
                }
            }
            let [a, b] = &mut self.bufs;
            let (src, dst) = if cur == 0 { (a, b) } else { (b, a) };
            let outputs = stage.unit.outputs();
            let start = self.profiling.then(Instant::now);
            stage.unit.process(
                n,
                &src.buffer_ref().subset(0, inputs),
                &mut dst.buffer_mut().subset(0, outputs),
            );
            if let Some(t) = start {
                stage.time += t.elapsed();
            }
            cur = 1 - cur;
            channels = outputs;
        }
        let drop = self.skip.min(n);
        self.skip -= drop;
        let buf = &mut self.bufs[cur];
        let right = if channels == 2 { 1 } else { 0 };
        for i in drop..n {
            out.push(buf.at_f32(0, i));
            out.push(buf.at_f32(right, i));
        }
    }
}

/// A 64-bit seed for stage `name` from the chain's seed (splitmix64 finaliser over both).
fn stage_seed(seed: u64, name: &str) -> u64 {
    let mut z = name.bytes().fold(seed ^ 0x9E37_79B9_7F4A_7C15, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    });
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Wow and flutter: a delay line read at a time that two sine LFOs move. A delay moving by
/// `A sin(2 pi f t)` seconds bends pitch by at most `2 pi f A`, so each depth follows from its
/// pitch deviation. Returns the unit and its mean delay in whole frames.
fn wow(wow_percent: f32, flutter_percent: f32, sr: f32) -> (Box<dyn AudioUnit>, usize) {
    let a_wow = wow_percent / 100.0 / (TAU * WOW_HZ);
    let a_flutter = flutter_percent / 100.0 / (TAU * FLUTTER_HZ);
    let swing = a_wow + a_flutter;
    // A whole number of frames, so the chain can take it back out exactly.
    let frames = ((swing + WOW_MARGIN_S) * sr).ceil() as usize;
    let mean = frames as f32 / sr;
    let lfo = dc(mean) + sine_hz(WOW_HZ) * a_wow + sine_hz(FLUTTER_HZ) * a_flutter;
    let unit = (pass() | lfo) >> tap(mean - swing, mean + swing);
    (Box::new(unit), frames)
}

/// High-pass and low-pass (both 2nd-order Butterworth), either or both; `None` when neither.
fn tone(highpass: Option<f32>, lowpass: Option<f32>) -> Option<Box<dyn AudioUnit>> {
    let q = FRAC_1_SQRT_2;
    Some(match (highpass, lowpass) {
        (Some(h), Some(l)) => Box::new(highpass_hz(h, q) >> lowpass_hz(l, q)),
        (Some(h), None) => Box::new(highpass_hz(h, q)),
        (None, Some(l)) => Box::new(lowpass_hz(l, q)),
        (None, None) => return None,
    })
}

/// Crackle and hiss added to the signal; `None` when both are off.
fn noises(crackle_per_s: f32, hiss_dbfs: Option<f32>, sr: f32) -> Option<Box<dyn AudioUnit>> {
    fn added(
        source: An<impl AudioNode<Inputs = U0, Outputs = U1> + 'static>,
    ) -> Box<dyn AudioUnit> {
        Box::new(pass() + source)
    }
    let crackle = (crackle_per_s > 0.0).then(|| crackle(crackle_per_s, sr));
    let hiss = hiss_dbfs.map(|db| hiss(db, sr));
    Some(match (crackle, hiss) {
        (Some(c), Some(h)) => added(c + h),
        (Some(c), None) => added(c),
        (None, Some(h)) => added(h),
        (None, None) => return None,
    })
}

/// Sparse clicks: white noise in [-1, 1] exceeds `1 - p` in magnitude with probability `p`, so
/// keeping only those samples gives `p * sr` clicks per second, each with a random size and
/// sign; a band-pass rounds them into the short ticks of dust on a record.
fn crackle(per_s: f32, sr: f32) -> An<impl AudioNode<Inputs = U0, Outputs = U1>> {
    let q = FRAC_1_SQRT_2;
    white() >> clicks(per_s, sr) >> highpass_hz(300.0, q) >> lowpass_hz((0.4 * sr).min(6000.0), q)
}

/// The shaper that turns white noise into `per_s` clicks per second (see [`crackle`]).
fn clicks(per_s: f32, sr: f32) -> An<impl AudioNode<Inputs = U1, Outputs = U1>> {
    let p = (per_s / sr).min(1.0);
    let threshold = 1.0 - p;
    shape_fn(move |x: f32| {
        let over = x.abs() - threshold;
        if over > 0.0 {
            (2.0 * CRACKLE_PEAK * over / p).copysign(x)
        } else {
            0.0
        }
    })
}

/// Band-limited white noise at about `dbfs` RMS. Uniform noise in [-1, 1] has power 1/3; the
/// band keeps the share of it between the corners (a 2nd-order low-pass passes noise as if it
/// were a brick wall 11 % above its corner).
fn hiss(dbfs: f32, sr: f32) -> An<impl AudioNode<Inputs = U0, Outputs = U1>> {
    let high = HISS_HIGH_HZ.min(0.4 * sr);
    let band = ((1.11 * high - HISS_LOW_HZ) / (0.5 * sr)).clamp(1e-3, 1.0);
    let rms = (band / 3.0).sqrt();
    let q = FRAC_1_SQRT_2;
    let gain = db_amp(dbfs) / rms;
    white() >> highpass_hz(HISS_LOW_HZ, q) >> (lowpass_hz(high, q) * gain)
}

/// Mid/side width from a mono signal: the side is the mid delayed a little and high-passed, at
/// up to half its level; L = M + S and R = M - S, so (L + R) / 2 is the mid itself.
fn stereo(width: f32) -> Box<dyn AudioUnit> {
    let side =
        delay(SIDE_DELAY_S) >> (highpass_hz(SIDE_HIGHPASS_HZ, FRAC_1_SQRT_2) * (0.5 * width));
    let to_lr = (pass() + pass()) ^ (pass() - pass());
    Box::new((pass() ^ side) >> to_lr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_seeds_differ_by_seed_and_by_name() {
        assert_ne!(stage_seed(1, "noise"), stage_seed(2, "noise"));
        assert_ne!(stage_seed(1, "noise"), stage_seed(1, "wow"));
        assert_eq!(stage_seed(5, "wow"), stage_seed(5, "wow"));
    }

    #[test]
    fn the_crackle_rate_is_as_asked_and_clicks_stay_below_full_scale() {
        let sr = 44_100.0;
        let n = 10 * 44_100;
        let mut raw = white() >> clicks(20.0, sr);
        raw.ping(false, AttoHash::new(3));
        let count = (0..n).filter(|_| raw.get_mono() != 0.0).count();
        // Poisson with mean 200: 150..=250 is five standard deviations either side.
        assert!((150..=250).contains(&count), "{count} clicks in 10 s");
        let mut c = crackle(20.0, sr);
        c.ping(false, AttoHash::new(3));
        let peak = (0..n).fold(0.0f32, |m, _| m.max(c.get_mono().abs()));
        assert!(peak > 0.01 && peak < 0.5, "crackle peak {peak}");
    }
}
