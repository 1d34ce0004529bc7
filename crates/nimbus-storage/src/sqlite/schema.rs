//! Opening a tenant's SQLite database: connection settings and schema migrations.
//!
//! Durability settings, and why:
//! - `journal_mode=WAL`: readers never block the writer and one commit appends to the log
//!   instead of rewriting pages, so a group commit costs one sequential write + one fsync.
//! - `synchronous=FULL`: an acknowledged commit must survive power loss, not only a process
//!   crash. With WAL, `NORMAL` does not fsync the log on commit (only at checkpoints), so the
//!   last commits could vanish on power failure even though they were acknowledged. `FULL`
//!   fsyncs the WAL at every commit; group commit is what keeps that affordable.
//! - `busy_timeout`: a tenant's file has one writer connection in this process, but a backup
//!   or inspection tool may briefly hold a lock; wait for it instead of failing at once.
//!
//! One process must own a tenant's database at a time: the per-tenant writer thread assumes
//! it is the only writer (it caches the newest commit timestamp).

use std::path::Path;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};

use crate::{SQLITE_BUSY_TIMEOUT, StorageError};

/// The schema version this code writes, kept in SQLite's `user_version`.
const SCHEMA_VERSION: i64 = 1;

/// Version 1: the four tables. Documents and index entries are clustered by their primary
/// key (WITHOUT ROWID), so a snapshot read is one range walk of the primary key.
const SCHEMA_V1: &str = "
    CREATE TABLE documents (
        table_num INTEGER NOT NULL,
        internal_id BLOB NOT NULL,
        ts INTEGER NOT NULL,
        value BLOB NULL,
        PRIMARY KEY (table_num, internal_id, ts)
    ) WITHOUT ROWID;
    CREATE TABLE index_entries (
        index_id INTEGER NOT NULL,
        key BLOB NOT NULL,
        ts INTEGER NOT NULL,
        table_num INTEGER NULL,
        internal_id BLOB NULL,
        PRIMARY KEY (index_id, key, ts)
    ) WITHOUT ROWID;
    CREATE TABLE journal (
        ts INTEGER PRIMARY KEY,
        payload BLOB NOT NULL
    );
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value BLOB NOT NULL
    ) WITHOUT ROWID;
";

/// Whether a connection may write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Access {
    /// The tenant's single writer: creates the file and migrates the schema.
    Write,
    /// A snapshot reader.
    Read,
}

/// Opens `path` with this crate's settings; a writer also creates and migrates the database.
pub(super) fn open(tenant: &str, path: &Path, access: Access) -> Result<Connection, StorageError> {
    let err = |e| StorageError::sqlite(tenant, e);
    let flags = match access {
        Access::Write => OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        Access::Read => OpenFlags::SQLITE_OPEN_READ_ONLY,
    } | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).map_err(err)?;
    conn.busy_timeout(SQLITE_BUSY_TIMEOUT).map_err(err)?;
    // Query-planner stability: without it, SQLite marks statements with `col = ?` terms to be
    // re-prepared whenever a parameter is bound anew, so every cached statement was compiled
    // again on each use (a point read cost 7.2 µs instead of 2.5). Plans here never depend on
    // the bound values.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .map_err(err)?;
    if access == Access::Write {
        // journal_mode answers with the resulting mode, so it must be read as a query.
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
            .map_err(err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StorageError::corrupt(
                tenant,
                format!("cannot enable WAL (mode {mode})"),
            ));
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(err)?;
        migrate(tenant, &mut conn)?;
    }
    conn.set_prepared_statement_cache_capacity(PREPARED_STATEMENTS_PER_CONNECTION);
    Ok(conn)
}

/// Prepared statements cached per connection: one per query shape (scans have 18 shapes).
const PREPARED_STATEMENTS_PER_CONNECTION: usize = 32;

/// Brings the schema up to [`SCHEMA_VERSION`] in one transaction.
fn migrate(tenant: &str, conn: &mut Connection) -> Result<(), StorageError> {
    let err = |e| StorageError::sqlite(tenant, e);
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(err)?;
    let version: i64 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(err)?;
    match version {
        0 => {
            tx.execute_batch(SCHEMA_V1).map_err(err)?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(err)?;
        }
        SCHEMA_VERSION => {}
        newer => {
            return Err(StorageError::corrupt(
                tenant,
                format!(
                    "schema version {newer} is newer than this build's {SCHEMA_VERSION}; upgrade Nimbus"
                ),
            ));
        }
    }
    tx.commit().map_err(err)
}
