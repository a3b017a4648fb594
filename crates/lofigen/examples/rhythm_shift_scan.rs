//! How a model with controls scores held-out audio when its rhythm is moved: the NLL of the
//! test split of `AUDIO` (split as the run's config splits its training audio) with the rhythm
//! and metrical phase shifted by -1/2 to +1/2 beat in 16ths of a beat. A model aligned with its
//! controls scores best at 0; the rise away from it says how much it leans on the rhythm.
//! `lofigen eval --control-gap` measures one shift (half a beat); this scans them, for the
//! report of issue 14.
//!
//! cargo build --profile ci --workspace --features wgpu --examples &&
//!   target/ci/examples/rhythm_shift_scan RUN AUDIO [RHYTHM]
//! (RHYTHM: the rhythm guidance, default 1, the model as trained)

use std::path::PathBuf;

use lofigen::controls::{CONTROL_DIMS, Guidance};
use lofigen::data::{Split, Windows};
use lofigen::run::RunDir;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [run, audio, rest @ ..] = args.as_slice() else {
        return Err("usage: rhythm_shift_scan RUN AUDIO [RHYTHM]".into());
    };
    let guidance: Guidance = match rest.first() {
        None => Guidance::default(),
        Some(g) => format!("rhythm={g}")
            .parse()
            .map_err(|e| format!("bad rhythm guidance {g:?}: {e}"))?,
    };
    let device = lofigen::cpu_device();
    let (config, model) = RunDir::new(run).load_trained(&device)?;
    let Some(hop) = lofigen::controls::check_layout(&config)? else {
        return Err(format!("{run} has no controls").into());
    };
    let tracks = lofigen::corpus::load_tracks(&[PathBuf::from(audio)])?;
    let splits = lofigen::data::split_tracks_aligned(&tracks, &config.data, hop)?;
    let scores = lofigen::controls::track_scores(&tracks, &config);
    let lengths: Vec<usize> = tracks.iter().map(|t| t.clip.len()).collect();
    let (_, genres) = lofigen::train::resolve_genres(&config, &tracks)?;
    let w = config.data.window_samples;
    let nlls: Vec<(f64, f64)> = (-8i32..=8)
        .map(|k| {
            let shift = f64::from(k) / 16.0;
            let [_, _, test] =
                lofigen::controls::split_frames(&scores, &lengths, &splits, hop, |s| {
                    Some(s.shifted(shift))
                });
            let windows = Windows::new(splits.get(Split::Test), w, w)
                .with_genres(genres.clone())
                .with_controls(test, CONTROL_DIMS, hop, (vec![], 0.0, 0));
            let nll = lofigen::loss::mean_loss_guided(&model, &windows, 4, None, guidance, &device);
            (shift, nll)
        })
        .collect();
    let at_zero = nlls[8].1;
    println!("NLL of the test split, nats per sample (guidance {guidance}):");
    for (shift, nll) in nlls {
        println!(
            "rhythm moved {shift:+.4} beat: {nll:.4} ({:+.4})",
            nll - at_zero
        );
    }
    Ok(())
}
