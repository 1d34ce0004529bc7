//! `IntervalIndex`: which registered intervals contain a given key, without scanning them all.
//!
//! The bulk of the intervals live in a static part: sorted by start, with a segment tree over
//! them holding, per node, the entry whose end is largest. A stabbing query for key `p` binary
//! searches the entries whose start is `<= p`, then walks only the tree nodes whose largest end
//! is `> p`, so it costs O(log n + matches). Insertions go to a small unsorted side list and
//! removals to a tombstone set; both are folded into a rebuilt static part once they grow past
//! a fraction of it, which keeps updates amortised O(log n).
//!
//! Hand-written because the interval crates on crates.io want `Copy` numeric bounds; index
//! keys are byte strings.

use std::cmp::Ordering;
use std::collections::HashSet;

use crate::read_set::Interval;

/// A subscription's identifier.
pub type SubscriptionId = u64;

/// Side-list entries tolerated before a rebuild, beyond a fraction of the static part.
const PENDING_CHANGES_BASE: usize = 32;

/// Intervals of one index, each tagged with its subscription.
#[derive(Debug, Default)]
pub struct IntervalIndex {
    entries: Vec<(Interval, SubscriptionId)>,
    /// Segment tree over `entries`: per node, the entry index with the largest end (or
    /// `u32::MAX` for an empty node). Leaves start at `leaf_base`.
    tree: Vec<u32>,
    leaf_base: usize,
    added: Vec<(Interval, SubscriptionId)>,
    removed: HashSet<SubscriptionId>,
}

fn end_cmp(a: &Option<Vec<u8>>, b: &Option<Vec<u8>>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(a), Some(b)) => a.cmp(b),
    }
}

fn end_after(end: &Option<Vec<u8>>, key: &[u8]) -> bool {
    end.as_deref().is_none_or(|end| key < end)
}

impl IntervalIndex {
    /// Registers `interval` for `subscription`.
    pub fn insert(&mut self, interval: Interval, subscription: SubscriptionId) {
        self.added.push((interval, subscription));
        self.maybe_rebuild();
    }

    /// Removes every interval of `subscription`.
    pub fn remove(&mut self, subscription: SubscriptionId) {
        let before = self.added.len();
        self.added.retain(|(_, s)| *s != subscription);
        if self.added.len() == before || self.entries.iter().any(|(_, s)| *s == subscription) {
            self.removed.insert(subscription);
        }
        self.maybe_rebuild();
    }

    /// Live intervals (approximate while tombstones are pending).
    pub fn len(&self) -> usize {
        self.entries.len() + self.added.len()
    }

    /// Whether nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls `found` for each subscription with an interval containing `key` (possibly more
    /// than once per subscription).
    pub fn stab(&self, key: &[u8], found: &mut impl FnMut(SubscriptionId)) {
        for (interval, subscription) in &self.added {
            if interval.contains(key) {
                found(*subscription);
            }
        }
        let candidates = self
            .entries
            .partition_point(|(i, _)| i.start.as_slice() <= key);
        if candidates > 0 {
            self.visit(1, 0, self.leaf_base, candidates, key, found);
        }
    }

    fn visit(
        &self,
        node: usize,
        lo: usize,
        hi: usize,
        candidates: usize,
        key: &[u8],
        found: &mut impl FnMut(SubscriptionId),
    ) {
        if lo >= candidates {
            return;
        }
        let best = self.tree[node];
        if best == u32::MAX || !end_after(&self.entries[best as usize].0.end, key) {
            return;
        }
        if hi - lo == 1 {
            let (interval, subscription) = &self.entries[lo];
            if interval.contains(key) && !self.removed.contains(subscription) {
                found(*subscription);
            }
            return;
        }
        let mid = (lo + hi) / 2;
        self.visit(node * 2, lo, mid, candidates, key, found);
        self.visit(node * 2 + 1, mid, hi, candidates, key, found);
    }

    fn maybe_rebuild(&mut self) {
        let pending = self.added.len() + self.removed.len();
        if pending > PENDING_CHANGES_BASE + self.entries.len() / 8 {
            self.rebuild();
        }
    }

    fn rebuild(&mut self) {
        let removed = std::mem::take(&mut self.removed);
        let mut entries: Vec<(Interval, SubscriptionId)> = std::mem::take(&mut self.entries)
            .into_iter()
            .filter(|(_, s)| !removed.contains(s))
            .collect();
        entries.append(&mut self.added);
        entries.sort_by(|a, b| a.0.start.cmp(&b.0.start));
        let leaf_base = entries.len().next_power_of_two().max(1);
        let mut tree = vec![u32::MAX; leaf_base * 2];
        for i in 0..entries.len() {
            tree[leaf_base + i] = i as u32;
        }
        for node in (1..leaf_base).rev() {
            let (l, r) = (tree[node * 2], tree[node * 2 + 1]);
            tree[node] = match (l, r) {
                (u32::MAX, x) | (x, u32::MAX) => x,
                (l, r) => {
                    if end_cmp(&entries[l as usize].0.end, &entries[r as usize].0.end)
                        == Ordering::Less
                    {
                        r
                    } else {
                        l
                    }
                }
            };
        }
        self.entries = entries;
        self.tree = tree;
        self.leaf_base = leaf_base;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn interval(start: u8, end: Option<u8>) -> Interval {
        Interval {
            start: vec![start],
            end: end.map(|e| vec![e]),
        }
    }

    fn stab(index: &IntervalIndex, key: u8) -> BTreeSet<SubscriptionId> {
        let mut out = BTreeSet::new();
        index.stab(&[key], &mut |s| {
            out.insert(s);
        });
        out
    }

    #[test]
    fn matches_a_linear_scan_through_inserts_removals_and_rebuilds() {
        let mut index = IntervalIndex::default();
        let mut model: Vec<(Interval, SubscriptionId)> = Vec::new();
        let mut seed = 12345u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for step in 0..3000u64 {
            if next() % 4 == 0 && !model.is_empty() {
                let victim = model[(next() % model.len() as u64) as usize].1;
                model.retain(|(_, s)| *s != victim);
                index.remove(victim);
            } else {
                let a = (next() % 250) as u8;
                let b = a.saturating_add((next() % 20) as u8 + 1);
                let end = if next() % 50 == 0 { None } else { Some(b) };
                model.push((interval(a, end), step));
                index.insert(interval(a, end), step);
            }
            if step % 97 == 0 {
                for key in 0..=255u8 {
                    let expected: BTreeSet<SubscriptionId> = model
                        .iter()
                        .filter(|(i, _)| i.contains(&[key]))
                        .map(|(_, s)| *s)
                        .collect();
                    assert_eq!(stab(&index, key), expected, "key {key} at step {step}");
                }
            }
        }
    }
}
