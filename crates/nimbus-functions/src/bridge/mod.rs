//! `FunctionBridge`: the runtime's [`HostBridge`] implemented over the engine — the Convex
//! syscall ABI as seen from one running function.
//!
//! Sync syscalls (`queryStream`, `queryCleanup`, `db/normalizeId`, …) never wait on the
//! transaction: a query stream is registered here and opened by the first `queryStreamNext`,
//! which is async. That matters because an async syscall may be suspended while holding the
//! transaction when JS runs again; a sync syscall that waited for it would deadlock.

mod actions;
mod db;
mod meta;

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use nimbus_engine::{Database, QueryId, QuerySpec, Transaction};
use nimbus_runtime::{HostBridge, HostCall, HostCallContext, HostError, HostFuture};
use parking_lot::Mutex;
use serde_json::Value as Json;

use crate::deployment::Deployment;
use crate::error::FunctionError;
use crate::http_body::HttpExchange;
use crate::journal::JournalSlot;
use crate::path::FunctionPath;
use crate::runner::RunnerInner;

/// The transaction a query or mutation runs in, shared with nested `runQuery`/`runMutation`.
pub(crate) type TxSlot = Arc<tokio::sync::Mutex<Option<Transaction>>>;

/// What the running function may do.
#[derive(Clone)]
pub(crate) enum BridgeMode {
    /// A query: reads only. `journal`: set for a subscription's execution, which records
    /// (and follows) where its paginated query ends.
    Query {
        tx: TxSlot,
        journal: Option<JournalSlot>,
    },
    /// A mutation: reads and writes, schedules jobs.
    Mutation { tx: TxSlot },
    /// An action or HTTP action: no transaction; calls other functions.
    Action,
}

/// Streams registered by `queryStream`, keyed by the id given to JS.
#[derive(Default)]
pub(crate) struct Streams {
    next_id: u32,
    /// Registered but not yet opened in the transaction.
    pending: HashMap<u32, QuerySpec>,
    /// Opened: JS id → transaction query id.
    open: HashMap<u32, QueryId>,
    /// Whether `queryPage` already ran (Convex allows one paginated query per function).
    paginated: bool,
}

/// Everything a function's syscalls need.
pub(crate) struct FunctionBridge {
    pub(crate) runner: Weak<RunnerInner>,
    pub(crate) db: Database,
    pub(crate) deployment: Arc<Deployment>,
    pub(crate) mode: BridgeMode,
    pub(crate) function: FunctionPath,
    pub(crate) identity: Option<Json>,
    pub(crate) request_id: String,
    pub(crate) depth: u32,
    pub(crate) streams: Mutex<Streams>,
    pub(crate) snapshot_ts: u64,
    /// The request an HTTP action serves, whose bodies may stream (`fetch/*` syscalls).
    pub(crate) http: Option<Arc<HttpExchange>>,
    /// Set at construction (`Arc::new_cyclic`): async syscalls move an owned handle into their
    /// `'static` futures.
    weak_self: Weak<FunctionBridge>,
}

impl FunctionBridge {
    pub(crate) fn runner(&self) -> Result<Arc<RunnerInner>, HostError> {
        self.runner
            .upgrade()
            .ok_or_else(|| HostError::new("the server is shutting down"))
    }

    fn tx_slot(&self) -> Option<&TxSlot> {
        match &self.mode {
            BridgeMode::Query { tx, .. } | BridgeMode::Mutation { tx } => Some(tx),
            BridgeMode::Action => None,
        }
    }

    fn sync_call(&self, op: &str, args: Json) -> Result<Json, HostError> {
        match op {
            "1.0/queryStream" => db::query_stream(self, args),
            "1.0/queryCleanup" => db::query_cleanup(self, args),
            "1.0/db/normalizeId" => db::normalize_id(self, args),
            "1.0/getSnapshotTs" => {
                Ok(nimbus_values::Value::Int64(self.snapshot_ts as i64).to_json())
            }
            _ => Err(HostError::new(format!(
                "UnknownOperation: unknown syscall {op}"
            ))),
        }
    }
}

/// Parses a syscall's JSON arguments.
pub(crate) fn parse_args(args_json: &str) -> Result<Json, HostError> {
    serde_json::from_str(args_json)
        .map_err(|e| HostError::new(format!("invalid syscall arguments: {e}")))
}

/// A required string argument.
pub(crate) fn string_arg<'a>(args: &'a Json, name: &str) -> Result<&'a str, HostError> {
    args[name]
        .as_str()
        .ok_or_else(|| HostError::new(format!("syscall argument `{name}` must be a string")))
}

/// A host error from a function error, keeping `ConvexError` data.
pub(crate) fn host_error(error: FunctionError) -> HostError {
    HostError {
        message: error.message,
        data: error.data.map(|d| d.to_json_text()),
    }
}

impl HostBridge for FunctionBridge {
    fn call(&self, _ctx: &HostCallContext, call: HostCall) -> Result<String, HostError> {
        match call {
            HostCall::Syscall { op, args_json } if op.starts_with("fetch/") => {
                match self
                    .http
                    .as_ref()
                    .and_then(|http| http.sync_call(&op, &args_json))
                {
                    Some(result) => result,
                    None => Err(not_in_http_action(&op)),
                }
            }
            HostCall::Syscall { op, args_json } => {
                let args = parse_args(&args_json)?;
                self.sync_call(&op, args).map(|j| j.to_string())
            }
            HostCall::EnvGet { name } => Ok(self.deployment.env.get(&name).map_or_else(
                || "null".to_owned(),
                |v| Json::String(v.clone()).to_string(),
            )),
            HostCall::AsyncSyscall { op, .. } => Err(HostError::new(format!(
                "{op} must be called asynchronously"
            ))),
            HostCall::Fetch(_) => Err(HostError::new("fetch must be called asynchronously")),
        }
    }

