//! Objective measures of generated audio against real reference audio.
//!
//! [`evaluate`] analyses every clip with [`lofigen_audio::measures`] and returns an
//! [`EvalReport`]: one [`EvalRow`] per generated file (its distances to the reference set and its
//! own measures) and one for the reference set itself, so that each number has a scale next to it.
//! The reference row's distances are leave-one-out: each reference clip against the others, which
//! says how far apart two real tracks of the set are.
//!
//! Every clip is also analysed musically ([`crate::music`]): its tempo and beat strength, and
//! with [`evaluate_with`] how well it keeps a requested tempo and chord progression.

use std::path::PathBuf;

use burn::prelude::Device;
use lofigen_audio::Clip;
use lofigen_audio::analysis::{MusicAnalysis, analyze_music};
use lofigen_audio::measures::{self, Analysis, Gaussian};
use rayon::prelude::*;
use serde::Serialize;

use crate::config::RunConfig;
use crate::controls::{CONTROL_DIMS, Group, Guidance, Score, drop_group};
use crate::corpus::Track;
use crate::data::{Split, Windows};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::music::{self, MusicScore, MusicTarget};

/// Time columns of a spectrogram panel in reports and `lofigen eval` (about one per pixel).
pub const SPECTROGRAM_COLUMNS: usize = 480;

/// The analysis settings, written into the report so that its numbers can be read later.
#[derive(Clone, Debug, Serialize)]
pub struct EvalSettings {
    /// Sample rate of every clip, Hz.
    pub sample_rate: u32,
    /// STFT frame length, samples (periodic Hann window).
    pub frame_len: usize,
    /// STFT hop, samples.
    pub hop: usize,
    /// Mel bands behind the MFCCs.
    pub n_mels: usize,
    /// MFCCs per frame.
    pub n_mfcc: usize,
    /// Frames below this level (dBFS) count as silent.
    pub silence_dbfs: f64,
    /// Samples at or above this magnitude count as clipped.
    pub clip_level: f32,
    /// RMS level (dBFS) every clip is normalised to before its spectra are taken.
    pub normalised_rms_dbfs: f64,
    /// Frames per spectrum whose flatness is taken.
    pub flatness_segment_frames: usize,
    /// Half-width (bins) of the tonal-peak band.
    pub tonal_half_width_bins: usize,
}

impl EvalSettings {
    fn new(sample_rate: u32) -> Self {
        Self {
            sample_rate,
            frame_len: measures::FRAME_LEN,
            hop: measures::HOP,
            n_mels: measures::N_MELS,
            n_mfcc: measures::N_MFCC,
            silence_dbfs: measures::SILENCE_DBFS,
            clip_level: measures::CLIP_LEVEL,
            normalised_rms_dbfs: 20.0 * measures::NORMALISED_RMS.log10(),
            flatness_segment_frames: measures::FLATNESS_SEGMENT_FRAMES,
            tonal_half_width_bins: measures::TONAL_HALF_WIDTH_BINS,
        }
    }
}

