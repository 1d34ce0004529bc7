//! The group-commit writer: one thread per tenant database owns the only write connection.
//!
//! It takes every commit request waiting in its queue (up to [`GROUP_COMMIT_MAX_BATCHES`]),
//! writes them in ONE SQLite transaction with a SAVEPOINT per batch, commits (one fsync for
//! the whole group) and only then acknowledges each request. A batch that fails (e.g. its
//! timestamp is not increasing) is rolled back to its savepoint and gets its own error; the
//! others in the group still commit.

use std::thread::JoinHandle;

use rusqlite::{Connection, Transaction, TransactionBehavior, params};
use tokio::sync::{mpsc, oneshot};

use crate::batch::final_meta;
use crate::{COMMIT_QUEUE_CAPACITY, CommitBatch, GROUP_COMMIT_MAX_BATCHES, StorageError};

/// A batch waiting to be committed and the channel its outcome goes to.
#[derive(Debug)]
pub(super) struct Request {
    pub(super) batch: CommitBatch,
    pub(super) reply: oneshot::Sender<Result<(), StorageError>>,
}

/// Starts the writer thread for a tenant whose write connection is `conn`.
///
/// The thread stops once every sender is dropped and the queue is drained.
pub(super) fn spawn(
    tenant: &str,
    conn: Connection,
) -> Result<(mpsc::Sender<Request>, JoinHandle<()>), StorageError> {
    let max_ts = read_max_ts(tenant, &conn)?;
    let (tx, rx) = mpsc::channel(COMMIT_QUEUE_CAPACITY);
    let writer = Writer {
        tenant: tenant.to_owned(),
        conn,
        max_ts,
    };
    let handle = std::thread::Builder::new()
        .name(format!("nimbus-sqlite-writer-{tenant}"))
        .spawn(move || writer.run(rx))
        .map_err(|source| StorageError::Io {
            path: format!("writer thread of {tenant}").into(),
            source,
        })?;
    Ok((tx, handle))
}

/// The newest committed timestamp, read once at start; the writer then keeps it current.
fn read_max_ts(tenant: &str, conn: &Connection) -> Result<Option<u64>, StorageError> {
    let max: Option<i64> = conn
        .query_row("SELECT max(ts) FROM journal", [], |row| row.get(0))
        .map_err(|e| StorageError::sqlite(tenant, e))?;
    max.map(|ts| {
        u64::try_from(ts).map_err(|_| StorageError::corrupt(tenant, "negative journal ts"))
    })
    .transpose()
}

struct Writer {
    tenant: String,
    conn: Connection,
    /// Newest durable commit; only this thread writes the database, so it cannot go stale.
    max_ts: Option<u64>,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Request>) {
        let mut group = Vec::with_capacity(GROUP_COMMIT_MAX_BATCHES);
        while let Some(first) = rx.blocking_recv() {
            group.push(first);
            while group.len() < GROUP_COMMIT_MAX_BATCHES {
                match rx.try_recv() {
                    Ok(request) => group.push(request),
                    Err(_) => break,
                }
            }
            let outcomes = self.write_group(&group);
            for (request, outcome) in group.drain(..).zip(outcomes) {
                // The submitter may have stopped waiting; the commit stands either way.
                let _ = request.reply.send(outcome);
            }
        }
    }

    /// Writes `group` in one transaction and returns each request's outcome.
    fn write_group(&mut self, group: &[Request]) -> Vec<Result<(), StorageError>> {
        let tenant = self.tenant.clone();
        let fail_all = |detail: String| -> Vec<Result<(), StorageError>> {
            group
                .iter()
                .map(|r| {
                    Err(StorageError::GroupCommitFailed {
                        tenant: tenant.clone(),
                        ts: r.batch.ts,
                        detail: detail.clone(),
                    })
                })
                .collect()
        };
        let mut tx = match self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
        {
            Ok(tx) => tx,
            Err(e) => return fail_all(e.to_string()),
        };
        let mut max_ts = self.max_ts;
        let outcomes: Vec<_> = group
            .iter()
            .map(|r| write_one(&tenant, &mut tx, &mut max_ts, &r.batch))
            .collect();
        if let Err(e) = tx.commit() {
            let detail = e.to_string();
            return outcomes
                .into_iter()
                .zip(fail_all(detail))
                .map(|(own, group_err)| own.and(group_err))
                .collect();
        }
        self.max_ts = max_ts;
        outcomes
    }
}

/// Writes one batch under its own savepoint; on error the savepoint is rolled back when
/// dropped, leaving the rest of the group intact.
fn write_one(
    tenant: &str,
    tx: &mut Transaction<'_>,
    max_ts: &mut Option<u64>,
    batch: &CommitBatch,
) -> Result<(), StorageError> {
    if let Some(max_ts) = *max_ts
        && batch.ts <= max_ts
    {
        return Err(StorageError::TimestampNotIncreasing {
            ts: batch.ts,
            max_ts,
        });
    }
    let err = |e| StorageError::sqlite(tenant, e);
    let sp = tx.savepoint().map_err(err)?;
    write_rows(&sp, batch).map_err(err)?;
    sp.commit().map_err(err)?;
    *max_ts = Some(batch.ts);
    Ok(())
}

/// Inserts the batch's rows; the batch was validated, so its ts fits in an i64.
fn write_rows(conn: &Connection, batch: &CommitBatch) -> rusqlite::Result<()> {
    let ts = super::sql_ts(batch.ts);
    let mut insert_doc = conn.prepare_cached(
        "INSERT INTO documents (table_num, internal_id, ts, value) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for doc in &batch.documents {
        insert_doc.execute(params![doc.key.table, doc.key.internal_id, ts, doc.value])?;
    }
    let mut insert_entry = conn.prepare_cached(
        "INSERT INTO index_entries (index_id, key, ts, table_num, internal_id)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for entry in &batch.index_entries {
        let table = entry.doc.map(|d| d.table);
        let internal_id = entry.doc.map(|d| d.internal_id);
        insert_entry.execute(params![entry.index_id, entry.key, ts, table, internal_id])?;
    }
    conn.prepare_cached("INSERT INTO journal (ts, payload) VALUES (?1, ?2)")?
        .execute(params![ts, batch.journal])?;
    let mut put = conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?;
    let mut delete = conn.prepare_cached("DELETE FROM meta WHERE key = ?1")?;
    for (key, value) in final_meta(batch) {
        match value {
            Some(value) => put.execute(params![key, value])?,
            None => delete.execute(params![key])?,
        };
    }
    Ok(())
}
