//! The catalog: a tenant's tables (name ↔ table number) and indexes (id, fields, state).
//!
//! It is persisted as one JSON document under the storage metadata key [`CATALOG_META_KEY`],
//! written in the same storage commit as the change it records, so catalog and data never
//! disagree after a crash. Table numbers and index ids are never reused.

use std::collections::{BTreeMap, HashMap};

use nimbus_values::TableNumber;
use serde_json::{Value as Json, json};

use crate::error::EngineError;

/// Storage metadata key holding the catalog.
pub const CATALOG_META_KEY: &str = "catalog";
/// First number handed to a system table (Convex reserves 1..=512 for legacy tables).
pub const FIRST_SYSTEM_TABLE_NUMBER: u32 = 513;
/// First number handed to a user table.
pub const FIRST_USER_TABLE_NUMBER: u32 = 10_001;
/// Longest table or index name.
pub const NAME_LEN_MAX: usize = 64;

/// An index identifier, unique within a tenant.
pub type IndexId = u32;

/// A dotted field path, e.g. `author.name` → `["author", "name"]`.
pub type FieldPath = Vec<String>;

/// What an index is keyed by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexKind {
    /// `by_id`: the document's internal id.
    ById,
    /// `by_creation_time`: `_creationTime`, then id.
    ByCreationTime,
    /// A declared index: its fields, then `_creationTime`, then id.
    Fields(Vec<FieldPath>),
}

/// Whether an index may be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexState {
    /// Written by every commit, but still being filled for existing documents.
    Backfilling,
    /// Complete.
    Ready,
}

/// One index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexInfo {
    /// Id.
    pub id: IndexId,
    /// Table name.
    pub table: String,
    /// Index name (`by_id`, `by_creation_time`, or the declared descriptor).
    pub name: String,
    /// Key layout.
    pub kind: IndexKind,
    /// Readable or still backfilling.
    pub state: IndexState,
}

/// One table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    /// Name.
    pub name: String,
    /// Number (embedded in its documents' ids).
    pub number: TableNumber,
    /// Index ids by index name, including `by_id` and `by_creation_time`.
    pub indexes: BTreeMap<String, IndexId>,
}

/// Tables and indexes of one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    tables: BTreeMap<String, TableInfo>,
    names_by_number: HashMap<u32, String>,
    indexes: HashMap<IndexId, IndexInfo>,
    next_user_table: u32,
    next_system_table: u32,
    next_index: IndexId,
}

impl Catalog {
    /// An empty catalog.
    pub fn new() -> Self {
        Self {
            next_user_table: FIRST_USER_TABLE_NUMBER,
            next_system_table: FIRST_SYSTEM_TABLE_NUMBER,
            next_index: 1,
            ..Self::default()
        }
    }

    /// A table by name.
    pub fn table(&self, name: &str) -> Option<&TableInfo> {
        self.tables.get(name)
    }

    /// A table's name by number.
    pub fn table_name(&self, number: TableNumber) -> Option<&str> {
        self.names_by_number.get(&number.get()).map(String::as_str)
    }

    /// An index by id.
    pub fn index(&self, id: IndexId) -> Option<&IndexInfo> {
        self.indexes.get(&id)
    }

    /// An index by table and name.
    pub fn index_by_name(&self, table: &str, name: &str) -> Option<&IndexInfo> {
        self.tables
            .get(table)?
            .indexes
            .get(name)
            .and_then(|id| self.indexes.get(id))
    }