/// The measures of one generated file, or of the reference set.
#[derive(Clone, Debug, Serialize)]
pub struct EvalRow {
    /// File name (or "reference" for the reference set).
    pub name: String,
    /// Duration, seconds (summed over the set for the reference row).
    pub seconds: f64,
    /// RMS difference in dB between the long-term spectra (each normalised to unit power).
    /// For the reference row: mean over its clips of each against the others; `None` with a
    /// single reference clip.
    pub spectrum_distance_db: Option<f64>,
    /// Fréchet distance between Gaussians fitted to per-frame MFCCs (same leave-one-out rule for
    /// the reference row); `None` when a side has fewer than two frames.
    pub mfcc_frechet: Option<f64>,
    /// Spectral flatness: white noise ≈ 0.94, a pure tone ≈ 0.
    pub flatness: Option<f64>,
    /// Share of energy in the strongest narrow band: a stuck tone ≈ 1.
    pub tonal_peak: Option<f64>,
    /// Standard deviation of non-silent frame levels, dB.
    pub dynamics_db: Option<f64>,
    /// Mean over mel bands of each band's level standard deviation, dB: notes and hits that
    /// come and go (see [`lofigen_audio::measures::ClipMeasures::band_contrast_db`]).
    pub band_contrast_db: Option<f64>,
    /// Fraction of frames below the silence level.
    pub silence_fraction: f64,
    /// Fraction of clipped samples.
    pub clipping_fraction: f64,
    /// RMS level, dBFS (for the reference row: of the set's pooled power).
    pub rms_dbfs: f64,
    /// Negative log-likelihood of the reference set under the mu-law model (WaveNet) that
    /// generated this file, bits per sample (8 = a uniform guess over 256 classes); see
    /// [`nll_bits_per_sample`] and [`EvalReport::set_model_nll`]. `None` for files without a
    /// known model, for regressing models (their loss is an MSE), and on the reference row.
    pub nll_bits_per_sample: Option<f64>,
    /// Tempo, BPM; `None` when no beat was found. For the reference row: the mean over the
    /// reference files that have one.
    pub tempo_bpm: Option<f64>,
    /// How clearly the clip has a beat, 0..1 (reference row: mean over its files).
    pub beat_strength: Option<f64>,
    /// How late the off 16ths fall, in fractions of a 16th (0 straight, up to 0.5; see
    /// [`music::swing`]); `None` without a beat (reference row: mean over its files).
    pub swing: Option<f64>,
    /// With a requested tempo: beat F-measure of the clip's beats against an ideal grid at that
    /// tempo, at the grid phase that fits best (see [`music::grid_beat_f_measure`]); reference
    /// row: mean over its files.
    pub beat_f: Option<f64>,
    /// With a requested tempo: whether the clip's tempo is within 4 % of it, or of its double or
    /// half. `None` on the reference row.
    pub tempo_ok: Option<bool>,
    /// With a requested tempo and chords: share of bars whose chord agrees with the requested
    /// one (see [`music::score`]); reference row: mean over its files.
    pub chord_agreement: Option<f64>,
}

/// Everything `lofigen eval` reports.
#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    /// How the numbers were computed.
    pub settings: EvalSettings,
    /// Names of the reference files, in the order given.
    pub reference_files: Vec<String>,
    /// The reference set's own measures, for scale.
    pub reference: EvalRow,
    /// One row per generated file, in the order given.
    pub generated: Vec<EvalRow>,
    /// With `--control-gap`: whether the model uses its controls (see [`control_gaps`]), as
    /// trained (every group followed with strength 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control_gap: Option<ControlGap>,
    /// With `--control-gap`: the same for the model as it plays, following its controls with
    /// the guidance it generates with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control_gap_guided: Option<ControlGap>,
}

impl EvalReport {
    /// Record the NLL of the reference set under the model that generated every file of the
    /// report (see [`nll_bits_per_sample`]).
    pub fn set_model_nll(&mut self, bits: Option<f64>) {
        for row in &mut self.generated {
            row.nll_bits_per_sample = bits;
        }
    }
}

/// Negative log-likelihood of `reference` under a classifying (mu-law) `model`, in bits per
/// sample: the mean cross-entropy over non-overlapping windows of `window_samples` cut from the
/// clips (at most `max_windows` of them), each window conditioned on genre index `genre` when
/// the model is conditioned.
///
/// `None` for a regressing model (its loss is an MSE, not a likelihood) and when no clip holds
/// a full window plus its one-sample target.
pub fn nll_bits_per_sample(
    model: &Model,
    reference: &[Clip],
    window_samples: usize,
    genre: usize,
    max_windows: Option<usize>,
    device: &Device,
) -> Option<f64> {
    if !matches!(model, Model::WaveNet(_)) {
        return None;
    }
    let windows = Windows::new(reference, window_samples, window_samples)
        .with_genres(vec![genre; reference.len()]);
    if windows.is_empty() {
        return None;
    }
    // Batches of 4 windows bound memory like training's; the mean does not depend on it.
    let nats = crate::loss::mean_loss(model, &windows, 4, max_windows, device);
    Some(crate::loss::nats_to_bits(nats))
}

