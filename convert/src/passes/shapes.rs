//! Shape and dtype inference, constant folding and `If` inlining, in one walk over the graphs
//! in node order (so every fold and every inlined branch is seen by the nodes after it).
//!
//! Each node is planned by the runtime ([`super::runtime::plan_node`]) once per probe binding
//! of the symbolic input dimensions ([`super::probe`]), from what the earlier nodes gave in the
//! same run (shape, and contents where the planner computes them); when its inputs are the same
//! in every run it is planned once. Then [`super::fold`] decides whether it becomes constants
//! (kept or undone per constant subgraph by [`super::settle`] once the walk is done),
//! an `If` with a constant condition is replaced by its branch ([`super::branch`]), and an `If`
//! whose condition is known per run only takes the branch of each run (both agreeing otherwise),
//! as the planner does. At the end every node output gets the symbolic shape read off its runs
//! (dtypes are the importer's, which the planner checks against its own).
//!
//! Invariants: graph inputs keep their declared shapes (they bind the symbols); a node output
//! the runtime cannot plan in every run keeps the shape the source model declared, if any.

use mobiquant_core::graph::ValueId;
use mobiquant_core::{AttrValue, Node};

use super::fold::{self, Decision, Inputs};
use super::probe::{RUNS, Symbols};
use super::runtime::{self, Feed, Known};
use super::{PassReport, branch, settle};
use crate::ir::IrModel;

/// Infers every node output's shape, folds constants and inlines `If`s with a constant
/// condition; reports that in the walk's fields of a [`PassReport`].
pub fn infer_and_fold(ir: &mut IrModel) -> PassReport {
    let Some(main) = ir.graphs.first() else {
        return PassReport::default();
    };
    let symbols = Symbols::collect(
        main.inputs
            .iter()
            .filter_map(|&v| ir.values[v as usize].shape.as_ref()),
    );
    let mut facts = vec![vec![None; ir.values.len()]; RUNS];
    for &v in &main.inputs {
        let info = &ir.values[v as usize];
        for (run, facts) in facts.iter_mut().enumerate() {
            facts[v as usize] =
                info.shape
                    .as_ref()
                    .and_then(|s| symbols.bind(s, run))
                    .map(|shape| Known {
                        dtype: info.dtype,
                        shape,
                        value: None,
                    });
        }
    }
    let mut walk = Walk {
        facts,
        folded: Vec::new(),
        pinned: Vec::new(),
        report: PassReport::default(),
    };
    let tensors_before = ir.tensors.len();
    walk.graph(ir, 0);
    let (removed, undone) = settle::settle(ir, &walk.folded, tensors_before, &walk.pinned);
    walk.report.nodes_folded = removed;
    walk.report.folds_too_large += undone;
    walk.write_shapes(ir, &symbols);
    walk.report
}

struct Walk {
    /// `facts[run][value]`: what the runtime gave for a non-constant value in each run.
    facts: Vec<Vec<Option<Known>>>,
    /// The first output of every node folded so far (still in place until [`settle`]).
    folded: Vec<ValueId>,
    /// Conditions of the `If`s inlined so far: they must stay constants.
    pinned: Vec<ValueId>,
    report: PassReport,
}

impl Walk {
    fn graph(&mut self, ir: &mut IrModel, g: usize) {
        let mut i = 0;
        while i < ir.graphs[g].nodes.len() {
            let node = ir.graphs[g].nodes[i].clone();
            if node.op == "If" {
                if let Some(taken) = branch::taken_branch(ir, &node) {
                    self.pinned.extend(node.inputs.first().copied().flatten());
                    branch::inline(ir, g, i, taken);
                    self.report.ifs_inlined += 1;
                    continue; // the branch's nodes now start at i
                }
                self.plan_if(ir, &node);
            } else {
                self.node(ir, &node);
            }
            i += 1;
        }
    }

    /// What run `run` knows about value `v`.
    fn known(&self, ir: &IrModel, v: ValueId, run: usize) -> Option<Known> {
        match ir.constant(v) {
            Some(t) => Some(Known {
                dtype: t.dtype,
                shape: t
                    .dims
                    .iter()
                    .map(|&d| usize::try_from(d).ok())
                    .collect::<Option<_>>()?,
                value: runtime::from_ir_tensor(t),
            }),
            None => self.facts[run].get(v as usize)?.clone(),
        }
    }

    fn set(&mut self, run: usize, v: ValueId, known: Option<Known>) {
        let facts = &mut self.facts[run];
        if facts.len() <= v as usize {
            facts.resize(v as usize + 1, None);
        }
        facts[v as usize] = known;
    }

