//! Streaming decode of any supported file to mono at a target rate.
//!
//! Packets are decoded, averaged to mono and pushed through a [`StreamResampler`] one at a time,
//! so memory is the output plus a few small buffers: a three-hour 44.1 kHz stereo file never sits
//! decoded in memory (2 GB as f32), only its 8 kHz mono result does.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;

use crate::{AudioError, Clip, StreamResampler, TARGET_RATE};

/// Lowest source sample rate accepted, in Hz.
pub const MIN_RATE_HZ: u32 = 1_000;
/// Highest source sample rate accepted, in Hz (the highest rate in real use).
pub const MAX_RATE_HZ: u32 = 768_000;

/// What decoding saw, for the manifest and for warnings.
#[derive(Clone, Debug, Default)]
pub struct DecodeReport {
    /// Sample rate of the source (of its first decoded packet), in Hz.
    pub source_rate: u32,
    /// Channel count of the source (of its first decoded packet), before the mono mix.
    pub channels: usize,
    /// Short codec name as symphonia reports it ("mp3", "flac", "vorbis", "pcm_s16le", ...).
    pub codec: String,
    /// Packets that failed to decode and were skipped (symphonia's recoverable errors).
    pub skipped_packets: usize,
    /// The stream ended early (unexpected end of file, an unrecoverable error after some audio,
    /// or clearly fewer frames than the container announced); the clip holds what was decoded.
    pub truncated: bool,
}

/// Convenience: [`load_mono`] at [`TARGET_RATE`] without progress reports.
pub fn load_mono_8k(path: &Path) -> Result<(Clip, DecodeReport), AudioError> {
    load_mono(path, TARGET_RATE, &mut |_, _| {})
}