/// Whether a model uses its controls: its NLL on held-out audio (the test split of `tracks`)
/// with the true control frames, and with deliberately wrong ones. A model that follows its
/// controls predicts worse when they lie.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ControlGap {
    /// Nats per sample with the controls analysed from the audio.
    pub true_nats: f64,
    /// With the rhythm and metrical phase shifted by half a beat.
    pub shifted_nats: f64,
    /// With the chords transposed by 5 semitones.
    pub rotated_nats: f64,
    /// With no controls at all (every group dropped).
    pub none_nats: f64,
    /// With the true controls but the rhythm group dropped (its frames zeroed, flag included,
    /// as control dropout drops it in training): what the rhythm tells the model at all, where
    /// `shifted_nats` is what a wrong rhythm costs.
    pub rhythm_dropped_nats: f64,
    /// The same with the harmony group dropped.
    pub harmony_dropped_nats: f64,
    /// The same with the loudness group dropped.
    pub loudness_dropped_nats: f64,
    /// Test windows measured.
    pub windows: usize,
    /// Samples predicted in them (the NLLs above are means over these).
    pub samples: usize,
    /// Hits of the true rhythm in them ([`Score::hit_times`] of the true score). The rhythm
    /// controls say where hits fall, so a rhythm gap is paid for hit by hit, and
    /// [`ControlGap::per_hit`] reads it so.
    pub hits: usize,
    /// How strongly the controls were followed (every group at 1: as trained; see
    /// [`Guidance`]).
    pub guidance: String,
    /// The same NLLs folded over the beat of the true score: [`GAP_PHASE_BINS`] stretches from
    /// each beat to the next, so that a gap that lives at the onsets shows where it lives
    /// (empty for a model without a likelihood).
    pub by_beat: Vec<PhaseGap>,
}

/// Stretches of a beat in [`ControlGap::by_beat`]: 16, a 64th note each, so that the few
/// samples of an onset are not averaged with the rest of its 16th.
pub const GAP_PHASE_BINS: usize = 16;

/// The control gap over one stretch of the beat (see [`ControlGap::by_beat`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PhaseGap {
    /// Where the stretch starts, as a fraction of the beat (0 = on the beat).
    pub phase: f64,
    /// The share of the measured samples that fall in it.
    pub share: f64,
    /// Nats per sample in it with the true controls.
    pub true_nats: f64,
    /// Rhythm shifted half a beat minus true, nats per sample in it.
    pub rhythm_gap: f64,
    /// Chords moved 5 semitones minus true, nats per sample in it.
    pub chord_gap: f64,
    /// No controls at all minus true, nats per sample in it: where the true controls help
    /// (positive) and where the model would do better without them (negative).
    pub none_gap: f64,
}

impl From<&PhaseGap> for crate::plot::BeatStretch {
    fn from(g: &PhaseGap) -> Self {
        Self {
            phase: g.phase,
            true_nats: g.true_nats,
            rhythm_gap: g.rhythm_gap,
            chord_gap: g.chord_gap,
            none_gap: g.none_gap,
        }
    }
}

/// Folds per-sample NLLs of the test windows over the beat: `wrong` holds the shifted, the
/// rotated and the no-control NLLs, sample for sample with `truth`; `at(window, j)` is the beat
/// phase (0..1) of target sample `j` of a window, `None` where no beat is known.
fn fold_over_beat(
    truth: &[f32],
    wrong: [&[f32]; 3],
    window: usize,
    at: impl Fn(usize, usize) -> Option<f64>,
) -> Vec<PhaseGap> {
    let mut sums = [[0.0f64; 4]; GAP_PHASE_BINS];
    let mut counts = [0usize; GAP_PHASE_BINS];
    for (k, t) in truth.iter().enumerate() {
        let Some(phase) = at(k / window, k % window) else {
            continue;
        };
        let bin = ((phase * GAP_PHASE_BINS as f64) as usize).min(GAP_PHASE_BINS - 1);
        let t = f64::from(*t);
        sums[bin][0] += t;
        for (sum, w) in sums[bin][1..].iter_mut().zip(wrong) {
            *sum += f64::from(w[k]) - t;
        }
        counts[bin] += 1;
    }
    let total = counts.iter().sum::<usize>().max(1) as f64;
    (0..GAP_PHASE_BINS)
        .map(|b| {
            let n = counts[b].max(1) as f64;
            PhaseGap {
                phase: b as f64 / GAP_PHASE_BINS as f64,
                share: counts[b] as f64 / total,
                true_nats: sums[b][0] / n,
                rhythm_gap: sums[b][1] / n,
                chord_gap: sums[b][2] / n,
                none_gap: sums[b][3] / n,
            }
        })
        .collect()
}

