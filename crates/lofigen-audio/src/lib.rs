//! Audio I/O for lofigen.
//!
//! The models work on 8 kHz mono, so everything that enters the project goes through
//! [`load_mono`]: any mp3/wav/flac/ogg(vorbis) file is decoded packet by packet, averaged to mono
//! and resampled with a band-limited (FFT) resampler, without ever holding the whole decoded
//! source in memory. Results leave through [`write_wav16`], which writes atomically (through
//! [`atomic`], the one writer every file of the project goes through) so that an interrupted
//! run never leaves a half-written file behind.
//!
//! [`fx`] is the way back out for listening: a streaming lofi effects chain (wow and flutter,
//! saturation, tone, crackle and hiss, stereo width, room, limiter) from the models' 8 kHz mono
//! to 44.1/48 kHz stereo, written with [`write_wav16_interleaved`] or played through
//! [`WavStream::with_channels`].
//!
//! [`measures`] holds the objective measures of a clip's sound (spectra, MFCCs, flatness, tonal
//! peak, dynamics) that `lofigen eval` compares generated audio with.
//!
//! [`analysis`] holds the musical analysis (onsets, tempo, beats and bars, chroma, chords, key)
//! that conditioning and `lofigen eval --bpm/--chords` build on.
//!
//! [`score`] is the musical control score a conditioned WaveNet follows: beats, 16th-note
//! onsets per band, chords and level, from a clip's analysis in training or from the user's
//! controls (tempo, chords, swing, groove) at generation, rendered to frames by one renderer for
//! both; its `Conductor` streams them bar by bar, and a `Style` fitted on a training set
//! suggests controls.
//!
//! The small helper modules ([`mulaw`], [`signal`], [`spectrum`]) exist so that the model code and
//! the tests share one definition of the quantiser and of the test signals.
//!
//! ```
//! use lofigen_audio::{Clip, resample, signal, spectrum, TARGET_RATE};
//!
//! // A 440 Hz tone at 44.1 kHz keeps its pitch and its length (in seconds) at 8 kHz.
//! let tone = Clip::new(signal::sine(440.0, 44_100, 1.0, 0.5), 44_100);
//! let low = resample(&tone, TARGET_RATE);
//! assert_eq!(low.len(), 8000);
//! assert!((spectrum::peak_frequency(&low.samples, TARGET_RATE) - 440.0).abs() < 2.0);
//! ```

#![warn(missing_docs)]

pub mod analysis;
pub mod atomic;
mod clip;
mod decode;
mod error;
pub mod fx;
pub mod measures;
pub mod mulaw;
mod resample;
pub mod score;
pub mod signal;
pub mod spectrum;
mod wav;

pub use atomic::{write_atomic, write_atomic_all_with, write_atomic_with};
pub use clip::Clip;
pub use decode::{DecodeReport, load_mono, load_mono_8k};
pub use error::{AnalysisError, AudioError, ScoreError};
pub use resample::{StreamResampler, resample};
pub use wav::{
    MAX_WAV16_FRAMES, WavStream, write_wav_f32, write_wav_int, write_wav16, write_wav16_all_from,
    write_wav16_channels_from, write_wav16_from, write_wav16_interleaved,
};

use std::path::Path;

/// The sample rate every model in the project works at.
pub const TARGET_RATE: u32 = 8000;

/// File extensions [`load_mono`] is expected to understand (lower case, without the dot).
pub const AUDIO_EXTENSIONS: &[&str] = &["mp3", "wav", "flac", "ogg"];

/// Whether `path` looks like an audio file we can decode, judged by its extension only
/// (case-insensitive), so that directory scans stay cheap.
pub fn is_audio_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.iter().any(|a| a.eq_ignore_ascii_case(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_paths_by_extension() {
        assert!(is_audio_path(Path::new("/x/a.mp3")));
        assert!(is_audio_path(Path::new("b.FLAC")));
        assert!(is_audio_path(Path::new("c.Wav")));
        assert!(is_audio_path(Path::new("d.ogg")));
        assert!(!is_audio_path(Path::new("e.txt")));
        assert!(!is_audio_path(Path::new("mp3")));
        assert!(!is_audio_path(Path::new("dir.mp3/readme")));
    }
}
