//! The one f32 matrix multiply every heavy op goes through (Conv via im2col and 1×1, Gemm,
//! MatMul): a thin adapter from the ops' types to the kernel library's f32 GEMM
//! ([`crate::kernels::f32`]), whose tier was chosen when the op was built.
//!
//! `C = A · B`: A is packed for the tier's tiles, once at build time when it is a constant (the
//! weights of Conv, [`pack_constant_lhs`]), else by the GEMM on each call, reading it through
//! arbitrary strides (transposed or not); B is packed in
//! 16-column panels, once at build time when it is a constant (weights of Gemm and MatMul), else
//! into the op's scratch at run time ([`pack_rhs`]); C is row-major and contiguous. A per-row bias
//! and a `Clip` activation run inside the kernel; any other activation, and Gemm's alpha/beta/C,
//! run on each finished row on the same thread, while it is still in cache.
//!
//! Invariant: results do not depend on the thread count: each C element is accumulated by one
//! kernel call in the same K order.

use super::{Activation, OpResult};
use crate::kernels::Kernels;
use crate::kernels::f32::{
    F32Epilogue, F32Lhs, FillB, PackedA, PostFn, f32_gemm, f32_gemm_blocked, f32_gemm_rows,
    pack_b_into, packed_b_len,
};

/// A read-only matrix with element `(i, j)` at `data[i * row_stride + j * col_stride]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Matrix<'a> {
    pub data: &'a [f32],
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a> Matrix<'a> {
    /// This matrix as the left operand of a product (packed by the GEMM on each call).
    pub(crate) fn lhs(self) -> F32Lhs<'a> {
        F32Lhs::Strided {
            data: self.data,
            strides: (self.row_stride, self.col_stride),
        }
    }
}

/// Sizes of one product: C is `m × n`, the shared dimension is `k`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dims {
    pub m: usize,
    pub n: usize,
    pub k: usize,
}

impl Dims {
    /// f32 elements of the packed B of this product.
    pub(crate) fn packed_rhs_len(self) -> OpResult<usize> {
        packed_b_len(self.k, self.n).ok_or_else(|| "matmul size overflows".to_string())
    }
}

/// The tier's kernels for an op being built: the process-wide choice (`MOBIQUANT_TIER` or the best
/// tier of this CPU).
pub(crate) fn plan_kernels() -> OpResult<&'static Kernels> {
    crate::kernels::kernels().map_err(|e| e.to_string())
}

/// Packs `b` (`k × n`) into `dst`, which must hold exactly [`Dims::packed_rhs_len`] elements.
pub(crate) fn pack_rhs(dims: Dims, b: Matrix<'_>, dst: &mut [f32]) -> OpResult<()> {
    pack_b_into(b.data, b.row_stride, b.col_stride, dims.k, dims.n, dst).map_err(|e| e.to_string())
}

/// Packs a constant `b` (`k × n`) once, at build time.
pub(crate) fn pack_constant_rhs(dims: Dims, b: Matrix<'_>) -> OpResult<Vec<f32>> {
    let mut packed = vec![0.0; dims.packed_rhs_len()?];
    pack_rhs(dims, b, &mut packed)?;
    Ok(packed)
}

/// Packs a constant left operand `a` (`m × k`) once, at build time, for the tier of `kernels`.
pub(crate) fn pack_constant_lhs(
    kernels: &Kernels,
    dims: Dims,
    a: Matrix<'_>,
) -> OpResult<PackedA<'static>> {
    PackedA::new(
        kernels,
        a.data,
        (a.row_stride, a.col_stride),
        dims.m,
        dims.k,
    )
    .map_err(|e| e.to_string())
}

/// What follows the sum: a per-row bias, the op's activation, and an optional pass over each
/// finished row (which runs after the bias and before the activation unless the activation is
/// fused into the kernel, so callers with a pass apply the activation in it).
#[derive(Clone, Copy)]
pub(crate) struct Finish<'a> {
    pub row_bias: Option<&'a [f32]>,
    pub activation: Activation,
    pub post: Option<PostFn<'a>>,
}

/// `c = finish(a · b)` (overwriting c), `b` packed by [`pack_rhs`], C's rows `c.1` elements
/// apart (`c.1 = n` for a whole matrix, more for a block of columns of a wider one). Fails
/// (never panics) if a slice is too short for the sizes.
pub(crate) fn matmul(
    kernels: &Kernels,
    pool: Option<&rayon::ThreadPool>,
    dims: Dims,
    a: F32Lhs<'_>,
    b_packed: &[f32],
    c: (&mut [f32], usize),
    finish: Finish<'_>,
) -> OpResult<()> {
    with_finish(kernels, finish, |epilogue, post| {
        f32_gemm(
            kernels,
            pool,
            (dims.m, dims.n, dims.k),
            a,
            b_packed,
            c,
            epilogue,
            post,
        )
    })
}

