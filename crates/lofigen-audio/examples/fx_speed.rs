//! How much faster than real time the effects chain runs, per preset, on one core, and which
//! stages take the time.
//!
//! `cargo run --release -p lofigen-audio --example fx_speed [seconds] [out_rate]`
//! (defaults: 60 s of 8 kHz input, 44 100 Hz output).

use std::time::Instant;

use lofigen_audio::fx::{FxChain, FxPreset};
use lofigen_audio::signal::{sine, white_noise};

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: f32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(60.0);
    let out_rate: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(44_100);
    let n = (seconds * 8000.0) as usize;
    // Something music-like: two tones over a noise floor, near full scale at times.
    let input: Vec<f32> = sine(220.0, 8000, seconds, 0.5)
        .iter()
        .zip(sine(331.0, 8000, seconds, 0.3))
        .zip(white_noise(n, 0.1, 1))
        .map(|((a, b), c)| a + b + c)
        .collect();
    println!("{seconds} s of 8 kHz mono -> {out_rate} Hz stereo, blocks of 1000 samples");
    for preset in FxPreset::ALL {
        let mut out = Vec::with_capacity(2 * (seconds * out_rate as f32) as usize + 4096);
        let mut chain = FxChain::new(preset, 8000, out_rate, 1).expect("valid preset");
        let t = Instant::now();
        for block in input.chunks(1000) {
            chain.process(block, &mut out);
        }
        chain.flush(&mut out);
        let wall = t.elapsed().as_secs_f64();
        // Same again with per-stage timing (which itself costs a little).
        let mut chain = FxChain::new(preset, 8000, out_rate, 1).expect("valid preset");
        chain.set_profiling(true);
        out.clear();
        for block in input.chunks(1000) {
            chain.process(block, &mut out);
        }
        chain.flush(&mut out);
        let times = chain.stage_times();
        let total: f64 = times.iter().map(|(_, d)| d.as_secs_f64()).sum();
        let shares: Vec<String> = times
            .iter()
            .map(|(name, d)| format!("{name} {:.0}%", 100.0 * d.as_secs_f64() / total))
            .collect();
        println!(
            "{:>6}: {:7.1}x real time ({:.3} s)  [{}]",
            preset.name(),
            f64::from(seconds) / wall,
            wall,
            shares.join(", ")
        );
    }
}
