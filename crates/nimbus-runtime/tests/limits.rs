//! Hostile code is stopped with a clear error, and the same executor then serves another
//! tenant's call. Each case runs through the real executor with real limits.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use nimbus_runtime::{
    EntryPoint, ErrorCode, ExecutorConfig, GrantFamily, HostBridge, InvocationRequest, PoolKind,
    ReturnEncoding, RuntimeBundle, RuntimeError, RuntimeExecutor, RuntimeGrants, RuntimePolicy,
    TenantId,
};

fn hostile_policy(pool: PoolKind) -> RuntimePolicy {
    RuntimePolicy::builder()
        .grants(RuntimeGrants::none().with(GrantFamily::Database))
        .heap_mib(32)
        .wall_timeout(Duration::from_millis(1000))
        .hard_deadline_grace(Duration::from_millis(500))
        .host_calls_max(1000)
        .stack_bytes_max(256 * 1024)
        .pool(pool)
        .build()
        .unwrap()
}

fn call(tenant: &str, source: &str, policy: RuntimePolicy) -> InvocationRequest {
    let bundle = RuntimeBundle::from_sources([("main.js", source)]);
    let bridge: Arc<dyn HostBridge> = Arc::new(RecordingBridge::default());
    let mut req = request(&bundle, policy, bridge, "main.js", "run", DETERMINISTIC);
    req.tenant = TenantId::new(tenant);
    req
}

async fn run_hostile(source: &str) -> RuntimeError {
    let executor = RuntimeExecutor::new(ExecutorConfig {
        workers: 1,
        ..Default::default()
    });
    let err = executor
        .invoke(call("evil", source, hostile_policy(PoolKind::Warm)))
        .await
        .expect_err("hostile code must not succeed");
    // The same executor (its single worker, or its replacement) serves the next tenant.
    let ok = executor
        .invoke(call(
            "good",
            "export function run() { return 42; }",
            hostile_policy(PoolKind::Warm),
        ))
        .await
        .expect("the quiet tenant's call must succeed after the hostile one");
    assert_eq!(ok.result_json, "42");
    err
}

fn assert_code(err: &RuntimeError, code: ErrorCode) {
    assert_eq!(err.code, code, "unexpected error: {err:?}");
    assert!(!err.message.is_empty());
}

#[tokio::test]
async fn infinite_loop_times_out() {
    let err = run_hostile("export function run() { while (true) {} }").await;
    assert_code(&err, ErrorCode::Timeout);
    assert!(err.message.contains("1000 ms"), "{}", err.message);
}

#[tokio::test]
async fn loop_inside_finally_times_out() {
    let err = run_hostile(
        "export function run() { try { while (true) {} } finally { while (true) {} } }",
    )
    .await;
    assert_code(&err, ErrorCode::Timeout);
}

#[tokio::test]
async fn catching_the_interrupt_does_not_help() {
    let err =
        run_hostile("export function run() { for (;;) { try { while (true) {} } catch (e) {} } }")
            .await;
    assert_code(&err, ErrorCode::Timeout);
}

#[tokio::test]
async fn infinite_microtask_loop_times_out() {
    let err = run_hostile(
        "export function run() { const f = () => { Promise.resolve().then(f); }; f(); return new Promise(() => {}); }",
    )
    .await;
    assert_code(&err, ErrorCode::Timeout);
}

#[tokio::test]
async fn catastrophic_regex_times_out() {
    let err =
        run_hostile(r#"export function run() { return /^(a+)+$/.test("a".repeat(40) + "b"); }"#)
            .await;
    assert_code(&err, ErrorCode::Timeout);
}

#[tokio::test]
async fn array_heap_bomb_is_out_of_memory() {
    let err = run_hostile(
        "export function run() { const a = []; while (true) a.push({ n: a.length, s: 'x' + a.length }); }",
    )
    .await;
    assert_code(&err, ErrorCode::OutOfMemory);
    assert!(err.message.contains("32 MiB"), "{}", err.message);
}

#[tokio::test]
async fn string_heap_bomb_is_out_of_memory() {
    let err =
        run_hostile("export function run() { let s = 'xy'; while (true) s = s.repeat(2); }").await;
    assert_code(&err, ErrorCode::OutOfMemory);
}

#[tokio::test]
async fn map_heap_bomb_is_out_of_memory() {
    let err = run_hostile(
        "export function run() { const m = new Map(); for (let i = 0;; i++) m.set(i, [i]); }",
    )
    .await;
    assert_code(&err, ErrorCode::OutOfMemory);
}

#[tokio::test]
async fn one_gib_array_buffer_is_out_of_memory_even_when_caught() {
    let err = run_hostile(
        "export function run() { try { new ArrayBuffer(1024 * 1024 * 1024); } catch (e) {} while (true) {} }",
    )
    .await;
    assert_code(&err, ErrorCode::OutOfMemory);
}

#[tokio::test]
async fn unbounded_recursion_is_a_stack_overflow() {
    let err =
        run_hostile("export function run() { const f = (n) => f(n + 1) + 1; return f(0); }").await;
    assert_code(&err, ErrorCode::StackOverflow);
}

#[tokio::test]
async fn host_call_flood_exhausts_the_budget_even_when_caught() {
    let err = run_hostile(
        r#"export function run() { for (;;) { try { Convex.syscall("echo", "{}"); } catch (e) {} } }"#,
    )
    .await;
    assert_code(&err, ErrorCode::HostCallBudget);
}

#[tokio::test]
async fn async_host_call_flood_exhausts_the_budget() {
    let err = run_hostile(
        r#"export async function run() { for (;;) { await Convex.asyncSyscall("echo", "{}"); } }"#,
    )
    .await;
    assert_code(&err, ErrorCode::HostCallBudget);
}

#[tokio::test]
async fn huge_native_sort_quarantines_the_worker_and_service_continues() {
    // Array.prototype.sort of millions of items runs in native code the interrupt cannot
    // reach; the hard deadline answers the caller and replaces the worker.
    let executor = RuntimeExecutor::new(ExecutorConfig {
        workers: 1,
        ..Default::default()
    });
    let policy = RuntimePolicy::builder()
        .heap_mib(1024)
        .wall_timeout(Duration::from_millis(50))
        .hard_deadline_grace(Duration::from_millis(50))
        .pool(PoolKind::Fresh)
        .build()
        .unwrap();
    let source = "export function run() { const a = []; for (let i = 0; i < 3e6; i++) a.push((i * 7919) % 1000003); a.sort(); a.sort(); a.sort(); return a.length; }";
    let err = executor
        .invoke(call("evil", source, policy.clone()))
        .await
        .unwrap_err();
    assert!(
        matches!(err.code, ErrorCode::WorkerQuarantined | ErrorCode::Timeout),
        "unexpected error: {err:?}"
    );
    let ok = executor
        .invoke(call(
            "good",
            "export function run() { return 'still here'; }",
            policy,
        ))
        .await
        .unwrap();
    assert_eq!(ok.result_json, "\"still here\"");
    if err.code == ErrorCode::WorkerQuarantined {
        assert_eq!(executor.stats().quarantined_total, 1);
        assert_eq!(
            executor.stats().workers,
            1,
            "a replacement worker must be running"
        );
    }
}

#[tokio::test]
async fn cancellation_stops_a_running_call() {
    let executor = RuntimeExecutor::new(ExecutorConfig {
        workers: 1,
        ..Default::default()
    });
    let policy = RuntimePolicy::builder()
        .wall_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let req = call("evil", "export function run() { while (true) {} }", policy);
    let cancel = req.cancel.clone();
    let pending = executor.invoke(req);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(30)).await;
        cancel.cancel();
    });
    let err = tokio::time::timeout(Duration::from_secs(10), pending)
        .await
        .unwrap()
        .unwrap_err();
    assert_code(&err, ErrorCode::Cancelled);
}

