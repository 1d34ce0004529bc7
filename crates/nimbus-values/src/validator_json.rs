//! Validator JSON (npm `ValidatorJSON`, what `exportArgs()` / `exportReturns()` / a schema's
//! `documentType` emit) ⇄ [`Validator`].
//!
//! ```text
//! {type: "null"|"number"|"bigint"|"boolean"|"string"|"bytes"|"any"}
//! {type: "literal", value: <convex-encoded>}      {type: "id", tableName}
//! {type: "array", value: V}                       {type: "union", value: [V…]}
//! {type: "record", keys: V, values: {fieldType: V, optional: false}}
//! {type: "object", value: {name: {fieldType: V, optional: bool}}}
//! ```
//!
//! The legacy `map` and `set` types mean `v.any()`, as in the backend. Record keys follow the
//! backend's rules: a subtype of `v.string()`, without string literals, and values may not be
//! optional. `commitTs` (npm 1.48's `v.commitTs()`-style placeholder type) has no value that
//! could match it here, so it is rejected with an explanation. Unknown extra keys are ignored,
//! as serde does in the backend. Nesting is capped at [`MAX_VALIDATOR_NESTING`].

use std::collections::BTreeMap;

use serde_json::{Map, Value as JsonValue, json};

use crate::error::{FieldNameError, ValueError};
use crate::field_name::validate_field_name;
use crate::json_decode::json_type_name;
use crate::path::{PathSegment, ValuePath};
use crate::validator::{FieldValidator, LiteralValue, ObjectValidator, Presence, Validator};
use crate::value::Value;

/// Deepest nesting of validators (`v.array(v.array(...))`). Matches the value nesting limit:
/// a deeper validator could only describe values that can never be stored or sent.
pub const MAX_VALIDATOR_NESTING: usize = 64;

/// Why validator JSON was rejected. `path` is the JSON location of the bad part, such as
/// `.value.author.fieldType`.
#[derive(Debug, thiserror::Error)]
pub enum ValidatorParseError {
    /// Something other than a JSON object where a validator or field was expected.
    #[error(
        "expected a validator object at {path} but found {found}; validators look like {{\"type\": \"string\"}}"
    )]
    NotAnObject {
        /// Where.
        path: ValuePath,
        /// The JSON type found.
        found: &'static str,
    },
    /// A required key is missing or has the wrong JSON type.
    #[error("validator at {path} needs key `{key}` holding {expected}")]
    BadKey {
        /// The object lacking the key.
        path: ValuePath,
        /// The key.
        key: &'static str,
        /// What it must hold.
        expected: &'static str,
    },
    /// A `type` this server does not know.
    #[error(
        "unknown validator type {type_name:?} at {path}; expected one of null, number, bigint, boolean, string, bytes, any, literal, id, array, record, object, union"
    )]
    UnknownType {
        /// Where.
        path: ValuePath,
        /// The unknown type.
        type_name: String,
    },
    /// `{type: "commitTs"}`: no stored value can have this type.
    #[error(
        "validator type \"commitTs\" at {path} is not supported: commit timestamps are resolved to int64 at commit, so validate them with v.int64()"
    )]
    CommitTsUnsupported {
        /// Where.
        path: ValuePath,
    },
    /// A literal whose value does not decode.
    #[error("literal validator at {path} has an invalid value: {source}")]
    InvalidLiteral {
        /// Where.
        path: ValuePath,
        /// Why it does not decode.
        #[source]
        source: ValueError,
    },
    /// A literal of a type that cannot be a literal.
    #[error(
        "literal validator at {path} holds {found}; literals must be a string, number, bigint or boolean"
    )]
    LiteralType {
        /// Where.
        path: ValuePath,
        /// The type found.
        found: &'static str,
    },
    /// An object validator with an invalid field name.
    #[error("invalid field name {name:?} in object validator at {path}: {source}")]
    InvalidFieldName {
        /// The object validator.
        path: ValuePath,
        /// The name.
        name: String,
        /// Why it is invalid.
        #[source]
        source: FieldNameError,
    },
    /// Record keys that are not strings (backend short code `InvalidRecordType`).
    #[error(
        "Records can only have string keys. Your validator contains a record with key typed as `{keys}`, which is not a subtype of `v.string()` (at {path})"
    )]
    RecordKeysNotStrings {
        /// The record validator.
        path: ValuePath,
        /// The key validator, described.
        keys: String,
    },
    /// Record keys including string literals (backend short code `InvalidRecordType`).
    #[error("Records cannot have string literal keys (at {path})")]
    RecordLiteralKeys {
        /// The record validator.
        path: ValuePath,
    },
    /// Record values marked optional (backend short code `InvalidRecordType`).
    #[error("Records cannot have optional values (at {path})")]
    RecordOptionalValues {
        /// The record validator.
        path: ValuePath,
    },
    /// Validators nested beyond [`MAX_VALIDATOR_NESTING`].
    #[error("validator at {path} is nested deeper than the limit of {max}; flatten the validator")]
    TooDeep {
        /// Where the limit was crossed.
        path: ValuePath,
        /// The limit.
        max: usize,
    },
}