/// `c = finish(a · b)` with `b` read in place (see [`f32_gemm_rows`]): `b.data[p * b.row_stride +
/// j]` is element `(p, j)` (`b.col_stride` must be 1). Fails (never panics) if a slice is too
/// short for the sizes.
pub(crate) fn matmul_rows(
    kernels: &Kernels,
    pool: Option<&rayon::ThreadPool>,
    dims: Dims,
    a: F32Lhs<'_>,
    b: Matrix<'_>,
    c: (&mut [f32], usize),
    finish: Finish<'_>,
) -> OpResult<()> {
    if b.col_stride != 1 {
        return Err(format!(
            "matmul: B read in place needs column stride 1, got {}",
            b.col_stride
        ));
    }
    with_finish(kernels, finish, |epilogue, post| {
        f32_gemm_rows(
            kernels,
            pool,
            (dims.m, dims.n, dims.k),
            a,
            (b.data, b.row_stride),
            c,
            epilogue,
            post,
        )
    })
}

/// `c = finish(a · B)` where B is produced `block_cols` columns at a time by `fill_b` into
/// `scratch` (see [`f32_gemm_blocked`]); `finish.post`, if any, must work element by element (it
/// sees row segments).
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul_blocked(
    kernels: &Kernels,
    pool: Option<&rayon::ThreadPool>,
    dims: Dims,
    a: &PackedA,
    c: (&mut [f32], usize),
    finish: Finish<'_>,
    blocks: (usize, &mut [f32]),
    fill_b: FillB<'_>,
) -> OpResult<()> {
    with_finish(kernels, finish, |epilogue, post| {
        f32_gemm_blocked(
            kernels,
            pool,
            (dims.m, dims.n, dims.k),
            a,
            c,
            epilogue,
            blocks,
            fill_b,
            post,
        )
    })
}

/// Runs `product` with the kernel epilogue and row pass that compute `finish`.
fn with_finish(
    kernels: &Kernels,
    finish: Finish<'_>,
    product: impl FnOnce(F32Epilogue<'_>, Option<PostFn<'_>>) -> crate::error::Result<()>,
) -> OpResult<()> {
    let (epilogue, row_activation) = epilogue(&finish);
    let activate = move |_: usize, row: &mut [f32]| {
        if let Some(act) = row_activation {
            act.apply_slice(kernels, row);
        }
    };
    let post = finish
        .post
        .or(row_activation.map(|_| &activate as PostFn<'_>));
    product(epilogue, post).map_err(|e| e.to_string())
}

/// The kernel epilogue of `finish`, and the activation left to run on finished rows: Clip (with
/// ordered bounds) is the kernel's clamp, bit for bit; other activations run on each finished
/// row, unless a post pass takes care of everything after the bias.
fn epilogue<'a>(finish: &Finish<'a>) -> (F32Epilogue<'a>, Option<Activation>) {
    let (min, max, row_activation) = match finish.activation.as_clamp() {
        Some((min, max)) if finish.post.is_none() => (min, max, None),
        _ => (f32::NEG_INFINITY, f32::INFINITY, Some(finish.activation)),
    };
    let epilogue = F32Epilogue {
        bias: finish.row_bias,
        min,
        max,
    };
    (epilogue, row_activation)
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
    fn matches_naive_with_bias_activation_and_threads() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let kernels = plan_kernels().unwrap();
        for &(m, n, k) in &[
            (1, 1, 1),
            (5, 3, 7),
            (9, 300, 260),
            (13, 17, 1),
            (1, 1000, 7),
        ] {
            let a: Vec<f32> = (0..m * k)
                .map(|i| ((i * 7 % 13) as f32 - 6.0) / 8.0)
                .collect();
            let b: Vec<f32> = (0..k * n)
                .map(|i| ((i * 5 % 11) as f32 - 5.0) / 4.0)
                .collect();
            let bias: Vec<f32> = (0..m).map(|i| i as f32 - 2.0).collect();
            let dims = Dims { m, n, k };
            let b_mat = Matrix {
                data: &b,
                row_stride: n,
                col_stride: 1,
            };
            let packed = pack_constant_rhs(dims, b_mat).unwrap();
            let a_mat = Matrix {
                data: &a,
                row_stride: k,
                col_stride: 1,
            };
            for act in [Activation::Relu, Activation::Clip { min: 0.0, max: 6.0 }] {
                let want: Vec<f32> = naive(m, n, k, &a, &b)
                    .iter()
                    .enumerate()
                    .map(|(i, v)| act.apply(v + bias[i / n]))
                    .collect();
                for p in [None, Some(&pool)] {
                    let mut c = vec![f32::NAN; m * n];
                    let finish = Finish {
                        row_bias: Some(&bias),
                        activation: act,
                        post: None,
                    };
                    matmul(kernels, p, dims, a_mat.lhs(), &packed, (&mut c, n), finish).unwrap();
                    for (x, y) in c.iter().zip(&want) {
                        assert!(
                            (x - y).abs() <= 1e-4 * y.abs().max(1.0),
                            "{m}x{n}x{k}: {x} vs {y}"
                        );
                    }
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
        let dims = Dims { m: 2, n: 1, k: 2 };
        let finish = Finish {
            row_bias: None,
            activation: Activation::Identity,
            post: None,
        };
        let packed = vec![0.0; dims.packed_rhs_len().unwrap()];
        let kernels = plan_kernels().unwrap();
        assert!(
            matmul(
                kernels,
                None,
                dims,
                a.lhs(),
                &packed,
                (&mut [0.0; 2], dims.n),
                finish
            )
            .is_err()
        );
        assert!(pack_rhs(dims, a, &mut [0.0; 3]).is_err());
    }
}
