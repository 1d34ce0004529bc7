//! Serializable optimistic concurrency control: the classic anomalies are all rejected, and
//! transactions that do not overlap are not.

use std::collections::BTreeMap;

use nimbus_engine::{EngineError, QuerySpec, RangeExpr, RangeOp, TransactionMode};

use crate::support::{Provider, n, obj, s};

fn conflict(result: Result<u64, EngineError>) -> bool {
    matches!(result, Err(EngineError::RetryableConflict { .. }))
}

pub async fn lost_update_is_rejected(p: &Provider) {
    let engine = p.engine();
    let db = p.database(&engine, "lost-update").await;
    let (id, _) = db
        .run_mutation(async |tx| tx.insert("counters", obj(&[("v", n(0.0))])).await)
        .await
        .unwrap();
    let mut t1 = db.begin(TransactionMode::ReadWrite);
    let mut t2 = db.begin(TransactionMode::ReadWrite);
    for tx in [&mut t1, &mut t2] {
        let v = match tx.get(id).await.unwrap().unwrap().fields.get("v") {
            Some(nimbus_values::Value::Float64(v)) => *v,
            other => panic!("{other:?}"),
        };
        tx.patch(id, BTreeMap::from([("v".to_owned(), Some(n(v + 1.0)))]))
            .await
            .unwrap();
    }
    assert!(db.commit(t1).await.is_ok());
    assert!(
        conflict(db.commit(t2).await),
        "{}: the second increment must conflict",
        p.name
    );
}

pub async fn write_skew_is_rejected(p: &Provider) {
    let engine = p.engine();
    let db = p.database(&engine, "write-skew").await;
    let ((a, b), _) = db
        .run_mutation(async |tx| {
            let a = tx
                .insert("doctors", obj(&[("on_call", true.into())]))
                .await?;
            let b = tx
                .insert("doctors", obj(&[("on_call", true.into())]))
                .await?;
            Ok((a, b))
        })
        .await
        .unwrap();
    // Each transaction checks that the other doctor is on call, then leaves.
    let mut t1 = db.begin(TransactionMode::ReadWrite);
    let mut t2 = db.begin(TransactionMode::ReadWrite);
    assert!(t1.get(b).await.unwrap().is_some());
    assert!(t2.get(a).await.unwrap().is_some());
    t1.patch(
        a,
        BTreeMap::from([("on_call".to_owned(), Some(false.into()))]),
    )
    .await
    .unwrap();
    t2.patch(
        b,
        BTreeMap::from([("on_call".to_owned(), Some(false.into()))]),
    )
    .await
    .unwrap();
    assert!(db.commit(t1).await.is_ok());
    assert!(
        conflict(db.commit(t2).await),
        "{}: write skew must be rejected",
        p.name
    );
}

pub async fn phantom_insert_into_a_read_range_is_rejected(p: &Provider) {
    let engine = p.engine();
    let db = p.database(&engine, "phantom").await;
    db.set_schema(&serde_json::json!({
        "tables": [{ "tableName": "bookings", "indexes": [{ "indexDescriptor": "by_room", "fields": ["room"] }],
                     "documentType": { "type": "any" } }],
        "schemaValidation": true
    }))
    .await
    .unwrap();
    let room = |r: &str| {
        QuerySpec::index(
            "bookings",
            "by_room",
            vec![RangeExpr {
                op: RangeOp::Eq,
                field: "room".into(),
                value: Some(s(r)),
            }],
        )
    };
    let mut t1 = db.begin(TransactionMode::ReadWrite);
    assert!(t1.collect(&room("blue")).await.unwrap().is_empty());
    t1.insert("bookings", obj(&[("room", s("blue")), ("who", s("t1"))]))
        .await
        .unwrap();
    let mut t2 = db.begin(TransactionMode::ReadWrite);
    assert!(t2.collect(&room("blue")).await.unwrap().is_empty());
    t2.insert("bookings", obj(&[("room", s("blue")), ("who", s("t2"))]))
        .await
        .unwrap();
    assert!(db.commit(t2).await.is_ok());
    assert!(
        conflict(db.commit(t1).await),
        "{}: a phantom insert into a read range must conflict",
        p.name
    );
    let mut check = db.begin(TransactionMode::ReadOnly);
    assert_eq!(check.collect(&room("blue")).await.unwrap().len(), 1);
}

pub async fn disjoint_transactions_both_commit(p: &Provider) {
    let engine = p.engine();
    let db = p.database(&engine, "disjoint").await;
    db.set_schema(&serde_json::json!({
        "tables": [{ "tableName": "bookings", "indexes": [{ "indexDescriptor": "by_room", "fields": ["room"] }] }],
        "schemaValidation": false
    }))
    .await
    .unwrap();
    let room = |r: &str| {
        QuerySpec::index(
            "bookings",
            "by_room",
            vec![RangeExpr {
                op: RangeOp::Eq,
                field: "room".into(),
                value: Some(s(r)),
            }],
        )
    };
    let mut t1 = db.begin(TransactionMode::ReadWrite);
    t1.collect(&room("blue")).await.unwrap();
    t1.insert("bookings", obj(&[("room", s("blue"))]))
        .await
        .unwrap();
    let mut t2 = db.begin(TransactionMode::ReadWrite);
    t2.collect(&room("red")).await.unwrap();
    t2.insert("bookings", obj(&[("room", s("red"))]))
        .await
        .unwrap();
    assert!(db.commit(t2).await.is_ok());
    assert!(
        db.commit(t1).await.is_ok(),
        "{}: disjoint ranges must not conflict",
        p.name
    );
}

pub async fn concurrent_increments_all_land(p: &Provider) {
    let engine = p.engine();
    let db = p.database(&engine, "increments").await;
    let (id, _) = db
        .run_mutation(async |tx| tx.insert("counters", obj(&[("v", n(0.0))])).await)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..5 {
                // A hand-written retry loop: each attempt is begin → read → write → commit.
                loop {
                    let mut tx = db.begin(TransactionMode::ReadWrite);
                    let current = tx.get(id).await.unwrap().unwrap();
                    let Some(nimbus_values::Value::Float64(v)) = current.fields.get("v").cloned()
                    else {
                        panic!()
                    };
                    tx.patch(id, BTreeMap::from([("v".to_owned(), Some(n(v + 1.0)))]))
                        .await
                        .unwrap();
                    match db.commit(tx).await {
                        Ok(_) => break,
                        Err(e) if e.is_retryable() => tokio::task::yield_now().await,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut tx = db.begin(TransactionMode::ReadOnly);
    assert_eq!(
        tx.get(id).await.unwrap().unwrap().fields.get("v"),
        Some(&n(20.0)),
        "{}",
        p.name
    );
}
