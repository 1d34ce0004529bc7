//! An in-memory provider: ordered maps under one lock per tenant. For tests and as the
//! reference the conformance suite holds the durable providers to; nothing survives a restart.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::Mutex;

use crate::batch::{check_limit, final_meta, validate};
use crate::{
    CommitBatch, CommitTicket, DocKey, DocumentVersion, JournalEntry, KeyRange, Order, Persistence,
    StorageError, TenantName, TenantStorage,
};

/// Tenants held in memory.
#[derive(Debug, Default)]
pub struct MemoryPersistence {
    tenants: Mutex<BTreeMap<TenantName, Arc<MemoryTenant>>>,
}

impl MemoryPersistence {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Persistence for MemoryPersistence {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn open_tenant(
        &self,
        tenant: &TenantName,
    ) -> Result<Arc<dyn TenantStorage>, StorageError> {
        let mut tenants = self.tenants.lock();
        let storage = tenants
            .entry(tenant.clone())
            .or_insert_with(|| Arc::new(MemoryTenant::new(tenant)));
        Ok(Arc::clone(storage) as Arc<dyn TenantStorage>)
    }

    async fn tenants(&self) -> Result<Vec<TenantName>, StorageError> {
        Ok(self.tenants.lock().keys().cloned().collect())
    }

    async fn drop_tenant(&self, tenant: &TenantName) -> Result<(), StorageError> {
        if let Some(storage) = self.tenants.lock().remove(tenant) {
            storage.state.lock().dropped = true;
        }
        Ok(())
    }
}

/// One tenant's maps.
#[derive(Debug)]
struct MemoryTenant {
    name: String,
    state: Mutex<State>,
}

/// An index's keys, each with its versions by timestamp (`None` = removed).
type Index = BTreeMap<Vec<u8>, Versions<DocKey>>;

/// The versions of one document or index key by timestamp; `None` is a tombstone/removal.
type Versions<T> = BTreeMap<u64, Option<T>>;

/// Versions are keyed by timestamp inside each document / index key, so a snapshot read is a
/// `range(..=at_ts).next_back()`.
#[derive(Debug, Default)]
struct State {
    documents: BTreeMap<DocKey, Versions<Vec<u8>>>,
    indexes: BTreeMap<u32, Index>,
    journal: BTreeMap<u64, Vec<u8>>,
    meta: BTreeMap<String, Vec<u8>>,
    dropped: bool,
}

impl MemoryTenant {
    fn new(tenant: &TenantName) -> Self {
        Self {
            name: tenant.as_str().to_owned(),
            state: Mutex::new(State::default()),
        }
    }

    /// Locks the state, failing once the tenant was dropped.
    fn live(&self) -> Result<parking_lot::MutexGuard<'_, State>, StorageError> {
        let state = self.state.lock();
        if state.dropped {
            return Err(StorageError::Closed {
                tenant: self.name.clone(),
            });
        }
        Ok(state)
    }

    fn apply(&self, batch: CommitBatch) -> Result<(), StorageError> {
        validate(&batch)?;
        let mut state = self.live()?;
        if let Some((&max_ts, _)) = state.journal.last_key_value()
            && batch.ts <= max_ts
        {
            return Err(StorageError::TimestampNotIncreasing {
                ts: batch.ts,
                max_ts,
            });
        }
        let ts = batch.ts;
        for (key, value) in final_meta(&batch) {
            match value {
                Some(value) => state.meta.insert(key.to_owned(), value.to_vec()),
                None => state.meta.remove(key),
            };
        }
        for doc in batch.documents {
            state
                .documents
                .entry(doc.key)
                .or_default()
                .insert(ts, doc.value);
        }
        for entry in batch.index_entries {
            let index = state.indexes.entry(entry.index_id).or_default();
            index.entry(entry.key).or_default().insert(ts, entry.doc);
        }
        state.journal.insert(ts, batch.journal);
        Ok(())
    }
}

#[async_trait]
impl TenantStorage for MemoryTenant {
    async fn submit(&self, batch: CommitBatch) -> Result<CommitTicket, StorageError> {
        Ok(CommitTicket::done(&self.name, self.apply(batch)))
    }

    async fn max_ts(&self) -> Result<Option<u64>, StorageError> {
        Ok(self.live()?.journal.last_key_value().map(|(&ts, _)| ts))
    }

    async fn get_document(
        &self,
        key: DocKey,
        at_ts: u64,
    ) -> Result<Option<DocumentVersion>, StorageError> {
        let state = self.live()?;
        let Some(versions) = state.documents.get(&key) else {
            return Ok(None);
        };
        Ok(versions
            .range(..=at_ts)
            .next_back()
            .map(|(&ts, value)| DocumentVersion {
                key,
                ts,
                value: value.clone(),
            }))
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
        let state = self.live()?;
        let Some(index) = state.indexes.get(&index_id) else {
            return Ok(Vec::new());
        };
        if range.is_empty() {
            return Ok(Vec::new());
        }
        let bounds = (as_slice_bound(&range.start), as_slice_bound(&range.end));
        let keys = index.range::<[u8], _>(bounds);
        let visible = |(key, versions): (&Vec<u8>, &Versions<DocKey>)| {
            let (_, doc) = versions.range(..=at_ts).next_back()?;
            doc.map(|doc| (key.clone(), doc))
        };
        Ok(match order {
            Order::Asc => keys.filter_map(visible).take(limit).collect(),
            Order::Desc => keys.rev().filter_map(visible).take(limit).collect(),
        })
    }

    async fn journal_after(
        &self,
        after_ts: u64,
        limit: usize,
    ) -> Result<Vec<JournalEntry>, StorageError> {
        check_limit(limit)?;
        let state = self.live()?;
        let entries = state
            .journal
            .range((Bound::Excluded(after_ts), Bound::Unbounded));
        Ok(entries
            .take(limit)
            .map(|(&ts, payload)| JournalEntry {
                ts,
                payload: payload.clone(),
            })
            .collect())
    }

    async fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.live()?.meta.get(key).cloned())
    }

    async fn meta_scan(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        let state = self.live()?;
        Ok(state
            .meta
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect())
    }
}

/// Borrows a key bound as a slice bound, for `BTreeMap::range` over `Vec<u8>` keys.
fn as_slice_bound(bound: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    bound.as_ref().map(Vec::as_slice)
}
