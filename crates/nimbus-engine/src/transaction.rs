//! `Transaction`: reads at one snapshot, buffers writes, and records its read set.
//!
//! Reads see the snapshot plus the transaction's own writes. Every read records the index
//! interval it observed — including point reads that found nothing and the empty tail of a
//! range — so that [`crate::Database::commit`] can detect any concurrent commit that would have
//! changed what the transaction saw (serializable OCC), and so that a query's read set can be
//! subscribed to. Nothing is written until commit, which is the only way data changes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use nimbus_storage::{DocKey, Order};
use nimbus_values::{DocumentId, MaybeValue, Object, Value, check_document_limits};

use crate::catalog::{Catalog, IndexId, IndexInfo, IndexState};
use crate::database::DatabaseInner;
use crate::document::Document;
use crate::error::EngineError;
use crate::index_keys::{index_key, key_range};
use crate::query::stream::{QueryStream, interval_to_range};
use crate::query::{Cursor, QueryId, QuerySpec};
use crate::read_set::{Interval, ReadSet};

/// Whether a transaction may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionMode {
    /// Queries.
    ReadOnly,
    /// Mutations (and the platform's own writes).
    ReadWrite,
}

/// A buffered change to one document.
#[derive(Debug, Clone)]
pub(crate) struct PendingWrite {
    /// The document as of the snapshot (`None`: it did not exist).
    pub(crate) before: Option<Document>,
    /// The document after this transaction (`None`: deleted).
    pub(crate) after: Option<Document>,
}

/// Usage counters checked against [`crate::EngineLimits`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransactionUsage {
    /// Documents read.
    pub documents_read: u64,
    /// Bytes of documents read.
    pub bytes_read: u64,
    /// Documents written.
    pub documents_written: u64,
    /// Bytes of documents written.
    pub bytes_written: u64,
}

/// One page of a paginated query.
#[derive(Debug, Clone)]
pub struct Page {
    /// Documents in order.
    pub documents: Vec<Document>,
    /// Where the next page starts.
    pub continue_cursor: Cursor,
    /// Whether the end of the query was reached.
    pub is_done: bool,
}

/// The writes of a transaction at one moment, to roll back to (see
/// [`Transaction::savepoint`]).
#[derive(Debug, Clone)]
pub struct Savepoint {
    writes: BTreeMap<DocKey, PendingWrite>,
    usage: TransactionUsage,
}

/// A transaction over one tenant's database.
pub struct Transaction {
    pub(crate) db: Arc<DatabaseInner>,
    pub(crate) snapshot_ts: u64,
    mode: TransactionMode,
    pub(crate) reads: ReadSet,
    pub(crate) writes: BTreeMap<DocKey, PendingWrite>,
    /// Extra index entries to add at commit (index backfill).
    pub(crate) backfill: Vec<(IndexId, Vec<u8>, DocKey)>,
    queries: HashMap<QueryId, QueryStream>,
    next_query: QueryId,
    next_creation_time: f64,
    usage: TransactionUsage,
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("snapshot_ts", &self.snapshot_ts)
            .field("mode", &self.mode)
            .field("reads", &self.reads.len())
            .field("writes", &self.writes.len())
            .finish()
    }
}

