//! Admission, fairness and pooling through the real executor.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use nimbus_runtime::{
    AdmissionCaps, ErrorCode, ExecutionMode, ExecutorConfig, HostBridge, InvocationRequest,
    PoolKind, RuntimeBundle, RuntimeExecutor, RuntimePolicy, TenantId,
};

fn policy(pool: PoolKind, caps: AdmissionCaps) -> RuntimePolicy {
    RuntimePolicy::builder()
        .pool(pool)
        .admission(caps)
        .build()
        .unwrap()
}

fn call(
    tenant: &str,
    bundle: &RuntimeBundle,
    policy: RuntimePolicy,
    seed: u64,
) -> InvocationRequest {
    let bridge: Arc<dyn HostBridge> = Arc::new(RecordingBridge::default());
    let mode = ExecutionMode::Deterministic { seed, now_ms: 1.0 };
    let mut req = request(bundle, policy, bridge, "main.js", "run", mode);
    req.tenant = TenantId::new(tenant);
    req
}

const BUSY: &str =
    "export function run() { let x = 0; for (let i = 0; i < 200000; i++) x += i; return x; }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_noisy_tenant_cannot_starve_a_quiet_one() {
    let executor = Arc::new(RuntimeExecutor::new(ExecutorConfig {
        workers: 1,
        ..Default::default()
    }));
    let bundle = RuntimeBundle::from_sources([("main.js", BUSY)]);
    let caps = AdmissionCaps {
        active_max: 1,
        queue_max: 64,
        in_flight_max: 65,
    };
    let noisy_policy = policy(PoolKind::Warm, caps);
    let noisy_done = Arc::new(AtomicUsize::new(0));
    let mut rejected = 0;
    let mut noisy = Vec::new();
    for i in 0..200 {
        let pending = executor.invoke(call("noisy", &bundle, noisy_policy.clone(), i));
        let done = noisy_done.clone();
        noisy.push(tokio::spawn(async move {
            let result = pending.await;
            if result.is_ok() {
                done.fetch_add(1, Ordering::SeqCst);
            }
            result
        }));
    }
    tokio::task::yield_now().await;
    // The noisy tenant's queue is full: the rest were turned away at once, not queued. (A
    // call it has a free active slot for waits for the worker without counting as queued.)
    let stats = executor.tenant_stats(&TenantId::new("noisy"));
    assert!(
        stats.queued <= (caps.queue_max + caps.active_max) as usize,
        "queue must be bounded, got {}",
        stats.queued
    );

    for i in 0..5 {
        let before = noisy_done.load(Ordering::SeqCst);
        let quiet = executor
            .invoke(call("quiet", &bundle, policy(PoolKind::Warm, caps), i))
            .await;
        assert!(quiet.is_ok(), "quiet call failed: {quiet:?}");
        let after = noisy_done.load(Ordering::SeqCst);
        // Round-robin: the quiet call waits for at most the noisy job in progress and one more
        // turn, never for the noisy tenant's whole queue.
        assert!(
            after - before <= 2,
            "quiet call waited for {} noisy calls",
            after - before
        );
    }
    for handle in noisy {
        match handle.await.unwrap() {
            Ok(_) => {}
            Err(e) => {
                assert_eq!(e.code, ErrorCode::TenantOverCapacity, "{e:?}");
                assert!(e.message.contains("tenant 'noisy'"), "{}", e.message);
                rejected += 1;
            }
        }
    }
    assert!(
        rejected >= 200 - 65,
        "expected most of the flood rejected, got {rejected}"
    );
    assert_eq!(executor.stats().rejected_total as usize, rejected);
}

