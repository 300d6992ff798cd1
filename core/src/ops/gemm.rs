//! The one f32 matrix multiply every heavy op goes through (Conv via im2col, Gemm, MatMul), so
//! that swapping in a SIMD kernel later is a change here only.
//!
//! `C = A · B` with A read through arbitrary strides (transposed or not), B row-major, C
//! row-major and contiguous. The loop nest blocks N and K so a K×N panel of B stays in cache,
//! and updates four rows of C per pass over a B row (the B element is loaded once for four FMAs);
//! the innermost loop is a unit-stride zip the compiler vectorizes. With a pool, rows of C are
//! split across threads; each thread also runs the caller's epilogue (bias, activation) on its
//! rows while they are still in cache.
//!
//! Invariant: results do not depend on the thread count: each C element is accumulated by one
//! thread in the same K order.

use super::OpResult;
use super::parallel::try_for_each_chunk;

/// Columns of C per block: four rows of 256 f32 are 4 KiB, a quarter of a small L1.
const NC: usize = 256;
/// Depth per block: a 256×256 panel of B is 256 KiB, within L2.
const KC: usize = 256;
/// Rows of C updated together.
const MR: usize = 4;

/// A read-only matrix with element `(i, j)` at `data[i * row_stride + j * col_stride]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Matrix<'a> {
    pub data: &'a [f32],
    pub row_stride: usize,
    pub col_stride: usize,
}

/// Sizes of one product: C is `m × n`, the shared dimension is `k`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dims {
    pub m: usize,
    pub n: usize,
    pub k: usize,
}

/// `c = a · b` (overwriting c), then `epilogue(row, c_row)` on every row of c.
///
/// `b` is row-major `k × n` with row stride `n`; `c` is `m × n` contiguous. Fails (never
/// panics) if a slice is too short for the sizes.
pub(crate) fn matmul(
    pool: Option<&rayon::ThreadPool>,
    dims: Dims,
    a: Matrix<'_>,
    b: &[f32],
    c: &mut [f32],
    epilogue: &(dyn Fn(usize, &mut [f32]) + Sync),
) -> OpResult<()> {
    let Dims { m, n, k } = dims;
    let c_len = m.checked_mul(n).ok_or("matmul size overflows")?;
    let b_len = k.checked_mul(n).ok_or("matmul size overflows")?;
    let a_last = if m == 0 || k == 0 {
        0
    } else {
        (m - 1)
            .checked_mul(a.row_stride)
            .and_then(|x| x.checked_add((k - 1).checked_mul(a.col_stride)?))
            .and_then(|x| x.checked_add(1))
            .ok_or("matmul size overflows")?
    };
    if c.len() != c_len || b.len() < b_len || a.data.len() < a_last {
        return Err(format!(
            "matmul {m}x{k}x{n}: buffers too short (a {}, b {}, c {})",
            a.data.len(),
            b.len(),
            c.len()
        ));
    }
    if n == 0 {
        return Ok(());
    }
    let threads = pool.map_or(1, |p| p.current_num_threads());
    if m == 1 && threads > 1 {
        // One row (a batch-1 linear layer): split its columns, which are contiguous; the
        // epilogue then runs once over the whole row.
        let cols_per_task = n.div_ceil(threads * 2).next_multiple_of(16);
        return try_for_each_chunk(pool, c, cols_per_task, |task, cols| {
            let first_col = task * cols_per_task;
            cols.fill(0.0);
            for p in 0..k {
                let av = a.data[p * a.col_stride];
                let brow = &b[p * n + first_col..p * n + first_col + cols.len()];
                for (y, &bv) in cols.iter_mut().zip(brow) {
                    *y += av * bv;
                }
            }
            Ok(())
        })
        .map(|()| epilogue(0, c));
    }
    // One block of whole MR-row groups per thread: each block streams all of B once, so fewer,
    // larger blocks read B fewer times.
    let rows_per_task = if threads > 1 {
        m.div_ceil(threads).next_multiple_of(MR)
    } else {
        m.max(1)
    };
    try_for_each_chunk(pool, c, rows_per_task * n, |task, rows| {
        let first_row = task * rows_per_task;
        rows.fill(0.0);
        block_rows(dims, first_row, a, b, rows);
        for (r, row) in rows.chunks_exact_mut(n).enumerate() {
            epilogue(first_row + r, row);
        }
        Ok(())
    })
}

