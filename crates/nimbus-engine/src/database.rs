//! `Database`: one tenant's document database — the catalog, the commit path, the schema and
//! the subscription hub over one [`TenantStorage`].
//!
//! **The single mutation path.** Every change — a mutation's writes, a table creation, an index
//! backfill, a schema change — reaches storage through [`DatabaseInner::submit`], under the
//! commit lock: validate the read set against the commits since the snapshot (serializable
//! OCC), allocate a strictly increasing timestamp, build the storage batch (document versions,
//! index entries, journal entry, catalog metadata), and queue it with the storage provider. The
//! lock is released *before* waiting for durability, so many commits become durable together
//! (group commit) while still reaching storage in timestamp order. A commit is acknowledged,
//! published to subscriptions and made visible to new snapshots only once durable.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use nimbus_storage::{
    CommitBatch, DocumentVersion, IndexEntry, StorageError, TenantName, TenantStorage,
};
use nimbus_values::{IdTableResolver, TableNumber, Value};
use parking_lot::{Mutex, RwLock};
use tokio::sync::oneshot;

use crate::catalog::{CATALOG_META_KEY, Catalog, IndexKind, IndexState, TableInfo};
use crate::document::Document;
use crate::error::EngineError;
use crate::index_keys::index_key;
use crate::limits::EngineLimits;
use crate::read_set::{ReadSet, WriteKeys};
use crate::schema::Schema;
use crate::subscriptions::{SubscriptionId, SubscriptionRegistry};
use crate::transaction::{Transaction, TransactionMode};

/// Namespace of application metadata keys in storage.
fn app_meta_key(key: &str) -> String {
    format!("app/{key}")
}

/// Storage metadata key holding the schema JSON.
pub const SCHEMA_META_KEY: &str = "schema";

/// The conflict-retry policy of every read-write transaction loop (`run_mutation`, and callers
/// that drive their own loop through [`Database::occ_retries`]): a conflict or a snapshot that
/// fell out of the window runs the body again, up to `occ_attempts_max` times, with exponential
/// backoff from `occ_backoff_initial`; then the error is `Conflict`.
#[derive(Debug)]
pub struct OccRetries {
    attempt: u32,
    attempts_max: u32,
    backoff: std::time::Duration,
    last_table: String,
}

impl OccRetries {
    fn new(limits: &EngineLimits) -> Self {
        Self {
            attempt: 1,
            attempts_max: limits.occ_attempts_max,
            backoff: limits.occ_backoff_initial,
            last_table: String::new(),
        }
    }

    /// Given one attempt's commit result: `Some(ts)` when it committed, `None` (after the
    /// backoff) when the body should run again, an error when it is final.
    pub async fn after(
        &mut self,
        commit: Result<u64, EngineError>,
    ) -> Result<Option<u64>, EngineError> {
        match commit {
            Ok(ts) => return Ok(Some(ts)),
            Err(EngineError::RetryableConflict { table }) => self.last_table = table,
            Err(EngineError::SnapshotTooOld { .. }) => {}
            Err(other) => return Err(other),
        }
        if self.attempt >= self.attempts_max {
            return Err(EngineError::Conflict {
                table: std::mem::take(&mut self.last_table),
                attempts: self.attempts_max,
            });
        }
        tokio::time::sleep(self.backoff).await;
        self.backoff *= 2;
        self.attempt += 1;
        Ok(None)
    }
}

/// A commit kept for conflict checks and subscription catch-up.
#[derive(Debug, Clone)]
struct RecentCommit {
    ts: u64,
    keys: Arc<WriteKeys>,
}

/// State guarded by the commit lock.
#[derive(Debug)]
struct CommitState {
    last_ts: u64,
    /// Commits newer than `window_start`, oldest first.
    recent: VecDeque<RecentCommit>,
    /// Every commit with `ts > window_start` is in `recent`.
    window_start: u64,
}