impl ControlGap {
    /// How much worse the half-beat-shifted rhythm predicts, nats per sample.
    pub fn rhythm_gap(&self) -> f64 {
        self.shifted_nats - self.true_nats
    }

    /// How much worse the rotated chords predict, nats per sample.
    pub fn chord_gap(&self) -> f64 {
        self.rotated_nats - self.true_nats
    }

    /// A gap of `nats_per_sample` over the measured audio, in nats per hit of its true rhythm
    /// (see [`ControlGap::hits`]); `None` when no hit was measured.
    pub fn per_hit(&self, nats_per_sample: f64) -> Option<f64> {
        (self.hits > 0).then(|| nats_per_sample * self.samples as f64 / self.hits as f64)
    }

    /// The rhythm's gaps per hit: (shifted half a beat, dropped); `None` when no hit was
    /// measured.
    pub fn rhythm_per_hit(&self) -> Option<(f64, f64)> {
        Some((
            self.per_hit(self.rhythm_gap())?,
            self.per_hit(self.rhythm_dropped_nats - self.true_nats)?,
        ))
    }
}

/// [`ControlGap`]s of a model with controls on the test split of `tracks` (as `config` splits
/// them), over at most `max_windows` windows: one per entry of `guidances`, the model following
/// its controls with it (`Guidance::default()`: as trained). The scores, the windows and the
/// NLL with no controls (which no guidance changes) are computed once for all. `None` for a
/// model without controls.
pub fn control_gaps(
    model: &Model,
    config: &RunConfig,
    tracks: &[Track],
    max_windows: Option<usize>,
    guidances: &[Guidance],
    device: &Device,
) -> Result<Option<Vec<ControlGap>>> {
    let on = GapWindows {
        split: Split::Test,
        every: 1,
        max: max_windows,
    };
    control_gaps_in(model, config, tracks, &on, guidances, device)
}

/// Which windows [`control_gaps_in`] measures.
#[derive(Clone, Copy, Debug)]
pub struct GapWindows {
    /// The split of each track (as the run's config splits them).
    pub split: Split,
    /// One window of every `every` back to back (1: all; more spreads a sample of the long
    /// training split over every track instead of taking its first windows).
    pub every: usize,
    /// At most this many windows.
    pub max: Option<usize>,
}

