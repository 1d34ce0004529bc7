//! A worker's isolate pool: `fresh` isolates per call, or `warm` isolates kept per
//! (tenant, bundle hash) and reused, least recently used dropped first.
//!
//! The bundle is verified here, before every invocation, whichever pool serves it.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::bundle::BundleHash;
use crate::bytecode::BytecodeCache;
use crate::error::RuntimeError;
use crate::invocation::{InvocationOutcome, InvocationRequest, TenantId};
use crate::isolate::{Blocker, Isolate};
use crate::policy::PoolKind;
use crate::watchdog::Watchdog;

type PoolKey = (TenantId, BundleHash);

/// Isolates owned by one worker thread.
pub(crate) struct WorkerPool {
    warm: HashMap<PoolKey, Vec<Parked>>,
    recency: VecDeque<PoolKey>,
    warm_count: usize,
    warm_max: usize,
    cache: BytecodeCache,
}

/// A warm isolate and when it was put back.
struct Parked {
    isolate: Isolate,
    since: Instant,
}

impl WorkerPool {
    pub(crate) fn new(warm_max: usize, cache: BytecodeCache) -> Self {
        Self {
            warm: HashMap::new(),
            recency: VecDeque::new(),
            warm_count: 0,
            warm_max,
            cache,
        }
    }

    /// Verifies the bundle, then runs the request in a fresh or warm isolate.
    pub(crate) fn run(
        &mut self,
        request: &InvocationRequest,
        blocker: &Blocker,
        watchdog: &Watchdog,
    ) -> Result<InvocationOutcome, RuntimeError> {
        let verified = request.bundle.verify()?;
        let limits = request.policy.limits();
        match request.policy.pool() {
            PoolKind::Fresh => {
                let mut isolate = Isolate::with_verified(
                    request.tenant.clone(),
                    &request.bundle,
                    verified,
                    limits,
                    self.cache.clone(),
                )?;
                isolate.invoke_verified(request, blocker, watchdog)
            }
            PoolKind::Warm => {
                let key = (request.tenant.clone(), request.bundle.expected_hash());
                let mut isolate = match self.take(&key, limits) {
                    Some(isolate) => isolate,
                    None => Isolate::with_verified(
                        request.tenant.clone(),
                        &request.bundle,
                        verified,
                        limits,
                        self.cache.clone(),
                    )?,
                };
                let result = isolate.invoke_verified(request, blocker, watchdog);
                if isolate.is_reusable() {
                    self.put(key, isolate);
                }
                result
            }
        }
    }

    fn take(&mut self, key: &PoolKey, limits: &crate::RuntimeLimits) -> Option<Isolate> {
        let isolates = self.warm.get_mut(key)?;
        while let Some(Parked { isolate, .. }) = isolates.pop() {
            self.warm_count -= 1;
            // An isolate built under other heap or stack limits is not reused.
            if isolate.limits() == limits {
                return Some(isolate);
            }
        }
        None
    }

    fn put(&mut self, key: PoolKey, isolate: Isolate) {
        self.warm.entry(key.clone()).or_default().push(Parked {
            isolate,
            since: Instant::now(),
        });
        self.recency.push_back(key);
        self.warm_count += 1;
        while self.warm_count > self.warm_max {
            let Some(oldest) = self.recency.pop_front() else {
                break;
            };
            if let Some(isolates) = self.warm.get_mut(&oldest)
                && !isolates.is_empty()
            {
                isolates.remove(0);
                self.warm_count -= 1;
                if isolates.is_empty() {
                    self.warm.remove(&oldest);
                }
            }
        }
        self.compact_recency();
    }

    /// Drops warm isolates unused for `idle_max`; returns how many.
    pub(crate) fn drop_idle(&mut self, idle_max: Duration) -> usize {
        let before = self.warm_count;
        self.warm.retain(|_, isolates| {
            isolates.retain(|parked| parked.since.elapsed() < idle_max);
            !isolates.is_empty()
        });
        self.warm_count = self.warm.values().map(Vec::len).sum();
        self.compact_recency();
        before - self.warm_count
    }

    fn compact_recency(&mut self) {
        // Stale recency entries (isolates taken since) are skipped by `put`; keep the deque bounded.
        if self.recency.len() > self.warm_max.saturating_mul(4).max(64) {
            let live: Vec<PoolKey> = self.recency.drain(..).collect();
            let mut seen: HashMap<PoolKey, usize> = HashMap::new();
            for key in live.into_iter().rev() {
                let have = self.warm.get(&key).map_or(0, Vec::len);
                let count = seen.entry(key.clone()).or_default();
                if *count < have {
                    *count += 1;
                    self.recency.push_front(key);
                }
            }
        }
    }
}