/// Subscriptions and the durable-commit log they catch up from.
#[derive(Debug, Default)]
struct Hub {
    registry: SubscriptionRegistry,
    waiters: HashMap<SubscriptionId, (u64, oneshot::Sender<u64>)>,
    durable: VecDeque<RecentCommit>,
    durable_window_start: u64,
    /// Commits handed to storage and not published yet, by timestamp. Storage makes a tenant's
    /// batches durable in the order they were submitted (one writer per tenant), so when one is
    /// durable every earlier one is durable (or failed) too, and is published with it even if
    /// its own task has not run yet: the snapshot never passes a commit missing from `durable`.
    unpublished: BTreeMap<u64, Arc<WriteKeys>>,
}

pub(crate) struct DatabaseInner {
    pub(crate) tenant: TenantName,
    pub(crate) storage: Arc<dyn TenantStorage>,
    pub(crate) limits: EngineLimits,
    catalog: RwLock<Arc<Catalog>>,
    schema: RwLock<Option<Arc<Schema>>>,
    commit: tokio::sync::Mutex<CommitState>,
    table_creation: tokio::sync::Mutex<()>,
    durable_ts: AtomicU64,
    hub: Mutex<Hub>,
    /// This database itself (`Arc::new_cyclic`), for the task that finishes each commit.
    me: std::sync::Weak<DatabaseInner>,
}

/// One tenant's database. Cheap to clone.
#[derive(Clone)]
pub struct Database {
    inner: Arc<DatabaseInner>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("tenant", &self.inner.tenant.as_str())
            .field("durable_ts", &self.inner.durable_ts.load(Ordering::SeqCst))
            .finish()
    }
}

/// A live subscription: resolves once a commit writes into its read set.
#[derive(Debug)]
pub struct Subscription {
    id: SubscriptionId,
    db: std::sync::Weak<DatabaseInner>,
    receiver: oneshot::Receiver<u64>,
}

impl Subscription {
    /// Waits until a commit invalidates the read set; returns that commit's timestamp.
    pub async fn invalidated(&mut self) -> u64 {
        (&mut self.receiver).await.unwrap_or(u64::MAX)
    }

    /// The invalidating commit's timestamp, if it already happened.
    pub fn try_invalidated(&mut self) -> Option<u64> {
        self.receiver.try_recv().ok()
    }

    /// The subscription's id.
    pub fn id(&self) -> SubscriptionId {
        self.id
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(db) = self.db.upgrade() {
            let mut hub = db.hub.lock();
            hub.registry.remove(self.id);
            hub.waiters.remove(&self.id);
        }
    }
}

/// Resolves table numbers to names from a catalog (for `v.id("table")` validation).
struct CatalogResolver<'a>(&'a Catalog);

impl IdTableResolver for CatalogResolver<'_> {
    fn table_name(&self, number: TableNumber) -> Option<String> {
        self.0.table_name(number).map(str::to_owned)
    }
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

