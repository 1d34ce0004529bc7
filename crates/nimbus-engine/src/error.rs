//! `EngineError`: every way a transaction, query or schema change can fail, each with a
//! message that says what was wrong and what to do.

use nimbus_storage::StorageError;
use nimbus_values::ValueError;
use thiserror::Error;

/// An engine failure.
#[derive(Debug, Error)]
pub enum EngineError {
    /// Optimistic concurrency control rejected the commit on every allowed attempt.
    #[error(
        "Documents read from or written to table \"{table}\" changed while this mutation was being \
         run and on every subsequent retry ({attempts} attempts). Reduce contention on these \
         documents (for example, read fewer documents or split hot counters)"
    )]
    Conflict {
        /// A table whose documents conflicted.
        table: String,
        /// Attempts made.
        attempts: u32,
    },
    /// One commit attempt conflicted; the caller may re-run the transaction.
    #[error(
        "transaction conflict on table \"{table}\": a concurrent commit wrote data this transaction read; re-run it"
    )]
    RetryableConflict {
        /// A table whose documents conflicted.
        table: String,
    },
    /// The transaction's snapshot is older than the conflict-check window.
    #[error(
        "transaction snapshot is too old to validate (older than the {window} most recent commits); re-run it"
    )]
    SnapshotTooOld {
        /// The window size.
        window: usize,
    },
    /// Storage failed.
    #[error("storage error: {0}")]
    Storage(#[from] StorageError),
    /// A value broke the value model's rules.
    #[error("{0}")]
    Value(#[from] ValueError),
    /// A table name is invalid.
    #[error("invalid table name \"{name}\": {reason}")]
    InvalidTableName {
        /// The name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// A document id is malformed or names another table.
    #[error("{0}")]
    InvalidId(String),
    /// The document does not exist (patch, replace, delete).
    #[error("{operation} on nonexistent document ID {id}")]
    DocumentNotFound {
        /// `Update`, `Replace` or `Delete`.
        operation: &'static str,
        /// The id.
        id: String,
    },
    /// A user document field name is reserved.
    #[error(
        "field name \"{field}\" is reserved: user fields may not start with \"_\"; rename the field"
    )]
    ReservedField {
        /// The field.
        field: String,
    },
    /// The index does not exist.
    #[error(
        "index {table}.{index} not found; declare it in the schema or use by_id / by_creation_time"
    )]
    IndexNotFound {
        /// Table.
        table: String,
        /// Index.
        index: String,
    },
    /// The index exists but is still being backfilled.
    #[error("index {table}.{index} is still being backfilled; retry shortly")]
    IndexBackfilling {
        /// Table.
        table: String,
        /// Index.
        index: String,
    },
    /// A range expression does not follow the index's field order.
    #[error("invalid index range on {index}: {reason}")]
    InvalidIndexRange {
        /// Index name.
        index: String,
        /// Why.
        reason: String,
    },
    /// A serialized query is malformed.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// A pagination cursor could not be decoded.
    #[error("invalid pagination cursor: {0}; start again from the first page")]
    InvalidCursor(String),
    /// A per-transaction limit was exceeded.
    #[error("transaction limit exceeded: {what} (limit {limit}); {hint}")]
    LimitExceeded {
        /// Which limit.
        what: &'static str,
        /// The limit.
        limit: u64,
        /// What to do.
        hint: &'static str,
    },
    /// A document failed schema validation.
    #[error("Schema validation failed for table \"{table}\" (document {id}): {message}")]
    SchemaValidation {
        /// Table.
        table: String,
        /// Document id.
        id: String,
        /// Validator message.
        message: String,
    },
    /// A schema definition is malformed.
    #[error("invalid schema: {0}")]
    InvalidSchema(String),
    /// A write to a read-only transaction (query).
    #[error("this function is read-only: queries cannot write; use a mutation")]
    ReadOnly,
    /// The commit queue is full.
    #[error("too many commits in flight for this tenant (limit {limit}); retry shortly")]
    Overloaded {
        /// The bound.
        limit: usize,
    },
}

impl EngineError {
    /// Stable short tag for clients and tests.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Conflict { .. } => "OptimisticConcurrencyControlFailure",
            Self::RetryableConflict { .. } => "RetryableConflict",
            Self::SnapshotTooOld { .. } => "SnapshotTooOld",
            Self::Storage(_) => "StorageError",
            Self::Value(_) => "BadValue",
            Self::InvalidTableName { .. } => "InvalidTableName",
            Self::InvalidId(_) => "InvalidId",
            Self::DocumentNotFound { .. } => "NonexistentDocument",
            Self::ReservedField { .. } => "ReservedField",
            Self::IndexNotFound { .. } => "IndexNotFound",
            Self::IndexBackfilling { .. } => "IndexBackfilling",
            Self::InvalidIndexRange { .. } => "InvalidIndexRange",
            Self::InvalidQuery(_) => "InvalidQuery",
            Self::InvalidCursor(_) => "InvalidCursor",
            Self::LimitExceeded { .. } => "TransactionLimitExceeded",
            Self::SchemaValidation { .. } => "SchemaValidationError",
            Self::InvalidSchema(_) => "InvalidSchema",
            Self::ReadOnly => "ReadOnly",
            Self::Overloaded { .. } => "Overloaded",
        }
    }

    /// Whether re-running the transaction may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::RetryableConflict { .. } | Self::SnapshotTooOld { .. }
        )
    }
}
