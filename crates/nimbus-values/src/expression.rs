//! Convex filter expressions (`SerializedQuery` `{filter: Expr}` operators, spec §4.6), as the
//! npm `filter_builder_impl.ts` serializes them:
//!
//! ```text
//! Expr = {$eq|$neq|$lt|$lte|$gt|$gte|$add|$sub|$mul|$div|$mod: [Expr, Expr]}
//!      | {$neg: Expr} | {$not: Expr} | {$and: [Expr…]} | {$or: [Expr…]}
//!      | {$field: "a.b"} | {$literal: convex-encoded or {"$undefined": null}}
//! ```
//!
//! Parsing bounds nesting ([`MAX_EXPRESSION_NESTING`]) and size ([`MAX_EXPRESSION_NODES`]),
//! which also bounds the recursion of evaluation (in `expression_eval.rs`).

use serde_json::{Map, Value as JsonValue};

use crate::expression_error::ExpressionError;
use crate::field_name::validate_field_name;
use crate::json_decode::decode_maybe_undefined;
use crate::path::{PathSegment, ValuePath};
use crate::value::MaybeValue;

/// Deepest nesting of filter expressions. The npm filter builder makes `and`/`or` variadic, so
/// real filters are shallow; 64 matches the value nesting limit.
pub const MAX_EXPRESSION_NESTING: usize = 64;

/// Most nodes (operators, fields, literals) in one filter expression. Every document scanned is
/// evaluated against the whole expression, so this bounds per-document work; 16 384 still
/// allows an `or` of thousands of `eq`s.
pub const MAX_EXPRESSION_NODES: usize = 16_384;

/// A filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expression {
    /// A comparison under the total order (`undefined` first); evaluates to a Boolean.
    Compare(Comparison, Box<Expression>, Box<Expression>),
    /// Arithmetic on two Int64s or two Float64s.
    Arithmetic(ArithmeticOp, Box<Expression>, Box<Expression>),
    /// `-x` on an Int64 or Float64.
    Neg(Box<Expression>),
    /// `!x` on a Boolean.
    Not(Box<Expression>),
    /// All operands true (true when empty); stops at the first false.
    And(Vec<Expression>),
    /// Any operand true (false when empty); stops at the first true.
    Or(Vec<Expression>),
    /// The document's value at a field path; `undefined` (`None`) when absent.
    Field(FieldPath),
    /// A constant, possibly `undefined`.
    Literal(MaybeValue),
}

/// The comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `$eq`
    Eq,
    /// `$neq`
    Neq,
    /// `$lt`
    Lt,
    /// `$lte`
    Lte,
    /// `$gt`
    Gt,
    /// `$gte`
    Gte,
}

/// The arithmetic operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithmeticOp {
    /// `$add`
    Add,
    /// `$sub`
    Sub,
    /// `$mul`
    Mul,
    /// `$div`
    Div,
    /// `$mod`
    Mod,
}

/// A dotted path into nested objects (`"author.name"`), as `q.field(...)` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    segments: Vec<String>,
}

impl FieldPath {
    /// Parses `"a.b.c"`; every segment must be a non-empty valid field name.
    pub fn parse(text: &str) -> Result<FieldPath, ExpressionError> {
        parse_field_path(text, &ValuePath::root())
    }

    /// The field names, outermost first.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }
}

impl Comparison {
    const ALL: [Comparison; 6] = [
        Comparison::Eq,
        Comparison::Neq,
        Comparison::Lt,
        Comparison::Lte,
        Comparison::Gt,
        Comparison::Gte,
    ];

    /// The JSON key of the operator (`"$eq"`).
    pub fn key(self) -> &'static str {
        match self {
            Comparison::Eq => "$eq",
            Comparison::Neq => "$neq",
            Comparison::Lt => "$lt",
            Comparison::Lte => "$lte",
            Comparison::Gt => "$gt",
            Comparison::Gte => "$gte",
        }
    }
}

impl ArithmeticOp {
    const ALL: [ArithmeticOp; 5] = [
        ArithmeticOp::Add,
        ArithmeticOp::Sub,
        ArithmeticOp::Mul,
        ArithmeticOp::Div,
        ArithmeticOp::Mod,
    ];

    /// The JSON key of the operator (`"$add"`).
    pub fn key(self) -> &'static str {
        match self {
            ArithmeticOp::Add => "$add",
            ArithmeticOp::Sub => "$sub",
            ArithmeticOp::Mul => "$mul",
            ArithmeticOp::Div => "$div",
            ArithmeticOp::Mod => "$mod",
        }
    }
}

impl Expression {
    /// Parses a serialized filter expression.
    pub fn from_json(json: &JsonValue) -> Result<Expression, ExpressionError> {
        let mut parser = Parser {
            path: ValuePath::root(),
            depth: 0,
            nodes: 0,
        };
        parser.parse(json)
    }
}

/// Parsing state: where we are (for errors), how deep, and how many nodes we have seen.
struct Parser {
    path: ValuePath,
    depth: usize,
    nodes: usize,
}

