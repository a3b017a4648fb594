//! The one way lofigen writes a file: aside, then renamed into place, so that a crash, a kill
//! or a full disk never leaves a half-written file under the final name.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Tells concurrent writers in one process apart (the pid separates processes).
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A hidden temporary name in `dir` for `path`. It ends with `path`'s own name, so writers that
/// pick a format from the extension (plotters) still see it.
fn temp_name(dir: &Path, path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".tmp-{}-{n}-{name}", std::process::id()))
}

/// The temporary sibling of `path`: same folder, so the final rename stays within one file
/// system.
pub fn temp_sibling(path: &Path) -> PathBuf {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    temp_name(dir, path)
}

/// Whether `path` exists and is neither a regular file nor a folder: a device or a pipe
/// (`/dev/stdout`, `/dev/full`), which is written in place. Renaming over it would, as root,
/// replace the device node itself.
pub fn is_special(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// Write `path` through `fill`, which writes the whole file at the temporary path it is given.
/// The file is flushed to disk before it takes the final name; on any failure the temporary
/// file is removed. A device or pipe (see [`is_special`]) gets the finished bytes copied into
/// it instead.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&Path) -> std::io::Result<()>,
) -> std::io::Result<()> {
    write_atomic_all_with(&[path], |tmps| fill(&tmps[0]).map_err(|e| (0, e))).map_err(|(_, e)| e)
}

/// [`write_atomic_with`] for files written together (a batch of clips, chunk by chunk): `fill`
/// writes each of `paths` at the temporary path of the same index, and names a failure by the
/// index of the file it concerns, as the error returned does. Every file is flushed to disk
/// before any takes its final name, so when `fill` fails no path changes and every temporary
/// file is removed. (A rename that fails after others succeeded leaves those in place.)
pub fn write_atomic_all_with(
    paths: &[&Path],
    fill: impl FnOnce(&[PathBuf]) -> Result<(), (usize, std::io::Error)>,
) -> Result<(), (usize, std::io::Error)> {
    let special: Vec<bool> = paths.iter().map(|p| is_special(p)).collect();
    let tmps: Vec<PathBuf> = paths
        .iter()
        .zip(&special)
        .map(|(p, &special)| {
            if special {
                temp_name(&std::env::temp_dir(), p)
            } else {
                temp_sibling(p)
            }
        })
        .collect();
    let result = fill(&tmps).and_then(|()| {
        for (i, (tmp, &special)) in tmps.iter().zip(&special).enumerate() {
            if !special {
                std::fs::File::open(tmp)
                    .and_then(|f| f.sync_all())
                    .map_err(|e| (i, e))?;
            }
        }
        for (i, ((tmp, path), &special)) in tmps.iter().zip(paths).zip(&special).enumerate() {
            let placed = if special {
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .and_then(|mut out| {
                        std::io::copy(&mut std::fs::File::open(tmp)?, &mut out)?;
                        out.flush()
                    })
            } else {
                std::fs::rename(tmp, path)
            };
            placed.map_err(|e| (i, e))?;
        }
        Ok(())
    });
    for (tmp, &special) in tmps.iter().zip(&special) {
        // After a rename the temporary name is gone and this fails, harmlessly.
        if result.is_err() || special {
            let _ = std::fs::remove_file(tmp);
        }
    }
    result
}

/// Write `bytes` to `path` atomically (see [`write_atomic_with`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, |tmp| std::fs::write(tmp, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".tmp-"))
            .collect()
    }

    #[test]
    fn writes_replace_the_file_and_leave_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn a_failed_fill_keeps_the_old_file_and_removes_the_temporary_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.png");
        write_atomic(&path, b"old").unwrap();
        let err = write_atomic_with(&path, |tmp| {
            assert!(
                tmp.to_string_lossy().ends_with("a.png"),
                "keeps the extension"
            );
            std::fs::write(tmp, b"half")?;
            Err(std::io::Error::other("disk full"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "disk full");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn writing_over_a_folder_fails_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub");
        std::fs::create_dir(&path).unwrap();
        assert!(write_atomic(&path, b"x").is_err());
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn a_relative_path_gets_its_temporary_file_in_the_current_folder() {
        assert_eq!(
            temp_sibling(Path::new("o.wav")).parent(),
            Some(Path::new("."))
        );
        assert_eq!(
            temp_sibling(Path::new("/a/b/o.wav")).parent(),
            Some(Path::new("/a/b"))
        );
    }

    #[test]
    fn files_written_together_all_appear_or_none_does() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.wav"), dir.path().join("b.wav"));
        write_atomic(&a, b"old").unwrap();
        let err = write_atomic_all_with(&[&a, &b], |tmps| {
            std::fs::write(&tmps[0], b"new").map_err(|e| (0, e))?;
            Err((1, std::io::Error::other("disk full")))
        })
        .unwrap_err();
        assert_eq!((err.0, err.1.to_string()), (1, "disk full".into()));
        assert_eq!(std::fs::read(&a).unwrap(), b"old");
        assert!(!b.exists());
        assert!(leftovers(dir.path()).is_empty());
        write_atomic_all_with(&[&a, &b], |tmps| {
            for (i, t) in tmps.iter().enumerate() {
                std::fs::write(t, [b'0' + i as u8]).map_err(|e| (i, e))?;
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"0");
        assert_eq!(std::fs::read(&b).unwrap(), b"1");
        assert!(leftovers(dir.path()).is_empty());
    }

    /// Regression: a write aside and rename created `/dev/.full...` and, as root, renamed it
    /// over the device node. A device is written in place, and a full one is an error.
    #[test]
    fn a_device_is_written_in_place_not_renamed_over() {
        let full = Path::new("/dev/full");
        if !full.exists() {
            eprintln!("skipped: no /dev/full on this system");
            return;
        }
        assert!(is_special(full));
        assert!(write_atomic(full, b"x").is_err());
        assert!(
            full.exists() && is_special(full),
            "the device node survives"
        );
        write_atomic(Path::new("/dev/null"), b"x").unwrap();
    }
}