impl Database {
    /// Opens a tenant's database over its storage: loads the catalog and schema and resumes
    /// timestamps after the newest commit.
    pub async fn open(
        tenant: TenantName,
        storage: Arc<dyn TenantStorage>,
        limits: EngineLimits,
    ) -> Result<Self, EngineError> {
        let catalog = match storage.meta_get(CATALOG_META_KEY).await? {
            Some(bytes) => {
                let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
                    EngineError::InvalidSchema(format!("stored catalog is damaged: {e}"))
                })?;
                Catalog::from_json(&json)?
            }
            None => Catalog::new(),
        };
        let schema = match storage.meta_get(SCHEMA_META_KEY).await? {
            Some(bytes) => {
                let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
                    EngineError::InvalidSchema(format!("stored schema is damaged: {e}"))
                })?;
                Some(Arc::new(Schema::from_json(&json, limits.index_fields_max)?))
            }
            None => None,
        };
        let last_ts = storage.max_ts().await?.unwrap_or(0);
        let inner = Arc::new_cyclic(|me| DatabaseInner {
            tenant,
            storage,
            catalog: RwLock::new(Arc::new(catalog)),
            schema: RwLock::new(schema),
            commit: tokio::sync::Mutex::new(CommitState {
                last_ts,
                recent: VecDeque::new(),
                window_start: last_ts,
            }),
            table_creation: tokio::sync::Mutex::new(()),
            durable_ts: AtomicU64::new(last_ts),
            hub: Mutex::new(Hub {
                durable_window_start: last_ts,
                ..Hub::default()
            }),
            limits,
            me: me.clone(),
        });
        let db = Self { inner };
        db.resume_backfills().await?;
        Ok(db)
    }

    /// Whether this is the only handle on the database and nothing subscribes to it (the one
    /// weak reference left is the database's own, `DatabaseInner::me`).
    pub fn is_unused(&self) -> bool {
        Arc::strong_count(&self.inner) == 1 && Arc::weak_count(&self.inner) == 1
    }

    /// The tenant.
    pub fn tenant(&self) -> &TenantName {
        &self.inner.tenant
    }

    /// The newest durable commit timestamp: the snapshot new transactions read at.
    pub fn snapshot_ts(&self) -> u64 {
        self.inner.durable_ts.load(Ordering::SeqCst)
    }

    /// The current catalog.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.inner.catalog()
    }

    /// The current schema, if one was set.
    pub fn schema(&self) -> Option<Arc<Schema>> {
        self.inner.schema.read().clone()
    }

    /// Starts a transaction at the newest durable snapshot.
    pub fn begin(&self, mode: TransactionMode) -> Transaction {
        Transaction::new(self.inner.clone(), self.snapshot_ts(), mode)
    }

    /// Starts a read-only transaction at an earlier snapshot (`/api/query_at_ts`).
    pub fn begin_at(&self, ts: u64) -> Result<Transaction, EngineError> {
        if ts > self.snapshot_ts() {
            return Err(EngineError::InvalidQuery(format!(
                "timestamp {ts} is in the future; the newest is {}",
                self.snapshot_ts()
            )));
        }
        Ok(Transaction::new(
            self.inner.clone(),
            ts,
            TransactionMode::ReadOnly,
        ))
    }

    /// Commits a transaction (the single mutation path); returns its commit timestamp. A
    /// transaction without writes commits trivially at its snapshot.
    pub async fn commit(&self, mut tx: Transaction) -> Result<u64, EngineError> {
        if !tx.has_writes() {
            return Ok(tx.snapshot_ts);
        }
        let reads = tx.read_set().clone();
        let snapshot = tx.snapshot_ts;
        let writes = std::mem::take(&mut tx.writes);
        let backfill = std::mem::take(&mut tx.backfill);
        self.inner
            .submit(Some((&reads, snapshot)), |catalog, ts| {
                build_data_batch(catalog, ts, &writes, &backfill)
            })
            .await
    }

    /// The retry policy for a caller that runs its own read-write transaction loop.
    pub fn occ_retries(&self) -> OccRetries {
        OccRetries::new(&self.inner.limits)
    }

    /// Runs `body` in a read-write transaction and commits it, re-running it on conflicts
    /// (bounded by `occ_attempts_max`, with exponential backoff).
    pub async fn run_mutation<T>(
        &self,
        mut body: impl AsyncFnMut(&mut Transaction) -> Result<T, EngineError>,
    ) -> Result<(T, u64), EngineError> {
        let mut retries = self.occ_retries();
        loop {
            let mut tx = self.begin(TransactionMode::ReadWrite);
            let value = body(&mut tx).await?;
            if let Some(ts) = retries.after(self.commit(tx).await).await? {
                return Ok((value, ts));
            }
        }
    }

    /// [`Database::run_mutation`] for code that must stay `Send` (spawned tasks, host-call
    /// futures): the body returns a boxed future, which sidesteps the compiler's limits on
    /// `Send` bounds for async closures. Captured values must be owned (clone them in).
    pub async fn run_mutation_boxed<T: Send>(
        &self,
        mut body: impl for<'a> FnMut(
            &'a mut Transaction,
        ) -> futures::future::BoxFuture<'a, Result<T, EngineError>>
        + Send,
    ) -> Result<(T, u64), EngineError> {
        let mut retries = self.occ_retries();
        loop {
            let mut tx = self.begin(TransactionMode::ReadWrite);
            let value = body(&mut tx).await?;
            if let Some(ts) = retries.after(self.commit(tx).await).await? {
                return Ok((value, ts));
            }
        }
    }

    /// Subscribes to a read set observed at `ts`. Resolves as soon as a commit newer than `ts`
    /// writes into it — including commits that already happened between `ts` and now.
    pub fn subscribe(&self, reads: &ReadSet, ts: u64) -> Subscription {
        let (sender, receiver) = oneshot::channel();
        let mut hub = self.inner.hub.lock();
        let id = hub.registry.insert(reads);
        let missed = if ts < hub.durable_window_start {
            // The log no longer reaches back to `ts`: assume the worst.
            Some(hub.durable.front().map_or(ts + 1, |c| c.ts))
        } else {
            hub.durable
                .iter()
                .find(|c| c.ts > ts && reads.overlaps(&c.keys).is_some())
                .map(|c| c.ts)
        };
        match missed {
            Some(commit_ts) => {
                let _ = sender.send(commit_ts);
                hub.registry.remove(id);
            }
            None => {
                hub.waiters.insert(id, (ts, sender));
            }
        }
        Subscription {
            id,
            db: Arc::downgrade(&self.inner),
            receiver,
        }
    }

    /// Whether a commit in `(after, upto]` wrote into `reads`. True as well when the commit log
    /// no longer reaches back to `after` (assume the worst). Every commit up to
    /// [`Database::snapshot_ts`] is in the log, so for `upto <= snapshot_ts()` the answer is
    /// exact: this is how a reader checks that a result from `after` still holds at `upto`.
    pub fn changed_between(&self, reads: &ReadSet, after: u64, upto: u64) -> bool {
        if after >= upto {
            return false;
        }
        let hub = self.inner.hub.lock();
        if after < hub.durable_window_start {
            return true;
        }
        hub.durable
            .iter()
            .rev()
            .skip_while(|c| c.ts > upto)
            .take_while(|c| c.ts > after)
            .any(|c| reads.overlaps(&c.keys).is_some())
    }

    /// Live subscriptions.
    pub fn subscription_count(&self) -> usize {
        self.inner.hub.lock().waiters.len()
    }

    /// Journal entries after `ts` (the commit log), decoded to write keys.
    pub async fn journal_after(
        &self,
        ts: u64,
        limit: usize,
    ) -> Result<Vec<(u64, WriteKeys)>, EngineError> {
        let entries = self.inner.storage.journal_after(ts, limit).await?;
        Ok(entries
            .into_iter()
            .map(|e| (e.ts, WriteKeys::decode(&e.payload).unwrap_or_default()))
            .collect())
    }

    /// Replaces the schema. Existing documents are validated first (when the schema enforces
    /// validation) and the change is refused, with nothing altered, if any fails. New tables
    /// are created, removed indexes dropped, and added indexes backfilled before they become
    /// readable.
    pub async fn set_schema(&self, json: &serde_json::Value) -> Result<(), EngineError> {
        let schema = Arc::new(Schema::from_json(json, self.inner.limits.index_fields_max)?);
        self.validate_existing(&schema).await?;
        let schema_bytes = serde_json::to_vec(json).unwrap_or_default();
        let mut added = Vec::new();
        {
            let schema = schema.clone();
            let added = &mut added;
            self.inner
                .submit_catalog(move |catalog| {
                    for (table, table_schema) in &schema.tables {
                        catalog.add_table(table)?;
                        let existing: Vec<(String, crate::catalog::IndexId, IndexKind)> = catalog
                            .table_indexes(table)
                            .into_iter()
                            .map(|i| (i.name.clone(), i.id, i.kind.clone()))
                            .collect();
                        for (name, id, kind) in &existing {
                            let IndexKind::Fields(fields) = kind else {
                                continue;
                            };
                            if table_schema.indexes.get(name) != Some(fields) {
                                catalog.remove_index(*id);
                            }
                        }
                        for (name, fields) in &table_schema.indexes {
                            if catalog.index_by_name(table, name).is_none() {
                                if catalog.table_indexes(table).len() >= 2 + 32 {
                                    return Err(EngineError::InvalidSchema(format!(
                                        "table \"{table}\" declares too many indexes"
                                    )));
                                }
                                added.push(catalog.add_index(table, name, fields.clone())?);
                            }
                        }
                    }
                    Ok(vec![(
                        SCHEMA_META_KEY.to_owned(),
                        Some(schema_bytes.clone()),
                    )])
                })
                .await?;
        }
        *self.inner.schema.write() = Some(schema);
        for index in added {
            self.backfill(index).await?;
        }
        Ok(())
    }

    /// Reads an application metadata value (deployments, configuration) stored with
    /// [`Database::put_meta`].
    pub async fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, EngineError> {
        Ok(self.inner.storage.meta_get(&app_meta_key(key)).await?)
    }

    /// Stores (or with `None` deletes) application metadata through the commit path, atomically
    /// and durably. Keys live in their own namespace, apart from the engine's catalog and schema.
    pub async fn put_meta(&self, key: &str, value: Option<Vec<u8>>) -> Result<u64, EngineError> {
        self.put_meta_many(vec![(key.to_owned(), value)]).await
    }

    /// Stores (or with `None` deletes) several application metadata values in one commit: all
    /// of them become durable together or none does.
    pub async fn put_meta_many(
        &self,
        entries: Vec<(String, Option<Vec<u8>>)>,
    ) -> Result<u64, EngineError> {
        let meta = entries
            .into_iter()
            .map(|(key, value)| (app_meta_key(&key), value))
            .collect();
        self.inner.submit_catalog(move |_| Ok(meta)).await
    }

    /// Every application metadata key starting with `prefix`, with its value, in key order.
    pub async fn scan_meta(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, EngineError> {
        let namespace = app_meta_key("");
        Ok(self
            .inner
            .storage
            .meta_scan(&app_meta_key(prefix))
            .await?
            .into_iter()
            .filter_map(|(key, value)| Some((key.strip_prefix(&namespace)?.to_owned(), value)))
            .collect())
    }

    /// Declares an index the platform itself needs (e.g. on a system table), creating the table
    /// if needed and backfilling the index; a no-op when it already exists with these fields.
    pub async fn ensure_index(
        &self,
        table: &str,
        name: &str,
        fields: Vec<crate::catalog::FieldPath>,
    ) -> Result<(), EngineError> {
        let catalog = self.catalog();
        if let Some(existing) = catalog.index_by_name(table, name)
            && existing.kind == IndexKind::Fields(fields.clone())
            && existing.state == IndexState::Ready
        {
            return Ok(());
        }
        self.inner.ensure_table(table).await?;
        let mut added = None;
        {
            let (table, name, added) = (table.to_owned(), name.to_owned(), &mut added);
            self.inner
                .submit_catalog(move |catalog| {
                    if let Some(existing) = catalog.index_by_name(&table, &name).cloned() {
                        if existing.kind == IndexKind::Fields(fields.clone()) {
                            *added = Some(existing.id);
                            return Ok(Vec::new());
                        }
                        catalog.remove_index(existing.id);
                    }
                    *added = Some(catalog.add_index(&table, &name, fields)?);
                    Ok(Vec::new())
                })
                .await?;
        }
        if let Some(index) = added {
            self.backfill(index).await?;
        }
        Ok(())
    }

    async fn validate_existing(&self, schema: &Schema) -> Result<(), EngineError> {
        if !schema.schema_validation {
            return Ok(());
        }
        let catalog = self.catalog();
        let mut tx = self.begin(TransactionMode::ReadOnly);
        for table in schema.tables.keys() {
            if catalog.table(table).is_none() {
                continue;
            }
            let spec = crate::query::QuerySpec::index(table, "by_id", Vec::new());
            let mut cursor = None;
            loop {
                let page = tx
                    .query_page(&spec, cursor.as_ref(), None, 1_000, None)
                    .await?;
                for document in &page.documents {
                    schema
                        .validate(
                            table,
                            &Value::Object(document.fields.clone()),
                            &CatalogResolver(&catalog),
                        )
                        .map_err(|message| EngineError::SchemaValidation {
                            table: table.clone(),
                            id: document.id.encode(),
                            message,
                        })?;
                }
                if page.is_done {
                    break;
                }
                cursor = Some(page.continue_cursor);
                // A fresh snapshot per page keeps each read transaction within its limits.
                tx = self.begin(TransactionMode::ReadOnly);
            }
        }
        Ok(())
    }

    async fn resume_backfills(&self) -> Result<(), EngineError> {
        let catalog = self.catalog();
        let pending: Vec<_> = catalog
            .tables()
            .flat_map(|t| catalog.table_indexes(&t.name))
            .filter(|i| i.state == IndexState::Backfilling)
            .map(|i| i.id)
            .collect();
        for index in pending {
            self.backfill(index).await?;
        }
        Ok(())
    }

    /// Fills a new index for existing documents, chunk by chunk, each chunk a transaction
    /// through the commit path (so concurrent writes conflict and the chunk re-runs), then
    /// marks it ready.
    async fn backfill(&self, index_id: crate::catalog::IndexId) -> Result<(), EngineError> {
        let Some(index) = self.catalog().index(index_id).cloned() else {
            return Ok(());
        };
        let chunk = self.inner.limits.backfill_chunk_documents;
        let mut position: Option<Vec<u8>> = None;
        loop {
            let table = index.table.clone();
            let start = position.clone();
            let index = index.clone();
            let (next, _) = self
                .run_mutation_boxed(move |tx| {
                    let (table, index, start) = (table.clone(), index.clone(), start.clone());
                    Box::pin(async move { tx.backfill_chunk(&table, &index, start, chunk).await })
                })
                .await?;
            match next {
                Some(next) => position = Some(next),
                None => break,
            }
        }
        self.inner
            .submit_catalog(move |catalog| {
                catalog.mark_ready(index_id);
                Ok(Vec::new())
            })
            .await?;
        Ok(())
    }
}

