//! Element-wise arithmetic with ONNX broadcasting: the binary ops Add, Sub, Mul, Div, Pow, Max,
//! Min, PRelu, Mod (f32; all but Pow also i64, i32, u8, i8; Pow on other dtypes is `pow`'s) and
//! the variadic ones Sum, Mean (f32) and Max, Min of one or more than two inputs (the same dtypes
//! as binary Max and Min).
//!
//! Integer arithmetic is done in i64 and converted back, so it wraps on overflow as the C types
//! do; integer division truncates toward zero and division (or Mod) by zero gives 0 (ONNX leaves
//! it undefined). PRelu's slope broadcasts to the input's shape, never the other way. Mod with
//! fmod = 0 gives the remainder the divisor's sign (`a − floor(a / b) · b`, on f32 with opset
//! 28's signed-zero and infinity cases), with fmod = 1 the dividend's (C `fmod`).

use super::broadcast::collapse;
use super::elems::{Num, dispatch, view, view_mut};
use super::gemm::plan_kernels;
use super::parallel::for_each_span;
use super::strided::{broadcast_shapes, broadcast_strides, for_each_row, strided_copy};
use super::{
    Built, Fact, Inputs, NodeContext, Op, OpResult, RunContext, check_rank, checked_numel,
};
use crate::exec::TensorMut;
use crate::exec::TensorRef as Ref;
#[cfg(test)]
use crate::exec::TensorRef;
use crate::kernels::Kernels;
use crate::kernels::vmath::{BinaryOp, UnaryOp, f32_vbinary, f32_vunary_into};
use crate::tensor::DType;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Max,
    Min,
    /// `a` where `a ≥ 0` (or NaN), else `a · b` (the slope).
    PRelu,
    /// ONNX Mod with fmod = 0: the remainder takes the divisor's sign.
    Mod,
    /// ONNX Mod with fmod = 1: the remainder takes the dividend's sign (C `fmod`).
    Fmod,
}

impl Kind {
    #[inline]
    fn f32(self, a: f32, b: f32) -> f32 {
        match self {
            Kind::Add => a + b,
            Kind::Sub => a - b,
            Kind::Mul => a * b,
            Kind::Div => a / b,
            Kind::Pow => a.powf(b),
            // ONNX Max/Min propagate NaN.
            Kind::Max => BinaryOp::Max.apply(a, b),
            Kind::Min => BinaryOp::Min.apply(a, b),
            // NaN is not below zero and passes through.
            Kind::PRelu => {
                if a < 0.0 {
                    a * b
                } else {
                    a
                }
            }
            Kind::Fmod => a % b,
            // a − floor(a / b) · b (opset 28), a zero result taking the divisor's sign.
            Kind::Mod => {
                let r = a % b;
                if r == 0.0 {
                    0.0f32.copysign(b)
                } else if (r < 0.0) != (b < 0.0) {
                    r + b
                } else {
                    r
                }
            }
        }
    }

    /// Integer semantics wrap on overflow; division by zero gives 0 (ONNX leaves it undefined).
    #[inline]
    fn i64(self, a: i64, b: i64) -> i64 {
        match self {
            Kind::Add => a.wrapping_add(b),
            Kind::Sub => a.wrapping_sub(b),
            Kind::Mul => a.wrapping_mul(b),
            Kind::Div => a.checked_div(b).unwrap_or(0),
            Kind::Pow => 0,
            Kind::Max => a.max(b),
            Kind::Min => a.min(b),
            Kind::PRelu => {
                if a < 0 {
                    a.wrapping_mul(b)
                } else {
                    a
                }
            }
            Kind::Mod => match a.checked_rem(b) {
                Some(r) if r != 0 && (r < 0) != (b < 0) => r + b,
                Some(r) => r,
                None => 0,
            },
            Kind::Fmod => a.checked_rem(b).unwrap_or(0),
        }
    }
}

#[derive(Debug)]
struct Binary {
    kind: Kind,
    /// The output shape collapsed (`broadcast::collapse`) and each input's strides through it.
    rows: Vec<usize>,
    a_strides: Vec<isize>,
    b_strides: Vec<isize>,
    kernels: &'static Kernels,
}

