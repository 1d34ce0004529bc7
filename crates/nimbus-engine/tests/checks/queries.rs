//! Queries: index ranges, order, filters, limits, count, pagination, read-your-writes.

use nimbus_engine::{Cursor, QuerySpec, RangeExpr, RangeOp, TransactionMode};
use nimbus_storage::Order;
use nimbus_values::{Expression, Value};

use crate::support::{Provider, n, obj, s};

fn eq(field: &str, value: Value) -> RangeExpr {
    RangeExpr {
        op: RangeOp::Eq,
        field: field.into(),
        value: Some(value),
    }
}

fn bound(op: RangeOp, field: &str, value: Value) -> RangeExpr {
    RangeExpr {
        op,
        field: field.into(),
        value: Some(value),
    }
}

fn numbers(docs: &[nimbus_engine::Document]) -> Vec<f64> {
    docs.iter()
        .map(|d| match d.fields.get("n") {
            Some(Value::Float64(x)) => *x,
            other => panic!("{other:?}"),
        })
        .collect()
}

async fn seeded(p: &Provider, name: &str) -> nimbus_engine::Database {
    let engine = p.engine();
    let db = p.database(&engine, name).await;
    db.set_schema(&serde_json::json!({
        "tables": [{ "tableName": "items", "indexes": [
            { "indexDescriptor": "by_n", "fields": ["n"] },
            { "indexDescriptor": "by_group_n", "fields": ["group", "n"] }
        ] }],
        "schemaValidation": false
    }))
    .await
    .unwrap();
    db.run_mutation(async |tx| {
        for i in 0..10 {
            let group = if i % 2 == 0 { "even" } else { "odd" };
            tx.insert("items", obj(&[("n", n(i as f64)), ("group", s(group))]))
                .await?;
        }
        tx.insert("items", obj(&[("group", s("none"))])).await?;
        Ok(())
    })
    .await
    .unwrap();
    db
}

pub async fn index_ranges_order_filters_and_limits(p: &Provider) {
    let db = seeded(p, "queries").await;
    let mut tx = db.begin(TransactionMode::ReadOnly);
    let odd = tx
        .collect(&QuerySpec::index(
            "items",
            "by_group_n",
            vec![eq("group", s("odd"))],
        ))
        .await
        .unwrap();
    assert_eq!(numbers(&odd), vec![1.0, 3.0, 5.0, 7.0, 9.0], "{}", p.name);
    let range = QuerySpec::index(
        "items",
        "by_group_n",
        vec![
            eq("group", s("even")),
            bound(RangeOp::Gt, "n", n(2.0)),
            bound(RangeOp::Lte, "n", n(8.0)),
        ],
    )
    .order(Order::Desc);
    assert_eq!(
        numbers(&tx.collect(&range).await.unwrap()),
        vec![8.0, 6.0, 4.0]
    );
    let filtered = QuerySpec::index("items", "by_n", vec![bound(RangeOp::Gte, "n", n(3.0))])
        .filter(
            Expression::from_json(
                &serde_json::json!({ "$eq": [{ "$field": "group" }, { "$literal": "odd" }] }),
            )
            .unwrap(),
        )
        .limit(2);
    assert_eq!(
        numbers(&tx.collect(&filtered).await.unwrap()),
        vec![3.0, 5.0]
    );
    // A missing field is `undefined`, which sorts before every value.
    let all = tx
        .collect(&QuerySpec::index("items", "by_n", vec![]))
        .await
        .unwrap();
    assert_eq!(all.len(), 11);
    assert_eq!(all[0].fields.get("n"), None);
    let scan = tx
        .collect(&QuerySpec::table("items").order(Order::Desc).limit(1))
        .await
        .unwrap();
    assert_eq!(
        scan[0].fields.get("group"),
        Some(&s("none")),
        "full scans follow creation order"
    );
    assert_eq!(tx.count("items").await.unwrap(), 11);
    assert_eq!(tx.count("nothing_here").await.unwrap(), 0);
    let err = tx
        .collect(&QuerySpec::index("items", "by_nope", vec![]))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("items.by_nope"), "{err}");
}

