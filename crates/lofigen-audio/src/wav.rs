//! WAV output. Every file writer goes through [`crate::atomic`], so a crash or a full disk never
//! leaves a truncated WAV under the final name; [`WavStream`] writes to a pipe as it goes.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use hound::{SampleFormat, WavSpec, WavWriter};

use crate::{AudioError, Clip};

/// Writes `clip` as mono 16-bit PCM WAV, clamping samples to [-1, 1], atomically.
pub fn write_wav16(path: &Path, clip: &Clip) -> Result<(), AudioError> {
    write_wav_int(
        path,
        std::slice::from_ref(&clip.samples),
        clip.sample_rate,
        16,
    )
}

/// The most 16-bit mono samples one WAV can hold (its sizes are 32-bit): about 74 hours at
/// 8 kHz.
pub const MAX_WAV16_FRAMES: usize = (u32::MAX as usize - 44) / 2;

/// Writes `frames` samples of mono 16-bit PCM WAV at `sample_rate`, atomically, asking `fill`
/// for them a chunk at a time, so that a long clip never sits in memory. Samples are converted
/// as [`write_wav16`] converts them.
pub fn write_wav16_from(
    path: &Path,
    sample_rate: u32,
    frames: usize,
    fill: impl FnMut(&mut [f32]),
) -> Result<(), AudioError> {
    write_wav16_channels_from(path, sample_rate, 1, frames, fill)
}

/// Writes `frames` frames of `channels` interleaved channels (stereo effects output is
/// `[l0, r0, l1, r1, ..]`) as 16-bit PCM WAV at `sample_rate`, atomically, asking `fill` for
/// them a chunk at a time: every chunk it is given holds a whole number of frames. Samples are
/// converted as [`write_wav16`] converts them.
pub fn write_wav16_channels_from(
    path: &Path,
    sample_rate: u32,
    channels: u16,
    frames: usize,
    mut fill: impl FnMut(&mut [f32]),
) -> Result<(), AudioError> {
    write_wav16_all_from(&[path], sample_rate, channels, frames, |parts| {
        fill(&mut *parts[0])
    })
}

/// [`write_wav16_channels_from`] for several files of one layout written together (clips
/// rendered as a batch): `fill` gets the next chunk of every file at once, `parts[i]` for
/// `paths[i]`, all of the same whole number of frames. Either every file is written or, on an
/// error (which names its file), none changes (see [`crate::atomic::write_atomic_all_with`]).
pub fn write_wav16_all_from(
    paths: &[&Path],
    sample_rate: u32,
    channels: u16,
    frames: usize,
    mut fill: impl FnMut(&mut [&mut [f32]]),
) -> Result<(), AudioError> {
    let first = paths.first().copied().unwrap_or(Path::new("(no file)"));
    let invalid = |reason: String| AudioError::InvalidInput {
        path: first.to_path_buf(),
        reason,
    };
    if paths.is_empty() {
        return Err(invalid("no file to write".into()));
    }
    if channels == 0 {
        return Err(invalid("0 channels given (need at least 1)".into()));
    }
    if sample_rate == 0 {
        return Err(invalid("sample rate 0".into()));
    }
    let per_frame = usize::from(channels);
    let most = MAX_WAV16_FRAMES / per_frame;
    if frames > most {
        return Err(invalid(format!(
            "{frames} frames of {channels} channel(s) do not fit in one WAV (at most {most}, \
             {:.1} hours at {sample_rate} Hz)",
            most as f64 / f64::from(sample_rate) / 3600.0
        )));
    }
    let spec = WavSpec {
        channels,
        sample_rate,
        bits_per_sample: 16,
        sample_format: SampleFormat::Int,
    };
    crate::atomic::write_atomic_all_with(paths, |tmps| {
        let mut writers = Vec::with_capacity(tmps.len());
        for (i, tmp) in tmps.iter().enumerate() {
            let file = File::create(tmp).map_err(|e| (i, e))?;
            let w = WavWriter::new(BufWriter::new(file), spec).map_err(|e| (i, hound_to_io(e)))?;
            writers.push(w);
        }
        // About 4096 samples per chunk and file, rounded to whole frames.
        let chunk_frames = (4096 / per_frame).max(1);
        let mut buf = vec![0.0f32; paths.len() * chunk_frames * per_frame];
        let mut parts: Vec<&mut [f32]> = buf.chunks_exact_mut(chunk_frames * per_frame).collect();
        let mut left = frames;
        while left > 0 {
            let n = left.min(chunk_frames);
            if n < chunk_frames {
                // The last chunk, shorter.
                parts = std::mem::take(&mut parts)
                    .into_iter()
                    .map(|p| &mut p[..n * per_frame])
                    .collect();
            }
            fill(&mut parts);
            for (i, (w, part)) in writers.iter_mut().zip(&parts).enumerate() {
                for &x in part.iter() {
                    w.write_sample(quantize(x, 32768.0, -32768.0, 32767.0) as i16)
                        .map_err(|e| (i, hound_to_io(e)))?;
                }
            }
            left -= n;
        }
        for (i, w) in writers.into_iter().enumerate() {
            w.finalize().map_err(|e| (i, hound_to_io(e)))?;
        }
        Ok(())
    })
    .map_err(|(i, source)| AudioError::Write {
        path: paths[i].to_path_buf(),
        source,
    })
}

