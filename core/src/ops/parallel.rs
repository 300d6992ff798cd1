//! Splitting work across the session's thread pool, or running it inline when there is none.
//!
//! Invariant: with no pool, work runs on the calling thread in order; with a pool, chunks are
//! disjoint, so results do not depend on the number of threads.

use rayon::prelude::*;

/// Calls `f(index, chunk)` for consecutive `chunk_len`-element chunks of `data` (the last may be
/// shorter), in parallel when a pool is given. A zero `chunk_len` does nothing.
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
        Some(pool) if data.len() > chunk_len => pool.install(|| {
            data.par_chunks_mut(chunk_len)
                .enumerate()
                .for_each(|(i, c)| f(i, c));
        }),
        _ => data
            .chunks_mut(chunk_len)
            .enumerate()
            .for_each(|(i, c)| f(i, c)),
    }
}
