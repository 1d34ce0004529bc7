//! Index keys for documents and byte ranges for Convex index ranges.
//!
//! Every index key ends with the document's 16-byte internal id, which makes keys unique per
//! document and breaks ties in insertion-independent order:
//!
//! | index | key |
//! |---|---|
//! | `by_id` | internal id |
//! | `by_creation_time` | `encode_index_key([_creationTime])` ‖ internal id |
//! | declared `[f1, …, fn]` | `encode_index_key([f1, …, fn, _creationTime])` ‖ internal id |
//!
//! `encode_index_key` is order-preserving and prefix-free per element, so a Convex range
//! (equalities on a prefix of the fields, then at most one lower and one upper bound on the next
//! field) becomes one contiguous byte range.

use std::ops::Bound;

use nimbus_storage::KeyRange;
use nimbus_values::{MaybeValue, Value, encode_index_key, encode_value};

use crate::catalog::{FieldPath, IndexInfo, IndexKind};
use crate::document::Document;
use crate::error::EngineError;

/// The key of `document` in `index`.
pub fn index_key(index: &IndexInfo, document: &Document) -> Vec<u8> {
    let id = document.id.internal_id();
    let mut key = match &index.kind {
        IndexKind::ById => Vec::with_capacity(16),
        IndexKind::ByCreationTime => {
            encode_index_key(&[Some(Value::Float64(document.creation_time))])
        }
        IndexKind::Fields(fields) => {
            let mut values: Vec<MaybeValue> = fields.iter().map(|f| document.field(f)).collect();
            values.push(Some(Value::Float64(document.creation_time)));
            encode_index_key(&values)
        }
    };
    key.extend_from_slice(&id);
    key
}

/// The fields an index range may constrain, in order.
pub fn range_fields(index: &IndexInfo) -> Vec<FieldPath> {
    match &index.kind {
        IndexKind::ById => vec![vec!["_id".into()]],
        IndexKind::ByCreationTime => vec![vec!["_creationTime".into()]],
        IndexKind::Fields(fields) => {
            let mut all = fields.clone();
            all.push(vec!["_creationTime".into()]);
            all
        }
    }
}

/// One comparison of a Convex index range.
#[derive(Debug, Clone, PartialEq)]
pub enum RangeOp {
    /// `eq`
    Eq,
    /// `gt`
    Gt,
    /// `gte`
    Gte,
    /// `lt`
    Lt,
    /// `lte`
    Lte,
}

/// One expression of a Convex index range: `q.eq("author", "x")`.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeExpr {
    /// Comparison.
    pub op: RangeOp,
    /// Dotted field path.
    pub field: String,
    /// Value (`None` = undefined, i.e. the field is missing).
    pub value: MaybeValue,
}

/// Turns range expressions into the byte range they select in `index`.
pub fn key_range(index: &IndexInfo, exprs: &[RangeExpr]) -> Result<KeyRange, EngineError> {
    let fields: Vec<String> = range_fields(index).iter().map(|f| f.join(".")).collect();
    let invalid = |reason: String| EngineError::InvalidIndexRange {
        index: format!("{}.{}", index.table, index.name),
        reason,
    };
    let mut prefix = Vec::new();
    let mut position = 0;
    let mut lower: Option<(&RangeExpr, bool)> = None;
    let mut upper: Option<(&RangeExpr, bool)> = None;
    for expr in exprs {
        match expr.op {
            RangeOp::Eq => {
                if lower.is_some() || upper.is_some() {
                    return Err(invalid(format!(
                        "eq(\"{}\") comes after a range bound; equalities must come first",
                        expr.field
                    )));
                }
                let Some(expected) = fields.get(position) else {
                    return Err(invalid(format!(
                        "too many fields; the index has {}",
                        fields.len()
                    )));
                };
                if &expr.field != expected {
                    return Err(invalid(format!(
                        "eq(\"{}\") is out of order: the next index field is \"{expected}\"",
                        expr.field
                    )));
                }
                encode_key_part(index, position, &expr.value, &mut prefix)?;
                position += 1;
            }
            RangeOp::Gt | RangeOp::Gte | RangeOp::Lt | RangeOp::Lte => {
                let Some(expected) = fields.get(position) else {
                    return Err(invalid(format!(
                        "too many fields; the index has {}",
                        fields.len()
                    )));
                };
                if &expr.field != expected {
                    return Err(invalid(format!(
                        "the bound on \"{}\" must be on the next index field \"{expected}\"",
                        expr.field
                    )));
                }
                let is_lower = matches!(expr.op, RangeOp::Gt | RangeOp::Gte);
                let inclusive = matches!(expr.op, RangeOp::Gte | RangeOp::Lte);
                let slot = if is_lower { &mut lower } else { &mut upper };
                if slot.is_some() {
                    return Err(invalid(format!(
                        "more than one {} bound on \"{}\"",
                        if is_lower { "lower" } else { "upper" },
                        expr.field
                    )));
                }
                *slot = Some((expr, inclusive));
            }
        }
    }
    let bound_key = |expr: &RangeExpr| -> Result<Vec<u8>, EngineError> {
        let mut key = prefix.clone();
        encode_key_part(index, position, &expr.value, &mut key)?;
        Ok(key)
    };
    let start = match lower {
        None => Bound::Included(prefix.clone()),
        Some((expr, true)) => Bound::Included(bound_key(expr)?),
        Some((expr, false)) => match successor(&bound_key(expr)?) {
            Some(after) => Bound::Included(after),
            None => {
                return Ok(KeyRange::new(
                    Bound::Excluded(vec![]),
                    Bound::Excluded(vec![]),
                ));
            }
        },
    };
    let end = match upper {
        None => successor(&prefix).map_or(Bound::Unbounded, Bound::Excluded),
        Some((expr, false)) => Bound::Excluded(bound_key(expr)?),
        Some((expr, true)) => {
            successor(&bound_key(expr)?).map_or(Bound::Unbounded, Bound::Excluded)
        }
    };
    Ok(KeyRange::new(start, end))
}