/// Writes interleaved 16-bit PCM WAV with `channels` channels (stereo effects output is
/// `[l0, r0, l1, r1, ..]`), atomically. Samples are converted as [`write_wav16`] converts them.
pub fn write_wav16_interleaved(
    path: &Path,
    samples: &[f32],
    channels: u16,
    sample_rate: u32,
) -> Result<(), AudioError> {
    let invalid = |reason: String| AudioError::InvalidInput {
        path: path.to_path_buf(),
        reason,
    };
    if channels == 0 {
        return Err(invalid("0 channels given (need at least 1)".into()));
    }
    if sample_rate == 0 {
        return Err(invalid("sample rate 0".into()));
    }
    if !samples.len().is_multiple_of(usize::from(channels)) {
        return Err(invalid(format!(
            "{} samples are not a whole number of {channels}-channel frames",
            samples.len()
        )));
    }
    if samples.len() > MAX_WAV16_FRAMES {
        return Err(invalid(format!(
            "{} samples do not fit in one WAV (at most {MAX_WAV16_FRAMES})",
            samples.len()
        )));
    }
    let spec = WavSpec {
        channels,
        sample_rate,
        bits_per_sample: 16,
        sample_format: SampleFormat::Int,
    };
    write_atomically(path, spec, |w| {
        for &x in samples {
            w.write_sample(quantize(x, 32768.0, -32768.0, 32767.0) as i16)?;
        }
        Ok(())
    })
}

/// Writes 32-bit float WAV with one entry of `channels` per channel (all the same length),
/// atomically. Samples are written as they are (no clamping: float WAV can hold any value).
pub fn write_wav_f32(
    path: &Path,
    channels: &[Vec<f32>],
    sample_rate: u32,
) -> Result<(), AudioError> {
    let frames = check_channels(path, channels, sample_rate)?;
    let spec = WavSpec {
        channels: channels.len() as u16,
        sample_rate,
        bits_per_sample: 32,
        sample_format: SampleFormat::Float,
    };
    write_atomically(path, spec, |w| {
        for i in 0..frames {
            for ch in channels {
                w.write_sample(ch[i])?;
            }
        }
        Ok(())
    })
}