impl Kind {
    /// The vectorized kernel's form of this op, when it has one.
    fn vector(self) -> Option<BinaryOp> {
        match self {
            Kind::Add => Some(BinaryOp::Add),
            Kind::Sub => Some(BinaryOp::Sub),
            Kind::Mul => Some(BinaryOp::Mul),
            Kind::Div => Some(BinaryOp::Div),
            Kind::Max => Some(BinaryOp::Max),
            Kind::Min => Some(BinaryOp::Min),
            Kind::Pow | Kind::PRelu | Kind::Mod | Kind::Fmod => None,
        }
    }
}

/// `out[i] = f(a[i or 0], b[i or 0])` for operands of length 1 or `out.len()` (as the vectorized
/// kernel); false for other lengths.
fn zip_row<T: Copy>(a: &[T], b: &[T], out: &mut [T], f: impl Fn(T, T) -> T) -> bool {
    let n = out.len();
    match (a.len(), b.len()) {
        (la, lb) if la == n && lb == n => {
            for ((y, &x), &z) in out.iter_mut().zip(a).zip(b) {
                *y = f(x, z);
            }
        }
        (la, 1) if la == n => {
            for (y, &x) in out.iter_mut().zip(a) {
                *y = f(x, b[0]);
            }
        }
        (1, lb) if lb == n => {
            for (y, &z) in out.iter_mut().zip(b) {
                *y = f(a[0], z);
            }
        }
        _ => return false,
    }
    true
}

/// Whether both operands have the output's length or one element (a broadcast scalar): the op
/// is then one row over the whole tensor.
fn covers_whole<T>(a: &[T], b: &[T], out: &[T]) -> bool {
    [1, out.len()].contains(&a.len()) && [1, out.len()].contains(&b.len())
}

/// `row(a, b, out)` over a whole tensor (see [`covers_whole`], else `None`), split across the
/// pool.
fn whole_tensor(
    pool: Option<&rayon::ThreadPool>,
    a: &[f32],
    b: &[f32],
    out: &mut [f32],
    row: impl Fn(&[f32], &[f32], &mut [f32]) -> bool + Sync + Send,
) -> Option<OpResult<()>> {
    if !covers_whole(a, b, out) {
        return None;
    }
    /// The operand's part for output elements `at..at + len` (all of a broadcast scalar); a
    /// full operand has the output's length, which holds the span.
    fn part(x: &[f32], at: usize, len: usize) -> &[f32] {
        match x.len() {
            1 => x,
            _ => &x[at..at + len],
        }
    }
    let done = for_each_span(pool, out, |at, ys| {
        row(part(a, at, ys.len()), part(b, at, ys.len()), ys)
    });
    Some(if done {
        Ok(())
    } else {
        Err("operand lengths do not fit the output".into())
    })
}

impl Binary {
    /// Computes `out` row by row: `row(a, b, out)` for rows whose operands are contiguous or
    /// one broadcast element (the whole tensor at once when both operands are), `f` element by
    /// element for other strides.
    fn apply<T: Copy>(
        &self,
        a: &[T],
        b: &[T],
        out: &mut [T],
        mut row: impl FnMut(&[T], &[T], &mut [T]) -> bool,
        f: impl Fn(T, T) -> T,
    ) -> OpResult<()> {
        if covers_whole(a, b, out) {
            return if row(a, b, out) {
                Ok(())
            } else {
                Err("operand lengths do not fit the output".into())
            };
        }
        let inner = self.rows.last().copied().unwrap_or(1);
        let sa = self.a_strides.last().copied().unwrap_or(0);
        let sb = self.b_strides.last().copied().unwrap_or(0);
        let mut ok = true;
        for_each_row(
            &self.rows,
            [&self.a_strides, &self.b_strides],
            |at, [oa, ob]| {
                let Some(ys) = out.get_mut(at..at + inner) else {
                    ok = false;
                    return;
                };
                // Contiguous or broadcast rows as slices, else element by element.
                let span = |s: isize| match s {
                    0 => Some(1),
                    1 => Some(inner),
                    _ => None,
                };
                let ra = span(sa).and_then(|len| a.get(oa as usize..)?.get(..len));
                let rb = span(sb).and_then(|len| b.get(ob as usize..)?.get(..len));
                if let (Some(ra), Some(rb)) = (ra, rb) {
                    ok &= row(ra, rb, ys);
                    return;
                }
                let (mut ia, mut ib) = (oa, ob);
                for y in ys {
                    match (a.get(ia as usize), b.get(ib as usize)) {
                        (Some(&x), Some(&z)) => *y = f(x, z),
                        _ => ok = false,
                    }
                    ia += sa;
                    ib += sb;
                }
            },
        );
        if !ok {
            return Err("broadcast index out of bounds".into());
        }
        Ok(())
    }

