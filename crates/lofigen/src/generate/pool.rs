//! A tiny fork-join pool for the engine's per-layer split: a layer step lasts tens of
//! microseconds, about what waking a sleeping rayon worker costs, so the helpers spin briefly
//! between steps (then park, so an idle engine does not burn a core).

use std::cell::UnsafeCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;

/// Spins before parking: long enough to bridge the gap between two layer steps.
const SPIN_ROUNDS: usize = 200_000;

type Job = *const (dyn Fn(usize) + Sync);

struct Slot {
    /// Incremented by the caller to post a job.
    posted: AtomicUsize,
    /// Set to `posted` by the helper when the job is done.
    done: AtomicUsize,
    /// Whether the last job panicked.
    panicked: AtomicBool,
    job: UnsafeCell<Option<Job>>,
}

// SAFETY: `job` is written by the caller only while the helper is idle (before `posted` is
// released) and read by the helper only after acquiring `posted`; the caller waits for `done`
// before the job's borrow ends.
unsafe impl Sync for Slot {}
unsafe impl Send for Slot {}

struct Shared {
    slots: Vec<Slot>,
    quit: AtomicBool,
}

/// `threads - 1` helper threads; [`SpinPool::run`] runs a job on all of them and the caller.
pub struct SpinPool {
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<()>>,
}

impl SpinPool {
    /// A pool where `run` uses `threads` threads in all (the caller included).
    pub fn new(threads: usize) -> Self {
        let helpers = threads.max(1) - 1;
        let shared = Arc::new(Shared {
            slots: (0..helpers)
                .map(|_| Slot {
                    posted: AtomicUsize::new(0),
                    done: AtomicUsize::new(0),
                    panicked: AtomicBool::new(false),
                    job: UnsafeCell::new(None),
                })
                .collect(),
            quit: AtomicBool::new(false),
        });
        let handles = (0..helpers)
            .map(|i| {
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || helper(&shared, i))
            })
            .collect();
        Self { shared, handles }
    }

    /// Threads `run` uses.
    pub fn threads(&self) -> usize {
        self.handles.len() + 1
    }

    /// Call `job(t)` for every `t` in `0..threads()`, `t = 0` on the calling thread, and return
    /// when all are done.
    pub fn run(&self, job: &(dyn Fn(usize) + Sync)) {
        // SAFETY: the pointer is only used until `done` catches up below, while `job` is alive.
        let ptr: Job = unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), Job>(job) };
        let mut tickets = [0usize; 16];
        for (i, slot) in self.shared.slots.iter().enumerate() {
            unsafe { *slot.job.get() = Some(ptr) };
            tickets[i % 16] = slot.posted.fetch_add(1, Ordering::Release) + 1;
            self.handles[i].thread().unpark();
        }
        job(0);
        for (i, slot) in self.shared.slots.iter().enumerate() {
            while slot.done.load(Ordering::Acquire) != tickets[i % 16] {
                std::hint::spin_loop();
            }
            assert!(
                !slot.panicked.load(Ordering::Relaxed),
                "an engine worker panicked"
            );
        }
    }
}

fn helper(shared: &Shared, i: usize) {
    let slot = &shared.slots[i];
    let mut seen = 0;
    loop {
        let mut spins = 0;
        let posted = loop {
            let p = slot.posted.load(Ordering::Acquire);
            if p != seen {
                break p;
            }
            if shared.quit.load(Ordering::Relaxed) {
                return;
            }
            spins += 1;
            if spins < SPIN_ROUNDS {
                std::hint::spin_loop();
            } else {
                std::thread::park();
            }
        };
        // SAFETY: written before `posted` was released; the caller keeps it alive until `done`.
        let job = unsafe { (*slot.job.get()).expect("a posted job") };
        let ok =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe { (*job)(i + 1) }))
                .is_ok();
        slot.panicked.store(!ok, Ordering::Relaxed);
        seen = posted;
        slot.done.store(posted, Ordering::Release);
    }
}

impl Drop for SpinPool {
    fn drop(&mut self) {
        self.shared.quit.store(true, Ordering::Relaxed);
        for h in self.handles.drain(..) {
            h.thread().unpark();
            let _ = h.join();
        }
    }
}
