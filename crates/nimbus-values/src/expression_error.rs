//! Why a filter expression could not be parsed or evaluated.
//!
//! Parse errors name the JSON location of the bad part (`.$and[1].$eq`). Evaluation errors use
//! the Convex backend's wording (`crates/common/src/query.rs`, short code `EvalError`), for
//! example `Cannot add "a" (type String) and 1.0 (type Float64)`; they surface from the
//! `filter()` of the query as a user error, failing the whole query (a filter never silently
//! skips a document it cannot evaluate).

use crate::error::{FieldNameError, ValueError};
use crate::path::ValuePath;

/// Why a filter expression was rejected (parse) or failed (evaluation).
#[derive(Debug, thiserror::Error)]
pub enum ExpressionError {
    /// Not an object with exactly one `$operator` key.
    #[error(
        "expected a filter expression at {path} (an object with exactly one key such as \"$eq\" or \"$field\") but found {found}"
    )]
    NotAnExpression {
        /// Where.
        path: ValuePath,
        /// What was found instead.
        found: String,
    },
    /// An operator this server does not know.
    #[error(
        "unknown filter operator {operator:?} at {path}; expected one of $eq $neq $lt $lte $gt $gte $add $sub $mul $div $mod $neg $not $and $or $field $literal"
    )]
    UnknownOperator {
        /// Where.
        path: ValuePath,
        /// The operator.
        operator: String,
    },
    /// Operands of the wrong shape (`$eq` needs exactly two, `$field` a string, ...).
    #[error("operator {operator} at {path} needs {expected}")]
    BadOperands {
        /// Where.
        path: ValuePath,
        /// The operator.
        operator: &'static str,
        /// What it needs.
        expected: &'static str,
    },
    /// A `$field` path that is not a dotted list of valid field names.
    #[error(
        "invalid field path {field_path:?} at {path}: segment {segment:?} is not a valid field name ({source})"
    )]
    InvalidFieldPath {
        /// Where.
        path: ValuePath,
        /// The whole field path.
        field_path: String,
        /// The bad segment.
        segment: String,
        /// Why it is invalid.
        #[source]
        source: FieldNameError,
    },
    /// A `$field` path with an empty segment (`"a..b"`, `""`).
    #[error(
        "invalid field path {field_path:?} at {path}: field paths are field names joined by '.', without empty parts"
    )]
    EmptyFieldPathSegment {
        /// Where.
        path: ValuePath,
        /// The whole field path.
        field_path: String,
    },
    /// A `$literal` whose value does not decode.
    #[error("invalid $literal at {path}: {source}")]
    InvalidLiteral {
        /// Where.
        path: ValuePath,
        /// Why.
        #[source]
        source: ValueError,
    },
    /// Expressions nested beyond the limit.
    #[error(
        "filter expression at {path} is nested deeper than the limit of {max}; simplify the filter"
    )]
    TooDeep {
        /// Where the limit was crossed.
        path: ValuePath,
        /// The limit ([`crate::MAX_EXPRESSION_NESTING`]).
        max: usize,
    },
    /// More expression nodes than the limit.
    #[error("filter expression has more than {max} parts; use an index or split the query instead")]
    TooLarge {
        /// The limit ([`crate::MAX_EXPRESSION_NODES`]).
        max: usize,
    },
    /// Arithmetic on operands that are not both Int64 or both Float64.
    #[error("Cannot {operation} {left} (type {left_type}) and {right} (type {right_type})")]
    ArithmeticTypes {
        /// `add`, `subtract`, `multiply`, `divide` or `mod`.
        operation: &'static str,
        /// The left operand, rendered.
        left: String,
        /// Its type name (`Int64`, `String`, `undefined`, ...).
        left_type: &'static str,
        /// The right operand, rendered.
        right: String,
        /// Its type name.
        right_type: &'static str,
    },
    /// Int64 division or remainder by zero, which has no int64 result.
    #[error("Cannot {operation} {left} (type Int64) by zero")]
    DivisionByZero {
        /// `divide` or `mod`.
        operation: &'static str,
        /// The dividend, rendered.
        left: String,
    },
    /// `$neg` of something other than a number.
    #[error("Cannot negate {value} (type {value_type})")]
    Negate {
        /// The operand, rendered.
        value: String,
        /// Its type name.
        value_type: &'static str,
    },
    /// `$not`, `$and`, `$or` or a whole filter applied to a non-boolean.
    #[error("Cannot use value {value} (type {value_type}) as a Boolean")]
    NotBoolean {
        /// The value, rendered.
        value: String,
        /// Its type name.
        value_type: &'static str,
    },
}