/// [`control_gaps`] on the windows `on` says: for instance the training split, to see whether
/// what the gaps show on held-out audio is learnt or a failure to generalise.
pub fn control_gaps_in(
    model: &Model,
    config: &RunConfig,
    tracks: &[Track],
    on: &GapWindows,
    guidances: &[Guidance],
    device: &Device,
) -> Result<Option<Vec<ControlGap>>> {
    let Some(hop) = crate::controls::check_layout(config)? else {
        return Ok(None);
    };
    let splits = crate::data::split_tracks_aligned(tracks, &config.data, hop)?;
    let scores = crate::controls::track_scores(tracks, config);
    if scores.iter().all(Option::is_none) {
        return Err(Error::Eval {
            path: tracks
                .first()
                .map_or_else(|| PathBuf::from("<tracks>"), |t| t.path.clone()),
            problem: "no beat found in any track: there are no true controls to compare".into(),
        });
    }
    let lengths: Vec<usize> = tracks.iter().map(|t| t.clip.len()).collect();
    let (_, genres) = crate::train::resolve_genres(config, tracks)?;
    let w = config.data.window_samples;
    let part = on.split.index();
    // The split's frames of each track, with its scores transformed.
    let frames = |transform: &dyn Fn(&Score) -> Option<Score>| {
        let mut parts =
            crate::controls::split_frames(&scores, &lengths, &splits, hop, |s| transform(s));
        std::mem::take(&mut parts[part])
    };
    let windows = |frames: Vec<Vec<f32>>| {
        Windows::new(splits.get(on.split), w, w * on.every.max(1))
            .with_genres(genres.clone())
            .with_controls(frames, CONTROL_DIMS, hop, (vec![], 0.0, 0))
    };
    let true_frames = frames(&|s: &Score| Some(s.clone()));
    // The true frames with one group zeroed in every frame, as control dropout zeroes it.
    let dropping = |group| {
        let mut f = true_frames.clone();
        for frame in f.iter_mut().flat_map(|t| t.chunks_exact_mut(CONTROL_DIMS)) {
            drop_group(frame, group);
        }
        windows(f)
    };
    let (rhythm_dropped, harmony_dropped, loudness_dropped) = (
        dropping(Group::Rhythm),
        dropping(Group::Harmony),
        dropping(Group::Loudness),
    );
    let truth = windows(true_frames);
    let shifted = windows(frames(&|s: &Score| Some(s.shifted(0.5))));
    let rotated = windows(frames(&|s: &Score| Some(s.transposed(5))));
    let none = windows(frames(&|_: &Score| None));
    let nll = |windows: &Windows, guidance: Guidance| {
        crate::loss::mean_loss_guided(model, windows, 4, on.max, guidance, device)
    };
    // With no group given, every group's effect is zero and guidance mixes nothing.
    let none_nats = nll(&none, Guidance::default());
    let measured = on.max.map_or(truth.len(), |m| m.min(truth.len()));
    let rate = f64::from(crate::config::SAMPLE_RATE_HZ);
    // The hits of the true score whose 16th falls among a window's predicted samples (hit
    // times rise with the steps, so each window's are a slice found by two searches).
    let hit_times: Vec<Vec<f64>> = scores
        .iter()
        .map(|s| {
            s.as_ref()
                .map_or_else(Vec::new, |s| s.hit_times().collect())
        })
        .collect();
    let hits: usize = (0..measured)
        .map(|i| {
            let (clip, start) = truth.start(i);
            let from = (splits.offsets[clip][part] + start + 1) as f64 / rate;
            let to = from + w as f64 / rate;
            let times = &hit_times[clip];
            times.partition_point(|&t| t < to) - times.partition_point(|&t| t < from)
        })
        .sum();
    // The means above stay on the fused loss that training and validation use; the pass per
    // sample below (eval only) is what the fold needs, and agrees with them to rounding.
    let ids: Vec<usize> = (0..measured).collect();
    // The beat phase of a test sample, from the true score of its track.
    let phase = |window: usize, j: usize| {
        let (clip, start) = truth.start(window);
        let score = scores.get(clip)?.as_ref()?;
        let t = (splits.offsets[clip][part] + start + j + 1) as f64 / rate;
        Some(score.beat_at(t).rem_euclid(1.0))
    };
    let per_sample = |w: &Windows, guidance: Guidance| {
        crate::loss::sample_nll_guided(model, w, &ids, guidance, device).unwrap_or_default()
    };
    // As for `none_nats`, guidance changes nothing without controls.
    let none_samples = per_sample(&none, Guidance::default());
    let by_beat = |guidance: Guidance| {
        let t = per_sample(&truth, guidance);
        if t.is_empty() {
            return Vec::new();
        }
        let (s, r) = (
            per_sample(&shifted, guidance),
            per_sample(&rotated, guidance),
        );
        fold_over_beat(&t, [&s, &r, &none_samples], w, phase)
    };
    Ok(Some(
        guidances
            .iter()
            .map(|&guidance| ControlGap {
                true_nats: nll(&truth, guidance),
                shifted_nats: nll(&shifted, guidance),
                rotated_nats: nll(&rotated, guidance),
                none_nats,
                rhythm_dropped_nats: nll(&rhythm_dropped, guidance),
                harmony_dropped_nats: nll(&harmony_dropped, guidance),
                loudness_dropped_nats: nll(&loudness_dropped, guidance),
                windows: measured,
                samples: measured * w,
                hits,
                guidance: guidance.to_string(),
                by_beat: by_beat(guidance),
            })
            .collect(),
    ))
}

/// Measures each `(name, clip)` of `generated` against the `reference` set, without a musical
/// target: [`evaluate_with`] and [`MusicTarget::default`].
pub fn evaluate(generated: &[(String, Clip)], reference: &[(String, Clip)]) -> Result<EvalReport> {
    evaluate_with(generated, reference, &MusicTarget::default())
}

