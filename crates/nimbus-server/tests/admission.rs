//! A tenant at its in-flight limit is refused at the API edge, before any work, with 503 and a
//! clear message; the refusal is counted, the running call is undisturbed, and other tenants
//! are served meanwhile.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};
use support::start_with;

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
    let holder = {
        let (http, base) = (server.http.clone(), server.base.clone());
        tokio::spawn(async move {
            http.post(format!("{base}/t/busy/api/action"))
                .json(&json!({ "path": "actions:nap", "args": { "ms": 1500 } }))
                .send()
                .await
                .unwrap()
                .json::<Json>()
                .await
                .unwrap()
        })
    };
    let executor = server.server.runner().executor().clone();
    let busy = nimbus_runtime::TenantId::new("busy");
    let started = Instant::now();
    while executor.tenant_stats(&busy).active == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the holding action never started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

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
