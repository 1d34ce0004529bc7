//! The batch shape shared by the crash writer binary, the crash test that checks its output
//! and the benchmark. Depends on nothing but `nimbus_storage`, so the binary can include it.

use nimbus_storage::{CommitBatch, DocKey, DocumentVersion, IndexEntry};

/// The index holding one entry per standard batch, keyed by the batch's ts (big-endian).
pub const TS_INDEX: u32 = 1;

/// The index holding one entry per standard batch, keyed by the document's internal id.
pub const ID_INDEX: u32 = 2;

/// A document key whose internal id encodes `n`.
pub fn doc_key(table: u32, n: u64) -> DocKey {
    let mut internal_id = [0u8; 16];
    internal_id[8..].copy_from_slice(&n.to_be_bytes());
    DocKey { table, internal_id }
}

/// A small commit at `ts`: one document, two index entries pointing at it, a meta put and
/// the journal payload (`ts` big-endian).
pub fn standard_batch(ts: u64) -> CommitBatch {
    let key = doc_key(1, ts);
    CommitBatch {
        ts,
        documents: vec![DocumentVersion {
            key,
            ts,
            value: Some(ts.to_le_bytes().to_vec()),
        }],
        index_entries: vec![
            IndexEntry {
                index_id: TS_INDEX,
                key: ts.to_be_bytes().to_vec(),
                ts,
                doc: Some(key),
            },
            IndexEntry {
                index_id: ID_INDEX,
                key: key.internal_id.to_vec(),
                ts,
                doc: Some(key),
            },
        ],
        meta: vec![("last".to_owned(), Some(ts.to_be_bytes().to_vec()))],
        journal: ts.to_be_bytes().to_vec(),
    }
}
