//! Idle tenants are closed: a tenant nobody holds gives back its connections (its files are no
//! longer open) and keeps its data; a tenant with a handle or a live subscription stays open.

mod support;

use std::time::Duration;

use nimbus_engine::{QuerySpec, TransactionMode};
use support::{Provider, n, obj};

/// How many of this process's open files belong to `tenant`'s SQLite database.
fn open_files_of(tenant: &str) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().contains(tenant))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unused_tenants_close_and_reopen_with_their_data() {
    let provider = Provider::sqlite();
    let engine = provider.engine();
    let (idle, held, watched) = (
        provider.tenant("idle"),
        provider.tenant("held"),
        provider.tenant("watched"),
    );
    for tenant in [&idle, &held, &watched] {
        let db = engine.database(tenant).await.unwrap();
        db.run_mutation(async |tx| tx.insert("things", obj(&[("x", n(1.0))])).await)
            .await
            .unwrap();
    }
    assert!(
        open_files_of(idle.as_str()) > 0,
        "an open tenant holds its files"
    );

    let held_db = engine.database(&held).await.unwrap();
    let watched_db = engine.database(&watched).await.unwrap();
    let mut tx = watched_db.begin(TransactionMode::ReadOnly);
    tx.collect(&QuerySpec::table("things")).await.unwrap();
    let snapshot = tx.snapshot_ts();
    let subscription = watched_db.subscribe(tx.read_set(), snapshot);
    drop(tx);
    drop(watched_db);

    // Not idle long enough: nothing closes.
    assert!(
        engine
            .close_idle(Duration::from_secs(3600))
            .await
            .is_empty()
    );
    assert_eq!(engine.open_tenants().await, 3);

    let closed = engine.close_idle(Duration::ZERO).await;
    assert_eq!(closed, vec![idle.clone()], "only the unused tenant closes");
    assert_eq!(open_files_of(idle.as_str()), 0, "its files are closed");
    assert!(open_files_of(held.as_str()) > 0);
    assert_eq!(engine.open_tenants().await, 2);

    // Reopened on next use, with its data.
    let db = engine.database(&idle).await.unwrap();
    let mut tx = db.begin(TransactionMode::ReadOnly);
    assert_eq!(
        tx.collect(&QuerySpec::table("things")).await.unwrap().len(),
        1
    );
    drop(tx);
    drop(db);

    // Once the handle and the subscription are gone, those close too.
    drop(held_db);
    drop(subscription);
    let mut closed = engine.close_idle(Duration::ZERO).await;
    closed.sort();
    let mut expected = vec![idle, held, watched];
    expected.sort();
    assert_eq!(closed, expected);
    assert_eq!(engine.open_tenants().await, 0);
}
