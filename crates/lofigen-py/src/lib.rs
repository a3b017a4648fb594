//! `import lofigen`: the Python face of lofigen's runtime API ([`lofigen::runtime`]), with audio
//! as numpy arrays.
//!
//! A thin layer: arguments are checked and turned into [`StreamOptions`], audio comes from
//! [`lofigen::runtime::Generator`]'s [`AudioStream`], decoding, analysis and measures from
//! `lofigen-audio` and [`lofigen::eval`]. Nothing here generates, decodes or measures on its
//! own. Every error becomes a Python exception (no panic crosses into Python): bad arguments
//! raise `ValueError`, the library's errors `lofigen.LofigenError` (decoding: its subclass
//! `lofigen.AudioError`), with the message the `lofigen` binary prints.
//!
//! The Python package around this module (`python/lofigen/`) re-exports it and holds the type
//! stubs; the tests are in `tests/` (pytest).

mod analysis;
mod error;
mod source;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Mutex;

use lofigen::runtime::{self, PromptSource, Sampling, StreamOptions, samples_for};
use lofigen_audio::Clip;
use numpy::ndarray::Array2;
use numpy::{AllowTypeChange, IntoPyArray, PyArray2, PyArrayLike1};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use error::{AudioError, LofigenError, lofigen_err};
use source::Source;

/// Audio between two checks for Ctrl-C in [`Generator::generate`], seconds.
const SIGNAL_CHECK_SECONDS: f64 = 0.5;

/// A trained model ready to generate: the bundled lofi model or a training run's.
///
/// Build one with `Generator.bundled()` or `Generator.from_run(path)`; `generate` returns a
/// clip as a numpy array, `stream` an endless iterator of blocks.
#[pyclass(module = "lofigen", name = "Generator", frozen)]
struct Generator {
    inner: runtime::Generator,
}

/// The keyword arguments `generate` and `stream` share, as given.
struct Request<'py> {
    seed: u64,
    temperature: f32,
    top_k: Option<usize>,
    top_p: Option<f32>,
    greedy: bool,
    genre: Option<String>,
    prompt: Option<Bound<'py, PyAny>>,
    fx: &'py str,
    rate: u32,
    bpm: Option<f64>,
    chords: Option<Bound<'py, PyAny>>,
    swing: Option<f64>,
    groove: Option<String>,
    guidance: Option<Bound<'py, PyAny>>,
    precision: &'py str,
}

impl Request<'_> {
    /// The runtime's stream options and the output's form, every argument checked.
    fn resolve(self, generator: &runtime::Generator) -> PyResult<StreamOptions> {
        // A string ("Dm7 G7") or a sequence of symbols (["Dm7", "G7"]).
        let chords = match &self.chords {
            None => None,
            Some(c) => Some(match c.extract::<String>() {
                Ok(text) => text,
                Err(_) => c
                    .extract::<Vec<String>>()
                    .map_err(|_| {
                        PyValueError::new_err(
                            "chords: expected a string (\"Dm7 G7\") or a sequence of chord symbols",
                        )
                    })?
                    .join(" "),
            }),
        };
        // A number (every group) or the CLI's text ("rhythm=2,harmony=3").
        let guidance = match &self.guidance {
            None => None,
            Some(g) => {
                let text = match g.extract::<f64>() {
                    Ok(w) => w.to_string(),
                    Err(_) => g.extract::<String>().map_err(|_| {
                        PyValueError::new_err(
                            "guidance: expected a number or a string (\"rhythm=2,harmony=3\")",
                        )
                    })?,
                };
                Some(
                    text.parse::<runtime::Guidance>()
                        .map_err(|e| PyValueError::new_err(e.to_string()))?,
                )
            }
        };
        let music = runtime::MusicRequest {
            bpm: self.bpm,
            chords,
            swing: self.swing.map(|s| s as f32),
            groove: self.groove,
            follow: None,
            guidance,
        };
        let sampling = Sampling {
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            greedy: self.greedy,
            seed: self.seed,
        };
        sampling.validate().map_err(PyValueError::new_err)?;
        if let Some(genre) = &self.genre
            && !generator.genres().contains(genre)
        {
            let known = if generator.genres().is_empty() {
                "it is not genre-conditioned".to_string()
            } else {
                format!("it knows {}", generator.genres().join(", "))
            };
            return Err(PyValueError::new_err(format!(
                "genre {genre:?}: {} has no such genre ({known})",
                generator.name()
            )));
        }
        let prompt = match &self.prompt {
            None => PromptSource::Default,
            Some(p) => match p.extract::<PathBuf>() {
                Ok(path) => PromptSource::File(path),
                Err(_) => PromptSource::Clip(Clip::new(
                    samples_arg(p, "prompt")?,
                    generator.sample_rate(),
                )),
            },
        };
        // An unknown preset is the caller's mistake; so is a rate the chain cannot make, which
        // `Generator::render` refuses (see `lofigen_err`).
        let fx = runtime::FxPreset::from_str(self.fx)
            .map_err(|e| PyValueError::new_err(e.to_string()))?
            .settings();
        let precision = self
            .precision
            .parse::<runtime::Precision>()
            .map_err(|e| PyValueError::new_err(format!("precision: {e}")))?;
        let opts = StreamOptions {
            sampling,
            precision,
            genre: self.genre,
            prompt,
            fx,
            rate: self.rate,
            music,
        };
        // Musical controls checked here, so that a bad one is the caller's ValueError.
        generator
            .music(&opts)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(opts)
    }
}

