//! A bounded pool of read-only connections to one tenant database. SQLite calls block, so
//! each read runs on tokio's blocking pool; the semaphore bounds how many run at once.

use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;
use rusqlite::Connection;
use tokio::sync::Semaphore;

use super::schema::{self, Access};
use crate::{SQLITE_READ_CONNECTIONS_MAX, StorageError};

#[derive(Debug, Clone)]
pub(super) struct ReadPool {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tenant: String,
    path: PathBuf,
    /// Connections not in use; at most [`SQLITE_READ_CONNECTIONS_MAX`] exist at once.
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

impl ReadPool {
    pub(super) fn new(tenant: &str, path: PathBuf) -> Self {
        let inner = Inner {
            tenant: tenant.to_owned(),
            path,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(SQLITE_READ_CONNECTIONS_MAX),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Runs `read` on a pooled connection, on the blocking pool.
    pub(super) async fn run<R, F>(&self, read: F) -> Result<R, StorageError>
    where
        R: Send + 'static,
        F: FnOnce(&str, &Connection) -> Result<R, StorageError> + Send + 'static,
    {
        let closed = || StorageError::Closed {
            tenant: self.inner.tenant.clone(),
        };
        let permit = self.inner.permits.acquire().await.map_err(|_| closed())?;
        let inner = Arc::clone(&self.inner);
        let task = tokio::task::spawn_blocking(move || {
            let pooled = inner.idle.lock().pop();
            let conn = match pooled {
                Some(conn) => conn,
                None => schema::open(&inner.tenant, &inner.path, Access::Read)?,
            };
            let result = read(&inner.tenant, &conn);
            // A closed pool drops its connections instead of keeping them for later reads.
            if !inner.permits.is_closed() {
                inner.idle.lock().push(conn);
            }
            result
        });
        let result = task.await.map_err(|e| StorageError::TaskFailed {
            tenant: self.inner.tenant.clone(),
            detail: e.to_string(),
        });
        drop(permit);
        result?
    }

    /// Fails every later read with [`StorageError::Closed`] and drops idle connections.
    pub(super) fn close(&self) {
        self.inner.permits.close();
        self.inner.idle.lock().clear();
    }
}
