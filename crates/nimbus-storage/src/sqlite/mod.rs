//! The embedded provider: one SQLite database file per tenant (`<dir>/<tenant>.sqlite3`), so
//! tenants are physically isolated and a tenant is dropped by deleting its file.
//!
//! Writes go through one group-commit writer thread per tenant ([`writer`]); reads use a small
//! pool of read-only connections ([`read_pool`]). Durability settings are explained in
//! [`schema`].

mod queries;
mod read_pool;

pub use read_pool::mark_thread_may_block;
mod schema;
mod tenant;
mod writer;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;

use crate::{Persistence, StorageError, TenantName, TenantStorage};
use tenant::SqliteTenant;

/// The file name suffix of a tenant database.
const FILE_SUFFIX: &str = ".sqlite3";

/// SQLite's companion files of a WAL database, deleted together with it.
const COMPANION_SUFFIXES: [&str; 2] = ["-wal", "-shm"];

/// Tenants stored as SQLite files in one directory.
#[derive(Debug)]
pub struct SqlitePersistence {
    dir: PathBuf,
    /// Open tenants. A tokio mutex because opening a tenant blocks on file I/O, awaited while
    /// held so that two opens of one tenant cannot start two writers.
    open: tokio::sync::Mutex<BTreeMap<TenantName, Arc<SqliteTenant>>>,
}

impl SqlitePersistence {
    /// Uses `dir` for tenant databases, creating it if needed.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|source| StorageError::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(Self {
            dir,
            open: tokio::sync::Mutex::new(BTreeMap::new()),
        })
    }

    /// The directory holding the tenant databases.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The database file of `tenant`.
    pub fn tenant_path(&self, tenant: &TenantName) -> PathBuf {
        self.dir.join(format!("{tenant}{FILE_SUFFIX}"))
    }
}

#[async_trait]
impl Persistence for SqlitePersistence {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    async fn open_tenant(
        &self,
        tenant: &TenantName,
    ) -> Result<Arc<dyn TenantStorage>, StorageError> {
        let mut open = self.open.lock().await;
        if let Some(storage) = open.get(tenant) {
            return Ok(Arc::clone(storage) as Arc<dyn TenantStorage>);
        }
        let (name, path) = (tenant.as_str().to_owned(), self.tenant_path(tenant));
        let storage = tokio::task::spawn_blocking(move || SqliteTenant::open(&name, path))
            .await
            .map_err(|e| StorageError::TaskFailed {
                tenant: tenant.to_string(),
                detail: e.to_string(),
            })??;
        let storage = Arc::new(storage);
        open.insert(tenant.clone(), Arc::clone(&storage));
        Ok(storage)
    }

    async fn tenants(&self) -> Result<Vec<TenantName>, StorageError> {
        let io = |source| StorageError::Io {
            path: self.dir.clone(),
            source,
        };
        let mut tenants = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io)? {
            let file_name = entry.map_err(io)?.file_name();
            let name = file_name.to_str().and_then(|n| n.strip_suffix(FILE_SUFFIX));
            // Other files in the directory are not tenants; ignore them.
            if let Some(tenant) = name.and_then(|n| TenantName::new(n).ok()) {
                tenants.push(tenant);
            }
        }
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
        let path = self.tenant_path(tenant);
        let files = std::iter::once(path.clone()).chain(
            COMPANION_SUFFIXES
                .iter()
                .map(|s| PathBuf::from(format!("{}{s}", path.display()))),
        );
        for file in files {
            match std::fs::remove_file(&file) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(StorageError::Io { path: file, source }),
            }
        }
        Ok(())
    }
}

/// A timestamp as an SQL integer. Callers pass only validated timestamps
/// (`<= MAX_TIMESTAMP`), for which the conversion is exact.
fn sql_ts(ts: u64) -> i64 {
    i64::try_from(ts).unwrap_or(i64::MAX)
}