#[tokio::test]
async fn warm_isolates_keep_module_state_per_tenant_and_bundle_only() {
    let executor = RuntimeExecutor::new(ExecutorConfig {
        workers: 1,
        ..Default::default()
    });
    let source = r#"
        let calls = 0;
        export function run() {
            calls += 1;
            globalThis.leak = (globalThis.leak || 0) + 1;
            return { calls, leak: globalThis.leak, random: Math.random(), now: Date.now() };
        }
    "#;
    let bundle = RuntimeBundle::from_sources([("main.js", source)]);
    let warm = policy(PoolKind::Warm, AdmissionCaps::default());
    let first = executor
        .invoke(call("a", &bundle, warm.clone(), 1))
        .await
        .unwrap();
    let second = executor
        .invoke(call("a", &bundle, warm.clone(), 2))
        .await
        .unwrap();
    let other_tenant = executor
        .invoke(call("b", &bundle, warm.clone(), 1))
        .await
        .unwrap();
    let parse = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
    let (first, second, other) = (
        parse(&first.result_json),
        parse(&second.result_json),
        parse(&other_tenant.result_json),
    );
    assert_eq!(first["calls"], 1);
    assert_eq!(
        second["calls"], 2,
        "warm isolates keep module state for the same tenant"
    );
    assert_eq!(other["calls"], 1, "another tenant never sees that state");
    assert_eq!(other["leak"], 1);
    assert_ne!(
        first["random"], second["random"],
        "a new seed each invocation"
    );
    assert_eq!(first["random"], other["random"], "same seed, same sequence");

    let fresh = policy(PoolKind::Fresh, AdmissionCaps::default());
    let a = executor
        .invoke(call("c", &bundle, fresh.clone(), 1))
        .await
        .unwrap();
    let b = executor.invoke(call("c", &bundle, fresh, 1)).await.unwrap();
    assert_eq!(
        a.result_json, b.result_json,
        "fresh isolates share nothing between calls"
    );
    assert!(!b.isolate_reused);
}

#[tokio::test]
async fn warm_isolates_start_each_call_without_leftover_timers() {
    let executor = RuntimeExecutor::new(ExecutorConfig {
        workers: 1,
        ..Default::default()
    });
    let source = r#"
        let fired = 0;
        export async function run() {
            setTimeout(() => { fired += 1; }, 60_000);
            return fired;
        }
    "#;
    let bundle = RuntimeBundle::from_sources([("main.js", source)]);
    let warm = RuntimePolicy::builder()
        .pool(PoolKind::Warm)
        .wall_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    for _ in 0..3 {
        let mut req = call("a", &bundle, warm.clone(), 1);
        req.mode = ExecutionMode::Action;
        let outcome = executor.invoke(req).await.unwrap();
        assert_eq!(outcome.result_json, "0");
    }
}