/// The storage batch for a transaction's writes: document versions, index entries for every
/// key that changed (removal of the old key, addition of the new), and the write keys (old and
/// new key of every written document in every index, changed or not — the document behind an
/// unchanged key still changed).
fn build_data_batch(
    catalog: &Catalog,
    ts: u64,
    writes: &std::collections::BTreeMap<nimbus_storage::DocKey, crate::transaction::PendingWrite>,
    backfill: &[(crate::catalog::IndexId, Vec<u8>, nimbus_storage::DocKey)],
) -> Result<(CommitBatch, WriteKeys, String), EngineError> {
    let mut batch = CommitBatch {
        ts,
        ..CommitBatch::default()
    };
    let mut keys = WriteKeys::default();
    let mut first_table = String::new();
    for (doc_key, pending) in writes {
        let table = TableNumber::new(doc_key.table)
            .ok()
            .and_then(|n| catalog.table_name(n))
            .ok_or_else(|| EngineError::InvalidId(format!("table {} vanished", doc_key.table)))?;
        if first_table.is_empty() {
            first_table = table.to_owned();
        }
        batch.documents.push(DocumentVersion {
            key: *doc_key,
            ts,
            value: pending.after.as_ref().map(Document::encode),
        });
        for index in catalog.table_indexes(table) {
            let old = pending.before.as_ref().map(|d| index_key(index, d));
            let new = pending.after.as_ref().map(|d| index_key(index, d));
            if old != new {
                if let Some(old) = &old {
                    batch.index_entries.push(IndexEntry {
                        index_id: index.id,
                        key: old.clone(),
                        ts,
                        doc: None,
                    });
                }
                if let Some(new) = &new {
                    batch.index_entries.push(IndexEntry {
                        index_id: index.id,
                        key: new.clone(),
                        ts,
                        doc: Some(*doc_key),
                    });
                }
            }
            for key in [old, new].into_iter().flatten() {
                if !keys.keys.iter().any(|(i, k)| *i == index.id && *k == key) {
                    keys.keys.push((index.id, key));
                }
            }
        }
    }
    for (index_id, key, doc_key) in backfill {
        if batch
            .index_entries
            .iter()
            .any(|e| e.index_id == *index_id && e.key == *key)
        {
            continue;
        }
        batch.index_entries.push(IndexEntry {
            index_id: *index_id,
            key: key.clone(),
            ts,
            doc: Some(*doc_key),
        });
    }
    Ok((batch, keys, first_table))
}

