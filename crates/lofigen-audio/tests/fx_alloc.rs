//! The effects chain allocates nothing per block once warm (rubato's and fundsp's real-time
//! rule). Counted with a counting global allocator, in this test binary only, one test only, so
//! nothing else allocates concurrently.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use lofigen_audio::fx::{FxChain, FxPreset};
use lofigen_audio::signal::white_noise;

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
fn a_warm_chain_allocates_nothing_per_block() {
    let input = white_noise(8000 * 12, 0.5, 3);
    for preset in FxPreset::ALL {
        for block in [37, 1000, 8000] {
            let mut chain = FxChain::new(preset, 8000, 44_100, 1).unwrap();
            // Room for everything, so that only the chain itself could allocate.
            let mut out = Vec::with_capacity(2 * 44_100 * 13);
            let (warm, rest) = input.split_at(8000 * 2);
            for piece in warm.chunks(block) {
                chain.process(piece, &mut out);
            }
            let before = ALLOCS.load(Ordering::Relaxed);
            for piece in rest.chunks(block) {
                chain.process(piece, &mut out);
            }
            let during = ALLOCS.load(Ordering::Relaxed) - before;
            assert_eq!(
                during, 0,
                "{preset}, blocks of {block}: {during} allocations"
            );
        }
    }
}