impl Validator {
    /// Parses validator JSON (see the module docs for the accepted forms).
    pub fn from_json(json: &JsonValue) -> Result<Validator, ValidatorParseError> {
        parse(json, &mut ValuePath::root(), 0)
    }

    /// The validator JSON `exportArgs()` would emit for this validator.
    pub fn to_json(&self) -> JsonValue {
        match self {
            Validator::Null => json!({"type": "null"}),
            Validator::Float64 => json!({"type": "number"}),
            Validator::Int64 => json!({"type": "bigint"}),
            Validator::Boolean => json!({"type": "boolean"}),
            Validator::String => json!({"type": "string"}),
            Validator::Bytes => json!({"type": "bytes"}),
            Validator::Any => json!({"type": "any"}),
            Validator::Literal(literal) => {
                json!({"type": "literal", "value": literal.to_value().to_json()})
            }
            Validator::Id(table) => json!({"type": "id", "tableName": table}),
            Validator::Array(element) => json!({"type": "array", "value": element.to_json()}),
            Validator::Record { keys, values } => json!({
                "type": "record",
                "keys": keys.to_json(),
                "values": {"fieldType": values.to_json(), "optional": false},
            }),
            Validator::Object(object) => json!({"type": "object", "value": object.fields_json()}),
            Validator::Union(members) => json!({
                "type": "union",
                "value": members.iter().map(Validator::to_json).collect::<Vec<_>>(),
            }),
        }
    }
}

impl ObjectValidator {
    /// Parses the `value` of an object validator: `{name: {fieldType, optional}}`.
    pub fn from_fields_json(json: &JsonValue) -> Result<ObjectValidator, ValidatorParseError> {
        parse_fields(json, &mut ValuePath::root(), 0)
    }

    /// The `value` of this object validator's JSON: `{name: {fieldType, optional}}`.
    pub fn fields_json(&self) -> JsonValue {
        let fields: Map<String, JsonValue> = self
            .fields
            .iter()
            .map(|(name, field)| (name.clone(), field_json(field)))
            .collect();
        JsonValue::Object(fields)
    }
}

fn field_json(field: &FieldValidator) -> JsonValue {
    json!({
        "fieldType": field.validator.to_json(),
        "optional": field.presence == Presence::Optional,
    })
}

fn parse(
    json: &JsonValue,
    path: &mut ValuePath,
    depth: usize,
) -> Result<Validator, ValidatorParseError> {
    if depth >= MAX_VALIDATOR_NESTING {
        return Err(ValidatorParseError::TooDeep {
            path: path.clone(),
            max: MAX_VALIDATOR_NESTING,
        });
    }
    let map = as_object(json, path)?;
    let type_name = string_key(map, "type", path)?;
    let validator = match type_name {
        "null" => Validator::Null,
        "number" => Validator::Float64,
        "bigint" => Validator::Int64,
        "boolean" => Validator::Boolean,
        "string" => Validator::String,
        "bytes" => Validator::Bytes,
        "any" | "map" | "set" => Validator::Any,
        "literal" => Validator::Literal(parse_literal(map, path)?),
        "id" => Validator::Id(string_key(map, "tableName", path)?.to_owned()),
        "array" => {
            let element = with_key(map, "value", path, |json, path| {
                parse(json, path, depth + 1)
            })?;
            Validator::Array(Box::new(element))
        }
        "record" => parse_record(map, path, depth)?,
        "object" => Validator::Object(with_key(map, "value", path, |json, path| {
            parse_fields(json, path, depth + 1)
        })?),
        "union" => parse_union(map, path, depth)?,
        "commitTs" => {
            return Err(ValidatorParseError::CommitTsUnsupported { path: path.clone() });
        }
        other => {
            return Err(ValidatorParseError::UnknownType {
                path: path.clone(),
                type_name: other.to_owned(),
            });
        }
    };
    Ok(validator)
}

fn parse_literal(
    map: &Map<String, JsonValue>,
    path: &mut ValuePath,
) -> Result<LiteralValue, ValidatorParseError> {
    with_key(map, "value", path, |json, path| {
        let value =
            Value::from_json(json).map_err(|source| ValidatorParseError::InvalidLiteral {
                path: path.clone(),
                source,
            })?;
        LiteralValue::from_value(&value).ok_or_else(|| ValidatorParseError::LiteralType {
            path: path.clone(),
            found: crate::value_display::type_name(Some(&value)),
        })
    })
}

