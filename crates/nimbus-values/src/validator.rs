//! Convex validators (`v.string()`, `v.object({...})`, ...): the types function arguments,
//! return values and schema documents must have (spec §4.10).
//!
//! Validators arrive as the JSON that `exportArgs()` / `exportReturns()` / a schema's
//! `documentType` emit; `validator_json.rs` parses and writes that form. This module holds the
//! model, its `v.…` description (used in error messages, spelled as the Convex backend spells
//! it, e.g. `v.float64()` for `v.number()`), and [`Validator::validate`]. The error type lives
//! in `validation_error.rs`.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use crate::id::{DocumentId, TableNumber};
use crate::path::{PathSegment, ValuePath};
use crate::validation_error::ValidationError;
use crate::value::{Object, Value};

/// A Convex validator.
#[derive(Debug, Clone, PartialEq)]
pub enum Validator {
    /// `v.null()`.
    Null,
    /// `v.number()` / `v.float64()` (JSON type `number`).
    Float64,
    /// `v.int64()` / `v.bigint()` (JSON type `bigint`).
    Int64,
    /// `v.boolean()`.
    Boolean,
    /// `v.string()`.
    String,
    /// `v.bytes()`.
    Bytes,
    /// `v.any()` (also what the legacy `map` and `set` types mean now).
    Any,
    /// `v.literal(x)`.
    Literal(LiteralValue),
    /// `v.id("table")`: a string that is an id of a document in that table.
    Id(String),
    /// `v.array(element)`.
    Array(Box<Validator>),
    /// `v.record(keys, values)`; keys are validated as strings.
    Record {
        /// Validator for every field name; only `v.string()`, `v.id(...)` and unions of them.
        keys: Box<Validator>,
        /// Validator for every field value.
        values: Box<Validator>,
    },
    /// `v.object({...})`.
    Object(ObjectValidator),
    /// `v.union(a, b, ...)`: at least one member must accept the value.
    Union(Vec<Validator>),
}

/// The value of a `v.literal(...)`: only these four types can be literals.
#[derive(Debug, Clone, PartialEq)]
pub enum LiteralValue {
    /// A JS number.
    Float64(f64),
    /// A JS bigint.
    Int64(i64),
    /// A JS boolean.
    Boolean(bool),
    /// A JS string.
    String(String),
}

/// The fields of a `v.object({...})`, by name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ObjectValidator {
    /// Each field's validator and whether it may be absent.
    pub fields: BTreeMap<String, FieldValidator>,
}

/// One field of an object validator.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldValidator {
    /// What the field's value must be.
    pub validator: Validator,
    /// Whether the field may be absent (`v.optional(...)`).
    pub presence: Presence,
}

/// Whether an object field must be present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// The field must be present.
    Required,
    /// The field may be absent (`v.optional(...)`); if present it must match.
    Optional,
}

/// Finds the name of the table a document id belongs to, so `v.id("t")` can check it.
pub trait IdTableResolver {
    /// The name of the table with this number, if there is one.
    fn table_name(&self, table_number: TableNumber) -> Option<String>;
}

/// The simple resolver: a map from table number to table name.
impl IdTableResolver for HashMap<TableNumber, String> {
    fn table_name(&self, table_number: TableNumber) -> Option<String> {
        self.get(&table_number).cloned()
    }
}

impl LiteralValue {
    /// The literal as a value.
    pub fn to_value(&self) -> Value {
        match self {
            LiteralValue::Float64(f) => Value::Float64(*f),
            LiteralValue::Int64(i) => Value::Int64(*i),
            LiteralValue::Boolean(b) => Value::Boolean(*b),
            LiteralValue::String(s) => Value::String(s.clone()),
        }
    }

