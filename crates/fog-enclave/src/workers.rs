//! Threads the host lends an enclave, and the work the enclave hands them.
//!
//! An enclave starts no thread of its own: the host lends it threads, each a call that runs
//! [`WorkerPool::run_worker`] and returns only when the pool stops (in a real enclave, an
//! ECALL on its own thread control structure). The enclave's code splits work that may run
//! in parallel into tasks ([`WorkerPool::spawn`]) and waits for each result
//! ([`WorkerPool::wait`]); while it waits, the waiting thread runs queued tasks itself. So
//! the same code runs with no lent thread (everything on the caller's thread) or with many,
//! and a pool that stops while a task is queued still finishes it, on the waiter's thread.
//!
//! What the host can see: how many tasks ran on its threads, and when. The enclave splits
//! work by public counts only (a block's TxOuts in fixed-size chunks), so neither depends on
//! a secret. Tasks own their inputs; what they hold of a secret is zeroized by its own type
//! when the task or its result drops.
//!
//! Failures: a task that panics (a bug) panics again in its waiter, with the same payload, as
//! if the waiter had run it itself (so a boundary's panic fuse blows as before); the thread
//! that ran it goes on with the next task.
//!
//! Trust side: trusted. The threads are the host's; the queue and results stay inside.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::sync::{Arc, Weak};
use std::sync::{Condvar, Mutex, MutexGuard};

type Task = Box<dyn FnOnce() + Send + 'static>;

/// The queue of tasks and the lent threads that run them.
pub struct WorkerPool {
    state: Mutex<PoolState>,
    /// Signalled when a task is queued, a task finishes, or the pool stops.
    changed: Condvar,
}

#[derive(Default)]
struct PoolState {
    tasks: VecDeque<Task>,
    stopped: bool,
    /// Lent threads inside `run_worker` now.
    workers: usize,
    /// Tasks run by lent threads since the start.
    worker_tasks: u64,
}

impl core::fmt::Debug for WorkerPool {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = self.lock();
        f.debug_struct("WorkerPool")
            .field("queued", &s.tasks.len())
            .field("workers", &s.workers)
            .field("stopped", &s.stopped)
            .finish()
    }
}

/// A task's result, once it ran: `Some(Err(payload))` if it panicked.
type Slot<T> = Arc<Mutex<Option<std::thread::Result<T>>>>;

/// A task handed to the pool; [`WorkerPool::wait`] gives its result.
#[must_use = "a spawned task's result is only read through WorkerPool::wait"]
pub struct Pending<T> {
    slot: Slot<T>,
}

impl WorkerPool {
    /// An empty pool, with no thread yet.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(PoolState::default()),
            changed: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // A task runs outside the lock, so a poisoned lock only means a panic between two
        // plain updates of the state, which leave it consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs queued tasks on the calling thread, which the host lends to the enclave, until
    /// [`Self::stop`]. Returns at once on a stopped pool.
    pub fn run_worker(&self) {
        let mut state = self.lock();
        state.workers += 1;
        loop {
            if state.stopped {
                break;
            }
            if let Some(task) = state.tasks.pop_front() {
                state.worker_tasks += 1;
                drop(state);
                task();
                state = self.lock();
                continue;
            }
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        state.workers -= 1;
        drop(state);
        self.changed.notify_all();
    }

    /// Stops the pool: every lent thread returns once its current task is done. Tasks still
    /// queued run on the threads that wait for them.
    pub fn stop(&self) {
        self.lock().stopped = true;
        self.changed.notify_all();
    }

    /// Whether [`Self::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.lock().stopped
    }

    /// Lent threads running now.
    pub fn workers(&self) -> usize {
        self.lock().workers
    }

    /// Tasks the lent threads ran since the pool started (the rest ran on waiting callers).
    pub fn worker_tasks(&self) -> u64 {
        self.lock().worker_tasks
    }

