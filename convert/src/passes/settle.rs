//! The size guard of constant folding, over whole constant subgraphs: the nodes the walk folded
//! ([`super::fold`]) are grouped into components, and each component is kept (its nodes
//! removed) or undone (its outputs computed again) as a whole.
//!
//! Two folded nodes are in one component when one reads the other's output, or when both read
//! the same large constant (more than [`MAX_GROWTH`] elements): weights that several constant
//! subgraphs reorder (an exporter's LSTM gate reordering, read by two cells) are dropped only
//! when all of them fold. A component is undone when it would grow the file by more than
//! [`MAX_GROWTH`] elements: the tensors its outputs read from outside it newly store (each
//! stored tensor counted once), less the constants only its nodes read (dropped with it). So
//! a `ConstantOfShape` or `Expand` of a big shape, or a transposed copy of a weight that
//! another node also reads, stays a node (one the planner folds or makes a view per plan).
//! A component computing the condition of an inlined `If` is always kept.

use std::collections::HashMap;

use mobiquant_core::graph::ValueId;

use super::producers;
use crate::ir::IrModel;

/// The most elements by which a constant subgraph may grow the file when folded.
pub const MAX_GROWTH: usize = 4096;

/// Who reads a value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reader {
    Node(usize, usize),
    /// A graph output or a state output.
    Exported,
}

/// Settles the folds of the walk: `folded` holds an output of each folded node, `tensors_before`
/// the number of tensors before the walk, `pinned` values that must stay constants. Returns
/// (nodes removed, nodes undone).
pub fn settle(
    ir: &mut IrModel,
    folded: &[ValueId],
    tensors_before: usize,
    pinned: &[ValueId],
) -> (usize, usize) {
    let producer = producers(ir);
    // The folded nodes that still exist (a branch dropped by inlining takes its folds along).
    let mut nodes: Vec<(usize, usize)> = folded
        .iter()
        .filter_map(|&v| producer[v as usize])
        .collect();
    nodes.sort_unstable();
    nodes.dedup();
    let index: HashMap<(usize, usize), usize> =
        nodes.iter().enumerate().map(|(k, &n)| (n, k)).collect();
    let mut readers: Vec<Vec<Reader>> = vec![Vec::new(); ir.values.len()];
    for (g, graph) in ir.graphs.iter().enumerate() {
        for (i, n) in graph.nodes.iter().enumerate() {
            for &v in n.inputs.iter().flatten() {
                readers[v as usize].push(Reader::Node(g, i));
            }
        }
        for &v in &graph.outputs {
            readers[v as usize].push(Reader::Exported);
        }
    }
    for &(_, o) in &ir.states {
        readers[o as usize].push(Reader::Exported);
    }
    let elements = |v: ValueId| {
        ir.constant(v)
            .map_or(0, |t| t.dims.iter().product::<u64>() as usize)
    };
    let is_folded = |v: ValueId| producer[v as usize].is_some_and(|p| index.contains_key(&p));

    let mut parent: Vec<usize> = (0..nodes.len()).collect();
    let mut big_reader: HashMap<ValueId, usize> = HashMap::new();
    for (k, &(g, i)) in nodes.iter().enumerate() {
        for &v in ir.graphs[g].nodes[i].inputs.iter().flatten() {
            if let Some(p) = producer[v as usize].and_then(|p| index.get(&p)) {
                union(&mut parent, k, *p);
            } else if elements(v) > MAX_GROWTH {
                let first = *big_reader.entry(v).or_insert(k);
                union(&mut parent, k, first);
            }
        }
    }
    let component: Vec<usize> = (0..nodes.len()).map(|k| find(&mut parent, k)).collect();
    let in_component = |r: &Reader, c: usize| match r {
        Reader::Node(g, i) => index.get(&(*g, *i)).is_some_and(|&k| component[k] == c),
        Reader::Exported => false,
    };

    let mut keep = vec![false; nodes.len()];
    // Per component: new tensors its outputs give to readers outside it, constants only it reads.
    let mut added: HashMap<usize, Vec<u32>> = HashMap::new();
    let mut dropped: HashMap<usize, Vec<ValueId>> = HashMap::new();
    for (k, &(g, i)) in nodes.iter().enumerate() {
        let c = component[k];
        let node = &ir.graphs[g].nodes[i];
        for &o in &node.outputs {
            if pinned.contains(&o) {
                keep[c] = true;
            }
            let outside = readers[o as usize].iter().any(|r| !in_component(r, c));
            let tensor = ir.values[o as usize].initializer;
            if let Some(t) = tensor.filter(|&t| outside && t as usize >= tensors_before) {
                added.entry(c).or_default().push(t);
            }
        }
        for &v in node.inputs.iter().flatten() {
            let original = !is_folded(v) && ir.constant(v).is_some();
            if original && readers[v as usize].iter().all(|r| in_component(r, c)) {
                dropped.entry(c).or_default().push(v);
            }
        }
    }
    for c in (0..nodes.len()).filter(|&c| component[c] == c) {
        let mut tensors = added.remove(&c).unwrap_or_default();
        tensors.sort_unstable();
        tensors.dedup();
        let grows = tensors
            .iter()
            .map(|&t| ir.tensors[t as usize].dims.iter().product::<u64>() as usize)
            .fold(0, usize::saturating_add);
        let mut values = dropped.remove(&c).unwrap_or_default();
        values.sort_unstable();
        values.dedup();
        let frees = values
            .iter()
            .map(|&v| elements(v))
            .fold(0, usize::saturating_add);
        if grows <= frees.saturating_add(MAX_GROWTH) {
            keep[c] = true;
        }
    }

    let (mut removed, mut undone) = (0, 0);
    let mut remove: Vec<(usize, usize)> = Vec::new();
    for (k, &(g, i)) in nodes.iter().enumerate() {
        if keep[component[k]] {
            remove.push((g, i));
            removed += 1;
        } else {
            for &o in &ir.graphs[g].nodes[i].outputs.clone() {
                let info = &mut ir.values[o as usize];
                info.initializer = None;
                info.shape = None;
            }
            undone += 1;
        }
    }
    // Highest index first, so the indices still to remove stay valid.
    for &(g, i) in remove.iter().rev() {
        ir.graphs[g].nodes.remove(i);
    }
    (removed, undone)
}

fn find(parent: &mut [usize], k: usize) -> usize {
    let mut r = k;
    while parent[r] != r {
        r = parent[r];
    }
    parent[k] = r;
    r
}

fn union(parent: &mut [usize], a: usize, b: usize) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    parent[ra.max(rb)] = ra.min(rb);
}
