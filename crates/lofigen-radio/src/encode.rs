//! The two formats a block of finished audio is encoded into, once for every listener: MP3
//! through LAME (what browsers play while it streams, and the internet-radio convention) and
//! 16-bit PCM behind a WAV header of unknown length (for tools).

use std::mem::MaybeUninit;

use mp3lame_encoder::{Bitrate, Builder, Encoder, FlushNoGap, InterleavedPcm, Quality, VbrMode};

use crate::RadioError;

/// The constant bit rates LAME offers, kbit/s.
pub const BITRATES_KBPS: [u32; 9] = [64, 80, 96, 112, 128, 160, 192, 256, 320];

/// A LAME encoder for interleaved stereo 16-bit PCM that hands out whole MP3 frames only, so
/// that every chunk of the stream starts on a frame header: a listener may join at any chunk.
pub struct Mp3Encoder {
    lame: Encoder,
    /// Encoded bytes not yet part of a whole frame.
    pending: Vec<u8>,
}

impl Mp3Encoder {
    /// A constant-bit-rate encoder (`kbps` one of [`BITRATES_KBPS`]) for `rate` Hz stereo.
    pub fn new(rate: u32, kbps: u32) -> Result<Self, RadioError> {
        let bad = |what: &str, e: mp3lame_encoder::BuildError| RadioError::Encoder {
            what: what.to_string(),
            problem: e.to_string(),
        };
        let bitrate = match kbps {
            64 => Bitrate::Kbps64,
            80 => Bitrate::Kbps80,
            96 => Bitrate::Kbps96,
            112 => Bitrate::Kbps112,
            128 => Bitrate::Kbps128,
            160 => Bitrate::Kbps160,
            192 => Bitrate::Kbps192,
            256 => Bitrate::Kbps256,
            320 => Bitrate::Kbps320,
            other => {
                return Err(RadioError::Setting {
                    name: "bitrate",
                    problem: format!("{other} kbit/s is not one of {BITRATES_KBPS:?}"),
                });
            }
        };
        let mut b = Builder::new().ok_or_else(|| RadioError::Encoder {
            what: "to start".into(),
            problem: "lame_init failed".into(),
        })?;
        b.set_num_channels(2).map_err(|e| bad("2 channels", e))?;
        b.set_sample_rate(rate)
            .map_err(|e| bad(&format!("{rate} Hz"), e))?;
        b.set_brate(bitrate)
            .map_err(|e| bad(&format!("{kbps} kbit/s"), e))?;
        // Constant bit rate and no Xing/Info tag: a stream has no end to write a seek table at.
        b.set_vbr_mode(VbrMode::Off)
            .map_err(|e| bad("constant bit rate", e))?;
        b.set_to_write_vbr_tag(false)
            .map_err(|e| bad("no VBR tag", e))?;
        // LAME's recommended speed/quality balance ("-q 5" is its default for CBR too).
        b.set_quality(Quality::Good)
            .map_err(|e| bad("quality 5", e))?;
        let lame = b.build().map_err(|e| bad("its settings", e))?;
        Ok(Self {
            lame,
            pending: Vec::with_capacity(64 * 1024),
        })
    }

    /// Encodes `pcm` (interleaved stereo) and appends every MP3 frame completed so far to
    /// `out`.
    pub fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<(), RadioError> {
        let need = mp3lame_encoder::max_required_buffer_size(pcm.len() / 2);
        self.pending.reserve(need);
        let written = self
            .lame
            .encode(InterleavedPcm(pcm), spare(&mut self.pending))
            .map_err(|e| RadioError::Encoder {
                what: "a block".into(),
                problem: e.to_string(),
            })?;
        // SAFETY: LAME initialised `written` bytes of the spare capacity it was given.
        unsafe { self.pending.set_len(self.pending.len() + written) };
        let whole = whole_frames(&self.pending);
        out.extend_from_slice(&self.pending[..whole]);
        self.pending.drain(..whole);
        Ok(())
    }

    /// Ends the stream: the frames LAME still holds, padded to whole frames.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), RadioError> {
        self.pending.reserve(7200);
        let written = self
            .lame
            .flush::<FlushNoGap>(spare(&mut self.pending))
            .map_err(|e| RadioError::Encoder {
                what: "the end of the stream".into(),
                problem: e.to_string(),
            })?;
        // SAFETY: as in `encode`.
        unsafe { self.pending.set_len(self.pending.len() + written) };
        out.append(&mut self.pending);
        Ok(())
    }
}

fn spare(v: &mut Vec<u8>) -> &mut [MaybeUninit<u8>] {
    v.spare_capacity_mut()
}

