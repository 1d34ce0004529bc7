//! Runs the one conformance suite against every provider: memory, SQLite (temp dir) and
//! PostgreSQL (`NIMBUS_TEST_POSTGRES_URL`; skipped loudly when unreachable, fails under CI).

mod conformance;
mod support;

use nimbus_storage::{MemoryPersistence, SqlitePersistence};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_provider_conforms() {
    conformance::run_all(&MemoryPersistence::new(), "mem").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_provider_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let p = SqlitePersistence::open(dir.path()).unwrap();
    conformance::run_all(&p, "lite").await;
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "dropped tenants leave no files"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_provider_conforms() {
    let Some(p) = support::postgres("storage conformance suite").await else {
        return;
    };
    let prefix = support::unique_prefix();
    conformance::run_all(&p, &prefix).await;
    let left: Vec<_> = nimbus_storage::Persistence::tenants(&p)
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.as_str().starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "test schemas left behind: {left:?}");
}
