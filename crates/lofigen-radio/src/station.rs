//! The station: one generator thread renders the finished sound and encodes it once; a pacer
//! puts it on the air at real time; listeners tune in to the air (a broadcast ring), each at
//! its own pace, and are dropped when they fall a bounded backlog behind.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc as std_mpsc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use lofigen::runtime::{
    ControlSource, Controls, FxPreset, Generator, Guidance, MusicRequest, Render, StreamOptions,
};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::RadioError;
use crate::encode::{Mp3Encoder, to_pcm16};

/// One block of the stream, encoded both ways.
pub(crate) struct Chunk {
    /// Position on the air, from 0.
    pub(crate) seq: u64,
    /// Whole MP3 frames (may be empty: LAME holds a few frames back at the start).
    pub(crate) mp3: Bytes,
    /// Interleaved 16-bit little-endian PCM.
    pub(crate) pcm: Bytes,
}

/// What a station plays and how it is paced.
#[derive(Clone, Debug)]
pub struct StationConfig {
    /// MP3 bit rate, kbit/s.
    pub bitrate_kbps: u32,
    /// Length of one block of the stream (what is rendered, encoded and sent at once).
    pub block: Duration,
    /// How far the generator may run ahead of the air: the buffer that absorbs its hiccups,
    /// and the delay before a control change is heard.
    pub ahead: Duration,
    /// Audio a new listener gets at once, so that its player starts without waiting.
    pub burst: Duration,
    /// How far a listener may fall behind the air before it is dropped.
    pub backlog: Duration,
}

impl Default for StationConfig {
    fn default() -> Self {
        Self {
            bitrate_kbps: 128,
            block: Duration::from_millis(100),
            ahead: Duration::from_secs(2),
            burst: Duration::from_secs(1),
            backlog: Duration::from_secs(8),
        }
    }
}

/// The controls now in force, as `/status` and `/control` report them.
#[derive(Clone, Debug, Serialize)]
pub struct NowPlaying {
    /// The effects preset.
    pub fx: String,
    /// Whether the model takes musical controls (tempo, chords, swing, groove).
    pub music_controls: bool,
    /// Tempo in force, BPM (none for a model without controls).
    pub bpm: Option<f64>,
    /// Chords in force, one per bar.
    pub chords: Option<String>,
    /// Swing in force.
    pub swing: Option<f32>,
    /// Groove in force, as a pattern.
    pub groove: Option<String>,
    /// How strongly the model follows them (see `lofigen --help`'s `--guidance`).
    pub guidance: Option<String>,
}

impl NowPlaying {
    /// Records the musical controls `c` as in force.
    fn play(&mut self, c: &Controls) {
        let chords: Vec<String> = c.chords.iter().map(ToString::to_string).collect();
        self.bpm = Some(c.bpm);
        self.chords = (!chords.is_empty()).then(|| chords.join(" "));
        self.swing = Some(c.swing);
        self.groove = Some(c.groove.to_string());
    }
}

/// A change asked through `/control`, already parsed.
#[derive(Clone, Debug, Default)]
pub struct ControlRequest {
    /// A new effects preset.
    pub fx: Option<FxPreset>,
    /// Tempo, BPM.
    pub bpm: Option<f64>,
    /// Chords, one per bar.
    pub chords: Option<String>,
    /// Swing of the off 16ths.
    pub swing: Option<f32>,
    /// A groove's name or pattern.
    pub groove: Option<String>,
    /// How strongly the model follows its controls.
    pub guidance: Option<Guidance>,
}

impl ControlRequest {
    /// Whether it asks for musical controls (not only effects).
    pub fn asks_music(&self) -> bool {
        self.bpm.is_some()
            || self.chords.is_some()
            || self.swing.is_some()
            || self.groove.is_some()
            || self.guidance.is_some()
    }
}

/// Why a control change was refused: the HTTP status it maps to and a message.
#[derive(Debug)]
pub struct Refusal {
    /// 400 for a bad value, 501 for what this build cannot do yet, 503 when the radio stops.
    pub status: u16,
    /// What was wrong, naming the value.
    pub message: String,
}

pub(crate) enum Command {
    Set(ControlRequest, oneshot::Sender<Result<NowPlaying, Refusal>>),
}

