//! The size and shape limits Convex puts on values and documents, and how sizes are counted.
//!
//! The limits mirror the Convex backend (`crates/common/src/document.rs`,
//! `crates/value/src/object.rs`) so that anything we accept, a real deployment would accept too.
//! Sizes are counted the way the `convex` npm package's `getConvexSize` counts them, so a client
//! and this server agree on whether a document fits.

use crate::error::ValueError;
use crate::path::ValuePath;
use crate::value::{Object, Value};

/// Deepest nesting of arrays/objects in any value (arguments, return values). A scalar has
/// nesting 0, `[]` and `{}` have nesting 1. Bounds recursion in every walker of this crate.
pub const MAX_VALUE_NESTING: usize = 64;

/// Deepest nesting of arrays/objects in a stored document (the document object itself counts 1).
pub const MAX_DOCUMENT_NESTING: usize = 16;

/// Most fields a single object may have.
pub const MAX_OBJECT_FIELDS: usize = 1024;

/// Longest field name, in characters (field names are ASCII, so also bytes).
pub const MAX_FIELD_NAME_LEN_CHARS: usize = 1024;

/// Largest stored document, as counted by [`Value::size_bytes`].
pub const MAX_DOCUMENT_SIZE_BYTES: usize = 1 << 20;

impl Value {
    /// Size as Convex accounts for it: 1 byte for null/booleans, 9 for numbers, 2 + length for
    /// strings (UTF-8) and bytes, 2 + children for arrays, 2 + (name + 1 + value) per field for
    /// objects.
    pub fn size_bytes(&self) -> usize {
        match self {
            Value::Null | Value::Boolean(_) => 1,
            Value::Int64(_) | Value::Float64(_) => 9,
            Value::String(s) => 2 + s.len(),
            Value::Bytes(b) => 2 + b.len(),
            Value::Array(items) => 2 + items.iter().map(Value::size_bytes).sum::<usize>(),
            Value::Object(object) => object.size_bytes(),
        }
    }

    /// How many arrays/objects deep this value goes (0 for scalars).
    pub fn nesting(&self) -> usize {
        match self {
            Value::Array(items) => 1 + items.iter().map(Value::nesting).max().unwrap_or(0),
            Value::Object(object) => object.nesting(),
            _ => 0,
        }
    }
}

impl Object {
    /// Size as Convex accounts for it; see [`Value::size_bytes`].
    pub fn size_bytes(&self) -> usize {
        2 + self
            .iter()
            .map(|(name, value)| name.len() + 1 + value.size_bytes())
            .sum::<usize>()
    }

    /// How many arrays/objects deep this object goes (at least 1).
    pub fn nesting(&self) -> usize {
        1 + self.values().map(Value::nesting).max().unwrap_or(0)
    }
}

/// Checks that `document` may be stored: size, nesting and field-count limits.
/// (Field names are already valid by construction of [`Object`].)
pub fn check_document_limits(document: &Object) -> Result<(), ValueError> {
    let size_bytes = document.size_bytes();
    if size_bytes > MAX_DOCUMENT_SIZE_BYTES {
        return Err(ValueError::DocumentTooLarge {
            size_bytes,
            max_bytes: MAX_DOCUMENT_SIZE_BYTES,
        });
    }
    let nesting = document.nesting();
    if nesting > MAX_DOCUMENT_NESTING {
        return Err(ValueError::TooDeep {
            path: ValuePath::root(),
            max: MAX_DOCUMENT_NESTING,
        });
    }
    check_field_counts(&Value::Object(document.clone()), &mut ValuePath::root())
}

fn check_field_counts(value: &Value, path: &mut ValuePath) -> Result<(), ValueError> {
    use crate::path::PathSegment;
    match value {
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                path.push(PathSegment::Index(index));
                check_field_counts(item, path)?;
                path.pop();
            }
        }
        Value::Object(object) => {
            if object.len() > MAX_OBJECT_FIELDS {
                return Err(ValueError::TooManyFields {
                    path: path.clone(),
                    count: object.len(),
                    max: MAX_OBJECT_FIELDS,
                });
            }
            for (name, item) in object.iter() {
                path.push(PathSegment::Field(name.clone()));
                check_field_counts(item, path)?;
                path.pop();
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(fields: &[(&str, Value)]) -> Object {
        Object::try_from_iter(fields.iter().map(|(k, v)| ((*k).to_owned(), v.clone()))).unwrap()
    }

    #[test]
    fn sizes_match_convex_accounting() {
        assert_eq!(Value::Null.size_bytes(), 1);
        assert_eq!(Value::Boolean(true).size_bytes(), 1);
        assert_eq!(Value::Int64(5).size_bytes(), 9);
        assert_eq!(Value::Float64(0.5).size_bytes(), 9);
        assert_eq!(Value::String("héllo".into()).size_bytes(), 2 + 6);
        assert_eq!(Value::Bytes(vec![1, 2, 3]).size_bytes(), 5);
        assert_eq!(Value::Array(vec![Value::Null, Value::Null]).size_bytes(), 4);
        let o = object(&[("ab", Value::Null)]);
        assert_eq!(Value::Object(o).size_bytes(), 2 + 2 + 1 + 1);
    }

    #[test]
    fn nesting_counts_containers() {
        assert_eq!(Value::Null.nesting(), 0);
        assert_eq!(Value::Array(vec![]).nesting(), 1);
        let nested = Value::Array(vec![Value::Array(vec![Value::Null]), Value::Null]);
        assert_eq!(nested.nesting(), 2);
    }

    #[test]
    fn documents_over_the_size_limit_are_rejected() {
        let big = object(&[("blob", Value::Bytes(vec![0; MAX_DOCUMENT_SIZE_BYTES]))]);
        let err = check_document_limits(&big).unwrap_err();
        assert!(matches!(err, ValueError::DocumentTooLarge { .. }), "{err}");
        assert!(check_document_limits(&object(&[("a", Value::Null)])).is_ok());
    }

    #[test]
    fn documents_nested_too_deeply_are_rejected() {
        let mut value = Value::Null;
        for _ in 0..MAX_DOCUMENT_NESTING {
            value = Value::Array(vec![value]);
        }
        // The document object adds one more level on top of the arrays.
        let err = check_document_limits(&object(&[("deep", value)])).unwrap_err();
        assert!(matches!(err, ValueError::TooDeep { max: 16, .. }), "{err}");
    }

    #[test]
    fn objects_with_too_many_fields_are_rejected_with_their_path() {
        let wide =
            Object::try_from_iter((0..=MAX_OBJECT_FIELDS).map(|i| (format!("f{i}"), Value::Null)))
                .unwrap();
        let err = check_document_limits(&object(&[("inner", Value::Object(wide))])).unwrap_err();
        match err {
            ValueError::TooManyFields { path, count, .. } => {
                assert_eq!(path.to_string(), ".inner");
                assert_eq!(count, MAX_OBJECT_FIELDS + 1);
            }
            other => panic!("unexpected error {other}"),
        }
    }
}
