//! `lofigen eval`: generated audio measured against real audio.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use lofigen::corpus::find_audio_files;
use lofigen::eval::evaluate;
use lofigen::generate::genre_index;
use lofigen::plot::spectrograms;
use lofigen::run::RunDir;
use lofigen_audio::measures::spectrogram;
use lofigen_audio::{Clip, load_mono_8k};

use lofigen::table::{Table, opt};

use crate::shared::short_name;

pub(crate) const EVAL_ABOUT: &str = "\
Measure generated audio against real reference audio.

Every file is decoded to 8 kHz mono and loudness-normalised, so level does not decide the spectral
measures. Per generated file (and for the reference set, for scale):
  spectrum dB   RMS difference (dB) between long-term average spectra; lower is closer
  MFCC FD       Frechet distance between Gaussians fitted to per-frame MFCCs; lower is closer
  flatness      spectral flatness: white noise ~0.94, a pure tone ~0
  tonal         share of energy in the strongest narrow band: a stuck tone ~1
  dyn dB        spread (standard deviation) of frame levels, dB
  silence       fraction of frames below -60 dBFS
  clipped       fraction of samples at full scale
  NLL bits      with --run of a WaveNet: the reference's negative log-likelihood under it,
                bits per sample (8 = a uniform guess over 256 classes)
The reference row's distances compare each reference file with the others.

Writes <out>/eval.json and, per generated file, <out>/spectrogram-<N>-<name>.png (generated and
first reference side by side).";

#[derive(Args, Debug)]
pub(crate) struct EvalArgs {
    /// Generated audio files (or folders of them) to measure.
    #[arg(required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// Real audio to compare with: folders (walked recursively) or files. It takes every value
    /// up to the next option, so give it after the generated files, or repeat it.
    #[arg(long, required = true, num_args = 1..)]
    pub(crate) reference: Vec<PathBuf>,
    /// Folder for eval.json and the spectrogram PNGs.
    #[arg(long, default_value = "eval")]
    pub(crate) out: PathBuf,
    /// Where to write the JSON report (default: <out>/eval.json).
    #[arg(long)]
    pub(crate) json: Option<PathBuf>,
    /// The run that generated the files: for a WaveNet, the reference's negative
    /// log-likelihood under it (bits per sample) fills the NLL column.
    #[arg(long)]
    pub(crate) run: Option<PathBuf>,
}

/// Decode every audio file under `inputs` (see `find_audio_files`), named as found; `what` says
/// which side failed in the error.
fn load_named(inputs: &[PathBuf], what: &str) -> Result<Vec<(String, Clip)>> {
    let files = find_audio_files(inputs)?;
    if files.is_empty() {
        let list: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
        bail!(
            "no audio files (mp3, wav, flac, ogg) found in {}",
            list.join(", ")
        );
    }
    files
        .into_iter()
        .map(|path| {
            let (clip, _) = load_mono_8k(&path)
                .with_context(|| format!("cannot read {what} audio {}", path.display()))?;
            Ok((path.display().to_string(), clip))
        })
        .collect()
}

pub(crate) fn run(a: EvalArgs) -> Result<()> {
    let generated = load_named(&a.files, "generated")?;
    let reference = load_named(&a.reference, "reference")?;
    let mut report = evaluate(&generated, &reference).context("evaluation failed")?;
    if let Some(run) = &a.run {
        let device = lofigen::cpu_device();
        let (config, model) = RunDir::new(run).load_trained(&device)?;
        // The model is scored on the audio as it was trained: normalised if its run was.
        let clips: Vec<Clip> = reference
            .iter()
            .map(|(_, c)| {
                if config.data.normalize_loudness {
                    lofigen::data::normalize_loudness(c)
                } else {
                    c.clone()
                }
            })
            .collect();
        report.set_model_nll(lofigen::eval::nll_bits_per_sample(
            &model,
            &clips,
            config.data.window_samples,
            genre_index(&config.model, None)?,
            config.train.max_valid_windows,
            &device,
        ));
    }

    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create folder {}", a.out.display()))?;
    let json_path = a.json.clone().unwrap_or_else(|| a.out.join("eval.json"));
    let json = serde_json::to_string_pretty(&report)?;
    std::fs::write(&json_path, json + "\n")
        .with_context(|| format!("cannot write {}", json_path.display()))?;

    // One PNG per generated file: it and the first reference file, side by side.
    let (ref_name, ref_clip) = &reference[0];
    let ref_sg = spectrogram(ref_clip, lofigen::eval::SPECTROGRAM_COLUMNS);
    let mut pngs = Vec::new();
    for (i, (name, clip)) in generated.iter().enumerate() {
        let stem = Path::new(name)
            .file_stem()
            .map_or_else(|| "audio".into(), |s| s.to_string_lossy().into_owned());
        let png = a.out.join(format!("spectrogram-{}-{stem}.png", i + 1));
        let sg = spectrogram(clip, lofigen::eval::SPECTROGRAM_COLUMNS);
        spectrograms(
            &png,
            "Spectrograms (loudness-normalised, shared dB scale)",
            &[
                (&format!("generated: {}", short_name(name)), &sg),
                (&format!("reference: {}", short_name(ref_name)), &ref_sg),
            ],
        )?;
        pngs.push(png);
    }

    print!("{}", eval_table(&report));
    println!("wrote {}", json_path.display());
    for p in &pngs {
        println!("wrote {}", p.display());
    }
    Ok(())
}

/// The report as an aligned table: one line per generated file, then the reference set.
fn eval_table(r: &lofigen::eval::EvalReport) -> String {
    let mut t = Table::new(&[
        "file",
        "seconds",
        "spectrum dB",
        "MFCC FD",
        "flatness",
        "tonal",
        "dyn dB",
        "silence",
        "clipped",
        "NLL bits",
    ]);
    for row in r.generated.iter().chain(std::iter::once(&r.reference)) {
        let name = if std::ptr::eq(row, &r.reference) {
            format!("reference ({} file(s))", r.reference_files.len())
        } else {
            short_name(&row.name)
        };
        t.row([
            name,
            format!("{:.1}", row.seconds),
            opt(row.spectrum_distance_db, 2),
            opt(row.mfcc_frechet, 1),
            opt(row.flatness, 3),
            opt(row.tonal_peak, 3),
            opt(row.dynamics_db, 2),
            format!("{:.3}", row.silence_fraction),
            format!("{:.4}", row.clipping_fraction),
            opt(row.nll_bits_per_sample, 3),
        ]);
    }
    t.text()
}
