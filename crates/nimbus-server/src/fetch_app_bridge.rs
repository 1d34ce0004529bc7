//! The host side of a fetch app's request: `env.NIMBUS` calls (nested calls into the tenant's
//! functions), outbound `fetch`, and the `fetch/*` syscalls that stream bodies and send the
//! response early (`ctx.waitUntil`, streamed responses).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use nimbus_functions::{CallRequest, Caller, FunctionKind, FunctionRunner};
use nimbus_runtime::{HostBridge, HostCall, HostCallContext, HostError, HostFuture};
use nimbus_storage::TenantName;
use nimbus_values::Value;
use serde_json::Value as Json;

use crate::fetch_app_bodies::{RequestBodyReader, ResponseBodyWriter};

/// The host side of a fetch app: `env.NIMBUS` calls and outbound `fetch`.
pub(crate) struct FetchAppBridge {
    pub(crate) runner: FunctionRunner,
    pub(crate) tenant: TenantName,
    /// Taken by the first `fetch/respond`: the handler answered before its `ctx.waitUntil`
    /// work finished, so the server replies without waiting for the invocation to end.
    pub(crate) respond: parking_lot::Mutex<Option<tokio::sync::oneshot::Sender<String>>>,
    pub(crate) request_body: Arc<RequestBodyReader>,
    pub(crate) response_body: Arc<ResponseBodyWriter>,
}

impl HostBridge for FetchAppBridge {
    fn call(&self, _ctx: &HostCallContext, call: HostCall) -> Result<String, HostError> {
        if let HostCall::Syscall { op, .. } = &call
            && op == "fetch/end"
        {
            self.response_body.end();
            return Ok("null".into());
        }
        if let HostCall::Syscall { op, args_json } = &call
            && op == "fetch/respond"
        {
            let sender = self.respond.lock().take();
            return match sender {
                Some(sender) => {
                    // The receiver is gone only if the request was abandoned; nothing to do.
                    let _ = sender.send(args_json.clone());
                    Ok("null".into())
                }
                None => Err(HostError::new("the response was already sent")),
            };
        }
        Err(HostError::new(format!(
            "{} is not available to fetch apps",
            call.describe()
        )))
    }

    fn call_async(&self, _ctx: &HostCallContext, call: HostCall) -> HostFuture {
        let (runner, tenant) = (self.runner.clone(), self.tenant.clone());
        let (request_body, response_body) = (self.request_body.clone(), self.response_body.clone());
        Box::pin(async move {
            match call {
                HostCall::AsyncSyscall { op, .. } if op == "fetch/read" => {
                    let chunk = request_body.next_chunk().await?;
                    Ok(Json::from(chunk.map(|c| STANDARD.encode(c))).to_string())
                }
                HostCall::AsyncSyscall { op, args_json } if op == "fetch/write" => {
                    let encoded: String = serde_json::from_str(&args_json)
                        .map_err(|e| HostError::new(e.to_string()))?;
                    let chunk = STANDARD
                        .decode(encoded)
                        .map_err(|e| HostError::new(e.to_string()))?;
                    response_body.write(chunk.into()).await?;
                    Ok("null".into())
                }
                HostCall::AsyncSyscall { op, args_json } => {
                    let kind = match op.as_str() {
                        "nimbus/query" => FunctionKind::Query,
                        "nimbus/mutation" => FunctionKind::Mutation,
                        "nimbus/action" => FunctionKind::Action,
                        _ => return Err(HostError::new(format!("unknown operation {op}"))),
                    };
                    let args: Json = serde_json::from_str(&args_json)
                        .map_err(|e| HostError::new(e.to_string()))?;
                    let path = args["name"]
                        .as_str()
                        .ok_or_else(|| HostError::new("env.NIMBUS calls need a function name"))?
                        .to_owned();
                    let value = Value::from_json(&args["args"])
                        .map_err(|e| HostError::new(e.to_string()))?;
                    let outcome = runner
                        .call(CallRequest {
                            tenant,
                            path,
                            args: value,
                            // A nested call: the app's invocation already holds an admission
                            // slot, and queueing behind it could deadlock once every worker
                            // runs an app waiting on its tenant's functions. Like an admin,
                            // a nested caller may reach internal functions.
                            caller: Caller::Function { depth: 1 },
                            identity: None,
                            expected_kind: Some(kind),
                        })
                        .await
                        .map_err(|e| HostError {
                            message: e.message,
                            data: e.data.map(|d| d.to_json_text()),
                        })?;
                    Ok(outcome.value.to_json().to_string())
                }
                HostCall::Fetch(request) => runner.fetcher().fetch(tenant.as_str(), request).await,
                other => Err(HostError::new(format!(
                    "{} is not available to fetch apps",
                    other.describe()
                ))),
            }
        })
    }
}
