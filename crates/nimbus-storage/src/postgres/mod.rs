//! The PostgreSQL provider: one schema per tenant (`nimbus_<tenant>` with `-` as `_`), the
//! same four tables as SQLite, connections from one shared pool.
//!
//! Timestamps, table numbers and index ids are stored as BIGINT. `u64` timestamps are
//! range-checked, never bit-cast (see [`crate::MAX_TIMESTAMP`]), so SQL orders them correctly.
//! Durability is PostgreSQL's: a commit returns once the server's `COMMIT` returned, which with
//! the default `synchronous_commit=on` means the WAL record was flushed.
//!
//! Writes go through one group-commit writer task per tenant ([`writer`]); the commit
//! transaction also takes a per-tenant advisory lock and re-checks the newest timestamp, so
//! several processes writing one tenant still get strictly increasing timestamps.
//!
//! The only string ever spliced into SQL is the schema name, built from a validated
//! [`TenantName`] (only `[a-z0-9_]` after mapping) and double-quoted.

mod schema;
mod sql;
mod tenant;
mod writer;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use crate::{
    POSTGRES_POOL_SIZE_MAX, POSTGRES_POOL_WAIT, Persistence, StorageError, TenantName,
    TenantStorage,
};
use tenant::PgTenant;

/// Tenants stored as schemas of one PostgreSQL database.
#[derive(Debug)]
pub struct PostgresPersistence {
    pool: Pool,
    /// Open tenants; a tokio mutex so that two opens of one tenant cannot start two writers.
    open: tokio::sync::Mutex<BTreeMap<TenantName, Arc<PgTenant>>>,
}

impl PostgresPersistence {
    /// Connects to the database at `url` (e.g. `postgres://postgres@127.0.0.1:5432/test`)
    /// and checks that it answers. TLS is not supported yet: use a local or tunnelled server.
    pub async fn connect(url: &str) -> Result<Self, StorageError> {
        let config: tokio_postgres::Config = url.parse()?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POSTGRES_POOL_SIZE_MAX)
            .wait_timeout(Some(POSTGRES_POOL_WAIT))
            .create_timeout(Some(POSTGRES_POOL_WAIT))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| StorageError::InvalidPostgresUrl {
                detail: e.to_string(),
            })?;
        // Fail here, with the server's reason, rather than at the first tenant operation.
        drop(pool.get().await?);
        Ok(Self {
            pool,
            open: tokio::sync::Mutex::new(BTreeMap::new()),
        })
    }
}

#[async_trait]
impl Persistence for PostgresPersistence {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    async fn open_tenant(
        &self,
        tenant: &TenantName,
    ) -> Result<Arc<dyn TenantStorage>, StorageError> {
        let mut open = self.open.lock().await;
        if let Some(storage) = open.get(tenant) {
            return Ok(Arc::clone(storage) as Arc<dyn TenantStorage>);
        }
        let storage = Arc::new(PgTenant::open(self.pool.clone(), tenant).await?);
        open.insert(tenant.clone(), Arc::clone(&storage));
        Ok(storage)
    }

    async fn tenants(&self) -> Result<Vec<TenantName>, StorageError> {
        let client = self.pool.get().await?;
        let rows = client.query(schema::LIST_TENANT_SCHEMAS, &[]).await?;
        let mut tenants: Vec<TenantName> = rows
            .iter()
            .filter_map(|row| schema::tenant_of_schema(row.get(0)))
            .collect();
        tenants.sort();
        Ok(tenants)
    }

    async fn release_tenant(&self, tenant: &TenantName) {
        let released = self.open.lock().await.remove(tenant);
        if let Some(storage) = released
            && Arc::strong_count(&storage) == 1
        {
            // Nobody else holds it: close now, so its connections are gone when this returns.
            storage.close().await;
        }
    }

    async fn drop_tenant(&self, tenant: &TenantName) -> Result<(), StorageError> {
        let mut open = self.open.lock().await;
        if let Some(storage) = open.remove(tenant) {
            storage.close().await;
        }
        let client = self.pool.get().await?;
        client.batch_execute(&schema::drop_sql(tenant)).await?;
        Ok(())
    }
}

/// A stored timestamp back as `u64`; negative values are never written.
fn stored_ts(tenant: &str, ts: i64) -> Result<u64, StorageError> {
    u64::try_from(ts).map_err(|_| StorageError::corrupt(tenant, format!("negative ts {ts}")))
}
