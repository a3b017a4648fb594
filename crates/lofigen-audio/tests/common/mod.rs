//! Helpers shared by the integration tests.
#![allow(dead_code)]

#[allow(unused_imports)] // each test binary uses a different subset
pub use lofigen_testkit::{db, demo_flac, demo_mp3, rms, shared_file};

/// A 16-bit PCM WAV (mono, `rate` Hz) holding `samples`, whose data chunk header claims
/// `claimed_bytes` instead of the true length: for headers that lie.
pub fn wav16_claiming(samples: &[i16], rate: u32, claimed_bytes: u32) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + claimed_bytes).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes()); // PCM
    b.extend_from_slice(&1u16.to_le_bytes()); // mono
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * 2).to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&claimed_bytes.to_le_bytes());
    for s in samples {
        b.extend_from_slice(&s.to_le_bytes());
    }
    b
}

/// `seconds` of a 440 Hz tone as 16-bit samples at `rate`.
pub fn tone16(rate: u32, seconds: f32) -> Vec<i16> {
    sine_i16(rate, seconds)
}

fn sine_i16(rate: u32, seconds: f32) -> Vec<i16> {
    lofigen_audio::signal::sine(440.0, rate, seconds, 0.5)
        .iter()
        .map(|&x| (x * 32767.0) as i16)
        .collect()
}

/// An ID3v2.3 tag of `body` bytes (padding) whose header claims `claimed` bytes.
pub fn id3_tag(body: usize, claimed: usize) -> Vec<u8> {
    let mut b = b"ID3\x03\x00\x00".to_vec();
    // The size is "syncsafe": 7 bits per byte.
    for shift in [21, 14, 7, 0] {
        b.push(((claimed >> shift) & 0x7f) as u8);
    }
    b.resize(10 + body, 0);
    b
}
