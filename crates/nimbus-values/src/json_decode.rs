//! Convex-encoded JSON → Value (`jsonToConvex`), with the variants that accept JavaScript
//! `undefined` (`{"$undefined": null}`) where Convex clients send it.
//!
//! An object with exactly one key `$integer`, `$bytes` or `$float` is a special encoding; every
//! other `$`-prefixed key is rejected (legacy `$set`/`$map`, `$undefined` and `$commitTs` with
//! their own errors). JSON numbers always become Float64. Nesting is capped at
//! [`MAX_VALUE_NESTING`] and objects at [`MAX_OBJECT_FIELDS`] fields, which also bounds recursion.

use std::collections::BTreeMap;

use serde_json::{Map, Value as JsonValue};

use crate::error::ValueError;
use crate::field_name::validate_field_name;
use crate::limits::{MAX_OBJECT_FIELDS, MAX_VALUE_NESTING};
use crate::path::{PathSegment, ValuePath};
use crate::special::{BYTES_KEY, FLOAT_KEY, INTEGER_KEY, decode_base64, is_special_float};
use crate::value::{MaybeValue, Object, Value};

/// Key of the object standing for JavaScript `undefined` in filter literals and patches.
const UNDEFINED_KEY: &str = "$undefined";

impl Value {
    /// Decodes convex-encoded JSON. `{"$undefined": null}` is rejected; see
    /// [`decode_maybe_undefined`] for the places that accept it.
    pub fn from_json(json: &JsonValue) -> Result<Value, ValueError> {
        decode(json, &mut ValuePath::root())
    }

    /// Parses JSON text and decodes it as convex-encoded JSON.
    pub fn from_json_text(text: &str) -> Result<Value, ValueError> {
        Value::from_json(&serde_json::from_str(text)?)
    }
}

/// Decodes a value that may be `undefined` at the top level (filter literals, index range
/// bounds, a single patch value): `{"$undefined": null}` becomes `None`.
pub fn decode_maybe_undefined(json: &JsonValue) -> Result<MaybeValue, ValueError> {
    if is_undefined_marker(json) {
        return Ok(None);
    }
    Value::from_json(json).map(Some)
}

/// Decodes a `db.patch` value: an object whose top-level fields may be `{"$undefined": null}`,
/// meaning "delete this field" (`None`).
pub fn decode_patch_fields(json: &JsonValue) -> Result<BTreeMap<String, MaybeValue>, ValueError> {
    let mut path = ValuePath::root();
    let JsonValue::Object(map) = json else {
        return Err(ValueError::NotAnObject {
            path,
            found: json_type_name(json),
        });
    };
    check_object_shape(map, &path)?;
    let mut fields = BTreeMap::new();
    for (name, field) in map {
        path.push(PathSegment::Field(name.clone()));
        let decoded = if is_undefined_marker(field) {
            None
        } else {
            Some(decode(field, &mut path)?)
        };
        path.pop();
        fields.insert(name.clone(), decoded);
    }
    Ok(fields)
}

fn is_undefined_marker(json: &JsonValue) -> bool {
    matches!(json, JsonValue::Object(map)
        if map.len() == 1 && map.get(UNDEFINED_KEY) == Some(&JsonValue::Null))
}

fn decode(json: &JsonValue, path: &mut ValuePath) -> Result<Value, ValueError> {
    match json {
        JsonValue::Null => Ok(Value::Null),
        JsonValue::Bool(b) => Ok(Value::Boolean(*b)),
        JsonValue::Number(number) => number
            .as_f64()
            .map(Value::Float64)
            .ok_or_else(|| ValueError::UnrepresentableNumber { path: path.clone() }),
        JsonValue::String(s) => Ok(Value::String(s.clone())),
        JsonValue::Array(items) => {
            check_depth(path)?;
            let mut values = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                path.push(PathSegment::Index(index));
                values.push(decode(item, path)?);
                path.pop();
            }
            Ok(Value::Array(values))
        }
        JsonValue::Object(map) => {
            if map.len() == 1
                && let Some((key, payload)) = map.iter().next()
                && let Some(value) = decode_special(key, payload, path)?
            {
                return Ok(value);
            }
            check_depth(path)?;
            check_object_shape(map, path)?;
            let mut fields = BTreeMap::new();
            for (name, field) in map {
                path.push(PathSegment::Field(name.clone()));
                let value = decode(field, path)?;
                path.pop();
                fields.insert(name.clone(), value);
            }
            // Names were validated by check_object_shape.
            Ok(Value::Object(Object::try_from(fields).map_err(
                |(name, source)| ValueError::InvalidFieldName {
                    path: path.clone(),
                    name,
                    source,
                },
            )?))
        }
    }
}

/// Entering one more container must stay within the nesting limit.
fn check_depth(path: &ValuePath) -> Result<(), ValueError> {
    if path.depth() + 1 > MAX_VALUE_NESTING {
        return Err(ValueError::TooDeep {
            path: path.clone(),
            max: MAX_VALUE_NESTING,
        });
    }
    Ok(())
}

