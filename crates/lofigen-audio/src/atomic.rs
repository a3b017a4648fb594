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
    let special = is_special(path);
    let tmp = if special {
        temp_name(&std::env::temp_dir(), path)
    } else {
        temp_sibling(path)
    };
    let result = fill(&tmp).and_then(|()| {
        if special {
            let mut out = std::fs::OpenOptions::new().write(true).open(path)?;
            std::io::copy(&mut std::fs::File::open(&tmp)?, &mut out)?;
            out.flush()
        } else {
            std::fs::File::open(&tmp)?.sync_all()?;
            std::fs::rename(&tmp, path)
        }
    });
    if result.is_err() || special {
        let _ = std::fs::remove_file(&tmp);
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
