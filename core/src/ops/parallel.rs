//! Splitting work across the session's thread pool, or running it inline when there is none or
//! the work is too small to be worth the hand-off.
//!
//! Invariant: with no pool, work runs on the calling thread in order; with a pool, chunks are
//! disjoint, so results do not depend on the number of threads.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

/// Elements of output below which [`for_each_chunk`] runs inline: waking the pool costs a few
/// microseconds, more than such an op takes.
const MIN_PARALLEL_ELEMS: usize = 16 * 1024;

/// Multiply-adds (or comparable units of work) each task of [`task_count`] gets at least.
const MIN_TASK_WORK: usize = 64 * 1024;

/// Runs each task of [`for_each_task`] claims, about (the last ones may be shorter).
const CLAIMS_PER_TASK: usize = 4;

/// The most tasks an op that needs scratch per task splits into: scratch is sized when the plan
/// is made, before any thread count is known.
pub(crate) const MAX_SCRATCH_TASKS: usize = 4;

/// Calls `f(index, chunk)` for consecutive `chunk_len`-element chunks of `data` (the last may be
/// shorter), in parallel when a pool is given and `data` is large enough. A zero `chunk_len`
/// does nothing.
pub(crate) fn for_each_chunk<T, F>(
    pool: Option<&rayon::ThreadPool>,
    data: &mut [T],
    chunk_len: usize,
    f: F,
) where
    T: Send,
    F: Fn(usize, &mut [T]) + Sync + Send,
{
    if chunk_len == 0 {
        return;
    }
    match pool {
        Some(pool) if data.len() > chunk_len && data.len() >= MIN_PARALLEL_ELEMS => {
            pool.install(|| {
                data.par_chunks_mut(chunk_len)
                    .enumerate()
                    .for_each(|(i, c)| f(i, c));
            })
        }
        _ => data
            .chunks_mut(chunk_len)
            .enumerate()
            .for_each(|(i, c)| f(i, c)),
    }
}

/// Calls `f(offset, chunk)` over `out` split into one chunk per thread (a whole number of 64-byte
/// lines of f32 each), in parallel when a pool is given and `out` is large enough (else once over
/// all of it); false when any call returned false. For element-wise ops, whose results do not
/// depend on where the output is split.
pub(crate) fn for_each_span<F>(pool: Option<&rayon::ThreadPool>, out: &mut [f32], f: F) -> bool
where
    F: Fn(usize, &mut [f32]) -> bool + Sync + Send,
{
    let threads = pool.map_or(1, rayon::ThreadPool::current_num_threads);
    let span = out.len().div_ceil(threads).next_multiple_of(16);
    let failed = AtomicBool::new(false);
    for_each_chunk(pool, out, span, |i, chunk| {
        if !f(i * span, chunk) {
            failed.store(true, Ordering::Relaxed);
        }
    });
    !failed.into_inner()
}

/// How many tasks to split `units` units of `work` total into: 1 without a pool or when the work
/// is small, else at most one per thread, `max` and `units`.
pub(crate) fn task_count(
    pool: Option<&rayon::ThreadPool>,
    units: usize,
    work: usize,
    max: usize,
) -> usize {
    let threads = pool.map_or(1, rayon::ThreadPool::current_num_threads);
    threads.min(max).min(units).min(work / MIN_TASK_WORK).max(1)
}

/// Calls `f(first_unit, run, scratch)` on consecutive runs of whole `unit`-element units of
/// `data` that together cover it, each call with `scratch_len` elements of `scratch` (which must
/// hold `tasks` of them, else nothing runs). One task (no pool, or `tasks` = 1) makes one call
/// over all of `data`; more run in parallel, each claiming runs of about a quarter of its share
/// one after another, so a thread that is descheduled (or a slower core) holds up one run, not
/// a fixed share.
pub(crate) fn for_each_task<F>(
    pool: Option<&rayon::ThreadPool>,
    tasks: usize,
    data: &mut [f32],
    unit: usize,
    scratch: &mut [f32],
    scratch_len: usize,
    f: F,
) where
    F: Fn(usize, &mut [f32], &mut [f32]) + Sync + Send,
{
    let units = data.len().checked_div(unit).unwrap_or(0);
    let tasks = tasks.max(1);
    if scratch_len
        .checked_mul(tasks)
        .is_none_or(|n| n > scratch.len())
        || unit == 0
    {
        return;
    }
    match pool {
        Some(pool) if tasks > 1 => {
            let per = units.div_ceil(tasks * CLAIMS_PER_TASK).max(1);
            let runs = Mutex::new(data.chunks_mut(per * unit).enumerate());
            let task = |s: &mut [f32]| {
                // A poisoned lock means another claim panicked: stop claiming.
                while let Some((r, run)) = runs.lock().ok().and_then(|mut it| it.next()) {
                    f(r * per, run, s);
                }
            };
            pool.install(|| match scratch_len {
                0 => (0..tasks).into_par_iter().for_each(|_| task(&mut [])),
                _ => scratch
                    .par_chunks_mut(scratch_len)
                    .take(tasks)
                    .for_each(task),
            })
        }
        _ => f(0, data, &mut scratch[..scratch_len]),
    }
}
