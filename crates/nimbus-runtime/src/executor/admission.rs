//! Tenant-aware admission: per-tenant caps, bounded per-tenant queues, and round-robin
//! promotion of queued tenants to free workers.
//!
//! A tenant is in the `ready` ring while it has queued work and is below its `active_max`; a
//! worker takes the tenant at the front, runs one of its jobs, and the tenant goes to the back
//! if it still qualifies. So a tenant with a thousand queued calls gets one worker turn per
//! round, like every other tenant, and its burst cannot starve anyone. A full queue rejects at
//! once: memory never grows with offered load.

use std::collections::{HashMap, VecDeque};

use crate::error::{ErrorCode, RuntimeError};
use crate::executor::Job;
use crate::invocation::TenantId;
use crate::policy::AdmissionCaps;

#[derive(Default)]
struct TenantQueue {
    active: u32,
    queue: VecDeque<Job>,
    caps: AdmissionCaps,
    in_ready: bool,
}

/// Admission state, guarded by the executor's mutex.
#[derive(Default)]
pub(crate) struct Admission {
    tenants: HashMap<TenantId, TenantQueue>,
    ready: VecDeque<TenantId>,
    queued_total: usize,
    pub(crate) rejected_total: u64,
}

impl Admission {
    /// Queues a job or rejects it when the tenant (or the executor) is over capacity.
    pub(crate) fn enqueue(&mut self, job: Job, queued_total_max: usize) -> Result<(), Box<Job>> {
        let caps = job.request.policy.admission();
        let tenant = self.tenants.entry(job.request.tenant.clone()).or_default();
        tenant.caps = caps;
        let in_flight = tenant.active as usize + tenant.queue.len();
        // Queued jobs the tenant has free `active_max` slots for only wait for a worker; only
        // the ones beyond those count against `queue_max` (so `queue_max: 0` means "run within
        // the tenant's slots or be refused", not "refuse everything").
        let startable = caps.active_max.saturating_sub(tenant.active) as usize;
        if tenant.queue.len() >= caps.queue_max as usize + startable
            || in_flight >= caps.in_flight_max as usize
            || self.queued_total >= queued_total_max
        {
            self.rejected_total += 1;
            return Err(Box::new(job));
        }
        let tenant_id = job.request.tenant.clone();
        tenant.queue.push_back(job);
        self.queued_total += 1;
        if !tenant.in_ready && tenant.active < caps.active_max {
            tenant.in_ready = true;
            self.ready.push_back(tenant_id);
        }
        Ok(())
    }

    /// Takes the next job in round-robin tenant order.
    pub(crate) fn next_job(&mut self) -> Option<Job> {
        while let Some(tenant_id) = self.ready.pop_front() {
            let Some(tenant) = self.tenants.get_mut(&tenant_id) else {
                continue;
            };
            tenant.in_ready = false;
            let Some(job) = tenant.queue.pop_front() else {
                continue;
            };
            self.queued_total -= 1;
            tenant.active += 1;
            if !tenant.queue.is_empty() && tenant.active < tenant.caps.active_max {
                tenant.in_ready = true;
                self.ready.push_back(tenant_id);
            }
            return Some(job);
        }
        None
    }

    /// Records that one of `tenant_id`'s jobs finished; returns whether work became ready.
    pub(crate) fn complete(&mut self, tenant_id: &TenantId) -> bool {
        let Some(tenant) = self.tenants.get_mut(tenant_id) else {
            return false;
        };
        tenant.active = tenant.active.saturating_sub(1);
        if tenant.active == 0 && tenant.queue.is_empty() {
            self.tenants.remove(tenant_id);
            return false;
        }
        if !tenant.in_ready && !tenant.queue.is_empty() && tenant.active < tenant.caps.active_max {
            tenant.in_ready = true;
            self.ready.push_back(tenant_id.clone());
            return true;
        }
        false
    }

    /// Drains every queued job (shutdown).
    pub(crate) fn drain(&mut self) -> Vec<Job> {
        self.ready.clear();
        self.queued_total = 0;
        self.tenants
            .values_mut()
            .flat_map(|t| t.queue.drain(..))
            .collect()
    }

    /// `(active, queued)` for one tenant.
    pub(crate) fn tenant_counts(&self, tenant_id: &TenantId) -> (u32, usize) {
        self.tenants
            .get(tenant_id)
            .map(|t| (t.active, t.queue.len()))
            .unwrap_or((0, 0))
    }

    /// Total queued jobs.
    pub(crate) fn queued_total(&self) -> usize {
        self.queued_total
    }

    /// Total active jobs.
    pub(crate) fn active_total(&self) -> usize {
        self.tenants.values().map(|t| t.active as usize).sum()
    }
}

/// The error a rejected call gets.
pub(crate) fn over_capacity(tenant: &TenantId, caps: AdmissionCaps) -> RuntimeError {
    RuntimeError::new(
        ErrorCode::TenantOverCapacity,
        format!(
            "tenant over capacity: tenant '{tenant}' already has the maximum number of calls \
             running or queued ({} in flight, {} queued at most); retry with backoff",
            caps.in_flight_max, caps.queue_max
        ),
    )
}
