//! Scheduling and crons with an injected clock (no sleeps): jobs run when due, mutations
//! exactly once, actions at most once, cancellation, failures, restarts, and cron schedules.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use nimbus_functions::{Caller, RunnerConfig};
use nimbus_storage::SqlitePersistence;
use serde_json::{Value as Json, json};
use support::{Harness, START_MS};

async fn jobs(h: &Harness) -> Vec<Json> {
    h.ok("scheduling:jobs", json!({}))
        .await
        .as_array()
        .unwrap()
        .clone()
}

async fn messages_by(h: &Harness, author: &str) -> usize {
    h.ok("messages:list", json!({}))
        .await
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["author"] == author)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutations_run_once_when_due() {
    let h = Harness::new().await;
    let id = h
        .ok(
            "scheduling:scheduleSend",
            json!({ "delayMs": 5000.0, "body": "later" }),
        )
        .await;
    let listed = jobs(&h).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["_id"], id);
    assert_eq!(listed[0]["name"], "scheduling:deliver");
    assert_eq!(listed[0]["state"]["kind"], "pending");
    assert_eq!(listed[0]["scheduledTime"].as_f64(), Some(START_MS + 5000.0));
    assert_eq!(
        h.runner.run_due_jobs(&h.tenant).await.unwrap(),
        0,
        "not due yet"
    );
    h.clock.advance_ms(5000.0);
    assert_eq!(h.runner.run_due_jobs(&h.tenant).await.unwrap(), 1);
    assert_eq!(
        h.runner.run_due_jobs(&h.tenant).await.unwrap(),
        0,
        "never twice"
    );
    assert_eq!(messages_by(&h, "scheduler").await, 1);
    let done = &jobs(&h).await[0];
    assert_eq!(done["state"]["kind"], "success");
    assert_eq!(done["completedTime"].as_f64(), Some(START_MS + 5000.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_at_cancel_actions_and_failures() {
    let h = Harness::new().await;
    h.ok(
        "scheduling:scheduleAt",
        json!({ "timestampMs": START_MS + 1000.0, "body": "at" }),
    )
    .await;
    let canceled = h
        .ok(
            "scheduling:scheduleSend",
            json!({ "delayMs": 10.0, "body": "never" }),
        )
        .await;
    h.ok("scheduling:cancel", json!({ "id": canceled })).await;
    h.ok("scheduling:scheduleAction", json!({})).await;
    h.ok("scheduling:scheduleFailing", json!({})).await;
    h.clock.advance_ms(2000.0);
    assert_eq!(h.runner.run_due_jobs(&h.tenant).await.unwrap(), 3);
    let states: BTreeMap<String, Json> = jobs(&h)
        .await
        .into_iter()
        .map(|j| {
            (
                format!("{}#{}", j["name"].as_str().unwrap(), j["_id"]),
                j["state"].clone(),
            )
        })
        .collect();
    let kinds: Vec<(&str, &str)> = states
        .iter()
        .map(|(k, v)| (k.split('#').next().unwrap(), v["kind"].as_str().unwrap()))
        .collect();
    assert!(
        kinds.contains(&("scheduling:deliver", "canceled")),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("scheduling:actionJob", "success")),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("scheduling:failing", "failed")),
        "{kinds:?}"
    );
    let failed = states
        .iter()
        .find(|(k, _)| k.starts_with("scheduling:failing"))
        .unwrap()
        .1;
    assert!(
        failed["error"].as_str().unwrap().contains("Uncaught"),
        "{failed}"
    );
    assert_eq!(
        messages_by(&h, "scheduler").await,
        2,
        "runAt and the action's mutation delivered; the canceled job did not"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_work_survives_a_restart_without_loss_or_duplication() {
    let dir = tempfile::tempdir().unwrap();
    {
        let h = Harness::with(
            Arc::new(SqlitePersistence::open(dir.path()).unwrap()),
            RunnerConfig::default(),
        )
        .await;
        h.ok(
            "scheduling:scheduleSend",
            json!({ "delayMs": 1000.0, "body": "survivor" }),
        )
        .await;
        h.ok(
            "scheduling:scheduleSend",
            json!({ "delayMs": 0.0, "body": "early" }),
        )
        .await;
        assert_eq!(h.runner.run_due_jobs(&h.tenant).await.unwrap(), 1);
    }
    let h = Harness::unstarted(
        Arc::new(SqlitePersistence::open(dir.path()).unwrap()),
        RunnerConfig::default(),
    );
    assert_eq!(h.runner.recover_after_restart(&h.tenant).await.unwrap(), 0);
    h.clock.advance_ms(1000.0);
    assert_eq!(
        h.runner.run_due_jobs(&h.tenant).await.unwrap(),
        1,
        "the pending job survived the restart"
    );
    assert_eq!(h.runner.run_due_jobs(&h.tenant).await.unwrap(), 0);
    let bodies: Vec<String> = h
        .ok("messages:list", json!({}))
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(bodies, vec!["early".to_owned(), "survivor".to_owned()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crons_run_on_schedule_and_are_replaced_on_deploy() {
    let h = Harness::new().await;
    let next = h.runner.next_due_ms(&h.tenant).await.unwrap().unwrap();
    assert_eq!(
        next,
        START_MS + 60_000.0,
        "the interval cron is first, one minute after deploy"
    );
    h.clock.advance_ms(60_000.0);
    assert_eq!(h.runner.run_due_jobs(&h.tenant).await.unwrap(), 1);
    assert_eq!(messages_by(&h, "scheduler").await, 1);
    // An hour later: the interval cron is due again (once: missed runs are not replayed one by
    // one), and so is the hourly one at minute 5.
    h.clock.advance_ms(3_600_000.0);
    h.runner.run_due_jobs(&h.tenant).await.unwrap();
    let bodies: Vec<String> = h
        .ok("messages:list", json!({}))
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        bodies.iter().filter(|b| *b == "interval").count() >= 2,
        "{bodies:?}"
    );
    assert!(bodies.iter().any(|b| b == "hourly"), "{bodies:?}");
    // Redeploying replaces the crons instead of adding to them.
    h.runner
        .deploy(&h.tenant, support::fixture_modules(), BTreeMap::new())
        .await
        .unwrap();
    let db = h.runner.engine().database(&h.tenant).await.unwrap();
    let mut tx = db.begin(nimbus_engine::TransactionMode::ReadOnly);
    assert_eq!(tx.count("_cron_jobs").await.unwrap(), 6);
    let _ = Caller::System;
}
