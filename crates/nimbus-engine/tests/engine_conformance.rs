//! Runs every engine check against every storage provider: memory, SQLite (temp dir) and
//! PostgreSQL (`NIMBUS_TEST_POSTGRES_URL`; loudly skipped when unreachable, fails under CI).

mod checks;
mod support;

use support::Provider;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_on_memory() {
    checks::run_all(&Provider::memory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_on_sqlite() {
    checks::run_all(&Provider::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_on_postgres() {
    if let Some(provider) = Provider::postgres("engine conformance suite").await {
        checks::run_all(&provider).await;
    }
}
