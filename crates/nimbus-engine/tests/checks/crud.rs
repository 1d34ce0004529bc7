//! Documents: insert, get, patch, replace, delete; ids, creation times, the journal.

use std::collections::BTreeMap;

use nimbus_engine::{EngineError, TransactionMode};
use nimbus_values::Value;

use crate::support::{Provider, n, obj, s};

pub async fn insert_get_patch_replace_delete(p: &Provider) {
    let engine = p.engine();
    let db = p.database(&engine, "crud").await;
    let ((a, b), ts) = db
        .run_mutation(async |tx| {
            let a = tx
                .insert("messages", obj(&[("body", s("hi")), ("n", n(1.0))]))
                .await?;
            let b = tx.insert("messages", obj(&[("body", s("yo"))])).await?;
            Ok((a, b))
        })
        .await
        .unwrap();
    assert!(ts > 0);
    assert_eq!(a.table_number().get(), 10_001, "{}", p.name);
    assert_eq!(a.encode().len(), 32);
    let mut tx = db.begin(TransactionMode::ReadOnly);
    let doc_a = tx.get(a).await.unwrap().unwrap();
    let doc_b = tx.get(b).await.unwrap().unwrap();
    assert_eq!(doc_a.fields.get("body"), Some(&s("hi")));
    assert!(
        doc_b.creation_time > doc_a.creation_time,
        "creation times strictly increase"
    );
    assert_eq!(
        doc_a.to_object().get("_id"),
        Some(&Value::String(a.encode()))
    );

    db.run_mutation(async |tx| {
        let mut changes = BTreeMap::new();
        changes.insert("body".to_owned(), Some(s("edited")));
        changes.insert("n".to_owned(), None);
        tx.patch(a, changes).await?;
        tx.replace(b, obj(&[("other", n(2.0))])).await?;
        Ok(())
    })
    .await
    .unwrap();
    let mut tx = db.begin(TransactionMode::ReadOnly);
    let doc_a = tx.get(a).await.unwrap().unwrap();
    assert_eq!(doc_a.fields.get("body"), Some(&s("edited")));
    assert_eq!(
        doc_a.fields.get("n"),
        None,
        "patch with undefined removes the field"
    );
    let doc_b = tx.get(b).await.unwrap().unwrap();
    assert_eq!(doc_b.fields.len(), 1);

    db.run_mutation(async |tx| tx.delete(a).await)
        .await
        .unwrap();
    let mut tx = db.begin(TransactionMode::ReadOnly);
    assert!(tx.get(a).await.unwrap().is_none());
    assert!(
        tx.insert("messages", obj(&[])).await.is_err(),
        "queries cannot write"
    );
    // An old snapshot still sees the deleted document.
    let mut old = db.begin_at(ts).unwrap();
    assert!(old.get(a).await.unwrap().is_some());
}

pub async fn reserved_fields_and_missing_documents_are_rejected(p: &Provider) {
    let engine = p.engine();
    let db = p.database(&engine, "reserved").await;
    let err = db
        .run_mutation(async |tx| tx.insert("t", obj(&[("_secret", n(1.0))])).await)
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::ReservedField { .. }), "{err}");
    let (id, _) = db
        .run_mutation(async |tx| tx.insert("t", obj(&[("x", n(1.0))])).await)
        .await
        .unwrap();
    db.run_mutation(async |tx| tx.delete(id).await)
        .await
        .unwrap();
    let err = db
        .run_mutation(async |tx| tx.delete(id).await)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("Delete on nonexistent document ID {}", id.encode())
    );
    let err = db
        .run_mutation(async |tx| tx.patch(id, BTreeMap::new()).await.map(|_| ()))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("Update on nonexistent document ID"),
        "{err}"
    );
    let err = db
        .run_mutation(async |tx| tx.insert("bad name", obj(&[])).await)
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::InvalidTableName { .. }), "{err}");
}

pub async fn the_journal_lists_commits_in_order(p: &Provider) {
    let engine = p.engine();
    let db = p.database(&engine, "journal").await;
    let start = db.snapshot_ts();
    let mut stamps = Vec::new();
    for i in 0..3 {
        let (_, ts) = db
            .run_mutation(async |tx| tx.insert("t", obj(&[("i", n(i as f64))])).await)
            .await
            .unwrap();
        stamps.push(ts);
    }
    let journal = db.journal_after(start, 100).await.unwrap();
    let data_commits: Vec<u64> = journal
        .iter()
        .filter(|(_, keys)| !keys.keys.is_empty())
        .map(|(ts, _)| *ts)
        .collect();
    assert_eq!(data_commits, stamps);
    assert!(
        journal.windows(2).all(|w| w[0].0 < w[1].0),
        "timestamps strictly increase"
    );
    assert_eq!(db.journal_after(stamps[1], 100).await.unwrap().len(), 1);
}
