//! A warm finished stream (`runtime::Render`: generation plus the effects chain) allocates
//! nothing per block, nor does a warm batch of them (`runtime::RenderBatch`, its threads
//! included). Counted with a counting global allocator, in this test binary only. It runs
//! without libtest (`harness = false` in Cargo.toml): libtest's main thread allocates while
//! its test runs, and the count is process-wide.

use lofigen::runtime::{FxPreset, Generator, StreamOptions};
use lofigen_testkit::{CountingAlloc, allocations};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn main() {
    a_warm_render_allocates_nothing_per_block();
    println!("a_warm_render_allocates_nothing_per_block ... ok");
}

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
    // The batch here too, three streams on two threads.
    let all: Vec<StreamOptions> = (0..3)
        .map(|s| {
            let mut o = StreamOptions::default();
            o.sampling.seed = s;
            o
        })
        .collect();
    let mut batch = g.render_batch(&all, 2).unwrap();
    let mut bufs = vec![vec![0.0f32; 4410 * 2]; 3];
    let mut parts: Vec<&mut [f32]> = bufs.iter_mut().map(|b| &mut b[..]).collect();
    // Warm-up: two seconds, four of the batch's blocks.
    for _ in 0..20 {
        batch.fill(&mut parts);
    }
    let before = allocations();
    for _ in 0..20 {
        batch.fill(&mut parts);
    }
    let during = allocations() - before;
    assert_eq!(during, 0, "a warm batch: {during} allocations in 2 s");
}
