//! The group-commit writer of one tenant: a task that takes every waiting commit request (up
//! to [`GROUP_COMMIT_MAX_BATCHES`]) and writes them in ONE PostgreSQL transaction, so the
//! group costs one WAL flush. A failing batch gets its own error without undoing the others
//! (see [`Isolation`] for how savepoints make that so).
//!
//! The transaction first takes the tenant's advisory lock and reads the newest timestamp
//! inside it, so even writers in other processes cannot interleave out of order.

use std::sync::Arc;

use deadpool_postgres::{Pool, Transaction};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::schema::LOCK_TENANT;
use super::sql::TenantSql;
use crate::batch::final_meta;
use crate::{COMMIT_QUEUE_CAPACITY, CommitBatch, GROUP_COMMIT_MAX_BATCHES, StorageError};

/// A batch waiting to be committed and the channel its outcome goes to.
#[derive(Debug)]
pub(super) struct Request {
    pub(super) batch: CommitBatch,
    pub(super) reply: oneshot::Sender<Result<(), StorageError>>,
}

/// What the writer needs to reach the tenant's tables.
#[derive(Debug)]
pub(super) struct Target {
    pub(super) tenant: String,
    pub(super) schema_name: String,
    pub(super) pool: Pool,
    pub(super) sql: Arc<TenantSql>,
}

/// Starts the writer task; it stops once every sender is dropped and the queue is drained.
pub(super) fn spawn(target: Target) -> (mpsc::Sender<Request>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(COMMIT_QUEUE_CAPACITY);
    (tx, tokio::spawn(run(target, rx)))
}

async fn run(target: Target, mut rx: mpsc::Receiver<Request>) {
    let mut group = Vec::with_capacity(GROUP_COMMIT_MAX_BATCHES);
    while let Some(first) = rx.recv().await {
        group.push(first);
        while group.len() < GROUP_COMMIT_MAX_BATCHES {
            match rx.try_recv() {
                Ok(request) => group.push(request),
                Err(_) => break,
            }
        }
        let outcomes = match write_group(&target, &group).await {
            Ok(outcomes) => outcomes,
            Err(e) => group
                .iter()
                .map(|r| Err(group_failed(&target, r, &e)))
                .collect(),
        };
        for (request, outcome) in group.drain(..).zip(outcomes) {
            // The submitter may have stopped waiting; the commit stands either way.
            let _ = request.reply.send(outcome);
        }
    }
}

fn group_failed(target: &Target, request: &Request, cause: &StorageError) -> StorageError {
    StorageError::GroupCommitFailed {
        tenant: target.tenant.clone(),
        ts: request.batch.ts,
        detail: cause.to_string(),
    }
}

/// Whether each batch of a group gets its own SAVEPOINT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Isolation {
    /// No savepoints: two fewer round trips per batch. Any SQL error aborts the whole group,
    /// which is then retried with [`Isolation::PerBatch`].
    Optimistic,
    /// A savepoint per batch, so a failing batch is rolled back alone.
    PerBatch,
}

/// Writes `group` in one transaction. `Err` means the transaction as a whole failed.
///
/// Timestamp order is checked in Rust before any SQL runs, so SQL errors are rare (a lost
/// connection, a disk problem); the optimistic pass therefore skips savepoints and only a
/// failed group pays for them on its retry.
async fn write_group(
    target: &Target,
    group: &[Request],
) -> Result<Vec<Result<(), StorageError>>, StorageError> {
    match write_group_with(target, group, Isolation::Optimistic).await {
        Ok(outcomes) => Ok(outcomes),
        // Nothing was committed, so the group can be retried without risk of applying twice.
        Err(GroupFailure::BeforeCommit(_)) => write_group_with(target, group, Isolation::PerBatch)
            .await
            .map_err(GroupFailure::into_error),
        // The outcome of a failed COMMIT is unknown; retrying could misreport a durable commit.
        Err(GroupFailure::AtCommit(e)) => Err(e),
    }
}

/// Where a group transaction failed, which decides whether it may be retried.
#[derive(Debug)]
enum GroupFailure {
    BeforeCommit(StorageError),
    AtCommit(StorageError),
}

impl GroupFailure {
    fn into_error(self) -> StorageError {
        match self {
            Self::BeforeCommit(e) | Self::AtCommit(e) => e,
        }
    }
}

impl<E: Into<StorageError>> From<E> for GroupFailure {
    fn from(e: E) -> Self {
        Self::BeforeCommit(e.into())
    }
}

