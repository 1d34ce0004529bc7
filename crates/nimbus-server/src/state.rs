//! `AppState`: what every handler shares — the function runner, the tenant registry, settings,
//! metrics, function logs, live sockets and the mutation de-duplication stores.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use nimbus_functions::{CallOutcome, FunctionError, FunctionKind, FunctionRunner};
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::config::ServerConfig;
use crate::logs::FunctionLogs;
use crate::metrics::{CallLabels, KindLabels, Metrics};
use crate::sync::dedupe::DedupeStore;
use crate::tenants::{Admission, TenantRegistry};

/// Shared server state.
pub struct AppState {
    /// Runs functions.
    pub runner: FunctionRunner,
    /// Tenants and keys.
    pub registry: TenantRegistry,
    /// Settings.
    pub config: ServerConfig,
    /// Metrics.
    pub metrics: Metrics,
    /// Function logs.
    pub logs: FunctionLogs,
    /// Per tenant: a channel whose value changes when the operator disconnects its sockets.
    pub disconnects: Mutex<HashMap<String, watch::Sender<u64>>>,
    /// Per tenant: outcomes of WebSocket mutations, for de-duplication across reconnects.
    pub dedupe: Mutex<HashMap<String, Arc<DedupeStore>>>,
    /// Each tenant's next due scheduled job or cron, for the scheduler loop.
    pub due: crate::background::DueIndex,
    /// Pushes between `start_push` and `finish_push`.
    pub pushes: crate::push::PendingPushes,
    /// Workers-style fetch apps.
    pub fetch_apps: crate::fetch_apps::FetchApps,
    /// Budget of open fetch-app WebSockets (`app_ws_connections_max`).
    pub app_ws_permits: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

impl AppState {
    /// The tenant's disconnect signal.
    pub fn disconnect_signal(&self, tenant: &str) -> watch::Receiver<u64> {
        self.disconnects
            .lock()
            .entry(tenant.to_owned())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Closes every WebSocket of a tenant.
    pub fn disconnect_tenant(&self, tenant: &str) {
        let mut senders = self.disconnects.lock();
        let sender = senders
            .entry(tenant.to_owned())
            .or_insert_with(|| watch::channel(0).0);
        sender.send_modify(|n| *n += 1);
    }

    /// The tenant's de-duplication store.
    pub fn dedupe_store(&self, tenant: &str) -> Arc<DedupeStore> {
        self.dedupe
            .lock()
            .entry(tenant.to_owned())
            .or_insert_with(|| Arc::new(DedupeStore::new(self.config.mutation_dedupe_entries_max)))
            .clone()
    }

    /// Records a finished call in metrics and the function logs.
    pub fn observe_call(
        &self,
        admission: &Admission,
        path: &str,
        kind: Option<FunctionKind>,
        result: &Result<CallOutcome, FunctionError>,
        elapsed: Duration,
    ) {
        let kind_name = match result {
            Ok(outcome) => outcome.kind.as_str(),
            Err(_) => kind.map_or("any", FunctionKind::as_str),
        };
        let tenant = admission.tenant.as_str();
        self.metrics
            .calls
            .get_or_create(&CallLabels {
                tenant: tenant.to_owned(),
                kind: kind_name.to_owned(),
                outcome: if result.is_ok() { "success" } else { "error" }.to_owned(),
            })
            .inc();
        self.metrics
            .latency
            .get_or_create(&KindLabels {
                tenant: tenant.to_owned(),
                kind: kind_name.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
        let udf_type = match kind_name {
            "query" => "Query",
            "mutation" => "Mutation",
            "action" => "Action",
            "httpAction" => "HttpAction",
            _ => "Query",
        };
        match result {
            Ok(outcome) => self.logs.record(
                tenant,
                udf_type,
                path,
                &outcome.log_lines,
                None,
                elapsed.as_secs_f64(),
            ),
            Err(error) => self.logs.record(
                tenant,
                udf_type,
                path,
                &error.log_lines,
                Some(&error.message),
                elapsed.as_secs_f64(),
            ),
        }
        if result.as_ref().is_ok_and(|o| o.kind != FunctionKind::Query)
            && let Ok(tenant) = nimbus_storage::TenantName::new(tenant)
        {
            // A mutation or action may have scheduled or cancelled jobs.
            self.due.changed(&tenant);
        }
    }
}