impl Transaction {
    pub(crate) fn new(db: Arc<DatabaseInner>, snapshot_ts: u64, mode: TransactionMode) -> Self {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0);
        Self {
            db,
            snapshot_ts,
            mode,
            reads: ReadSet::new(),
            writes: BTreeMap::new(),
            backfill: Vec::new(),
            queries: HashMap::new(),
            next_query: 0,
            next_creation_time: now_ms.max(snapshot_ts as f64 / 1e6),
            usage: TransactionUsage::default(),
        }
    }

    /// The snapshot timestamp reads happen at.
    pub fn snapshot_ts(&self) -> u64 {
        self.snapshot_ts
    }

    /// Usage so far.
    pub fn usage(&self) -> TransactionUsage {
        self.usage
    }

    /// Marks the current writes, for a sub-transaction (a nested `runMutation`) whose writes
    /// must vanish if it fails while the enclosing one carries on. Costs a copy of the writes
    /// buffered so far.
    pub fn savepoint(&self) -> Savepoint {
        Savepoint {
            writes: self.writes.clone(),
            usage: self.usage,
        }
    }

    /// Undoes every write made since `savepoint`. Reads stay in the read set: what the failed
    /// part read still decided what the transaction did next, so it is still checked at commit.
    pub fn rollback_to(&mut self, savepoint: Savepoint) {
        self.writes = savepoint.writes;
        let reads = (self.usage.documents_read, self.usage.bytes_read);
        self.usage = savepoint.usage;
        (self.usage.documents_read, self.usage.bytes_read) = reads;
        // `next_creation_time` is not rolled back: documents inserted after the rollback never
        // reuse the creation times of undone ones, which the failed part may have returned.
    }

    /// Whether the transaction has buffered writes.
    pub fn has_writes(&self) -> bool {
        !self.writes.is_empty() || !self.backfill.is_empty()
    }

    /// The read set, including what open queries have observed so far.
    pub fn read_set(&mut self) -> &ReadSet {
        let observed: Vec<(IndexId, Interval)> = self
            .queries
            .values()
            .filter_map(|q| q.observed().map(|i| (q.index.id, i)))
            .collect();
        for (index, interval) in observed {
            self.reads.add(index, interval);
        }
        &self.reads
    }

    fn catalog(&self) -> Arc<Catalog> {
        self.db.catalog()
    }

    fn require_writable(&self) -> Result<(), EngineError> {
        match self.mode {
            TransactionMode::ReadOnly => Err(EngineError::ReadOnly),
            TransactionMode::ReadWrite => Ok(()),
        }
    }

    fn record_read(&mut self, index: IndexId, interval: Interval) -> Result<(), EngineError> {
        self.reads.add(index, interval);
        if self.reads.len() > self.db.limits.read_ranges_max {
            return Err(EngineError::LimitExceeded {
                what: "index ranges read",
                limit: self.db.limits.read_ranges_max as u64,
                hint: "read fewer separate ranges in one function",
            });
        }
        Ok(())
    }

    fn count_read(&mut self, document: &Document) -> Result<(), EngineError> {
        self.usage.documents_read += 1;
        self.usage.bytes_read += document.size_bytes() as u64;
        let limits = &self.db.limits;
        if self.usage.documents_read > limits.documents_read_max {
            return Err(EngineError::LimitExceeded {
                what: "documents read",
                limit: limits.documents_read_max,
                hint: "use an index, pagination or a smaller range",
            });
        }
        if self.usage.bytes_read > limits.bytes_read_max {
            return Err(EngineError::LimitExceeded {
                what: "bytes read",
                limit: limits.bytes_read_max,
                hint: "use an index, pagination or a smaller range",
            });
        }
        Ok(())
    }

    fn count_write(&mut self, document: Option<&Document>) -> Result<(), EngineError> {
        self.usage.documents_written += 1;
        self.usage.bytes_written += document.map_or(0, |d| d.size_bytes() as u64);
        let limits = &self.db.limits;
        if self.usage.documents_written > limits.documents_written_max {
            return Err(EngineError::LimitExceeded {
                what: "documents written",
                limit: limits.documents_written_max,
                hint: "split the work across several mutations",
            });
        }
        if self.usage.bytes_written > limits.bytes_written_max {
            return Err(EngineError::LimitExceeded {
                what: "bytes written",
                limit: limits.bytes_written_max,
                hint: "split the work across several mutations",
            });
        }
        Ok(())
    }

    /// The `by_id` index of the table with `number`, if the table exists.
    fn by_id_index(catalog: &Catalog, number: u32) -> Option<IndexInfo> {
        let number = nimbus_values::TableNumber::new(number).ok()?;
        let table = catalog.table_name(number)?;
        catalog.index_by_name(table, "by_id").cloned()
    }

    /// Reads a document by id (`db.get`). Ids of unknown tables read as missing.
    pub async fn get(&mut self, id: DocumentId) -> Result<Option<Document>, EngineError> {
        let key = DocKey {
            table: id.table_number().get(),
            internal_id: id.internal_id(),
        };
        let catalog = self.catalog();
        let Some(by_id) = Self::by_id_index(&catalog, key.table) else {
            return Ok(None);
        };
        self.record_read(by_id.id, Interval::point(&key.internal_id))?;
        if let Some(pending) = self.writes.get(&key) {
            return Ok(pending.after.clone());
        }
        self.load(key).await
    }

    async fn load(&mut self, key: DocKey) -> Result<Option<Document>, EngineError> {
        let document = self.load_uncounted(key).await?;
        if let Some(document) = &document {
            self.count_read(document)?;
        }
        Ok(document)
    }

    /// Reads a document without counting it against the read limits: for query prefetch,
    /// whose documents count only once the query reaches them (see [`Self::pull`]).
    async fn load_uncounted(&self, key: DocKey) -> Result<Option<Document>, EngineError> {
        let version = self.db.storage.get_document(key, self.snapshot_ts).await?;
        version
            .and_then(|v| v.value)
            .map(|bytes| Document::decode(&bytes))
            .transpose()
    }

    /// The table name for an id, if its table exists.
    pub fn table_of(&self, id: &DocumentId) -> Option<String> {
        self.catalog()
            .table_name(id.table_number())
            .map(str::to_owned)
    }

    /// `db.normalizeId(table, text)`: the id if it is valid and belongs to `table`.
    pub fn normalize_id(&self, table: &str, text: &str) -> Option<DocumentId> {
        let id = DocumentId::decode(text).ok()?;
        let catalog = self.catalog();
        let info = catalog.table(table)?;
        (info.number == id.table_number()).then_some(id)
    }

    /// Inserts a document (`db.insert`); creates the table on first use.
    pub async fn insert(&mut self, table: &str, fields: Object) -> Result<DocumentId, EngineError> {
        self.require_writable()?;
        check_user_fields(&fields)?;
        let number = self.db.ensure_table(table).await?.number;
        let creation_time = self.next_creation_time;
        self.next_creation_time = creation_time.next_up();
        let days = (creation_time / 86_400_000.0) as u16;
        let id = DocumentId::generate(number, days, &mut rand::rng());
        let document = Document {
            id,
            creation_time,
            fields,
        };
        self.db.validate_against_schema(table, &document)?;
        self.count_write(Some(&document))?;
        let key = DocKey {
            table: number.get(),
            internal_id: id.internal_id(),
        };
        self.writes.insert(
            key,
            PendingWrite {
                before: None,
                after: Some(document),
            },
        );
        Ok(id)
    }

    async fn existing(
        &mut self,
        id: DocumentId,
        operation: &'static str,
    ) -> Result<(String, Document), EngineError> {
        let missing = || EngineError::DocumentNotFound {
            operation,
            id: id.encode(),
        };
        let table = self.table_of(&id).ok_or_else(missing)?;
        let document = self.get(id).await?.ok_or_else(missing)?;
        Ok((table, document))
    }

    fn stage(
        &mut self,
        table: &str,
        before: Document,
        after: Option<Document>,
    ) -> Result<(), EngineError> {
        if let Some(after) = &after {
            self.db.validate_against_schema(table, after)?;
        }
        self.count_write(after.as_ref())?;
        let key = DocKey {
            table: before.id.table_number().get(),
            internal_id: before.id.internal_id(),
        };
        match self.writes.get_mut(&key) {
            Some(pending) => pending.after = after,
            None => {
                self.writes.insert(
                    key,
                    PendingWrite {
                        before: Some(before),
                        after,
                    },
                );
            }
        }
        Ok(())
    }

    /// Shallow-merges fields into a document (`db.patch`); `None` removes a field.
    pub async fn patch(
        &mut self,
        id: DocumentId,
        changes: BTreeMap<String, MaybeValue>,
    ) -> Result<Document, EngineError> {
        self.require_writable()?;
        let (table, current) = self.existing(id, "Update").await?;
        let mut fields = current.fields.clone().into_map();
        for (name, value) in changes {
            if is_system_field(&name) {
                check_system_field_unchanged(&current, &name, value.as_ref())?;
                continue;
            }
            match value {
                Some(value) => {
                    fields.insert(name, value);
                }
                None => {
                    fields.remove(&name);
                }
            }
        }
        let fields = Object::try_from(fields)
            .map_err(|(name, e)| EngineError::InvalidQuery(format!("field \"{name}\": {e}")))?;
        check_user_fields(&fields)?;
        let updated = Document {
            fields,
            ..current.clone()
        };
        self.stage(&table, current, Some(updated.clone()))?;
        Ok(updated)
    }

    /// Replaces a document's fields (`db.replace`).
    pub async fn replace(
        &mut self,
        id: DocumentId,
        value: Object,
    ) -> Result<Document, EngineError> {
        self.require_writable()?;
        let (table, current) = self.existing(id, "Replace").await?;
        let mut fields = value.into_map();
        for name in ["_id", "_creationTime"] {
            if let Some(given) = fields.remove(name) {
                check_system_field_unchanged(&current, name, Some(&given))?;
            }
        }
        let fields = Object::try_from(fields)
            .map_err(|(name, e)| EngineError::InvalidQuery(format!("field \"{name}\": {e}")))?;
        check_user_fields(&fields)?;
        let updated = Document {
            fields,
            ..current.clone()
        };
        self.stage(&table, current, Some(updated.clone()))?;
        Ok(updated)
    }

    /// Deletes a document (`db.delete`).
    pub async fn delete(&mut self, id: DocumentId) -> Result<(), EngineError> {
        self.require_writable()?;
        let (table, current) = self.existing(id, "Delete").await?;
        self.stage(&table, current, None)
    }

    /// Opens a query stream (`1.0/queryStream`).
    pub fn open_query(&mut self, spec: &QuerySpec) -> Result<QueryId, EngineError> {
        let stream = self.stream_for(spec, None, None)?;
        let id = self.next_query;
        self.next_query += 1;
        self.queries.insert(id, stream);
        Ok(id)
    }

    fn stream_for(
        &self,
        spec: &QuerySpec,
        cursor: Option<&Cursor>,
        end_cursor: Option<&Cursor>,
    ) -> Result<QueryStream, EngineError> {
        let catalog = self.catalog();
        let Some(table) = catalog.table(&spec.table) else {
            // A table that does not exist yet reads as empty; its creation is not tracked, but
            // any insert into it will be (the table's indexes exist from then on).
            return Ok(QueryStream::new(
                IndexInfo {
                    id: 0,
                    table: spec.table.clone(),
                    name: spec.index_name().into(),
                    kind: crate::catalog::IndexKind::ById,
                    state: IndexState::Ready,
                },
                0,
                spec.order,
                Interval {
                    start: vec![],
                    end: Some(vec![]),
                },
                Vec::new(),
            ));
        };
        let index = catalog
            .index_by_name(&spec.table, spec.index_name())
            .ok_or_else(|| EngineError::IndexNotFound {
                table: spec.table.clone(),
                index: spec.index_name().into(),
            })?;
        if index.state == IndexState::Backfilling {
            return Err(EngineError::IndexBackfilling {
                table: spec.table.clone(),
                index: index.name.clone(),
            });
        }
        let mut range = Interval::from_range(&key_range(index, spec.range())?);
        let restrict_start = |range: &mut Interval, key: &Vec<u8>| {
            if *key > range.start {
                range.start = key.clone();
            }
        };
        let restrict_end = |range: &mut Interval, key: &Vec<u8>| {
            if range.end.as_ref().is_none_or(|end| key < end) {
                range.end = Some(key.clone());
            }
        };
        match (spec.order, cursor) {
            (_, None) => {}
            (_, Some(Cursor::End)) => range.end = Some(range.start.clone()),
            (Order::Asc, Some(Cursor::At(key))) => restrict_start(&mut range, key),
            (Order::Desc, Some(Cursor::At(key))) => restrict_end(&mut range, key),
        }
        match (spec.order, end_cursor) {
            (_, None) | (_, Some(Cursor::End)) => {}
            (Order::Asc, Some(Cursor::At(key))) => restrict_end(&mut range, key),
            (Order::Desc, Some(Cursor::At(key))) => restrict_start(&mut range, key),
        }
        Ok(QueryStream::new(
            index.clone(),
            table.number.get(),
            spec.order,
            range,
            spec.operators.clone(),
        ))
    }

    /// The next document of an open query (`1.0/queryStreamNext`); `None` when done.
    pub async fn query_next(&mut self, query: QueryId) -> Result<Option<Document>, EngineError> {
        let mut stream = self
            .queries
            .remove(&query)
            .ok_or_else(|| EngineError::InvalidQuery(format!("query {query} is not open")))?;
        let result = self.pull(&mut stream).await;
        self.queries.insert(query, stream);
        result
    }

    /// Closes a query (`1.0/queryCleanup`), keeping what it observed in the read set.
    pub fn close_query(&mut self, query: QueryId) -> bool {
        match self.queries.remove(&query) {
            Some(stream) => {
                if let Some(interval) = stream.observed() {
                    self.reads.add(stream.index.id, interval);
                }
                true
            }
            None => false,
        }
    }

    async fn pull(&mut self, stream: &mut QueryStream) -> Result<Option<Document>, EngineError> {
        loop {
            if stream.finished {
                return Ok(None);
            }
            if let Some((key, document)) = stream.buffer.pop_front() {
                stream.position = Some(key);
                // A prefetched page may run far past a limit; only documents the query reaches
                // count as read (the transaction's own writes were never read from storage).
                let doc_key = DocKey {
                    table: document.id.table_number().get(),
                    internal_id: document.id.internal_id(),
                };
                if !self.writes.contains_key(&doc_key) {
                    self.count_read(&document)?;
                }
                if stream.judge(&document)?.pass {
                    return Ok(Some(document));
                }
                continue;
            }
            if stream.storage_done {
                stream.exhausted = true;
                stream.finished = true;
                return Ok(None);
            }
            self.fill(stream).await?;
        }
    }

    /// Fetches the next page from storage and merges this transaction's own writes into it.
    async fn fill(&mut self, stream: &mut QueryStream) -> Result<(), EngineError> {
        let page_rows = self.db.limits.scan_page_rows;
        let rows = self
            .db
            .storage
            .scan_index(
                stream.index.id,
                &stream.unfetched_range(),
                self.snapshot_ts,
                stream.order,
                page_rows,
            )
            .await?;
        let last = (rows.len() == page_rows)
            .then(|| rows.last().map(|(k, _)| k.clone()))
            .flatten();
        let covered = stream.advance_fetch(last.as_deref());
        let mut items: Vec<(Vec<u8>, Document)> = Vec::with_capacity(rows.len());
        for (key, doc_key) in rows {
            if self.writes.contains_key(&doc_key) {
                continue;
            }
            if let Some(document) = self.load_uncounted(doc_key).await? {
                items.push((key, document));
            }
        }
        for (doc_key, pending) in &self.writes {
            if doc_key.table != stream.table_number {
                continue;
            }
            if let Some(document) = &pending.after {
                let key = index_key(&stream.index, document);
                if covered.contains(&key) {
                    items.push((key, document.clone()));
                }
            }
        }
        items.sort_by(|a, b| a.0.cmp(&b.0));
        if stream.order == Order::Desc {
            items.reverse();
        }
        stream.buffer.extend(items);
        Ok(())
    }

    /// Runs a query to completion and returns its documents.
    pub async fn collect(&mut self, spec: &QuerySpec) -> Result<Vec<Document>, EngineError> {
        let mut stream = self.stream_for(spec, None, None)?;
        let mut out = Vec::new();
        while let Some(document) = self.pull(&mut stream).await? {
            out.push(document);
        }
        if let Some(interval) = stream.observed() {
            self.record_read(stream.index.id, interval)?;
        }
        Ok(out)
    }

    /// One page of a query (`1.0/queryPage`): from `cursor` up to `page_size` documents, or up to
    /// `end_cursor` when given (then `page_size` is ignored, as a reactive page keeps its
    /// boundaries). `rows_read_max` bounds the documents scanned.
    pub async fn query_page(
        &mut self,
        spec: &QuerySpec,
        cursor: Option<&Cursor>,
        end_cursor: Option<&Cursor>,
        page_size: usize,
        rows_read_max: Option<usize>,
    ) -> Result<Page, EngineError> {
        if page_size == 0 && end_cursor.is_none() {
            return Err(EngineError::InvalidQuery(
                "page size must be at least 1".into(),
            ));
        }
        let mut stream = self.stream_for(spec, cursor, end_cursor)?;
        let mut documents = Vec::new();
        let mut scanned = 0usize;
        loop {
            if end_cursor.is_none() && documents.len() >= page_size {
                break;
            }
            if rows_read_max.is_some_and(|max| scanned >= max) {
                break;
            }
            let before = stream.position.clone();
            match self.pull(&mut stream).await? {
                Some(document) => documents.push(document),
                None => break,
            }
            if stream.position != before {
                scanned += 1;
            }
        }
        if let Some(interval) = stream.observed() {
            self.record_read(stream.index.id, interval)?;
        }
        let (continue_cursor, is_done) = match stream.continue_position() {
            // The range ran out: at the end of the data, or at the end cursor, which means the
            // query is done only if that cursor is the end itself (a reactive page re-run up
            // to its journal's end is still followed by the next page).
            None => match end_cursor {
                Some(end) => (end.clone(), matches!(end, Cursor::End)),
                None => (Cursor::End, true),
            },
            Some(position) => (Cursor::At(position), false),
        };
        Ok(Page {
            documents,
            continue_cursor,
            is_done,
        })
    }

    /// Number of documents in a table (`1.0/count`); reads the whole `by_id` range.
    pub async fn count(&mut self, table: &str) -> Result<u64, EngineError> {
        let spec = QuerySpec::index(table, "by_id", Vec::new());
        let mut stream = self.stream_for(&spec, None, None)?;
        let mut count = 0;
        while self.pull(&mut stream).await?.is_some() {
            count += 1;
        }
        if let Some(interval) = stream.observed() {
            self.record_read(stream.index.id, interval)?;
        }
        Ok(count)
    }

    /// Adds `index`'s entry for every document in a `by_id` chunk (index backfill).
    pub(crate) async fn backfill_chunk(
        &mut self,
        table: &str,
        index: &IndexInfo,
        after: Option<Vec<u8>>,
        chunk: usize,
    ) -> Result<Option<Vec<u8>>, EngineError> {
        let catalog = self.catalog();
        let by_id = catalog
            .index_by_name(table, "by_id")
            .ok_or_else(|| EngineError::IndexNotFound {
                table: table.into(),
                index: "by_id".into(),
            })?
            .clone();
        let start = after.map(|mut k| {
            k.push(0);
            k
        });
        let range = Interval {
            start: start.unwrap_or_default(),
            end: None,
        };
        let rows = self
            .db
            .storage
            .scan_index(
                by_id.id,
                &interval_to_range(&range),
                self.snapshot_ts,
                Order::Asc,
                chunk,
            )
            .await?;
        let last = rows.last().map(|(k, _)| k.clone());
        let covered = match (&last, rows.len() == chunk) {
            (Some(last), true) => {
                let mut end = last.clone();
                end.push(0);
                Interval {
                    start: range.start.clone(),
                    end: Some(end),
                }
            }
            _ => range.clone(),
        };
        self.record_read(by_id.id, covered)?;
        for (_, doc_key) in rows.iter() {
            if let Some(document) = self.load(*doc_key).await? {
                self.backfill
                    .push((index.id, index_key(index, &document), *doc_key));
            }
        }
        Ok(if rows.len() == chunk { last } else { None })
    }
}

fn is_system_field(name: &str) -> bool {
    name.starts_with('_')
}

/// User documents may not carry fields starting with `_` (they are reserved for the system).
fn check_user_fields(fields: &Object) -> Result<(), EngineError> {
    if let Some(name) = fields.as_map().keys().find(|name| is_system_field(name)) {
        return Err(EngineError::ReservedField {
            field: name.clone(),
        });
    }
    check_document_limits(fields)?;
    Ok(())
}

fn check_system_field_unchanged(
    current: &Document,
    name: &str,
    given: Option<&Value>,
) -> Result<(), EngineError> {
    let actual = current.field(&[name.to_owned()]);
    if given.is_some() && given != actual.as_ref() {
        return Err(EngineError::ReservedField {
            field: name.to_owned(),
        });
    }
    if given.is_none() && matches!(name, "_id" | "_creationTime") {
        return Err(EngineError::ReservedField {
            field: name.to_owned(),
        });
    }
    if !matches!(name, "_id" | "_creationTime") {
        return Err(EngineError::ReservedField {
            field: name.to_owned(),
        });
    }
    Ok(())
}
