//! Query journals: what one execution of a subscribed query records so that the next
//! execution of the same subscription returns the same page.
//!
//! A reactive page must keep its boundaries: if page 1 of a `usePaginatedQuery` list re-ran
//! with only `numItems`, an insert would push its last document out of page 1 while page 2
//! still starts after that document, and the client would lose it. So, as Convex does, the
//! first execution records the page's end cursor in the journal, the sync session sends the
//! journal with the result and hands it back on every re-execution (and the client sends it
//! again after a reconnect), and `paginate` then runs to that end cursor whatever the page size.
//!
//! The journal is a small JSON object. Convex encrypts its journals; here it carries only a
//! cursor, which is validated like any cursor a client sends in `paginationOpts`.

use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{Value as Json, json};

use crate::error::FunctionError;

/// A query execution's journal, shared with its bridge while it runs.
pub(crate) type JournalSlot = Arc<Mutex<QueryJournal>>;

/// What a query execution recorded (or was given).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryJournal {
    /// Where the execution's paginated query ended.
    pub(crate) end_cursor: Option<String>,
}

impl QueryJournal {
    /// Parses a journal as the sync protocol carries it (`null` or absent: empty).
    pub fn decode(text: Option<&str>) -> Result<Self, FunctionError> {
        let Some(text) = text else {
            return Ok(Self::default());
        };
        let invalid = |why: &str| {
            FunctionError::user(format!(
                "InvalidQueryJournal: the query journal sent with this subscription {why}; \
                 resubscribe without a journal"
            ))
        };
        let json: Json = serde_json::from_str(text).map_err(|_| invalid("is not JSON"))?;
        match json.get("endCursor") {
            None | Some(Json::Null) if json.is_object() => Ok(Self::default()),
            Some(Json::String(cursor)) => Ok(Self {
                end_cursor: Some(cursor.clone()),
            }),
            _ => Err(invalid("is not a Nimbus query journal")),
        }
    }

    /// The journal's wire form: `None` when nothing was recorded (Convex's `null` journal).
    pub fn encode(&self) -> Option<String> {
        self.end_cursor
            .as_ref()
            .map(|cursor| json!({ "endCursor": cursor }).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journals_round_trip_and_reject_garbage() {
        let empty = QueryJournal::default();
        assert_eq!(empty.encode(), None);
        assert_eq!(QueryJournal::decode(None).unwrap(), empty);
        assert_eq!(QueryJournal::decode(Some("{}")).unwrap(), empty);
        let pinned = QueryJournal {
            end_cursor: Some("abc".into()),
        };
        let text = pinned.encode().unwrap();
        assert_eq!(QueryJournal::decode(Some(&text)).unwrap(), pinned);
        for bad in ["", "[]", "{\"endCursor\": 5}", "not json"] {
            let error = QueryJournal::decode(Some(bad)).unwrap_err();
            assert!(error.message.contains("InvalidQueryJournal"), "{bad}");
        }
    }
}
