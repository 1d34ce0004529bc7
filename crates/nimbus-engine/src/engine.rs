//! `Engine`: the databases of every tenant on one persistence provider.
//!
//! Each tenant's database is opened once and shared; tenants never share a `Database`, a
//! storage handle, a catalog or a subscription hub, so no API on one can reach another's data.
//!
//! A server may hold thousands of tenants of which few are busy, and an open tenant holds
//! connections, file descriptors, a writer and caches. So a tenant nobody uses is closed
//! ([`Engine::close_idle`]) and reopened on its next use: idle tenants cost no resources.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nimbus_storage::{Persistence, TenantName};

use crate::database::Database;
use crate::error::EngineError;
use crate::limits::EngineLimits;

/// All tenants' databases.
pub struct Engine {
    persistence: Arc<dyn Persistence>,
    limits: EngineLimits,
    databases: tokio::sync::Mutex<HashMap<TenantName, OpenDatabase>>,
}

/// An open tenant and when it was last handed out.
struct OpenDatabase {
    db: Database,
    last_used: Instant,
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
        if let Some(open) = databases.get_mut(tenant) {
            open.last_used = Instant::now();
            return Ok(open.db.clone());
        }
        let storage = self.persistence.open_tenant(tenant).await?;
        let db = Database::open(tenant.clone(), storage, self.limits.clone()).await?;
        let open = OpenDatabase {
            db: db.clone(),
            last_used: Instant::now(),
        };
        databases.insert(tenant.clone(), open);
        Ok(db)
    }

    /// Closes every tenant not handed out for `idle` that nobody holds (no `Database` handle
    /// outside the engine, no live subscription); returns their names. Their data stays; the
    /// next [`Engine::database`] reopens them.
    pub async fn close_idle(&self, idle: Duration) -> Vec<TenantName> {
        let mut databases = self.databases.lock().await;
        let closing: Vec<TenantName> = databases
            .iter()
            .filter(|(_, open)| open.last_used.elapsed() >= idle && open.db.is_unused())
            .map(|(tenant, _)| tenant.clone())
            .collect();
        for tenant in &closing {
            // Under the engine's lock nobody can take a new handle meanwhile, so dropping the
            // engine's one leaves the storage with no user but the provider's own handle.
            databases.remove(tenant);
            self.persistence.release_tenant(tenant).await;
        }
        closing
    }

    /// How many tenants are open.
    pub async fn open_tenants(&self) -> usize {
        self.databases.lock().await.len()
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
