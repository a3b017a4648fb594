//! A tiny fork-join pool for the engine's per-layer split: a layer step lasts microseconds,
//! about what waking a sleeping rayon worker costs, so the helpers spin briefly between steps
//! (then yield, then park, so an idle engine does not burn a core).
//!
//! A job is a number of parts that whoever is free claims, the caller included: on a busy
//! machine, where a helper may not be running when a job is posted, the caller does the parts
//! itself instead of spinning while it waits for a helper to be scheduled. Which thread runs a
//! part never changes what it computes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;

/// Helpers' spins before they start yielding, and yields before they park: long enough to
/// bridge the gap between two products of one step.
const SPIN_ROUNDS: usize = 20_000;
const YIELD_ROUNDS: usize = 2_000;
/// The caller's spins on parts still running elsewhere before it yields its core (to the
/// helper it waits for, on a machine with more runnable threads than cores).
const WAIT_SPINS: usize = 2_000;

/// The job of the current epoch: the caller's `&dyn Fn`, behind a thin pointer.
type JobRef<'a> = &'a (dyn Fn(usize) + Sync);

struct Shared {
    /// `epoch << 32 | parts << 16 | next`: the current job's number, its part count and the
    /// next unclaimed part. One word, so that claiming a part also checks that the job is the
    /// one the claimer read the job pointer for.
    claim: AtomicU64,
    /// Points at the caller's `JobRef` while its job runs.
    job: AtomicPtr<JobRef<'static>>,
    /// Parts finished in the current epoch.
    done: AtomicUsize,
    panicked: AtomicBool,
    quit: AtomicBool,
}

fn unpack(w: u64) -> (u64, usize, usize) {
    (
        w >> 32,
        ((w >> 16) & 0xffff) as usize,
        (w & 0xffff) as usize,
    )
}

impl Shared {
    /// Claim and run one part of the current job; false when none was left.
    fn run_one(&self) -> bool {
        let w = self.claim.load(Ordering::Acquire);
        let (_, parts, next) = unpack(w);
        if next >= parts {
            return false;
        }
        let job = self.job.load(Ordering::Acquire);
        if self
            .claim
            .compare_exchange(w, w + 1, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            // Someone else took it (or a new job began): look again.
            return true;
        }
        // SAFETY: the claim succeeded on the word of the job `job` was published with (the
        // pointer is stored before the word and a new job starts only after every part of
        // this one is done), so the caller is still inside `run`, waiting for this part, and
        // its `JobRef` is alive.
        let job: JobRef<'_> = unsafe { *job };
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(next))).is_ok();
        if !ok {
            self.panicked.store(true, Ordering::Relaxed);
        }
        self.done.fetch_add(1, Ordering::Release);
        true
    }
}

/// `threads - 1` helper threads; [`SpinPool::run`] runs a job's parts on them and the caller.
pub struct SpinPool {
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<()>>,
}

impl SpinPool {
    /// A pool of `threads` threads in all (the caller included).
    pub fn new(threads: usize) -> Self {
        let shared = Arc::new(Shared {
            claim: AtomicU64::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            done: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            quit: AtomicBool::new(false),
        });
        let handles = (1..threads.max(1))
            .map(|_| {
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || helper(&shared))
            })
            .collect();
        Self { shared, handles }
    }

    /// Threads `run` uses.
    pub fn threads(&self) -> usize {
        self.handles.len() + 1
    }

    /// Call `job(p)` once for every part `p` in `0..parts` (at most 65,535), spread over the
    /// pool's threads, and return when all are done.
    pub fn run(&self, parts: usize, job: &(dyn Fn(usize) + Sync)) {
        assert!(parts < 1 << 16, "too many parts");
        let sh = &*self.shared;
        let job_ref: JobRef<'_> = job;
        sh.done.store(0, Ordering::Relaxed);
        // The lifetime is erased only for the pointer's type; `run` does not return before
        // every part is done, and helpers dereference it only for a part they claimed.
        let ptr = (&job_ref as *const JobRef<'_>)
            .cast_mut()
            .cast::<JobRef<'static>>();
        sh.job.store(ptr, Ordering::Release);
        let (epoch, _, _) = unpack(sh.claim.load(Ordering::Relaxed));
        let word = ((epoch + 1) & 0xffff_ffff) << 32 | (parts as u64) << 16;
        sh.claim.store(word, Ordering::Release);
        for h in &self.handles {
            h.thread().unpark();
        }
        while sh.run_one() {}
        let mut spins = 0;
        while sh.done.load(Ordering::Acquire) != parts {
            spins += 1;
            if spins < WAIT_SPINS {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        sh.job.store(std::ptr::null_mut(), Ordering::Relaxed);
        assert!(
            !sh.panicked.swap(false, Ordering::Relaxed),
            "an engine worker panicked"
        );
    }
}

fn helper(shared: &Shared) {
    let mut idle = 0;
    loop {
        if shared.run_one() {
            idle = 0;
            continue;
        }
        if shared.quit.load(Ordering::Relaxed) {
            return;
        }
        idle += 1;
        if idle < SPIN_ROUNDS {
            std::hint::spin_loop();
        } else if idle < SPIN_ROUNDS + YIELD_ROUNDS {
            std::thread::yield_now();
        } else {
            // `run` unparks every helper after posting a job, so a job posted between the
            // check above and this park still wakes it (park returns at once then).
            std::thread::park();
            idle = 0;
        }
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

#[cfg(test)]
mod tests {
    use super::SpinPool;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn every_part_runs_exactly_once_per_job() {
        let pool = SpinPool::new(3);
        for parts in [0, 1, 2, 5, 64] {
            for _ in 0..200 {
                let hits: Vec<AtomicUsize> = (0..parts).map(|_| AtomicUsize::new(0)).collect();
                pool.run(parts, &|p| {
                    hits[p].fetch_add(1, Ordering::Relaxed);
                });
                assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
            }
        }
    }
}