/// A 1-D array (or sequence) of samples as f32, the error naming the argument.
fn samples_arg(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Vec<f32>> {
    let array: PyArrayLike1<'_, f32, AllowTypeChange> = obj.extract().map_err(|e| {
        PyValueError::new_err(format!(
            "{name}: expected a path or a 1-D array of samples ({e})"
        ))
    })?;
    Ok(array.as_array().to_vec())
}

/// Interleaved frames of `channels` as a `(channels, frames)` float32 array.
fn planar<'py>(
    py: Python<'py>,
    interleaved: &[f32],
    channels: usize,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let frames = interleaved.len() / channels;
    let mut planar = Vec::with_capacity(interleaved.len());
    for c in 0..channels {
        planar.extend(interleaved.iter().skip(c).step_by(channels));
    }
    let array = Array2::from_shape_vec((channels, frames), planar)
        .map_err(|e| LofigenError::new_err(e.to_string()))?;
    Ok(array.into_pyarray(py))
}

#[pymethods]
impl Generator {
    /// The lofi model that ships inside lofigen.
    #[staticmethod]
    fn bundled(py: Python<'_>) -> PyResult<Self> {
        let inner = py
            .detach(runtime::Generator::bundled)
            .map_err(lofigen_err)?;
        Ok(Self { inner })
    }

    /// The latest checkpoint of the training run in folder `path`.
    #[staticmethod]
    fn from_run(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let inner = py
            .detach(|| runtime::Generator::from_run(&path))
            .map_err(lofigen_err)?;
        Ok(Self { inner })
    }

    /// Samples per second of the model's own (raw) output, Hz.
    #[getter]
    fn sample_rate(&self) -> u32 {
        self.inner.sample_rate()
    }

    /// What messages call the model: "the bundled lofi model" or the run's path.
    #[getter]
    fn name(&self) -> String {
        self.inner.name()
    }

    /// The genres of a genre-conditioned model (empty otherwise).
    #[getter]
    fn genres(&self) -> Vec<String> {
        self.inner.genres().to_vec()
    }

    /// `<lofigen.Generator: NAME>`.
    fn __repr__(&self) -> String {
        format!("<lofigen.Generator: {}>", self.inner.name())
    }

