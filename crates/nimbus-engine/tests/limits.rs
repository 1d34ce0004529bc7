//! Limits: every named bound fails with a clear, classified error, and the failed mutation
//! changes nothing — neither the offending write nor anything else the transaction did.

mod support;

use std::collections::BTreeMap;

use nimbus_engine::{
    Database, Engine, EngineError, EngineLimits, QuerySpec, RangeExpr, RangeOp, TransactionMode,
};
use nimbus_values::{MAX_DOCUMENT_NESTING, MAX_DOCUMENT_SIZE_BYTES, Object, Value, ValueError};
use serde_json::json;

use support::{Provider, n, obj, s};

/// Small read and write limits so that tests reach them with a handful of documents.
const READ_MAX: u64 = 10;
const WRITTEN_MAX: u64 = 10;
const INDEX_FIELDS_MAX: usize = 3;

fn limits() -> EngineLimits {
    EngineLimits {
        documents_read_max: READ_MAX,
        documents_written_max: WRITTEN_MAX,
        index_fields_max: INDEX_FIELDS_MAX,
        ..EngineLimits::default()
    }
}

fn tag(value: &str) -> RangeExpr {
    RangeExpr {
        op: RangeOp::Eq,
        field: "tag".into(),
        value: Some(s(value)),
    }
}

/// A database whose `items` table has `by_tag` and `by_tag_n` indexes.
async fn setup(p: &Provider, engine: &Engine, name: &str) -> Database {
    let db = p.database(engine, name).await;
    db.set_schema(&json!({
        "tables": [{ "tableName": "items", "indexes": [
            { "indexDescriptor": "by_tag", "fields": ["tag"] },
            { "indexDescriptor": "by_tag_n", "fields": ["tag", "n"] }
        ] }],
        "schemaValidation": false
    }))
    .await
    .unwrap();
    db
}

/// Every document of `tag`, as `(id, n)` pairs in index order.
async fn tagged(db: &Database, value: &str) -> Vec<(String, Option<Value>)> {
    let mut tx = db.begin(TransactionMode::ReadOnly);
    let docs = tx
        .collect(&QuerySpec::index("items", "by_tag", vec![tag(value)]))
        .await
        .unwrap();
    docs.iter()
        .map(|d| (d.id.encode(), d.fields.get("n").cloned()))
        .collect()
}

/// Inserts `count` documents tagged `value` in one mutation.
async fn seed(db: &Database, value: &str, count: u64) {
    db.run_mutation(async |tx| {
        for i in 0..count {
            tx.insert("items", obj(&[("tag", s(value)), ("n", n(i as f64))]))
                .await?;
        }
        Ok(())
    })
    .await
    .unwrap();
}

fn nested(depth: usize) -> Value {
    (0..depth).fold(n(1.0), |inner, _| Value::Object(obj(&[("x", inner)])))
}

#[tokio::test]
async fn a_document_over_the_size_limit_is_rejected() {
    let p = Provider::memory();
    let engine = Engine::new(p.persistence.clone(), limits());
    let db = setup(&p, &engine, "size").await;
    seed(&db, "kept", 1).await;
    let before = tagged(&db, "kept").await;
    let big = || {
        obj(&[
            ("tag", s("big")),
            ("blob", s(&"x".repeat(MAX_DOCUMENT_SIZE_BYTES))),
        ])
    };
    let err = db
        .run_mutation(async |tx| {
            tx.insert("items", obj(&[("tag", s("big")), ("n", n(0.0))]))
                .await?;
            tx.insert("items", big()).await
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::Value(ValueError::DocumentTooLarge {
                max_bytes: MAX_DOCUMENT_SIZE_BYTES,
                ..
            })
        ),
        "{err}"
    );
    assert_eq!(err.code(), "BadValue");
    assert!(
        err.to_string()
            .contains(&format!("more than the limit of {MAX_DOCUMENT_SIZE_BYTES}")),
        "{err}"
    );
    assert!(
        tagged(&db, "big").await.is_empty(),
        "the earlier insert of the failed mutation is not committed"
    );
    // Growing an existing document past the limit fails the same way and leaves it intact.
    let id = before[0].0.clone();
    let err = db
        .run_mutation(async |tx| {
            let id = tx.normalize_id("items", &id).unwrap();
            let changes = BTreeMap::from([(
                "blob".to_owned(),
                Some(s(&"y".repeat(MAX_DOCUMENT_SIZE_BYTES))),
            )]);
            tx.patch(id, changes).await.map(|_| ())
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, EngineError::Value(ValueError::DocumentTooLarge { .. })),
        "{err}"
    );
    assert_eq!(tagged(&db, "kept").await, before);
}