/// Writes integer PCM WAV with `bits` in {8, 16, 24, 32}, interleaving `channels` (all the same
/// length), atomically. Samples are clamped to [-1, 1] and scaled by 2^(bits-1) (the top code is
/// clipped), the same convention the decoders use, so a write/read round trip is exact to within
/// one step.
pub fn write_wav_int(
    path: &Path,
    channels: &[Vec<f32>],
    sample_rate: u32,
    bits: u16,
) -> Result<(), AudioError> {
    if !matches!(bits, 8 | 16 | 24 | 32) {
        return Err(AudioError::InvalidInput {
            path: path.to_path_buf(),
            reason: format!("unsupported bit depth {bits} (use 8, 16, 24 or 32)"),
        });
    }
    let frames = check_channels(path, channels, sample_rate)?;
    let spec = WavSpec {
        channels: channels.len() as u16,
        sample_rate,
        bits_per_sample: bits,
        sample_format: SampleFormat::Int,
    };
    let scale = f64::from(1u32 << (bits - 1));
    let (lo, hi) = (-scale, scale - 1.0);
    write_atomically(path, spec, |w| {
        for i in 0..frames {
            for ch in channels {
                w.write_sample(quantize(ch[i], scale, lo, hi))?;
            }
        }
        Ok(())
    })
}

/// `x` clamped to [-1, 1] (NaN as 0), scaled by `scale` and rounded into `[lo, hi]`.
fn quantize(x: f32, scale: f64, lo: f64, hi: f64) -> i32 {
    let x = if x.is_nan() {
        0.0
    } else {
        f64::from(x.clamp(-1.0, 1.0))
    };
    (x * scale).round().clamp(lo, hi) as i32
}

/// 16-bit WAV written as it is produced, to a writer that need not seek (a pipe to a player):
/// mono from [`WavStream::new`], or any channel count, interleaved, from
/// [`WavStream::with_channels`]. The header goes first: with the length when it is known, else
/// with the largest length a WAV can state, which is how players read an open-ended stream.
/// Samples are converted as [`write_wav16`] converts them.
pub struct WavStream<W: Write> {
    out: W,
    buf: Vec<u8>,
}

impl<W: Write> WavStream<W> {
    /// Write the header of a mono stream of `frames` samples (`None`: no end) at `sample_rate`.
    pub fn new(out: W, sample_rate: u32, frames: Option<u32>) -> std::io::Result<Self> {
        Self::with_channels(out, sample_rate, 1, frames)
    }

    /// Write the header of a stream of `channels` interleaved channels (at least 1) and `frames`
    /// frames (`None`: no end) at `sample_rate`; [`WavStream::write`] then takes interleaved
    /// samples.
    pub fn with_channels(
        mut out: W,
        sample_rate: u32,
        channels: u16,
        frames: Option<u32>,
    ) -> std::io::Result<Self> {
        if channels == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "a WAV stream needs at least 1 channel",
            ));
        }
        let block_align = u32::from(channels) * 2;
        // Sizes a WAV cannot hold saturate, like the open-ended stream's, to a whole number
        // of frames (readers check that).
        let data = frames.map_or(u32::MAX, |f| f.saturating_mul(block_align));
        let data = data - data % block_align;
        let mut h = Vec::with_capacity(44);
        h.extend_from_slice(b"RIFF");
        h.extend_from_slice(&data.saturating_add(36).to_le_bytes());
        h.extend_from_slice(b"WAVEfmt ");
        h.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
        h.extend_from_slice(&1u16.to_le_bytes()); // PCM
        h.extend_from_slice(&channels.to_le_bytes());
        h.extend_from_slice(&sample_rate.to_le_bytes());
        h.extend_from_slice(&sample_rate.saturating_mul(block_align).to_le_bytes()); // bytes/s
        h.extend_from_slice(&(block_align as u16).to_le_bytes()); // bytes per frame
        h.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
        h.extend_from_slice(b"data");
        h.extend_from_slice(&data.to_le_bytes());
        out.write_all(&h)?;
        Ok(Self {
            out,
            buf: Vec::new(),
        })
    }

    /// Append samples (interleaved when there are several channels; the caller keeps frames
    /// whole) and flush them, so a player hears them now.
    pub fn write(&mut self, samples: &[f32]) -> std::io::Result<()> {
        self.buf.clear();
        for &x in samples {
            let v = quantize(x, 32768.0, -32768.0, 32767.0) as i16;
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        self.out.write_all(&self.buf)?;
        self.out.flush()
    }
}

