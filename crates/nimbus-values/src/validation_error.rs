//! Why a value does not match a validator, worded like the Convex backend's messages
//! (`crates/common/src/schemas/validator.rs`) so that developers see familiar text:
//!
//! ```text
//! Object is missing the required field `author`. Consider wrapping the field validator in `v.optional(...)` if this is expected.
//! Path: .message
//! Object: {body: "hi"}
//! Validator: v.object({author: v.string(), body: v.string()})
//! ```
//!
//! The `Path:` line is empty when the problem is at the top level, as in Convex. Two deliberate
//! differences: the one-line messages (wrong id table, literal mismatch) put `Path:` on its own
//! line instead of gluing it to the sentence, and a failed union lists why each member failed.

use crate::path::ValuePath;
use crate::validator::{LiteralValue, ObjectValidator, Validator};
use crate::value::{Object, Value};
use crate::value_display::render_value;

/// A value that does not match its validator: what is wrong and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", self.message())]
pub enum ValidationError {
    /// An object lacks a field its validator requires.
    MissingRequiredField {
        /// Where the object is.
        path: ValuePath,
        /// The missing field.
        field: String,
        /// The object as found.
        object: Object,
        /// Its validator.
        validator: ObjectValidator,
    },
    /// An object has a field its validator does not mention.
    ExtraField {
        /// Where the object is.
        path: ValuePath,
        /// The unexpected field.
        field: String,
        /// The object as found.
        object: Object,
        /// Its validator.
        validator: ObjectValidator,
    },
    /// A value of the wrong type (or a string that is not an id, or a union none of whose
    /// members accept the value).
    NoMatch {
        /// Where the value is.
        path: ValuePath,
        /// The value.
        value: Value,
        /// The validator it fails.
        validator: Validator,
        /// For a union, why each member rejected the value (in member order); else empty.
        union_failures: Vec<ValidationError>,
    },
    /// A value that is not the literal its validator requires.
    LiteralMismatch {
        /// Where the value is.
        path: ValuePath,
        /// The value.
        value: Value,
        /// The required literal.
        literal: LiteralValue,
    },
    /// An id of a document in another table than the validator's.
    WrongTable {
        /// Where the id is.
        path: ValuePath,
        /// The id text.
        id: String,
        /// The table it belongs to.
        found_table: String,
        /// The table `v.id(...)` names.
        expected_table: String,
    },
}

impl ValidationError {
    /// Where in the validated value the problem is.
    pub fn path(&self) -> &ValuePath {
        match self {
            ValidationError::MissingRequiredField { path, .. }
            | ValidationError::ExtraField { path, .. }
            | ValidationError::NoMatch { path, .. }
            | ValidationError::LiteralMismatch { path, .. }
            | ValidationError::WrongTable { path, .. } => path,
        }
    }

    /// The full, multi-line message (also the `Display` text).
    pub fn message(&self) -> String {
        let path_line = path_line(self.path());
        match self {
            ValidationError::MissingRequiredField {
                field,
                object,
                validator,
                ..
            } => format!(
                "Object is missing the required field `{field}`. Consider wrapping the field \
                 validator in `v.optional(...)` if this is expected.\n{path_line}\nObject: {}\n\
                 Validator: {}",
                render_value(&Value::Object(object.clone())),
                validator.describe()
            ),
            ValidationError::ExtraField {
                field,
                object,
                validator,
                ..
            } => format!(
                "Object contains extra field `{field}` that is not in the validator.\n\
                 {path_line}\nObject: {}\nValidator: {}",
                render_value(&Value::Object(object.clone())),
                validator.describe()
            ),
            ValidationError::NoMatch {
                value,
                validator,
                union_failures,
                ..
            } => {
                let mut message = format!(
                    "Value does not match validator.\n{path_line}\nValue: {}\nValidator: {}",
                    render_value(value),
                    validator.describe()
                );
                append_union_failures(&mut message, validator, union_failures);
                message
            }
            ValidationError::LiteralMismatch { value, literal, .. } => format!(
                "`{}` does not match literal validator `{}`.\n{path_line}",
                render_value(value),
                Validator::Literal(literal.clone()).describe()
            ),
            ValidationError::WrongTable {
                id,
                found_table,
                expected_table,
                ..
            } if found_table.starts_with('_') => format!(
                "Found ID \"{id}\" from a system table, which does not match the table name in \
                 validator `v.id(\"{expected_table}\")`.\n{path_line}"
            ),
            ValidationError::WrongTable {
                id,
                found_table,
                expected_table,
                ..
            } => format!(
                "Found ID \"{id}\" from table `{found_table}`, which does not match the table \
                 name in validator `v.id(\"{expected_table}\")`.\n{path_line}"
            ),
        }
    }

    /// The first line of the message, for summaries.
    fn headline(&self) -> String {
        let message = self.message();
        let first = message.lines().next().unwrap_or_default();
        match self.path().depth() {
            0 => first.to_owned(),
            _ => format!("{first} (Path: {})", self.path()),
        }
    }
}

/// `Path: .a.b`, or nothing at the top level (the backend's `ValidationContext`).
fn path_line(path: &ValuePath) -> String {
    match path.depth() {
        0 => String::new(),
        _ => format!("Path: {path}"),
    }
}

fn append_union_failures(
    message: &mut String,
    validator: &Validator,
    failures: &[ValidationError],
) {
    let Validator::Union(members) = validator else {
        return;
    };
    if failures.is_empty() {
        return;
    }
    message.push_str("\nNo member of the union matched:");
    for (member, failure) in members.iter().zip(failures) {
        message.push_str(&format!(
            "\n- {}: {}",
            member.describe(),
            failure.headline()
        ));
    }
}