#[tokio::test]
async fn a_document_nested_too_deep_is_rejected() {
    let p = Provider::memory();
    let engine = Engine::new(p.persistence.clone(), limits());
    let db = setup(&p, &engine, "nesting").await;
    seed(&db, "kept", 1).await;
    let before = tagged(&db, "kept").await;
    // The document object itself is one level, so MAX_DOCUMENT_NESTING - 1 more levels fit.
    db.run_mutation(async |tx| {
        tx.insert(
            "items",
            obj(&[
                ("tag", s("deep-ok")),
                ("v", nested(MAX_DOCUMENT_NESTING - 1)),
            ]),
        )
        .await
    })
    .await
    .unwrap();
    let err = db
        .run_mutation(async |tx| {
            tx.insert(
                "items",
                obj(&[("tag", s("deep")), ("v", nested(MAX_DOCUMENT_NESTING))]),
            )
            .await
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::Value(ValueError::TooDeep {
                max: MAX_DOCUMENT_NESTING,
                ..
            })
        ),
        "{err}"
    );
    assert_eq!(err.code(), "BadValue");
    assert!(
        err.to_string().contains(&format!(
            "nested deeper than the limit of {MAX_DOCUMENT_NESTING}"
        )),
        "{err}"
    );
    // Replacing an existing document with a too-deep one fails and leaves it intact.
    let id = before[0].0.clone();
    let err = db
        .run_mutation(async |tx| {
            let id = tx.normalize_id("items", &id).unwrap();
            tx.replace(
                id,
                obj(&[("tag", s("kept")), ("v", nested(MAX_DOCUMENT_NESTING))]),
            )
            .await
            .map(|_| ())
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, EngineError::Value(ValueError::TooDeep { .. })),
        "{err}"
    );
    assert!(tagged(&db, "deep").await.is_empty());
    assert_eq!(tagged(&db, "kept").await, before);
}

fn limit_exceeded(err: &EngineError, what: &str, limit: u64) {
    assert!(
        matches!(err, EngineError::LimitExceeded { what: w, limit: l, .. } if *w == what && *l == limit),
        "expected the {what} limit, got {err:?}"
    );
    assert_eq!(err.code(), "TransactionLimitExceeded");
    assert!(
        err.to_string().starts_with(&format!(
            "transaction limit exceeded: {what} (limit {limit});"
        )),
        "{err}"
    );
}

#[tokio::test]
async fn reading_too_many_documents_fails_the_transaction() {
    let p = Provider::memory();
    let engine = Engine::new(p.persistence.clone(), limits());
    let db = setup(&p, &engine, "reads").await;
    // Two seed mutations: one of READ_MAX + 2 documents would itself break the write limit.
    seed(&db, "a", READ_MAX / 2).await;
    seed(&db, "b", READ_MAX / 2 + 2).await;
    let mut tx = db.begin(TransactionMode::ReadOnly);
    // Exactly at the limit is allowed.
    let exact = tx
        .collect(&QuerySpec::table("items").limit(READ_MAX as usize))
        .await
        .unwrap();
    assert_eq!(exact.len() as u64, READ_MAX);
    let err = tx
        .collect(&QuerySpec::table("items").limit(1))
        .await
        .unwrap_err();
    limit_exceeded(&err, "documents read", READ_MAX);
    assert!(
        err.to_string()
            .contains("use an index, pagination or a smaller range"),
        "{err}"
    );
    // A full scan, a count and point reads all count.
    let mut tx = db.begin(TransactionMode::ReadOnly);
    limit_exceeded(
        &tx.collect(&QuerySpec::table("items")).await.unwrap_err(),
        "documents read",
        READ_MAX,
    );
    let mut tx = db.begin(TransactionMode::ReadOnly);
    limit_exceeded(
        &tx.count("items").await.unwrap_err(),
        "documents read",
        READ_MAX,
    );
    let ids: Vec<_> = exact.iter().map(|d| d.id).collect();
    let mut tx = db.begin(TransactionMode::ReadOnly);
    for id in &ids {
        tx.get(*id).await.unwrap();
    }
    limit_exceeded(
        &tx.get(ids[0]).await.unwrap_err(),
        "documents read",
        READ_MAX,
    );
    // A mutation that writes and then reads too much commits nothing.
    let (a, b) = (tagged(&db, "a").await, tagged(&db, "b").await);
    let err = db
        .run_mutation(async |tx| {
            tx.insert("items", obj(&[("tag", s("marker"))])).await?;
            let first = tx
                .collect(&QuerySpec::index("items", "by_tag", vec![tag("a")]))
                .await?;
            tx.delete(first[0].id).await?;
            tx.collect(&QuerySpec::table("items")).await
        })
        .await
        .unwrap_err();
    limit_exceeded(&err, "documents read", READ_MAX);
    assert!(tagged(&db, "marker").await.is_empty());
    assert_eq!(tagged(&db, "a").await, a);
    assert_eq!(tagged(&db, "b").await, b);
}

