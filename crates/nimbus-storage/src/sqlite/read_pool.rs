//! A bounded pool of read-only connections to one tenant database. SQLite calls block, so a
//! read runs on tokio's blocking pool, unless the calling thread declared that it may block
//! ([`mark_thread_may_block`]: an isolate worker waiting on its host calls), where it runs
//! in place and saves two thread hand-offs. The semaphore bounds how many run at once.

use std::cell::Cell;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;
use rusqlite::Connection;
use tokio::sync::Semaphore;

use super::schema::{self, Access};
use crate::{SQLITE_READ_CONNECTIONS_MAX, StorageError};

thread_local! {
    static MAY_BLOCK: Cell<bool> = const { Cell::new(false) };
}

/// Declares the current thread one that may block on storage reads: a thread that is not one
/// of tokio's async workers (an isolate worker, which blocks while its code awaits a host
/// call anyway). SQLite reads issued from it then run in place instead of on the blocking pool.
pub fn mark_thread_may_block() {
    MAY_BLOCK.with(|may| may.set(true));
}

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
        let work = move || {
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
        };
        if MAY_BLOCK.with(Cell::get) {
            let result = work();
            drop(permit);
            return result;
        }
        let result =
            tokio::task::spawn_blocking(work)
                .await
                .map_err(|e| StorageError::TaskFailed {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_run_in_place_only_on_threads_that_may_block() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sqlite");
        drop(schema::open("t", &path, Access::Write).unwrap());
        let pool = ReadPool::new("t", path);
        let reader = || pool.run(|_, _| Ok(std::thread::current().id()));
        let here = std::thread::current().id();

        let elsewhere = runtime.block_on(reader()).unwrap();
        assert_ne!(
            elsewhere, here,
            "by default a read goes to the blocking pool"
        );
        mark_thread_may_block();
        let in_place = runtime.block_on(reader()).unwrap();
        assert_eq!(in_place, here, "a thread that may block reads in place");
    }
}