    /// The literal for a value, if the value's type can be a literal.
    pub fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Float64(f) => Some(LiteralValue::Float64(*f)),
            Value::Int64(i) => Some(LiteralValue::Int64(*i)),
            Value::Boolean(b) => Some(LiteralValue::Boolean(*b)),
            Value::String(s) => Some(LiteralValue::String(s.clone())),
            Value::Null | Value::Bytes(_) | Value::Array(_) | Value::Object(_) => None,
        }
    }

    /// The literal as the backend shows it inside `v.literal(...)`: JSON for strings, booleans
    /// and finite numbers; `<bigint>` / `<number>` where JSON has no spelling.
    fn describe(&self) -> String {
        match self {
            LiteralValue::Float64(f) => serde_json::Number::from_f64(*f)
                .map_or_else(|| "<number>".to_owned(), |n| n.to_string()),
            LiteralValue::Int64(_) => "<bigint>".to_owned(),
            LiteralValue::Boolean(b) => b.to_string(),
            LiteralValue::String(s) => serde_json::Value::String(s.clone()).to_string(),
        }
    }
}

impl Validator {
    /// The validator in `v.…` notation, as error messages show it
    /// (`v.object({author: v.string(), body: v.optional(v.float64())})`).
    pub fn describe(&self) -> String {
        let mut out = String::new();
        self.write_description(&mut out);
        out
    }

    fn write_description(&self, out: &mut String) {
        match self {
            Validator::Null => out.push_str("v.null()"),
            Validator::Float64 => out.push_str("v.float64()"),
            Validator::Int64 => out.push_str("v.int64()"),
            Validator::Boolean => out.push_str("v.boolean()"),
            Validator::String => out.push_str("v.string()"),
            Validator::Bytes => out.push_str("v.bytes()"),
            Validator::Any => out.push_str("v.any()"),
            Validator::Literal(literal) => {
                let _ = write!(out, "v.literal({})", literal.describe());
            }
            Validator::Id(table) => {
                let _ = write!(out, "v.id(\"{table}\")");
            }
            Validator::Array(element) => {
                out.push_str("v.array(");
                element.write_description(out);
                out.push(')');
            }
            Validator::Record { keys, values } => {
                out.push_str("v.record(");
                keys.write_description(out);
                out.push_str(", ");
                values.write_description(out);
                out.push(')');
            }
            Validator::Object(object) => object.write_description(out),
            Validator::Union(members) => {
                out.push_str("v.union(");
                for (index, member) in members.iter().enumerate() {
                    if index > 0 {
                        out.push_str(", ");
                    }
                    member.write_description(out);
                }
                out.push(')');
            }
        }
    }

    /// Checks `value` against this validator. Ids are checked with `tables`: a `v.id("t")`
    /// accepts only a string that decodes as an id whose table number `tables` maps to `t`.
    /// The first failure is reported, with its path inside `value`.
    pub fn validate(
        &self,
        value: &Value,
        tables: &dyn IdTableResolver,
    ) -> Result<(), ValidationError> {
        self.check(value, tables, &mut ValuePath::root())
    }

    fn check(
        &self,
        value: &Value,
        tables: &dyn IdTableResolver,
        path: &mut ValuePath,
    ) -> Result<(), ValidationError> {
        let no_match = |path: &ValuePath| ValidationError::NoMatch {
            path: path.clone(),
            value: value.clone(),
            validator: self.clone(),
            union_failures: Vec::new(),
        };
        match (self, value) {
            (Validator::Any, _)
            | (Validator::Null, Value::Null)
            | (Validator::Float64, Value::Float64(_))
            | (Validator::Int64, Value::Int64(_))
            | (Validator::Boolean, Value::Boolean(_))
            | (Validator::String, Value::String(_))
            | (Validator::Bytes, Value::Bytes(_)) => Ok(()),
            (Validator::Literal(literal), value) => {
                // Value equality is the total order's: NaN matches NaN, -0 does not match 0.
                if literal.to_value() == *value {
                    Ok(())
                } else {
                    Err(ValidationError::LiteralMismatch {
                        path: path.clone(),
                        value: value.clone(),
                        literal: literal.clone(),
                    })
                }
            }
            (Validator::Id(table), Value::String(text)) => {
                check_id(table, text, tables, path).unwrap_or_else(|| Err(no_match(path)))
            }
            (Validator::Array(element), Value::Array(items)) => {
                for (index, item) in items.iter().enumerate() {
                    path.push(PathSegment::Index(index));
                    element.check(item, tables, path)?;
                    path.pop();
                }
                Ok(())
            }
            (Validator::Record { keys, values }, Value::Object(object)) => {
                for (name, field) in object {
                    // A bad key is reported at the field it names; the backend says `.keys()`.
                    path.push(PathSegment::Field(name.clone()));
                    keys.check(&Value::String(name.clone()), tables, path)?;
                    values.check(field, tables, path)?;
                    path.pop();
                }
                Ok(())
            }
            (Validator::Object(validator), Value::Object(object)) => {
                validator.check(object, tables, path)
            }
            (Validator::Union(members), value) => self.check_union(members, value, tables, path),
            (
                Validator::Null
                | Validator::Float64
                | Validator::Int64
                | Validator::Boolean
                | Validator::String
                | Validator::Bytes
                | Validator::Id(_)
                | Validator::Array(_)
                | Validator::Record { .. }
                | Validator::Object(_),
                _,
            ) => Err(no_match(path)),
        }
    }

