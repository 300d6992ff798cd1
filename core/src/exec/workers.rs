//! A session's thread pool, whose workers stay awake for the whole of a run.
//!
//! Waking a sleeping worker costs tens of microseconds on a virtual CPU, more than half of a
//! small op; a rayon worker left without work goes to sleep after a few dozen rounds, so
//! between two ops (or while one thread runs an op that does not split) the others fall asleep
//! and every split pays a wake-up. Here every worker runs one long-lived job from the moment the
//! pool starts: a loop that parks the thread (on a condition variable) between runs and, while
//! a run is on, asks the pool for work (`rayon::yield_now`) and, when there is none, yields the
//! CPU to the OS and asks again. Yielding rather than a pure `spin_loop` keeps the thread awake
//! without taking its CPU share from the thread running the plan when other processes load
//! the cores (pure spinning made runs several times slower on a loaded VM). The plan itself is
//! one of the jobs a spinning worker picks up, so it always runs above that worker's loop, never
//! under it.
//!
//! Invariants: a worker spins only while a run is on: [`Workers::run`] switches spinning on
//! before it hands the plan to the pool, the plan's own job switches it off on every exit
//! (return, error or panic), and `run` returns only when no worker is left spinning. Switching
//! on and entering the loop are one atomic word (an `active` bit and the count of spinning
//! workers), so no worker enters after it is switched off. A parked worker runs no pool job,
//! so every job that needs a given worker (a broadcast) is issued inside a run. Dropping the
//! `Workers` ends every loop before the pool shuts down.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crate::error::{Error, Result};

/// The `active` bit of [`Spin::state`]; the bits above it count the spinning workers.
const ACTIVE: usize = 1;
/// One spinning worker in [`Spin::state`].
const ONE_SPINNING: usize = 2;

/// What the worker loops and the runs share.
#[derive(Default)]
struct Spin {
    /// `ACTIVE` while a run is on, plus `ONE_SPINNING` per worker inside its spinning loop.
    state: AtomicUsize,
    /// Set once, when the pool is dropped: every loop returns.
    quit: AtomicBool,
    /// Parked workers wait on `wake` under this lock; it guards no data, only the hand-over
    /// between a worker that finds no run and a run that starts.
    parked: Mutex<()>,
    wake: Condvar,
}

impl Spin {
    /// Switches spinning on and wakes the parked workers.
    fn start(&self) {
        self.state.fetch_or(ACTIVE, Ordering::SeqCst);
        self.wake_parked();
    }

    /// Wakes every parked worker to look at `state` and `quit` again.
    fn wake_parked(&self) {
        // Notifying under the lock: a worker that saw nothing to do is either still holding
        // the lock (and will see the change) or already waiting (and gets the notification).
        let _parked = self.parked.lock().unwrap_or_else(|e| e.into_inner());
        self.wake.notify_all();
    }

    /// Switches spinning off; the loops leave as soon as they see it.
    fn stop(&self) {
        self.state.fetch_and(!ACTIVE, Ordering::SeqCst);
    }

    /// Waits until no worker is inside its spinning loop (after [`Spin::stop`]).
    fn wait_until_still(&self) {
        while self.state.load(Ordering::SeqCst) >= ONE_SPINNING {
            std::thread::yield_now();
        }
    }

    /// Enters the spinning loop if a run is on: counts this worker in, in the same atomic step
    /// that checks the `active` bit.
    fn try_enter(&self) -> bool {
        self.state
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |s| {
                (s & ACTIVE != 0).then_some(s + ONE_SPINNING)
            })
            .is_ok()
    }

    /// The body of every worker's long-lived job: park between runs, spin during them.
    fn worker_loop(&self) {
        loop {
            {
                let mut parked = self.parked.lock().unwrap_or_else(|e| e.into_inner());
                while self.state.load(Ordering::SeqCst) & ACTIVE == 0 {
                    if self.quit.load(Ordering::SeqCst) {
                        return;
                    }
                    parked = self.wake.wait(parked).unwrap_or_else(|e| e.into_inner());
                }
            }
            if !self.try_enter() {
                continue;
            }
            while self.state.load(Ordering::Acquire) & ACTIVE != 0 {
                if rayon::yield_now() != Some(rayon::Yield::Executed) {
                    std::thread::yield_now();
                }
            }
            self.state.fetch_sub(ONE_SPINNING, Ordering::SeqCst);
        }
    }

    /// Workers inside their spinning loop now.
    #[cfg(test)]
    fn spinning(&self) -> usize {
        self.state.load(Ordering::SeqCst) / ONE_SPINNING
    }
}

