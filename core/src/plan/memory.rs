//! The activation memory plan: every intermediate value gets an offset in one arena, and values
//! whose lifetimes do not overlap share bytes.
//!
//! Algorithm: greedy by size with best fit. Values are placed largest first; each goes into the
//! smallest gap between the already placed values that are live at the same time as it (or after
//! the last of them), so big buffers claim space first and small ones fill the holes.
//!
//! Invariants: every offset is a multiple of [`ALIGN`]; two values whose step intervals
//! intersect never have intersecting byte ranges ([`check`] proves it for a finished plan).

/// Alignment of every value in the arena: a cache line and the widest vector load.
pub const ALIGN: usize = 64;

/// One value to place: its size and the steps during which it must keep its bytes (inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lifetime {
    pub bytes: usize,
    pub first_step: usize,
    pub last_step: usize,
}

impl Lifetime {
    fn overlaps_in_time(&self, other: &Lifetime) -> bool {
        self.first_step <= other.last_step && other.first_step <= self.last_step
    }
}

/// Offsets for `values` (same order) and the arena size they need.
pub fn assign(values: &[Lifetime]) -> Option<(Vec<usize>, usize)> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[b].bytes.cmp(&values[a].bytes).then(a.cmp(&b)));
    let mut offsets = vec![0usize; values.len()];
    let mut placed: Vec<usize> = Vec::with_capacity(values.len());
    let mut arena = 0usize;
    for &v in &order {
        let me = values[v];
        let size = me.bytes.checked_next_multiple_of(ALIGN)?;
        let mut busy: Vec<(usize, usize)> = placed
            .iter()
            .filter(|&&p| values[p].overlaps_in_time(&me))
            .map(|&p| {
                (
                    offsets[p],
                    offsets[p] + values[p].bytes.next_multiple_of(ALIGN),
                )
            })
            .collect();
        busy.sort_unstable();
        let mut best: Option<(usize, usize)> = None; // (gap size, offset)
        let mut cursor = 0usize;
        for &(start, end) in &busy {
            if start >= cursor
                && start - cursor >= size
                && best.is_none_or(|(g, _)| start - cursor < g)
            {
                best = Some((start - cursor, cursor));
            }
            cursor = cursor.max(end);
        }
        let offset = best.map_or(cursor, |(_, at)| at);
        offsets[v] = offset;
        arena = arena.max(offset.checked_add(size)?);
        placed.push(v);
    }
    Some((offsets, arena))
}

/// Checks that no two values live at the same time share a byte; returns the offending pair.
pub fn check(values: &[Lifetime], offsets: &[usize]) -> Result<(), (usize, usize)> {
    for i in 0..values.len() {
        for j in i + 1..values.len() {
            let (a, b) = (values[i], values[j]);
            let bytes_overlap = a.bytes > 0
                && b.bytes > 0
                && offsets[i] < offsets[j] + b.bytes
                && offsets[j] < offsets[i] + a.bytes;
            if a.overlaps_in_time(&b) && bytes_overlap {
                return Err((i, j));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn life(bytes: usize, first_step: usize, last_step: usize) -> Lifetime {
        Lifetime {
            bytes,
            first_step,
            last_step,
        }
    }

    #[test]
    fn a_chain_reuses_two_buffers() {
        // x0 -> x1 -> x2 -> x3: each value is dead once the next is made.
        let chain: Vec<_> = (0..4).map(|i| life(1000, i, i + 1)).collect();
        let (offsets, arena) = assign(&chain).unwrap();
        assert_eq!(arena, 2 * 1024);
        check(&chain, &offsets).unwrap();
        assert_eq!(offsets[0], offsets[2]);
    }

    #[test]
    fn small_values_fill_holes() {
        let v = [
            life(4096, 0, 1),
            life(4096, 1, 3),
            life(1024, 2, 3),
            life(64, 2, 2),
        ];
        let (offsets, arena) = assign(&v).unwrap();
        check(&v, &offsets).unwrap();
        assert_eq!(arena, 8192);
    }
}
