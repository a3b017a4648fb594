//! Band-limited resampling, whole-clip and streaming.
//!
//! Both use rubato's synchronous FFT resampler (`Fft`, BlackmanHarris2 anti-aliasing window): the
//! rates are fixed, and it is as clean as rubato's best sinc resampler at a fraction of the cost.
//! Its start-up delay is dropped from the front of the output and the tail is flushed with
//! silence, so the output is aligned with the input (no time shift) and has exactly
//! `round(input_len * to / from)` samples.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler};

use crate::Clip;

/// Target FFT block on the input side, in frames. Larger blocks give a sharper anti-aliasing
/// filter (cutoff closer to the output Nyquist); this size keeps the delay and buffers small.
const CHUNK_TARGET: usize = 2048;

/// Band-limited resampling of a whole clip to `to_rate` (same resampler as [`crate::load_mono`]).
/// Returns a copy when the rates already match, or when either rate is 0 (there is nothing
/// meaningful to resample from or to).
pub fn resample(clip: &Clip, to_rate: u32) -> Clip {
    if clip.sample_rate == to_rate || clip.sample_rate == 0 || to_rate == 0 {
        return clip.clone();
    }
    let mut rs = StreamResampler::new(clip.sample_rate, to_rate);
    let expected = expected_len(clip.samples.len() as u64, clip.sample_rate, to_rate);
    let mut out = Vec::with_capacity(expected as usize + 1);
    rs.push(&clip.samples, &mut out);
    rs.finish(&mut out);
    Clip::new(out, to_rate)
}

/// Greatest common divisor (Euclid).
fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// `round(n * to / from)` in integer arithmetic, so that long streams do not drift by rounding.
fn expected_len(n: u64, from: u32, to: u32) -> u64 {
    let num = u128::from(n) * u128::from(to);
    let den = u128::from(from);
    ((num + den / 2) / den) as u64
}

/// Streaming mono resampler used by [`crate::load_mono`]: push chunks of any size, and the
/// resampled samples are appended to your output vector. Memory stays at a few FFT blocks however
/// long the stream is. Call [`StreamResampler::finish`] once at the end to flush the tail.
pub struct StreamResampler {
    inner: Option<Box<FftStream>>,
}

/// The state behind a real (non-identity) conversion.
struct FftStream {
    fft: Fft<f32>,
    from: u32,
    to: u32,
    /// Input not yet handed to the resampler (less than one chunk after each `push`).
    pending: Vec<f32>,
    /// Output of one `process_into_buffer` call.
    scratch: Vec<f32>,
    /// Output frames still to drop at the start: the resampler's delay.
    skip: usize,
    /// Input samples accepted so far, to know the exact output length at the end.
    pushed: u64,
    /// Output samples delivered so far.
    emitted: u64,
}

impl StreamResampler {
    /// A resampler from `from` Hz to `to` Hz. Equal rates pass samples straight through; so does a
    /// zero rate (a caller bug that this constructor cannot report, and passing audio through
    /// untouched is the least surprising answer). [`crate::load_mono`] rejects zero rates itself.
    pub fn new(from: u32, to: u32) -> Self {
        if from == to || from == 0 || to == 0 {
            return Self { inner: None };
        }
        // Fixed input and output chunk sizes: every call consumes exactly one block, which keeps
        // the bookkeeping simple and avoids rubato's internal copying. rubato's filter is centred
        // on input sample fft_size_in / 2 (rounded down) while it reports a delay of
        // fft_size_out / 2 output samples; the two agree exactly only when both block sizes are
        // even, otherwise the output is early by half an input sample. So ask for an even number
        // of minimal blocks (min_in input frames each, min_out output frames each).
        let min_in = (from / gcd(from, to)) as usize;
        let blocks = 2 * CHUNK_TARGET.div_ceil(2 * min_in).max(1);
        let Ok(fft) = Fft::<f32>::new(
            from as usize,
            to as usize,
            min_in * blocks,
            1,
            FixedSync::Both,
        ) else {
            // Only reachable for zero rates or chunk size, both excluded above.
            return Self { inner: None };
        };
        let skip = fft.output_delay();
        let scratch = vec![0.0; fft.output_frames_max()];
        let pending = Vec::with_capacity(fft.input_frames_max() * 2);
        Self {
            inner: Some(Box::new(FftStream {
                fft,
                from,
                to,
                pending,
                scratch,
                skip,
                pushed: 0,
                emitted: 0,
            })),
        }
    }