#[tokio::test]
async fn tampered_bundle_never_runs() {
    let executor = RuntimeExecutor::new(ExecutorConfig {
        workers: 1,
        ..Default::default()
    });
    let bridge = Arc::new(RecordingBridge::default());
    let genuine = RuntimeBundle::from_sources([("main.js", "export function run() { return 1; }")]);
    let tampered = RuntimeBundle::new(
        vec![nimbus_runtime::ModuleSource {
            path: "main.js".into(),
            source: r#"export function run() { Convex.syscall("echo", "{}"); return 2; }"#.into(),
        }],
        genuine.expected_hash(),
    );
    for pool in [PoolKind::Fresh, PoolKind::Warm] {
        let policy = RuntimePolicy::builder()
            .grants(RuntimeGrants::all())
            .pool(pool)
            .build()
            .unwrap();
        let req = request(
            &tampered,
            policy,
            bridge.clone(),
            "main.js",
            "run",
            DETERMINISTIC,
        );
        let err = executor.invoke(req).await.unwrap_err();
        assert_code(&err, ErrorCode::BundleIntegrity);
    }
    assert!(
        bridge.calls.lock().is_empty(),
        "tampered code must not have run"
    );
}

#[tokio::test]
async fn calls_outside_the_grants_fail_closed() {
    let executor = RuntimeExecutor::new(ExecutorConfig {
        workers: 1,
        ..Default::default()
    });
    let bridge = Arc::new(RecordingBridge::default());
    let bundle = RuntimeBundle::from_sources([(
        "main.js",
        r#"export async function run() { return await Convex.asyncSyscall("1.0/schedule", "{}"); }"#,
    )]);
    let policy = RuntimePolicy::builder()
        .grants(RuntimeGrants::none().with(GrantFamily::Database))
        .build()
        .unwrap();
    let req = request(
        &bundle,
        policy,
        bridge.clone(),
        "main.js",
        "run",
        DETERMINISTIC,
    );
    let err = executor.invoke(req).await.unwrap_err();
    assert_code(&err, ErrorCode::GrantDenied);
    assert!(err.message.contains("`scheduler`"), "{}", err.message);
    assert!(
        bridge.calls.lock().is_empty(),
        "a denied call must never reach the bridge"
    );

    let env_bundle = RuntimeBundle::from_sources([(
        "main.js",
        "export function run() { return process.env.GREETING; }",
    )]);
    let req = request(
        &env_bundle,
        RuntimePolicy::builder().build().unwrap(),
        bridge.clone(),
        "main.js",
        "run",
        DETERMINISTIC,
    );
    assert_code(
        &executor.invoke(req).await.unwrap_err(),
        ErrorCode::GrantDenied,
    );
}

#[tokio::test]
async fn script_entry_points_can_import_bundle_modules() {
    let executor = RuntimeExecutor::new(ExecutorConfig {
        workers: 1,
        ..Default::default()
    });
    let bundle = RuntimeBundle::from_sources([(
        "messages.js",
        "export const list = { isQuery: true }; export const send = { isMutation: true };",
    )]);
    let mut req = request(
        &bundle,
        policy_all_grants(),
        Arc::new(RecordingBridge::default()),
        "",
        "",
        DETERMINISTIC,
    );
    req.entry = EntryPoint::Script {
        source: "import * as m from './messages.js'; export default () => Object.keys(m).sort();"
            .into(),
    };
    let outcome = executor.invoke(req).await.unwrap();
    assert_eq!(outcome.result_json, r#"["list","send"]"#);
    let _ = ReturnEncoding::Value;
}
