//! The server's background loops over tenants: running due scheduled jobs and crons, and
//! closing tenants nobody uses.
//!
//! Both must cost nothing per idle tenant, so the scheduler never walks every tenant: it keeps
//! each tenant's next due time in memory ([`DueIndex`]), learns it once at startup and again
//! whenever something may have changed it (a mutation, an action, a deploy, a resume), and
//! visits only tenants that are due or changed.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use nimbus_storage::TenantName;
use parking_lot::Mutex;

use crate::state::AppState;

/// Each tenant's next due job or cron, in memory.
#[derive(Debug, Default)]
pub struct DueIndex {
    state: Mutex<DueState>,
    wake: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct DueState {
    /// Tenants with something scheduled: when it is due (ms since the epoch).
    next_due_ms: HashMap<TenantName, f64>,
    /// Tenants whose schedule may have changed since the scheduler last looked.
    changed: HashSet<TenantName>,
}

impl DueIndex {
    /// Something may have scheduled (or cancelled) work for `tenant`: the scheduler looks at
    /// it soon.
    pub fn changed(&self, tenant: &TenantName) {
        self.state.lock().changed.insert(tenant.clone());
        self.wake.notify_one();
    }

    /// Tenants to visit now: the changed ones and the due ones.
    fn take_work(&self, now_ms: f64) -> Vec<TenantName> {
        let mut state = self.state.lock();
        let mut work: HashSet<TenantName> = std::mem::take(&mut state.changed);
        work.extend(
            state
                .next_due_ms
                .iter()
                .filter(|(_, due)| **due <= now_ms)
                .map(|(tenant, _)| tenant.clone()),
        );
        work.into_iter().collect()
    }

    fn set(&self, tenant: &TenantName, next_due_ms: Option<f64>) {
        let mut state = self.state.lock();
        match next_due_ms {
            Some(due) => state.next_due_ms.insert(tenant.clone(), due),
            None => state.next_due_ms.remove(tenant),
        };
    }

    /// How long until the earliest due time, if anything is scheduled.
    fn until_next(&self, now_ms: f64) -> Option<Duration> {
        let state = self.state.lock();
        let earliest = state.next_due_ms.values().copied().reduce(f64::min)?;
        Some(Duration::from_secs_f64(
            ((earliest - now_ms) / 1000.0).max(0.0),
        ))
    }

    /// Tenants with something scheduled.
    pub fn scheduled_tenants(&self) -> usize {
        self.state.lock().next_due_ms.len()
    }
}

fn now_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// Runs due scheduled jobs and crons. At startup every active tenant is recovered (actions
/// interrupted by a restart are marked failed) and its next due time learned; afterwards only
/// due or changed tenants are visited, at least every `scheduler_poll_interval`.
pub(crate) async fn scheduler_loop(state: Arc<AppState>) {
    for tenant in state.registry.active() {
        if let Err(error) = state.runner.recover_after_restart(&tenant).await {
            tracing::warn!(tenant = tenant.as_str(), %error, "could not recover scheduled actions");
        }
        state.due.changed(&tenant);
    }
    loop {
        for tenant in state.due.take_work(now_ms()) {
            let active = state
                .registry
                .get(tenant.as_str())
                .is_some_and(|t| t.status == crate::tenants::TenantStatus::Active);
            if !active {
                // Suspended or deleted: nothing runs; a resume marks it changed again.
                state.due.set(&tenant, None);
                continue;
            }
            if let Err(error) = state.runner.run_due_jobs(&tenant).await {
                tracing::warn!(tenant = tenant.as_str(), %error, "scheduled jobs failed");
            }
            match state.runner.next_due_ms(&tenant).await {
                Ok(next) => state.due.set(&tenant, next),
                Err(error) => {
                    tracing::warn!(tenant = tenant.as_str(), %error, "reading the schedule failed");
                }
            }
        }
        let wait = state
            .due
            .until_next(now_ms())
            .map_or(state.config.scheduler_poll_interval, |until| {
                until.min(state.config.scheduler_poll_interval)
            });
        tokio::select! {
            _ = state.due.wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Closes tenants unused for `tenant_idle_close`: their connections, threads and cached
/// deployments go away until their next request.
pub(crate) async fn idle_tenant_loop(state: Arc<AppState>) {
    let idle = state.config.tenant_idle_close;
    // Look twice per idle period, so a tenant closes at most 1.5 idle periods after its last use.
    let mut ticks = tokio::time::interval((idle / 2).max(Duration::from_millis(100)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let closed = state.runner.close_idle_tenants(idle).await;
        if !closed.is_empty() {
            tracing::debug!(count = closed.len(), "closed idle tenants");
            nimbus_runtime::release_free_memory();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str) -> TenantName {
        TenantName::new(n).unwrap()
    }

    #[test]
    fn only_changed_and_due_tenants_are_visited() {
        let index = DueIndex::default();
        index.set(&name("later"), Some(2_000.0));
        index.set(&name("due"), Some(1_000.0));
        index.changed(&name("touched"));
        let mut work = index.take_work(1_500.0);
        work.sort();
        assert_eq!(work, vec![name("due"), name("touched")]);
        // Changes are taken once; the due tenant stays due until its time is updated.
        assert_eq!(index.take_work(1_500.0), vec![name("due")]);
        index.set(&name("due"), None);
        assert!(index.take_work(1_500.0).is_empty());
        assert_eq!(index.until_next(1_500.0), Some(Duration::from_millis(500)));
        assert_eq!(index.scheduled_tenants(), 1);
    }
}
