//! Parses Convex's `SerializedQuery` JSON (what `ctx.db.query(...)` sends in
//! `1.0/queryStream` and `1.0/queryPage`) into a [`QuerySpec`].
//!
//! ```text
//! { source: { type: "FullTableScan", tableName, order }
//!         | { type: "IndexRange", indexName: "table.index", range: [RangeExpr…], order },
//!   operators: [ {filter: Expr} | {limit: n} ] }
//! ```

use nimbus_storage::Order;
use nimbus_values::{Expression, decode_maybe_undefined};
use serde_json::Value as Json;

use crate::error::EngineError;
use crate::index_keys::{RangeExpr, RangeOp};
use crate::query::spec::{QueryOperator, QuerySource, QuerySpec};

/// Most operators one query may carry.
pub const QUERY_OPERATORS_MAX: usize = 256;

/// Parses a serialized query.
pub fn parse_serialized_query(json: &Json) -> Result<QuerySpec, EngineError> {
    let invalid = |what: String| EngineError::InvalidQuery(what);
    let source = &json["source"];
    let order = match source["order"].as_str() {
        None | Some("asc") => Order::Asc,
        Some("desc") => Order::Desc,
        Some(other) => return Err(invalid(format!("unknown order \"{other}\""))),
    };
    let (table, source) = match source["type"].as_str() {
        Some("FullTableScan") => {
            let table = source["tableName"]
                .as_str()
                .ok_or_else(|| invalid("FullTableScan without tableName".into()))?;
            (table.to_owned(), QuerySource::FullTableScan)
        }
        Some("IndexRange") => {
            let name = source["indexName"]
                .as_str()
                .ok_or_else(|| invalid("IndexRange without indexName".into()))?;
            let (table, index) = name.split_once('.').ok_or_else(|| {
                invalid(format!(
                    "index name \"{name}\" must look like \"table.index\""
                ))
            })?;
            let range = source["range"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(parse_range_expr)
                .collect::<Result<Vec<_>, _>>()?;
            (
                table.to_owned(),
                QuerySource::IndexRange {
                    index: index.to_owned(),
                    range,
                },
            )
        }
        Some("Search") => {
            return Err(invalid(
                "text search indexes are not supported yet; use an index range or a filter".into(),
            ));
        }
        other => return Err(invalid(format!("unknown query source {other:?}"))),
    };
    let operators_json = json["operators"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if operators_json.len() > QUERY_OPERATORS_MAX {
        return Err(invalid(format!(
            "more than {QUERY_OPERATORS_MAX} operators"
        )));
    }
    let mut operators = Vec::with_capacity(operators_json.len());
    for op in operators_json {
        if let Some(filter) = op.get("filter") {
            let expression =
                Expression::from_json(filter).map_err(|e| invalid(format!("bad filter: {e}")))?;
            operators.push(QueryOperator::Filter(expression));
        } else if let Some(limit) = op.get("limit") {
            let limit = limit
                .as_f64()
                .filter(|n| *n >= 0.0 && n.fract() == 0.0)
                .ok_or_else(|| invalid(format!("limit must be a whole number, got {limit}")))?;
            operators.push(QueryOperator::Limit(limit as usize));
        } else {
            return Err(invalid(format!("unknown operator {op}")));
        }
    }
    Ok(QuerySpec {
        table,
        source,
        order,
        operators,
    })
}

fn parse_range_expr(json: &Json) -> Result<RangeExpr, EngineError> {
    let op = match json["type"].as_str() {
        Some("Eq") => RangeOp::Eq,
        Some("Gt") => RangeOp::Gt,
        Some("Gte") => RangeOp::Gte,
        Some("Lt") => RangeOp::Lt,
        Some("Lte") => RangeOp::Lte,
        other => {
            return Err(EngineError::InvalidQuery(format!(
                "unknown range type {other:?}"
            )));
        }
    };
    let field = json["fieldPath"]
        .as_str()
        .ok_or_else(|| EngineError::InvalidQuery("range expression without fieldPath".into()))?
        .to_owned();
    let value = decode_maybe_undefined(&json["value"])?;
    Ok(RangeExpr { op, field, value })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_index_ranges_filters_and_limits() {
        let spec = parse_serialized_query(&json!({
            "source": { "type": "IndexRange", "indexName": "messages.by_channel",
                        "range": [{ "type": "Eq", "fieldPath": "channel", "value": "c1" }], "order": "desc" },
            "operators": [{ "filter": { "$eq": [{ "$field": "author" }, { "$literal": "x" }] } }, { "limit": 5 }]
        }))
        .unwrap();
        assert_eq!(spec.table, "messages");
        assert_eq!(spec.index_name(), "by_channel");
        assert_eq!(spec.order, Order::Desc);
        assert_eq!(spec.operators.len(), 2);
        assert!(matches!(spec.operators[1], QueryOperator::Limit(5)));
    }

    #[test]
    fn rejects_malformed_queries() {
        assert!(parse_serialized_query(&json!({ "source": { "type": "Nope" } })).is_err());
        assert!(
            parse_serialized_query(
                &json!({ "source": { "type": "IndexRange", "indexName": "noDot" } })
            )
            .is_err()
        );
        assert!(parse_serialized_query(&json!({ "source": { "type": "FullTableScan", "tableName": "t" }, "operators": [{ "limit": -1 }] })).is_err());
    }
}