    /// The same as `apply` with the scalar loop for rows.
    fn apply_scalar<T: Copy>(
        &self,
        a: &[T],
        b: &[T],
        out: &mut [T],
        f: impl Fn(T, T) -> T + Copy,
    ) -> OpResult<()> {
        self.apply(a, b, out, |ra, rb, ys| zip_row(ra, rb, ys, f), f)
    }

    /// `Pow(x, e)` with a scalar exponent that the unary kernel computes as `powf` does (2: x·x,
    /// 0.5: √x, 1: x); false (nothing written) for other exponents and shapes.
    fn pow_special(&self, a: &[f32], b: &[f32], y: &mut [f32]) -> bool {
        let op = match b {
            [e] if *e == 2.0 => Some(UnaryOp::Square),
            [e] if *e == 0.5 => Some(UnaryOp::SqrtPow),
            [e] if *e == 1.0 => None,
            _ => return false,
        };
        if a.len() != y.len() {
            return false;
        }
        match op {
            Some(op) => f32_vunary_into(self.kernels, op, a, y).is_ok(),
            None => {
                y.copy_from_slice(a);
                true
            }
        }
    }
}

impl Op for Binary {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        cx: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let (a, b) = (inputs.req(0)?, inputs.req(1)?);
        let kind = self.kind;
        let e = |e: crate::Error| e.to_string();
        match output.dtype() {
            DType::F32 => {
                let (a, b) = (a.as_f32().map_err(e)?, b.as_f32().map_err(e)?);
                let y = output.as_f32_mut().map_err(e)?;
                if let Some(op) = kind.vector() {
                    let k = self.kernels;
                    if let Some(whole) = whole_tensor(cx.pool, a, b, y, |ra, rb, ys| {
                        f32_vbinary(k, op, ra, rb, ys).is_ok()
                    }) {
                        return whole;
                    }
                    return self.apply(
                        a,
                        b,
                        y,
                        |ra, rb, ys| f32_vbinary(k, op, ra, rb, ys).is_ok(),
                        |x, z| op.apply(x, z),
                    );
                }
                if kind == Kind::Pow && self.pow_special(a, b, y) {
                    return Ok(());
                }
                // One instance per kind, so that the element loops have no branch on it.
                match kind {
                    Kind::PRelu => self.apply_scalar(a, b, y, |x, z| Kind::PRelu.f32(x, z)),
                    Kind::Mod => self.apply_scalar(a, b, y, |x, z| Kind::Mod.f32(x, z)),
                    Kind::Fmod => self.apply_scalar(a, b, y, |x, z| Kind::Fmod.f32(x, z)),
                    _ => self.apply_scalar(a, b, y, |x, z| Kind::Pow.f32(x, z)),
                }
            }
            DType::I64 => self.apply_scalar(
                a.as_i64().map_err(e)?,
                b.as_i64().map_err(e)?,
                output.as_i64_mut().map_err(e)?,
                |x, y| kind.i64(x, y),
            ),
            d => dispatch!(
                d,
                run_int(self, a, b, &mut output),
                Err(format!("dtype {d}"))
            ),
        }
    }
}

/// Binary op on an integer dtype `T`, computed in i64.
fn run_int<T: Num>(op: &Binary, a: Ref<'_>, b: Ref<'_>, out: &mut TensorMut<'_>) -> OpResult<()> {
    let kind = op.kind;
    op.apply_scalar(
        view::<T>(&a)?,
        view::<T>(&b)?,
        view_mut::<T>(out)?,
        |x, y| T::from_i64(kind.i64(x.to_i64(), y.to_i64())),
    )
}

