//! A warm finished stream (`runtime::Render`: generation plus the effects chain) allocates
//! nothing per block. Counted with a counting global allocator, in this test binary only, one
//! test only, so nothing else allocates concurrently.

use lofigen::runtime::{FxPreset, Generator, StreamOptions};
use lofigen_testkit::{CountingAlloc, allocations};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

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
        let before = allocations();
        for block in [4410 * 2, 1, 777, 4410 * 2] {
            for _ in 0..3 {
                render.fill(&mut buf[..block]);
            }
        }
        let during = allocations() - before;
        assert_eq!(during, 0, "{fx} at {rate} Hz: {during} allocations");
    }
}
