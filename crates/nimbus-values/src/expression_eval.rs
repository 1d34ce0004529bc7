//! Evaluating filter expressions against a document, with the Convex backend's semantics
//! (`Expression::eval` in `crates/common/src/query.rs`):
//!
//! * `$field` reads nested objects along the path; a missing field, or a path through a
//!   non-object, is `undefined`.
//! * Comparisons use the total order of `order.rs` extended with `undefined` < `null`, so
//!   values of different types compare (by type) instead of failing.
//! * Arithmetic needs two Int64s or two Float64s; mixing them, or any other type, is an error.
//!   Int64 results wrap on overflow (the backend uses plain Rust operators, which wrap in its
//!   release builds); Int64 division or remainder by zero is an error (the backend would panic).
//!   Float64 follows IEEE 754 (`x / 0` is ±Infinity, `%` is JavaScript's remainder).
//! * `$and`/`$or` short-circuit, and every operand they look at must be a Boolean, as must the
//!   operand of `$not` and the result of a whole filter.

use std::cmp::Ordering;

use crate::expression::{ArithmeticOp, Comparison, Expression, FieldPath};
use crate::expression_error::ExpressionError;
use crate::value::{MaybeValue, Object, Value};
use crate::value_display::{render_maybe_value, type_name};

impl Expression {
    /// Evaluates the expression with `$field`s read from `document`.
    pub fn evaluate(&self, document: &Object) -> Result<MaybeValue, ExpressionError> {
        match self {
            Expression::Field(path) => Ok(read_field(document, path).cloned()),
            Expression::Literal(value) => Ok(value.clone()),
            Expression::Compare(comparison, left, right) => {
                let ordering = left.evaluate(document)?.cmp(&right.evaluate(document)?);
                Ok(Some(Value::Boolean(compare(*comparison, ordering))))
            }
            Expression::Arithmetic(op, left, right) => {
                let left = left.evaluate(document)?;
                let right = right.evaluate(document)?;
                arithmetic(*op, left, right).map(Some)
            }
            Expression::Neg(operand) => negate(operand.evaluate(document)?).map(Some),
            Expression::Not(operand) => {
                let value = as_boolean(operand.evaluate(document)?)?;
                Ok(Some(Value::Boolean(!value)))
            }
            Expression::And(operands) => {
                for operand in operands {
                    if !as_boolean(operand.evaluate(document)?)? {
                        return Ok(Some(Value::Boolean(false)));
                    }
                }
                Ok(Some(Value::Boolean(true)))
            }
            Expression::Or(operands) => {
                for operand in operands {
                    if as_boolean(operand.evaluate(document)?)? {
                        return Ok(Some(Value::Boolean(true)));
                    }
                }
                Ok(Some(Value::Boolean(false)))
            }
        }
    }

    /// Whether `document` passes this filter. The result must be a Boolean: any other result
    /// is an error, as in the backend's filter operator.
    pub fn matches(&self, document: &Object) -> Result<bool, ExpressionError> {
        as_boolean(self.evaluate(document)?)
    }
}

fn read_field<'a>(document: &'a Object, path: &FieldPath) -> Option<&'a Value> {
    let (first, rest) = path.segments().split_first()?;
    let mut value = document.get(first)?;
    for segment in rest {
        let Value::Object(object) = value else {
            return None;
        };
        value = object.get(segment)?;
    }
    Some(value)
}

fn as_boolean(value: MaybeValue) -> Result<bool, ExpressionError> {
    match value {
        Some(Value::Boolean(b)) => Ok(b),
        other => Err(ExpressionError::NotBoolean {
            value: render_maybe_value(other.as_ref()),
            value_type: type_name(other.as_ref()),
        }),
    }
}

/// `Option`'s order puts `None` (undefined) first, exactly as Convex orders it, so the
/// comparison is simply the order of the two `MaybeValue`s.
fn compare(comparison: Comparison, ordering: Ordering) -> bool {
    match comparison {
        Comparison::Eq => ordering == Ordering::Equal,
        Comparison::Neq => ordering != Ordering::Equal,
        Comparison::Lt => ordering == Ordering::Less,
        Comparison::Lte => ordering != Ordering::Greater,
        Comparison::Gt => ordering == Ordering::Greater,
        Comparison::Gte => ordering != Ordering::Less,
    }
}

/// The verb the backend's error messages use for each arithmetic operator.
fn operation_name(op: ArithmeticOp) -> &'static str {
    match op {
        ArithmeticOp::Add => "add",
        ArithmeticOp::Sub => "subtract",
        ArithmeticOp::Mul => "multiply",
        ArithmeticOp::Div => "divide",
        ArithmeticOp::Mod => "mod",
    }
}

fn arithmetic(
    op: ArithmeticOp,
    left: MaybeValue,
    right: MaybeValue,
) -> Result<Value, ExpressionError> {
    match (&left, &right) {
        (Some(Value::Int64(l)), Some(Value::Int64(r))) => int_arithmetic(op, *l, *r),
        (Some(Value::Float64(l)), Some(Value::Float64(r))) => {
            Ok(Value::Float64(float_arithmetic(op, *l, *r)))
        }
        _ => Err(ExpressionError::ArithmeticTypes {
            operation: operation_name(op),
            left: render_maybe_value(left.as_ref()),
            left_type: type_name(left.as_ref()),
            right: render_maybe_value(right.as_ref()),
            right_type: type_name(right.as_ref()),
        }),
    }
}

fn int_arithmetic(op: ArithmeticOp, l: i64, r: i64) -> Result<Value, ExpressionError> {
    let by_zero = || ExpressionError::DivisionByZero {
        operation: operation_name(op),
        left: l.to_string(),
    };
    let result = match op {
        ArithmeticOp::Add => l.wrapping_add(r),
        ArithmeticOp::Sub => l.wrapping_sub(r),
        ArithmeticOp::Mul => l.wrapping_mul(r),
        ArithmeticOp::Div | ArithmeticOp::Mod if r == 0 => return Err(by_zero()),
        // i64::MIN / -1 wraps to i64::MIN (and its remainder is 0) instead of trapping.
        ArithmeticOp::Div => l.wrapping_div(r),
        ArithmeticOp::Mod => l.wrapping_rem(r),
    };
    Ok(Value::Int64(result))
}

fn float_arithmetic(op: ArithmeticOp, l: f64, r: f64) -> f64 {
    match op {
        ArithmeticOp::Add => l + r,
        ArithmeticOp::Sub => l - r,
        ArithmeticOp::Mul => l * r,
        ArithmeticOp::Div => l / r,
        // Rust's `%` on floats is fmod, the same as JavaScript's `%`.
        ArithmeticOp::Mod => l % r,
    }
}

fn negate(value: MaybeValue) -> Result<Value, ExpressionError> {
    match value {
        // Negating i64::MIN wraps to itself, like the backend's release build.
        Some(Value::Int64(i)) => Ok(Value::Int64(i.wrapping_neg())),
        Some(Value::Float64(f)) => Ok(Value::Float64(-f)),
        other => Err(ExpressionError::Negate {
            value: render_maybe_value(other.as_ref()),
            value_type: type_name(other.as_ref()),
        }),
    }
}

#[cfg(test)]
mod tests;