impl DatabaseInner {
    pub(crate) fn catalog(&self) -> Arc<Catalog> {
        self.catalog.read().clone()
    }

    /// The table, created (through the commit path) if it does not exist yet.
    pub(crate) async fn ensure_table(&self, name: &str) -> Result<TableInfo, EngineError> {
        if let Some(table) = self.catalog().table(name) {
            return Ok(table.clone());
        }
        crate::catalog::validate_table_name(name)?;
        let _creating = self.table_creation.lock().await;
        if let Some(table) = self.catalog().table(name) {
            return Ok(table.clone());
        }
        let table = name.to_owned();
        self.submit_catalog(move |catalog| {
            catalog.add_table(&table)?;
            Ok(Vec::new())
        })
        .await?;
        self.catalog()
            .table(name)
            .cloned()
            .ok_or_else(|| EngineError::InvalidTableName {
                name: name.into(),
                reason: "creation failed",
            })
    }

    /// Validates a document against the schema, if the schema enforces validation.
    pub(crate) fn validate_against_schema(
        &self,
        table: &str,
        document: &Document,
    ) -> Result<(), EngineError> {
        let Some(schema) = self.schema.read().clone() else {
            return Ok(());
        };
        let catalog = self.catalog();
        schema
            .validate(
                table,
                &Value::Object(document.fields.clone()),
                &CatalogResolver(&catalog),
            )
            .map_err(|message| EngineError::SchemaValidation {
                table: table.to_owned(),
                id: document.id.encode(),
                message,
            })
    }

