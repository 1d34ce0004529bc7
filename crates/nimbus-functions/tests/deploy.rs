//! Pushing broken code is rejected with the module and position, and the previous deployment
//! keeps serving; deterministic functions give the same result for the same seed.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use nimbus_functions::AppModules;
use nimbus_runtime::{
    BytecodeCache, CancelToken, EntryPoint, ExecutionMode, InvocationAuth, InvocationRequest,
    Isolate, ModuleSource, NoHost, ReturnEncoding, RuntimeGrants, RuntimePolicy, TenantId,
    Watchdog,
};
use serde_json::json;
use support::{Harness, fixture_modules};

fn with_module(path: &str, source: &str) -> AppModules {
    let mut modules = fixture_modules();
    modules.modules.push(ModuleSource {
        path: path.into(),
        source: source.into(),
    });
    modules
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_pushes_are_rejected_and_the_old_deployment_keeps_serving() {
    let h = Harness::new().await;
    h.ok("messages:send", json!({ "body": "before", "author": "a" }))
        .await;
    let cases = [
        ("syntax.js", "export const x = ;", "syntax.js"),
        (
            "throws.js",
            "throw new Error('top-level failure');\nexport const y = 1;",
            "top-level failure",
        ),
    ];
    for (path, source, expected) in cases {
        let err = h
            .runner
            .deploy(&h.tenant, with_module(path, source), BTreeMap::new())
            .await
            .unwrap_err();
        assert!(err.message.contains(path), "{}", err.message);
        assert!(err.message.contains(expected), "{}", err.message);
    }
    let mut bad_schema = fixture_modules();
    bad_schema.schema = Some(ModuleSource {
        path: "schema.js".into(),
        source: "export default { export() { return JSON.stringify({ tables: [{ tableName: '9bad' }], schemaValidation: true }); } };".into(),
    });
    let err = h
        .runner
        .deploy(&h.tenant, bad_schema, BTreeMap::new())
        .await
        .unwrap_err();
    assert!(err.message.contains("9bad"), "{}", err.message);
    let list = h.ok("messages:list", json!({})).await;
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "the previous deployment still serves"
    );
}

#[test]
fn same_query_same_seed_same_result() {
    let modules = fixture_modules();
    let bundle = modules.bundle();
    let policy = RuntimePolicy::builder()
        .grants(RuntimeGrants::all())
        .build()
        .unwrap();
    let run = |seed: u64| {
        let request = InvocationRequest {
            tenant: TenantId::new("t"),
            bundle: bundle.clone(),
            policy: Arc::new(policy.clone()),
            bridge: Arc::new(NoHost),
            entry: EntryPoint::Call {
                module: "determinism.js".into(),
                export_path: vec!["sample".into(), "invokeQuery".into()],
                args: vec!["[{}]".into()],
                returns: ReturnEncoding::JsonText,
            },
            mode: ExecutionMode::Deterministic {
                seed,
                now_ms: 1_700_000_000_000.0,
            },
            auth: InvocationAuth::Anonymous,
            request_id: "r".into(),
            cancel: CancelToken::new(),
        };
        let mut isolate = Isolate::new(
            request.tenant.clone(),
            &bundle,
            policy.limits(),
            BytecodeCache::default(),
        )
        .unwrap();
        isolate
            .invoke(
                &request,
                &nimbus_runtime::Blocker::own(),
                &Watchdog::start(),
            )
            .unwrap()
            .result_json
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
    assert!(run(1).contains("1700000000000"), "{}", run(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_code_is_analysed_once_per_environment() {
    let h = Harness::new().await;
    let invocations = || {
        let stats = h.runner.executor().stats();
        stats.completed_total + stats.unqueued_total
    };
    let other = nimbus_storage::TenantName::new("second").unwrap();

    // Already analysed for the first tenant: deploying it again, anywhere, runs no code.
    let before = invocations();
    h.runner
        .deploy(&other, fixture_modules(), BTreeMap::new())
        .await
        .unwrap();
    h.runner
        .deploy(&h.tenant, fixture_modules(), BTreeMap::new())
        .await
        .unwrap();
    assert_eq!(invocations(), before, "a cached analysis evaluates nothing");
    let sent = h
        .runner
        .call(nimbus_functions::CallRequest {
            tenant: other.clone(),
            path: "messages:send".into(),
            args: nimbus_values::Value::from_json(&json!({ "body": "hi", "author": "b" })).unwrap(),
            caller: nimbus_functions::Caller::Admin,
            identity: None,
            expected_kind: None,
        })
        .await;
    assert!(sent.is_ok(), "the second tenant serves: {sent:?}");

    // Other environment variables may change what module code does at import: analysed anew.
    let env = BTreeMap::from([("FEATURE".to_owned(), "on".to_owned())]);
    let before = invocations();
    h.runner
        .deploy(&other, fixture_modules(), env)
        .await
        .unwrap();
    assert!(invocations() > before, "a new environment is analysed");
}
