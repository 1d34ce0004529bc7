//! Queries: what to read (`QuerySpec`), the stream state that reads it page by page with the
//! transaction's own writes merged in, pagination cursors, and the parser for Convex's
//! serialized query JSON.

mod cursor;
mod serialized;
mod spec;
pub(crate) mod stream;

pub use cursor::Cursor;
pub use serialized::parse_serialized_query;
pub use spec::{QueryOperator, QuerySource, QuerySpec};
pub use stream::QueryId;