fn encode_key_part(
    index: &IndexInfo,
    position: usize,
    value: &MaybeValue,
    out: &mut Vec<u8>,
) -> Result<(), EngineError> {
    if matches!(index.kind, IndexKind::ById) {
        // by_id keys are raw internal ids: an `_id` bound must be an id of this table.
        let Some(Value::String(text)) = value else {
            return Err(EngineError::InvalidId(
                "by_id ranges take document id strings".into(),
            ));
        };
        let id = nimbus_values::DocumentId::decode(text)
            .map_err(|e| EngineError::InvalidId(format!("invalid id \"{text}\": {e}")))?;
        out.extend_from_slice(&id.internal_id());
        return Ok(());
    }
    let _ = position;
    match value {
        Some(v) => encode_value(v, out),
        None => out.extend_from_slice(&encode_index_key(&[None])),
    }
    Ok(())
}

/// The smallest byte string greater than every string starting with `prefix`, if any.
pub fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut out = prefix.to_vec();
    while let Some(last) = out.pop() {
        if last < 0xFF {
            out.push(last + 1);
            return Some(out);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::IndexState;
    use nimbus_values::{DocumentId, Object, TableNumber};

    fn doc(author: &str, n: f64, creation: f64, id_byte: u8) -> Document {
        let mut fields = Object::new();
        fields
            .insert("author", Value::String(author.into()))
            .unwrap();
        fields.insert("n", Value::Float64(n)).unwrap();
        Document {
            id: DocumentId::new(TableNumber::new(10001).unwrap(), [id_byte; 16]),
            creation_time: creation,
            fields,
        }
    }

    fn index() -> IndexInfo {
        IndexInfo {
            id: 7,
            table: "m".into(),
            name: "by_author_n".into(),
            kind: IndexKind::Fields(vec![vec!["author".into()], vec!["n".into()]]),
            state: IndexState::Ready,
        }
    }

    fn expr(op: RangeOp, field: &str, value: Value) -> RangeExpr {
        RangeExpr {
            op,
            field: field.into(),
            value: Some(value),
        }
    }

    #[test]
    fn ranges_select_exactly_the_matching_keys() {
        let index = index();
        let docs = [
            doc("a", 1.0, 1.0, 1),
            doc("b", 1.0, 2.0, 2),
            doc("b", 5.0, 3.0, 3),
            doc("b", 9.0, 4.0, 4),
            doc("c", 0.0, 5.0, 5),
        ];
        let select = |exprs: &[RangeExpr]| -> Vec<u8> {
            let range = key_range(&index, exprs).unwrap();
            docs.iter()
                .filter(|d| range.contains(&index_key(&index, d)))
                .map(|d| d.id.internal_id()[0])
                .collect()
        };
        assert_eq!(
            select(&[expr(RangeOp::Eq, "author", Value::String("b".into()))]),
            vec![2, 3, 4]
        );
        assert_eq!(
            select(&[
                expr(RangeOp::Eq, "author", "b".into()),
                expr(RangeOp::Gt, "n", Value::Float64(1.0))
            ]),
            vec![3, 4]
        );
        assert_eq!(
            select(&[
                expr(RangeOp::Eq, "author", "b".into()),
                expr(RangeOp::Gte, "n", Value::Float64(1.0)),
                expr(RangeOp::Lte, "n", Value::Float64(5.0))
            ]),
            vec![2, 3]
        );
        assert_eq!(select(&[expr(RangeOp::Lt, "author", "b".into())]), vec![1]);
        assert_eq!(select(&[]), vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn out_of_order_ranges_are_rejected() {
        let index = index();
        assert!(key_range(&index, &[expr(RangeOp::Eq, "n", Value::Float64(1.0))]).is_err());
        assert!(
            key_range(
                &index,
                &[
                    expr(RangeOp::Gt, "author", "a".into()),
                    expr(RangeOp::Eq, "n", Value::Float64(1.0))
                ]
            )
            .is_err()
        );
        assert!(
            key_range(
                &index,
                &[
                    expr(RangeOp::Gt, "author", "a".into()),
                    expr(RangeOp::Gte, "author", "b".into())
                ]
            )
            .is_err()
        );
    }
}
