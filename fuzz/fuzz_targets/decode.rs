//! Any bytes, under any audio extension, through decode + resample: an error is fine, a panic
//! or a hang is not.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let ext = ["mp3", "wav", "flac", "ogg"][usize::from(selector) % 4];
    // tmpfs keeps the per-input file cheap.
    let dir = if std::path::Path::new("/dev/shm").is_dir() { "/dev/shm" } else { "/tmp" };
    let path = std::path::PathBuf::from(format!("{dir}/lofigen-fuzz-{}.{ext}", std::process::id()));
    if std::fs::write(&path, bytes).is_ok() {
        let _ = lofigen_audio::load_mono_8k(&path);
        let _ = std::fs::remove_file(&path);
    }
});
