//! The server's background loops: scheduled jobs run on their own (no test hook drives them),
//! idle tenants are closed, and a closed tenant's pending job still runs when it comes due.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};
use support::start_with;

/// The longest a background effect may take to show before the test fails.
const WAIT_MAX: Duration = Duration::from_secs(20);

async fn eventually<F: AsyncFnMut() -> bool>(what: &str, mut check: F) {
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < WAIT_MAX,
            "{what} did not happen within {WAIT_MAX:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_jobs_run_even_after_their_tenant_was_closed_as_idle() {
    let server = start_with(None, |c| {
        c.tenant_idle_close = Duration::from_millis(100);
        c.scheduler_poll_interval = Duration::from_millis(100);
    })
    .await;
    server.create_tenant("sched").await;
    let engine = server.server.runner().engine().clone();

    let (status, body) = server
        .post(
            "/t/sched/api/mutation",
            json!({ "path": "scheduling:scheduleSend", "args": { "delayMs": 2500, "body": "later" } }),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let scheduled_at = Instant::now();

    // Only the registry's own database stays open once the tenant is idle.
    eventually("closing the idle tenant", async || {
        engine.open_tenants().await == 1
    })
    .await;
    let closed_after = scheduled_at.elapsed();

    let delivered = async || {
        let (_, answer) = server
            .post(
                "/t/sched/api/query",
                json!({ "path": "messages:list", "args": {} }),
                None,
            )
            .await;
        let list: &[Json] = answer["value"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        list.iter()
            .any(|m| m["body"] == "later" && m["author"] == "scheduler")
    };
    // Normally the tenant was closed while its job was pending, so only the scheduler can
    // have reopened it to run the job (a machine too slow for that still runs it, later).
    if closed_after >= Duration::from_millis(2500) {
        eprintln!("the tenant closed only after its job came due ({closed_after:?})");
    }
    eventually("the scheduled job", delivered).await;
    // And it closes again once idle.
    eventually("closing the tenant again", async || {
        engine.open_tenants().await == 1
    })
    .await;
}