#[tokio::test]
async fn writing_too_many_documents_fails_the_mutation() {
    let p = Provider::memory();
    let engine = Engine::new(p.persistence.clone(), limits());
    let db = setup(&p, &engine, "writes").await;
    // Exactly at the limit is allowed.
    seed(&db, "a", WRITTEN_MAX).await;
    let before = tagged(&db, "a").await;
    let err = db
        .run_mutation(async |tx| {
            for i in 0..=WRITTEN_MAX {
                tx.insert("items", obj(&[("tag", s("over")), ("n", n(i as f64))]))
                    .await?;
            }
            Ok(())
        })
        .await
        .unwrap_err();
    limit_exceeded(&err, "documents written", WRITTEN_MAX);
    assert!(
        err.to_string()
            .contains("split the work across several mutations"),
        "{err}"
    );
    assert!(
        tagged(&db, "over").await.is_empty(),
        "none of the inserts before the failing one is committed"
    );
    // Patches and deletes count as writes too. (Ids come from outside the transaction: each
    // patch reads its document, and a query first would break the read limit instead.)
    let err = db
        .run_mutation(async |tx| {
            let ids: Vec<_> = before
                .iter()
                .map(|(id, _)| tx.normalize_id("items", id).unwrap())
                .collect();
            for id in &ids {
                tx.patch(*id, BTreeMap::from([("n".to_owned(), Some(n(-1.0)))]))
                    .await?;
            }
            tx.delete(ids[0]).await
        })
        .await
        .unwrap_err();
    limit_exceeded(&err, "documents written", WRITTEN_MAX);
    assert_eq!(
        tagged(&db, "a").await,
        before,
        "no patch of the failed mutation is committed"
    );
}

#[tokio::test]
async fn an_index_with_too_many_fields_is_refused() {
    let p = Provider::memory();
    let engine = Engine::new(p.persistence.clone(), limits());
    let db = setup(&p, &engine, "index-fields").await;
    seed(&db, "a", 2).await;
    let (catalog, schema) = (db.catalog(), db.schema().map(|s| s.json.clone()));
    let fields: Vec<String> = (0..=INDEX_FIELDS_MAX).map(|i| format!("f{i}")).collect();
    let err = db
        .set_schema(&json!({
            "tables": [
                { "tableName": "items", "indexes": [{ "indexDescriptor": "by_tag", "fields": ["tag"] }] },
                { "tableName": "wide", "indexes": [{ "indexDescriptor": "by_all", "fields": fields }] }
            ],
            "schemaValidation": false
        }))
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::InvalidSchema(_)), "{err:?}");
    assert_eq!(err.code(), "InvalidSchema");
    assert_eq!(
        err.to_string(),
        format!(
            "invalid schema: index wide.by_all must have 1 to {INDEX_FIELDS_MAX} fields, has {}",
            INDEX_FIELDS_MAX + 1
        )
    );
    // Nothing changed: no new table, the dropped index is still there, the old schema holds.
    assert_eq!(*db.catalog(), *catalog);
    assert!(db.catalog().index_by_name("items", "by_tag_n").is_some());
    assert_eq!(db.schema().map(|s| s.json.clone()), schema);
    assert_eq!(tagged(&db, "a").await.len(), 2);
    // Exactly at the limit is allowed.
    let fields: Vec<String> = (0..INDEX_FIELDS_MAX).map(|i| format!("f{i}")).collect();
    db.set_schema(&json!({ "tables": [{ "tableName": "wide", "indexes": [{ "indexDescriptor": "by_all", "fields": fields }] }], "schemaValidation": false }))
        .await
        .unwrap();
    assert!(db.catalog().index_by_name("wide", "by_all").is_some());
}

