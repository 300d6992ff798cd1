//! Trilu: keeps the upper (`upper` = 1, the default) or lower triangle of the last two
//! dimensions, counted from diagonal `k` (an optional scalar input, read at run time), and
//! zeroes the rest; any fixed-size dtype (elements are copied or zeroed as bytes).
//!
//! Invariant: the output has the input's shape and bytes except for zeroed elements.

use super::{Built, Fact, Inputs, NodeContext, Op, OpResult, RunContext};
use crate::exec::{TensorMut, elem_size};
use crate::tensor::DType;

#[derive(Debug)]
struct Trilu {
    upper: bool,
    rows: usize,
    cols: usize,
    elem: usize,
}

impl Op for Trilu {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        _: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let k = match inputs.get(1) {
            None => 0,
            Some(t) => *t
                .as_i64()
                .map_err(|e| e.to_string())?
                .first()
                .ok_or("k is empty")?,
        };
        let x = inputs.req(0)?.bytes();
        let y = output.bytes_mut();
        if x.len() != y.len() {
            return Err("input does not match the planned shape".into());
        }
        let (rows, cols, elem) = (self.rows, self.cols, self.elem);
        let matrix = rows * cols * elem;
        if matrix == 0 {
            return Ok(());
        }
        for (xs, ys) in x.chunks_exact(matrix).zip(y.chunks_exact_mut(matrix)) {
            for i in 0..rows {
                for j in 0..cols {
                    // Column j of row i is on diagonal j - i.
                    let d = j as i64 - i as i64;
                    let keep = if self.upper { d >= k } else { d <= k };
                    let at = (i * cols + j) * elem;
                    let (src, dst) = (&xs[at..at + elem], &mut ys[at..at + elem]);
                    if keep {
                        dst.copy_from_slice(src);
                    } else {
                        dst.fill(0);
                    }
                }
            }
        }
        Ok(())
    }
}

pub(crate) fn build(cx: &NodeContext<'_>) -> OpResult<Built> {
    let x = cx.input(0)?;
    let rank = x.shape.len();
    if rank < 2 {
        return Err(format!("Trilu needs rank ≥ 2, got {:?}", x.shape));
    }
    if let Some(k) = cx.opt_input(1)
        && (k.dtype != DType::I64 || k.shape.iter().product::<usize>() != 1)
    {
        return Err(format!("k must be one i64, got {} {:?}", k.dtype, k.shape));
    }
    let elem = elem_size(x.dtype).ok_or(format!("dtype {}", x.dtype))?;
    Ok(Built {
        op: Box::new(Trilu {
            upper: cx.int("upper", 1)? != 0,
            rows: x.shape[rank - 2],
            cols: x.shape[rank - 1],
            elem,
        }),
        output: Fact::new(x.dtype, x.shape.clone()),
    })
}
