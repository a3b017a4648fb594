//! A warm finished stream (`runtime::Render`: generation plus the effects chain) allocates
//! nothing per block. Counted with a counting global allocator, in this test binary only, one
//! test only, so nothing else allocates concurrently.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use lofigen::runtime::{FxPreset, Generator, StreamOptions};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn a_warm_render_allocates_nothing_per_block() {
    let g = Generator::bundled().unwrap();
    for (fx, rate) in [
        (FxPreset::Lofi, 44_100),
        (FxPreset::Vinyl, 48_000),
        (FxPreset::None, 8000),
    ] {
        let o = StreamOptions {
            fx: fx.settings(),
            rate,
            ..StreamOptions::default()
        };
        let mut render = g.render(&o).unwrap();
        let mut buf = vec![0.0f32; 4410 * 2];
        // Warm-up: a second of audio sizes every buffer.
        for _ in 0..10 {
            render.fill(&mut buf);
        }
        let before = ALLOCS.load(Ordering::Relaxed);
        for block in [4410 * 2, 1, 777, 4410 * 2] {
            for _ in 0..3 {
                render.fill(&mut buf[..block]);
            }
        }
        let during = ALLOCS.load(Ordering::Relaxed) - before;
        assert_eq!(during, 0, "{fx} at {rate} Hz: {during} allocations");
    }
}
