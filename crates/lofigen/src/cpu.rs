//! What the hand-written CPU kernels share: the vector width they are written for, one pool of
//! recycled scratch buffers, and the CPU-time clock their benchmarks read.

use std::sync::Mutex;

/// f32 lanes of one AVX-512 register: the block width of the generation kernel's packed
/// weights and the accumulator width of the training kernels' reductions. On AVX2 a block is
/// two registers; the portable path loops over it.
pub const LANES: usize = 16;

/// Recycled buffers of `T`, up to a byte budget.
///
/// The training kernels' buffers are tens to hundreds of MB per step. Fresh allocations that
/// large are mmapped and page-fault on first touch, every step, which cost as much as the
/// arithmetic; recycling them keeps the pages mapped. Contents are not cleared: every user
/// overwrites the whole buffer.
pub struct ScratchPool<T> {
    buffers: Mutex<Vec<Vec<T>>>,
    max_bytes: usize,
}

impl<T: Copy + Default> ScratchPool<T> {
    /// An empty pool that keeps at most `max_bytes` of buffers.
    pub const fn new(max_bytes: usize) -> Self {
        Self {
            buffers: Mutex::new(Vec::new()),
            max_bytes,
        }
    }

    /// A buffer of `len` values: a recycled one as it was left (an exact length first, else
    /// the smallest that fits), or a fresh one of `T::default()`.
    pub fn take(&self, len: usize) -> Vec<T> {
        let mut pool = self.buffers.lock().unwrap_or_else(|e| e.into_inner());
        // The same shapes recur every step.
        let pick = pool.iter().position(|b| b.len() == len).or_else(|| {
            (0..pool.len())
                .filter(|&i| pool[i].capacity() >= len)
                .min_by_key(|&i| pool[i].capacity())
        });
        let mut v = pick.map(|i| pool.swap_remove(i)).unwrap_or_default();
        drop(pool);
        v.resize(len, T::default());
        v
    }

    /// Hand a buffer back (dropped when the pool is full).
    pub fn give(&self, v: Vec<T>) {
        let size = std::mem::size_of::<T>();
        let mut pool = self.buffers.lock().unwrap_or_else(|e| e.into_inner());
        let held: usize = pool.iter().map(|b| b.capacity() * size).sum();
        if held + v.capacity() * size <= self.max_bytes {
            pool.push(v);
        }
    }
}

/// CPU time of all this process's threads, in seconds (Linux; 0 elsewhere). On a shared
/// machine the wall time of a step includes waiting for a core; its CPU time does not.
pub fn process_cpu_seconds() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    let ns: u64 = tasks
        .filter_map(|e| {
            let text = std::fs::read_to_string(e.ok()?.path().join("schedstat")).ok()?;
            text.split(' ').next()?.parse::<u64>().ok()
        })
        .sum();
    ns as f64 / 1e9
}

/// Run `body` compiled for AVX-512 or AVX2 where the CPU has them: the default x86-64 target
/// stops at SSE2, and elementwise loops (the gate's rational tanh, residual sums) are worth
/// two (four) times as much at 8 (16) lanes. Same IEEE operations either way (no FMA contraction), so results do not depend on
/// the CPU.
#[inline(always)]
pub fn wide(body: impl FnOnce()) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f")]
        unsafe fn avx512(body: impl FnOnce()) {
            body()
        }
        #[target_feature(enable = "avx2")]
        unsafe fn avx2(body: impl FnOnce()) {
            body()
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU was just checked to support AVX-512F.
            unsafe { avx512(body) };
            return;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU was just checked to support AVX2.
            unsafe { avx2(body) };
            return;
        }
    }
    body()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_buffer_comes_back_and_the_budget_holds() {
        let pool = ScratchPool::<f32>::new(64);
        let mut a = pool.take(8);
        a[0] = 7.0;
        let ptr = a.as_ptr();
        pool.give(a);
        let b = pool.take(8);
        assert_eq!(b.as_ptr(), ptr, "the same allocation is reused");
        assert_eq!(b[0], 7.0, "contents are left as they were");
        // A smaller request takes the recycled buffer, shortened.
        pool.give(b);
        assert_eq!(pool.take(4).len(), 4);
        // Over the budget: not kept.
        pool.give(vec![0.0; 100]);
        assert_eq!(pool.buffers.lock().unwrap().len(), 0);
    }

    #[test]
    fn cpu_time_advances_with_work() {
        let before = process_cpu_seconds();
        let mut x = 0u64;
        for i in 0..50_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        if cfg!(target_os = "linux") {
            assert!(process_cpu_seconds() > before);
        }
    }
}