    /// `seconds` of audio as a float32 array of shape `(channels, samples)`.
    ///
    /// With `fx="none"` and `rate=8000` it is the model's raw mono output, `(1, n)`; any other
    /// effects preset or rate runs it through the effects chain to `(2, n)` stereo at `rate` Hz.
    /// The same arguments (and seed) give the same array, and it equals the first `seconds` of
    /// `stream` with the same arguments. Ctrl-C stops it.
    #[pyo3(signature = (
        seconds, *, seed=42, temperature=1.0, top_k=None, top_p=None, greedy=false, genre=None,
        prompt=None, fx="none", rate=8000, bpm=None, chords=None, swing=None, groove=None,
        guidance=None, precision="f16"
    ))]
    // The Python keyword arguments, one parameter each.
    #[allow(clippy::too_many_arguments)]
    fn generate<'py>(
        &self,
        py: Python<'py>,
        seconds: f64,
        seed: u64,
        temperature: f32,
        top_k: Option<usize>,
        top_p: Option<f32>,
        greedy: bool,
        genre: Option<String>,
        prompt: Option<Bound<'py, PyAny>>,
        fx: &'py str,
        rate: u32,
        bpm: Option<f64>,
        chords: Option<Bound<'py, PyAny>>,
        swing: Option<f64>,
        groove: Option<String>,
        guidance: Option<Bound<'py, PyAny>>,
        precision: &'py str,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let request = Request {
            seed,
            temperature,
            top_k,
            top_p,
            greedy,
            genre,
            prompt,
            fx,
            rate,
            bpm,
            chords,
            swing,
            groove,
            guidance,
            precision,
        };
        samples_for(seconds).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let opts = request.resolve(&self.inner)?;
        let mut source = py
            .detach(|| Source::new(&self.inner, &opts))
            .map_err(lofigen_err)?;
        let frames = source
            .frames_for(seconds)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        let channels = source.channels();
        let step = ((SIGNAL_CHECK_SECONDS * f64::from(rate)) as usize).max(1);
        let mut out = Vec::with_capacity(frames * channels);
        let mut done = 0;
        while done < frames {
            let n = step.min(frames - done);
            py.detach(|| source.read(n, &mut out));
            done += n;
            py.check_signals()?;
        }
        planar(py, &out, channels)
    }

    /// An endless iterator of float32 blocks of shape `(channels, block)`: the audio of
    /// `generate` with the same arguments, read on and on. Joined, the first blocks equal
    /// `generate` of that length.
    #[pyo3(signature = (
        block=4096, *, seed=42, temperature=1.0, top_k=None, top_p=None, greedy=false, genre=None,
        prompt=None, fx="none", rate=8000, bpm=None, chords=None, swing=None, groove=None,
        guidance=None, precision="f16"
    ))]
    // The Python keyword arguments, one parameter each.
    #[allow(clippy::too_many_arguments)]
    fn stream<'py>(
        &self,
        py: Python<'py>,
        block: usize,
        seed: u64,
        temperature: f32,
        top_k: Option<usize>,
        top_p: Option<f32>,
        greedy: bool,
        genre: Option<String>,
        prompt: Option<Bound<'py, PyAny>>,
        fx: &'py str,
        rate: u32,
        bpm: Option<f64>,
        chords: Option<Bound<'py, PyAny>>,
        swing: Option<f64>,
        groove: Option<String>,
        guidance: Option<Bound<'py, PyAny>>,
        precision: &'py str,
    ) -> PyResult<Stream> {
        if block == 0 {
            return Err(PyValueError::new_err(
                "block: must be a positive number of samples, not 0",
            ));
        }
        let request = Request {
            seed,
            temperature,
            top_k,
            top_p,
            greedy,
            genre,
            prompt,
            fx,
            rate,
            bpm,
            chords,
            swing,
            groove,
            guidance,
            precision,
        };
        let opts = request.resolve(&self.inner)?;
        let source = py
            .detach(|| Source::new(&self.inner, &opts))
            .map_err(lofigen_err)?;
        let channels = source.channels();
        Ok(Stream {
            state: Mutex::new((source, Vec::with_capacity(block * channels))),
            block,
            channels,
        })
    }
}

/// An endless stream of audio blocks from `Generator.stream`: iterate over it (`next(s)` gives
/// one float32 block of shape `(channels, block)`).
#[pyclass(module = "lofigen", name = "Stream", frozen)]
struct Stream {
    /// The audio, and the interleaved frames of the block being read.
    state: Mutex<(Source, Vec<f32>)>,
    /// Frames per block.
    block: usize,
    channels: usize,
}

#[pymethods]
impl Stream {
    /// The stream itself.
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// The next block, shape `(channels, block)`; the stream has no end.
    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f32>>> {
        // Not `lock`: waiting for another thread's read while holding the GIL it needs to
        // finish would deadlock.
        let mut state = self
            .state
            .try_lock()
            .map_err(|_| PyRuntimeError::new_err("this stream is being read by another thread"))?;
        let (source, buffer) = &mut *state;
        buffer.clear();
        py.detach(|| source.read(self.block, buffer));
        planar(py, buffer, self.channels)
    }

    /// Samples per block and channel.
    #[getter]
    fn block(&self) -> usize {
        self.block
    }

    /// Channels per block: 1 for the raw output, 2 through the effects chain.
    #[getter]
    fn channels(&self) -> usize {
        self.channels
    }
}

/// The audio file at `path` (any supported format and rate) decoded to mono at `rate` Hz, as a
/// float32 array of shape `(samples,)`.
#[pyfunction]
#[pyo3(signature = (path, rate=8000))]
fn load_audio<'py>(
    py: Python<'py>,
    path: PathBuf,
    rate: u32,
) -> PyResult<Bound<'py, numpy::PyArray1<f32>>> {
    let clip = py
        .detach(|| lofigen_audio::load_mono(&path, rate, &mut |_, _| {}))
        .map_err(error::audio_err)?
        .0;
    Ok(clip.samples.into_pyarray(py))
}

/// The Python module `lofigen._lofigen`, re-exported by the package `lofigen`.
#[pymodule]
fn _lofigen(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Generator>()?;
    m.add_class::<Stream>()?;
    m.add_function(wrap_pyfunction!(load_audio, m)?)?;
    m.add_function(wrap_pyfunction!(analysis::analyze, m)?)?;
    m.add_function(wrap_pyfunction!(analysis::eval, m)?)?;
    m.add("LofigenError", m.py().get_type::<LofigenError>())?;
    m.add("AudioError", m.py().get_type::<AudioError>())?;
    Ok(())
}