/// Counters of the station, read by `/status` and `/metrics`.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) generated_blocks: AtomicU64,
    pub(crate) published_blocks: AtomicU64,
    /// Wall time the generator thread spent rendering and encoding, ns.
    pub(crate) busy_ns: AtomicU64,
    pub(crate) underruns: AtomicU64,
    pub(crate) listeners: AtomicUsize,
    pub(crate) listeners_total: AtomicU64,
    pub(crate) dropped_slow: AtomicU64,
    pub(crate) sent_mp3: AtomicU64,
    pub(crate) sent_wav: AtomicU64,
}

/// What is on the air: the recent chunks a new listener starts with, and the ring listeners
/// read from. One lock, so that a listener's start joins the ring without a gap or a repeat.
struct Air {
    recent: VecDeque<Arc<Chunk>>,
    tx: Option<broadcast::Sender<Arc<Chunk>>>,
}

/// The station every request handler shares.
pub struct Station {
    air: Mutex<Air>,
    pub(crate) counters: Counters,
    commands: Mutex<std_mpsc::Sender<Command>>,
    now: Mutex<NowPlaying>,
    pub(crate) config: StationConfig,
    pub(crate) started: Instant,
    pub(crate) model: String,
    pub(crate) attribution: Option<&'static str>,
    pub(crate) sample_rate: u32,
    pub(crate) channels: u16,
    frames_per_block: usize,
}

/// A listener's place on the air: the chunks it starts with, then the ring.
pub(crate) struct Tuned {
    pub(crate) burst: Vec<Arc<Chunk>>,
    pub(crate) rx: broadcast::Receiver<Arc<Chunk>>,
}

impl Station {
    /// Starts the generator thread and the pacer (on the current tokio runtime) for
    /// `generator` rendering with `opts`. The station goes off the air when `stop` turns true.
    pub fn start(
        generator: Generator,
        opts: StreamOptions,
        fx: FxPreset,
        config: StationConfig,
        stop: watch::Receiver<bool>,
    ) -> Result<(Arc<Station>, std::thread::JoinHandle<()>), RadioError> {
        let render = generator.render(&opts)?;
        if render.channels() != 2 {
            return Err(RadioError::Setting {
                name: "rate",
                problem: "the radio streams stereo; the raw 8 kHz mono stream cannot be \
                          encoded (use --rate 44100 or 48000)"
                    .into(),
            });
        }
        let sample_rate = render.sample_rate();
        let encoder = Mp3Encoder::new(sample_rate, config.bitrate_kbps)?;
        let frames_per_block =
            (config.block.as_secs_f64() * f64::from(sample_rate)).round() as usize;
        let block_s = config.block.as_secs_f64();
        let blocks = |d: Duration| ((d.as_secs_f64() / block_s).ceil() as usize).max(1);
        let (cmd_tx, cmd_rx) = std_mpsc::channel();
        let (air_tx, _) = broadcast::channel(blocks(config.backlog));
        let station = Arc::new(Station {
            air: Mutex::new(Air {
                recent: VecDeque::with_capacity(blocks(config.burst) + 1),
                tx: Some(air_tx),
            }),
            counters: Counters::default(),
            commands: Mutex::new(cmd_tx),
            now: Mutex::new({
                let mut now = NowPlaying {
                    fx: fx.name().to_string(),
                    music_controls: generator.has_controls(),
                    bpm: None,
                    chords: None,
                    swing: None,
                    groove: None,
                    guidance: None,
                };
                if let Ok(Some(ControlSource::Play(c))) = generator.music(&opts) {
                    now.play(&c);
                    now.guidance = generator.guidance(&opts).ok().map(|g| g.to_string());
                }
                now
            }),
            model: generator.name(),
            attribution: generator.attribution(),
            sample_rate,
            channels: 2,
            frames_per_block,
            started: Instant::now(),
            config,
        });
        // The generator runs ahead by at most this many blocks: the queue is the buffer.
        let (block_tx, block_rx) = mpsc::channel(blocks(station.config.ahead));
        let thread = {
            let station = station.clone();
            std::thread::Builder::new()
                .name("radio-generator".into())
                .spawn(move || {
                    generate(
                        &station, &generator, &opts, render, encoder, &cmd_rx, &block_tx,
                    )
                })
                .map_err(|e| RadioError::Io {
                    what: "start the generator thread".into(),
                    source: e,
                })?
        };
        tokio::spawn(pace(station.clone(), block_rx, stop));
        Ok((station, thread))
    }