    fn call_async(&self, _ctx: &HostCallContext, call: HostCall) -> HostFuture {
        let this = self.clone_handle();
        Box::pin(async move {
            match call {
                HostCall::AsyncSyscall { op, args_json } if HttpExchange::is_async_op(&op) => {
                    match &this.http {
                        Some(http) => http.async_call(&op, &args_json).await,
                        None => Err(not_in_http_action(&op)),
                    }
                }
                HostCall::AsyncSyscall { op, args_json } => {
                    let args = parse_args(&args_json)?;
                    this.async_call(&op, args).await.map(|j| j.to_string())
                }
                HostCall::Fetch(request) => {
                    let runner = this.runner()?;
                    runner
                        .fetcher
                        .fetch(this.db.tenant().as_str(), request)
                        .await
                }
                other => Err(HostError::new(format!(
                    "{} cannot be called asynchronously",
                    other.describe()
                ))),
            }
        })
    }
}

/// The error for a body-streaming syscall outside an HTTP action.
fn not_in_http_action(op: &str) -> HostError {
    HostError::new(format!(
        "{op} streams an HTTP request or response body; only HTTP actions have one"
    ))
}

/// A cheap owned handle to the bridge for use inside `'static` futures.
#[derive(Clone)]
pub(crate) struct BridgeHandle(Arc<FunctionBridge>);

impl std::ops::Deref for BridgeHandle {
    type Target = FunctionBridge;
    fn deref(&self) -> &FunctionBridge {
        &self.0
    }
}

impl FunctionBridge {
    fn clone_handle(&self) -> BridgeHandle {
        BridgeHandle(
            self.weak_self
                .upgrade()
                .expect("a bridge is alive while it is being called"),
        )
    }

    async fn async_call(&self, op: &str, args: Json) -> Result<Json, HostError> {
        match op {
            "1.0/get" => db::get(self, args).await,
            "1.0/queryStreamNext" => db::query_stream_next(self, args).await,
            "1.0/queryPage" => db::query_page(self, args).await,
            "1.0/count" => db::count(self, args).await,
            "1.0/insert" => db::insert(self, args).await,
            "1.0/shallowMerge" => db::patch(self, args).await,
            "1.0/replace" => db::replace(self, args).await,
            "1.0/remove" => db::remove(self, args).await,
            "1.0/runUdf" => actions::run_udf(self, args).await,
            "1.0/schedule" => actions::schedule(self, args).await,
            "1.0/cancel_job" => actions::cancel_job(self, args).await,
            "1.0/actions/query" => {
                actions::call_function(self, args, crate::deployment::FunctionKind::Query).await
            }
            "1.0/actions/mutation" => {
                actions::call_function(self, args, crate::deployment::FunctionKind::Mutation).await
            }
            "1.0/actions/action" => {
                actions::call_function(self, args, crate::deployment::FunctionKind::Action).await
            }
            "1.0/actions/schedule" => actions::schedule_from_action(self, args).await,
            "1.0/actions/cancel_job" => actions::cancel_from_action(self, args).await,
            "1.0/getUserIdentity" => Ok(self.identity.clone().unwrap_or(Json::Null)),
            "1.0/getRequestMetadata" => meta::request_metadata(self),
            "1.0/getFunctionMetadata" => meta::function_metadata(self),
            "1.0/getDeploymentMetadata" => meta::deployment_metadata(self),
            "1.0/getTransactionMetrics" => meta::transaction_metrics(self).await,
            op if op.starts_with("1.0/storage") || op.starts_with("storage/") => {
                Err(meta::not_supported(op, "File storage"))
            }
            "1.0/createFunctionHandle" => Err(meta::not_supported(op, "Function handles")),
            "1.0/signJwt"
            | "1.0/auditLog"
            | "1.0/actions/vectorSearch"
            | "1.0/createServiceToken"
            | "1.0/getServiceUrl" => Err(meta::not_supported(op, "This operation")),
            _ => Err(HostError::new(format!("Unknown async operation {op}"))),
        }
    }
}

impl FunctionBridge {
    /// Builds a bridge inside an `Arc` with a weak self-reference (async syscalls need an
    /// owned handle to move into their `'static` futures).
    #[expect(
        clippy::too_many_arguments,
        reason = "a plain constructor of a data holder"
    )]
    pub(crate) fn create(
        runner: Weak<RunnerInner>,
        db: Database,
        deployment: Arc<Deployment>,
        mode: BridgeMode,
        function: FunctionPath,
        identity: Option<Json>,
        request_id: String,
        depth: u32,
        snapshot_ts: u64,
        http: Option<Arc<HttpExchange>>,
    ) -> Arc<FunctionBridge> {
        Arc::new_cyclic(|weak| FunctionBridge {
            runner,
            db,
            deployment,
            mode,
            function,
            identity,
            request_id,
            depth,
            streams: Mutex::new(Streams::default()),
            snapshot_ts,
            http,
            weak_self: weak.clone(),
        })
    }
}
