//! The provider-neutral interface the engine programs against.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;

use crate::{
    CommitBatch, CommitTicket, DocKey, DocumentVersion, JournalEntry, KeyRange, Order,
    StorageError, TenantName,
};

/// A storage backend holding many tenants, each physically isolated from the others.
#[async_trait]
pub trait Persistence: Send + Sync + Debug {
    /// `"memory"`, `"sqlite"` or `"postgres"`.
    fn kind(&self) -> &'static str;

    /// Opens a tenant's storage, creating it on first use. Repeated opens may return the
    /// same handle.
    async fn open_tenant(
        &self,
        tenant: &TenantName,
    ) -> Result<Arc<dyn TenantStorage>, StorageError>;

    /// Every tenant that has storage, in name order.
    async fn tenants(&self) -> Result<Vec<TenantName>, StorageError>;

    /// Forgets the provider's own handle on an open tenant, so that its connections and
    /// threads close once the caller's handles are gone; the next `open_tenant` reopens it.
    /// The data stays. Providers that hold nothing per open tenant do nothing.
    async fn release_tenant(&self, tenant: &TenantName) {
        let _ = tenant;
    }

    /// Deletes a tenant's storage. Handles still held on it fail with
    /// [`StorageError::Closed`]. Dropping a tenant that does not exist is not an error.
    async fn drop_tenant(&self, tenant: &TenantName) -> Result<(), StorageError>;
}

/// One tenant's versioned storage. Reads are snapshot reads at a commit timestamp.
#[async_trait]
pub trait TenantStorage: Send + Sync + Debug {
    /// Queues `batch` for commit and returns once it is queued; the ticket resolves when the
    /// commit is durable (or failed).
    ///
    /// Batches are applied in the order their `submit` calls returned. So a caller that
    /// allocates timestamps under a lock should hold that lock across allocate + `submit`
    /// and await the ticket outside it: commits then arrive in timestamp order while the
    /// provider is free to make many of them durable together (group commit).
    async fn submit(&self, batch: CommitBatch) -> Result<CommitTicket, StorageError>;

    /// Commits `batch` in one storage transaction and returns once it is durable.
    ///
    /// `batch.ts` must be greater than [`TenantStorage::max_ts`], else the result is
    /// [`StorageError::TimestampNotIncreasing`] and nothing of the batch is written.
    async fn commit(&self, batch: CommitBatch) -> Result<(), StorageError> {
        self.submit(batch).await?.durable().await
    }

    /// The timestamp of the newest commit, if any.
    async fn max_ts(&self) -> Result<Option<u64>, StorageError>;

    /// The newest version of `key` with `ts <= at_ts`, which may be a tombstone.
    async fn get_document(
        &self,
        key: DocKey,
        at_ts: u64,
    ) -> Result<Option<DocumentVersion>, StorageError>;

    /// The keys of index `index_id` in `range` as of `at_ts`, in `order`, at most `limit`.
    ///
    /// For each key, its newest entry with `ts <= at_ts` counts; keys whose newest entry is a
    /// removal are skipped.
    async fn scan_index(
        &self,
        index_id: u32,
        range: &KeyRange,
        at_ts: u64,
        order: Order,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, DocKey)>, StorageError>;

    /// Journal entries with `ts > after_ts`, ascending, at most `limit`.
    async fn journal_after(
        &self,
        after_ts: u64,
        limit: usize,
    ) -> Result<Vec<JournalEntry>, StorageError>;

    /// The current value of a metadata key.
    async fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError>;

    /// Every metadata key starting with `prefix`, with its value, in key order.
    async fn meta_scan(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StorageError>;
}
