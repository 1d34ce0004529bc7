//! The data this crate stores: versioned documents, index entries, journal entries and
//! catalog metadata. Storage attaches no meaning to any of the bytes.

use std::ops::Bound;

/// Identifies a document: the engine's table number and the 16-byte internal id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DocKey {
    pub table: u32,
    pub internal_id: [u8; 16],
}

/// One version of a document, written at `ts`. `value: None` means the document was deleted
/// at `ts` (a tombstone).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentVersion {
    pub key: DocKey,
    pub ts: u64,
    pub value: Option<Vec<u8>>,
}

/// One version of an index entry, written at `ts`.
///
/// `key` is an order-preserving byte key that is already unique per document (the engine
/// appends the document id). `doc: None` means the key was removed at `ts`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    pub index_id: u32,
    pub key: Vec<u8>,
    pub ts: u64,
    pub doc: Option<DocKey>,
}

/// Everything one commit writes, all stamped with `ts`, stored in one storage transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommitBatch {
    pub ts: u64,
    pub documents: Vec<DocumentVersion>,
    pub index_entries: Vec<IndexEntry>,
    /// Catalog puts (`Some`) and deletes (`None`); the last write to a key wins.
    pub meta: Vec<(String, Option<Vec<u8>>)>,
    /// Opaque bytes (the engine's serialized write set), stored as the journal entry at `ts`.
    pub journal: Vec<u8>,
}

/// One commit's journal entry. Every commit has exactly one, even with an empty payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalEntry {
    pub ts: u64,
    pub payload: Vec<u8>,
}

/// A range of index keys, compared as bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRange {
    pub start: Bound<Vec<u8>>,
    pub end: Bound<Vec<u8>>,
}

impl KeyRange {
    /// Every key.
    pub fn all() -> Self {
        Self {
            start: Bound::Unbounded,
            end: Bound::Unbounded,
        }
    }

    /// Keys from `start` to `end`.
    pub fn new(start: Bound<Vec<u8>>, end: Bound<Vec<u8>>) -> Self {
        Self { start, end }
    }

    /// Whether no key can lie in the range (e.g. start above end), so providers can answer
    /// without asking their backend (and `BTreeMap::range` would panic on it).
    pub fn is_empty(&self) -> bool {
        match (&self.start, &self.end) {
            (Bound::Unbounded, _) | (_, Bound::Unbounded) => false,
            (Bound::Included(s), Bound::Included(e)) => s > e,
            (Bound::Included(s) | Bound::Excluded(s), Bound::Excluded(e))
            | (Bound::Excluded(s), Bound::Included(e)) => s >= e,
        }
    }

    /// Whether `key` lies in the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        let after_start = match &self.start {
            Bound::Unbounded => true,
            Bound::Included(s) => key >= s.as_slice(),
            Bound::Excluded(s) => key > s.as_slice(),
        };
        let before_end = match &self.end {
            Bound::Unbounded => true,
            Bound::Included(e) => key <= e.as_slice(),
            Bound::Excluded(e) => key < e.as_slice(),
        };
        after_start && before_end
    }
}

/// The order in which `scan_index` returns keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    Asc,
    Desc,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inc(b: &[u8]) -> Bound<Vec<u8>> {
        Bound::Included(b.to_vec())
    }

    fn exc(b: &[u8]) -> Bound<Vec<u8>> {
        Bound::Excluded(b.to_vec())
    }

    #[test]
    fn empty_ranges_are_detected() {
        assert!(!KeyRange::all().is_empty());
        assert!(!KeyRange::new(inc(b"a"), inc(b"a")).is_empty());
        assert!(KeyRange::new(inc(b"a"), exc(b"a")).is_empty());
        assert!(KeyRange::new(exc(b"a"), inc(b"a")).is_empty());
        assert!(KeyRange::new(inc(b"b"), inc(b"a")).is_empty());
        assert!(!KeyRange::new(exc(b"a"), exc(b"b")).is_empty());
    }

    #[test]
    fn contains_respects_bounds() {
        let r = KeyRange::new(exc(b"b"), inc(b"d"));
        assert!(!r.contains(b"b"));
        assert!(r.contains(b"c"));
        assert!(r.contains(b"d"));
        assert!(!r.contains(b"da"));
    }
}
