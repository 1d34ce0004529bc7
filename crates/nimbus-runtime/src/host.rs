//! `HostBridge`: the single trait through which running code reaches anything outside the
//! isolate, and `HostCall`, the one enum of every host operation.
//!
//! There is no second channel: `Convex.syscall`, `Convex.asyncSyscall`, `fetch` and
//! `process.env` all become a [`HostCall`], are checked against the tenant's grants and the
//! invocation's host-call budget, and only then reach the bridge.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::grants::{GrantFamily, RuntimeGrants};
use crate::invocation::{InvocationAuth, TenantId};

/// A future returned by [`HostBridge::call_async`].
pub type HostFuture = Pin<Box<dyn Future<Output = Result<String, HostError>> + Send + 'static>>;

/// An outbound HTTP request made by `fetch` in an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    /// Absolute URL.
    pub url: String,
    /// Upper-case method.
    pub method: String,
    /// Header pairs in order.
    pub headers: Vec<(String, String)>,
    /// Request body, if any.
    pub body: Option<Vec<u8>>,
}

/// Every operation running code can ask of the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostCall {
    /// `Convex.syscall(op, argsJson)`: synchronous, JSON text in and out.
    Syscall {
        /// The operation, e.g. `1.0/queryStream`.
        op: String,
        /// JSON text of the arguments.
        args_json: String,
    },
    /// `Convex.asyncSyscall(op, argsJson)`: asynchronous, JSON text in and out.
    AsyncSyscall {
        /// The operation, e.g. `1.0/get`.
        op: String,
        /// JSON text of the arguments.
        args_json: String,
    },
    /// Global `fetch` (actions only). The bridge answers with JSON text
    /// `{"status": n, "statusText": s, "headers": [[k, v]...], "bodyBase64": s, "url": s}`.
    Fetch(FetchRequest),
    /// A `process.env.NAME` read. The bridge answers with the JSON text of the value or `null`;
    /// it must not reveal a secret unless [`HostCallContext::grants`] allows
    /// [`GrantFamily::Secrets`].
    EnvGet {
        /// Variable name.
        name: String,
    },
}

impl HostCall {
    /// The grant family this call needs. Unknown syscall ops are treated as database calls so
    /// that a tenant without grants cannot even probe the bridge.
    pub fn family(&self) -> GrantFamily {
        match self {
            Self::Syscall { op, .. } | Self::AsyncSyscall { op, .. } => syscall_family(op),
            Self::Fetch(_) => GrantFamily::Network,
            Self::EnvGet { .. } => GrantFamily::Env,
        }
    }

    /// A short description for errors and logs (never includes arguments, which may hold data).
    pub fn describe(&self) -> String {
        match self {
            Self::Syscall { op, .. } => format!("syscall {op}"),
            Self::AsyncSyscall { op, .. } => format!("async syscall {op}"),
            Self::Fetch(req) => format!("fetch {} {}", req.method, req.url),
            Self::EnvGet { name } => format!("process.env.{name}"),
        }
    }
}

fn syscall_family(op: &str) -> GrantFamily {
    let op = op.strip_prefix("1.0/").unwrap_or(op);
    match op {
        "actions/query"
        | "actions/mutation"
        | "actions/action"
        | "runUdf"
        | "createFunctionHandle" => GrantFamily::Functions,
        "schedule" | "cancel_job" | "actions/schedule" | "actions/cancel_job" => {
            GrantFamily::Scheduler
        }
        "getUserIdentity"
        | "getRequestMetadata"
        | "getFunctionMetadata"
        | "getDeploymentMetadata" => GrantFamily::Identity,
        _ if op.starts_with("storage") => GrantFamily::Storage,
        // The `NIMBUS` binding of fetch apps calls the tenant's functions; `ws/*` carries the
        // frames of the app's own WebSocket connection.
        _ if op.starts_with("nimbus/") || op.starts_with("ws/") || op.starts_with("fetch/") => {
            GrantFamily::Functions
        }
        _ => GrantFamily::Database,
    }
}

/// An error the bridge reports for one call; it becomes a JS `Error` (a rejection for async
/// calls) with `message` and, when present, a `data` property holding the JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostError {
    /// Message shown to the code (and usually to the user).
    pub message: String,
    /// Convex-encoded JSON of `ConvexError` data, when the failure carries some.
    pub data: Option<String>,
}

impl HostError {
    /// An error with a message only.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            data: None,
        }
    }
}

/// What the bridge knows about the invocation a call comes from.
#[derive(Debug, Clone)]
pub struct HostCallContext {
    /// The tenant the code belongs to.
    pub tenant: TenantId,
    /// The invocation's request id.
    pub request_id: String,
    /// On whose behalf the code runs.
    pub auth: InvocationAuth,
    /// The tenant's grants (already checked for this call's family).
    pub grants: RuntimeGrants,
}

/// The host side of the isolate ABI. Implemented by the functions layer over the engine, by
/// fetch-app adapters, and by tests.
pub trait HostBridge: Send + Sync + 'static {
    /// Answers a call synchronously (used for `Convex.syscall` and `process.env`).
    fn call(&self, ctx: &HostCallContext, call: HostCall) -> Result<String, HostError>;

    /// Answers a call asynchronously (used for `Convex.asyncSyscall` and `fetch`). The default
    /// runs [`HostBridge::call`] inline.
    fn call_async(&self, ctx: &HostCallContext, call: HostCall) -> HostFuture {
        let result = self.call(ctx, call);
        Box::pin(std::future::ready(result))
    }
}

/// A bridge that answers nothing: every call fails. Used when code needs no host at all.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoHost;

impl HostBridge for NoHost {
    fn call(&self, _ctx: &HostCallContext, call: HostCall) -> Result<String, HostError> {
        Err(HostError::new(format!(
            "{} is not available here",
            call.describe()
        )))
    }
}

/// Shared handle to a bridge.
pub(crate) type SharedBridge = Arc<dyn HostBridge>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syscalls_map_to_families() {
        let call = |op: &str| HostCall::AsyncSyscall {
            op: op.into(),
            args_json: "{}".into(),
        };
        assert_eq!(call("1.0/get").family(), GrantFamily::Database);
        assert_eq!(
            call("1.0/actions/mutation").family(),
            GrantFamily::Functions
        );
        assert_eq!(call("1.0/schedule").family(), GrantFamily::Scheduler);
        assert_eq!(call("1.0/getUserIdentity").family(), GrantFamily::Identity);
        assert_eq!(call("1.0/storageGetUrl").family(), GrantFamily::Storage);
        assert_eq!(call("1.0/somethingNew").family(), GrantFamily::Database);
        assert_eq!(
            HostCall::EnvGet { name: "X".into() }.family(),
            GrantFamily::Env
        );
    }
}
