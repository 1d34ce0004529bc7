//! Subscriptions through the database: invalidated exactly by commits into their read set.

use std::time::Duration;

use nimbus_engine::{QuerySpec, RangeExpr, RangeOp, TransactionMode};

use crate::support::{Provider, n, obj, s};

async fn setup(p: &Provider, name: &str) -> nimbus_engine::Database {
    let engine = p.engine();
    let db = p.database(&engine, name).await;
    db.set_schema(&serde_json::json!({ "tables": [{ "tableName": "messages", "indexes": [{ "indexDescriptor": "by_channel", "fields": ["channel"] }] }], "schemaValidation": false }))
        .await
        .unwrap();
    db
}

fn channel(c: &str) -> QuerySpec {
    QuerySpec::index(
        "messages",
        "by_channel",
        vec![RangeExpr {
            op: RangeOp::Eq,
            field: "channel".into(),
            value: Some(s(c)),
        }],
    )
}

pub async fn invalidation_is_precise(p: &Provider) {
    let db = setup(p, "subs").await;
    let mut tx = db.begin(TransactionMode::ReadOnly);
    tx.collect(&channel("general")).await.unwrap();
    let ts = tx.snapshot_ts();
    let mut sub = db.subscribe(tx.read_set(), ts);
    db.run_mutation(async |tx| {
        tx.insert("messages", obj(&[("channel", s("random")), ("n", n(1.0))]))
            .await
    })
    .await
    .unwrap();
    assert_eq!(
        sub.try_invalidated(),
        None,
        "{}: a write to another channel must not wake the subscription",
        p.name
    );
    let (_, write_ts) = db
        .run_mutation(async |tx| {
            tx.insert("messages", obj(&[("channel", s("general"))]))
                .await
        })
        .await
        .unwrap();
    let woke = tokio::time::timeout(Duration::from_secs(5), sub.invalidated())
        .await
        .unwrap();
    assert_eq!(woke, write_ts);
    drop(sub);
    assert_eq!(db.subscription_count(), 0);
}

pub async fn late_subscribers_catch_up(p: &Provider) {
    let db = setup(p, "late").await;
    let mut tx = db.begin(TransactionMode::ReadOnly);
    tx.collect(&channel("general")).await.unwrap();
    let ts = tx.snapshot_ts();
    // The write lands between the read and the subscription.
    db.run_mutation(async |tx| {
        tx.insert("messages", obj(&[("channel", s("general"))]))
            .await
    })
    .await
    .unwrap();
    let mut sub = db.subscribe(tx.read_set(), ts);
    assert!(
        sub.try_invalidated().is_some(),
        "{}: a commit after the read must invalidate at once",
        p.name
    );
}

pub async fn changed_between_is_exact_up_to_the_snapshot(p: &Provider) {
    let db = setup(p, "between").await;
    let mut tx = db.begin(TransactionMode::ReadOnly);
    tx.collect(&channel("general")).await.unwrap();
    let read_ts = tx.snapshot_ts();
    let reads = tx.read_set().clone();
    let insert = |c: &'static str| {
        let db = db.clone();
        async move {
            db.run_mutation(async |tx| tx.insert("messages", obj(&[("channel", s(c))])).await)
                .await
                .unwrap()
                .1
        }
    };
    let elsewhere = insert("random").await;
    let into = insert("general").await;
    let after = insert("random").await;
    assert_eq!(db.snapshot_ts(), after, "{}", p.name);
    assert!(
        !db.changed_between(&reads, read_ts, elsewhere),
        "{}",
        p.name
    );
    assert!(db.changed_between(&reads, read_ts, into), "{}", p.name);
    assert!(db.changed_between(&reads, elsewhere, after), "{}", p.name);
    assert!(!db.changed_between(&reads, into, after), "{}", p.name);
    assert!(!db.changed_between(&reads, after, after), "{}", p.name);

    // Commits that become durable together may publish in any order; once all returned,
    // the snapshot covers every one of them and the log holds them all.
    let stamps = futures::future::join_all(
        (0..16).map(|i| insert(if i % 4 == 0 { "general" } else { "random" })),
    )
    .await;
    let newest = *stamps.iter().max().unwrap();
    assert!(db.snapshot_ts() >= newest, "{}", p.name);
    assert!(db.changed_between(&reads, after, newest), "{}", p.name);
}

pub async fn abandoned_commits_never_hold_the_snapshot_back(p: &Provider) {
    let db = setup(p, "abandoned").await;
    // Callers that give up at every point of the commit path (a client disconnecting): a
    // commit that was already submitted must still be published, or every later snapshot
    // would stop at it.
    for i in 0..200u64 {
        let abandon_after = Duration::from_micros(i % 50 * 20);
        let _ = tokio::time::timeout(
            abandon_after,
            db.run_mutation(async |tx| tx.insert("messages", obj(&[("channel", s("gone"))])).await),
        )
        .await;
        let (_, ts) = db
            .run_mutation(async |tx| tx.insert("messages", obj(&[("channel", s("kept"))])).await)
            .await
            .unwrap();
        assert!(
            db.snapshot_ts() >= ts,
            "{}: a finished commit at {ts} is not visible (snapshot {})",
            p.name,
            db.snapshot_ts()
        );
    }
    let mut tx = db.begin(TransactionMode::ReadOnly);
    let kept = tx.collect(&channel("kept")).await.unwrap();
    assert_eq!(kept.len(), 200, "{}", p.name);
}
