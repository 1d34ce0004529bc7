//! The state of one open query: the range still to fetch from storage, a buffer of fetched
//! documents, the operator pipeline's counters, and how far the caller has read — which is
//! exactly the interval recorded in the read set.

use std::collections::VecDeque;

use nimbus_storage::{KeyRange, Order};

use crate::catalog::IndexInfo;
use crate::document::Document;
use crate::error::EngineError;
use crate::query::spec::QueryOperator;
use crate::read_set::Interval;

/// Identifies an open query within a transaction (Convex's `queryId`).
pub type QueryId = u32;

/// What the pipeline decided about one document.
pub(crate) struct Verdict {
    pub(crate) pass: bool,
}

pub(crate) struct QueryStream {
    pub(crate) index: IndexInfo,
    pub(crate) table_number: u32,
    pub(crate) order: Order,
    /// The whole range this stream covers (after cursors are applied).
    pub(crate) range: Interval,
    /// The part not fetched from storage yet.
    pub(crate) unfetched: Interval,
    pub(crate) storage_done: bool,
    pub(crate) buffer: VecDeque<(Vec<u8>, Document)>,
    operators: Vec<QueryOperator>,
    passed: Vec<usize>,
    /// Key of the last document pulled through the pipeline.
    pub(crate) position: Option<Vec<u8>>,
    /// Every key of the range has been pulled.
    pub(crate) exhausted: bool,
    /// No further document can pass (a limit is saturated) or the range is exhausted.
    pub(crate) finished: bool,
}

impl QueryStream {
    pub(crate) fn new(
        index: IndexInfo,
        table_number: u32,
        order: Order,
        range: Interval,
        operators: Vec<QueryOperator>,
    ) -> Self {
        let passed = vec![0; operators.len()];
        let mut stream = Self {
            index,
            table_number,
            order,
            unfetched: range.clone(),
            range,
            storage_done: false,
            buffer: VecDeque::new(),
            operators,
            passed,
            position: None,
            exhausted: false,
            finished: false,
        };
        if stream.saturated() || stream.range.is_empty() {
            stream.finished = true;
            stream.exhausted = stream.range.is_empty();
        }
        stream
    }

    /// Whether a limit stage can pass nothing more.
    pub(crate) fn saturated(&self) -> bool {
        self.operators
            .iter()
            .zip(&self.passed)
            .any(|(op, passed)| matches!(op, QueryOperator::Limit(n) if passed >= n))
    }

    /// Runs one document through the operators.
    pub(crate) fn judge(&mut self, document: &Document) -> Result<Verdict, EngineError> {
        let mut object = None;
        for (i, op) in self.operators.iter().enumerate() {
            match op {
                QueryOperator::Filter(expression) => {
                    let object = object.get_or_insert_with(|| document.to_object());
                    let keep = expression
                        .matches(object)
                        .map_err(|e| EngineError::InvalidQuery(e.to_string()))?;
                    if !keep {
                        return Ok(Verdict { pass: false });
                    }
                }
                QueryOperator::Limit(n) => {
                    if self.passed[i] >= *n {
                        return Ok(Verdict { pass: false });
                    }
                    self.passed[i] += 1;
                }
            }
        }
        if self.saturated() {
            self.finished = true;
        }
        Ok(Verdict { pass: true })
    }

    /// The storage range of the next fetch.
    pub(crate) fn unfetched_range(&self) -> KeyRange {
        interval_to_range(&self.unfetched)
    }

    /// Records that storage returned a page ending at `last` (a full page) or the rest of the
    /// range (`None`); returns the interval that page covered.
    pub(crate) fn advance_fetch(&mut self, last: Option<&[u8]>) -> Interval {
        match last {
            None => {
                self.storage_done = true;
                self.unfetched.clone()
            }
            Some(last) => match self.order {
                Order::Asc => {
                    let mut next = last.to_vec();
                    next.push(0);
                    let covered = Interval {
                        start: self.unfetched.start.clone(),
                        end: Some(next.clone()),
                    };
                    self.unfetched.start = next;
                    covered
                }
                Order::Desc => {
                    let covered = Interval {
                        start: last.to_vec(),
                        end: self.unfetched.end.clone(),
                    };
                    self.unfetched.end = Some(last.to_vec());
                    covered
                }
            },
        }
    }

    /// The part of the range the caller has observed, for the read set.
    pub(crate) fn observed(&self) -> Option<Interval> {
        if self.exhausted {
            return Some(self.range.clone());
        }
        let position = self.position.as_ref()?;
        Some(match self.order {
            Order::Asc => {
                let mut end = position.clone();
                end.push(0);
                Interval {
                    start: self.range.start.clone(),
                    end: Some(end),
                }
            }
            Order::Desc => Interval {
                start: position.clone(),
                end: self.range.end.clone(),
            },
        })
    }

    /// Where the next page starts: for ascending order the first key not yet observed, for
    /// descending order the (exclusive) end of what is left. `None` when nothing is left.
    pub(crate) fn continue_position(&self) -> Option<Vec<u8>> {
        if self.exhausted {
            return None;
        }
        match (self.order, &self.position) {
            (Order::Asc, Some(p)) => {
                let mut next = p.clone();
                next.push(0);
                Some(next)
            }
            (Order::Desc, Some(p)) => Some(p.clone()),
            (Order::Asc, None) => Some(self.range.start.clone()),
            (Order::Desc, None) => self.range.end.clone(),
        }
    }
}

/// A normalised interval as a storage range.
pub(crate) fn interval_to_range(interval: &Interval) -> KeyRange {
    use std::ops::Bound;
    KeyRange::new(
        Bound::Included(interval.start.clone()),
        interval
            .end
            .clone()
            .map_or(Bound::Unbounded, Bound::Excluded),
    )
}