#[tokio::test]
async fn an_index_range_out_of_field_order_is_rejected() {
    let p = Provider::memory();
    let engine = Engine::new(p.persistence.clone(), limits());
    let db = setup(&p, &engine, "ranges").await;
    seed(&db, "a", 3).await;
    let before = tagged(&db, "a").await;
    let n_eq = RangeExpr {
        op: RangeOp::Eq,
        field: "n".into(),
        value: Some(n(1.0)),
    };
    let n_gt = RangeExpr {
        op: RangeOp::Gt,
        field: "n".into(),
        value: Some(n(0.0)),
    };
    let tag_gt = RangeExpr {
        op: RangeOp::Gt,
        field: "tag".into(),
        value: Some(s("a")),
    };
    let cases: [(Vec<RangeExpr>, &str); 4] = [
        (
            vec![n_eq.clone()],
            "eq(\"n\") is out of order: the next index field is \"tag\"",
        ),
        (
            vec![n_gt.clone()],
            "the bound on \"n\" must be on the next index field \"tag\"",
        ),
        (
            vec![tag_gt.clone(), n_eq.clone()],
            "eq(\"n\") comes after a range bound; equalities must come first",
        ),
        (
            vec![tag_gt.clone(), tag_gt.clone()],
            "more than one lower bound on \"tag\"",
        ),
    ];
    for (range, reason) in cases {
        let mut tx = db.begin(TransactionMode::ReadOnly);
        let err = tx
            .collect(&QuerySpec::index("items", "by_tag_n", range))
            .await
            .unwrap_err();
        assert!(
            matches!(err, EngineError::InvalidIndexRange { .. }),
            "{err:?}"
        );
        assert_eq!(err.code(), "InvalidIndexRange");
        assert_eq!(
            err.to_string(),
            format!("invalid index range on items.by_tag_n: {reason}")
        );
    }
    // Paginated reads check the range the same way, and a failing mutation writes nothing.
    let err = db
        .run_mutation(async |tx| {
            tx.insert("items", obj(&[("tag", s("marker"))])).await?;
            tx.query_page(
                &QuerySpec::index("items", "by_tag_n", vec![n_eq.clone()]),
                None,
                None,
                5,
                None,
            )
            .await
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, EngineError::InvalidIndexRange { .. }),
        "{err:?}"
    );
    assert!(tagged(&db, "marker").await.is_empty());
    assert_eq!(tagged(&db, "a").await, before);
    // The same range in field order works.
    let mut tx = db.begin(TransactionMode::ReadOnly);
    let ok = tx
        .collect(&QuerySpec::index("items", "by_tag_n", vec![tag("a"), n_gt]))
        .await
        .unwrap();
    assert_eq!(ok.len(), 2);
}

/// The engine's own `Object` must accept a value at the size limit's edge: the limit applies to
/// the whole document, so a document just under it is stored.
#[tokio::test]
async fn a_document_just_under_the_size_limit_is_stored() {
    let p = Provider::memory();
    let engine = Engine::new(p.persistence.clone(), limits());
    let db = setup(&p, &engine, "size-edge").await;
    let fields = |len: usize| obj(&[("blob", s(&"z".repeat(len)))]);
    // Object overhead: 2 bytes, plus name + 1, plus 2 + length for the string.
    let overhead = Object::new().size_bytes() + "blob".len() + 1 + 2;
    let fits = MAX_DOCUMENT_SIZE_BYTES - overhead;
    assert_eq!(fields(fits).size_bytes(), MAX_DOCUMENT_SIZE_BYTES);
    let (id, _) = db
        .run_mutation(async |tx| tx.insert("blobs", fields(fits)).await)
        .await
        .unwrap();
    let mut tx = db.begin(TransactionMode::ReadOnly);
    assert!(tx.get(id).await.unwrap().is_some());
    let err = db
        .run_mutation(async |tx| tx.insert("blobs", fields(fits + 1)).await)
        .await
        .unwrap_err();
    assert!(
        matches!(err, EngineError::Value(ValueError::DocumentTooLarge { .. })),
        "{err}"
    );
}

/// A query stops counting where it stops reading: `.first()` on a table of large documents
/// must not be charged for the rest of the storage page it prefetched (here 20 documents of
/// 900 kB, more than the 16 MiB bytes-read limit if all were counted).
#[tokio::test]
async fn a_limited_query_counts_only_the_documents_it_reaches() {
    let p = Provider::memory();
    let engine = p.engine();
    let db = p.database(&engine, "prefetch").await;
    for _ in 0..2 {
        db.run_mutation(async |tx| {
            for _ in 0..10 {
                tx.insert("blobs", obj(&[("blob", s(&"b".repeat(900_000)))]))
                    .await?;
            }
            Ok(())
        })
        .await
        .unwrap();
    }
    let mut tx = db.begin(TransactionMode::ReadOnly);
    let first = tx
        .collect(&QuerySpec::table("blobs").limit(1))
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(tx.usage().documents_read, 1);
    let page = tx
        .query_page(&QuerySpec::table("blobs"), None, None, 2, None)
        .await
        .unwrap();
    assert_eq!(page.documents.len(), 2);
    assert_eq!(tx.usage().documents_read, 3);
    // Reading everything still hits the bytes limit, with its own message.
    let err = tx.collect(&QuerySpec::table("blobs")).await.unwrap_err();
    limit_exceeded(&err, "bytes read", EngineLimits::default().bytes_read_max);
}
