//! The one error type of this crate. Each message says what was wrong and what to do.

/// Everything that can go wrong in a storage operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The batch's timestamp is not above the tenant's newest commit; nothing was written.
    #[error(
        "commit timestamp {ts} is not greater than the tenant's latest commit timestamp \
         {max_ts}; nothing was written. Allocate timestamps under one lock and submit in \
         allocation order"
    )]
    TimestampNotIncreasing { ts: u64, max_ts: u64 },

    /// The timestamp cannot be stored (see [`crate::MAX_TIMESTAMP`]).
    #[error(
        "timestamp {ts} is above the largest storable timestamp {max}; use nanoseconds since the Unix epoch"
    )]
    TimestampOutOfRange { ts: u64, max: u64 },

    /// The batch contradicts itself; nothing was written. This is a bug in the caller.
    #[error(
        "invalid commit batch at ts {ts}: {problem}; nothing was written. Fix the caller that built the batch"
    )]
    InvalidBatch { ts: u64, problem: String },

    /// The tenant name is not valid.
    #[error(
        "invalid tenant name {name:?}: {reason}. Use 1 to {max} characters of a-z, 0-9 and \
         '-', not starting or ending with '-'",
        max = crate::MAX_TENANT_NAME_LEN_CHARS
    )]
    InvalidTenantName { name: String, reason: &'static str },

    /// A read asked for more rows than one call may return.
    #[error("read limit {limit} is above the maximum {max}; page through the range instead")]
    LimitTooLarge { limit: usize, max: usize },

    /// The tenant's storage was closed or dropped, or its writer stopped.
    #[error(
        "storage of tenant {tenant:?} is closed (dropped, or its writer stopped); if a commit \
         was in flight its outcome is unknown: reopen the tenant and check max_ts"
    )]
    Closed { tenant: String },

    /// The storage transaction that held this commit (together with others, by group commit)
    /// failed as a whole; nothing of this commit was written.
    #[error(
        "the storage transaction holding commit {ts} of tenant {tenant:?} failed: {detail}; nothing of it was written, retry the commit"
    )]
    GroupCommitFailed {
        tenant: String,
        ts: u64,
        detail: String,
    },

    /// Stored data does not have the shape this crate writes.
    #[error(
        "stored data of tenant {tenant:?} is corrupt: {problem}; restore the tenant from a backup"
    )]
    Corrupt { tenant: String, problem: String },

    /// An SQLite call failed.
    #[error(
        "SQLite error for tenant {tenant:?}: {source}; check the data directory's disk space and permissions"
    )]
    Sqlite {
        tenant: String,
        #[source]
        source: rusqlite::Error,
    },

    /// A PostgreSQL call failed.
    #[error(
        "PostgreSQL error: {0}; check that the server is reachable and the role may create schemas"
    )]
    Postgres(#[from] tokio_postgres::Error),

    /// The PostgreSQL connection settings could not be used.
    #[error(
        "invalid PostgreSQL connection settings: {detail}; pass a URL like postgres://user@host:5432/db"
    )]
    InvalidPostgresUrl { detail: String },

    /// No PostgreSQL connection could be had from the pool.
    #[error("no PostgreSQL connection available: {0}; check the server, or lower concurrency")]
    PostgresPool(#[from] deadpool_postgres::PoolError),

    /// A file-system operation failed.
    #[error("I/O error on {path}: {source}; check that the directory exists and is writable")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A blocking task panicked or was cancelled; the operation's outcome is unknown.
    #[error("storage task for tenant {tenant:?} failed: {detail}; this is a bug, please report it")]
    TaskFailed { tenant: String, detail: String },
}

impl StorageError {
    /// Wraps an SQLite error with the tenant it happened for.
    pub(crate) fn sqlite(tenant: &str, source: rusqlite::Error) -> Self {
        Self::Sqlite {
            tenant: tenant.to_owned(),
            source,
        }
    }

    /// Reports stored data that does not have the shape this crate writes.
    pub(crate) fn corrupt(tenant: &str, problem: impl Into<String>) -> Self {
        Self::Corrupt {
            tenant: tenant.to_owned(),
            problem: problem.into(),
        }
    }
}
