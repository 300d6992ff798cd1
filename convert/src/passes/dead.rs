//! Removes nodes none of whose outputs is read (after the other passes, and repeatedly, since a
//! removal can make its inputs' producers dead too).

use crate::ir::IrModel;

pub fn remove_dead_nodes(ir: &mut IrModel) -> usize {
    let mut removed = 0;
    loop {
        let uses = ir.use_counts();
        let before: usize = ir.graphs.iter().map(|g| g.nodes.len()).sum();
        for g in &mut ir.graphs {
            g.nodes
                .retain(|n| n.outputs.iter().any(|&v| uses[v as usize] > 0));
        }
        let after: usize = ir.graphs.iter().map(|g| g.nodes.len()).sum();
        if after == before {
            return removed;
        }
        removed += before - after;
    }
}