fn parse_union(
    map: &Map<String, JsonValue>,
    path: &mut ValuePath,
    depth: usize,
) -> Result<Validator, ValidatorParseError> {
    let Some(JsonValue::Array(items)) = map.get("value") else {
        return Err(ValidatorParseError::BadKey {
            path: path.clone(),
            key: "value",
            expected: "an array of validators",
        });
    };
    with_key(map, "value", path, |_, path| {
        let mut members = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            path.push(PathSegment::Index(index));
            members.push(parse(item, path, depth + 1)?);
            path.pop();
        }
        Ok(Validator::Union(members))
    })
}

fn parse_record(
    map: &Map<String, JsonValue>,
    path: &mut ValuePath,
    depth: usize,
) -> Result<Validator, ValidatorParseError> {
    let keys = with_key(map, "keys", path, |json, path| parse(json, path, depth + 1))?;
    if !is_string_subtype(&keys) {
        return Err(ValidatorParseError::RecordKeysNotStrings {
            path: path.clone(),
            keys: keys.describe(),
        });
    }
    if contains_string_literal(&keys) {
        return Err(ValidatorParseError::RecordLiteralKeys { path: path.clone() });
    }
    let values = with_key(map, "values", path, |json, path| {
        parse_field(json, path, depth + 1)
    })?;
    if values.presence == Presence::Optional {
        return Err(ValidatorParseError::RecordOptionalValues { path: path.clone() });
    }
    Ok(Validator::Record {
        keys: Box::new(keys),
        values: Box::new(values.validator),
    })
}

/// Whether every value `validator` accepts is a string (the backend's `is_subset(v.string())`).
fn is_string_subtype(validator: &Validator) -> bool {
    match validator {
        Validator::String | Validator::Id(_) | Validator::Literal(LiteralValue::String(_)) => true,
        Validator::Union(members) => members.iter().all(is_string_subtype),
        Validator::Null
        | Validator::Float64
        | Validator::Int64
        | Validator::Boolean
        | Validator::Bytes
        | Validator::Any
        | Validator::Literal(_)
        | Validator::Array(_)
        | Validator::Record { .. }
        | Validator::Object(_) => false,
    }
}

fn contains_string_literal(validator: &Validator) -> bool {
    match validator {
        Validator::Literal(LiteralValue::String(_)) => true,
        Validator::Union(members) => members.iter().any(contains_string_literal),
        _ => false,
    }
}

fn parse_fields(
    json: &JsonValue,
    path: &mut ValuePath,
    depth: usize,
) -> Result<ObjectValidator, ValidatorParseError> {
    let map = as_object(json, path)?;
    let mut fields = BTreeMap::new();
    for (name, field) in map {
        validate_field_name(name).map_err(|source| ValidatorParseError::InvalidFieldName {
            path: path.clone(),
            name: name.clone(),
            source,
        })?;
        path.push(PathSegment::Field(name.clone()));
        fields.insert(name.clone(), parse_field(field, path, depth)?);
        path.pop();
    }
    Ok(ObjectValidator { fields })
}

/// `{fieldType: V, optional: bool}`.
fn parse_field(
    json: &JsonValue,
    path: &mut ValuePath,
    depth: usize,
) -> Result<FieldValidator, ValidatorParseError> {
    let map = as_object(json, path)?;
    let optional = map
        .get("optional")
        .and_then(JsonValue::as_bool)
        .ok_or_else(|| ValidatorParseError::BadKey {
            path: path.clone(),
            key: "optional",
            expected: "a boolean",
        })?;
    let validator = with_key(map, "fieldType", path, |json, path| {
        parse(json, path, depth)
    })?;
    let presence = if optional {
        Presence::Optional
    } else {
        Presence::Required
    };
    Ok(FieldValidator {
        validator,
        presence,
    })
}

/// Runs `parse` on `map[key]` with the path extended by `key`.
fn with_key<T>(
    map: &Map<String, JsonValue>,
    key: &'static str,
    path: &mut ValuePath,
    parse: impl FnOnce(&JsonValue, &mut ValuePath) -> Result<T, ValidatorParseError>,
) -> Result<T, ValidatorParseError> {
    let json = map.get(key).ok_or_else(|| ValidatorParseError::BadKey {
        path: path.clone(),
        key,
        expected: "a value",
    })?;
    path.push(PathSegment::Field(key.to_owned()));
    let parsed = parse(json, path)?;
    path.pop();
    Ok(parsed)
}

fn string_key<'a>(
    map: &'a Map<String, JsonValue>,
    key: &'static str,
    path: &ValuePath,
) -> Result<&'a str, ValidatorParseError> {
    map.get(key)
        .and_then(JsonValue::as_str)
        .ok_or_else(|| ValidatorParseError::BadKey {
            path: path.clone(),
            key,
            expected: "a string",
        })
}

fn as_object<'a>(
    json: &'a JsonValue,
    path: &ValuePath,
) -> Result<&'a Map<String, JsonValue>, ValidatorParseError> {
    json.as_object()
        .ok_or_else(|| ValidatorParseError::NotAnObject {
            path: path.clone(),
            found: json_type_name(json),
        })
}