    fn check_union(
        &self,
        members: &[Validator],
        value: &Value,
        tables: &dyn IdTableResolver,
        path: &mut ValuePath,
    ) -> Result<(), ValidationError> {
        // A one-member union is just its member, with the member's more precise error.
        if let [only] = members {
            return only.check(value, tables, path);
        }
        let mut union_failures = Vec::with_capacity(members.len());
        for member in members {
            // A failing member leaves its own segments on the path it was given.
            let mut member_path = path.clone();
            match member.check(value, tables, &mut member_path) {
                Ok(()) => return Ok(()),
                Err(error) => union_failures.push(error),
            }
        }
        Err(ValidationError::NoMatch {
            path: path.clone(),
            value: value.clone(),
            validator: self.clone(),
            union_failures,
        })
    }
}

/// `Some(result)` when `text` is an id of a known table; `None` when it is not an id at all or
/// its table is unknown (the caller reports a plain mismatch, as the backend does).
fn check_id(
    expected_table: &str,
    text: &str,
    tables: &dyn IdTableResolver,
    path: &ValuePath,
) -> Option<Result<(), ValidationError>> {
    let id = DocumentId::decode(text).ok()?;
    let found_table = tables.table_name(id.table_number())?;
    if found_table == expected_table {
        return Some(Ok(()));
    }
    Some(Err(ValidationError::WrongTable {
        path: path.clone(),
        id: text.to_owned(),
        found_table,
        expected_table: expected_table.to_owned(),
    }))
}

impl ObjectValidator {
    /// The object validator in `v.object({...})` notation.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        self.write_description(&mut out);
        out
    }

    fn write_description(&self, out: &mut String) {
        out.push_str("v.object({");
        for (index, (name, field)) in self.fields.iter().enumerate() {
            if index > 0 {
                out.push_str(", ");
            }
            out.push_str(name);
            out.push_str(": ");
            match field.presence {
                Presence::Required => field.validator.write_description(out),
                Presence::Optional => {
                    out.push_str("v.optional(");
                    field.validator.write_description(out);
                    out.push(')');
                }
            }
        }
        out.push_str("})");
    }

    fn check(
        &self,
        object: &Object,
        tables: &dyn IdTableResolver,
        path: &mut ValuePath,
    ) -> Result<(), ValidationError> {
        for (name, field) in &self.fields {
            match (object.get(name), field.presence) {
                (Some(value), _) => {
                    path.push(PathSegment::Field(name.clone()));
                    field.validator.check(value, tables, path)?;
                    path.pop();
                }
                (None, Presence::Optional) => {}
                (None, Presence::Required) => {
                    return Err(ValidationError::MissingRequiredField {
                        path: path.clone(),
                        field: name.clone(),
                        object: object.clone(),
                        validator: self.clone(),
                    });
                }
            }
        }
        if let Some(extra) = object
            .iter()
            .map(|(name, _)| name)
            .find(|name| !self.fields.contains_key(*name))
        {
            return Err(ValidationError::ExtraField {
                path: path.clone(),
                field: extra.clone(),
                object: object.clone(),
                validator: self.clone(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
