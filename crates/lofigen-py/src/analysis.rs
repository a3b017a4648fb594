//! `lofigen.analyze` (tempo, beats, key and chords of a clip) and `lofigen.eval` (the measures
//! of generated audio against real audio), as Python dicts.

use std::path::PathBuf;

use lofigen::corpus::find_audio_files;
use lofigen_audio::analysis::{MusicAnalysis, analyze_music};
use lofigen_audio::{Clip, TARGET_RATE, load_mono, load_mono_8k};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::error::{LofigenError, audio_err, lofigen_err};
use crate::samples_arg;

/// A path argument, or samples at `rate` Hz; files are decoded to mono at `rate`.
fn clip_arg(py: Python<'_>, obj: &Bound<'_, PyAny>, rate: u32, name: &str) -> PyResult<Clip> {
    if let Ok(path) = obj.extract::<PathBuf>() {
        let loaded = py.detach(|| load_mono(&path, rate, &mut |_, _| {}));
        return Ok(loaded.map_err(audio_err)?.0);
    }
    Ok(Clip::new(samples_arg(obj, name)?, rate))
}

/// The musical analysis of `audio` (a path, or a 1-D array of samples at `rate` Hz; a file is
/// decoded to mono at `rate`) as a dict: `tempo` (BPM, or None when no beat was found),
/// `tempo_confidence`, `beat_strength`, `swing` (how late the off 16ths fall, in 16ths; None
/// without a beat), `beats` and `downbeats` (seconds), `key` (e.g.
/// "A minor", or None), `chords` (one dict per bar: `start`, `end` in seconds, `chord` or None,
/// `loudness_db`), `sample_rate`, `duration`.
#[pyfunction]
#[pyo3(signature = (audio, rate=8000))]
pub(crate) fn analyze<'py>(
    py: Python<'py>,
    audio: &Bound<'py, PyAny>,
    rate: u32,
) -> PyResult<Bound<'py, PyDict>> {
    let clip = clip_arg(py, audio, rate, "audio")?;
    let a = py
        .detach(|| analyze_music(&clip))
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    analysis_dict(py, &a)
}

fn analysis_dict<'py>(py: Python<'py>, a: &MusicAnalysis) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("sample_rate", a.sample_rate)?;
    d.set_item("duration", a.duration_s)?;
    d.set_item("tempo", a.tempo.map(|t| t.bpm))?;
    d.set_item("tempo_confidence", a.tempo.map(|t| t.confidence))?;
    d.set_item("beat_strength", a.beat_strength)?;
    d.set_item("swing", lofigen::music::swing(a))?;
    d.set_item("beats", &a.beats)?;
    d.set_item("downbeats", &a.downbeats)?;
    d.set_item("key", a.key.map(|k| k.to_string()))?;
    let bars = PyList::empty(py);
    for bar in &a.bars {
        let b = PyDict::new(py);
        b.set_item("start", bar.start_s)?;
        b.set_item("end", bar.end_s)?;
        b.set_item("chord", bar.chord.as_ref().map(|c| c.to_string()))?;
        b.set_item("loudness_db", bar.loudness_db)?;
        bars.append(b)?;
    }
    d.set_item("chords", bars)?;
    Ok(d)
}

/// The measures of `generated` (a path, or a 1-D array of samples at 8 kHz) against the real
/// audio of `reference` (a folder, walked recursively, or a list of files and folders), as a
/// dict: the generated clip's measures (`spectrum_distance_db`, `mfcc_frechet`, `flatness`,
/// `tonal_peak`, `dynamics_db`, `band_contrast_db`, `silence_fraction`, `clipping_fraction`, `rms_dbfs`, ...), and
/// `reference` (the same measures of the reference set, for scale), `reference_files` and
/// `settings`: `lofigen eval`'s report.
#[pyfunction]
#[pyo3(name = "eval")]
pub(crate) fn eval<'py>(
    py: Python<'py>,
    generated: &Bound<'py, PyAny>,
    reference: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let generated = match generated.extract::<PathBuf>() {
        Ok(path) => {
            let clip = py.detach(|| load_mono_8k(&path)).map_err(audio_err)?.0;
            (path.display().to_string(), clip)
        }
        Err(_) => (
            "<array>".to_string(),
            Clip::new(samples_arg(generated, "generated")?, TARGET_RATE),
        ),
    };
    let inputs: Vec<PathBuf> = match reference.extract::<PathBuf>() {
        Ok(path) => vec![path],
        Err(_) => reference.extract().map_err(|_| {
            PyValueError::new_err("reference: expected a folder, a file or a list of them")
        })?,
    };
    let report = py.detach(|| -> PyResult<_> {
        let files = find_audio_files(&inputs).map_err(lofigen_err)?;
        if files.is_empty() {
            let list: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
            return Err(LofigenError::new_err(format!(
                "no audio files (mp3, wav, flac, ogg) found in {}",
                list.join(", ")
            )));
        }
        let reference = files
            .into_iter()
            .map(|path| {
                let clip = load_mono_8k(&path).map_err(audio_err)?.0;
                Ok((path.display().to_string(), clip))
            })
            .collect::<PyResult<Vec<_>>>()?;
        lofigen::eval::evaluate(&[generated], &reference).map_err(lofigen_err)
    })?;
    let json_err = |e: serde_json::Error| LofigenError::new_err(e.to_string());
    let mut row = match report.generated.first() {
        Some(row) => serde_json::to_value(row).map_err(json_err)?,
        None => return Err(LofigenError::new_err("the report has no generated row")),
    };
    if let Some(fields) = row.as_object_mut() {
        fields.insert(
            "reference".into(),
            serde_json::to_value(&report.reference).map_err(json_err)?,
        );
        fields.insert(
            "reference_files".into(),
            serde_json::to_value(&report.reference_files).map_err(json_err)?,
        );
        fields.insert(
            "settings".into(),
            serde_json::to_value(&report.settings).map_err(json_err)?,
        );
    }
    let text = serde_json::to_string(&row).map_err(json_err)?;
    py.import("json")?.call_method1("loads", (text,))
}