fn check_object_shape(map: &Map<String, JsonValue>, path: &ValuePath) -> Result<(), ValueError> {
    if map.len() > MAX_OBJECT_FIELDS {
        return Err(ValueError::TooManyFields {
            path: path.clone(),
            count: map.len(),
            max: MAX_OBJECT_FIELDS,
        });
    }
    for name in map.keys() {
        validate_field_name(name).map_err(|source| ValueError::InvalidFieldName {
            path: path.clone(),
            name: name.clone(),
            source,
        })?;
    }
    Ok(())
}

/// Decodes a one-key object if its key is one of the special encodings; `Ok(None)` means it is
/// an ordinary object (whose field names are validated by the caller).
fn decode_special(
    key: &str,
    payload: &JsonValue,
    path: &ValuePath,
) -> Result<Option<Value>, ValueError> {
    let value = match key {
        INTEGER_KEY => {
            let bytes = special_payload(INTEGER_KEY, payload, path)?;
            Value::Int64(i64::from_le_bytes(eight_bytes(INTEGER_KEY, &bytes, path)?))
        }
        FLOAT_KEY => {
            let bytes = special_payload(FLOAT_KEY, payload, path)?;
            let value = f64::from_le_bytes(eight_bytes(FLOAT_KEY, &bytes, path)?);
            if !is_special_float(value) {
                return Err(ValueError::FloatShouldBeNumber {
                    path: path.clone(),
                    value,
                });
            }
            Value::Float64(value)
        }
        BYTES_KEY => Value::Bytes(special_payload(BYTES_KEY, payload, path)?),
        "$set" | "$map" => {
            let (key, kind) = if key == "$set" {
                ("$set", "Set")
            } else {
                ("$map", "Map")
            };
            return Err(ValueError::UnsupportedLegacyType {
                path: path.clone(),
                key,
                kind,
            });
        }
        UNDEFINED_KEY if payload.is_null() => {
            return Err(ValueError::Undefined { path: path.clone() });
        }
        "$commitTs" if payload.is_null() => {
            return Err(ValueError::CommitTsPlaceholder { path: path.clone() });
        }
        _ => return Ok(None),
    };
    Ok(Some(value))
}

fn special_payload(
    key: &'static str,
    payload: &JsonValue,
    path: &ValuePath,
) -> Result<Vec<u8>, ValueError> {
    let JsonValue::String(text) = payload else {
        return Err(ValueError::SpecialNotString {
            path: path.clone(),
            key,
            found: json_type_name(payload),
        });
    };
    decode_base64(text).map_err(|source| ValueError::InvalidBase64 {
        path: path.clone(),
        key,
        source,
    })
}

fn eight_bytes(key: &'static str, bytes: &[u8], path: &ValuePath) -> Result<[u8; 8], ValueError> {
    bytes
        .try_into()
        .map_err(|_| ValueError::WrongPayloadLength {
            path: path.clone(),
            key,
            len_bytes: bytes.len(),
        })
}