    /// The most output samples this resampler holds back at any time: its filter delay plus one
    /// block, so after `n` input samples at least `round(n * to / from) - latency_frames()` have
    /// come out of [`StreamResampler::push`]. 0 for a pass-through.
    pub fn latency_frames(&self) -> usize {
        self.inner
            .as_ref()
            .map_or(0, |s| s.fft.output_delay() + s.fft.output_frames_max())
    }

    /// The most samples one block adds to the output, so that a streaming caller can size its
    /// buffers once (1 for a pass-through, which adds what it is given).
    pub(crate) fn block_frames_out(&self) -> usize {
        self.inner.as_ref().map_or(1, |s| s.fft.output_frames_max())
    }

    /// The most input samples one [`StreamResampler::push`] should be given for its output to
    /// stay within one block (1 for a pass-through).
    pub(crate) fn block_frames_in(&self) -> usize {
        self.inner.as_ref().map_or(1, |s| s.fft.input_frames_max())
    }

    /// Resamples `input` (mono) and appends whatever output is ready to `out`. Output lags the
    /// input by up to one block plus the filter delay; [`StreamResampler::finish`] delivers the
    /// rest.
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) {
        let Some(s) = self.inner.as_mut() else {
            out.extend_from_slice(input);
            return;
        };
        s.pushed += input.len() as u64;
        s.pending.extend_from_slice(input);
        let need = s.fft.input_frames_next();
        let mut used = 0;
        while s.pending.len() - used >= need {
            let end = used + need;
            s.process(used, end, None, out);
            used = end;
        }
        s.pending.drain(..used);
    }

    /// Flushes the last partial block and the filter tail, so that the total output is
    /// `round(total_input * to / from)` samples, aligned with the input.
    pub fn finish(self, out: &mut Vec<f32>) {
        let Some(mut s) = self.inner else {
            return;
        };
        let expected = expected_len(s.pushed, s.from, s.to);
        // The partial block (if any), then blocks of silence until the tail is out.
        let mut partial = Some(s.pending.len());
        while s.emitted < expected {
            let len = partial.take().unwrap_or(0);
            let produced = s.process(0, len, Some(expected), out);
            s.pending.clear();
            if produced == 0 {
                // Cannot happen with a working resampler; stop rather than spin forever.
                break;
            }
        }
    }
}

