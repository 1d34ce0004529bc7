//! `RuntimePolicy`: the limits, grants, pool kind and admission caps one tenant runs under.
//!
//! A policy can only be obtained from [`RuntimePolicy::builder`]'s `build`, which rejects
//! invalid combinations, so every policy the executor sees is internally consistent.

use std::time::Duration;

use thiserror::Error;

use crate::grants::{GrantFamily, RuntimeGrants};

/// Default heap limit per isolate.
pub const HEAP_MIB_DEFAULT: u32 = 64;
/// Largest heap limit a policy may ask for.
pub const HEAP_MIB_MAX: u32 = 4096;
/// Default wall-clock limit for one invocation.
pub const WALL_TIMEOUT_DEFAULT: Duration = Duration::from_secs(1);
/// Longest wall-clock limit a policy may ask for (Convex's action limit is 10 minutes).
pub const WALL_TIMEOUT_MAX: Duration = Duration::from_secs(15 * 60);
/// Default JS stack limit.
pub const STACK_BYTES_DEFAULT: usize = 1024 * 1024;
/// Largest JS stack limit; worker threads are started with a native stack comfortably above it.
pub const STACK_BYTES_MAX: usize = 8 * 1024 * 1024;
/// Smallest JS stack limit that still runs ordinary code.
pub const STACK_BYTES_MIN: usize = 64 * 1024;
/// Default number of host calls one invocation may make.
pub const HOST_CALLS_MAX_DEFAULT: u32 = 16_384;
/// Default time past the deadline after which a worker stuck in a native call is quarantined.
pub const HARD_DEADLINE_GRACE_DEFAULT: Duration = Duration::from_millis(500);

/// Which pool an invocation's isolate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PoolKind {
    /// A new runtime and context per invocation: the cleanest boundary.
    Fresh,
    /// Evaluated contexts kept per (tenant, bundle hash) and reused with per-invocation state
    /// reset (new seed, new clock, no leftover timers or pending calls).
    Warm,
}

/// Hard limits enforced on every invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeLimits {
    /// QuickJS heap limit per isolate, in MiB.
    pub heap_mib: u32,
    /// Wall-clock budget of one invocation, including time spent waiting on host calls.
    pub wall_timeout: Duration,
    /// JS stack limit, in bytes.
    pub stack_bytes_max: usize,
    /// Host calls one invocation may make before it is terminated.
    pub host_calls_max: u32,
    /// How long past the deadline a worker may stay inside one uninterruptible native call
    /// before it is quarantined and replaced.
    pub hard_deadline_grace: Duration,
}

impl Default for RuntimeLimits {
    fn default() -> Self {
        Self {
            heap_mib: HEAP_MIB_DEFAULT,
            wall_timeout: WALL_TIMEOUT_DEFAULT,
            stack_bytes_max: STACK_BYTES_DEFAULT,
            host_calls_max: HOST_CALLS_MAX_DEFAULT,
            hard_deadline_grace: HARD_DEADLINE_GRACE_DEFAULT,
        }
    }
}

impl RuntimeLimits {
    /// Heap limit in bytes.
    pub fn heap_bytes(&self) -> usize {
        self.heap_mib as usize * 1024 * 1024
    }
}

/// Per-tenant admission caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionCaps {
    /// Invocations of this tenant executing at once.
    pub active_max: u32,
    /// Invocations of this tenant waiting beyond its `active_max` slots; beyond it calls are
    /// rejected at once. A call the tenant has a free slot for may still wait for a worker
    /// (workers are shared) without counting here, so `0` admits up to `active_max` calls.
    pub queue_max: u32,
    /// Active plus queued invocations of this tenant.
    pub in_flight_max: u32,
}

impl Default for AdmissionCaps {
    fn default() -> Self {
        Self {
            active_max: 1,
            queue_max: 256,
            in_flight_max: 257,
        }
    }
}

/// Why a policy was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyError {
    /// A limit is out of its allowed range.
    #[error(
        "runtime policy: {field} = {value} is out of range ({allowed}); choose a value in range"
    )]
    OutOfRange {
        /// The offending setting.
        field: &'static str,
        /// Its value, rendered.
        value: String,
        /// The allowed range, rendered.
        allowed: String,
    },
    /// Two settings contradict each other.
    #[error("runtime policy: {0}")]
    Inconsistent(String),
}

/// Limits, grants, pool kind and admission caps for one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimePolicy {
    limits: RuntimeLimits,
    grants: RuntimeGrants,
    pool: PoolKind,
    admission: AdmissionCaps,
}

impl RuntimePolicy {
    /// Starts from the defaults: default limits, no grants, fresh pool, default caps.
    pub fn builder() -> RuntimePolicyBuilder {
        RuntimePolicyBuilder {
            policy: RuntimePolicy {
                limits: RuntimeLimits::default(),
                grants: RuntimeGrants::none(),
                pool: PoolKind::Fresh,
                admission: AdmissionCaps::default(),
            },
        }
    }

    /// The limits.
    pub fn limits(&self) -> &RuntimeLimits {
        &self.limits
    }
    /// The grants.
    pub fn grants(&self) -> &RuntimeGrants {
        &self.grants
    }
    /// The pool kind.
    pub fn pool(&self) -> PoolKind {
        self.pool
    }
    /// The admission caps.
    pub fn admission(&self) -> AdmissionCaps {
        self.admission
    }
}

/// Builder for [`RuntimePolicy`]; `build` validates.
#[derive(Debug, Clone)]
pub struct RuntimePolicyBuilder {
    policy: RuntimePolicy,
}

