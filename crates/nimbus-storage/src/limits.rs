//! Every bound this crate enforces, in one place, each with the reason for its value.

use std::time::Duration;

/// Longest tenant name, in characters.
///
/// Not the DNS label limit (63) one might expect: PostgreSQL truncates identifiers to 63 bytes,
/// and the tenant's schema is named `nimbus_<tenant>` (7 extra bytes). A longer name would be
/// silently truncated there, and two tenants could end up sharing one schema.
pub const MAX_TENANT_NAME_LEN_CHARS: usize = 56;

/// Largest commit timestamp that can be stored.
///
/// SQLite and PostgreSQL store integers as signed 64-bit. Storing `u64` bit-cast would break
/// the SQL ordering of timestamps at 2^63, so larger values are rejected instead. Nanoseconds
/// since the Unix epoch stay below this bound until the year 2262.
pub const MAX_TIMESTAMP: u64 = i64::MAX as u64;

/// Largest `limit` accepted by `scan_index` and `journal_after`.
///
/// Results are materialised in memory, so a caller must page through anything larger. A
/// larger limit is an error rather than silently clamped, because a short page would
/// otherwise look like the end of the range.
pub const MAX_READ_LIMIT_ROWS: usize = 100_000;

/// How many commit requests may wait for a tenant's writer before `submit` waits for room.
///
/// This is the back-pressure point: it bounds the memory held by queued batches while keeping
/// enough work queued for group commit to amortise one fsync over many commits.
pub const COMMIT_QUEUE_CAPACITY: usize = 1024;

/// Most commit requests a writer folds into one storage transaction (one fsync).
///
/// Bounds the latency of the first request in a group and the size of the transaction.
pub const GROUP_COMMIT_MAX_BATCHES: usize = 256;

/// Read-only SQLite connections kept per tenant database (concurrent snapshot readers).
pub const SQLITE_READ_CONNECTIONS_MAX: usize = 4;

/// How long an SQLite connection waits for a lock held by another connection before failing.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest PostgreSQL connection pool shared by every tenant of one `PostgresPersistence`.
pub const POSTGRES_POOL_SIZE_MAX: usize = 16;

/// How long a PostgreSQL operation waits for a pooled connection before failing.
pub const POSTGRES_POOL_WAIT: Duration = Duration::from_secs(10);
