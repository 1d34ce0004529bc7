//! `QuerySpec`: a parsed query — table, index range, order, filter, limit.

use nimbus_storage::Order;
use nimbus_values::Expression;

use crate::index_keys::RangeExpr;

/// Where a query reads from.
#[derive(Debug, Clone, PartialEq)]
pub enum QuerySource {
    /// Every document of the table, in `_creationTime` order (`by_creation_time`).
    FullTableScan,
    /// A range of a named index (`by_id`, `by_creation_time` or declared).
    IndexRange {
        /// Index name (without the table prefix).
        index: String,
        /// Range expressions.
        range: Vec<RangeExpr>,
    },
}

/// One step applied, in order, to the documents the source yields.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryOperator {
    /// Keep documents for which the expression is `true`.
    Filter(Expression),
    /// Stop after this many documents have passed this step.
    Limit(usize),
}

/// A query over one table.
#[derive(Debug, Clone, PartialEq)]
pub struct QuerySpec {
    /// Table name.
    pub table: String,
    /// Source.
    pub source: QuerySource,
    /// Ascending or descending index order.
    pub order: Order,
    /// Filters and limits, applied in order.
    pub operators: Vec<QueryOperator>,
}

impl QuerySpec {
    /// A full scan of `table` in ascending creation order.
    pub fn table(table: &str) -> Self {
        Self {
            table: table.into(),
            source: QuerySource::FullTableScan,
            order: Order::Asc,
            operators: Vec::new(),
        }
    }

    /// A range of `index` on `table`.
    pub fn index(table: &str, index: &str, range: Vec<RangeExpr>) -> Self {
        Self {
            source: QuerySource::IndexRange {
                index: index.into(),
                range,
            },
            ..Self::table(table)
        }
    }

    /// Sets the order.
    pub fn order(mut self, order: Order) -> Self {
        self.order = order;
        self
    }

    /// Adds a filter.
    pub fn filter(mut self, filter: Expression) -> Self {
        self.operators.push(QueryOperator::Filter(filter));
        self
    }

    /// Sets the limit.
    pub fn limit(mut self, limit: usize) -> Self {
        self.operators.push(QueryOperator::Limit(limit));
        self
    }

    /// The index the query reads.
    pub fn index_name(&self) -> &str {
        match &self.source {
            QuerySource::FullTableScan => "by_creation_time",
            QuerySource::IndexRange { index, .. } => index,
        }
    }

    /// The range expressions.
    pub fn range(&self) -> &[RangeExpr] {
        match &self.source {
            QuerySource::FullTableScan => &[],
            QuerySource::IndexRange { range, .. } => range,
        }
    }
}
