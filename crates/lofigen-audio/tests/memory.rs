//! load_mono streams: its peak heap use is the output plus small buffers, never the decoded
//! source. Measured with a counting global allocator (this test binary only, one test only, so
//! nothing else allocates concurrently).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use lofigen_audio::signal::white_noise;
use lofigen_audio::{load_mono_8k, write_wav_f32};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn decoding_a_long_file_does_not_hold_the_source_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.wav");
    let seconds = 60usize;
    {
        let l = white_noise(44100 * seconds, 0.3, 1);
        let r = white_noise(44100 * seconds, 0.3, 2);
        write_wav_f32(&path, &[l, r], 44100).unwrap();
    }
    let source_bytes = 44100 * seconds * 2 * 4; // 21 MB decoded as f32
    let output_bytes = 8000 * seconds * 4; // 1.9 MB

    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let (clip, report) = load_mono_8k(&path).unwrap();
    let peak = PEAK.load(Ordering::Relaxed) - base;

    assert_eq!(report.source_rate, 44100);
    assert_eq!(clip.len(), 8000 * seconds);
    assert!(
        peak < output_bytes + 6 * 1024 * 1024,
        "peak heap during decode {} MB (output {} MB, source {} MB)",
        peak >> 20,
        output_bytes >> 20,
        source_bytes >> 20
    );
}