/// Measures each `(name, clip)` of `generated` against the `reference` set, and every clip (the
/// reference's too, for scale) against the musical `target`.
///
/// The reference's long-term spectrum is the average of its clips' (each weighted equally); its
/// MFCC Gaussian is fitted to the frames of all its clips together. Clips are analysed in
/// parallel. Fails, naming the file, for an empty clip or a sample rate that differs from the
/// first reference clip's, and when `reference` is empty.
pub fn evaluate_with(
    generated: &[(String, Clip)],
    reference: &[(String, Clip)],
    target: &MusicTarget,
) -> Result<EvalReport> {
    let Some((_, first)) = reference.first() else {
        return Err(Error::Eval {
            path: PathBuf::from("<reference>"),
            problem: "no reference audio given".into(),
        });
    };
    let rate = first.sample_rate;
    for (name, clip) in reference.iter().chain(generated) {
        if clip.is_empty() {
            return Err(Error::Eval {
                path: name.into(),
                problem: "it holds no samples".into(),
            });
        }
        if clip.sample_rate != rate {
            return Err(Error::Eval {
                path: name.into(),
                problem: format!(
                    "its sample rate is {} Hz but the first reference's is {rate} Hz",
                    clip.sample_rate
                ),
            });
        }
    }
    let analyse = |set: &[(String, Clip)]| -> Vec<Analysis> {
        set.par_iter().map(|(_, c)| measures::analyse(c)).collect()
    };
    let refs = analyse(reference);
    let gens = analyse(generated);
    let musical = |set: &[(String, Clip)]| -> Result<Vec<MusicScore>> {
        set.par_iter()
            .map(|(name, c)| {
                let a: MusicAnalysis = analyze_music(c).map_err(|e| Error::Eval {
                    path: name.into(),
                    problem: e.to_string(),
                })?;
                Ok(music::score(&a, target))
            })
            .collect()
    };
    let ref_music = musical(reference)?;
    let gen_music = musical(generated)?;

    let ltas: Vec<&[f64]> = refs.iter().map(|a| a.ltas.as_slice()).collect();
    let mfcc: Vec<&[[f64; measures::N_MFCC]]> = refs.iter().map(|a| a.mfcc.as_slice()).collect();
    let ref_ltas = measures::average_spectrum(&ltas);
    let ref_gauss = Gaussian::fit(&mfcc);

    let generated = generated
        .iter()
        .zip(&gens)
        .zip(&gen_music)
        .map(|(((name, _), a), m)| {
            let frechet = Gaussian::fit(&[&a.mfcc])
                .zip(ref_gauss.as_ref())
                .map(|(g, r)| measures::frechet_distance(&g, r));
            row(
                name.clone(),
                a,
                m,
                Some(measures::spectrum_distance_db(&a.ltas, &ref_ltas)),
                frechet,
            )
        })
        .collect();

    Ok(EvalReport {
        settings: EvalSettings::new(rate),
        reference_files: reference.iter().map(|(n, _)| n.clone()).collect(),
        reference: reference_row(&refs, &ref_music),
        generated,
        control_gap: None,
        control_gap_guided: None,
    })
}

fn row(
    name: String,
    a: &Analysis,
    music: &MusicScore,
    spectrum_distance_db: Option<f64>,
    mfcc_frechet: Option<f64>,
) -> EvalRow {
    let m = &a.measures;
    EvalRow {
        name,
        seconds: a.seconds,
        spectrum_distance_db,
        mfcc_frechet,
        flatness: m.flatness,
        tonal_peak: m.tonal_peak,
        dynamics_db: m.dynamics_db,
        band_contrast_db: m.band_contrast_db,
        silence_fraction: m.silence_fraction,
        clipping_fraction: m.clipping_fraction,
        rms_dbfs: m.rms_dbfs,
        nll_bits_per_sample: None,
        tempo_bpm: music.tempo_bpm,
        beat_strength: Some(music.beat_strength),
        swing: music.swing,
        beat_f: music.beat_f,
        tempo_ok: music.tempo_ok,
        chord_agreement: music.chord_agreement,
    }
}