impl FftStream {
    /// Runs one block over `pending[start..end]` (zero-padded when shorter than a block) and
    /// appends the new output, minus the delay still to skip and anything beyond `limit`.
    /// Returns how many frames the resampler produced (before skipping and limiting).
    fn process(
        &mut self,
        start: usize,
        end: usize,
        limit: Option<u64>,
        out: &mut Vec<f32>,
    ) -> usize {
        let need = self.fft.input_frames_next();
        let frames = end - start;
        let input = &self.pending[start..end];
        let out_frames = self.scratch.len();
        let (Ok(adapter_in), Ok(mut adapter_out)) = (
            InterleavedSlice::new(input, 1, frames),
            InterleavedSlice::new_mut(&mut self.scratch, 1, out_frames),
        ) else {
            return 0;
        };
        let indexing = Indexing::new();
        let indexing = if frames < need {
            indexing.partial_len(frames)
        } else {
            indexing
        };
        // The buffers are sized from the resampler's own limits, so this cannot fail; if it ever
        // did, dropping one block is better than panicking in the middle of a long decode.
        let Ok((_, produced)) =
            self.fft
                .process_into_buffer(&adapter_in, &mut adapter_out, Some(&indexing))
        else {
            return 0;
        };
        let mut block = &self.scratch[..produced];
        let dropped = self.skip.min(block.len());
        self.skip -= dropped;
        block = &block[dropped..];
        if let Some(limit) = limit {
            let room = limit.saturating_sub(self.emitted) as usize;
            block = &block[..block.len().min(room)];
        }
        out.extend_from_slice(block);
        self.emitted += block.len() as u64;
        produced
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_sizes_are_even_so_the_delay_is_exact() {
        for &(from, to) in &[
            (44100u32, 8000u32),
            (48000, 8000),
            (8000, 44100),
            (7919, 8000),
        ] {
            let r = StreamResampler::new(from, to);
            let s = r.inner.as_ref().unwrap();
            let (fin, fout) = (s.fft.fft_size_in(), s.fft.fft_size_out());
            assert!(fin % 2 == 0 && fout % 2 == 0, "{from}->{to}: {fin}/{fout}");
            assert_eq!(fin as u64 * u64::from(to), fout as u64 * u64::from(from));
        }
        assert_eq!(gcd(44100, 8000), 100);
        assert_eq!(gcd(7919, 8000), 1);
    }

    #[test]
    fn expected_len_rounds() {
        assert_eq!(expected_len(44100, 44100, 8000), 8000);
        assert_eq!(expected_len(441, 44100, 8000), 80);
        assert_eq!(expected_len(1, 44100, 8000), 0);
        assert_eq!(expected_len(3, 44100, 8000), 1); // 0.544 -> 1
        assert_eq!(expected_len(0, 44100, 8000), 0);
    }

    #[test]
    fn identity_and_zero_rates_pass_through() {
        let c = Clip::new(vec![0.1, 0.2, 0.3], 8000);
        assert_eq!(resample(&c, 8000), c);
        assert_eq!(resample(&Clip::new(vec![0.5], 0), 8000).samples, vec![0.5]);
        let mut out = Vec::new();
        let mut r = StreamResampler::new(8000, 8000);
        r.push(&[1.0, 2.0], &mut out);
        r.finish(&mut out);
        assert_eq!(out, vec![1.0, 2.0]);
    }

    #[test]
    fn exact_lengths_for_many_sizes_and_push_patterns() {
        for &(from, to) in &[
            (44100u32, 8000u32),
            (48000, 8000),
            (8000, 22050),
            (11025, 8000),
        ] {
            for &n in &[0usize, 1, 7, 100, 2047, 2048, 2205, 10_000, 44_101] {
                let x: Vec<f32> = (0..n).map(|i| ((i % 17) as f32 - 8.0) / 10.0).collect();
                let want = expected_len(n as u64, from, to) as usize;
                // One push.
                let mut a = Vec::new();
                let mut r = StreamResampler::new(from, to);
                r.push(&x, &mut a);
                r.finish(&mut a);
                assert_eq!(a.len(), want, "{from}->{to}, n={n}");
                // Odd-sized pushes give the same samples.
                let mut b = Vec::new();
                let mut r = StreamResampler::new(from, to);
                for piece in x.chunks(333) {
                    r.push(piece, &mut b);
                }
                r.finish(&mut b);
                assert_eq!(a, b, "{from}->{to}, n={n}: chunking changed the output");
            }
        }
    }

    #[test]
    fn appends_without_touching_existing_output() {
        let mut out = vec![9.0, 9.0];
        let mut r = StreamResampler::new(16000, 8000);
        r.push(&vec![0.0; 1000], &mut out);
        r.finish(&mut out);
        assert_eq!(out.len(), 2 + 500);
        assert_eq!(&out[..2], &[9.0, 9.0]);
    }
}
