//! From tracks to training windows: the time split, the windows, and batches as tensors.
//!
//! Each track is split contiguously in time (first 70 % train, next 20 % validation, last
//! 10 % test by default, as the published code does), so no window of one split overlaps
//! another split. A window pairs `x[i..i+W]` with the NEXT samples `x[i+1..i+W+1]` (the
//! published code accidentally paired inputs with targets two samples ahead; we do not).

use burn::prelude::*;
use lofigen_audio::Clip;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::config::DataConfig;
use crate::corpus::Track;
use crate::error::{Error, Result};

/// RMS level tracks are scaled to when loudness normalisation is on (-20 dBFS).
pub const NORMALIZED_RMS: f32 = 0.1;

/// The three time-ordered parts of the corpus.
#[derive(Clone, Debug, Default)]
pub struct Splits {
    /// First part of every track.
    pub train: Vec<Clip>,
    /// Middle part of every track.
    pub valid: Vec<Clip>,
    /// Last part of every track.
    pub test: Vec<Clip>,
    /// Label (genre folder) of each track, in the same order as the clips of every split.
    pub labels: Vec<String>,
    /// Where each track's train, validation and test parts start in the track, samples.
    pub offsets: Vec<[usize; 3]>,
}

/// Which split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// Training split.
    Train,
    /// Validation split.
    Valid,
    /// Test split.
    Test,
}

impl Split {
    /// Lower-case name, as in the metrics CSV.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Valid => "valid",
            Split::Test => "test",
        }
    }

    /// Its place in the split order (train, validation, test): the index of its start in
    /// [`Splits::offsets`] and of its part in per-split arrays.
    pub fn index(self) -> usize {
        match self {
            Split::Train => 0,
            Split::Valid => 1,
            Split::Test => 2,
        }
    }
}

impl Splits {
    /// The clips of one split.
    pub fn get(&self, split: Split) -> &[Clip] {
        match split {
            Split::Train => &self.train,
            Split::Valid => &self.valid,
            Split::Test => &self.test,
        }
    }

    /// Seconds of audio in each split.
    pub fn seconds(&self) -> [f64; 3] {
        let s = |c: &[Clip]| c.iter().map(|c| c.duration_secs()).sum::<f64>();
        [s(&self.train), s(&self.valid), s(&self.test)]
    }
}

/// Scale a clip to [`NORMALIZED_RMS`], limiting the gain so the peak stays within [-1, 1].
pub fn normalize_loudness(clip: &Clip) -> Clip {
    let rms = clip.rms();
    if rms <= 1e-6 {
        return clip.clone();
    }
    let peak = clip.peak().max(1e-6);
    let gain = (NORMALIZED_RMS / rms).min(1.0 / peak);
    Clip::new(
        clip.samples.iter().map(|s| s * gain).collect(),
        clip.sample_rate,
    )
}

/// Split every track in time and check that each split holds at least one window.
pub fn split_tracks(tracks: &[Track], data: &DataConfig) -> Result<Splits> {
    split_tracks_aligned(tracks, data, 1)
}

/// [`split_tracks`] with every split point on a multiple of `align` samples: a model with
/// controls needs its parts to start on a control frame.
pub fn split_tracks_aligned(tracks: &[Track], data: &DataConfig, align: usize) -> Result<Splits> {
    let align = align.max(1);
    let mut splits = Splits::default();
    for track in tracks {
        let clip = if data.normalize_loudness {
            normalize_loudness(&track.clip)
        } else {
            track.clip.clone()
        };
        let n = clip.len();
        let at = |fraction: f64| (n as f64 * fraction).round() as usize / align * align;
        let a = at(data.split[0]);
        let b = at(data.split[0] + data.split[1]);
        let c = at(data.split[0] + data.split[1] + data.split[2]);
        let rate = clip.sample_rate;
        let part = |lo: usize, hi: usize| Clip::new(clip.samples[lo..hi.min(n)].to_vec(), rate);
        splits.train.push(part(0, a));
        splits.valid.push(part(a, b));
        splits.test.push(part(b, c));
        splits.labels.push(track.label.clone());
        splits.offsets.push([0, a, b]);
    }
    let need = data.window_samples + 1;
    for split in [Split::Train, Split::Valid, Split::Test] {
        if !splits.get(split).iter().any(|c| c.len() >= need) {
            let longest = tracks.iter().map(|t| t.clip.len()).max().unwrap_or(0);
            let names: Vec<String> = tracks
                .iter()
                .map(|t| t.path.display().to_string())
                .collect();
            return Err(Error::Corpus {
                path: names.join(", ").into(),
                problem: format!(
                    "audio too short: the {} split needs at least {need} samples ({:.2} s) in one file, \
                     but the longest file has {longest} samples ({:.2} s) in all; use longer audio or a smaller \
                     data.window_samples",
                    split.name(),
                    need as f64 / f64::from(crate::config::SAMPLE_RATE_HZ),
                    longest as f64 / f64::from(crate::config::SAMPLE_RATE_HZ),
                ),
            });
        }
    }
    Ok(splits)
}