pub(crate) fn build(cx: &NodeContext<'_>, op: &str) -> OpResult<Built> {
    let kind = match op {
        "Add" => Kind::Add,
        "Sub" => Kind::Sub,
        "Mul" => Kind::Mul,
        "Div" => Kind::Div,
        "Pow" => Kind::Pow,
        "Max" => Kind::Max,
        "Min" => Kind::Min,
        "PRelu" => Kind::PRelu,
        "Mod" if cx.int("fmod", 0)? != 0 => Kind::Fmod,
        "Mod" => Kind::Mod,
        other => return Err(format!("{other} is not a binary op")),
    };
    if cx.inputs.len() != 2 {
        return Err(format!(
            "{op} takes exactly 2 inputs here, got {}",
            cx.inputs.len()
        ));
    }
    let (a, b) = (cx.input(0)?, cx.input(1)?);
    // Which dtypes run is `ops::op_support`'s answer, checked before building.
    if a.dtype != b.dtype {
        return Err(format!("input dtypes {} and {} differ", a.dtype, b.dtype));
    }
    let out_shape = broadcast_shapes(&a.shape, &b.shape)?;
    if kind == Kind::PRelu && out_shape != a.shape {
        return Err(format!(
            "slope shape {:?} does not broadcast to the input shape {:?}",
            b.shape, a.shape
        ));
    }
    check_rank(&out_shape)?;
    let strides = [&a.shape, &b.shape].map(|s| broadcast_strides(s, &out_shape));
    let (rows, [a_strides, b_strides]) = collapse(&out_shape, strides);
    let op = Binary {
        kind,
        rows,
        a_strides,
        b_strides,
        kernels: plan_kernels()?,
    };
    Ok(Built {
        op: Box::new(op),
        output: Fact::new(a.dtype, out_shape),
    })
}

/// Sum, Mean, Max or Min of any number of inputs: the first input is broadcast into the
/// output, each further one folded in.
#[derive(Debug)]
struct Variadic {
    kind: Kind,
    mean: bool,
    out_shape: Vec<usize>,
    /// Per input, its strides through the output shape.
    strides: Vec<Vec<isize>>,
}

impl Variadic {
    fn fold<T: Num>(
        &self,
        inputs: &dyn Inputs,
        out: &mut [T],
        f: impl Fn(T, T) -> T,
    ) -> OpResult<()> {
        let inner = self.out_shape.last().copied().unwrap_or(1);
        for (k, strides) in self.strides.iter().enumerate() {
            let x = view::<T>(&inputs.req(k)?)?;
            if k == 0 {
                strided_copy(x, out, &self.out_shape, 0, strides)?;
                continue;
            }
            let step = strides.last().copied().unwrap_or(0);
            let mut ok = true;
            for_each_row(&self.out_shape, [strides], |row, [off]| {
                let Some(ys) = out.get_mut(row..row + inner) else {
                    ok = false;
                    return;
                };
                let mut at = off;
                for y in ys {
                    match x.get(at as usize) {
                        Some(&v) => *y = f(*y, v),
                        None => ok = false,
                    }
                    at += step;
                }
            });
            if !ok {
                return Err("broadcast index out of bounds".into());
            }
        }
        Ok(())
    }
}

fn fold_int<T: Num>(op: &Variadic, inputs: &dyn Inputs, out: &mut TensorMut<'_>) -> OpResult<()> {
    let kind = op.kind;
    op.fold(inputs, view_mut::<T>(out)?, |x: T, y: T| {
        T::from_i64(kind.i64(x.to_i64(), y.to_i64()))
    })
}

impl Op for Variadic {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        _: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let kind = self.kind;
        match output.dtype() {
            DType::F32 => {
                let y = output.as_f32_mut().map_err(|e| e.to_string())?;
                self.fold(inputs, y, |a, b| kind.f32(a, b))?;
                if self.mean {
                    let n = self.strides.len() as f32;
                    y.iter_mut().for_each(|v| *v /= n);
                }
                Ok(())
            }
            d => dispatch!(
                d,
                fold_int(self, inputs, &mut output),
                Err(format!("dtype {d}"))
            ),
        }
    }
}