impl RuntimePolicyBuilder {
    /// Replaces the limits.
    pub fn limits(mut self, limits: RuntimeLimits) -> Self {
        self.policy.limits = limits;
        self
    }
    /// Sets the heap limit in MiB.
    pub fn heap_mib(mut self, heap_mib: u32) -> Self {
        self.policy.limits.heap_mib = heap_mib;
        self
    }
    /// Sets the wall-clock limit.
    pub fn wall_timeout(mut self, timeout: Duration) -> Self {
        self.policy.limits.wall_timeout = timeout;
        self
    }
    /// Sets the JS stack limit.
    pub fn stack_bytes_max(mut self, bytes: usize) -> Self {
        self.policy.limits.stack_bytes_max = bytes;
        self
    }
    /// Sets the host-call budget.
    pub fn host_calls_max(mut self, calls: u32) -> Self {
        self.policy.limits.host_calls_max = calls;
        self
    }
    /// Sets the hard-deadline grace.
    pub fn hard_deadline_grace(mut self, grace: Duration) -> Self {
        self.policy.limits.hard_deadline_grace = grace;
        self
    }
    /// Replaces the grants.
    pub fn grants(mut self, grants: RuntimeGrants) -> Self {
        self.policy.grants = grants;
        self
    }
    /// Sets the pool kind.
    pub fn pool(mut self, pool: PoolKind) -> Self {
        self.policy.pool = pool;
        self
    }
    /// Replaces the admission caps.
    pub fn admission(mut self, caps: AdmissionCaps) -> Self {
        self.policy.admission = caps;
        self
    }

    /// Validates and returns the policy.
    pub fn build(self) -> Result<RuntimePolicy, PolicyError> {
        let p = self.policy;
        let l = &p.limits;
        check_range("heap_mib", l.heap_mib as u64, 1, HEAP_MIB_MAX as u64)?;
        check_range(
            "wall_timeout_ms",
            l.wall_timeout.as_millis() as u64,
            1,
            WALL_TIMEOUT_MAX.as_millis() as u64,
        )?;
        check_range(
            "stack_bytes_max",
            l.stack_bytes_max as u64,
            STACK_BYTES_MIN as u64,
            STACK_BYTES_MAX as u64,
        )?;
        check_range(
            "host_calls_max",
            l.host_calls_max as u64,
            1,
            u32::MAX as u64,
        )?;
        check_range(
            "hard_deadline_grace_ms",
            l.hard_deadline_grace.as_millis() as u64,
            10,
            60_000,
        )?;
        let a = p.admission;
        check_range("admission.active_max", a.active_max as u64, 1, 4096)?;
        check_range("admission.queue_max", a.queue_max as u64, 0, 1_000_000)?;
        if a.in_flight_max < a.active_max {
            return Err(PolicyError::Inconsistent(format!(
                "admission.in_flight_max ({}) is below admission.active_max ({}): no invocation \
                 could ever run; raise in_flight_max",
                a.in_flight_max, a.active_max
            )));
        }
        if a.in_flight_max > a.active_max + a.queue_max {
            return Err(PolicyError::Inconsistent(format!(
                "admission.in_flight_max ({}) exceeds active_max + queue_max ({}): the extra \
                 invocations would have nowhere to wait; lower in_flight_max or raise queue_max",
                a.in_flight_max,
                a.active_max + a.queue_max
            )));
        }
        if p.grants.allows(GrantFamily::Secrets) && !p.grants.allows(GrantFamily::Env) {
            return Err(PolicyError::Inconsistent(
                "the `secrets` grant requires the `env` grant (secrets are read through \
                 process.env); grant both or neither"
                    .into(),
            ));
        }
        Ok(p)
    }
}

fn check_range(field: &'static str, value: u64, min: u64, max: u64) -> Result<(), PolicyError> {
    if value < min || value > max {
        return Err(PolicyError::OutOfRange {
            field,
            value: value.to_string(),
            allowed: format!("{min}..={max}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_build() {
        let policy = RuntimePolicy::builder().build().unwrap();
        assert_eq!(policy.pool(), PoolKind::Fresh);
        assert_eq!(policy.grants().families().count(), 0);
    }

    #[test]
    fn invalid_combinations_are_rejected() {
        let zero_heap = RuntimePolicy::builder().heap_mib(0).build().unwrap_err();
        assert!(matches!(
            zero_heap,
            PolicyError::OutOfRange {
                field: "heap_mib",
                ..
            }
        ));
        let tiny_stack = RuntimePolicy::builder()
            .stack_bytes_max(1024)
            .build()
            .unwrap_err();
        assert!(tiny_stack.to_string().contains("stack_bytes_max"));
        let no_timeout = RuntimePolicy::builder()
            .wall_timeout(Duration::ZERO)
            .build();
        assert!(no_timeout.is_err());
        let caps = AdmissionCaps {
            active_max: 4,
            queue_max: 10,
            in_flight_max: 2,
        };
        assert!(RuntimePolicy::builder().admission(caps).build().is_err());
        let caps = AdmissionCaps {
            active_max: 1,
            queue_max: 1,
            in_flight_max: 5,
        };
        assert!(RuntimePolicy::builder().admission(caps).build().is_err());
        let secrets_only = RuntimeGrants::none().with(GrantFamily::Secrets);
        let err = RuntimePolicy::builder()
            .grants(secrets_only)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("`env`"));
    }
}
