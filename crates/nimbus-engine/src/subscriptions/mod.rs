//! Subscriptions: read sets registered at a timestamp, matched against each commit's write
//! keys through a per-index [`IntervalIndex`] (never a scan over all subscriptions).

mod interval_index;

use std::collections::{BTreeSet, HashMap};

pub use interval_index::{IntervalIndex, SubscriptionId};

use crate::catalog::IndexId;
use crate::read_set::{ReadSet, WriteKeys};

/// Live subscriptions of one tenant.
#[derive(Debug, Default)]
pub struct SubscriptionRegistry {
    by_index: HashMap<IndexId, IntervalIndex>,
    indexes_of: HashMap<SubscriptionId, Vec<IndexId>>,
    next_id: SubscriptionId,
}

impl SubscriptionRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a read set; returns its id.
    pub fn insert(&mut self, read_set: &ReadSet) -> SubscriptionId {
        let id = self.next_id;
        self.next_id += 1;
        let mut indexes = Vec::new();
        for (index, interval) in read_set.intervals() {
            self.by_index
                .entry(*index)
                .or_default()
                .insert(interval.clone(), id);
            if !indexes.contains(index) {
                indexes.push(*index);
            }
        }
        self.indexes_of.insert(id, indexes);
        id
    }

    /// Unregisters a subscription.
    pub fn remove(&mut self, id: SubscriptionId) {
        let Some(indexes) = self.indexes_of.remove(&id) else {
            return;
        };
        for index in indexes {
            if let Some(intervals) = self.by_index.get_mut(&index) {
                intervals.remove(id);
                if intervals.is_empty() {
                    self.by_index.remove(&index);
                }
            }
        }
    }

    /// Live subscriptions.
    pub fn len(&self) -> usize {
        self.indexes_of.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.indexes_of.is_empty()
    }

    /// Exactly the subscriptions whose read set contains one of `writes`.
    pub fn invalidated(&self, writes: &WriteKeys) -> BTreeSet<SubscriptionId> {
        let mut hit = BTreeSet::new();
        for (index, key) in &writes.keys {
            if let Some(intervals) = self.by_index.get(index) {
                intervals.stab(key, &mut |id| {
                    hit.insert(id);
                });
            }
        }
        hit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read_set::Interval;

    #[test]
    fn only_overlapping_read_sets_are_invalidated() {
        let mut registry = SubscriptionRegistry::new();
        let mut a = ReadSet::new();
        a.add(
            1,
            Interval {
                start: vec![10],
                end: Some(vec![20]),
            },
        );
        let mut b = ReadSet::new();
        b.add(
            1,
            Interval {
                start: vec![30],
                end: Some(vec![40]),
            },
        );
        b.add(2, Interval::point(&[5]));
        let (ia, ib) = (registry.insert(&a), registry.insert(&b));
        let writes = |keys: Vec<(IndexId, Vec<u8>)>| WriteKeys { keys };
        assert_eq!(
            registry.invalidated(&writes(vec![(1, vec![15])])),
            BTreeSet::from([ia])
        );
        assert_eq!(
            registry.invalidated(&writes(vec![(2, vec![5])])),
            BTreeSet::from([ib])
        );
        assert!(
            registry
                .invalidated(&writes(vec![(1, vec![25]), (2, vec![6]), (3, vec![15])]))
                .is_empty()
        );
        registry.remove(ia);
        assert!(
            registry
                .invalidated(&writes(vec![(1, vec![15])]))
                .is_empty()
        );
        assert_eq!(registry.len(), 1);
    }
}
