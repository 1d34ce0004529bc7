//! Read sets and write sets as index intervals and index keys.
//!
//! A transaction's *read set* is every index range it read, including ranges that turned out
//! empty and point reads that found nothing (a later insert there must still conflict). Its
//! *write set* is every index key it changed: for each written document and each index of its
//! table, the key it had before and the key it has after. A commit conflicts with an earlier
//! read, and invalidates a subscription, exactly when one of its written keys lies in one of
//! the read intervals of the same index.

use std::ops::Bound;

use nimbus_storage::KeyRange;

use crate::catalog::IndexId;

/// A half-open byte interval `[start, end)`; `end: None` is unbounded.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval {
    /// Inclusive start.
    pub start: Vec<u8>,
    /// Exclusive end, or unbounded.
    pub end: Option<Vec<u8>>,
}

impl Interval {
    /// Normalises a storage key range: an excluded start `s` becomes `s ‖ 0x00` (the smallest
    /// key after `s`), an included end `e` becomes `e ‖ 0x00`.
    pub fn from_range(range: &KeyRange) -> Self {
        let start = match &range.start {
            Bound::Included(s) => s.clone(),
            Bound::Excluded(s) => {
                let mut s = s.clone();
                s.push(0);
                s
            }
            Bound::Unbounded => Vec::new(),
        };
        let end = match &range.end {
            Bound::Included(e) => {
                let mut e = e.clone();
                e.push(0);
                Some(e)
            }
            Bound::Excluded(e) => Some(e.clone()),
            Bound::Unbounded => None,
        };
        Self { start, end }
    }

    /// The interval holding exactly `key`.
    pub fn point(key: &[u8]) -> Self {
        let mut end = key.to_vec();
        end.push(0);
        Self {
            start: key.to_vec(),
            end: Some(end),
        }
    }

    /// Whether `key` lies in the interval.
    pub fn contains(&self, key: &[u8]) -> bool {
        key >= self.start.as_slice() && self.end.as_deref().is_none_or(|end| key < end)
    }

    /// Whether the interval holds no key.
    pub fn is_empty(&self) -> bool {
        self.end
            .as_deref()
            .is_some_and(|end| end <= self.start.as_slice())
    }
}

/// The index ranges a transaction or query read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadSet {
    intervals: Vec<(IndexId, Interval)>,
}

impl ReadSet {
    /// An empty read set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a read of `interval` in `index`.
    pub fn add(&mut self, index: IndexId, interval: Interval) {
        if interval.is_empty() {
            return;
        }
        if self
            .intervals
            .iter()
            .any(|(i, existing)| *i == index && existing == &interval)
        {
            return;
        }
        self.intervals.push((index, interval));
    }

    /// The recorded intervals.
    pub fn intervals(&self) -> &[(IndexId, Interval)] {
        &self.intervals
    }

    /// Number of intervals.
    pub fn len(&self) -> usize {
        self.intervals.len()
    }

    /// Whether nothing was read.
    pub fn is_empty(&self) -> bool {
        self.intervals.is_empty()
    }

    /// Whether any written key lies in a read interval.
    pub fn overlaps(&self, writes: &WriteKeys) -> Option<IndexId> {
        writes.keys.iter().find_map(|(index, key)| {
            self.intervals
                .iter()
                .any(|(i, interval)| i == index && interval.contains(key))
                .then_some(*index)
        })
    }

    /// Adds every interval of `other`.
    pub fn extend(&mut self, other: &ReadSet) {
        for (index, interval) in &other.intervals {
            self.add(*index, interval.clone());
        }
    }
}

/// The index keys a commit changed (old and new keys of every written document).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteKeys {
    /// `(index, key)` pairs.
    pub keys: Vec<(IndexId, Vec<u8>)>,
}

impl WriteKeys {
    /// Compact binary form stored in the journal: per key, index id (u32 LE), key length (u32
    /// LE), key bytes. Hand-rolled because it is three fields and must never change by accident.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.keys.iter().map(|(_, k)| k.len() + 8).sum());
        for (index, key) in &self.keys {
            out.extend_from_slice(&index.to_le_bytes());
            out.extend_from_slice(&(key.len() as u32).to_le_bytes());
            out.extend_from_slice(key);
        }
        out
    }

    /// Reads the journal form; `None` if it is damaged.
    pub fn decode(mut bytes: &[u8]) -> Option<Self> {
        let mut keys = Vec::new();
        while !bytes.is_empty() {
            let index = u32::from_le_bytes(bytes.get(0..4)?.try_into().ok()?);
            let len = u32::from_le_bytes(bytes.get(4..8)?.try_into().ok()?) as usize;
            let key = bytes.get(8..8 + len)?.to_vec();
            keys.push((index, key));
            bytes = &bytes[8 + len..];
        }
        Some(Self { keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_normalise_bounds() {
        let range = KeyRange::new(Bound::Excluded(vec![5]), Bound::Included(vec![9]));
        let interval = Interval::from_range(&range);
        assert!(!interval.contains(&[5]));
        assert!(interval.contains(&[5, 0]));
        assert!(interval.contains(&[9]));
        assert!(!interval.contains(&[9, 0]));
        assert!(Interval::point(&[3]).contains(&[3]));
        assert!(!Interval::point(&[3]).contains(&[3, 0]));
    }

    #[test]
    fn write_keys_round_trip_through_the_journal_form() {
        let keys = WriteKeys {
            keys: vec![(1, vec![1, 2, 3]), (7, vec![]), (9, vec![0xff; 40])],
        };
        assert_eq!(WriteKeys::decode(&keys.encode()), Some(keys));
        assert_eq!(WriteKeys::decode(&[1, 0, 0]), None);
    }
}
