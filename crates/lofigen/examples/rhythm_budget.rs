//! How many drum hits a run's rhythm controls describe: hits per second per band in the scores
//! its training analysed, track by track. `lofigen eval --control-gap` reads the gaps per hit
//! of the windows it measures; this gives the whole tracks' rates beside them. For the report
//! of issue 14.
//!
//! cargo build --profile ci --workspace --features wgpu --examples &&
//!   target/ci/examples/rhythm_budget RUN AUDIO

use std::path::PathBuf;

use lofigen::run::RunDir;
use lofigen_audio::score::{BANDS, GROOVE_HIT};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [run, audio] = args.as_slice() else {
        return Err("usage: rhythm_budget RUN AUDIO".into());
    };
    let config = RunDir::new(run).config()?;
    let rate = f64::from(lofigen::config::SAMPLE_RATE_HZ);
    let tracks = lofigen::corpus::load_tracks(&[PathBuf::from(audio)])?;
    let scores = lofigen::controls::track_scores(&tracks, &config);

    println!(
        "track                        seconds    BPM  hits/s low  mid  high  any  samples/hit"
    );
    let (mut seconds, mut hits) = (0.0, 0usize);
    for (track, score) in tracks.iter().zip(&scores) {
        let name = track.path.file_stem().map_or_else(
            || track.path.display().to_string(),
            |s| s.to_string_lossy().into_owned(),
        );
        let Some(score) = score else {
            println!("{name:<28} no beat found");
            continue;
        };
        let s = score.duration_s();
        let mut per_band = [0usize; BANDS];
        for step in score.steps() {
            for (n, v) in per_band.iter_mut().zip(step) {
                *n += usize::from(*v >= GROOVE_HIT);
            }
        }
        let any = score.hit_times().count();
        println!(
            "{:<28} {:>7.1} {:>6.1} {:>10.2} {:>4.2} {:>5.2} {:>4.2} {:>12.0}",
            name.chars().take(28).collect::<String>(),
            s,
            score.bpm(),
            per_band[0] as f64 / s,
            per_band[1] as f64 / s,
            per_band[2] as f64 / s,
            any as f64 / s,
            rate * s / any.max(1) as f64,
        );
        seconds += s;
        hits += any;
    }
    println!(
        "all: {hits} steps with a hit (a band at {GROOVE_HIT} or more) in {seconds:.0} s, \
         {:.2} per second, one every {:.0} samples",
        hits as f64 / seconds.max(f64::MIN_POSITIVE),
        rate * seconds / hits.max(1) as f64
    );
    Ok(())
}
