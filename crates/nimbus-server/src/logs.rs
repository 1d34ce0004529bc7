//! Function log entries per tenant, kept in a bounded ring and served to
//! `npx convex dev` through `GET /api/stream_function_logs?cursor=` (a long poll).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{Value as Json, json};
use tokio::sync::Notify;

struct TenantLogs {
    entries: VecDeque<(f64, Json)>,
    notify: std::sync::Arc<Notify>,
}

/// The log rings of every tenant.
pub struct FunctionLogs {
    tenants: Mutex<HashMap<String, TenantLogs>>,
    entries_max: usize,
}

impl std::fmt::Debug for FunctionLogs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionLogs")
            .field("entries_max", &self.entries_max)
            .finish()
    }
}

fn now_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

impl FunctionLogs {
    /// Rings holding at most `entries_max` entries per tenant.
    pub fn new(entries_max: usize) -> Self {
        Self {
            tenants: Mutex::new(HashMap::new()),
            entries_max,
        }
    }

    /// Records one execution.
    pub fn record(
        &self,
        tenant: &str,
        udf_type: &str,
        identifier: &str,
        log_lines: &[String],
        error: Option<&str>,
        seconds: f64,
    ) {
        let at = now_ms();
        let mut entry = json!({
            "kind": "Completion",
            "identifier": identifier,
            "udfType": udf_type,
            "timestamp": at / 1000.0,
            "logLines": log_lines,
            "executionTime": seconds,
        });
        if let Some(error) = error {
            entry["error"] = Json::String(error.to_owned());
        }
        let mut tenants = self.tenants.lock();
        let logs = tenants
            .entry(tenant.to_owned())
            .or_insert_with(|| TenantLogs {
                entries: VecDeque::new(),
                notify: Default::default(),
            });
        logs.entries.push_back((at, entry));
        while logs.entries.len() > self.entries_max {
            logs.entries.pop_front();
        }
        logs.notify.notify_waiters();
    }

    /// Entries newer than `cursor_ms`, waiting up to `timeout` for some to arrive.
    pub async fn since(&self, tenant: &str, cursor_ms: f64, timeout: Duration) -> (Vec<Json>, f64) {
        let notify = {
            let mut tenants = self.tenants.lock();
            let logs = tenants
                .entry(tenant.to_owned())
                .or_insert_with(|| TenantLogs {
                    entries: VecDeque::new(),
                    notify: Default::default(),
                });
            logs.notify.clone()
        };
        let notified = notify.notified();
        let found = self.collect(tenant, cursor_ms);
        if !found.0.is_empty() {
            return found;
        }
        let _ = tokio::time::timeout(timeout, notified).await;
        self.collect(tenant, cursor_ms)
    }

    fn collect(&self, tenant: &str, cursor_ms: f64) -> (Vec<Json>, f64) {
        let tenants = self.tenants.lock();
        let Some(logs) = tenants.get(tenant) else {
            return (Vec::new(), cursor_ms);
        };
        let entries: Vec<&(f64, Json)> = logs
            .entries
            .iter()
            .filter(|(at, _)| *at > cursor_ms)
            .collect();
        let cursor = entries.last().map_or(cursor_ms, |(at, _)| *at);
        (
            entries.into_iter().map(|(_, e)| e.clone()).collect(),
            cursor,
        )
    }
}
