//! The host side of a fetch app's request: `env.NIMBUS` calls (nested calls into the tenant's
//! functions), outbound `fetch`, and the `fetch/*` syscalls that stream bodies and send the
//! response early (`ctx.waitUntil`, streamed responses).

use std::sync::Arc;

use nimbus_functions::http_body::HttpExchange;
use nimbus_functions::{CallRequest, Caller, FunctionKind, FunctionRunner};
use nimbus_runtime::{HostBridge, HostCall, HostCallContext, HostError, HostFuture};
use nimbus_storage::TenantName;
use nimbus_values::Value;
use serde_json::Value as Json;

/// The host side of a fetch app: `env.NIMBUS` calls and outbound `fetch`.
pub(crate) struct FetchAppBridge {
    pub(crate) runner: FunctionRunner,
    pub(crate) tenant: TenantName,
    /// The request's streamed bodies and early answer (a streamed response, or an answer
    /// sent before the `ctx.waitUntil` work finished).
    pub(crate) exchange: Arc<HttpExchange>,
}

impl HostBridge for FetchAppBridge {
    fn call(&self, _ctx: &HostCallContext, call: HostCall) -> Result<String, HostError> {
        if let HostCall::Syscall { op, args_json } = &call
            && let Some(result) = self.exchange.sync_call(op, args_json)
        {
            return result;
        }
        Err(HostError::new(format!(
            "{} is not available to fetch apps",
            call.describe()
        )))
    }

    fn call_async(&self, _ctx: &HostCallContext, call: HostCall) -> HostFuture {
        let (runner, tenant) = (self.runner.clone(), self.tenant.clone());
        let exchange = self.exchange.clone();
        Box::pin(async move {
            match call {
                HostCall::AsyncSyscall { op, args_json } if HttpExchange::is_async_op(&op) => {
                    exchange.async_call(&op, &args_json).await
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