    /// Commits a catalog change: `change` edits a copy of the catalog and returns extra metadata
    /// to write. The new catalog is installed when the batch is queued (so every later commit
    /// writes entries for new indexes) and rolled back from storage if the commit fails.
    async fn submit_catalog(
        &self,
        change: impl FnOnce(&mut Catalog) -> Result<Vec<(String, Option<Vec<u8>>)>, EngineError>,
    ) -> Result<u64, EngineError> {
        let mut change = Some(change);
        let result = self
            .submit(None, |catalog, ts| {
                let mut updated = catalog.clone();
                let change = change
                    .take()
                    .ok_or_else(|| EngineError::InvalidSchema("catalog change ran twice".into()))?;
                let mut meta = change(&mut updated)?;
                meta.push((
                    CATALOG_META_KEY.to_owned(),
                    Some(serde_json::to_vec(&updated.to_json()).unwrap_or_default()),
                ));
                *self.catalog.write() = Arc::new(updated);
                Ok((
                    CommitBatch {
                        ts,
                        meta,
                        ..CommitBatch::default()
                    },
                    WriteKeys::default(),
                    String::new(),
                ))
            })
            .await;
        if result.is_err() {
            self.reload_catalog().await;
        }
        result
    }

    async fn reload_catalog(&self) {
        if let Ok(Some(bytes)) = self.storage.meta_get(CATALOG_META_KEY).await
            && let Ok(json) = serde_json::from_slice::<serde_json::Value>(&bytes)
            && let Ok(catalog) = Catalog::from_json(&json)
        {
            *self.catalog.write() = Arc::new(catalog);
        }
    }

