//! Model-based property test: random sequences of transactions on the memory provider must
//! behave exactly like a plain in-memory map of documents.
//!
//! Each case runs up to ten transactions of one to four operations (writes, point reads, `by_n`
//! index ranges, full scans, counts and paginated walks). Every read is compared with what the
//! model predicts for the transaction's own view (snapshot plus its buffered writes); a
//! transaction is then either committed, making its staged model the new model, or dropped,
//! which must leave no trace. A final full comparison closes every case.

mod support;

use std::collections::BTreeMap;

use nimbus_engine::{
    Cursor, Database, Document, EngineError, QuerySpec, RangeExpr, RangeOp, Transaction,
    TransactionMode,
};
use nimbus_storage::Order;
use nimbus_values::DocumentId;
use proptest::prelude::*;

use support::{Provider, n, obj, s};

const TABLES: [&str; 2] = ["a", "b"];

/// Most pages one paginated walk may take before the test calls it a loop.
const PAGES_MAX: usize = 256;

/// One lower or upper bound on `n`.
#[derive(Debug, Clone, Copy)]
struct Bound {
    inclusive: bool,
    value: i32,
}

/// A `by_n` range: an equality, or optional lower and upper bounds.
#[derive(Debug, Clone, Copy)]
enum NRange {
    Eq(i32),
    Between {
        lower: Option<Bound>,
        upper: Option<Bound>,
    },
}

#[derive(Debug, Clone)]
enum Op {
    Insert {
        table: usize,
        n: i32,
        tag: String,
    },
    Patch {
        pick: usize,
        n: i32,
    },
    Replace {
        pick: usize,
        n: i32,
        tag: String,
    },
    Delete {
        pick: usize,
    },
    /// A delete of a document that does not exist (deleted or never committed).
    DeleteMissing {
        pick: usize,
    },
    Get {
        pick: usize,
        missing: bool,
    },
    ByN {
        table: usize,
        range: NRange,
        desc: bool,
        limit: Option<usize>,
    },
    Scan {
        table: usize,
        desc: bool,
        limit: Option<usize>,
    },
    Count {
        table: usize,
    },
    Paginate {
        table: usize,
        range: Option<NRange>,
        desc: bool,
        page_size: usize,
    },
}

#[derive(Debug, Clone)]
struct TxPlan {
    ops: Vec<Op>,
    commit: bool,
}

/// A document as the model knows it.
#[derive(Debug, Clone)]
struct ModelDoc {
    id: DocumentId,
    table: usize,
    creation_time: f64,
    n: i32,
    tag: String,
}

/// The expected state: live documents, and every id ever handed out (to pick missing ones).
#[derive(Debug, Clone, Default)]
struct Model {
    docs: BTreeMap<DocumentId, ModelDoc>,
    /// Every id the engine returned from `insert`, in order (deterministic picking).
    seen: Vec<DocumentId>,
}

impl Model {
    fn live(&self) -> Vec<DocumentId> {
        self.seen
            .iter()
            .filter(|id| self.docs.contains_key(id))
            .copied()
            .collect()
    }

    fn missing(&self) -> Vec<DocumentId> {
        self.seen
            .iter()
            .filter(|id| !self.docs.contains_key(id))
            .copied()
            .collect()
    }

    /// A table's documents in full-scan order: `(_creationTime, id)`.
    fn scan(&self, table: usize) -> Vec<&ModelDoc> {
        let mut docs: Vec<&ModelDoc> = self.docs.values().filter(|d| d.table == table).collect();
        docs.sort_by(|x, y| {
            x.creation_time
                .total_cmp(&y.creation_time)
                .then_with(|| x.id.internal_id().cmp(&y.id.internal_id()))
        });
        docs
    }

    /// A table's documents in `by_n` order `(n, _creationTime, id)`, restricted to `range`.
    fn by_n(&self, table: usize, range: Option<NRange>) -> Vec<&ModelDoc> {
        let mut docs: Vec<&ModelDoc> = self
            .scan(table)
            .into_iter()
            .filter(|d| range.is_none_or(|r| r.contains(d.n)))
            .collect();
        // Stable sort: equal `n` keeps the (_creationTime, id) order of the scan.
        docs.sort_by_key(|d| d.n);
        docs
    }
}