impl Parser {
    fn parse(&mut self, json: &JsonValue) -> Result<Expression, ExpressionError> {
        if self.depth >= MAX_EXPRESSION_NESTING {
            return Err(ExpressionError::TooDeep {
                path: self.path.clone(),
                max: MAX_EXPRESSION_NESTING,
            });
        }
        self.nodes += 1;
        if self.nodes > MAX_EXPRESSION_NODES {
            return Err(ExpressionError::TooLarge {
                max: MAX_EXPRESSION_NODES,
            });
        }
        let (key, operand) =
            single_entry(json).ok_or_else(|| ExpressionError::NotAnExpression {
                path: self.path.clone(),
                found: describe_json(json),
            })?;
        self.path.push(PathSegment::Field(key.clone()));
        self.depth += 1;
        let expression = self.parse_operator(key, operand)?;
        self.depth -= 1;
        self.path.pop();
        Ok(expression)
    }

    fn parse_operator(
        &mut self,
        key: &str,
        operand: &JsonValue,
    ) -> Result<Expression, ExpressionError> {
        if let Some(op) = Comparison::ALL.into_iter().find(|op| op.key() == key) {
            let (left, right) = self.parse_pair(op.key(), operand)?;
            return Ok(Expression::Compare(op, left, right));
        }
        if let Some(op) = ArithmeticOp::ALL.into_iter().find(|op| op.key() == key) {
            let (left, right) = self.parse_pair(op.key(), operand)?;
            return Ok(Expression::Arithmetic(op, left, right));
        }
        match key {
            "$neg" => Ok(Expression::Neg(Box::new(self.parse(operand)?))),
            "$not" => Ok(Expression::Not(Box::new(self.parse(operand)?))),
            "$and" => Ok(Expression::And(self.parse_list("$and", operand)?)),
            "$or" => Ok(Expression::Or(self.parse_list("$or", operand)?)),
            "$field" => {
                let text = operand
                    .as_str()
                    .ok_or_else(|| ExpressionError::BadOperands {
                        path: self.path.clone(),
                        operator: "$field",
                        expected: "a string such as \"author.name\"",
                    })?;
                Ok(Expression::Field(parse_field_path(text, &self.path)?))
            }
            "$literal" => decode_maybe_undefined(operand)
                .map(Expression::Literal)
                .map_err(|source| ExpressionError::InvalidLiteral {
                    path: self.path.clone(),
                    source,
                }),
            other => Err(ExpressionError::UnknownOperator {
                path: self.path.clone(),
                operator: other.to_owned(),
            }),
        }
    }

    /// The operands of a two-operand operator: `[Expr, Expr]`.
    fn parse_pair(
        &mut self,
        operator: &'static str,
        operand: &JsonValue,
    ) -> Result<(Box<Expression>, Box<Expression>), ExpressionError> {
        let Some([left, right]) = operand.as_array().map(Vec::as_slice) else {
            return Err(ExpressionError::BadOperands {
                path: self.path.clone(),
                operator,
                expected: "an array of 2 expressions",
            });
        };
        let left = self.parse_at(0, left)?;
        let right = self.parse_at(1, right)?;
        Ok((Box::new(left), Box::new(right)))
    }

    fn parse_list(
        &mut self,
        operator: &'static str,
        operand: &JsonValue,
    ) -> Result<Vec<Expression>, ExpressionError> {
        let items = operand
            .as_array()
            .ok_or_else(|| ExpressionError::BadOperands {
                path: self.path.clone(),
                operator,
                expected: "an array of expressions",
            })?;
        items
            .iter()
            .enumerate()
            .map(|(index, item)| self.parse_at(index, item))
            .collect()
    }

    fn parse_at(&mut self, index: usize, json: &JsonValue) -> Result<Expression, ExpressionError> {
        self.path.push(PathSegment::Index(index));
        let expression = self.parse(json)?;
        self.path.pop();
        Ok(expression)
    }
}

fn single_entry(json: &JsonValue) -> Option<(&String, &JsonValue)> {
    let map: &Map<String, JsonValue> = json.as_object()?;
    match map.len() {
        1 => map.iter().next(),
        _ => None,
    }
}

fn describe_json(json: &JsonValue) -> String {
    match json.as_object() {
        Some(map) => format!("an object with {} keys", map.len()),
        None => crate::json_decode::json_type_name(json).to_owned(),
    }
}

fn parse_field_path(text: &str, path: &ValuePath) -> Result<FieldPath, ExpressionError> {
    let mut segments = Vec::new();
    for segment in text.split('.') {
        if segment.is_empty() {
            return Err(ExpressionError::EmptyFieldPathSegment {
                path: path.clone(),
                field_path: text.to_owned(),
            });
        }
        validate_field_name(segment).map_err(|source| ExpressionError::InvalidFieldPath {
            path: path.clone(),
            field_path: text.to_owned(),
            segment: segment.to_owned(),
            source,
        })?;
        segments.push(segment.to_owned());
    }
    Ok(FieldPath { segments })
}