    /// The commit path. `occ` is the read set and snapshot to validate (none for catalog
    /// changes, which are ordered by the lock alone); `build` turns the current catalog and the
    /// allocated timestamp into the storage batch, its write keys and a table name for errors.
    async fn submit(
        &self,
        occ: Option<(&ReadSet, u64)>,
        build: impl FnOnce(&Catalog, u64) -> Result<(CommitBatch, WriteKeys, String), EngineError>,
    ) -> Result<u64, EngineError> {
        let mut state = self.commit.lock().await;
        let catalog = self.catalog();
        if let Some((reads, snapshot)) = occ {
            if snapshot < state.window_start {
                return Err(EngineError::SnapshotTooOld {
                    window: self.limits.conflict_window_commits,
                });
            }
            for commit in state.recent.iter().rev() {
                if commit.ts <= snapshot {
                    break;
                }
                if let Some(index) = reads.overlaps(&commit.keys) {
                    let table = catalog
                        .index(index)
                        .map(|i| i.table.clone())
                        .unwrap_or_default();
                    return Err(EngineError::RetryableConflict { table });
                }
            }
        }
        let ts = (state.last_ts + 1).max(now_ns());
        let (mut batch, keys, _table) = build(&catalog, ts)?;
        batch.journal = keys.encode();
        let ticket = self.storage.submit(batch).await?;
        let keys = Arc::new(keys);
        self.hub.lock().unpublished.insert(ts, keys.clone());
        state.last_ts = ts;
        state.recent.push_back(RecentCommit {
            ts,
            keys: keys.clone(),
        });
        while state.recent.len() > self.limits.conflict_window_commits {
            if let Some(old) = state.recent.pop_front() {
                state.window_start = old.ts;
            }
        }
        drop(state);
        // Durability is awaited, and the commit published, by a task of its own: a caller that
        // goes away mid-commit (its client disconnected) must not leave the commit unpublished,
        // or the snapshot would stop advancing behind it and its subscribers never hear of it.
        let Some(inner) = self.me.upgrade() else {
            return Err(EngineError::Storage(StorageError::Closed {
                tenant: self.tenant.as_str().to_owned(),
            }));
        };
        let finish = tokio::spawn(async move {
            match ticket.durable().await {
                Ok(()) => {
                    inner.publish(ts);
                    Ok(ts)
                }
                // The entry stays in `unpublished`: a failure at commit may still have stored
                // the batch (the outcome is unknown), so the next publication includes its keys.
                // A needless wake-up is harmless; a missed one would leave a query stale.
                Err(error) => Err(EngineError::from(error)),
            }
        });
        finish.await.unwrap_or_else(|_| {
            Err(EngineError::Storage(StorageError::Closed {
                tenant: self.tenant.as_str().to_owned(),
            }))
        })
    }