/// Decodes any mp3/wav/flac/ogg(vorbis) file (any rate, any channel count, 8/16/24/32-bit
/// integer or float samples), averages the channels to mono and resamples to `target_rate` with
/// the band-limited [`StreamResampler`], streaming packet by packet.
///
/// Recoverable per-packet decode errors are skipped and counted; an unexpected end of stream
/// after some audio sets [`DecodeReport::truncated`] and returns what was decoded. Errors name
/// the file and the problem. `progress(bytes_read, total_bytes)` is called now and then (about
/// every 1 % of the file) and once at the end with `bytes_read == total_bytes`.
pub fn load_mono(
    path: &Path,
    target_rate: u32,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(Clip, DecodeReport), AudioError> {
    let p = || path.to_path_buf();
    if target_rate == 0 {
        return Err(AudioError::BadTargetRate {
            path: p(),
            rate: target_rate,
        });
    }
    let meta = std::fs::metadata(path).map_err(|source| AudioError::Open { path: p(), source })?;
    if meta.is_dir() {
        return Err(AudioError::Open {
            path: p(),
            source: std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a directory"),
        });
    }
    if meta.len() == 0 {
        return Err(AudioError::Empty { path: p() });
    }
    let file = File::open(path).map_err(|source| AudioError::Open { path: p(), source })?;
    let total = meta.len();
    let pos = Arc::new(AtomicU64::new(0));
    let source = CountingSource {
        file,
        pos: Arc::clone(&pos),
        len: total,
    };
    let mss = MediaSourceStream::new(Box::new(source), Default::default());

    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(&ext.to_ascii_lowercase());
    }
    let mut format = symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| AudioError::NotAudio {
            path: p(),
            reason: probe_reason(&e),
        })?;

    // An ID3 length tag (TLEN, milliseconds) is the only record of a cut MP3's full length:
    // its frames carry no total, and the reader ends cleanly at the cut.
    let tagged_secs = {
        let mut md = format.metadata();
        md.skip_to_latest().and_then(|rev| {
            rev.media
                .tags
                .iter()
                .find(|t| t.raw.key.eq_ignore_ascii_case("TLEN"))
                .and_then(|t| t.raw.value.to_string().trim().parse::<f64>().ok())
                .map(|ms| ms / 1000.0)
        })
    };
    let (mut track_id, mut decoder) = open_track(format.as_ref(), path)?;
    // Announced length, for the pre-allocation and to notice a silently short stream.
    let announced = format
        .tracks()
        .iter()
        .find(|t| t.id == track_id)
        .and_then(|t| t.num_frames);
    let announced_rate = decoder.codec_params().sample_rate.unwrap_or(0);

    let mut out: Vec<f32> = Vec::new();
    if let (Some(n), true) = (announced, announced_rate > 0) {
        // Reserving the announced length up front avoids the doubling reallocations (and their
        // transient 1.5-2x peak) on long files. Cap it so that a corrupt header cannot make us
        // allocate gigabytes for a small file: no real codec spends under 1 byte per 64 output
        // samples (1 kbit/s at 8 kHz).
        let want = (u128::from(n) * u128::from(target_rate) / u128::from(announced_rate)) as u64;
        let cap = total.saturating_mul(64).min(u64::from(u32::MAX));
        out.reserve(want.min(cap) as usize + 16);
    }

    let mut report = DecodeReport {
        codec: decoder.codec_info().short_name.to_string(),
        ..Default::default()
    };
    let mut resampler: Option<(u32, StreamResampler)> = None;
    let mut interleaved: Vec<f32> = Vec::new();
    let mut mono: Vec<f32> = Vec::new();
    let mut decoded_frames: u64 = 0;
    let mut last_problem: Option<String> = None;
    let mut ended_early = false;
    let step = (total / 100).max(64 * 1024);
    let mut next_report = step;

    loop {
        let packet = match format.next_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) => break,
            Err(SymError::ResetRequired) => {
                // Chained streams (e.g. concatenated Ogg files): pick the new audio track.
                match open_track(format.as_ref(), path) {
                    Ok((id, dec)) => {
                        track_id = id;
                        decoder = dec;
                        continue;
                    }
                    Err(e) => {
                        last_problem = Some(e.to_string());
                        ended_early = true;
                        break;
                    }
                }
            }
            Err(e) => {
                // Unrecoverable for the reader: most often the file just stops (cut download).
                last_problem = Some(e.to_string());
                ended_early = true;
                break;
            }
        };

        let here = pos.load(Ordering::Relaxed);
        if here >= next_report {
            progress(here.min(total), total);
            next_report = here + step;
        }

        if packet.track_id != track_id {
            continue;
        }
        let buf = match decoder.decode(&packet) {
            Ok(buf) => buf,
            Err(SymError::DecodeError(msg)) => {
                report.skipped_packets += 1;
                last_problem = Some(format!("malformed stream: {msg}"));
                continue;
            }
            Err(SymError::IoError(e)) => {
                report.skipped_packets += 1;
                last_problem = Some(e.to_string());
                continue;
            }
            Err(SymError::ResetRequired) => {
                // The decoder signals a format change; the next buffer carries the new spec.
                report.skipped_packets += 1;
                continue;
            }
            Err(e) => {
                last_problem = Some(e.to_string());
                ended_early = true;
                break;
            }
        };
        let rate = buf.spec().rate();
        let nch = buf.spec().channels().count();
        let frames = buf.frames();
        if frames == 0 {
            continue;
        }
        // A header can claim any rate; resampling from megahertz rates to 8 kHz would take
        // minutes per packet (found by fuzzing), and no real audio lies outside this range.
        if !(MIN_RATE_HZ..=MAX_RATE_HZ).contains(&rate) || nch == 0 {
            report.skipped_packets += 1;
            last_problem = Some(format!(
                "packet with {nch} channels at {rate} Hz (supported: {MIN_RATE_HZ} to {MAX_RATE_HZ} Hz)"
            ));
            continue;
        }
        buf.copy_to_vec_interleaved(&mut interleaved);
        mono.clear();
        if nch == 1 {
            mono.extend_from_slice(&interleaved[..frames]);
        } else {
            let inv = 1.0 / nch as f32;
            mono.extend(
                interleaved
                    .chunks_exact(nch)
                    .map(|f| f.iter().sum::<f32>() * inv),
            );
        }
        if decoded_frames == 0 {
            report.source_rate = rate;
            report.channels = nch;
        }
        decoded_frames += frames as u64;

        // A mid-stream rate change (legal in mp3 and chained Ogg) gets a fresh resampler; the
        // old one is flushed first so nothing is lost or shifted.
        let mut rs = match resampler.take() {
            Some((r, rs)) if r == rate => rs,
            old => {
                if let Some((_, done)) = old {
                    done.finish(&mut out);
                }
                StreamResampler::new(rate, target_rate)
            }
        };
        rs.push(&mono, &mut out);
        resampler = Some((rate, rs));
    }

    if let Some((_, rs)) = resampler {
        rs.finish(&mut out);
    }
    if decoded_frames == 0 {
        return Err(AudioError::NoDecodableAudio {
            path: p(),
            reason: last_problem.unwrap_or_else(|| "the stream holds no audio frames".into()),
        });
    }
    // A reader may end cleanly at a cut; compare with the announced length (with slack for
    // encoder delay and padding) to notice it anyway.
    let short = announced.is_some_and(|n| decoded_frames + (n / 200).max(8192) < n);
    let decoded_secs = decoded_frames as f64 / f64::from(announced_rate.max(1));
    let short_of_tag = announced_rate > 0 && tagged_secs.is_some_and(|t| decoded_secs + 1.0 < t);
    report.truncated = ended_early || short || short_of_tag;
    progress(total, total);
    out.shrink_to_fit();
    Ok((Clip::new(out, target_rate), report))
}

/// Picks the default audio track and builds its decoder.
fn open_track(
    format: &dyn FormatReader,
    path: &Path,
) -> Result<(u32, Box<dyn AudioDecoder>), AudioError> {
    let p = || -> PathBuf { path.to_path_buf() };
    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(|| AudioError::NoAudioTrack { path: p() })?;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|c| c.audio())
        .ok_or_else(|| AudioError::NoAudioTrack { path: p() })?;
    let decoder = symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default())
        .map_err(|e| AudioError::UnsupportedCodec {
            path: p(),
            reason: e.to_string(),
        })?;
    Ok((track.id, decoder))
}

/// A readable reason for a failed probe.
fn probe_reason(e: &SymError) -> String {
    match e {
        SymError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            "no known audio format found before the end of the file".into()
        }
        SymError::Unsupported(_) => "no known audio format found".into(),
        other => other.to_string(),
    }
}

/// A file that records how far it has been read, so the decode loop can report progress while
/// symphonia owns the stream.
struct CountingSource {
    file: File,
    pos: Arc<AtomicU64>,
    len: u64,
}

impl Read for CountingSource {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        self.pos.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl Seek for CountingSource {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let at = self.file.seek(to)?;
        self.pos.store(at, Ordering::Relaxed);
        Ok(at)
    }
}

impl MediaSource for CountingSource {
    fn is_seekable(&self) -> bool {
        true
    }

    fn byte_len(&self) -> Option<u64> {
        Some(self.len)
    }
}
