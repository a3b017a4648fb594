//! The musical controls of a locally conditioned WaveNet, on the model's side: the control
//! frames of training audio (analysis -> score -> frames, per split), their deliberately wrong
//! variants for measuring whether a model uses its controls, and the checks that a model and
//! this build agree on the frame layout. The score itself (events on a beat grid, its one
//! renderer, the user's controls, the conductor that plays them) is `lofigen_audio::score`.

use std::ops::Range;

use lofigen_audio::analysis::analyze_music;
pub use lofigen_audio::score::{
    CONTROL_DIMS, Conductor, Controls, FRAME_HOP_8K, Groove, Group, Guidance, Score, Style,
    drop_group,
};
use lofigen_audio::{Clip, resample};

use crate::config::{RunConfig, SAMPLE_RATE_HZ};
use crate::corpus::Track;
use crate::data::{Split, Splits, normalize_loudness};
use crate::error::{Error, Result};

/// The value ranges that control dropout drops together: one per [`Group`], flag included.
pub fn dropout_groups() -> Vec<Range<usize>> {
    Group::ALL.iter().map(|g| g.range()).collect()
}

/// Check that `config`'s model takes this build's control frames, if it takes any. Returns
/// the model's hop (samples per frame), or `None` for a model without controls.
pub fn check_layout(config: &RunConfig) -> Result<Option<usize>> {
    match config.model.controls() {
        None => Ok(None),
        Some((dims, hop)) if dims == CONTROL_DIMS => Ok(Some(hop)),
        Some((dims, _)) => Err(Error::Config {
            path: "model.controls".into(),
            problem: format!(
                "{dims} values per control frame; this lofigen renders {CONTROL_DIMS} \
                 (0 turns controls off)"
            ),
        }),
    }
}

/// The score of each track, analysed on the audio the model trains on (loudness-normalised
/// when the config says so); `None` for a track without a detectable beat, whose frames then
/// say that no control is given.
pub fn track_scores(tracks: &[Track], config: &RunConfig) -> Vec<Option<Score>> {
    tracks
        .iter()
        .map(|t| {
            let clip = if config.data.normalize_loudness {
                normalize_loudness(&t.clip)
            } else {
                t.clip.clone()
            };
            let analysis = analyze_music(&clip).ok()?;
            Score::from_analysis(&analysis).ok()
        })
        .collect()
}

/// Control frames of every track part of `splits` (`[frame][CONTROL_DIMS]` from the part's
/// first sample), rendered from `scores` after `transform` (the identity for training; a shift
/// or a transposition to measure what the model hears; `None` gives "no control" frames).
/// Each part's split points must lie on frame boundaries (see
/// [`crate::data::split_tracks_aligned`]).
pub fn split_frames(
    scores: &[Option<Score>],
    lengths: &[usize],
    splits: &Splits,
    hop: usize,
    transform: impl Fn(&Score) -> Option<Score>,
) -> [Vec<Vec<f32>>; 3] {
    let whole: Vec<Vec<f32>> = scores
        .iter()
        .zip(lengths)
        .map(|(score, &len)| {
            let need = len.div_ceil(hop) * CONTROL_DIMS;
            let mut out = Vec::with_capacity(need);
            if let Some(s) = score.as_ref().and_then(&transform) {
                s.render(SAMPLE_RATE_HZ, hop, &mut out);
            }
            out.resize(need, 0.0);
            out
        })
        .collect();
    [Split::Train, Split::Valid, Split::Test].map(|split| {
        let i = split.index();
        splits
            .get(split)
            .iter()
            .zip(&splits.offsets)
            .zip(&whole)
            .map(|((clip, offsets), frames)| {
                debug_assert_eq!(offsets[i] % hop, 0, "split point off the frame grid");
                let from = offsets[i] / hop * CONTROL_DIMS;
                let n = clip.len().div_ceil(hop) * CONTROL_DIMS;
                let mut part = frames[from.min(frames.len())..].to_vec();
                part.resize(n, 0.0);
                part
            })
            .collect()
    })
}

/// Pitch-shifted copies of the training parts (see `data.transpose_semitones`): for each shift
/// `k` and each track with a score, the train clip played `2^(k/12)` times faster (resampled:
/// `k` semitones higher and that much quicker) and the frames of its score time-scaled and
/// transposed to match. Returns the clips, their frames and the index of the track each came
/// from. The train parts start at the tracks' first samples, so the whole score's frames fit.
pub fn transposed_copies(
    splits: &Splits,
    scores: &[Option<Score>],
    shifts: &[i32],
    hop: usize,
) -> (Vec<Clip>, Vec<Vec<f32>>, Vec<usize>) {
    let (mut clips, mut frames, mut from) = (Vec::new(), Vec::new(), Vec::new());
    for &k in shifts {
        let factor = 2f64.powf(f64::from(k) / 12.0);
        for (i, (clip, score)) in splits.train.iter().zip(scores).enumerate() {
            let Some(score) = score else { continue };
            // Read at a higher rate, written back at the model's: `factor` times faster.
            let fast_rate = (f64::from(SAMPLE_RATE_HZ) * factor).round() as u32;
            let shifted = resample(&Clip::new(clip.samples.clone(), fast_rate), SAMPLE_RATE_HZ);
            let mut f = Vec::new();
            score
                .time_scaled(1.0 / factor)
                .transposed(k)
                .render(SAMPLE_RATE_HZ, hop, &mut f);
            f.resize(shifted.len().div_ceil(hop) * CONTROL_DIMS, 0.0);
            clips.push(shifted);
            frames.push(f);
            from.push(i);
        }
    }
    (clips, frames, from)
}