/// Validates the channel layout and returns the number of frames.
fn check_channels(
    path: &Path,
    channels: &[Vec<f32>],
    sample_rate: u32,
) -> Result<usize, AudioError> {
    let invalid = |reason: String| AudioError::InvalidInput {
        path: path.to_path_buf(),
        reason,
    };
    if channels.is_empty() || channels.len() > usize::from(u16::MAX) {
        return Err(invalid(format!(
            "{} channels given (need 1 to 65535)",
            channels.len()
        )));
    }
    if sample_rate == 0 {
        return Err(invalid("sample rate is 0".into()));
    }
    let frames = channels[0].len();
    if let Some((i, ch)) = channels.iter().enumerate().find(|(_, c)| c.len() != frames) {
        return Err(invalid(format!(
            "channel {i} has {} samples but channel 0 has {frames}",
            ch.len()
        )));
    }
    Ok(frames)
}

/// The WAV writer every body writes through.
type Writer = WavWriter<BufWriter<File>>;

/// Writes the WAV at `path` through [`crate::atomic::write_atomic_with`] (aside, then renamed;
/// a device or pipe gets the finished bytes): `body` writes the samples, then the header is
/// finalised. The error names `path`.
fn write_atomically<F>(path: &Path, spec: WavSpec, body: F) -> Result<(), AudioError>
where
    F: FnOnce(&mut Writer) -> hound::Result<()>,
{
    crate::atomic::write_atomic_with(path, |tmp| {
        let mut writer =
            WavWriter::new(BufWriter::new(File::create(tmp)?), spec).map_err(hound_to_io)?;
        body(&mut writer).map_err(hound_to_io)?;
        writer.finalize().map_err(hound_to_io)
    })
    .map_err(|source| AudioError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// hound wraps I/O errors; unwrap them so the message is the OS's, and keep the rest as text.
fn hound_to_io(e: hound::Error) -> std::io::Error {
    match e {
        hound::Error::IoError(io) => io,
        other => std::io::Error::other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streamed_wav_reads_back_as_the_file_writer_writes_it() {
        let samples: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.05).sin() * 1.2).collect();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.wav");
        write_wav16(&file, &Clip::new(samples.clone(), 8000)).unwrap();
        // Known length: the same bytes as the file writer's, whatever the chunking.
        let mut stream = WavStream::new(Vec::new(), 8000, Some(1000)).unwrap();
        stream.write(&samples[..1]).unwrap();
        stream.write(&samples[1..]).unwrap();
        assert_eq!(stream.out, std::fs::read(&file).unwrap());
        // Filled chunk by chunk: the same file again.
        let chunked = dir.path().join("b.wav");
        let mut next = samples.iter();
        write_wav16_from(&chunked, 8000, 1000, |buf| {
            buf.iter_mut().for_each(|x| *x = *next.next().unwrap())
        })
        .unwrap();
        assert_eq!(
            std::fs::read(&chunked).unwrap(),
            std::fs::read(&file).unwrap()
        );
        let e = write_wav16_from(&chunked, 8000, MAX_WAV16_FRAMES + 1, |_| {}).unwrap_err();
        assert!(e.to_string().contains("do not fit"), "{e}");
        // Open-ended: a reader takes it, and gets the same samples.
        let mut open = WavStream::new(Vec::new(), 8000, None).unwrap();
        open.write(&samples).unwrap();
        let reader = hound::WavReader::new(std::io::Cursor::new(open.out)).unwrap();
        assert_eq!(reader.spec().sample_rate, 8000);
        let a: Vec<i16> = reader
            .into_samples()
            .take(1000)
            .map(|s| s.unwrap())
            .collect();
        let b: Vec<i16> = hound::WavReader::open(&file)
            .unwrap()
            .into_samples()
            .map(|s| s.unwrap())
            .collect();
        assert_eq!(a, b);
    }

    /// Files written together are the files each would be alone; a failing one names itself
    /// and leaves no file behind.
    #[test]
    fn wavs_written_together_equal_each_written_alone() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let clips: Vec<Vec<f32>> = (0..3)
            .map(|c| {
                (0..9000)
                    .map(|i| (i as f32 * 0.01 * (c + 1) as f32).sin())
                    .collect()
            })
            .collect();
        let paths: Vec<_> = (0..3).map(|c| d.join(format!("t{c}.wav"))).collect();
        let refs: Vec<&Path> = paths.iter().map(|p| p.as_path()).collect();
        let mut at = 0;
        write_wav16_all_from(&refs, 44_100, 2, 4500, |parts| {
            let n = parts[0].len();
            assert!(parts.iter().all(|p| p.len() == n) && n % 2 == 0);
            for (part, clip) in parts.iter_mut().zip(&clips) {
                part.copy_from_slice(&clip[at..at + n]);
            }
            at += n;
        })
        .unwrap();
        assert_eq!(at, 9000);
        for (c, path) in paths.iter().enumerate() {
            let alone = d.join(format!("a{c}.wav"));
            write_wav16_interleaved(&alone, &clips[c], 2, 44_100).unwrap();
            assert_eq!(std::fs::read(path).unwrap(), std::fs::read(&alone).unwrap());
        }
        let bad = [d.join("n0.wav"), d.join("no/such/n1.wav")];
        let bad: Vec<&Path> = bad.iter().map(|p| p.as_path()).collect();
        let e = write_wav16_all_from(&bad, 8000, 1, 10, |_| {}).unwrap_err();
        assert!(e.to_string().contains("no/such/n1.wav"), "{e}");
        assert!(!d.join("n0.wav").exists());
    }

    #[test]
    fn a_streamed_stereo_wav_reads_back_as_the_interleaved_file_writer_writes_it() {
        let samples: Vec<f32> = (0..2000).map(|i| (i as f32 * 0.03).sin() * 0.9).collect();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.wav");
        write_wav16_interleaved(&file, &samples, 2, 44_100).unwrap();
        let mut stream = WavStream::with_channels(Vec::new(), 44_100, 2, Some(1000)).unwrap();
        stream.write(&samples[..500]).unwrap();
        stream.write(&samples[500..]).unwrap();
        assert_eq!(stream.out, std::fs::read(&file).unwrap());
        let r = hound::WavReader::open(&file).unwrap();
        assert_eq!((r.spec().channels, r.spec().sample_rate), (2, 44_100));
        assert_eq!(r.duration(), 1000);
        // The open-ended header states a whole number of stereo frames.
        let open = WavStream::with_channels(Vec::new(), 44_100, 2, None).unwrap();
        let data = u32::from_le_bytes(open.out[40..44].try_into().unwrap());
        assert_eq!(data % 4, 0);
        assert!(WavStream::with_channels(Vec::new(), 8000, 0, None).is_err());
        // Filled chunk by chunk, whole frames at a time: the same file again.
        let chunked = dir.path().join("c.wav");
        let mut next = samples.iter();
        write_wav16_channels_from(&chunked, 44_100, 2, 1000, |buf| {
            assert_eq!(buf.len() % 2, 0, "a chunk of whole frames");
            buf.iter_mut().for_each(|x| *x = *next.next().unwrap())
        })
        .unwrap();
        assert_eq!(
            std::fs::read(&chunked).unwrap(),
            std::fs::read(&file).unwrap()
        );
        let e = write_wav16_channels_from(&chunked, 44_100, 2, MAX_WAV16_FRAMES / 2 + 1, |_| {})
            .unwrap_err();
        assert!(e.to_string().contains("do not fit"), "{e}");
        assert!(write_wav16_channels_from(&chunked, 44_100, 0, 10, |_| {}).is_err());
        let e = write_wav16_interleaved(&file, &samples[..3], 2, 44_100).unwrap_err();
        assert!(e.to_string().contains("3 samples"), "{e}");
    }

    #[test]
    fn rejects_bad_requests_with_the_path_in_the_message() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.wav");
        let e = write_wav_int(&p, &[vec![0.0]], 8000, 12).unwrap_err();
        assert!(e.to_string().contains("bad.wav") && e.to_string().contains("bit depth"));
        let e = write_wav_f32(&p, &[vec![0.0], vec![0.0, 1.0]], 8000).unwrap_err();
        assert!(e.to_string().contains("channel 1"), "{e}");
        let e = write_wav_f32(&p, &[], 8000).unwrap_err();
        assert!(e.to_string().contains("bad.wav"));
        let e = write_wav16(&p, &Clip::new(vec![0.0], 0)).unwrap_err();
        assert!(e.to_string().contains("sample rate"));
        assert!(!p.exists());
    }

    #[test]
    fn unwritable_destination_is_an_error_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("no_such_dir").join("x.wav");
        let e = write_wav16(&p, &Clip::new(vec![0.0; 10], 8000)).unwrap_err();
        assert!(matches!(e, AudioError::Write { .. }));
        assert!(e.to_string().starts_with("cannot write "), "{e}");
        assert!(e.to_string().contains("x.wav"));
        // Writing over a directory fails at the rename; the temp file must be cleaned up.
        let d = dir.path().join("a_dir.wav");
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("keep"), b"x").unwrap();
        assert!(write_wav16(&d, &Clip::new(vec![0.0; 10], 8000)).is_err());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn overwrites_existing_file_and_clamps() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("o.wav");
        write_wav16(&p, &Clip::new(vec![0.0; 100], 8000)).unwrap();
        write_wav16(&p, &Clip::new(vec![2.0, -2.0, 0.5, f32::NAN], 16000)).unwrap();
        let mut r = hound::WavReader::open(&p).unwrap();
        assert_eq!(r.spec().sample_rate, 16000);
        assert_eq!(r.spec().bits_per_sample, 16);
        let s: Vec<i16> = r.samples::<i16>().map(|s| s.unwrap()).collect();
        assert_eq!(s, vec![32767, -32768, 16384, 0]);
    }

    /// Regression: the write-aside-and-rename created `/dev/.full.<pid>.0.tmp` and, as root,
    /// renamed it over the device node itself. A full disk must be an error naming the file,
    /// and the device must stay a device.
    #[cfg(target_os = "linux")]
    #[test]
    fn writing_to_dev_full_is_a_disk_full_error_and_leaves_the_device_alone() {
        use std::os::unix::fs::FileTypeExt;
        let full = Path::new("/dev/full");
        if !std::fs::metadata(full).is_ok_and(|m| m.file_type().is_char_device()) {
            eprintln!("skipped: no /dev/full character device here");
            return;
        }
        let e = write_wav16(full, &Clip::new(vec![0.1; 8000], 8000)).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, AudioError::Write { .. }), "{e:?}");
        assert!(msg.contains("/dev/full"), "{msg}");
        assert!(msg.contains("No space left on device"), "{msg}");
        assert!(
            std::fs::metadata(full)
                .unwrap()
                .file_type()
                .is_char_device()
        );
        // /dev/null takes the bytes and stays a device.
        write_wav16(Path::new("/dev/null"), &Clip::new(vec![0.1; 100], 8000)).unwrap();
        let null = std::fs::metadata("/dev/null").unwrap();
        assert!(null.file_type().is_char_device());
    }
}