impl NRange {
    fn contains(self, n: i32) -> bool {
        match self {
            NRange::Eq(v) => n == v,
            NRange::Between { lower, upper } => {
                lower.is_none_or(|b| {
                    if b.inclusive {
                        n >= b.value
                    } else {
                        n > b.value
                    }
                }) && upper.is_none_or(|b| {
                    if b.inclusive {
                        n <= b.value
                    } else {
                        n < b.value
                    }
                })
            }
        }
    }

    fn exprs(self) -> Vec<RangeExpr> {
        let expr = |op, value: i32| RangeExpr {
            op,
            field: "n".into(),
            value: Some(n(f64::from(value))),
        };
        match self {
            NRange::Eq(v) => vec![expr(RangeOp::Eq, v)],
            NRange::Between { lower, upper } => {
                let mut exprs = Vec::new();
                if let Some(b) = lower {
                    exprs.push(expr(
                        if b.inclusive {
                            RangeOp::Gte
                        } else {
                            RangeOp::Gt
                        },
                        b.value,
                    ));
                }
                if let Some(b) = upper {
                    exprs.push(expr(
                        if b.inclusive {
                            RangeOp::Lte
                        } else {
                            RangeOp::Lt
                        },
                        b.value,
                    ));
                }
                exprs
            }
        }
    }
}

fn order(desc: bool) -> Order {
    if desc { Order::Desc } else { Order::Asc }
}

/// The model's answer in the requested order, cut to `limit`.
fn expected(mut docs: Vec<&ModelDoc>, desc: bool, limit: Option<usize>) -> Vec<&ModelDoc> {
    if desc {
        docs.reverse();
    }
    docs.truncate(limit.unwrap_or(usize::MAX));
    docs
}

fn assert_docs(actual: &[Document], expected: &[&ModelDoc], what: &str) {
    let actual_ids: Vec<DocumentId> = actual.iter().map(|d| d.id).collect();
    let expected_ids: Vec<DocumentId> = expected.iter().map(|d| d.id).collect();
    assert_eq!(actual_ids, expected_ids, "{what}: ids and order");
    for (doc, model) in actual.iter().zip(expected) {
        assert_doc(doc, model, what);
    }
}

fn assert_doc(doc: &Document, model: &ModelDoc, what: &str) {
    assert_eq!(doc.id, model.id, "{what}");
    assert_eq!(
        doc.creation_time,
        model.creation_time,
        "{what}: _creationTime of {}",
        model.id.encode()
    );
    let expected = obj(&[("n", n(f64::from(model.n))), ("tag", s(&model.tag))]);
    assert_eq!(
        doc.fields,
        expected,
        "{what}: fields of {}",
        model.id.encode()
    );
}

fn pick(ids: &[DocumentId], pick: usize) -> Option<DocumentId> {
    (!ids.is_empty()).then(|| ids[pick % ids.len()])
}

/// Walks every page of `spec` and returns the concatenation.
async fn paginate(tx: &mut Transaction, spec: &QuerySpec, page_size: usize) -> Vec<Document> {
    let mut all = Vec::new();
    let mut cursor: Option<Cursor> = None;
    for _ in 0..PAGES_MAX {
        let page = tx
            .query_page(spec, cursor.as_ref(), None, page_size, None)
            .await
            .unwrap();
        assert!(
            page.documents.len() <= page_size,
            "a page holds at most page_size documents"
        );
        all.extend(page.documents);
        if page.is_done {
            return all;
        }
        // Round-trip through the text form, as a client would.
        cursor = Some(Cursor::decode(&page.continue_cursor.encode()).unwrap());
    }
    panic!("pagination of {spec:?} did not finish within {PAGES_MAX} pages");
}