    /// The inputs of `node` in run `run`, or `None` if one is not known in that run.
    fn feeds<'a>(
        &'a self,
        ir: &'a IrModel,
        node: &Node,
        run: usize,
    ) -> Option<Vec<Option<Feed<'a>>>> {
        node.inputs
            .iter()
            .map(|v| {
                let Some(v) = *v else { return Some(None) };
                match ir.constant(v) {
                    Some(t) => Some(Some(Feed::Constant(t))),
                    None => self.facts[run]
                        .get(v as usize)?
                        .as_ref()
                        .map(|k| Some(Feed::Value(k))),
                }
            })
            .collect()
    }

    /// Plans `node` in every run and folds it if it can.
    fn node(&mut self, ir: &mut IrModel, node: &Node) {
        let (planned, decision) = {
            let ir: &IrModel = ir;
            let computed: Vec<usize> = node
                .inputs
                .iter()
                .flatten()
                .filter(|&&v| ir.constant(v).is_none())
                .map(|&v| v as usize)
                .collect();
            let fact = |run: usize, v: usize| self.facts[run].get(v).and_then(Option::as_ref);
            let same = computed
                .iter()
                .all(|&v| (1..RUNS).all(|r| fact(r, v) == fact(0, v)));
            // `None` when an input is unknown in that run (an earlier node could not be planned).
            let plan = |run: usize| {
                self.feeds(ir, node, run)
                    .map(|f| runtime::plan_node(ir, node, &f))
            };
            let planned: Vec<Option<Result<Vec<Known>, String>>> = if same {
                vec![plan(0); RUNS]
            } else {
                (0..RUNS).map(plan).collect()
            };
            let decision = match self.feeds(ir, node, 0) {
                Some(feeds) => {
                    let inputs = Inputs {
                        all_constant: computed.is_empty(),
                        shapes_only: same
                            && computed
                                .iter()
                                .all(|&v| fact(0, v).is_some_and(|k| k.value.is_none())),
                        feeds,
                    };
                    let first = planned[0].as_ref().and_then(|p| p.as_deref().ok());
                    fold::decide(ir, node, &inputs, first)
                }
                None => Decision::NotConstant,
            };
            (planned, decision)
        };
        // Facts are kept for folded nodes too, in case settling undoes the fold.
        for (run, outputs) in planned.into_iter().enumerate() {
            let outputs = outputs.and_then(|p| {
                p.map_err(|e| {
                    self.report.first_shape_failure.get_or_insert(e);
                })
                .ok()
            });
            let mut outputs = outputs.map(Vec::into_iter);
            for &v in &node.outputs {
                let known = outputs.as_mut().and_then(Iterator::next);
                self.set(run, v, known);
            }
        }
        match decision {
            Decision::Fold(values) => {
                fold::commit(ir, node, &values);
                self.folded.extend(node.outputs.first());
            }
            Decision::TooLarge => self.report.folds_too_large += 1,
            Decision::NotConstant => {}
        }
    }

    /// Walks the bodies of an `If` whose condition is not a constant, and gives its outputs
    /// the facts of the branch each run takes (both branches' when the run does not know the
    /// condition: equal, or the only one that plans).
    fn plan_if(&mut self, ir: &mut IrModel, node: &Node) {
        let body = |name: &str| match node.attribute(name) {
            Some(AttrValue::Graph(g)) => Some(*g as usize),
            _ => None,
        };
        let (Some(then_g), Some(else_g)) = (body("then_branch"), body("else_branch")) else {
            return;
        };
        self.graph(ir, then_g);
        self.graph(ir, else_g);
        let cond = node.inputs.first().copied().flatten();
        for run in 0..RUNS {
            let taken = cond
                .and_then(|c| self.known(ir, c, run)?.value)
                .and_then(|t| t.view().as_bool().ok()?.first().copied())
                .map(|b| if b != 0 { then_g } else { else_g });
            for (k, &o) in node.outputs.iter().enumerate() {
                let out_of = |g: usize| self.known(ir, *ir.graphs[g].outputs.get(k)?, run);
                let known = match taken {
                    Some(g) => out_of(g),
                    None => match (out_of(then_g), out_of(else_g)) {
                        (Some(a), Some(b)) => (a.dtype == b.dtype && a.shape == b.shape)
                            .then_some(Known { value: None, ..a }),
                        (Some(a), None) | (None, Some(a)) => Some(Known { value: None, ..a }),
                        (None, None) => None,
                    },
                };
                self.set(run, o, known);
            }
        }
    }

    /// Gives every node output the symbolic shape its runs agree on.
    fn write_shapes(&mut self, ir: &mut IrModel, symbols: &Symbols) {
        let outputs: Vec<ValueId> = ir
            .graphs
            .iter()
            .flat_map(|g| g.nodes.iter().flat_map(|n| n.outputs.iter().copied()))
            .collect();
        for v in outputs {
            let runs: Vec<Option<&Known>> = self
                .facts
                .iter()
                .map(|f| f.get(v as usize).and_then(Option::as_ref))
                .collect();
            let info = &mut ir.values[v as usize];
            match symbols.shape_of(&info.name, &runs, info.shape.as_ref()) {
                Some(shape) => {
                    if shape.as_fixed().is_some() {
                        self.report.shapes_static += 1;
                    } else {
                        self.report.shapes_symbolic += 1;
                    }
                    info.shape = Some(shape);
                }
                None => self.report.shapes_unknown += 1,
            }
        }
    }
}
