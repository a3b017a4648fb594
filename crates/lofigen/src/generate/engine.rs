//! The interface of the cached generation engines: every family's engine steps `B` streams
//! together, one sample each, from ring buffers of its layers' past activations.

use super::kernel::KernelPath;

/// A cached incremental engine. Generic code (the batch drivers, the benchmarks, the tests
/// that every engine must pass) goes through this; each family adds what only it has (a
/// paper engine's `prefill`, a WaveNet's genres).
pub trait Engine {
    /// What one stream is fed per step: a sample value, or a mu-law class.
    type Input: Copy + Default + std::fmt::Debug;

    /// Use at most `threads` threads per product (1 = no threading). The split never changes
    /// a bit of the output.
    fn with_threads(self, threads: usize) -> Self
    where
        Self: Sized;

    /// Run `path` instead of the fastest kernel this CPU has (for tests and benchmarks).
    ///
    /// # Panics
    /// If this CPU cannot run `path` (see [`KernelPath::is_available`]).
    fn with_kernel(self, path: KernelPath) -> Self
    where
        Self: Sized;

    /// The kernel path the products run.
    fn kernel(&self) -> KernelPath;

    /// Number of streams.
    fn streams(&self) -> usize;

    /// Samples of context one output sees.
    fn receptive_field(&self) -> usize;

    /// Bytes of state per stream (the ring buffers, stored twice over).
    fn state_bytes_per_stream(&self) -> usize;

    /// Multiply-adds per generated sample per stream.
    fn macs_per_sample(&self) -> usize;

    /// Back to the initial (all-zero history) state.
    fn reset(&mut self);

    /// Feed one input per stream; returns every stream's outputs, stream-major: its prediction
    /// of the next sample (one value), or the logits of its next class.
    fn step(&mut self, inputs: &[Self::Input]) -> &[f32];
}

/// Checks shared by every engine's builder.
pub(super) fn checked_kernel(path: KernelPath) -> KernelPath {
    assert!(
        path.is_available(),
        "kernel path {path:?} is not supported by this CPU"
    );
    path
}
