//! Tenants: one tenant's data is invisible through every API of another.

use nimbus_engine::{QuerySpec, TransactionMode};

use crate::support::{Provider, obj, s};

pub async fn tenants_cannot_see_each_other(p: &Provider) {
    let engine = p.engine();
    let a = p.database(&engine, "tenant-a").await;
    let b = p.database(&engine, "tenant-b").await;
    let (id_a, _) = a
        .run_mutation(async |tx| tx.insert("secrets", obj(&[("v", s("a's secret"))])).await)
        .await
        .unwrap();
    b.run_mutation(async |tx| tx.insert("secrets", obj(&[("v", s("b's data"))])).await)
        .await
        .unwrap();
    let mut tx = b.begin(TransactionMode::ReadOnly);
    // Same table number, same layout: still nothing of a's is reachable from b.
    assert!(tx.get(id_a).await.unwrap().is_none(), "{}", p.name);
    let docs = tx.collect(&QuerySpec::table("secrets")).await.unwrap();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].fields.get("v"), Some(&s("b's data")));
    assert!(
        tx.normalize_id("secrets", &id_a.encode())
            .is_some_and(|id| id == id_a)
    );
    assert!(
        b.run_mutation(async |tx| tx.delete(id_a).await)
            .await
            .is_err(),
        "b cannot delete a's document"
    );
    engine.drop_tenant(&p.tenant("tenant-b")).await.unwrap();
    let mut tx = a.begin(TransactionMode::ReadOnly);
    assert!(
        tx.get(id_a).await.unwrap().is_some(),
        "dropping b leaves a intact"
    );
}