    /// A new listener's place on the air; `None` once the station is off the air.
    pub(crate) fn tune_in(&self) -> Option<Tuned> {
        let air = self.air.lock().expect("the air lock is never poisoned");
        let rx = air.tx.as_ref()?.subscribe();
        Some(Tuned {
            burst: air.recent.iter().cloned().collect(),
            rx,
        })
    }

    /// The sequence number of the newest chunk on the air (0 before the first).
    pub(crate) fn head(&self) -> u64 {
        self.counters
            .published_blocks
            .load(Ordering::Relaxed)
            .saturating_sub(1)
    }

    /// How many blocks a listener may fall behind before it is dropped.
    pub(crate) fn backlog_blocks(&self) -> u64 {
        (self.config.backlog.as_secs_f64() / self.config.block.as_secs_f64()).ceil() as u64
    }

    fn publish(&self, chunk: Chunk) {
        let chunk = Arc::new(chunk);
        let burst = (self.config.burst.as_secs_f64() / self.config.block.as_secs_f64()).ceil();
        let mut air = self.air.lock().expect("the air lock is never poisoned");
        air.recent.push_back(chunk.clone());
        while air.recent.len() > burst as usize {
            air.recent.pop_front();
        }
        if let Some(tx) = &air.tx {
            // No receiver is no error: a radio plays to an empty room too.
            let _ = tx.send(chunk);
        }
        self.counters
            .published_blocks
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Ends the air: every listener's stream ends after what it has not read yet.
    fn go_off_air(&self) {
        let mut air = self.air.lock().expect("the air lock is never poisoned");
        air.tx = None;
        air.recent.clear();
    }

    /// Asks the generator thread for a change; it answers once the next block takes it.
    pub async fn control(&self, request: ControlRequest) -> Result<NowPlaying, Refusal> {
        let (tx, rx) = oneshot::channel();
        let off_air = || Refusal {
            status: 503,
            message: "the radio is stopping".into(),
        };
        self.commands
            .lock()
            .expect("the command lock is never poisoned")
            .send(Command::Set(request, tx))
            .map_err(|_| off_air())?;
        match tokio::time::timeout(Duration::from_secs(10), rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(off_air()),
            Err(_) => Err(Refusal {
                status: 503,
                message: "the generator did not answer within 10 s".into(),
            }),
        }
    }

    /// The controls now in force.
    pub fn now_playing(&self) -> NowPlaying {
        self.now
            .lock()
            .expect("the now-playing lock is never poisoned")
            .clone()
    }

    /// Seconds of audio generated so far.
    pub fn seconds_generated(&self) -> f64 {
        self.counters.generated_blocks.load(Ordering::Relaxed) as f64 * self.frames_per_block as f64
            / f64::from(self.sample_rate)
    }

    /// Audio seconds generated per second of the generator's work (render + encode): above 1,
    /// the station keeps up.
    pub fn realtime_factor(&self) -> f64 {
        let busy = self.counters.busy_ns.load(Ordering::Relaxed) as f64 / 1e9;
        if busy > 0.0 {
            self.seconds_generated() / busy
        } else {
            0.0
        }
    }

    /// Audio rendered but not yet on the air, seconds.
    pub fn buffered_seconds(&self) -> f64 {
        let rendered = self.counters.generated_blocks.load(Ordering::Relaxed);
        let aired = self.counters.published_blocks.load(Ordering::Relaxed);
        rendered.saturating_sub(aired) as f64 * self.config.block.as_secs_f64()
    }

    /// [`Self::buffered_seconds`] as a share of the buffer, 0 to 1.
    pub fn buffer_fill(&self) -> f64 {
        (self.buffered_seconds() / self.config.ahead.as_secs_f64()).min(1.0)
    }
}

/// The generator thread: render a block, apply waiting controls, encode, queue; ends when the
/// pacer stops taking blocks.
fn generate(
    station: &Station,
    generator: &Generator,
    opts: &StreamOptions,
    mut render: Render,
    mut encoder: Mp3Encoder,
    commands: &std_mpsc::Receiver<Command>,
    out: &mpsc::Sender<Chunk>,
) {
    let frames = station.frames_per_block;
    let mut samples = vec![0.0f32; frames * 2];
    let mut pcm16 = vec![0i16; frames * 2];
    let mut mp3 = Vec::with_capacity(64 * 1024);
    let mut now = station.now_playing();
    // What the listeners asked for so far: a change of one control keeps the others.
    let mut music = opts.music.clone();
    for seq in 0.. {
        while let Ok(Command::Set(request, reply)) = commands.try_recv() {
            let answer = apply(
                &mut render,
                generator,
                (opts, &mut music),
                &request,
                &mut now,
            );
            if answer.is_ok() {
                *station.now.lock().expect("never poisoned") = now.clone();
            }
            let _ = reply.send(answer);
        }
        let start = Instant::now();
        render.fill(&mut samples);
        to_pcm16(&samples, &mut pcm16);
        mp3.clear();
        if let Err(e) = encoder.encode(&pcm16, &mut mp3) {
            tracing::error!("{e}; the radio stops");
            return;
        }
        // One buffer per block, shared by every listener of the WAV stream.
        let mut pcm = Vec::with_capacity(pcm16.len() * 2);
        for s in &pcm16 {
            pcm.extend_from_slice(&s.to_le_bytes());
        }
        let chunk = Chunk {
            seq,
            mp3: Bytes::copy_from_slice(&mp3),
            pcm: Bytes::from(pcm),
        };
        station
            .counters
            .busy_ns
            .fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        // Blocks while the buffer is full: that is what paces the generator.
        if out.blocking_send(chunk).is_err() {
            return;
        }
        station
            .counters
            .generated_blocks
            .fetch_add(1, Ordering::Relaxed);
    }
}

/// Applies one control request to the render, or says why not (nothing is changed then).
fn apply(
    render: &mut Render,
    generator: &Generator,
    (opts, music): (&StreamOptions, &mut MusicRequest),
    request: &ControlRequest,
    now: &mut NowPlaying,
) -> Result<NowPlaying, Refusal> {
    let bad = |message: String| Refusal {
        status: 400,
        message,
    };
    // Musical controls first: resolved and checked by the runtime (a model without them says
    // so), then handed to the stream, which changes at the next bar line.
    let mut next = music.clone();
    if request.asks_music() {
        next.bpm = request.bpm.or(next.bpm);
        next.chords = request.chords.clone().or(next.chords);
        next.swing = request.swing.or(next.swing);
        next.groove = request.groove.clone().or(next.groove);
        next.guidance = request.guidance.or(next.guidance);
        let asked = StreamOptions {
            music: next.clone(),
            ..opts.clone()
        };
        let guidance = generator.guidance(&asked).map_err(|e| bad(e.to_string()))?;
        match generator.music(&asked).map_err(|e| bad(e.to_string()))? {
            Some(ControlSource::Play(c)) => {
                now.play(&c);
                render.set_controls(c).map_err(|e| bad(e.to_string()))?;
                render
                    .set_guidance(&guidance)
                    .map_err(|e| bad(e.to_string()))?;
                now.guidance = Some(guidance.to_string());
            }
            // A request without `follow` never resolves to a followed track.
            _ => return Err(bad("the model cannot play these controls".into())),
        }
    }
    if let Some(fx) = request.fx {
        render
            .set_fx(fx.settings())
            .map_err(|e| bad(format!("fx {fx}: {e}")))?;
        now.fx = fx.name().to_string();
    }
    *music = next;
    Ok(now.clone())
}

/// Puts the queued blocks on the air at real time, until `stop` or the generator ends.
async fn pace(
    station: Arc<Station>,
    mut blocks: mpsc::Receiver<Chunk>,
    mut stop: watch::Receiver<bool>,
) {
    let block = station.config.block;
    let mut clock: Option<tokio::time::Instant> = None;
    let mut k: u32 = 0;
    loop {
        let chunk = tokio::select! {
            c = blocks.recv() => c,
            _ = stopped(&mut stop) => None,
        };
        let Some(chunk) = chunk else { break };
        let now = tokio::time::Instant::now();
        let start = *clock.get_or_insert(now);
        let due = start + block * k;
        if now > due + block {
            // The generator fell behind: restart the clock rather than burst to catch up.
            station.counters.underruns.fetch_add(1, Ordering::Relaxed);
            clock = Some(now);
            k = 0;
        } else {
            tokio::select! {
                _ = tokio::time::sleep_until(due) => {}
                _ = stopped(&mut stop) => break,
            }
        }
        debug_assert_eq!(
            chunk.seq,
            station.counters.published_blocks.load(Ordering::Relaxed)
        );
        station.publish(chunk);
        k += 1;
    }
    station.go_off_air();
}

/// Waits until `stop` turns true (or its sender is gone). The guard `wait_for` returns is
/// dropped here, so the waiting future stays `Send`.
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
