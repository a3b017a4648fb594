//! The control gap of a model with controls, folded over the beat, on any split of its
//! training audio: `lofigen eval --control-gap` measures the held-out test parts (the tracks'
//! last 5 %); this measures the training part too (a spread sample of its windows), to see
//! whether what the gaps show there is learnt or a failure to generalise. For the report of
//! issue 14.
//!
//! cargo build --profile ci --workspace --features wgpu --examples &&
//!   target/ci/examples/control_gap_by_split RUN AUDIO [train|valid|test] [EVERY]
//! (EVERY: one window of every EVERY back to back, default 16; the model as trained)

use std::path::PathBuf;

use lofigen::controls::Guidance;
use lofigen::data::Split;
use lofigen::eval::{GapWindows, control_gaps_in};
use lofigen::run::RunDir;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [run, audio, rest @ ..] = args.as_slice() else {
        return Err("usage: control_gap_by_split RUN AUDIO [train|valid|test] [EVERY]".into());
    };
    let split = match rest.first().map_or("train", String::as_str) {
        "train" => Split::Train,
        "valid" => Split::Valid,
        "test" => Split::Test,
        other => return Err(format!("unknown split {other:?}: train, valid or test").into()),
    };
    let every: usize = match rest.get(1) {
        None => 16,
        Some(n) => n
            .parse()
            .map_err(|_| format!("EVERY must be a whole number, not {n:?}"))?,
    };
    let device = lofigen::cpu_device();
    let (config, model) = RunDir::new(run).load_trained(&device)?;
    let tracks = lofigen::corpus::load_tracks(&[PathBuf::from(audio)])?;
    let on = GapWindows {
        split,
        every,
        max: None,
    };
    let gaps = control_gaps_in(
        &model,
        &config,
        &tracks,
        &on,
        &[Guidance::default()],
        &device,
    )?
    .ok_or_else(|| format!("{run} has no controls"))?;
    let g = &gaps[0];
    println!(
        "{} split, {} windows, as trained: true {:.4}, rhythm {:+.4}, chords {:+.4}, none {:+.4}",
        split.name(),
        g.windows,
        g.true_nats,
        g.rhythm_gap(),
        g.chord_gap(),
        g.none_nats - g.true_nats
    );
    println!(
        "one group dropped: rhythm {:+.4}, chords {:+.4}, level {:+.4}",
        g.rhythm_dropped_nats - g.true_nats,
        g.harmony_dropped_nats - g.true_nats,
        g.loudness_dropped_nats - g.true_nats
    );
    if let Some((shifted, dropped)) = g.rhythm_per_hit() {
        println!(
            "per hit ({} hits): rhythm shifted {shifted:+.1} nats, dropped {dropped:+.1}",
            g.hits
        );
    }
    println!("beat position  samples %  true NLL  rhythm gap  chord gap  none gap");
    for b in &g.by_beat {
        println!(
            "{:<13.3}  {:>9.1}  {:>8.3}  {:>+10.4}  {:>+9.4}  {:>+8.4}",
            b.phase,
            100.0 * b.share,
            b.true_nats,
            b.rhythm_gap,
            b.chord_gap,
            b.none_gap
        );
    }
    Ok(())
}