    /// Makes a durable commit visible, with every earlier one not published yet: records them
    /// in the commit log, wakes the subscriptions whose read sets they wrote into and advances
    /// the snapshot.
    fn publish(&self, ts: u64) {
        let mut hub = self.hub.lock();
        let later = hub.unpublished.split_off(&(ts + 1));
        let due = std::mem::replace(&mut hub.unpublished, later);
        for (commit_ts, keys) in due {
            let hit = hub.registry.invalidated(&keys);
            for id in hit {
                let registered_at = hub.waiters.get(&id).map(|(at, _)| *at);
                if registered_at.is_some_and(|at| at < commit_ts)
                    && let Some((_, sender)) = hub.waiters.remove(&id)
                {
                    let _ = sender.send(commit_ts);
                    hub.registry.remove(id);
                }
            }
            let position = hub
                .durable
                .iter()
                .rposition(|c| c.ts < commit_ts)
                .map_or(0, |p| p + 1);
            hub.durable.insert(
                position,
                RecentCommit {
                    ts: commit_ts,
                    keys,
                },
            );
            while hub.durable.len() > self.limits.conflict_window_commits {
                if let Some(old) = hub.durable.pop_front() {
                    hub.durable_window_start = old.ts;
                }
            }
        }
        self.durable_ts.fetch_max(ts, Ordering::SeqCst);
    }
}
