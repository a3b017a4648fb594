//! lofigen's errors as Python exceptions, with the messages the `lofigen` binary prints.

use pyo3::PyErr;
use pyo3::exceptions::{PyException, PyValueError};

pyo3::create_exception!(
    lofigen,
    LofigenError,
    PyException,
    "Base class of lofigen's errors: a file, run or model that cannot be used (the message \
     names it and the problem)."
);
pyo3::create_exception!(
    lofigen,
    AudioError,
    LofigenError,
    "An audio file cannot be opened, decoded or written."
);

/// A library error as an exception: decoding problems as `AudioError`, effects settings (a
/// preset or rate the chain cannot make: the caller's arguments) as `ValueError`, the rest as
/// `LofigenError`.
pub(crate) fn lofigen_err(e: lofigen::Error) -> PyErr {
    match e {
        lofigen::Error::Audio(a) => audio_err(a),
        fx @ lofigen::Error::Fx(_) => PyValueError::new_err(fx.to_string()),
        other => LofigenError::new_err(other.to_string()),
    }
}

/// A decoding error as `AudioError`; an invalid target rate (an argument) as `ValueError`.
pub(crate) fn audio_err(e: lofigen_audio::AudioError) -> PyErr {
    match e {
        lofigen_audio::AudioError::BadTargetRate { .. } => PyValueError::new_err(e.to_string()),
        other => AudioError::new_err(other.to_string()),
    }
}