/// Computes rows `first_row..` of C (as many as `rows` holds), accumulating into `rows`.
fn block_rows(dims: Dims, first_row: usize, a: Matrix<'_>, b: &[f32], rows: &mut [f32]) {
    let Dims { n, k, .. } = dims;
    let count = rows.len() / n;
    for jc in (0..n).step_by(NC) {
        let nc = NC.min(n - jc);
        for pc in (0..k).step_by(KC) {
            let kc = KC.min(k - pc);
            let mut r = 0;
            while r < count {
                let mr = MR.min(count - r);
                let block = &mut rows[r * n..(r + mr) * n];
                let a_at = |i: usize, p: usize| {
                    a.data[(first_row + r + i) * a.row_stride + p * a.col_stride]
                };
                if mr == MR {
                    let (c0, rest) = block.split_at_mut(n);
                    let (c1, rest) = rest.split_at_mut(n);
                    let (c2, c3) = rest.split_at_mut(n);
                    let (c0, c1, c2, c3) = (
                        &mut c0[jc..jc + nc],
                        &mut c1[jc..jc + nc],
                        &mut c2[jc..jc + nc],
                        &mut c3[jc..jc + nc],
                    );
                    for p in pc..pc + kc {
                        let (a0, a1, a2, a3) = (a_at(0, p), a_at(1, p), a_at(2, p), a_at(3, p));
                        let brow = &b[p * n + jc..p * n + jc + nc];
                        for ((((&bv, y0), y1), y2), y3) in brow
                            .iter()
                            .zip(c0.iter_mut())
                            .zip(c1.iter_mut())
                            .zip(c2.iter_mut())
                            .zip(c3.iter_mut())
                        {
                            *y0 += a0 * bv;
                            *y1 += a1 * bv;
                            *y2 += a2 * bv;
                            *y3 += a3 * bv;
                        }
                    }
                } else {
                    for i in 0..mr {
                        let crow = &mut block[i * n + jc..i * n + jc + nc];
                        for p in pc..pc + kc {
                            let av = a_at(i, p);
                            let brow = &b[p * n + jc..p * n + jc + nc];
                            for (y, &bv) in crow.iter_mut().zip(brow) {
                                *y += av * bv;
                            }
                        }
                    }
                }
                r += mr;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, n: usize, k: usize, a: &[f32], b: &[f32]) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        c
    }

    #[test]
    fn blocked_matches_naive_across_block_edges_and_threads() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        for &(m, n, k) in &[
            (1, 1, 1),
            (5, 3, 7),
            (9, 300, 260),
            (4, 257, 513),
            (13, 17, 1),
            (1, 1000, 7),
            (1, 5, 3),
        ] {
            let a: Vec<f32> = (0..m * k)
                .map(|i| ((i * 7 % 13) as f32 - 6.0) / 8.0)
                .collect();
            let b: Vec<f32> = (0..k * n)
                .map(|i| ((i * 5 % 11) as f32 - 5.0) / 4.0)
                .collect();
            // The epilogue adds the row index, so a missed or repeated epilogue shows.
            let want: Vec<f32> = naive(m, n, k, &a, &b)
                .iter()
                .enumerate()
                .map(|(i, v)| v + (i / n) as f32)
                .collect();
            let add_row = |i: usize, row: &mut [f32]| row.iter_mut().for_each(|v| *v += i as f32);
            for p in [None, Some(&pool)] {
                let mut c = vec![f32::NAN; m * n];
                let a_mat = Matrix {
                    data: &a,
                    row_stride: k,
                    col_stride: 1,
                };
                matmul(p, Dims { m, n, k }, a_mat, &b, &mut c, &add_row).unwrap();
                for (x, y) in c.iter().zip(&want) {
                    assert!(
                        (x - y).abs() <= 1e-3 * y.abs().max(1.0),
                        "{m}x{n}x{k}: {x} vs {y}"
                    );
                }
            }
        }
    }

    #[test]
    fn short_buffers_are_errors() {
        let a = Matrix {
            data: &[1.0; 3],
            row_stride: 2,
            col_stride: 1,
        };
        assert!(
            matmul(
                None,
                Dims { m: 2, n: 1, k: 2 },
                a,
                &[1.0; 2],
                &mut [0.0; 2],
                &|_, _| {}
            )
            .is_err()
        );
    }
}