#[tokio::test]
async fn in_flight_cap_rejects_immediately() {
    let executor = RuntimeExecutor::new(ExecutorConfig {
        workers: 1,
        ..Default::default()
    });
    let bundle = RuntimeBundle::from_sources([("main.js", BUSY)]);
    let caps = AdmissionCaps {
        active_max: 1,
        queue_max: 2,
        in_flight_max: 2,
    };
    let p = policy(PoolKind::Warm, caps);
    let a = executor.invoke(call("t", &bundle, p.clone(), 1));
    let b = executor.invoke(call("t", &bundle, p.clone(), 2));
    let c = executor.invoke(call("t", &bundle, p.clone(), 3));
    let c = tokio::time::timeout(Duration::from_secs(5), c)
        .await
        .expect("rejection must be immediate");
    assert_eq!(c.unwrap_err().code, ErrorCode::TenantOverCapacity);
    a.await.unwrap();
    b.await.unwrap();
    assert_eq!(executor.stats().completed_total, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_isolates_unused_for_their_idle_time_are_dropped() {
    let executor = RuntimeExecutor::new(ExecutorConfig {
        workers: 1,
        warm_isolate_idle_max: Duration::from_millis(200),
        ..Default::default()
    });
    let bundle = RuntimeBundle::from_sources([("main.js", BUSY)]);
    let warm = policy(PoolKind::Warm, AdmissionCaps::default());
    let first = executor
        .invoke(call("t", &bundle, warm.clone(), 1))
        .await
        .unwrap();
    let again = executor
        .invoke(call("t", &bundle, warm.clone(), 2))
        .await
        .unwrap();
    assert!(!first.isolate_reused);
    assert!(again.isolate_reused, "a warm isolate serves the next call");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let later = executor.invoke(call("t", &bundle, warm, 3)).await.unwrap();
    assert!(
        !later.isolate_reused,
        "the isolate left unused past its idle time was dropped"
    );
}

#[tokio::test]
async fn a_zero_queue_admits_calls_within_the_active_slots() {
    let executor = RuntimeExecutor::new(ExecutorConfig {
        workers: 1,
        ..Default::default()
    });
    let bundle = RuntimeBundle::from_sources([("main.js", BUSY)]);
    let caps = AdmissionCaps {
        active_max: 2,
        queue_max: 0,
        in_flight_max: 2,
    };
    let p = policy(PoolKind::Warm, caps);
    // Two slots: both run (the second waits for the one worker), a third is refused at once.
    let a = executor.invoke(call("t", &bundle, p.clone(), 1));
    let b = executor.invoke(call("t", &bundle, p.clone(), 2));
    let c = tokio::time::timeout(
        Duration::from_secs(5),
        executor.invoke(call("t", &bundle, p.clone(), 3)),
    )
    .await
    .expect("rejection must be immediate");
    assert_eq!(c.unwrap_err().code, ErrorCode::TenantOverCapacity);
    a.await.unwrap();
    b.await.unwrap();
    // With the slots free again, the next call runs.
    executor.invoke(call("t", &bundle, p, 4)).await.unwrap();
    assert_eq!(executor.stats().completed_total, 3);
}

/// Answers like [`RecordingBridge`], but a sync `boom` syscall panics (a host-side bug).
#[derive(Default)]
struct PanickingBridge(RecordingBridge);

impl HostBridge for PanickingBridge {
    fn call(
        &self,
        ctx: &nimbus_runtime::HostCallContext,
        call: nimbus_runtime::HostCall,
    ) -> Result<String, nimbus_runtime::HostError> {
        if matches!(&call, nimbus_runtime::HostCall::Syscall { op, .. } if op == "boom") {
            panic!("bridge bug");
        }
        self.0.call(ctx, call)
    }

    fn call_async(
        &self,
        ctx: &nimbus_runtime::HostCallContext,
        call: nimbus_runtime::HostCall,
    ) -> nimbus_runtime::HostFuture {
        self.0.call_async(ctx, call)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_host_call_fails_its_call_and_the_worker_keeps_serving() {
    let executor = RuntimeExecutor::new(ExecutorConfig {
        workers: 1,
        ..Default::default()
    });
    // An async call is pending (its resolvers live in the isolate's state) when the panic hits.
    let source = "export async function run() { const pending = Convex.asyncSyscall('slow', '{}'); \
                  Convex.syscall('boom', '{}'); return await pending; }";
    let bundle = RuntimeBundle::from_sources([("main.js", source)]);
    let caps = AdmissionCaps {
        active_max: 1,
        queue_max: 0,
        in_flight_max: 1,
    };
    for pool in [PoolKind::Warm, PoolKind::Fresh] {
        let p = RuntimePolicy::builder()
            .pool(pool)
            .admission(caps)
            .grants(nimbus_runtime::RuntimeGrants::all())
            .build()
            .unwrap();
        for seed in 0..3 {
            let mut req = call("t", &bundle, p.clone(), seed);
            req.bridge = Arc::new(PanickingBridge::default());
            let error = executor.invoke(req).await.unwrap_err();
            assert_eq!(error.code, ErrorCode::Internal, "{error:?}");
            assert!(error.message.contains("bridge bug"), "{error:?}");
        }
    }
    // The one worker is alive and the tenant's slot was released each time.
    let healthy = RuntimeBundle::from_sources([("main.js", BUSY)]);
    let p = policy(PoolKind::Warm, caps);
    executor.invoke(call("t", &healthy, p, 9)).await.unwrap();
    assert_eq!(executor.stats().completed_total, 7);
}
