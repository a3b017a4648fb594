//! From the user's music files to a corpus of 8 kHz mono clips with a manifest, and back.
//!
//! `prepare` decodes every audio file under the given paths (streaming, so memory stays
//! bounded), writes one 16-bit WAV per file under `<out>/<label>/`, and a `manifest.json` with
//! the source path, duration, content hash and label (the source's parent folder name). Files
//! that fail are reported and skipped, so one bad file does not sink a folder.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use lofigen_audio::{Clip, TARGET_RATE, is_audio_path, load_mono, write_wav16};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Name of the manifest inside a corpus folder.
pub const MANIFEST: &str = "manifest.json";

/// One prepared file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// The WAV inside the corpus folder, relative to it.
    pub file: PathBuf,
    /// Where it came from.
    pub source: PathBuf,
    /// The source file's parent folder name (the genre, for folders laid out by genre).
    pub label: String,
    /// Length after resampling, in seconds.
    pub duration_secs: f64,
    /// SHA-256 of the source file's bytes, hex.
    pub sha256: String,
    /// The source's sample rate in Hz.
    pub source_rate: u32,
    /// The source's channel count.
    pub source_channels: usize,
    /// Whether the source ended early (decoded what was there).
    pub truncated: bool,
    /// Packets that failed to decode and were skipped.
    pub skipped_packets: usize,
}

/// The manifest of a corpus folder.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Sample rate of every file in the corpus, Hz.
    pub sample_rate: u32,
    /// The prepared files, in the order they were found.
    pub entries: Vec<ManifestEntry>,
}

/// A file that could not be prepared, and why.
#[derive(Debug)]
pub struct Failure {
    /// The source file.
    pub path: PathBuf,
    /// The error, naming the file and the problem.
    pub error: Error,
}

/// What `prepare` did.
#[derive(Debug, Default)]
pub struct PrepareReport {
    /// The manifest written.
    pub manifest: Manifest,
    /// Files skipped because they failed to decode.
    pub failures: Vec<Failure>,
}

/// Progress events from `prepare`, for a progress bar in the binary.
pub trait PrepareProgress {
    /// A file starts; `index` of `total`.
    fn file_started(&mut self, _path: &Path, _index: usize, _total: usize) {}
    /// Bytes of the current file read so far, of `total`.
    fn bytes(&mut self, _done: u64, _total: u64) {}
    /// The current file is done (or failed).
    fn file_finished(&mut self, _path: &Path, _ok: bool) {}
}

/// A progress sink that ignores everything.
pub struct NoProgress;
impl PrepareProgress for NoProgress {}

/// Every audio file under `inputs` (files taken as they are, folders walked recursively, in
/// sorted order). A missing input is an error; unreadable folder entries are skipped.
pub fn find_audio_files(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for input in inputs {
        let meta = std::fs::metadata(input).map_err(|e| Error::io("open", input, e))?;
        if meta.is_dir() {
            walk(input, &mut out);
        } else {
            out.push(input.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            walk(&p, out);
        } else if is_audio_path(&p) {
            out.push(p);
        }
    }
}

/// The label of a source file: its parent folder's name.
pub fn label_of(path: &Path) -> String {
    path.parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unlabelled".to_string())
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| Error::io("read", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Decode every audio file under `inputs` into `out` and write its manifest.
pub fn prepare(
    inputs: &[PathBuf],
    out: &Path,
    progress: &mut dyn PrepareProgress,
) -> Result<PrepareReport> {
    let files = find_audio_files(inputs)?;
    std::fs::create_dir_all(out).map_err(|e| Error::io("create folder", out, e))?;
    let mut report = PrepareReport {
        manifest: Manifest {
            sample_rate: TARGET_RATE,
            entries: Vec::new(),
        },
        failures: Vec::new(),
    };
    let mut used_names = BTreeSet::new();
    let total = files.len();
    for (index, path) in files.iter().enumerate() {
        progress.file_started(path, index, total);
        match prepare_one(path, out, &mut used_names, progress) {
            Ok(entry) => {
                report.manifest.entries.push(entry);
                progress.file_finished(path, true);
            }
            Err(error) => {
                report.failures.push(Failure {
                    path: path.clone(),
                    error,
                });
                progress.file_finished(path, false);
            }
        }
    }
    let json = serde_json::to_string_pretty(&report.manifest).expect("manifest serialises");
    crate::error::write_file(&out.join(MANIFEST), json.as_bytes())?;
    Ok(report)
}

fn prepare_one(
    path: &Path,
    out: &Path,
    used_names: &mut BTreeSet<PathBuf>,
    progress: &mut dyn PrepareProgress,
) -> Result<ManifestEntry> {
    let (clip, decoded) = load_mono(path, TARGET_RATE, &mut |done, total| {
        progress.bytes(done, total)
    })?;
    if clip.is_empty() {
        return Err(Error::Corpus {
            path: path.to_path_buf(),
            problem: "contains no audio samples".into(),
        });
    }
    let label = label_of(path);
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "audio".into());
    // Two sources may share a stem (a.mp3 and a.flac): number the later ones.
    let mut file = PathBuf::from(&label).join(format!("{stem}.wav"));
    let mut n = 2;
    while !used_names.insert(file.clone()) {
        file = PathBuf::from(&label).join(format!("{stem}-{n}.wav"));
        n += 1;
    }
    let dest = out.join(&file);
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io("create folder", parent, e))?;
    }
    write_wav16(&dest, &clip)?;
    Ok(ManifestEntry {
        file,
        source: path.to_path_buf(),
        label,
        duration_secs: clip.duration_secs(),
        sha256: sha256_file(path)?,
        source_rate: decoded.source_rate,
        source_channels: decoded.channels,
        truncated: decoded.truncated,
        skipped_packets: decoded.skipped_packets,
    })
}

/// One file of training material, at 8 kHz mono.
#[derive(Clone, Debug)]
pub struct Track {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its label (genre folder).
    pub label: String,
    /// The audio.
    pub clip: Clip,
}

/// Load training material from a prepared corpus folder (one with a `manifest.json`) or, for
/// convenience, straight from audio files and folders (decoded on the fly).
pub fn load_tracks(inputs: &[PathBuf]) -> Result<Vec<Track>> {
    let mut tracks = Vec::new();
    for input in inputs {
        let manifest_path = input.join(MANIFEST);
        if input.is_dir() && manifest_path.is_file() {
            let text = std::fs::read_to_string(&manifest_path)
                .map_err(|e| Error::io("read", &manifest_path, e))?;
            let manifest: Manifest = serde_json::from_str(&text).map_err(|e| Error::Corpus {
                path: manifest_path.clone(),
                problem: format!("not a valid corpus manifest: {e}"),
            })?;
            for entry in manifest.entries {
                let path = input.join(&entry.file);
                let (clip, _) = load_mono(&path, TARGET_RATE, &mut |_, _| {})?;
                tracks.push(Track {
                    path,
                    label: entry.label,
                    clip,
                });
            }
        } else {
            for path in find_audio_files(std::slice::from_ref(input))? {
                let (clip, _) = load_mono(&path, TARGET_RATE, &mut |_, _| {})?;
                tracks.push(Track {
                    label: label_of(&path),
                    path,
                    clip,
                });
            }
        }
    }
    if tracks.is_empty() {
        let shown: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
        return Err(Error::Corpus {
            path: PathBuf::from(shown.join(", ")),
            problem: "no audio files found (looked for mp3, wav, flac, ogg)".into(),
        });
    }
    Ok(tracks)
}