/// The reference set's row: duration-weighted means of its clips' measures, and leave-one-out
/// distances (each clip against the rest of the set); musical measures are plain means over the
/// files that have them (a tempo is a property of a file, not of its length).
fn reference_row(refs: &[Analysis], music: &[MusicScore]) -> EvalRow {
    let seconds: f64 = refs.iter().map(|a| a.seconds).sum();
    let weight = |a: &Analysis| {
        if seconds > 0.0 {
            a.seconds / seconds
        } else {
            1.0 / refs.len() as f64
        }
    };
    // Mean over the clips that have the measure, weighted by duration among them.
    let mean_of = |f: &dyn Fn(&Analysis) -> Option<f64>| -> Option<f64> {
        let (sum, w) = refs
            .iter()
            .filter_map(|a| f(a).map(|v| (v * weight(a), weight(a))))
            .fold((0.0, 0.0), |acc, (v, w)| (acc.0 + v, acc.1 + w));
        (w > 0.0).then(|| sum / w)
    };
    let mut spectrum = Vec::new();
    let mut frechet = Vec::new();
    if refs.len() >= 2 {
        for (i, a) in refs.iter().enumerate() {
            let others: Vec<&Analysis> = refs
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, o)| o)
                .collect();
            let ltas: Vec<&[f64]> = others.iter().map(|o| o.ltas.as_slice()).collect();
            spectrum.push(measures::spectrum_distance_db(
                &a.ltas,
                &measures::average_spectrum(&ltas),
            ));
            let mfcc: Vec<&[[f64; measures::N_MFCC]]> =
                others.iter().map(|o| o.mfcc.as_slice()).collect();
            if let (Some(g), Some(r)) = (Gaussian::fit(&[&a.mfcc]), Gaussian::fit(&mfcc)) {
                frechet.push(measures::frechet_distance(&g, &r));
            }
        }
    }
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let power = mean_of(&|a| Some(10f64.powf(a.measures.rms_dbfs / 10.0))).unwrap_or(0.0);
    EvalRow {
        name: "reference".into(),
        seconds,
        spectrum_distance_db: mean(&spectrum),
        mfcc_frechet: mean(&frechet),
        flatness: mean_of(&|a| a.measures.flatness),
        tonal_peak: mean_of(&|a| a.measures.tonal_peak),
        dynamics_db: mean_of(&|a| a.measures.dynamics_db),
        band_contrast_db: mean_of(&|a| a.measures.band_contrast_db),
        silence_fraction: mean_of(&|a| Some(a.measures.silence_fraction)).unwrap_or(0.0),
        clipping_fraction: mean_of(&|a| Some(a.measures.clipping_fraction)).unwrap_or(0.0),
        rms_dbfs: 10.0 * power.max(1e-20).log10(),
        nll_bits_per_sample: None,
        tempo_bpm: mean_some(music.iter().map(|m| m.tempo_bpm)),
        beat_strength: mean_some(music.iter().map(|m| Some(m.beat_strength))),
        swing: mean_some(music.iter().map(|m| m.swing)),
        beat_f: mean_some(music.iter().map(|m| m.beat_f)),
        tempo_ok: None,
        chord_agreement: mean_some(music.iter().map(|m| m.chord_agreement)),
    }
}

