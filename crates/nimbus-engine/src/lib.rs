//! `nimbus-engine`: each tenant's transactional, reactive document database.
//!
//! Architecture invariant: the engine knows Convex's data semantics (documents, ids, indexes,
//! queries, schemas, OCC, subscriptions) but nothing about isolates, HTTP or wire protocols; it
//! reaches disk only through `nimbus-storage`'s traits.
//!
//! API boundary: [`Engine`] → [`Database`] per tenant → [`Transaction`] for reads and buffered
//! writes, [`Database::commit`] (the single mutation path), [`Database::subscribe`] for
//! reactive read sets, [`Database::set_schema`] for schema changes.

mod catalog;
mod database;
mod document;
mod engine;
mod error;
mod index_keys;
mod limits;
mod query;
mod read_set;
mod schema;
mod subscriptions;
mod transaction;

pub use catalog::{Catalog, FieldPath, IndexId, IndexInfo, IndexKind, IndexState, TableInfo};
pub use database::{Database, OccRetries, SCHEMA_META_KEY, Subscription};
pub use document::Document;
pub use engine::Engine;
pub use error::EngineError;
pub use index_keys::{RangeExpr, RangeOp};
pub use limits::EngineLimits;
pub use query::{Cursor, QueryId, QueryOperator, QuerySource, QuerySpec, parse_serialized_query};
pub use read_set::{Interval, ReadSet, WriteKeys};
pub use schema::{Schema, TableSchema};
pub use subscriptions::{SubscriptionId, SubscriptionRegistry};
pub use transaction::{Page, Savepoint, Transaction, TransactionMode, TransactionUsage};
