//! The library's error type: every variant names the file (or config key) and the problem.

use std::path::{Path, PathBuf};

use lofigen_audio::AudioError;

/// Everything that can go wrong in lofigen's library code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Decoding or writing audio failed.
    #[error(transparent)]
    Audio(#[from] AudioError),

    /// An effects chain cannot be built (unknown preset, knob out of range, bad rate).
    #[error(transparent)]
    Fx(#[from] lofigen_audio::fx::FxError),

    /// A configuration file could not be parsed, or holds an impossible value.
    #[error("{path}: {problem}")]
    Config {
        /// The config file (or `<built-in>` for presets and overrides).
        path: PathBuf,
        /// What is wrong, naming the key.
        problem: String,
    },

    /// Reading or writing a file failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What we were doing ("read", "write", "create folder", ...).
        action: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A corpus folder is missing, malformed, or holds too little audio.
    #[error("{path}: {problem}")]
    Corpus {
        /// The corpus folder or file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },

    /// A run directory or checkpoint is missing, corrupt, or belongs to another model.
    #[error("{path}: {problem}")]
    Run {
        /// The run folder or checkpoint file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },

    /// Training diverged (NaN or infinite loss); the last good checkpoint is kept.
    #[error(
        "training diverged at epoch {epoch}, step {step}: loss is {loss}; the last good checkpoint is kept"
    )]
    Diverged {
        /// Epoch (1-based) in which the bad loss appeared.
        epoch: usize,
        /// Global step at which the bad loss appeared.
        step: usize,
        /// The offending loss value.
        loss: f64,
    },

    /// Audio cannot be evaluated (no reference, an empty file, mixed sample rates).
    #[error("cannot evaluate {}: {problem}", path.display())]
    Eval {
        /// The file (or folder) concerned.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },

    /// A `--device` name is unknown, its backend is not compiled in, or the device is absent.
    #[error("device `{spec}`: {problem}")]
    Device {
        /// The device as the user named it.
        spec: String,
        /// What is wrong, and what to do about it.
        problem: String,
    },

    /// Drawing a plot failed.
    #[error("cannot draw {path}: {problem}")]
    Plot {
        /// The PNG being drawn.
        path: PathBuf,
        /// What went wrong.
        problem: String,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An I/O error with the file it concerns.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// Write `bytes` to `path` through the one atomic writer ([`lofigen_audio::atomic`]), the
/// error naming `path`.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    lofigen_audio::write_atomic(path, bytes).map_err(|e| Error::io("write", path, e))
}
