//! DepthToSpace and SpaceToDepth on rank-4 NCHW tensors of any fixed-size dtype: blocks of
//! `blocksize × blocksize` move between the channel and the spatial dimensions, ordered
//! depth-column-row (`DCR`, the default) or column-row-depth (`CRD`; SpaceToDepth takes `mode`
//! from opset 28 on).
//!
//! Each is one strided copy (`layout::strided`): the output is walked as a rank-6 index whose
//! strides into the input are computed here at plan time, so running reads every input
//! element once and allocates nothing.
//!
//! Invariant: the output holds exactly the input's elements, byte for byte.

use super::layout::strided;
use super::{Built, NodeContext, OpResult};

/// The block size and DCR (true) or CRD (false) order of a node.
fn params(cx: &NodeContext<'_>) -> OpResult<(usize, bool)> {
    let b = cx.int("blocksize", 0)?;
    let b = usize::try_from(b)
        .ok()
        .filter(|&b| b > 0)
        .ok_or(format!("blocksize must be positive, got {b}"))?;
    let dcr = match cx.string("mode")?.unwrap_or("DCR") {
        "DCR" => true,
        "CRD" => false,
        other => return Err(format!("mode must be DCR or CRD, got '{other}'")),
    };
    Ok((b, dcr))
}

/// The input's [N, C, H, W].
fn nchw(shape: &[usize]) -> OpResult<[usize; 4]> {
    <[usize; 4]>::try_from(shape).map_err(|_| format!("input must have rank 4, got {shape:?}"))
}

/// Strides as isize (dimensions were checked by the planner to fit in memory).
fn signed<const K: usize>(s: [usize; K]) -> Vec<isize> {
    s.iter().map(|&v| v as isize).collect()
}

pub(crate) fn build_depth_to_space(cx: &NodeContext<'_>) -> OpResult<Built> {
    let x = cx.input(0)?;
    let [n, c, h, w] = nchw(&x.shape)?;
    let (b, dcr) = params(cx)?;
    if c % (b * b) != 0 {
        return Err(format!(
            "channels {c} are not a multiple of blocksize² ({b}²)"
        ));
    }
    let cb = c / (b * b);
    let hw = h * w;
    // Output walked as (n, c', h, i, w, j): row h·b + i, column w·b + j, channel c'.
    // DCR reads input channel (i·b + j)·c' + c', CRD reads c'·b² + i·b + j.
    let (sc, si, sj) = if dcr {
        (hw, b * cb * hw, cb * hw)
    } else {
        (b * b * hw, b * hw, hw)
    };
    let walk = vec![n, cb, h, b, w, b];
    let mut built = strided(x, walk, 0, signed([c * hw, sc, w, si, 1, sj]))?;
    built.output.shape = vec![n, cb, h * b, w * b];
    Ok(built)
}

pub(crate) fn build_space_to_depth(cx: &NodeContext<'_>) -> OpResult<Built> {
    let x = cx.input(0)?;
    let [n, c, h, w] = nchw(&x.shape)?;
    let (b, dcr) = params(cx)?;
    if h % b != 0 || w % b != 0 {
        return Err(format!(
            "spatial size {h}x{w} is not a multiple of blocksize {b}"
        ));
    }
    let (hb, wb) = (h / b, w / b);
    let hw = h * w;
    // Input row h'·b + i, column w'·b + j of channel c goes to output channel
    // (i·b + j)·C + c (DCR) or c·b² + i·b + j (CRD); the walk is in output order.
    let (walk, s) = if dcr {
        (vec![n, b, b, c, hb, wb], [c * hw, w, 1, hw, b * w, b])
    } else {
        (vec![n, c, b, b, hb, wb], [c * hw, hw, w, 1, b * w, b])
    };
    let mut built = strided(x, walk, 0, signed(s))?;
    built.output.shape = vec![n, c * b * b, hb, wb];
    Ok(built)
}
