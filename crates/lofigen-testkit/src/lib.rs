//! What the test suites of every lofigen crate share: where the test audio is, the bundled demo
//! clip, and level arithmetic. A dev-dependency only; nothing here ships.
//!
//! Audio comes from the repository first (`assets/`, with the excerpts in `assets/test-audio/`
//! and their attribution), so the tests pass on a fresh clone with nothing beside it. The
//! larger shared corpus (`../shared/data` beside the repository) serves the few tests that need
//! whole tracks; without it they print that they skipped, and why.

use std::path::{Path, PathBuf};

use lofigen_audio::{Clip, load_mono_8k};

/// The repository's root folder.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A file under `assets/`, which must exist.
pub fn asset(rel: &str) -> PathBuf {
    let p = repo().join("assets").join(rel);
    assert!(p.is_file(), "repository asset {} is missing", p.display());
    p
}

/// An excerpt in `assets/test-audio/` (see its README for what each one is).
pub fn test_audio(name: &str) -> PathBuf {
    asset(&format!("test-audio/{name}"))
}

/// The bundled 30 s demo clip ("Island Dreams" by K-Pone, 8 kHz FLAC).
pub fn demo_flac() -> PathBuf {
    asset("demo_island_dreams_30s.flac")
}

/// The same clip as a 32 kbit/s MP3.
pub fn demo_mp3() -> PathBuf {
    test_audio("demo_island_dreams_30s.mp3")
}

/// The demo clip, decoded.
pub fn demo_clip() -> Clip {
    load_mono_8k(&demo_flac())
        .expect("the bundled demo clip decodes")
        .0
}

/// The larger shared corpus beside the repository, if it is there.
pub fn shared_data() -> Option<PathBuf> {
    let p = repo().join("../shared/data");
    p.is_dir().then_some(p)
}

/// A file of the shared corpus, or `None` after printing that `test` skipped without it. A
/// corpus that is there but lacks the file is a failure, not a skip.
pub fn shared_file(rel: &str, test: &str) -> Option<PathBuf> {
    let Some(dir) = shared_data() else {
        eprintln!(
            "{test}: skipped, the shared corpus (../shared/data) is not beside the repository"
        );
        return None;
    };
    let p = dir.join(rel);
    assert!(p.is_file(), "shared corpus file {} is missing", p.display());
    Some(p)
}

/// Level ratio in decibels.
pub fn db(a: f32, b: f32) -> f32 {
    20.0 * (a / b).log10()
}

/// RMS of a slice (0 when empty).
pub fn rms(x: &[f32]) -> f32 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len() as f64).sqrt() as f32
}

/// A global allocator that counts allocations and reallocations, for the tests that pin "no
/// allocation per block once warm". A test binary installs it with
/// `#[global_allocator] static GLOBAL: CountingAlloc = CountingAlloc;` and reads
/// [`allocations`]. The count is process-wide, so such a binary runs without libtest
/// (`harness = false`), whose main thread allocates while a test runs.
pub struct CountingAlloc;

static ALLOCATIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Allocations and reallocations counted so far by [`CountingAlloc`].
pub fn allocations() -> usize {
    ALLOCATIONS.load(std::sync::atomic::Ordering::Relaxed)
}

// SAFETY: every call is passed to the system allocator unchanged; only a counter is added.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        unsafe { std::alloc::System.dealloc(ptr, layout) };
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }
}
