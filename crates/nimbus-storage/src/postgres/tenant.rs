//! One tenant's schema: snapshot reads on pooled connections, commits through the writer.

use std::ops::Bound;
use std::sync::Arc;

use async_trait::async_trait;
use deadpool_postgres::Pool;
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_postgres::types::ToSql;

use super::sql::TenantSql;
use super::writer::{self, Target};
use super::{schema, stored_ts};
use crate::batch::{check_limit, clamp_read_ts, validate};
use crate::prefix::prefix_upper_bound;
use crate::{
    CommitBatch, CommitTicket, DocKey, DocumentVersion, JournalEntry, KeyRange, Order,
    StorageError, TenantName, TenantStorage,
};

#[derive(Debug)]
pub(super) struct PgTenant {
    name: String,
    pool: Pool,
    sql: Arc<TenantSql>,
    /// `None` once closed: dropping the sender lets the writer drain its queue and stop.
    commits: Mutex<Option<mpsc::Sender<writer::Request>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl PgTenant {
    /// Creates the tenant's schema if needed and starts its writer.
    pub(super) async fn open(pool: Pool, tenant: &TenantName) -> Result<Self, StorageError> {
        let mut client = pool.get().await?;
        schema::ensure(&mut client, tenant).await?;
        drop(client);
        let sql = Arc::new(TenantSql::new(&schema::quoted_schema(tenant)));
        let (commits, handle) = writer::spawn(Target {
            tenant: tenant.to_string(),
            schema_name: schema::schema_name(tenant),
            pool: pool.clone(),
            sql: Arc::clone(&sql),
        });
        Ok(Self {
            name: tenant.to_string(),
            pool,
            sql,
            commits: Mutex::new(Some(commits)),
            writer: Mutex::new(Some(handle)),
        })
    }

    /// Stops accepting commits and waits until the queued ones are finished.
    pub(super) async fn close(&self) {
        self.commits.lock().take();
        let handle = self.writer.lock().take();
        if let Some(handle) = handle {
            // A panicked writer has nothing left to clean up; its panic is not re-raised.
            let _ = handle.await;
        }
    }

    fn closed(&self) -> StorageError {
        StorageError::Closed {
            tenant: self.name.clone(),
        }
    }

    /// Runs one read statement on a pooled connection.
    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, StorageError> {
        if self.commits.lock().is_none() {
            return Err(self.closed());
        }
        let client = self.pool.get().await?;
        let stmt = client.prepare_cached(sql).await?;
        Ok(client.query(&stmt, params).await?)
    }
}

#[async_trait]
impl TenantStorage for PgTenant {
    async fn submit(&self, batch: CommitBatch) -> Result<CommitTicket, StorageError> {
        validate(&batch)?;
        let sender = self.commits.lock().clone().ok_or_else(|| self.closed())?;
        let (ticket, reply) = CommitTicket::waiting(&self.name);
        sender
            .send(writer::Request { batch, reply })
            .await
            .map_err(|_| self.closed())?;
        Ok(ticket)
    }

    async fn max_ts(&self) -> Result<Option<u64>, StorageError> {
        let rows = self.query(&self.sql.max_ts, &[]).await?;
        let max: Option<i64> = rows.first().and_then(|row| row.get(0));
        max.map(|ts| stored_ts(&self.name, ts)).transpose()
    }

    async fn get_document(
        &self,
        key: DocKey,
        at_ts: u64,
    ) -> Result<Option<DocumentVersion>, StorageError> {
        let (table, at) = (i64::from(key.table), clamp_read_ts(at_ts));
        let rows = self
            .query(
                &self.sql.get_document,
                &[&table, &&key.internal_id[..], &at],
            )
            .await?;
        rows.first()
            .map(|row| {
                let ts = stored_ts(&self.name, row.get(0))?;
                Ok(DocumentVersion {
                    key,
                    ts,
                    value: row.get(1),
                })
            })
            .transpose()
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
        if limit == 0 || range.is_empty() {
            return Ok(Vec::new());
        }
        let (index_id, at) = (i64::from(index_id), clamp_read_ts(at_ts));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&index_id, &at, &limit];
        for bound in [&range.start, &range.end] {
            if let Bound::Included(key) | Bound::Excluded(key) = bound {
                params.push(key);
            }
        }
        let rows = self
            .query(&self.sql.scan_index(range, order), &params)
            .await?;
        rows.iter()
            .map(|row| {
                let table: i64 = row.get(1);
                let id: &[u8] = row.get(2);
                let corrupt = |what: &str| StorageError::corrupt(&self.name, what);
                let table =
                    u32::try_from(table).map_err(|_| corrupt("table number out of range"))?;
                let internal_id =
                    <[u8; 16]>::try_from(id).map_err(|_| corrupt("internal id is not 16 bytes"))?;
                Ok((row.get(0), DocKey { table, internal_id }))
            })
            .collect()
    }

    async fn journal_after(
        &self,
        after_ts: u64,
        limit: usize,
    ) -> Result<Vec<JournalEntry>, StorageError> {
        check_limit(limit)?;
        let (after, limit) = (
            clamp_read_ts(after_ts),
            i64::try_from(limit).unwrap_or(i64::MAX),
        );
        let rows = self
            .query(&self.sql.journal_after, &[&after, &limit])
            .await?;
        rows.iter()
            .map(|row| {
                Ok(JournalEntry {
                    ts: stored_ts(&self.name, row.get(0))?,
                    payload: row.get(1),
                })
            })
            .collect()
    }

    async fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let rows = self.query(&self.sql.meta_get, &[&key]).await?;
        Ok(rows.first().map(|row| row.get(0)))
    }

    async fn meta_scan(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        let rows = match prefix_upper_bound(prefix) {
            Some(upper) => {
                self.query(&self.sql.meta_scan_bounded, &[&prefix, &upper])
                    .await?
            }
            None => {
                self.query(&self.sql.meta_scan_unbounded, &[&prefix])
                    .await?
            }
        };
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }
}
