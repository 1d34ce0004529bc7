//! The Convex value model: the eight value types and objects with validated field names.
//!
//! JavaScript's `undefined` has no place here: a field holding `undefined` is simply absent
//! from its [`Object`], and "maybe undefined" positions use [`MaybeValue`].
//! Equality, ordering and hashing live in `order.rs` because they must agree with each other.

use std::collections::BTreeMap;
use std::collections::btree_map;

use crate::error::FieldNameError;
use crate::field_name::validate_field_name;

/// A Convex value.
#[derive(Debug, Clone)]
pub enum Value {
    /// JS `null`.
    Null,
    /// JS `bigint` within −2^63 … 2^63−1.
    Int64(i64),
    /// JS `number`; every bit pattern (NaN payloads, −0) is kept.
    Float64(f64),
    /// JS `boolean`.
    Boolean(bool),
    /// JS `string`.
    String(String),
    /// JS `ArrayBuffer`.
    Bytes(Vec<u8>),
    /// JS array.
    Array(Vec<Value>),
    /// JS plain object.
    Object(Object),
}

/// A value that may be JavaScript `undefined` (`None`), as in filter literals, index range
/// bounds and patch fields. `None` sorts before every value, including `Null`.
pub type MaybeValue = Option<Value>;

/// A Convex object: fields sorted by name, every name valid per [`validate_field_name`].
#[derive(Debug, Clone, Default)]
pub struct Object(BTreeMap<String, Value>);

impl Object {
    /// An object with no fields.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds an object, rejecting the first invalid field name (with that name).
    pub fn try_from_iter(
        fields: impl IntoIterator<Item = (String, Value)>,
    ) -> Result<Self, (String, FieldNameError)> {
        let mut object = Self::new();
        for (name, value) in fields {
            if let Err(error) = validate_field_name(&name) {
                return Err((name, error));
            }
            object.0.insert(name, value);
        }
        Ok(object)
    }

    /// Sets a field, returning its previous value.
    pub fn insert(
        &mut self,
        name: impl Into<String>,
        value: Value,
    ) -> Result<Option<Value>, FieldNameError> {
        let name = name.into();
        validate_field_name(&name)?;
        Ok(self.0.insert(name, value))
    }

    /// The value of a field, if present.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// Removes a field, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        self.0.remove(name)
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the object has no fields.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Fields in name order (byte order, which is also JavaScript's order for ASCII names).
    pub fn iter(&self) -> btree_map::Iter<'_, String, Value> {
        self.0.iter()
    }

    /// Field values in name order.
    pub fn values(&self) -> btree_map::Values<'_, String, Value> {
        self.0.values()
    }

    /// Read-only view of the underlying map.
    pub fn as_map(&self) -> &BTreeMap<String, Value> {
        &self.0
    }

    /// The underlying map.
    pub fn into_map(self) -> BTreeMap<String, Value> {
        self.0
    }
}

impl TryFrom<BTreeMap<String, Value>> for Object {
    type Error = (String, FieldNameError);

    fn try_from(map: BTreeMap<String, Value>) -> Result<Self, Self::Error> {
        if let Some(Err((name, error))) = map
            .keys()
            .map(|name| validate_field_name(name).map_err(|e| (name.clone(), e)))
            .find(Result::is_err)
        {
            return Err((name, error));
        }
        Ok(Self(map))
    }
}

impl<'a> IntoIterator for &'a Object {
    type Item = (&'a String, &'a Value);
    type IntoIter = btree_map::Iter<'a, String, Value>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl From<i64> for Value {
    fn from(value: i64) -> Self {
        Value::Int64(value)
    }
}

impl From<f64> for Value {
    fn from(value: f64) -> Self {
        Value::Float64(value)
    }
}

impl From<bool> for Value {
    fn from(value: bool) -> Self {
        Value::Boolean(value)
    }
}

impl From<&str> for Value {
    fn from(value: &str) -> Self {
        Value::String(value.to_owned())
    }
}

impl From<String> for Value {
    fn from(value: String) -> Self {
        Value::String(value)
    }
}

impl From<Vec<u8>> for Value {
    fn from(value: Vec<u8>) -> Self {
        Value::Bytes(value)
    }
}

impl From<Vec<Value>> for Value {
    fn from(value: Vec<Value>) -> Self {
        Value::Array(value)
    }
}

impl From<Object> for Value {
    fn from(value: Object) -> Self {
        Value::Object(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_validates_field_names() {
        let mut object = Object::new();
        assert_eq!(object.insert("a", Value::Null).unwrap(), None);
        assert_eq!(
            object.insert("a", Value::Int64(1)).unwrap(),
            Some(Value::Null)
        );
        assert_eq!(
            object.insert("$a", Value::Null),
            Err(FieldNameError::StartsWithDollar)
        );
        assert_eq!(object.len(), 1);
        assert_eq!(object.get("a"), Some(&Value::Int64(1)));
    }

    #[test]
    fn conversions_from_maps_validate_every_name() {
        let mut map = BTreeMap::new();
        map.insert("ok".to_owned(), Value::Null);
        map.insert("bad\n".to_owned(), Value::Null);
        let (name, _) = Object::try_from(map).unwrap_err();
        assert_eq!(name, "bad\n");
        let (name, error) = Object::try_from_iter([("$x".to_owned(), Value::Null)]).unwrap_err();
        assert_eq!(
            (name.as_str(), error),
            ("$x", FieldNameError::StartsWithDollar)
        );
    }

    #[test]
    fn fields_iterate_in_sorted_order() {
        let object =
            Object::try_from_iter(["b", "a", "B", "_"].map(|k| (k.to_owned(), Value::Null)))
                .unwrap();
        let names: Vec<&str> = object.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["B", "_", "a", "b"]);
    }
}
