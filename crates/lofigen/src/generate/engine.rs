//! The interface of the cached generation engines: every family's engine steps `B` streams
//! together, one sample each, from ring buffers of its layers' past activations.

use super::kernel::KernelPath;
use super::pool::SpinPool;

/// How an engine computes its products: the kernel path and the threads. Every engine holds
/// one, so the builder methods below are written once.
pub struct Compute {
    pub(super) pool: Option<SpinPool>,
    pub(super) path: KernelPath,
}

impl Compute {
    /// The fastest kernel this CPU has, and one pool thread per core (rayon's count, so
    /// `RAYON_NUM_THREADS` limits it too).
    pub(super) fn new() -> Self {
        let threads = rayon::current_num_threads();
        Self {
            pool: (threads > 1).then(|| SpinPool::new(threads)),
            path: KernelPath::detect(),
        }
    }
}

/// A cached incremental engine. Generic code (the batch drivers, the benchmarks, the tests
/// that every engine must pass) goes through this; each family adds what only it has (a
/// paper engine's `prefill`, a WaveNet's genres).
pub trait Engine {
    /// What one stream is fed per step: a sample value, or a mu-law class.
    type Input: Copy + Default + std::fmt::Debug;

    /// Its kernel path and threads.
    fn compute(&self) -> &Compute;

    /// Its kernel path and threads, to change.
    fn compute_mut(&mut self) -> &mut Compute;

    /// Use at most `threads` threads per product (1 = no threading). The split never changes
    /// a bit of the output.
    fn with_threads(mut self, threads: usize) -> Self
    where
        Self: Sized,
    {
        self.compute_mut().pool = (threads > 1).then(|| SpinPool::new(threads));
        self
    }

    /// Run `path` instead of the fastest kernel this CPU has (for tests and benchmarks).
    ///
    /// # Panics
    /// If this CPU cannot run `path` (see [`KernelPath::is_available`]).
    fn with_kernel(mut self, path: KernelPath) -> Self
    where
        Self: Sized,
    {
        assert!(
            path.is_available(),
            "kernel path {path:?} is not supported by this CPU"
        );
        self.compute_mut().path = path;
        self
    }

    /// The kernel path the products run.
    fn kernel(&self) -> KernelPath {
        self.compute().path
    }

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

    /// Stream `stream` alone back to the initial state (the others keep theirs): a stream that
    /// joins a batch later than the others starts as it would in an engine of its own.
    fn reset_stream(&mut self, stream: usize);

    /// Feed one input per stream; returns every stream's outputs, stream-major: its prediction
    /// of the next sample (one value), or the logits of its next class.
    fn step(&mut self, inputs: &[Self::Input]) -> &[f32];
}