/// Sum and Mean (any number of inputs), Max and Min (one or more inputs).
pub(crate) fn build_variadic(cx: &NodeContext<'_>, op: &str) -> OpResult<Built> {
    let (kind, mean) = match op {
        "Sum" => (Kind::Add, false),
        "Mean" => (Kind::Add, true),
        "Max" => (Kind::Max, false),
        "Min" => (Kind::Min, false),
        other => return Err(format!("{other} is not a variadic op")),
    };
    if cx.inputs.is_empty() {
        return Err(format!("{op} needs at least one input"));
    }
    let facts = (0..cx.inputs.len())
        .map(|i| cx.input(i))
        .collect::<OpResult<Vec<_>>>()?;
    let dtype = facts[0].dtype;
    if let Some(f) = facts.iter().find(|f| f.dtype != dtype) {
        return Err(format!("input dtypes {dtype} and {} differ", f.dtype));
    }
    let mut out_shape = Vec::new();
    for f in &facts {
        out_shape = broadcast_shapes(&out_shape, &f.shape)?;
    }
    check_rank(&out_shape)?;
    checked_numel(&out_shape)?;
    let op = Variadic {
        kind,
        mean,
        strides: facts
            .iter()
            .map(|f| broadcast_strides(&f.shape, &out_shape))
            .collect(),
        out_shape: out_shape.clone(),
    };
    Ok(Built {
        op: Box::new(op),
        output: Fact::new(dtype, out_shape),
    })
}

/// Builds a binary op for inputs of the given dtypes and shapes (tests).
#[cfg(test)]
fn build_for(op: &str, a: (DType, &[usize]), b: (DType, &[usize])) -> OpResult<Built> {
    let fa = Fact::new(a.0, a.1.to_vec());
    let fb = Fact::new(b.0, b.1.to_vec());
    let node = crate::graph::Node {
        name: "t".into(),
        op: op.into(),
        inputs: vec![Some(0), Some(1)],
        outputs: vec![2],
        attributes: vec![],
    };
    let cx = NodeContext {
        node: &node,
        inputs: vec![Some(&fa), Some(&fb)],
        constants: vec![],
        constant_layouts: vec![],
        tensor_attr: &|_| Err("none".into()),
    };
    build(&cx, op)
}

/// Evaluates a binary op on two tensors of one dtype (used by tests of other modules).
#[cfg(test)]
pub(crate) fn eval(op: &str, a: TensorRef<'_>, b: TensorRef<'_>) -> crate::exec::Tensor {
    let built = build_for(op, (a.dtype(), a.shape()), (b.dtype(), b.shape())).unwrap();
    let mut out = crate::exec::Tensor::zeros(a.dtype(), built.output.shape.clone()).unwrap();
    let ins = [Some(a), Some(b)];
    built
        .op
        .run(
            &super::InputList(&ins),
            out.view_mut(),
            &mut RunContext {
                pool: None,
                scratch: &mut [],
            },
        )
        .unwrap();
    out
}