/// Applies one operation to the engine transaction and to the staged model, checking reads.
async fn apply(tx: &mut Transaction, staged: &mut Model, op: &Op) {
    let what = format!("{op:?}");
    match op {
        Op::Insert {
            table,
            n: value,
            tag,
        } => {
            let fields = obj(&[("n", n(f64::from(*value))), ("tag", s(tag))]);
            let id = tx.insert(TABLES[*table], fields).await.unwrap();
            // Read-your-writes gives the creation time the engine assigned.
            let doc = tx
                .get(id)
                .await
                .unwrap()
                .expect("an inserted document is visible to its transaction");
            let model = ModelDoc {
                id,
                table: *table,
                creation_time: doc.creation_time,
                n: *value,
                tag: tag.clone(),
            };
            assert_doc(&doc, &model, &what);
            staged.seen.push(id);
            staged.docs.insert(id, model);
        }
        Op::Patch { pick: p, n: value } => {
            let Some(id) = pick(&staged.live(), *p) else {
                return;
            };
            let changes = BTreeMap::from([("n".to_owned(), Some(n(f64::from(*value))))]);
            let updated = tx.patch(id, changes).await.unwrap();
            let model = staged.docs.get_mut(&id).unwrap();
            model.n = *value;
            assert_doc(&updated, model, &what);
        }
        Op::Replace {
            pick: p,
            n: value,
            tag,
        } => {
            let Some(id) = pick(&staged.live(), *p) else {
                return;
            };
            let updated = tx
                .replace(id, obj(&[("n", n(f64::from(*value))), ("tag", s(tag))]))
                .await
                .unwrap();
            let model = staged.docs.get_mut(&id).unwrap();
            model.n = *value;
            model.tag = tag.clone();
            assert_doc(&updated, model, &what);
        }
        Op::Delete { pick: p } => {
            let Some(id) = pick(&staged.live(), *p) else {
                return;
            };
            tx.delete(id).await.unwrap();
            staged.docs.remove(&id);
        }
        Op::DeleteMissing { pick: p } => {
            let Some(id) = pick(&staged.missing(), *p) else {
                return;
            };
            let err = tx.delete(id).await.unwrap_err();
            assert!(
                matches!(
                    err,
                    EngineError::DocumentNotFound {
                        operation: "Delete",
                        ..
                    }
                ),
                "{what}: {err}"
            );
        }
        Op::Get { pick: p, missing } => {
            let ids = if *missing {
                staged.missing()
            } else {
                staged.live()
            };
            let Some(id) = pick(&ids, *p) else { return };
            let got = tx.get(id).await.unwrap();
            match staged.docs.get(&id) {
                Some(model) => assert_doc(&got.expect("a live document reads back"), model, &what),
                None => assert!(got.is_none(), "{what}: a missing document reads as None"),
            }
        }
        Op::ByN {
            table,
            range,
            desc,
            limit,
        } => {
            let mut spec =
                QuerySpec::index(TABLES[*table], "by_n", range.exprs()).order(order(*desc));
            if let Some(limit) = limit {
                spec = spec.limit(*limit);
            }
            let docs = tx.collect(&spec).await.unwrap();
            assert_docs(
                &docs,
                &expected(staged.by_n(*table, Some(*range)), *desc, *limit),
                &what,
            );
        }
        Op::Scan { table, desc, limit } => {
            let mut spec = QuerySpec::table(TABLES[*table]).order(order(*desc));
            if let Some(limit) = limit {
                spec = spec.limit(*limit);
            }
            let docs = tx.collect(&spec).await.unwrap();
            assert_docs(&docs, &expected(staged.scan(*table), *desc, *limit), &what);
        }
        Op::Count { table } => {
            let count = tx.count(TABLES[*table]).await.unwrap();
            assert_eq!(count, staged.scan(*table).len() as u64, "{what}");
        }
        Op::Paginate {
            table,
            range,
            desc,
            page_size,
        } => {
            let (spec, model) = match range {
                Some(range) => (
                    QuerySpec::index(TABLES[*table], "by_n", range.exprs()),
                    staged.by_n(*table, Some(*range)),
                ),
                None => (QuerySpec::table(TABLES[*table]), staged.scan(*table)),
            };
            let docs = paginate(tx, &spec.order(order(*desc)), *page_size).await;
            assert_docs(&docs, &expected(model, *desc, None), &what);
        }
    }
}

