//! `Document`: a stored document — id, creation time and user fields — and its storage bytes.
//!
//! Documents are stored as the convex-encoded JSON text of the whole object (including `_id`
//! and `_creationTime`): compact enough, and readable with any SQLite or PostgreSQL client
//! when debugging.

use nimbus_values::{DocumentId, Object, Value};

use crate::error::EngineError;

/// A document as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// `_id`.
    pub id: DocumentId,
    /// `_creationTime`, ms since the Unix epoch.
    pub creation_time: f64,
    /// User fields (never `_id` / `_creationTime`).
    pub fields: Object,
}

impl Document {
    /// The document as a Convex object, with `_id` and `_creationTime`.
    pub fn to_object(&self) -> Object {
        let mut map = self.fields.as_map().clone();
        map.insert("_id".into(), Value::String(self.id.encode()));
        map.insert("_creationTime".into(), Value::Float64(self.creation_time));
        Object::try_from(map).unwrap_or_default()
    }

    /// The document as a Convex value.
    pub fn to_value(&self) -> Value {
        Value::Object(self.to_object())
    }

    /// The value of a (possibly nested) field; `_id` and `_creationTime` included.
    pub fn field(&self, path: &[String]) -> Option<Value> {
        let (first, rest) = path.split_first()?;
        let mut current = match first.as_str() {
            "_id" if rest.is_empty() => return Some(Value::String(self.id.encode())),
            "_creationTime" if rest.is_empty() => return Some(Value::Float64(self.creation_time)),
            name => self.fields.get(name)?,
        };
        for segment in rest {
            match current {
                Value::Object(object) => current = object.get(segment)?,
                _ => return None,
            }
        }
        Some(current.clone())
    }

    /// Storage bytes.
    pub fn encode(&self) -> Vec<u8> {
        self.to_value().to_json_text().into_bytes()
    }

    /// Reads storage bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, EngineError> {
        let damaged =
            |what: &str| EngineError::InvalidId(format!("stored document is damaged: {what}"));
        let text = std::str::from_utf8(bytes).map_err(|_| damaged("not UTF-8"))?;
        let Value::Object(object) = Value::from_json_text(text)? else {
            return Err(damaged("not an object"));
        };
        let mut map = object.into_map();
        let Some(Value::String(id)) = map.remove("_id") else {
            return Err(damaged("no _id"));
        };
        let Some(Value::Float64(creation_time)) = map.remove("_creationTime") else {
            return Err(damaged("no _creationTime"));
        };
        let id = DocumentId::decode(&id).map_err(|e| damaged(&e.to_string()))?;
        let fields = Object::try_from(map).map_err(|_| damaged("bad field"))?;
        Ok(Self {
            id,
            creation_time,
            fields,
        })
    }

    /// Size used for the per-transaction byte limits.
    pub fn size_bytes(&self) -> usize {
        self.fields.size_bytes() + 64
    }
}
