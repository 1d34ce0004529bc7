//! Checks every provider applies to a batch before writing anything, so all providers reject
//! the same batches with the same errors.

use std::collections::{BTreeMap, HashSet};

use crate::{CommitBatch, MAX_READ_LIMIT_ROWS, MAX_TIMESTAMP, StorageError};

/// Rejects a batch that cannot be stored or contradicts itself.
pub(crate) fn validate(batch: &CommitBatch) -> Result<(), StorageError> {
    let ts = batch.ts;
    if ts > MAX_TIMESTAMP {
        return Err(StorageError::TimestampOutOfRange {
            ts,
            max: MAX_TIMESTAMP,
        });
    }
    let invalid = |problem: String| Err(StorageError::InvalidBatch { ts, problem });
    let mut doc_keys = HashSet::with_capacity(batch.documents.len());
    for doc in &batch.documents {
        if doc.ts != ts {
            return invalid(format!(
                "document {:?} is stamped with ts {}",
                doc.key, doc.ts
            ));
        }
        if !doc_keys.insert(doc.key) {
            return invalid(format!("document {:?} is written twice", doc.key));
        }
    }
    let mut index_keys = HashSet::with_capacity(batch.index_entries.len());
    for entry in &batch.index_entries {
        if entry.ts != ts {
            return invalid(format!(
                "index {} entry {:?} is stamped with ts {}",
                entry.index_id, entry.key, entry.ts
            ));
        }
        if !index_keys.insert((entry.index_id, entry.key.as_slice())) {
            return invalid(format!(
                "index {} key {:?} is written twice",
                entry.index_id, entry.key
            ));
        }
    }
    Ok(())
}

/// The batch's metadata writes with the last write to each key winning, as the contract says.
pub(crate) fn final_meta(batch: &CommitBatch) -> BTreeMap<&str, Option<&[u8]>> {
    batch
        .meta
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_deref()))
        .collect()
}

/// Rejects a read limit above [`MAX_READ_LIMIT_ROWS`].
pub(crate) fn check_limit(limit: usize) -> Result<(), StorageError> {
    if limit > MAX_READ_LIMIT_ROWS {
        return Err(StorageError::LimitTooLarge {
            limit,
            max: MAX_READ_LIMIT_ROWS,
        });
    }
    Ok(())
}

/// A snapshot timestamp as an SQL integer. Timestamps above [`MAX_TIMESTAMP`] are clamped,
/// which changes no answer because no version is ever stored above it.
pub(crate) fn clamp_read_ts(ts: u64) -> i64 {
    i64::try_from(ts.min(MAX_TIMESTAMP)).unwrap_or(i64::MAX)
}
