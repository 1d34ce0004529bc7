//! Shared helpers for the runtime's integration tests: a recording bridge and one-liners to
//! run code in an isolate.

#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]

use std::sync::Arc;
use std::time::Duration;

use nimbus_runtime::{
    Blocker, BytecodeCache, CancelToken, EntryPoint, ExecutionMode, HostBridge, HostCall,
    HostCallContext, HostError, HostFuture, InvocationAuth, InvocationOutcome, InvocationRequest,
    Isolate, ReturnEncoding, RuntimeBundle, RuntimeError, RuntimeGrants, RuntimePolicy, TenantId,
    Watchdog,
};
use parking_lot::Mutex;

/// A bridge that records every call and answers from a small script of behaviours.
#[derive(Default)]
pub struct RecordingBridge {
    pub calls: Mutex<Vec<HostCall>>,
}

impl HostBridge for RecordingBridge {
    fn call(&self, _ctx: &HostCallContext, call: HostCall) -> Result<String, HostError> {
        self.calls.lock().push(call.clone());
        match call {
            HostCall::Syscall { op, args_json } | HostCall::AsyncSyscall { op, args_json } => {
                match op.as_str() {
                    "echo" => Ok(args_json),
                    "fail" => Err(HostError {
                        message: "host said no".into(),
                        data: Some(r#"{"code":42}"#.into()),
                    }),
                    _ => Err(HostError::new(format!("Unknown operation {op}"))),
                }
            }
            HostCall::EnvGet { name } => Ok(if name == "GREETING" {
                "\"hello\"".into()
            } else {
                "null".into()
            }),
            HostCall::Fetch(req) => Ok(serde_json::json!({
                "status": 200, "statusText": "OK",
                "headers": [["content-type", "text/plain"]],
                "bodyBase64": base64_encode(format!("{} {}", req.method, req.url).as_bytes()),
            })
            .to_string()),
        }
    }

    fn call_async(&self, ctx: &HostCallContext, call: HostCall) -> HostFuture {
        let slow = matches!(&call, HostCall::AsyncSyscall { op, .. } if op == "slow");
        let result = if slow {
            Ok("\"slow\"".into())
        } else {
            self.call(ctx, call)
        };
        Box::pin(async move {
            if slow {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            result
        })
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn policy_all_grants() -> RuntimePolicy {
    RuntimePolicy::builder()
        .grants(RuntimeGrants::all())
        .build()
        .unwrap()
}

pub fn request(
    bundle: &RuntimeBundle,
    policy: RuntimePolicy,
    bridge: Arc<dyn HostBridge>,
    module: &str,
    export: &str,
    mode: ExecutionMode,
) -> InvocationRequest {
    InvocationRequest {
        tenant: TenantId::new("t1"),
        bundle: bundle.clone(),
        policy: Arc::new(policy),
        bridge,
        entry: EntryPoint::Call {
            module: module.into(),
            export_path: vec![export.into()],
            args: vec![],
            returns: ReturnEncoding::Value,
        },
        mode,
        auth: InvocationAuth::Anonymous,
        request_id: "req-1".into(),
        cancel: CancelToken::new(),
    }
}

pub const DETERMINISTIC: ExecutionMode = ExecutionMode::Deterministic {
    seed: 7,
    now_ms: 1_700_000_000_000.0,
};

/// Runs `export` of a one-module bundle whose source is `source`, in a fresh isolate.
pub fn run_js(source: &str, mode: ExecutionMode) -> Result<InvocationOutcome, RuntimeError> {
    run_js_with(
        source,
        mode,
        policy_all_grants(),
        Arc::new(RecordingBridge::default()),
    )
}

pub fn run_js_with(
    source: &str,
    mode: ExecutionMode,
    policy: RuntimePolicy,
    bridge: Arc<dyn HostBridge>,
) -> Result<InvocationOutcome, RuntimeError> {
    let bundle = RuntimeBundle::from_sources([("main.js", source)]);
    let req = request(&bundle, policy.clone(), bridge, "main.js", "run", mode);
    let mut isolate = Isolate::new(
        req.tenant.clone(),
        &bundle,
        policy.limits(),
        BytecodeCache::default(),
    )?;
    isolate.invoke(&req, &Blocker::own(), &Watchdog::start())
}

pub fn run_ok(source: &str, mode: ExecutionMode) -> serde_json::Value {
    let outcome = run_js(source, mode).unwrap_or_else(|e| panic!("invocation failed: {e:?}"));
    serde_json::from_str(&outcome.result_json).unwrap()
}