/// [`eval`] on f32 tensors, the output's values.
#[cfg(test)]
pub(crate) fn eval_f32(op: &str, a: TensorRef<'_>, b: TensorRef<'_>) -> Vec<f32> {
    eval(op, a, b).as_f32().unwrap().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_add_by_hand() {
        let a = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let b = [10.0f32, 20.0];
        let ta = TensorRef::from_f32(&[3, 2], &a).unwrap();
        let tb = TensorRef::from_f32(&[2], &b).unwrap();
        assert_eq!(
            eval_f32("Add", ta, tb),
            [11.0, 22.0, 13.0, 24.0, 15.0, 26.0]
        );
        let col = [1.0f32, 2.0, 3.0];
        let tc = TensorRef::from_f32(&[3, 1], &col).unwrap();
        assert_eq!(eval_f32("Mul", ta, tc), [1.0, 2.0, 6.0, 8.0, 15.0, 18.0]);
        assert_eq!(
            eval_f32("Sub", tc, tb),
            [-9.0, -19.0, -8.0, -18.0, -7.0, -17.0]
        );
    }

    #[test]
    fn integer_mod_follows_the_divisor_and_fmod_the_dividend() {
        for a in -9i64..=9 {
            for b in -4i64..=4 {
                // Naive forms: floor division for Mod, truncation for fmod.
                let (want_mod, want_fmod) = if b == 0 {
                    (0, 0)
                } else {
                    let floor = (a as f64 / b as f64).floor() as i64;
                    (a - floor * b, a - (a / b) * b)
                };
                assert_eq!(Kind::Mod.i64(a, b), want_mod, "{a} mod {b}");
                assert_eq!(Kind::Fmod.i64(a, b), want_fmod, "{a} fmod {b}");
            }
        }
        assert_eq!(Kind::Mod.i64(i64::MIN, -1), 0);
    }

    #[test]
    fn float_mod_edge_cases() {
        assert_eq!(Kind::Mod.f32(-7.0, 3.0), 2.0);
        assert_eq!(Kind::Mod.f32(7.0, -3.0), -2.0);
        assert_eq!(Kind::Fmod.f32(-7.0, 3.0), -1.0);
        // A zero result takes the divisor's sign; a finite dividend against an infinite divisor
        // of the other sign gives the divisor.
        assert!(Kind::Mod.f32(6.0, -3.0).is_sign_negative());
        assert!(Kind::Mod.f32(-0.0, 3.0).is_sign_positive());
        assert_eq!(Kind::Mod.f32(-2.0, f32::INFINITY), f32::INFINITY);
        assert_eq!(Kind::Mod.f32(2.0, f32::INFINITY), 2.0);
        assert!(Kind::Mod.f32(2.0, 0.0).is_nan());
        assert!(Kind::Mod.f32(f32::INFINITY, 2.0).is_nan());
    }

    #[test]
    fn prelu_scales_negatives_by_the_broadcast_slope() {
        let x = [-1.0f32, 2.0, -3.0, f32::NAN, -0.0, -4.0];
        let slope = [0.5f32, 0.25, 2.0];
        let tx = TensorRef::from_f32(&[2, 3], &x).unwrap();
        let ts = TensorRef::from_f32(&[3], &slope).unwrap();
        let y = eval_f32("PRelu", tx, ts);
        let want = [-0.5f32, 2.0, -6.0, f32::NAN, -0.0, -8.0];
        for (got, want) in y.iter().zip(want) {
            assert_eq!(got.to_bits(), want.to_bits(), "{y:?}");
        }
        // One slope per channel of an NCHW input, as PyTorch exports nn.PReLU(channels).
        let x: Vec<f32> = (0..8).map(|i| i as f32 - 4.0).collect();
        let tx = TensorRef::from_f32(&[1, 2, 2, 2], &x).unwrap();
        let slope = [0.5f32, 3.0];
        let ts = TensorRef::from_f32(&[2, 1, 1], &slope).unwrap();
        assert_eq!(
            eval_f32("PRelu", tx, ts),
            [-2.0, -1.5, -1.0, -0.5, 0.0, 1.0, 2.0, 3.0]
        );
    }

    #[test]
    fn prelu_on_integers_and_a_slope_that_would_grow_the_input() {
        let x = [-3i64, 0, 5, i64::MIN];
        let tx = TensorRef::from_i64(&[4], &x).unwrap();
        let slope = [2i64];
        let ts = TensorRef::from_i64(&[1], &slope).unwrap();
        let y = eval("PRelu", tx, ts);
        // i64::MIN · 2 wraps to 0, as the C types do.
        assert_eq!(y.as_i64().unwrap(), [-6, 0, 5, 0]);
        // Unidirectional: the slope broadcasts to the input, never the input to the slope.
        match build_for("PRelu", (DType::F32, &[3]), (DType::F32, &[2, 3])) {
            Err(e) => assert!(e.contains("does not broadcast"), "{e}"),
            Ok(_) => panic!("a slope larger than the input was accepted"),
        }
    }
}
