//! One tenant's SQLite database: a group-commit writer plus a read pool.

use std::path::PathBuf;
use std::thread::JoinHandle;

use async_trait::async_trait;
use parking_lot::Mutex;
use tokio::sync::mpsc;

use super::read_pool::ReadPool;
use super::schema::{self, Access};
use super::{queries, writer};
use crate::batch::{check_limit, validate};
use crate::{
    CommitBatch, CommitTicket, DocKey, DocumentVersion, JournalEntry, KeyRange, Order,
    StorageError, TenantStorage,
};

#[derive(Debug)]
pub(super) struct SqliteTenant {
    name: String,
    /// `None` once closed: dropping the sender lets the writer drain its queue and stop.
    commits: Mutex<Option<mpsc::Sender<writer::Request>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    reads: ReadPool,
}

impl SqliteTenant {
    /// Opens (creating and migrating if needed) the database at `path` and starts its writer.
    pub(super) fn open(name: &str, path: PathBuf) -> Result<Self, StorageError> {
        let conn = schema::open(name, &path, Access::Write)?;
        let (commits, handle) = writer::spawn(name, conn)?;
        Ok(Self {
            name: name.to_owned(),
            commits: Mutex::new(Some(commits)),
            writer: Mutex::new(Some(handle)),
            reads: ReadPool::new(name, path),
        })
    }

    /// Stops accepting work, waits for queued commits to finish and closes every connection.
    pub(super) async fn close(&self) {
        self.commits.lock().take();
        self.reads.close();
        let handle = self.writer.lock().take();
        if let Some(handle) = handle {
            // The writer exits once its queue is drained; joining makes sure its connection
            // is closed before the caller deletes the file. A panicked writer has nothing
            // left to clean up, so its panic is not re-raised here.
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
    }
}

#[async_trait]
impl TenantStorage for SqliteTenant {
    async fn submit(&self, batch: CommitBatch) -> Result<CommitTicket, StorageError> {
        validate(&batch)?;
        let closed = || StorageError::Closed {
            tenant: self.name.clone(),
        };
        let sender = self.commits.lock().clone().ok_or_else(closed)?;
        let (ticket, reply) = CommitTicket::waiting(&self.name);
        sender
            .send(writer::Request { batch, reply })
            .await
            .map_err(|_| closed())?;
        Ok(ticket)
    }

    async fn max_ts(&self) -> Result<Option<u64>, StorageError> {
        self.reads.run(queries::max_ts).await
    }

    async fn get_document(
        &self,
        key: DocKey,
        at_ts: u64,
    ) -> Result<Option<DocumentVersion>, StorageError> {
        self.reads
            .run(move |t, c| queries::get_document(t, c, key, at_ts))
            .await
    }

    async fn scan_index(
        &self,
        index_id: u32,
        range: &KeyRange,
        at_ts: u64,
        order: Order,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, DocKey)>, StorageError> {
        check_limit(limit)?;
        let range = range.clone();
        self.reads
            .run(move |t, c| queries::scan_index(t, c, index_id, &range, at_ts, order, limit))
            .await
    }

    async fn journal_after(
        &self,
        after_ts: u64,
        limit: usize,
    ) -> Result<Vec<JournalEntry>, StorageError> {
        check_limit(limit)?;
        self.reads
            .run(move |t, c| queries::journal_after(t, c, after_ts, limit))
            .await
    }

    async fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let key = key.to_owned();
        self.reads
            .run(move |t, c| queries::meta_get(t, c, &key))
            .await
    }

    async fn meta_scan(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        let prefix = prefix.to_owned();
        self.reads
            .run(move |t, c| queries::meta_scan(t, c, &prefix))
            .await
    }
}
