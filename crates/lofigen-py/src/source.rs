//! The audio `generate` and `stream` read: the runtime's [`Render`] (the model's stream, through
//! the effects chain when one is asked for), read frame by frame. One type for both, so that a
//! stream's blocks joined are exactly what `generate` returns.

use lofigen::runtime::{Generator, Render, StreamOptions};

/// A generator's finished stream, read in whole frames.
pub(crate) struct Source {
    render: Render,
    channels: usize,
}

impl Source {
    /// `generator`'s render with `opts` (raw mono at 8 kHz without effects, else stereo at
    /// `opts.rate`).
    pub(crate) fn new(generator: &Generator, opts: &StreamOptions) -> lofigen::Result<Self> {
        let render = generator.render(opts)?;
        let channels = usize::from(render.channels());
        Ok(Self { render, channels })
    }

    /// Channels of the output.
    pub(crate) fn channels(&self) -> usize {
        self.channels
    }

    /// Output frames for `seconds` of audio.
    pub(crate) fn frames_for(&self, seconds: f64) -> lofigen::Result<usize> {
        self.render.frames_for(seconds)
    }

    /// Appends the next `frames` frames (interleaved) to `out`. Nothing is flushed: frame `k`
    /// is always the same frame, whatever was read before, which is what makes a stream's
    /// blocks join to `generate`'s array.
    pub(crate) fn read(&mut self, frames: usize, out: &mut Vec<f32>) {
        let start = out.len();
        out.resize(start + frames * self.channels, 0.0);
        self.render.fill(&mut out[start..]);
    }
}