/// All windows of a set of clips: `(clip index, start sample)`.
#[derive(Clone, Debug)]
pub struct Windows {
    clips: Vec<Clip>,
    /// Genre index of each clip (all 0 unless [`Windows::with_genres`] set them).
    genres: Vec<usize>,
    /// Control frames of each clip (see [`Windows::with_controls`]).
    controls: Option<WindowControls>,
    starts: Vec<(usize, usize)>,
    window: usize,
}

/// The control frames of a set of clips.
#[derive(Clone, Debug)]
struct WindowControls {
    /// Per clip, `[frame][dims]` values from its first sample on.
    frames: Vec<Vec<f32>>,
    dims: usize,
    hop: usize,
    /// Groups of values dropped together (value ranges), each with probability `dropout`.
    groups: Vec<std::ops::Range<usize>>,
    dropout: f32,
    seed: u64,
}

/// A batch for a classifying model: mu-law classes of the input and of the next samples, and
/// the genre of each window.
pub struct ClassBatch {
    /// `[batch, window]` input classes.
    pub input: Tensor<2, Int>,
    /// `[batch, window]` classes of the next samples.
    pub target: Tensor<2, Int>,
    /// `[batch]` genre indices.
    pub genre: Tensor<1, Int>,
    /// `[batch, frames, dims]` control frames, if the windows have them.
    pub controls: Option<Tensor<3>>,
}

impl Windows {
    /// Windows of `window` samples every `stride` samples; each needs `window + 1` samples
    /// because its target runs one sample ahead.
    pub fn new(clips: &[Clip], window: usize, stride: usize) -> Self {
        let mut starts = Vec::new();
        for (c, clip) in clips.iter().enumerate() {
            if clip.len() < window + 1 {
                continue;
            }
            let last = clip.len() - (window + 1);
            starts.extend((0..=last).step_by(stride).map(|s| (c, s)));
        }
        Self {
            genres: vec![0; clips.len()],
            controls: None,
            clips: clips.to_vec(),
            starts,
            window,
        }
    }

    /// Attach a genre index to each clip (same order as the clips).
    pub fn with_genres(mut self, genres: Vec<usize>) -> Self {
        assert_eq!(genres.len(), self.clips.len(), "one genre per clip");
        self.genres = genres;
        self
    }

    /// Attach control frames to each clip (`[frame][dims]`, frame `t / hop` for sample `t`,
    /// enough for the clip's length; same order as the clips). Windows then start on frame
    /// boundaries, and each batch drops each of `groups` (ranges of a frame's values) with
    /// probability `dropout`, seeded by `seed` and the batch: control dropout, so that a model
    /// learns to work from any subset of its controls.
    pub fn with_controls(
        mut self,
        frames: Vec<Vec<f32>>,
        dims: usize,
        hop: usize,
        (groups, dropout, seed): (Vec<std::ops::Range<usize>>, f32, u64),
    ) -> Self {
        assert_eq!(
            frames.len(),
            self.clips.len(),
            "control frames for each clip"
        );
        assert!(dims >= 1 && hop >= 1);
        for (f, c) in frames.iter().zip(&self.clips) {
            assert!(
                f.len() >= c.len().div_ceil(hop) * dims,
                "too few control frames for the clip"
            );
        }
        for (_, s) in &mut self.starts {
            *s = *s / hop * hop;
        }
        self.starts.dedup();
        self.controls = Some(WindowControls {
            frames,
            dims,
            hop,
            groups,
            dropout,
            seed,
        });
        self
    }

