//! A tenant at its in-flight limit is refused at the API edge, before any work, with 503 and a
//! clear message; the refusal is counted, the running call is undisturbed, and other tenants
//! are served meanwhile.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};
use support::start_with;

/// Starts `actions:nap` on `tenant` and returns once it runs (holding the tenant's one slot for
/// `ms`); the handle yields the action's reply.
async fn hold_the_only_slot(
    server: &support::Running,
    tenant: &str,
    ms: u64,
) -> tokio::task::JoinHandle<Json> {
    let holder = {
        let (http, url) = (
            server.http.clone(),
            format!("{}/t/{tenant}/api/action", server.base),
        );
        tokio::spawn(async move {
            http.post(url)
                .json(&json!({ "path": "actions:nap", "args": { "ms": ms } }))
                .send()
                .await
                .unwrap()
                .json::<Json>()
                .await
                .unwrap()
        })
    };
    let executor = server.server.runner().executor().clone();
    let id = nimbus_runtime::TenantId::new(tenant);
    let started = Instant::now();
    while executor.tenant_stats(&id).active == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the holding action never started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    holder
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_tenant_is_refused_before_any_work() {
    let server = start_with(None, |c| {
        c.runner.admission = nimbus_runtime::AdmissionCaps {
            active_max: 1,
            queue_max: 1,
            in_flight_max: 1,
        };
    })
    .await;
    server.create_tenant("busy").await;
    server.create_tenant("calm").await;

    // An action that holds the tenant's only slot for a while.
    let holder = hold_the_only_slot(&server, "busy", 1500).await;

    let list = json!({ "path": "messages:list", "args": {} });
    let (status, body) = server.post("/t/busy/api/query", list.clone(), None).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "Overloaded", "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("tenant over capacity") && message.contains("busy"),
        "{message}"
    );

    // Another tenant is served meanwhile.
    let (status, body) = server.post("/t/calm/api/query", list, None).await;
    assert_eq!(status, 200, "{body}");

    let metrics = server
        .http
        .get(format!("{}/metrics", server.base))
        .bearer_auth(support::OPERATOR_KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l == "nimbus_api_calls_refused_total 1"),
        "{metrics}"
    );
    // The running call was not disturbed.
    assert_eq!(holder.await.unwrap()["value"], "rested");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_refused_for_capacity_is_retried_and_recovers() {
    let server = start_with(None, |c| {
        c.runner.admission = nimbus_runtime::AdmissionCaps {
            active_max: 1,
            queue_max: 0,
            in_flight_max: 1,
        };
        c.ws_overloaded_query_retry = Duration::from_millis(300);
    })
    .await;
    server.create_tenant("full").await;
    let holder = hold_the_only_slot(&server, "full", 1000).await;

    // The subscription's first run is refused (the tenant's one slot is taken); nothing it
    // read can wake it, so the session runs it again on its own once the slot frees up.
    let mut socket =
        support::sync_socket::connect(&server.base, "full", "2e3f4a5b-6c7d-4e8f-9a0b-1c2d3e4f5a6b")
            .await;
    support::sync_socket::send(
        &mut socket,
        json!({ "type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": [
            { "type": "Add", "queryId": 0, "udfPath": "messages:list", "args": [{}] },
        ] }),
    )
    .await;
    let first = support::sync_socket::next_message(&mut socket).await;
    assert_eq!(first["modifications"][0]["type"], "QueryFailed", "{first}");
    assert!(
        first["modifications"][0]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("over capacity"),
        "{first}"
    );
    let recovered = loop {
        let message = support::sync_socket::next_message(&mut socket).await;
        if message["modifications"][0]["type"] == "QueryUpdated" {
            break message;
        }
    };
    assert_eq!(recovered["modifications"][0]["value"], json!([]));
    assert_eq!(holder.await.unwrap()["value"], "rested");
}
