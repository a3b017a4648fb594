//! Errors that name the file and the problem, so a user with a folder of a thousand songs can tell
//! which one is broken and why.

use std::path::PathBuf;

/// Everything that can go wrong reading or writing audio. Every variant carries the path, and its
/// message starts from it (or from "cannot open/write" and the path).
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// The file could not be opened (missing, no permission, a directory...).
    #[error("cannot open {}: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file exists but holds no bytes.
    #[error("{} is empty (0 bytes)", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// No container format matched the file's contents.
    #[error("{} is not a recognised audio file ({reason})", path.display())]
    NotAudio {
        /// The file.
        path: PathBuf,
        /// What the prober said.
        reason: String,
    },
    /// The container holds no audio track.
    #[error("{} has no audio track", path.display())]
    NoAudioTrack {
        /// The file.
        path: PathBuf,
    },
    /// The audio track uses a codec (or a codec feature) this build cannot decode.
    #[error("{} uses an unsupported codec ({reason})", path.display())]
    UnsupportedCodec {
        /// The file.
        path: PathBuf,
        /// What the decoder registry said.
        reason: String,
    },
    /// The file was recognised but not a single sample could be decoded from it.
    #[error("{} contains no decodable audio ({reason})", path.display())]
    NoDecodableAudio {
        /// The file.
        path: PathBuf,
        /// The last problem seen (or "no audio frames" when the stream is simply empty).
        reason: String,
    },
    /// [`crate::load_mono`] was asked for an impossible output rate (0 Hz).
    #[error("cannot load {}: target sample rate {rate} Hz is invalid", path.display())]
    BadTargetRate {
        /// The file.
        path: PathBuf,
        /// The requested rate.
        rate: u32,
    },
    /// Writing (or renaming into place) failed.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The destination file.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The caller asked for something that cannot be written (unequal channel lengths, an
    /// unsupported bit depth, a zero sample rate...).
    #[error("cannot write {}: {reason}", path.display())]
    InvalidInput {
        /// The destination file.
        path: PathBuf,
        /// What was wrong with the request.
        reason: String,
    },
}

impl AudioError {
    /// The file this error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            AudioError::Open { path, .. }
            | AudioError::Empty { path }
            | AudioError::NotAudio { path, .. }
            | AudioError::NoAudioTrack { path }
            | AudioError::UnsupportedCodec { path, .. }
            | AudioError::NoDecodableAudio { path, .. }
            | AudioError::BadTargetRate { path, .. }
            | AudioError::Write { path, .. }
            | AudioError::InvalidInput { path, .. } => path,
        }
    }
}

/// What can go wrong in [`crate::analysis`]: a chord symbol or progression that cannot be read,
/// or a clip whose sample rate makes analysis meaningless.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnalysisError {
    /// A chord symbol that is not understood.
    #[error("unknown chord symbol {symbol:?}: {reason}")]
    UnknownChord {
        /// The symbol as given.
        symbol: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A chord progression with no chords in it.
    #[error("the chord progression {text:?} holds no chords")]
    EmptyProgression {
        /// The text as given.
        text: String,
    },
    /// The clip's sample rate is 0 or above [`crate::analysis::MAX_SAMPLE_RATE`].
    #[error("cannot analyse a clip at {rate} Hz (the rate must be between 1 Hz and {max} Hz)")]
    BadSampleRate {
        /// The clip's rate.
        rate: u32,
        /// The highest rate accepted.
        max: u32,
    },
}

/// What can go wrong in [`crate::score`]: controls out of range, a groove or chord that cannot be
/// read, or a clip without a beat to build a score on. Every message names the value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScoreError {
    /// A tempo outside [`crate::score::MIN_BPM`]..=[`crate::score::MAX_BPM`] (or not finite).
    #[error("tempo {bpm} BPM is outside 30-300 BPM")]
    BadTempo {
        /// The tempo as given.
        bpm: f64,
    },
    /// A swing outside 0..=[`crate::score::MAX_SWING`] (or not finite).
    #[error("swing {swing} is outside 0-0.5 (a fraction of a 16th note)")]
    BadSwing {
        /// The swing as given.
        swing: f32,
    },
    /// A loudness outside [`crate::score::MIN_LOUDNESS_DB`]..=0 dBFS (or not finite).
    #[error("loudness {db} dBFS is outside -60-0 dBFS")]
    BadLoudness {
        /// The level as given.
        db: f32,
    },
    /// A groove pattern that cannot be read.
    #[error("malformed groove {text:?}: {reason}")]
    BadGroove {
        /// The text as given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A groove name that is neither built in nor learnt.
    #[error("unknown groove {name:?} (known: {known})")]
    UnknownGroove {
        /// The name as given.
        name: String,
        /// The names that exist, comma-separated.
        known: String,
    },
    /// A guidance that cannot be read or is out of range (see [`crate::score::Guidance`]).
    #[error("guidance {text:?}: {reason}")]
    BadGuidance {
        /// The text as given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A clip in which the analysis found no beat to put a score on.
    #[error("no beat found in the {duration_s:.1} s clip (beat strength {beat_strength:.2})")]
    NoBeat {
        /// Length of the clip, seconds.
        duration_s: f64,
        /// Its beat strength (see [`crate::analysis::beat_strength`]).
        beat_strength: f64,
    },
    /// A frame grid that cannot be rendered (a rate or hop of 0).
    #[error("cannot render controls at {rate} Hz with a hop of {hop} samples")]
    BadGrid {
        /// The sample rate.
        rate: u32,
        /// The hop, samples.
        hop: usize,
    },
    /// A chord symbol or progression that cannot be read, or a clip that cannot be analysed.
    #[error(transparent)]
    Analysis(#[from] AnalysisError),
}