    /// All indexes of a table (every state).
    pub fn table_indexes(&self, table: &str) -> Vec<&IndexInfo> {
        self.tables
            .get(table)
            .map(|t| {
                t.indexes
                    .values()
                    .filter_map(|id| self.indexes.get(id))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// All tables.
    pub fn tables(&self) -> impl Iterator<Item = &TableInfo> {
        self.tables.values()
    }

    /// Adds a table with its `by_id` and `by_creation_time` indexes.
    pub fn add_table(&mut self, name: &str) -> Result<&TableInfo, EngineError> {
        validate_table_name(name)?;
        if self.tables.contains_key(name) {
            return Ok(&self.tables[name]);
        }
        let number = if name.starts_with('_') {
            let n = self.next_system_table;
            if n >= FIRST_USER_TABLE_NUMBER {
                return Err(EngineError::InvalidTableName {
                    name: name.into(),
                    reason: "no system table numbers are left",
                });
            }
            self.next_system_table += 1;
            n
        } else {
            let n = self.next_user_table;
            self.next_user_table = n.checked_add(1).ok_or(EngineError::InvalidTableName {
                name: name.into(),
                reason: "no table numbers are left",
            })?;
            n
        };
        let number = TableNumber::new(number).map_err(|e| EngineError::InvalidId(e.to_string()))?;
        let mut indexes = BTreeMap::new();
        for (index_name, kind) in [
            ("by_id", IndexKind::ById),
            ("by_creation_time", IndexKind::ByCreationTime),
        ] {
            let id = self.allocate_index_id();
            self.indexes.insert(
                id,
                IndexInfo {
                    id,
                    table: name.into(),
                    name: index_name.into(),
                    kind,
                    state: IndexState::Ready,
                },
            );
            indexes.insert(index_name.to_owned(), id);
        }
        self.names_by_number.insert(number.get(), name.to_owned());
        self.tables.insert(
            name.to_owned(),
            TableInfo {
                name: name.to_owned(),
                number,
                indexes,
            },
        );
        Ok(&self.tables[name])
    }

    /// Adds a declared index in the `Backfilling` state.
    pub fn add_index(
        &mut self,
        table: &str,
        name: &str,
        fields: Vec<FieldPath>,
    ) -> Result<IndexId, EngineError> {
        validate_index_name(name)?;
        let id = self.allocate_index_id();
        let Some(info) = self.tables.get_mut(table) else {
            return Err(EngineError::IndexNotFound {
                table: table.into(),
                index: name.into(),
            });
        };
        info.indexes.insert(name.to_owned(), id);
        self.indexes.insert(
            id,
            IndexInfo {
                id,
                table: table.into(),
                name: name.into(),
                kind: IndexKind::Fields(fields),
                state: IndexState::Backfilling,
            },
        );
        Ok(id)
    }

    /// Marks an index ready.
    pub fn mark_ready(&mut self, id: IndexId) {
        if let Some(info) = self.indexes.get_mut(&id) {
            info.state = IndexState::Ready;
        }
    }

    /// Removes a declared index.
    pub fn remove_index(&mut self, id: IndexId) {
        if let Some(info) = self.indexes.remove(&id)
            && let Some(table) = self.tables.get_mut(&info.table)
        {
            table.indexes.remove(&info.name);
        }
    }

    fn allocate_index_id(&mut self) -> IndexId {
        let id = self.next_index;
        self.next_index += 1;
        id
    }

    /// The persisted form.
    pub fn to_json(&self) -> Json {
        let tables: Vec<Json> = self
            .tables
            .values()
            .map(|t| json!({ "name": t.name, "number": t.number.get(), "indexes": t.indexes }))
            .collect();
        let mut indexes: Vec<&IndexInfo> = self.indexes.values().collect();
        indexes.sort_by_key(|i| i.id);
        let indexes: Vec<Json> = indexes
            .into_iter()
            .map(|i| {
                let (kind, fields) = match &i.kind {
                    IndexKind::ById => ("by_id", Json::Null),
                    IndexKind::ByCreationTime => ("by_creation_time", Json::Null),
                    IndexKind::Fields(f) => ("fields", json!(f)),
                };
                json!({
                    "id": i.id, "table": i.table, "name": i.name, "kind": kind, "fields": fields,
                    "ready": i.state == IndexState::Ready,
                })
            })
            .collect();
        json!({
            "tables": tables,
            "indexes": indexes,
            "nextUserTable": self.next_user_table,
            "nextSystemTable": self.next_system_table,
            "nextIndex": self.next_index,
        })
    }

    /// Reads the persisted form.
    pub fn from_json(json: &Json) -> Result<Self, EngineError> {
        let bad =
            |what: &str| EngineError::InvalidSchema(format!("stored catalog is damaged: {what}"));
        let mut catalog = Catalog::new();
        for t in json["tables"].as_array().ok_or_else(|| bad("tables"))? {
            let name = t["name"]
                .as_str()
                .ok_or_else(|| bad("table name"))?
                .to_owned();
            let number = t["number"].as_u64().ok_or_else(|| bad("table number"))? as u32;
            let number = TableNumber::new(number).map_err(|_| bad("table number"))?;
            let indexes: BTreeMap<String, IndexId> = t["indexes"]
                .as_object()
                .ok_or_else(|| bad("table indexes"))?
                .iter()
                .map(|(k, v)| Ok((k.clone(), v.as_u64().ok_or_else(|| bad("index id"))? as u32)))
                .collect::<Result<_, EngineError>>()?;
            catalog.names_by_number.insert(number.get(), name.clone());
            catalog.tables.insert(
                name.clone(),
                TableInfo {
                    name,
                    number,
                    indexes,
                },
            );
        }
        for i in json["indexes"].as_array().ok_or_else(|| bad("indexes"))? {
            let kind = match i["kind"].as_str() {
                Some("by_id") => IndexKind::ById,
                Some("by_creation_time") => IndexKind::ByCreationTime,
                Some("fields") => IndexKind::Fields(
                    serde_json::from_value(i["fields"].clone()).map_err(|_| bad("index fields"))?,
                ),
                _ => return Err(bad("index kind")),
            };
            let id = i["id"].as_u64().ok_or_else(|| bad("index id"))? as u32;
            catalog.indexes.insert(
                id,
                IndexInfo {
                    id,
                    table: i["table"]
                        .as_str()
                        .ok_or_else(|| bad("index table"))?
                        .into(),
                    name: i["name"].as_str().ok_or_else(|| bad("index name"))?.into(),
                    kind,
                    state: if i["ready"].as_bool() == Some(true) {
                        IndexState::Ready
                    } else {
                        IndexState::Backfilling
                    },
                },
            );
        }
        catalog.next_user_table = json["nextUserTable"]
            .as_u64()
            .ok_or_else(|| bad("nextUserTable"))? as u32;
        catalog.next_system_table = json["nextSystemTable"]
            .as_u64()
            .ok_or_else(|| bad("nextSystemTable"))? as u32;
        catalog.next_index = json["nextIndex"].as_u64().ok_or_else(|| bad("nextIndex"))? as u32;
        Ok(catalog)
    }
}

/// Table names: an ASCII letter (or `_` for system tables) then letters, digits and `_`.
pub fn validate_table_name(name: &str) -> Result<(), EngineError> {
    let invalid = |reason| EngineError::InvalidTableName {
        name: name.into(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("it is empty"));
    }
    if name.len() > NAME_LEN_MAX {
        return Err(invalid("it is longer than 64 characters"));
    }
    let body = name.strip_prefix('_').unwrap_or(name);
    let mut chars = body.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_alphabetic()) {
        return Err(invalid("it must start with a letter"));
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(invalid("only letters, digits and underscores are allowed"));
    }
    Ok(())
}

fn validate_index_name(name: &str) -> Result<(), EngineError> {
    validate_table_name(name).map_err(|_| {
        EngineError::InvalidSchema(format!(
            "index name \"{name}\" must start with a letter and use only letters, digits and \
             underscores (at most {NAME_LEN_MAX} characters)"
        ))
    })?;
    if name == "by_id" || name == "by_creation_time" || name.starts_with('_') {
        return Err(EngineError::InvalidSchema(format!(
            "index name \"{name}\" is reserved; choose another name"
        )));
    }
    Ok(())
}

/// Parses `a.b.c` into a field path.
pub fn parse_field_path(path: &str) -> FieldPath {
    path.split('.').map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_get_numbers_and_builtin_indexes_and_round_trip() {
        let mut catalog = Catalog::new();
        let number = catalog.add_table("messages").unwrap().number;
        assert_eq!(number.get(), FIRST_USER_TABLE_NUMBER);
        assert_eq!(
            catalog
                .add_table("_scheduled_functions")
                .unwrap()
                .number
                .get(),
            513
        );
        let id = catalog
            .add_index("messages", "by_author", vec![vec!["author".into()]])
            .unwrap();
        assert_eq!(catalog.index(id).unwrap().state, IndexState::Backfilling);
        catalog.mark_ready(id);
        let restored = Catalog::from_json(&catalog.to_json()).unwrap();
        assert_eq!(restored, catalog);
        assert!(
            catalog
                .index_by_name("messages", "by_creation_time")
                .is_some()
        );
    }

    #[test]
    fn bad_names_are_rejected() {
        let mut catalog = Catalog::new();
        assert!(catalog.add_table("9lives").is_err());
        assert!(catalog.add_table("has space").is_err());
        assert!(catalog.add_table("").is_err());
        catalog.add_table("ok").unwrap();
        assert!(catalog.add_index("ok", "by_id", vec![]).is_err());
    }
}