/// Compares everything the database holds with the model, in a fresh read-only transaction.
async fn assert_matches(db: &Database, model: &Model, when: &str) {
    let mut tx = db.begin(TransactionMode::ReadOnly);
    for (table, name) in TABLES.iter().enumerate() {
        let docs = tx.collect(&QuerySpec::table(name)).await.unwrap();
        assert_docs(
            &docs,
            &model.scan(table),
            &format!("{when}: full scan of {name}"),
        );
        let docs = tx
            .collect(&QuerySpec::index(name, "by_n", Vec::new()))
            .await
            .unwrap();
        assert_docs(
            &docs,
            &model.by_n(table, None),
            &format!("{when}: by_n of {name}"),
        );
    }
    for id in &model.seen {
        assert_eq!(
            tx.get(*id).await.unwrap().is_some(),
            model.docs.contains_key(id),
            "{when}: get {}",
            id.encode()
        );
    }
}

async fn run_case(plans: Vec<TxPlan>) {
    let provider = Provider::memory();
    let engine = provider.engine();
    let db = provider.database(&engine, "model").await;
    let index = serde_json::json!([{ "indexDescriptor": "by_n", "fields": ["n"] }]);
    db.set_schema(&serde_json::json!({
        "tables": [{ "tableName": "a", "indexes": index }, { "tableName": "b", "indexes": index }],
        "schemaValidation": false
    }))
    .await
    .unwrap();
    let mut model = Model::default();
    for (i, plan) in plans.iter().enumerate() {
        let mut tx = db.begin(TransactionMode::ReadWrite);
        let mut staged = model.clone();
        for op in &plan.ops {
            apply(&mut tx, &mut staged, op).await;
        }
        if plan.commit {
            db.commit(tx).await.unwrap();
            model.docs = staged.docs;
        } else {
            drop(tx);
        }
        // Ids from an abandoned transaction stay in `seen`: they must read as missing.
        model.seen = staged.seen;
        assert_matches(
            &db,
            &model,
            &format!("after transaction {i} (commit: {})", plan.commit),
        )
        .await;
    }
}

fn n_value() -> impl Strategy<Value = i32> {
    0..8i32
}

fn bound() -> impl Strategy<Value = Bound> {
    (any::<bool>(), -1..9i32).prop_map(|(inclusive, value)| Bound { inclusive, value })
}

fn n_range() -> impl Strategy<Value = NRange> {
    prop_oneof![
        n_value().prop_map(NRange::Eq),
        (proptest::option::of(bound()), proptest::option::of(bound()))
            .prop_map(|(lower, upper)| NRange::Between { lower, upper }),
    ]
}

fn table() -> impl Strategy<Value = usize> {
    0..TABLES.len()
}

fn tag() -> impl Strategy<Value = String> {
    "[a-c]{0,3}"
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (table(), n_value(), tag()).prop_map(|(table, n, tag)| Op::Insert { table, n, tag }),
        2 => (any::<usize>(), n_value()).prop_map(|(pick, n)| Op::Patch { pick, n }),
        1 => (any::<usize>(), n_value(), tag()).prop_map(|(pick, n, tag)| Op::Replace { pick, n, tag }),
        2 => any::<usize>().prop_map(|pick| Op::Delete { pick }),
        1 => any::<usize>().prop_map(|pick| Op::DeleteMissing { pick }),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(pick, missing)| Op::Get { pick, missing }),
        3 => (table(), n_range(), any::<bool>(), proptest::option::of(0..5usize))
            .prop_map(|(table, range, desc, limit)| Op::ByN { table, range, desc, limit }),
        1 => (table(), any::<bool>(), proptest::option::of(0..5usize))
            .prop_map(|(table, desc, limit)| Op::Scan { table, desc, limit }),
        1 => table().prop_map(|table| Op::Count { table }),
        2 => (table(), proptest::option::of(n_range()), any::<bool>(), 1..5usize)
            .prop_map(|(table, range, desc, page_size)| Op::Paginate { table, range, desc, page_size }),
    ]
}

fn plans() -> impl Strategy<Value = Vec<TxPlan>> {
    let plan = (
        proptest::collection::vec(op(), 1..=4),
        proptest::bool::weighted(0.75),
    )
        .prop_map(|(ops, commit)| TxPlan { ops, commit });
    // At most 10 transactions of at most 4 operations: at most 40 operations per case (256
    // cases run in well under a second on the memory provider).
    proptest::collection::vec(plan, 1..=10)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_the_model(plans in plans()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(run_case(plans));
    }
}