    /// Number of windows.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Windows cut from the first `clips` clips (their indices come first).
    pub fn windows_of_first(&self, clips: usize) -> usize {
        self.starts.partition_point(|&(c, _)| c < clips)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Window indices in a seeded random order (a different order every epoch).
    pub fn shuffled(&self, seed: u64, epoch: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        let mut rng =
            StdRng::seed_from_u64(seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        order.shuffle(&mut rng);
        order
    }

    /// Where window `i` starts: its clip's index and its first input sample in that clip.
    /// Its target sample `j` is the clip's sample `start + j + 1`.
    pub fn start(&self, i: usize) -> (usize, usize) {
        self.starts[i]
    }

    /// The input samples of window `i` (length `window`).
    pub fn input(&self, i: usize) -> &[f32] {
        let (c, s) = self.starts[i];
        &self.clips[c].samples[s..s + self.window]
    }

    /// Input and next-sample target of the windows `ids`.
    ///
    /// # Shapes
    /// - both: `[ids.len(), 1, window]`
    pub fn batch(&self, ids: &[usize], device: &Device) -> (Tensor<3>, Tensor<3>) {
        let w = self.window;
        let mut input = Vec::with_capacity(ids.len() * w);
        let mut target = Vec::with_capacity(ids.len() * w);
        for &i in ids {
            let (c, s) = self.starts[i];
            let samples = &self.clips[c].samples;
            input.extend_from_slice(&samples[s..s + w]);
            target.extend_from_slice(&samples[s + 1..s + w + 1]);
        }
        let shape = [ids.len(), 1, w];
        (
            Tensor::from_data(TensorData::new(input, shape), device),
            Tensor::from_data(TensorData::new(target, shape), device),
        )
    }

    /// The windows `ids` as mu-law classes (see [`ClassBatch`]).
    pub fn class_batch(&self, ids: &[usize], classes: usize, device: &Device) -> ClassBatch {
        let w = self.window;
        let mut input = Vec::with_capacity(ids.len() * w);
        let mut target = Vec::with_capacity(ids.len() * w);
        let mut genre = Vec::with_capacity(ids.len());
        for &i in ids {
            let (c, s) = self.starts[i];
            // Encode each sample once: the target is the input shifted by one, plus the sample
            // after the window.
            let samples = &self.clips[c].samples;
            let code = |x: f32| lofigen_audio::mulaw::encode(x, classes) as i64;
            let at = input.len();
            input.extend(samples[s..s + w].iter().map(|&x| code(x)));
            target.extend_from_slice(&input[at + 1..]);
            target.push(code(samples[s + w]));
            genre.push(self.genres[c] as i64);
        }
        let shape = [ids.len(), w];
        ClassBatch {
            input: Tensor::from_data(TensorData::new(input, shape), device),
            target: Tensor::from_data(TensorData::new(target, shape), device),
            genre: Tensor::from_data(TensorData::new(genre, [ids.len()]), device),
            controls: self
                .controls
                .as_ref()
                .map(|k| self.control_batch(k, ids, device)),
        }
    }

    /// The control frames of the windows `ids`, with control dropout.
    ///
    /// # Shapes
    /// - output: `[ids.len(), ceil(window / hop), dims]`
    fn control_batch(&self, k: &WindowControls, ids: &[usize], device: &Device) -> Tensor<3> {
        let frames = self.window.div_ceil(k.hop);
        let mut out = Vec::with_capacity(ids.len() * frames * k.dims);
        // One draw per window and group, from the seed, the window and the batch's first
        // window: reproducible, and different every epoch (the batches differ).
        let first = ids.first().copied().unwrap_or(0) as u64;
        for &i in ids {
            let (c, s) = self.starts[i];
            let from = s / k.hop * k.dims;
            let at = out.len();
            out.extend_from_slice(&k.frames[c][from..from + frames * k.dims]);
            for (g, range) in k.groups.iter().enumerate() {
                let key = k.seed
                    ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    ^ first.wrapping_mul(0xD1B5_4A32_D192_ED03)
                    ^ (g as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407);
                if unit(key) < k.dropout {
                    for f in out[at..].chunks_exact_mut(k.dims) {
                        f[range.clone()].fill(0.0);
                    }
                }
            }
        }
        Tensor::from_data(TensorData::new(out, [ids.len(), frames, k.dims]), device)
    }
}

/// A uniform number in [0, 1) from a key (splitmix64's finaliser).
fn unit(key: u64) -> f32 {
    let mut z = key.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 40) as f32 / (1u64 << 24) as f32
}