/// Samples in [-1, 1] as 16-bit PCM (clamped, rounded): what the station encodes and sends.
pub fn to_pcm16(samples: &[f32], out: &mut [i16]) {
    for (o, &s) in out.iter_mut().zip(samples) {
        *o = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
    }
}

/// The length of an MPEG audio layer III frame starting with the header `h`, or `None` when
/// `h` is not one.
pub fn mp3_frame_len(h: [u8; 4]) -> Option<usize> {
    if h[0] != 0xFF || h[1] & 0xE0 != 0xE0 {
        return None;
    }
    let version = (h[1] >> 3) & 3; // 0: MPEG 2.5, 2: MPEG 2, 3: MPEG 1
    let layer = (h[1] >> 1) & 3; // 1: layer III
    if version == 1 || layer != 1 {
        return None;
    }
    let mpeg1 = version == 3;
    let kbps: [u32; 16] = if mpeg1 {
        [
            0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0,
        ]
    } else {
        [
            0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0,
        ]
    };
    let bitrate = kbps[usize::from(h[2] >> 4)];
    let base_hz = [44_100u32, 48_000, 32_000, 0][usize::from((h[2] >> 2) & 3)];
    if bitrate == 0 || base_hz == 0 {
        return None;
    }
    let rate = match version {
        3 => base_hz,
        2 => base_hz / 2,
        _ => base_hz / 4,
    };
    let per_frame = if mpeg1 { 144_000 } else { 72_000 };
    let padding = u32::from((h[2] >> 1) & 1);
    Some((per_frame * bitrate / rate + padding) as usize)
}

/// How many leading bytes of `bytes` are whole MP3 frames.
fn whole_frames(bytes: &[u8]) -> usize {
    let mut at = 0;
    while at + 4 <= bytes.len() {
        let header = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
        match mp3_frame_len(header) {
            Some(len) if at + len <= bytes.len() => at += len,
            Some(_) => break,
            // LAME writes frames back to back; anything else is passed on rather than held
            // forever (a decoder resynchronises).
            None => return bytes.len(),
        }
    }
    at
}

/// A WAV header for an endless 16-bit PCM stream: the RIFF and data sizes say "unknown"
/// (0xFFFFFFFF), as streaming tools (ffmpeg, sox, aplay) read it.
pub fn wav_stream_header(rate: u32, channels: u16) -> [u8; 44] {
    let mut h = [0u8; 44];
    let block_align = channels * 2;
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes()); // PCM
    h[22..24].copy_from_slice(&channels.to_le_bytes());
    h[24..28].copy_from_slice(&rate.to_le_bytes());
    h[28..32].copy_from_slice(&(rate * u32::from(block_align)).to_le_bytes());
    h[32..34].copy_from_slice(&block_align.to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lame_hands_out_whole_frames_of_the_asked_bit_rate() {
        let mut enc = Mp3Encoder::new(44_100, 128).unwrap();
        let mut out = Vec::new();
        // One second of a 440 Hz tone, in 100 ms blocks.
        for block in 0..10 {
            let pcm: Vec<i16> = (0..4410 * 2)
                .map(|i| {
                    let t = (block * 4410 + i / 2) as f32 / 44_100.0;
                    ((t * 440.0 * std::f32::consts::TAU).sin() * 8000.0) as i16
                })
                .collect();
            let before = out.len();
            enc.encode(&pcm, &mut out).unwrap();
            // Every block's output starts on a frame header.
            if out.len() > before {
                assert!(
                    mp3_frame_len([
                        out[before],
                        out[before + 1],
                        out[before + 2],
                        out[before + 3]
                    ])
                    .is_some()
                );
            }
        }
        assert_eq!(whole_frames(&out), out.len());
        // 128 kbit/s is 16 000 bytes a second; LAME holds back a few frames.
        assert!(
            (12_000..=16_500).contains(&out.len()),
            "{} bytes",
            out.len()
        );
        // 128 kbit/s at 44.1 kHz: 417 or 418 bytes a frame.
        assert!(matches!(
            mp3_frame_len([out[0], out[1], out[2], out[3]]),
            Some(417 | 418)
        ));
    }

    #[test]
    fn a_bit_rate_lame_lacks_is_refused_by_name() {
        let e = Mp3Encoder::new(44_100, 100).err().unwrap().to_string();
        assert!(e.contains("100 kbit/s"), "{e}");
    }

    #[test]
    fn the_wav_header_is_pcm16_of_unknown_length() {
        let h = wav_stream_header(48_000, 2);
        assert_eq!(&h[0..4], b"RIFF");
        assert_eq!(u32::from_le_bytes(h[24..28].try_into().unwrap()), 48_000);
        assert_eq!(u32::from_le_bytes(h[28..32].try_into().unwrap()), 192_000);
        assert_eq!(&h[40..44], &[0xFF; 4]);
    }
}
