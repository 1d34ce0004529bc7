//! `Engine`: the databases of every tenant on one persistence provider.
//!
//! Each tenant's database is opened once and shared; tenants never share a `Database`, a
//! storage handle, a catalog or a subscription hub, so no API on one can reach another's data.

use std::collections::HashMap;
use std::sync::Arc;

use nimbus_storage::{Persistence, TenantName};

use crate::database::Database;
use crate::error::EngineError;
use crate::limits::EngineLimits;

/// All tenants' databases.
pub struct Engine {
    persistence: Arc<dyn Persistence>,
    limits: EngineLimits,
    databases: tokio::sync::Mutex<HashMap<TenantName, Database>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("persistence", &self.persistence.kind())
            .finish()
    }
}

impl Engine {
    /// An engine over `persistence`.
    pub fn new(persistence: Arc<dyn Persistence>, limits: EngineLimits) -> Self {
        Self {
            persistence,
            limits,
            databases: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The tenant's database, opened (and its storage created) on first use.
    pub async fn database(&self, tenant: &TenantName) -> Result<Database, EngineError> {
        let mut databases = self.databases.lock().await;
        if let Some(db) = databases.get(tenant) {
            return Ok(db.clone());
        }
        let storage = self.persistence.open_tenant(tenant).await?;
        let db = Database::open(tenant.clone(), storage, self.limits.clone()).await?;
        databases.insert(tenant.clone(), db.clone());
        Ok(db)
    }

    /// Deletes a tenant's data.
    pub async fn drop_tenant(&self, tenant: &TenantName) -> Result<(), EngineError> {
        self.databases.lock().await.remove(tenant);
        self.persistence.drop_tenant(tenant).await?;
        Ok(())
    }

    /// The persistence provider's kind (`memory`, `sqlite`, `postgres`).
    pub fn storage_kind(&self) -> &'static str {
        self.persistence.kind()
    }
}
