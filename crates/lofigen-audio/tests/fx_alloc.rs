//! The effects chain allocates nothing per block once warm (rubato's and fundsp's real-time
//! rule). Counted with a counting global allocator, in this test binary only. It runs without
//! libtest (`harness = false` in Cargo.toml): libtest's main thread allocates while its test
//! runs, and the count is process-wide.

use lofigen_audio::fx::{FxChain, FxPreset};
use lofigen_audio::signal::white_noise;
use lofigen_testkit::{CountingAlloc, allocations};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn main() {
    a_warm_chain_allocates_nothing_per_block();
    println!("a_warm_chain_allocates_nothing_per_block ... ok");
}

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
            let before = allocations();
            for piece in rest.chunks(block) {
                chain.process(piece, &mut out);
            }
            let during = allocations() - before;
            assert_eq!(
                during, 0,
                "{preset}, blocks of {block}: {during} allocations"
            );
        }
    }
}