/// The JSON type of `json`, with an article, for error messages ("an array").
pub(crate) fn json_type_name(json: &JsonValue) -> &'static str {
    match json {
        JsonValue::Null => "null",
        JsonValue::Bool(_) => "a boolean",
        JsonValue::Number(_) => "a number",
        JsonValue::String(_) => "a string",
        JsonValue::Array(_) => "an array",
        JsonValue::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode_err(json: JsonValue) -> ValueError {
        Value::from_json(&json).expect_err("should be rejected")
    }

    #[test]
    fn specials_decode() {
        assert_eq!(
            Value::from_json(&json!({"$integer": "AQAAAAAAAAA="})).unwrap(),
            Value::Int64(1)
        );
        assert_eq!(
            Value::from_json(&json!({"$bytes": "AQID"})).unwrap(),
            Value::Bytes(vec![1, 2, 3])
        );
        assert_eq!(
            Value::from_json(&json!({"$bytes": ""})).unwrap(),
            Value::Bytes(vec![])
        );
        let neg_zero = Value::from_json(&json!({"$float": "AAAAAAAAAIA="})).unwrap();
        assert!(matches!(neg_zero, Value::Float64(f) if f == 0.0 && f.is_sign_negative()));
        let nan = Value::from_json(&json!({"$float": "AAAAAAAA+H8="})).unwrap();
        assert!(matches!(nan, Value::Float64(f) if f.is_nan()));
    }

    #[test]
    fn json_numbers_are_always_float64() {
        assert_eq!(Value::from_json(&json!(3)).unwrap(), Value::Float64(3.0));
        assert_eq!(Value::from_json(&json!(-3)).unwrap(), Value::Float64(-3.0));
        assert_eq!(
            Value::from_json(&json!(u64::MAX)).unwrap(),
            Value::Float64(u64::MAX as f64)
        );
    }

    #[test]
    fn float_encoding_an_ordinary_number_is_rejected() {
        let err = decode_err(json!({"$float": "AAAAAAAA8D8="}));
        assert!(
            matches!(err, ValueError::FloatShouldBeNumber { value, .. } if value == 1.0),
            "{err}"
        );
        assert!(err.to_string().contains("plain JSON number"), "{err}");
    }

    #[test]
    fn malformed_special_payloads_are_rejected() {
        let err = decode_err(json!({"$integer": "AQ=="}));
        assert!(
            matches!(err, ValueError::WrongPayloadLength { len_bytes: 1, .. }),
            "{err}"
        );
        let err = decode_err(json!({"$float": "AAAA"}));
        assert!(
            matches!(err, ValueError::WrongPayloadLength { key: "$float", .. }),
            "{err}"
        );
        let err = decode_err(json!({"$integer": 1}));
        assert!(
            matches!(
                err,
                ValueError::SpecialNotString {
                    found: "a number",
                    ..
                }
            ),
            "{err}"
        );
        let err = decode_err(json!({"$bytes": null}));
        assert!(
            matches!(err, ValueError::SpecialNotString { key: "$bytes", .. }),
            "{err}"
        );
        let err = decode_err(json!({"$bytes": "!!!!"}));
        assert!(matches!(err, ValueError::InvalidBase64 { .. }), "{err}");
    }

    #[test]
    fn other_dollar_keys_are_rejected_with_their_path() {
        let err = decode_err(json!({"messages": [0, 1, 2, {"body": {"$foo": 1}}]}));
        match &err {
            ValueError::InvalidFieldName { path, name, source } => {
                assert_eq!(path.to_string(), ".messages[3].body");
                assert_eq!(name, "$foo");
                assert_eq!(*source, crate::FieldNameError::StartsWithDollar);
            }
            other => panic!("unexpected {other}"),
        }
        // A special key next to other keys is just an invalid field name.
        let err = decode_err(json!({"$bytes": "AQID", "x": 1}));
        assert!(matches!(err, ValueError::InvalidFieldName { .. }), "{err}");
        let err = decode_err(json!({"$undefined": 1}));
        assert!(matches!(err, ValueError::InvalidFieldName { .. }), "{err}");
    }

    #[test]
    fn legacy_and_js_only_markers_are_rejected() {
        assert!(matches!(
            decode_err(json!({"$set": []})),
            ValueError::UnsupportedLegacyType { kind: "Set", .. }
        ));
        assert!(matches!(
            decode_err(json!({"$map": []})),
            ValueError::UnsupportedLegacyType { kind: "Map", .. }
        ));
        assert!(matches!(
            decode_err(json!({"$undefined": null})),
            ValueError::Undefined { .. }
        ));
        assert!(matches!(
            decode_err(json!([{"$undefined": null}])),
            ValueError::Undefined { .. }
        ));
        assert!(matches!(
            decode_err(json!({"$commitTs": null})),
            ValueError::CommitTsPlaceholder { .. }
        ));
    }

    #[test]
    fn invalid_field_names_are_rejected() {
        let err = decode_err(json!({"a\u{e9}": 1}));
        assert!(matches!(err, ValueError::InvalidFieldName { .. }), "{err}");
        let long = "x".repeat(1025);
        assert!(matches!(
            decode_err(json!({ long: 1 })),
            ValueError::InvalidFieldName { .. }
        ));
    }

    #[test]
    fn nesting_is_limited() {
        let mut ok = json!(null);
        for _ in 0..MAX_VALUE_NESTING {
            ok = json!([ok]);
        }
        assert!(Value::from_json(&ok).is_ok());
        let err = decode_err(json!({ "a": ok }));
        assert!(matches!(err, ValueError::TooDeep { max: 64, .. }), "{err}");
    }

    #[test]
    fn field_count_is_limited() {
        let wide: Map<String, JsonValue> = (0..=MAX_OBJECT_FIELDS)
            .map(|i| (format!("f{i}"), json!(null)))
            .collect();
        let err = decode_err(JsonValue::Object(wide));
        assert!(
            matches!(err, ValueError::TooManyFields { count: 1025, .. }),
            "{err}"
        );
    }

    #[test]
    fn invalid_text_is_rejected() {
        assert!(matches!(
            Value::from_json_text("{"),
            Err(ValueError::InvalidJsonText(_))
        ));
        assert_eq!(
            Value::from_json_text("[1]").unwrap(),
            Value::Array(vec![Value::Float64(1.0)])
        );
    }

    #[test]
    fn maybe_undefined_maps_the_marker_to_none() {
        assert_eq!(
            decode_maybe_undefined(&json!({"$undefined": null})).unwrap(),
            None
        );
        assert_eq!(
            decode_maybe_undefined(&json!(null)).unwrap(),
            Some(Value::Null)
        );
        // Only at the top level.
        assert!(decode_maybe_undefined(&json!([{"$undefined": null}])).is_err());
    }

    #[test]
    fn patch_fields_may_be_undefined_at_the_top_level_only() {
        let fields = decode_patch_fields(&json!({"a": {"$undefined": null}, "b": 1})).unwrap();
        assert_eq!(fields.get("a"), Some(&None));
        assert_eq!(fields.get("b"), Some(&Some(Value::Float64(1.0))));
        assert!(decode_patch_fields(&json!({"a": {"b": {"$undefined": null}}})).is_err());
        assert!(decode_patch_fields(&json!({"$a": 1})).is_err());
        assert!(decode_patch_fields(&json!([1])).is_err());
    }
}