pub async fn pagination_is_stable_across_concurrent_inserts(p: &Provider) {
    let db = seeded(p, "pages").await;
    let spec = QuerySpec::index("items", "by_n", vec![bound(RangeOp::Gte, "n", n(0.0))]);
    let mut tx = db.begin(TransactionMode::ReadOnly);
    let first = tx.query_page(&spec, None, None, 3, None).await.unwrap();
    assert_eq!(numbers(&first.documents), vec![0.0, 1.0, 2.0]);
    assert!(!first.is_done);
    // Concurrent inserts before and after the cursor.
    db.run_mutation(async |tx| {
        tx.insert("items", obj(&[("n", n(1.5))])).await?;
        tx.insert("items", obj(&[("n", n(4.5))])).await?;
        Ok(())
    })
    .await
    .unwrap();
    let cursor = Cursor::decode(&first.continue_cursor.encode()).unwrap();
    let mut seen = numbers(&first.documents);
    let mut cursor = Some(cursor);
    loop {
        let mut tx = db.begin(TransactionMode::ReadOnly);
        let page = tx
            .query_page(&spec, cursor.as_ref(), None, 3, None)
            .await
            .unwrap();
        seen.extend(numbers(&page.documents));
        if page.is_done {
            break;
        }
        cursor = Some(page.continue_cursor);
    }
    assert_eq!(
        seen,
        vec![0.0, 1.0, 2.0, 3.0, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0],
        "{}",
        p.name
    );
    // Re-running the first page up to its end cursor keeps its boundaries and shows the insert.
    let mut tx = db.begin(TransactionMode::ReadOnly);
    let again = tx
        .query_page(&spec, None, Some(&first.continue_cursor), 3, None)
        .await
        .unwrap();
    assert_eq!(numbers(&again.documents), vec![0.0, 1.0, 1.5, 2.0]);
}

pub async fn reads_see_the_transactions_own_writes(p: &Provider) {
    let db = seeded(p, "own-writes").await;
    let mut tx = db.begin(TransactionMode::ReadWrite);
    let new = tx
        .insert("items", obj(&[("n", n(2.5)), ("group", s("odd"))]))
        .await
        .unwrap();
    let victim = tx
        .collect(&QuerySpec::index("items", "by_n", vec![eq("n", n(3.0))]))
        .await
        .unwrap()[0]
        .id;
    tx.delete(victim).await.unwrap();
    let got = tx
        .collect(&QuerySpec::index(
            "items",
            "by_n",
            vec![
                bound(RangeOp::Gte, "n", n(2.0)),
                bound(RangeOp::Lt, "n", n(5.0)),
            ],
        ))
        .await
        .unwrap();
    assert_eq!(numbers(&got), vec![2.0, 2.5, 4.0], "{}", p.name);
    assert!(tx.get(new).await.unwrap().is_some());
    assert_eq!(tx.count("items").await.unwrap(), 11);
}

pub async fn a_rollback_to_a_savepoint_undoes_exactly_the_later_writes(p: &Provider) {
    let db = seeded(p, "savepoint").await;
    let mut tx = db.begin(TransactionMode::ReadWrite);
    let kept = tx
        .insert("items", obj(&[("n", n(20.0)), ("group", s("even"))]))
        .await
        .unwrap();
    let victim = tx
        .collect(&QuerySpec::index("items", "by_n", vec![eq("n", n(3.0))]))
        .await
        .unwrap()[0]
        .id;
    let written_before = tx.usage().documents_written;
    let savepoint = tx.savepoint();
    let undone = tx
        .insert("items", obj(&[("n", n(21.0)), ("group", s("odd"))]))
        .await
        .unwrap();
    tx.delete(victim).await.unwrap();
    tx.delete(kept).await.unwrap();
    tx.rollback_to(savepoint);
    assert!(tx.get(kept).await.unwrap().is_some(), "{}", p.name);
    assert!(tx.get(victim).await.unwrap().is_some(), "{}", p.name);
    assert!(tx.get(undone).await.unwrap().is_none(), "{}", p.name);
    assert_eq!(tx.usage().documents_written, written_before, "{}", p.name);
    db.commit(tx).await.unwrap();
    let mut check = db.begin(TransactionMode::ReadOnly);
    assert_eq!(check.count("items").await.unwrap(), 12, "{}", p.name);
    assert!(check.get(kept).await.unwrap().is_some(), "{}", p.name);
    assert!(check.get(undone).await.unwrap().is_none(), "{}", p.name);
}
