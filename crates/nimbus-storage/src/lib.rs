//! Dumb, durable, MVCC-versioned byte storage per tenant.
//!
//! Storage keeps versioned documents, index entries, a commit journal and catalog metadata,
//! and answers snapshot reads at a commit timestamp. It attaches no meaning to the bytes: the
//! engine above owns documents, schemas, conflict checks and subscriptions. Every commit is one
//! storage transaction and is acknowledged only once durable.
//!
//! Providers: [`MemoryPersistence`] (tests), [`SqlitePersistence`] (embedded default, one
//! database file per tenant) and [`PostgresPersistence`] (one schema per tenant). All of them
//! pass the same conformance suite (`tests/conformance`).
//!
//! This crate depends on no other Nimbus crate.

mod batch;
mod error;
mod limits;
mod memory;
mod postgres;
mod prefix;
mod sqlite;
mod tenant_name;
mod ticket;
mod traits;
mod types;

pub use error::StorageError;
pub use limits::{
    COMMIT_QUEUE_CAPACITY, GROUP_COMMIT_MAX_BATCHES, MAX_READ_LIMIT_ROWS,
    MAX_TENANT_NAME_LEN_CHARS, MAX_TIMESTAMP, POSTGRES_POOL_SIZE_MAX, POSTGRES_POOL_WAIT,
    SQLITE_BUSY_TIMEOUT, SQLITE_READ_CONNECTIONS_MAX,
};
pub use memory::MemoryPersistence;
pub use postgres::PostgresPersistence;
pub use sqlite::{SqlitePersistence, mark_thread_may_block};
pub use tenant_name::TenantName;
pub use ticket::CommitTicket;
pub use traits::{Persistence, TenantStorage};
pub use types::{CommitBatch, DocKey, DocumentVersion, IndexEntry, JournalEntry, KeyRange, Order};