/// Switches spinning off when dropped: held by the plan's job, so every way out of it
/// (return, error, panic) ends the spinning as soon as the plan is done.
struct StopOnDrop<'a>(&'a Spin);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// Switches spinning off and waits until no worker spins, when dropped: held by the caller of
/// a run, so the run returns (or unwinds) only after every worker has left its loop.
struct StillOnDrop<'a>(&'a Spin);

impl Drop for StillOnDrop<'_> {
    fn drop(&mut self) {
        self.0.stop();
        self.0.wait_until_still();
    }
}

/// A rayon pool of `threads` workers that spin for work during [`Workers::run`] and park
/// between runs.
pub(crate) struct Workers {
    pool: rayon::ThreadPool,
    spin: Arc<Spin>,
}

impl Workers {
    /// Starts `threads` workers; `start` runs on each as it starts.
    pub fn new(threads: usize, start: fn()) -> Result<Workers> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .start_handler(move |_| start())
            .build()
            .map_err(|e| Error::invalid_argument(format!("cannot start {threads} threads: {e}")))?;
        // Waits until every worker has started (and run `start`).
        pool.broadcast(|_| ());
        let spin = Arc::new(Spin::default());
        let each = spin.clone();
        pool.spawn_broadcast(move |_| each.worker_loop());
        Ok(Workers { pool, spin })
    }

    /// Runs `f` on a pool worker while every other worker spins for the work `f` splits off;
    /// returns when `f` has returned and no worker spins any more.
    pub fn run<R: Send>(&self, f: impl FnOnce(&rayon::ThreadPool) -> R + Send) -> R {
        self.spin.start();
        let _still = StillOnDrop(&self.spin);
        self.pool.install(|| {
            let _stop = StopOnDrop(&self.spin);
            f(&self.pool)
        })
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.spin.quit.store(true, Ordering::SeqCst);
        self.spin.wake_parked();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    use rayon::prelude::*;

    use super::*;

    /// Waits until `done()` holds; fails the test after ten seconds.
    fn wait_for(what: &str, done: impl Fn() -> bool) {
        let start = Instant::now();
        while !done() {
            assert!(start.elapsed() < Duration::from_secs(10), "never: {what}");
            std::thread::yield_now();
        }
    }

    #[test]
    fn every_worker_spins_during_a_run_and_none_after_it() {
        for threads in [2, 3] {
            let workers = Workers::new(threads, || {}).unwrap();
            for run in 0..50u64 {
                let sum = workers.run(|pool| {
                    wait_for("every worker spinning", || {
                        workers.spin.spinning() == threads
                    });
                    pool.install(|| (0..1000 + run).into_par_iter().sum::<u64>())
                });
                assert_eq!(sum, (0..1000 + run).sum::<u64>());
                assert_eq!(workers.spin.spinning(), 0, "{threads} threads, run {run}");
            }
            // Parked between runs: nobody enters the loop without a run.
            std::thread::sleep(Duration::from_millis(5));
            assert_eq!(workers.spin.spinning(), 0);
        }
    }

    /// The first task holds on until another thread has run a task: the split work is taken up
    /// by a spinning worker while the plan's own thread is busy (else the test fails, not hangs).
    #[test]
    fn spinning_workers_take_split_work() {
        let workers = Workers::new(2, || {}).unwrap();
        for _ in 0..20 {
            let threads_seen = Mutex::new(Vec::new());
            workers.run(|pool| {
                pool.install(|| {
                    (0..2).into_par_iter().for_each(|task| {
                        let me = rayon::current_thread_index();
                        threads_seen.lock().unwrap().push(me);
                        if task == 0 {
                            wait_for("a second thread", || {
                                threads_seen.lock().unwrap().iter().any(|&t| t != me)
                            });
                        }
                    })
                })
            });
            assert_eq!(threads_seen.into_inner().unwrap().len(), 2);
        }
    }

    #[test]
    fn a_panicking_run_ends_the_spinning_and_the_next_run_works() {
        let workers = Workers::new(2, || {}).unwrap();
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            workers.run(|_| -> () { panic!("a bug in an op") })
        }));
        assert!(unwound.is_err());
        assert_eq!(workers.spin.spinning(), 0);
        assert_eq!(workers.run(|_| 7), 7);
        assert_eq!(workers.spin.spinning(), 0);
    }

    #[test]
    fn dropping_the_workers_ends_every_loop() {
        let workers = Workers::new(3, || {}).unwrap();
        workers.run(|_| ());
        let spin = Arc::downgrade(&workers.spin);
        drop(workers);
        // Each loop holds the state until it returns.
        wait_for("every loop returned", || spin.upgrade().is_none());
    }
}
