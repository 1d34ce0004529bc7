//! The embedded bundler produces code that behaves like the Convex CLI's esbuild output: the
//! fixture app (tests/fixtures/app), bundled here instead of by esbuild, deploys and its
//! functions answer the same way.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use nimbus_engine::{Engine, EngineLimits};
use nimbus_functions::{CallRequest, Caller, FunctionKind, FunctionRunner, RunnerConfig};
use nimbus_runtime::{ExecutorConfig, RuntimeExecutor};
use nimbus_storage::{MemoryPersistence, TenantName};
use nimbus_values::Value;
use serde_json::json;

fn fixture_app() -> PathBuf {
    let app = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/app");
    assert!(
        app.join("../node_modules/convex").is_dir(),
        "tests/fixtures/node_modules is missing; run `npm ci --prefix tests/fixtures` first"
    );
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fixture_app_bundled_by_nimbus_behaves_like_the_esbuild_bundle() {
    let bundled = nimbus_cli::bundle::bundle(&fixture_app())
        .unwrap_or_else(|e| panic!("bundling failed: {e}"));
    assert_eq!(
        bundled.entry_count, 11,
        "the same function modules as the Convex CLI finds"
    );
    assert!(bundled.modules.schema.is_some());
    let engine = Arc::new(Engine::new(
        Arc::new(MemoryPersistence::new()),
        EngineLimits::default(),
    ));
    let executor = Arc::new(RuntimeExecutor::new(ExecutorConfig {
        workers: 2,
        tokio_handle: Some(tokio::runtime::Handle::current()),
        ..Default::default()
    }));
    let runner = FunctionRunner::new(engine, executor, RunnerConfig::default());
    let tenant = TenantName::new("parity").unwrap();
    let deployment = runner
        .deploy(&tenant, bundled.modules, BTreeMap::new())
        .await
        .unwrap();
    assert!(
        deployment.functions.len() >= 40,
        "found {} functions",
        deployment.functions.len()
    );
    assert_eq!(
        deployment
            .crons
            .as_ref()
            .unwrap()
            .as_object()
            .unwrap()
            .len(),
        6
    );
    let call = |path: &str, args: serde_json::Value| CallRequest {
        tenant: tenant.clone(),
        path: path.into(),
        args: Value::from_json(&args).unwrap(),
        caller: Caller::Public,
        identity: None,
        expected_kind: None,
    };
    runner
        .call(call("messages:send", json!({ "body": "b", "author": "a" })))
        .await
        .unwrap();
    let listed = runner
        .call(call("messages:byAuthor", json!({ "author": "a" })))
        .await
        .unwrap();
    assert_eq!(listed.kind, FunctionKind::Query);
    assert_eq!(listed.value.to_json()[0]["body"], "b");
    let err = runner
        .call(call("errors:needsNumber", json!({ "n": "x" })))
        .await
        .unwrap_err();
    assert!(
        err.message.starts_with("ArgumentValidationError"),
        "{}",
        err.message
    );
    let err = runner
        .call(call("errors:throwsConvexError", json!({})))
        .await
        .unwrap_err();
    assert_eq!(
        err.data.unwrap().to_json(),
        json!({ "code": 42, "message": "custom" })
    );
    let nested = runner
        .call(call("nested:actionCallsAll", json!({})))
        .await
        .unwrap();
    assert_eq!(nested.value.to_json()["product"].as_f64(), Some(20.0));
}

#[test]
fn generated_files_are_written_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("convex")).unwrap();
    let modules = vec!["messages.js".to_owned()];
    assert_eq!(
        nimbus_cli::codegen::generate(dir.path(), &modules, false).unwrap(),
        5
    );
    assert_eq!(
        nimbus_cli::codegen::generate(dir.path(), &modules, false).unwrap(),
        0,
        "unchanged files are not rewritten"
    );
    let api = std::fs::read_to_string(dir.path().join("convex/_generated/api.d.ts")).unwrap();
    assert!(api.contains("\"messages\": typeof module_0"), "{api}");
}
