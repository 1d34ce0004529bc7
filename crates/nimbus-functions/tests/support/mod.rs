//! Test harness: the fixture Convex app (bundled by `tests/fixtures/bundle.mjs` with the real
//! `convex` package), an engine, an executor and a runner on a manual clock.

#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use nimbus_engine::{Engine, EngineLimits};
use nimbus_functions::{
    AppModules, CallOutcome, CallRequest, Caller, FunctionError, FunctionRunner, ManualClock,
    RunnerConfig,
};
use nimbus_runtime::{ExecutorConfig, ModuleSource, RuntimeExecutor};
use nimbus_storage::{MemoryPersistence, Persistence, TenantName};
use nimbus_values::Value;
use serde_json::Value as Json;

/// Midday, 2026-11-22 UTC.
pub const START_MS: f64 = 1_795_348_800_000.0;

pub fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/app.bundle.json")
}

/// The fixture app's modules, as the bundler wrote them.
pub fn fixture_modules() -> AppModules {
    let path = fixture_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{} is missing ({e}). Bundle the fixture app first:\n  npm ci --prefix tests/fixtures && node tests/fixtures/bundle.mjs tests/fixtures/app tests/fixtures/app.bundle.json",
            path.display()
        )
    });
    let json: Json = serde_json::from_str(&text).unwrap();
    let module = |m: &Json| ModuleSource {
        path: m["path"].as_str().unwrap().into(),
        source: m["source"].as_str().unwrap().into(),
    };
    AppModules {
        modules: json["modules"]
            .as_array()
            .unwrap()
            .iter()
            .map(module)
            .collect(),
        schema: json.get("schema").filter(|s| !s.is_null()).map(module),
    }
}

pub struct Harness {
    pub runner: FunctionRunner,
    pub clock: Arc<ManualClock>,
    pub tenant: TenantName,
}

impl Harness {
    pub async fn new() -> Self {
        Self::with(Arc::new(MemoryPersistence::new()), RunnerConfig::default()).await
    }

    pub async fn with(persistence: Arc<dyn Persistence>, config: RunnerConfig) -> Self {
        let h = Self::unstarted(persistence, config);
        h.runner
            .deploy(&h.tenant, fixture_modules(), BTreeMap::new())
            .await
            .expect("the fixture app deploys");
        h
    }

    pub fn unstarted(persistence: Arc<dyn Persistence>, config: RunnerConfig) -> Self {
        let engine = Arc::new(Engine::new(persistence, EngineLimits::default()));
        let executor = Arc::new(RuntimeExecutor::new(ExecutorConfig {
            workers: 2,
            tokio_handle: Some(tokio::runtime::Handle::current()),
            ..Default::default()
        }));
        let clock = ManualClock::new(START_MS);
        let runner = FunctionRunner::with_clock(engine, executor, config, clock.clone());
        Self {
            runner,
            clock,
            tenant: TenantName::new("fixture").unwrap(),
        }
    }

    pub async fn call_as(
        &self,
        caller: Caller,
        identity: Option<Json>,
        path: &str,
        args: Json,
    ) -> Result<CallOutcome, FunctionError> {
        self.runner
            .call(CallRequest {
                tenant: self.tenant.clone(),
                path: path.into(),
                args: Value::from_json(&args).unwrap(),
                caller,
                identity,
                expected_kind: None,
            })
            .await
    }

    pub async fn call(&self, path: &str, args: Json) -> Result<CallOutcome, FunctionError> {
        self.call_as(Caller::Public, None, path, args).await
    }

    /// Calls and returns the value as plain JSON (Convex-encoded).
    pub async fn ok(&self, path: &str, args: Json) -> Json {
        match self.call(path, args).await {
            Ok(outcome) => outcome.value.to_json(),
            Err(e) => panic!("{path} failed: {e:?}"),
        }
    }

    pub async fn err(&self, path: &str, args: Json) -> FunctionError {
        match self.call(path, args).await {
            Ok(outcome) => panic!("{path} should have failed but returned {:?}", outcome.value),
            Err(e) => e,
        }
    }
}
