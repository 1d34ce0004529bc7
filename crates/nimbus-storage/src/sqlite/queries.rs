//! The snapshot reads, as SQL over one connection. Each read is one statement, so it sees
//! one consistent database state.

use std::ops::Bound;

use rusqlite::{Connection, OptionalExtension, ToSql, params};

use crate::batch::clamp_read_ts;
use crate::{DocKey, DocumentVersion, JournalEntry, KeyRange, Order, StorageError};

pub(super) fn max_ts(tenant: &str, conn: &Connection) -> Result<Option<u64>, StorageError> {
    let max: Option<i64> = conn
        .prepare_cached("SELECT max(ts) FROM journal")
        .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
        .map_err(|e| StorageError::sqlite(tenant, e))?;
    max.map(|ts| stored_ts(tenant, ts)).transpose()
}

pub(super) fn get_document(
    tenant: &str,
    conn: &Connection,
    key: DocKey,
    at_ts: u64,
) -> Result<Option<DocumentVersion>, StorageError> {
    let row: Option<(i64, Option<Vec<u8>>)> = conn
        .prepare_cached(
            "SELECT ts, value FROM documents
             WHERE table_num = ?1 AND internal_id = ?2 AND ts <= ?3
             ORDER BY ts DESC LIMIT 1",
        )
        .and_then(|mut stmt| {
            stmt.query_row(
                params![key.table, key.internal_id, clamp_read_ts(at_ts)],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
        })
        .map_err(|e| StorageError::sqlite(tenant, e))?;
    row.map(|(ts, value)| {
        Ok(DocumentVersion {
            key,
            ts: stored_ts(tenant, ts)?,
            value,
        })
    })
    .transpose()
}

/// Walks the primary key of `index_entries` in `order` over the range's versions at or
/// below the snapshot and keeps each key's newest version.
///
/// Ascending walks `(key ASC, ts ASC)` and keeps the last row per key; descending walks
/// `(key DESC, ts DESC)` and keeps the first. Both are plain forward/backward walks of the
/// primary key, so SQLite streams rows without sorting and the walk stops at `limit`.
pub(super) fn scan_index(
    tenant: &str,
    conn: &Connection,
    index_id: u32,
    range: &KeyRange,
    at_ts: u64,
    order: Order,
    limit: usize,
) -> Result<Vec<(Vec<u8>, DocKey)>, StorageError> {
    if limit == 0 || range.is_empty() {
        return Ok(Vec::new());
    }
    let at = clamp_read_ts(at_ts);
    let args = scan_params(&index_id, &at, range);
    let err = |e| StorageError::sqlite(tenant, e);
    let mut stmt = conn.prepare_cached(&scan_sql(range, order)).map_err(err)?;
    let mut rows = stmt.query(args.as_slice()).map_err(err)?;
    let mut out = Vec::new();
    // The newest visible version seen so far of the key being walked.
    let mut current: Option<(Vec<u8>, Option<DocKey>)> = None;
    while let Some(row) = rows.next().map_err(err)? {
        let key: Vec<u8> = row.get(0).map_err(err)?;
        let same_key = current.as_ref().is_some_and(|(k, _)| *k == key);
        if same_key && order == Order::Desc {
            continue; // Descending sees the newest version of a key first.
        }
        let doc = read_doc(tenant, row.get(1).map_err(err)?, row.get(2).map_err(err)?)?;
        if !same_key && let Some((k, Some(d))) = current.take() {
            out.push((k, d));
            if out.len() == limit {
                return Ok(out);
            }
        }
        current = Some((key, doc));
    }
    if let Some((k, Some(d))) = current {
        out.push((k, d));
    }
    Ok(out)
}

/// The named parameters of [`scan_sql`]'s statement for `range`.
fn scan_params<'a>(
    index_id: &'a u32,
    at: &'a i64,
    range: &'a KeyRange,
) -> Vec<(&'static str, &'a dyn ToSql)> {
    let mut args: Vec<(&str, &dyn ToSql)> = vec![(":index_id", index_id), (":at", at)];
    if let Bound::Included(start) | Bound::Excluded(start) = &range.start {
        args.push((":start", start));
    }
    if let Bound::Included(end) | Bound::Excluded(end) = &range.end {
        args.push((":end", end));
    }
    args
}

/// The scan statement for the range's bound kinds and the order; 18 shapes in all, each
/// cached as a prepared statement.
pub(super) fn scan_sql(range: &KeyRange, order: Order) -> String {
    let mut sql = String::from(
        "SELECT key, table_num, internal_id FROM index_entries
         WHERE index_id = :index_id AND ts <= :at",
    );
    match range.start {
        Bound::Included(_) => sql.push_str(" AND key >= :start"),
        Bound::Excluded(_) => sql.push_str(" AND key > :start"),
        Bound::Unbounded => {}
    }
    match range.end {
        Bound::Included(_) => sql.push_str(" AND key <= :end"),
        Bound::Excluded(_) => sql.push_str(" AND key < :end"),
        Bound::Unbounded => {}
    }
    sql.push_str(match order {
        Order::Asc => " ORDER BY key ASC, ts ASC",
        Order::Desc => " ORDER BY key DESC, ts DESC",
    });
    sql
}