/// The mean of the values that are there; `None` when none is.
fn mean_some(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let v: Vec<f64> = values.flatten().filter(|x| x.is_finite()).collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lofigen_audio::signal::{sine, white_noise};

    fn named(name: &str, samples: Vec<f32>) -> (String, Clip) {
        (name.to_string(), Clip::new(samples, 8000))
    }

    #[test]
    fn the_gap_is_folded_where_it_falls_in_the_beat() {
        // Two windows of 64 samples; a beat every 32 samples; the shifted rhythm costs 2 nats
        // on the first 2 samples of each beat only, the moved chords 0.5 everywhere, and the
        // second window's last 16 samples have no beat.
        let (window, beat) = (64, 32);
        let n = 2 * window;
        let at = |w: usize, j: usize| {
            (w == 0 || j < 48).then(|| ((w * window + j) % beat) as f64 / beat as f64)
        };
        let truth: Vec<f32> = (0..n).map(|k| 1.0 + (k % beat) as f32 * 0.01).collect();
        let shifted: Vec<f32> = (0..n)
            .map(|k| truth[k] + if k % beat < 2 { 2.0 } else { 0.0 })
            .collect();
        let rotated: Vec<f32> = truth.iter().map(|t| t + 0.5).collect();
        // Without controls: 0.25 better than true in the second window, 0.25 worse in the first.
        let none: Vec<f32> = (0..n)
            .map(|k| truth[k] + if k < window { 0.25 } else { -0.25 })
            .collect();
        let bins = fold_over_beat(&truth, [&shifted, &rotated, &none], window, at);
        assert_eq!(bins.len(), GAP_PHASE_BINS);
        let share: f64 = bins.iter().map(|b| b.share).sum();
        assert!((share - 1.0).abs() < 1e-9, "shares sum to {share}");
        // 112 samples with a beat: 8 in each bin of the first half of the beat (the second
        // window stops half-way through its second beat), 6 in the rest.
        assert!((bins[0].share - 8.0 / 112.0).abs() < 1e-9);
        assert!((bins[15].share - 6.0 / 112.0).abs() < 1e-9);
        assert!((bins[0].rhythm_gap - 2.0).abs() < 1e-6, "{:?}", bins[0]);
        for b in &bins[1..] {
            assert!(b.rhythm_gap.abs() < 1e-6, "{b:?}");
        }
        for b in &bins {
            assert!((b.chord_gap - 0.5).abs() < 1e-6, "{b:?}");
        }
        // Each bin of the first half holds 4 samples of each window, of the second half 4 of
        // the first and 2 of the second.
        for b in &bins[..8] {
            assert!(b.none_gap.abs() < 1e-6, "{b:?}");
        }
        for b in &bins[8..] {
            assert!((b.none_gap - 0.25 / 3.0).abs() < 1e-6, "{b:?}");
        }
        // The true NLL rises through the beat as built: bin 15 holds phases 30/32 and 31/32.
        assert!((bins[0].true_nats - 1.005).abs() < 1e-6, "{:?}", bins[0]);
        assert!((bins[15].true_nats - 1.305).abs() < 1e-6, "{:?}", bins[15]);
        assert!((bins[3].phase - 3.0 / 16.0).abs() < 1e-12);
    }

    #[test]
    fn noise_is_far_from_a_reference_of_tones_and_a_tone_is_near() {
        let reference = vec![
            named("a", sine(440.0, 8000, 3.0, 0.5)),
            named("b", sine(445.0, 8000, 3.0, 0.3)),
        ];
        let generated = vec![
            named("noise", white_noise(24_000, 0.5, 1)),
            named("tone", sine(442.0, 8000, 3.0, 0.1)),
        ];
        let r = evaluate(&generated, &reference).unwrap();
        assert_eq!(r.reference_files, ["a", "b"]);
        let (noise, tone) = (&r.generated[0], &r.generated[1]);
        assert!(noise.spectrum_distance_db.unwrap() > tone.spectrum_distance_db.unwrap());
        assert!(noise.mfcc_frechet.unwrap() > tone.mfcc_frechet.unwrap());
        assert!(r.reference.spectrum_distance_db.is_some());
        assert!(r.reference.tonal_peak.unwrap() > 0.9);
        assert!((r.reference.seconds - 6.0).abs() < 1e-9);
        assert!(noise.nll_bits_per_sample.is_none());
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"nll_bits_per_sample\":null"));
    }

    #[test]
    fn bad_inputs_are_named() {
        let ok = named("ok", sine(440.0, 8000, 1.0, 0.5));
        let e = evaluate(std::slice::from_ref(&ok), &[]).unwrap_err();
        assert!(e.to_string().contains("no reference"), "{e}");
        let e = evaluate(&[named("empty.wav", vec![])], std::slice::from_ref(&ok)).unwrap_err();
        assert!(e.to_string().contains("empty.wav"), "{e}");
        let other = ("fast.wav".to_string(), Clip::new(vec![0.1; 100], 16_000));
        let e = evaluate(&[other], &[ok]).unwrap_err();
        assert!(e.to_string().contains("fast.wav") && e.to_string().contains("16000"));
    }
}