    /// Queues `f`; [`Self::wait`] gives its result.
    pub fn spawn<T, F>(self: &Arc<Self>, f: F) -> Pending<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let slot: Slot<T> = Arc::new(Mutex::new(None));
        let out = slot.clone();
        let pool: Weak<Self> = Arc::downgrade(self);
        let task: Task = Box::new(move || {
            let result = std::panic::catch_unwind(core::panic::AssertUnwindSafe(f));
            *out.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
            // Notify under the pool's lock, so that a waiter between its look at the slot and
            // its wait cannot miss this.
            if let Some(pool) = pool.upgrade() {
                let _state = pool.lock();
                pool.changed.notify_all();
            }
        });
        self.lock().tasks.push_back(task);
        // Every sleeper: a waiter woken alone might find its own result and leave the task.
        self.changed.notify_all();
        Pending { slot }
    }

    /// The result of `pending`, running queued tasks on this thread until it is there. If
    /// the task panicked, this panics with its payload.
    pub fn wait<T>(&self, pending: Pending<T>) -> T {
        let mut state = self.lock();
        loop {
            if let Some(result) = pending
                .slot
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
            {
                drop(state);
                return result.unwrap_or_else(|payload| std::panic::resume_unwind(payload));
            }
            if let Some(task) = state.tasks.pop_front() {
                drop(state);
                task();
                state = self.lock();
                continue;
            }
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use core::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn without_threads_the_waiter_runs_every_task_in_order() {
        let pool = WorkerPool::new();
        let order = Arc::new(Mutex::new(Vec::new()));
        let pending: Vec<_> = (0..5)
            .map(|i| {
                let order = order.clone();
                pool.spawn(move || {
                    order.lock().unwrap().push(i);
                    i * 10
                })
            })
            .collect();
        let results: Vec<_> = pending.into_iter().map(|p| pool.wait(p)).collect();
        assert_eq!(results, [0, 10, 20, 30, 40]);
        assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4]);
        assert_eq!(pool.worker_tasks(), 0);
    }

    #[test]
    fn lent_threads_run_tasks_and_return_when_stopped() {
        let pool = WorkerPool::new();
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let pool = pool.clone();
                std::thread::spawn(move || pool.run_worker())
            })
            .collect();
        while pool.workers() < 2 {
            std::thread::yield_now();
        }
        let ran = Arc::new(AtomicUsize::new(0));
        let pending: Vec<_> = (0..200u64)
            .map(|i| {
                let ran = ran.clone();
                pool.spawn(move || {
                    ran.fetch_add(1, Ordering::SeqCst);
                    (0..20_000u64).fold(i, |a, x| a.wrapping_mul(31).wrapping_add(x))
                })
            })
            .collect();
        for (i, p) in pending.into_iter().enumerate() {
            let want = (0..20_000u64).fold(i as u64, |a, x| a.wrapping_mul(31).wrapping_add(x));
            assert_eq!(pool.wait(p), want);
        }
        assert_eq!(ran.load(Ordering::SeqCst), 200);
        pool.stop();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(pool.workers(), 0);
        // After the stop the waiter still gets its result, by running the task itself.
        let p = pool.spawn(|| 7);
        assert_eq!(pool.wait(p), 7);
    }

    #[test]
    fn a_panicking_task_panics_in_its_waiter_and_the_pool_goes_on() {
        let pool = WorkerPool::new();
        let worker = {
            let pool = pool.clone();
            std::thread::spawn(move || pool.run_worker())
        };
        let bad = pool.spawn(|| -> u32 { std::panic::panic_any("a bug in a task") });
        let caught = std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| pool.wait(bad)));
        let payload = caught.expect_err("the task's panic reaches its waiter");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"a bug in a task"));
        let good = pool.spawn(|| 5u32);
        assert_eq!(pool.wait(good), 5);
        pool.stop();
        worker.join().unwrap();
    }
}