async fn write_group_with(
    target: &Target,
    group: &[Request],
    isolation: Isolation,
) -> Result<Vec<Result<(), StorageError>>, GroupFailure> {
    let mut client = target.pool.get().await?;
    let mut tx = client.transaction().await?;
    tx.execute(LOCK_TENANT, &[&target.schema_name]).await?;
    let max_ts: Option<i64> = tx.query_one(&target.sql.max_ts, &[]).await?.get(0);
    let mut max_ts = max_ts
        .map(|ts| super::stored_ts(&target.tenant, ts))
        .transpose()?;
    let mut outcomes = Vec::with_capacity(group.len());
    for request in group {
        let batch = &request.batch;
        if let Some(max_ts) = max_ts
            && batch.ts <= max_ts
        {
            outcomes.push(Err(StorageError::TimestampNotIncreasing {
                ts: batch.ts,
                max_ts,
            }));
            continue;
        }
        if isolation == Isolation::Optimistic {
            write_rows(&tx, &target.sql, batch).await?;
            max_ts = Some(batch.ts);
            outcomes.push(Ok(()));
            continue;
        }
        let sp = tx.savepoint("nimbus_batch").await?;
        match write_rows(&sp, &target.sql, batch).await {
            Ok(()) => {
                sp.commit().await?;
                max_ts = Some(batch.ts);
                outcomes.push(Ok(()));
            }
            Err(e) => {
                sp.rollback().await?;
                outcomes.push(Err(e.into()));
            }
        }
    }
    tx.commit()
        .await
        .map_err(|e| GroupFailure::AtCommit(e.into()))?;
    Ok(outcomes)
}

/// Inserts the batch's rows; independent statements are pipelined on the connection.
async fn write_rows(
    tx: &Transaction<'_>,
    sql: &TenantSql,
    batch: &CommitBatch,
) -> Result<(), tokio_postgres::Error> {
    // Validated: the ts fits in an i64.
    let ts = i64::try_from(batch.ts).unwrap_or(i64::MAX);
    let doc_tables: Vec<i64> = batch
        .documents
        .iter()
        .map(|d| i64::from(d.key.table))
        .collect();
    let doc_ids: Vec<&[u8]> = batch
        .documents
        .iter()
        .map(|d| &d.key.internal_id[..])
        .collect();
    let doc_values: Vec<Option<&[u8]>> =
        batch.documents.iter().map(|d| d.value.as_deref()).collect();
    let entries = &batch.index_entries;
    let entry_indexes: Vec<i64> = entries.iter().map(|e| i64::from(e.index_id)).collect();
    let entry_keys: Vec<&[u8]> = entries.iter().map(|e| e.key.as_slice()).collect();
    let entry_tables: Vec<Option<i64>> = entries
        .iter()
        .map(|e| e.doc.map(|d| i64::from(d.table)))
        .collect();
    let entry_ids: Vec<Option<&[u8]>> = entries
        .iter()
        .map(|e| e.doc.as_ref().map(|d| &d.internal_id[..]))
        .collect();
    let meta = final_meta(batch);
    let (puts, deletes): (Vec<_>, Vec<_>) = meta.iter().partition(|(_, v)| v.is_some());
    let put_keys: Vec<&str> = puts.iter().map(|(k, _)| **k).collect();
    let put_values: Vec<&[u8]> = puts.iter().filter_map(|(_, v)| **v).collect();
    let delete_keys: Vec<&str> = deletes.iter().map(|(k, _)| **k).collect();

    let docs = async {
        if doc_tables.is_empty() {
            return Ok(0);
        }
        let stmt = tx.prepare_cached(&sql.insert_documents).await?;
        tx.execute(&stmt, &[&ts, &doc_tables, &doc_ids, &doc_values])
            .await
    };
    let index = async {
        if entry_indexes.is_empty() {
            return Ok(0);
        }
        let stmt = tx.prepare_cached(&sql.insert_index_entries).await?;
        tx.execute(
            &stmt,
            &[&ts, &entry_indexes, &entry_keys, &entry_tables, &entry_ids],
        )
        .await
    };
    let journal = async {
        let stmt = tx.prepare_cached(&sql.insert_journal).await?;
        tx.execute(&stmt, &[&ts, &batch.journal]).await
    };
    let put = async {
        if put_keys.is_empty() {
            return Ok(0);
        }
        let stmt = tx.prepare_cached(&sql.put_meta).await?;
        tx.execute(&stmt, &[&put_keys, &put_values]).await
    };
    let delete = async {
        if delete_keys.is_empty() {
            return Ok(0);
        }
        let stmt = tx.prepare_cached(&sql.delete_meta).await?;
        tx.execute(&stmt, &[&delete_keys]).await
    };
    tokio::try_join!(docs, index, journal, put, delete)?;
    Ok(())
}
