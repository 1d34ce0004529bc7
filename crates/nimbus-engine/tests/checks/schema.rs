//! Schemas: index backfill, validation on write, validation of existing data on change.

use nimbus_engine::{EngineError, QuerySpec, RangeExpr, RangeOp, TransactionMode};
use serde_json::json;

use crate::support::{Provider, n, obj, s};

pub async fn new_indexes_are_backfilled(p: &Provider) {
    let engine = p.engine();
    let db = p.database(&engine, "backfill").await;
    db.run_mutation(async |tx| {
        for i in 0..25 {
            tx.insert(
                "people",
                obj(&[("age", n((i % 5) as f64)), ("name", s(&format!("p{i}")))]),
            )
            .await?;
        }
        Ok(())
    })
    .await
    .unwrap();
    db.set_schema(&json!({ "tables": [{ "tableName": "people", "indexes": [{ "indexDescriptor": "by_age", "fields": ["age"] }] }], "schemaValidation": false }))
        .await
        .unwrap();
    let mut tx = db.begin(TransactionMode::ReadOnly);
    let three = tx
        .collect(&QuerySpec::index(
            "people",
            "by_age",
            vec![RangeExpr {
                op: RangeOp::Eq,
                field: "age".into(),
                value: Some(n(3.0)),
            }],
        ))
        .await
        .unwrap();
    assert_eq!(
        three.len(),
        5,
        "{}: every existing document is in the new index",
        p.name
    );
    // Removing the index from the schema drops it.
    db.set_schema(
        &json!({ "tables": [{ "tableName": "people", "indexes": [] }], "schemaValidation": false }),
    )
    .await
    .unwrap();
    let mut tx = db.begin(TransactionMode::ReadOnly);
    assert!(matches!(
        tx.collect(&QuerySpec::index("people", "by_age", vec![]))
            .await,
        Err(EngineError::IndexNotFound { .. })
    ));
}

pub async fn validation_rejects_bad_writes_and_bad_schema_changes(p: &Provider) {
    let engine = p.engine();
    let db = p.database(&engine, "validation").await;
    let schema = |extra_index: bool| {
        let indexes = if extra_index {
            json!([{ "indexDescriptor": "by_body", "fields": ["body"] }])
        } else {
            json!([])
        };
        json!({ "tables": [{ "tableName": "messages", "indexes": indexes, "documentType": {
            "type": "object", "value": {
                "body": { "fieldType": { "type": "string" }, "optional": false },
                "author": { "fieldType": { "type": "string" }, "optional": true }
            } } }], "schemaValidation": true })
    };
    db.set_schema(&schema(false)).await.unwrap();
    db.run_mutation(async |tx| tx.insert("messages", obj(&[("body", s("ok"))])).await)
        .await
        .unwrap();
    let err = db
        .run_mutation(async |tx| tx.insert("messages", obj(&[("body", n(1.0))])).await)
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::SchemaValidation { .. }), "{err}");
    assert!(
        err.to_string().contains("Value does not match validator"),
        "{err}"
    );
    // A schema that existing documents violate is refused and changes nothing.
    let strict = json!({ "tables": [{ "tableName": "messages", "indexes": [{ "indexDescriptor": "by_body", "fields": ["body"] }], "documentType": {
        "type": "object", "value": { "body": { "fieldType": { "type": "number" }, "optional": false } } } }], "schemaValidation": true });
    let err = db.set_schema(&strict).await.unwrap_err();
    assert!(matches!(err, EngineError::SchemaValidation { .. }), "{err}");
    assert!(
        db.catalog().index_by_name("messages", "by_body").is_none(),
        "a refused schema adds no index"
    );
    db.run_mutation(async |tx| {
        tx.insert("messages", obj(&[("body", s("still the old schema"))]))
            .await
    })
    .await
    .unwrap();
    db.set_schema(&schema(true)).await.unwrap();
    assert!(db.catalog().index_by_name("messages", "by_body").is_some());
}
