//! The lofi model that ships inside lofigen, so that `lofigen lofi` plays without training
//! first: a wavenet-small with musical controls trained on K-Pone's CC BY 3.0 tracks (see
//! `assets/models/lofi/README.md` for the data, the run and what it sounds like).
//!
//! Config, weights and a short seed clip are compiled into the binary, so it works from any
//! folder. It loads like any checkpoint: through the same record path and config checks.

use std::path::Path;

use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use lofigen_audio::Clip;

use crate::config::{RunConfig, SAMPLE_RATE_HZ};
use crate::error::{Error, Result};
use crate::model::Model;

const CONFIG: &str = include_str!("../../../assets/models/lofi/config.toml");
const WEIGHTS: &[u8] = include_bytes!("../../../assets/models/lofi/model.bpk");
const SEED: &[u8] = include_bytes!("../../../assets/models/lofi/seed.wav");
/// `style.json` of the training run: the tempi, grooves and chord moves it plays by default.
const STYLE: Option<&str> = Some(include_str!("../../../assets/models/lofi/style.json"));

/// What messages call the bundled files.
pub const NAME: &str = "the bundled lofi model";

/// The notice CC BY 3.0 asks to keep with audio the bundled model makes (the full text is in
/// `assets/models/lofi/README.md`).
pub const ATTRIBUTION: &str = "The bundled model learnt from music by Martin Strohmeier \
     (K-Pone) for OpenClonk: \"Island Dreams\", \"Lucid Dream\", \"Crushed Ice Cocktail\", \
     \"Motorway\", \"The Skylands\" and \"Urban Bolero\", licensed CC BY 3.0 \
     (https://creativecommons.org/licenses/by/3.0/)";

/// The bundled model's config and weights, on `device`.
pub fn lofi_model(device: &Device) -> Result<(RunConfig, Model)> {
    let path = Path::new(NAME);
    let config = RunConfig::from_toml_str(CONFIG, path)?;
    let record =
        ModuleRecord::from_bytes(Bytes::from_bytes_vec(WEIGHTS.to_vec())).map_err(|e| {
            Error::Run {
                path: path.to_path_buf(),
                problem: format!("cannot read the weights: {e}"),
            }
        })?;
    let model = crate::run::model_from_record(&config, record, path, device)?;
    Ok((config, model))
}

/// The style of the bundled model's training set (`None` while the bundled model has no
/// controls).
pub fn lofi_style() -> Result<Option<lofigen_audio::score::Style>> {
    let Some(text) = STYLE else {
        return Ok(None);
    };
    crate::run::parse_style(text, Path::new("assets/models/lofi/style.json")).map(Some)
}

/// The clip the bundled model continues by default: half a second of "Island Dreams" by
/// K-Pone (the same CC BY 3.0 recording as the demo clip).
pub fn lofi_prompt() -> Result<Clip> {
    let bad = |problem: String| Error::Run {
        path: Path::new("assets/models/lofi/seed.wav").to_path_buf(),
        problem,
    };
    let reader = hound::WavReader::new(std::io::Cursor::new(SEED))
        .map_err(|e| bad(format!("not a WAV: {e}")))?;
    let spec = reader.spec();
    if spec.channels != 1 || spec.sample_rate != SAMPLE_RATE_HZ || spec.bits_per_sample != 16 {
        return Err(bad(format!("expected 16-bit 8 kHz mono, found {spec:?}")));
    }
    let samples = reader
        .into_samples::<i16>()
        .map(|s| s.map(|v| f32::from(v) / 32768.0))
        .collect::<std::result::Result<Vec<f32>, _>>()
        .map_err(|e| bad(format!("cannot decode: {e}")))?;
    Ok(Clip::new(samples, SAMPLE_RATE_HZ))
}