pub(super) fn journal_after(
    tenant: &str,
    conn: &Connection,
    after_ts: u64,
    limit: usize,
) -> Result<Vec<JournalEntry>, StorageError> {
    let err = |e| StorageError::sqlite(tenant, e);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = conn
        .prepare_cached("SELECT ts, payload FROM journal WHERE ts > ?1 ORDER BY ts LIMIT ?2")
        .map_err(err)?;
    let rows = stmt
        .query_map(params![clamp_read_ts(after_ts), limit], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?))
        })
        .map_err(err)?;
    rows.map(|row| {
        let (ts, payload) = row.map_err(err)?;
        Ok(JournalEntry {
            ts: stored_ts(tenant, ts)?,
            payload,
        })
    })
    .collect()
}

pub(super) fn meta_get(
    tenant: &str,
    conn: &Connection,
    key: &str,
) -> Result<Option<Vec<u8>>, StorageError> {
    conn.prepare_cached("SELECT value FROM meta WHERE key = ?1")
        .and_then(|mut stmt| stmt.query_row([key], |row| row.get(0)).optional())
        .map_err(|e| StorageError::sqlite(tenant, e))
}

/// Walks keys from `prefix` upwards and stops at the first key without it; this avoids
/// `LIKE` and its escaping of `%` and `_` in the prefix.
pub(super) fn meta_scan(
    tenant: &str,
    conn: &Connection,
    prefix: &str,
) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
    let err = |e| StorageError::sqlite(tenant, e);
    let mut stmt = conn
        .prepare_cached("SELECT key, value FROM meta WHERE key >= ?1 ORDER BY key")
        .map_err(err)?;
    let mut rows = stmt.query([prefix]).map_err(err)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(err)? {
        let key: String = row.get(0).map_err(err)?;
        if !key.starts_with(prefix) {
            break;
        }
        out.push((key, row.get(1).map_err(err)?));
    }
    Ok(out)
}

/// A stored timestamp back as `u64`; negative values are never written.
fn stored_ts(tenant: &str, ts: i64) -> Result<u64, StorageError> {
    u64::try_from(ts).map_err(|_| StorageError::corrupt(tenant, format!("negative ts {ts}")))
}

/// The document an index entry points at; both columns are NULL for a removal.
fn read_doc(
    tenant: &str,
    table: Option<i64>,
    internal_id: Option<Vec<u8>>,
) -> Result<Option<DocKey>, StorageError> {
    match (table, internal_id) {
        (None, None) => Ok(None),
        (Some(table), Some(id)) => {
            let table = u32::try_from(table)
                .map_err(|_| StorageError::corrupt(tenant, format!("table number {table}")))?;
            let internal_id = <[u8; 16]>::try_from(id.as_slice())
                .map_err(|_| StorageError::corrupt(tenant, "internal id is not 16 bytes"))?;
            Ok(Some(DocKey { table, internal_id }))
        }
        _ => Err(StorageError::corrupt(
            tenant,
            "index entry with half a document key",
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::ops::Bound::{Excluded, Included, Unbounded};

    use super::*;
    use crate::sqlite::schema::{self, Access};

    /// Every scan shape must be a plain walk of the primary key: no temporary B-tree (sort)
    /// and no full scan.
    #[test]
    fn scans_walk_the_primary_key_without_sorting() {
        let dir = tempfile::tempdir().unwrap();
        let conn = schema::open("plan", &dir.path().join("plan.sqlite3"), Access::Write).unwrap();
        let bounds = || [Unbounded, Included(vec![1u8]), Excluded(vec![2u8])];
        for start in bounds() {
            for end in bounds() {
                for order in [Order::Asc, Order::Desc] {
                    let range = KeyRange::new(start.clone(), end.clone());
                    let sql = scan_sql(&range, order);
                    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
                    let params = scan_params(&1, &1, &range);
                    let plan: Vec<String> = stmt
                        .query_map(params.as_slice(), |r| r.get(3))
                        .unwrap()
                        .map(Result::unwrap)
                        .collect();
                    let plan = plan.join(" | ");
                    assert!(
                        plan.contains("SEARCH index_entries USING PRIMARY KEY"),
                        "{sql}: {plan}"
                    );
                    assert!(!plan.contains("TEMP B-TREE"), "{sql}: {plan}");
                }
            }
        }
    }
}
