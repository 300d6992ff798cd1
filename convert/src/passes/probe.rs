//! Symbolic shapes from the runtime's concrete shape inference: the model is planned for
//! [`RUNS`] bindings of its symbolic input dimensions ("probes"), and each value's shape is read
//! off the concrete shapes it gets in those runs.
//!
//! A dimension equal in every run is fixed; one equal to the probe values of an input symbol in
//! every run is that symbol; any other (a derived size like `time / 2`, which the `.mq` format
//! cannot express) gets a symbol of its own, `<value>.dim<i>`, or the name the source model
//! declared there. A value the runtime cannot plan in every run (an op it lacks, a shape rule
//! the probe sizes break) keeps the shape the source declared, if any.
//!
//! Limit (inherent to inferring by evaluation): a dimension that depends on a symbol but takes
//! the same size under every probe (say `min(batch, 1)`) is taken as fixed. Probe sizes are
//! distinct multiples of 64 (vision models divide spatial sizes by up to 32) that differ per
//! symbol and per run, which makes such coincidences need a deliberately odd shape rule.

use std::collections::HashMap;

use mobiquant_core::{Dim, Shape};

use super::runtime::Known;

/// Bindings of the symbols the model is planned for.
pub const RUNS: usize = 2;

/// The input symbols, in order of first appearance, with their probe sizes.
#[derive(Debug, Default)]
pub struct Symbols {
    index: HashMap<String, usize>,
    names: Vec<String>,
    /// `sizes[k][run]`: the size symbol `k` takes in run `run`.
    sizes: Vec<[usize; RUNS]>,
}

impl Symbols {
    /// Gives every symbol of `shapes` an index.
    pub fn collect<'a>(shapes: impl IntoIterator<Item = &'a Shape>) -> Symbols {
        let mut s = Symbols::default();
        for d in shapes.into_iter().flat_map(|s| &s.0) {
            if let Dim::Symbol(name) = d
                && !s.index.contains_key(name)
            {
                s.index.insert(name.clone(), s.names.len());
                s.names.push(name.clone());
            }
        }
        s.sizes = probe_sizes(s.names.len());
        s
    }

    /// `shape` with its symbols bound to their sizes in `run`.
    pub fn bind(&self, shape: &Shape, run: usize) -> Option<Vec<usize>> {
        shape
            .0
            .iter()
            .map(|d| match d {
                Dim::Fixed(n) => usize::try_from(*n).ok(),
                Dim::Symbol(s) => self.index.get(s).map(|&k| self.sizes[k][run]),
            })
            .collect()
    }

    /// The symbol whose probe sizes are `sizes` (one per run), if any.
    fn symbol_of(&self, sizes: &[usize]) -> Option<&str> {
        (0..self.names.len())
            .find(|&k| sizes == self.sizes[k])
            .map(|k| self.names[k].as_str())
    }

    /// The symbolic shape of value `name` from its facts in every run, or `None` unless every
    /// run planned it with the same rank. `declared` names derived dimensions where it has a
    /// symbol.
    pub fn shape_of(
        &self,
        name: &str,
        runs: &[Option<&Known>],
        declared: Option<&Shape>,
    ) -> Option<Shape> {
        let first = runs.first().copied().flatten()?;
        let rank = first.shape.len();
        let shapes: Vec<&[usize]> = runs
            .iter()
            .map(|k| k.map(|k| k.shape.as_slice()).filter(|s| s.len() == rank))
            .collect::<Option<_>>()?;
        let dims = (0..rank)
            .map(|i| {
                let sizes: Vec<usize> = shapes.iter().map(|s| s[i]).collect();
                if sizes.iter().all(|&n| n == sizes[0]) {
                    return Dim::Fixed(sizes[0] as u64);
                }
                if let Some(s) = self.symbol_of(&sizes) {
                    return Dim::Symbol(s.to_string());
                }
                match declared.filter(|d| d.rank() == rank).map(|d| &d.0[i]) {
                    Some(Dim::Symbol(s)) => Dim::Symbol(s.clone()),
                    _ => Dim::Symbol(format!("{name}.dim{i}")),
                }
            })
            .collect();
        Some(Shape(dims))
    }
}

/// Probe sizes for `n` symbols: 64 times successive primes from 5 on, `RUNS` per symbol, so
/// that every (symbol, run) pair gets its own size.
fn probe_sizes(n: usize) -> Vec<[usize; RUNS]> {
    let mut primes = Vec::with_capacity(n * RUNS);
    let mut candidate = 5usize;
    while primes.len() < n * RUNS {
        if primes
            .iter()
            .take_while(|&&p| p * p <= candidate)
            .all(|&p| !candidate.is_multiple_of(p))
            && !candidate.is_multiple_of(3)
        {
            primes.push(candidate);
        }
        candidate += 2;
    }
    primes
        .chunks_exact(RUNS)
        .map(|c| std::array::from_fn(|r| 64 * c[r]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mobiquant_core::DType;

    fn known(shape: &[usize]) -> Known {
        Known {
            dtype: DType::F32,
            shape: shape.to_vec(),
            value: None,
        }
    }

    #[test]
    fn probes_are_distinct() {
        let sizes: Vec<usize> = probe_sizes(20).into_iter().flatten().collect();
        let mut unique = sizes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), sizes.len());
        assert_eq!(&sizes[..4], &[320, 448, 704, 832]);
    }

    #[test]
    fn dims_are_fixed_symbols_or_derived() {
        let s = Symbols::collect([&Shape(vec![
            Dim::Symbol("batch".into()),
            Dim::Fixed(3),
            Dim::Symbol("t".into()),
        ])]);
        let runs: Vec<Known> = (0..RUNS)
            .map(|r| {
                let (b, t) = (s.sizes[0][r], s.sizes[1][r]);
                known(&[b, 7, t / 2, t])
            })
            .collect();
        let refs: Vec<Option<&Known>> = runs.iter().map(Some).collect();
        let declared = Shape(vec![
            Dim::Fixed(1),
            Dim::Fixed(7),
            Dim::Symbol("half_t".into()),
            Dim::Fixed(2),
        ]);
        assert_eq!(
            s.shape_of("v", &refs, None).unwrap().to_string(),
            "[batch,7,v.dim2,t]"
        );
        assert_eq!(
            s.shape_of("v", &refs, Some(&declared)).unwrap().to_string(),
            "[batch,7,half_t,t]"
        );
        let partial = [Some(&runs[0]), None];
        assert!(s.shape_of("v", &partial, None).is_none());
    }
}
