//! Calling other functions and the scheduler: `1.0/runUdf` (nested, same transaction),
//! `1.0/actions/{query,mutation,action}` (from actions: each a top-level call of its own),
//! `1.0/schedule` / `1.0/cancel_job` (in the mutation's transaction) and their action forms.

use nimbus_runtime::HostError;
use nimbus_values::{DocumentId, Value};
use serde_json::{Value as Json, json};

use crate::bridge::{BridgeMode, FunctionBridge, host_error};
use crate::deployment::FunctionKind;
use crate::error::FunctionError;
use crate::path::FunctionPath;
use crate::runner::{CallRequest, Caller};
use crate::scheduler;

/// The target of a call: Convex sends exactly one of `name`, `reference`, `functionHandle`.
fn target(args: &Json) -> Result<FunctionPath, HostError> {
    if let Some(name) = args["name"].as_str() {
        return FunctionPath::parse(name).map_err(host_error);
    }
    if args.get("functionHandle").is_some_and(|h| !h.is_null()) {
        return Err(HostError::new(
            "Function handles are not supported by Nimbus yet; call the function by name",
        ));
    }
    if args.get("reference").is_some_and(|h| !h.is_null()) {
        return Err(HostError::new(
            "Component references are not supported by Nimbus yet",
        ));
    }
    Err(HostError::new("the call names no function"))
}

fn args_value(args: &Json) -> Result<Value, HostError> {
    let value = Value::from_json(&args["args"]).map_err(|e| HostError::new(e.to_string()))?;
    match value {
        Value::Object(_) => Ok(value),
        _ => Err(HostError::new("function arguments must be an object")),
    }
}

pub(crate) async fn run_udf(bridge: &FunctionBridge, args: Json) -> Result<Json, HostError> {
    let path = target(&args)?;
    let udf_type = args["udfType"].as_str().unwrap_or("query");
    let kind = match (udf_type, &bridge.mode) {
        ("query" | "snapshotQuery", _) => FunctionKind::Query,
        ("mutation", BridgeMode::Mutation { .. }) => FunctionKind::Mutation,
        ("mutation", _) => {
            return Err(HostError::new(
                "ctx.runMutation is not available in queries",
            ));
        }
        (other, _) => return Err(HostError::new(format!("unknown udfType \"{other}\""))),
    };
    let value = args_value(&args)?;
    let runner = bridge.runner()?;
    let result = runner
        .run_nested_in_transaction(bridge, &path, kind, value)
        .await
        .map_err(host_error)?;
    Ok(result.to_json())
}

pub(crate) async fn call_function(
    bridge: &FunctionBridge,
    args: Json,
    kind: FunctionKind,
) -> Result<Json, HostError> {
    if !matches!(bridge.mode, BridgeMode::Action) {
        return Err(HostError::new("this call is only available in actions"));
    }
    let path = target(&args)?;
    let value = args_value(&args)?;
    let runner = bridge.runner()?;
    let request = CallRequest {
        tenant: bridge.db.tenant().clone(),
        path: path.canonical(),
        args: value,
        caller: Caller::Function {
            depth: bridge.depth + 1,
        },
        identity: bridge.identity.clone(),
        expected_kind: Some(kind),
    };
    let outcome = runner.call(request).await.map_err(host_error)?;
    Ok(outcome.value.to_json())
}

fn schedule_args(args: &Json) -> Result<(FunctionPath, f64, Value), HostError> {
    let path = target(args)?;
    let ts_seconds = args["ts"]
        .as_f64()
        .ok_or_else(|| HostError::new("`ts` must be a number of seconds"))?;
    Ok((path, ts_seconds * 1000.0, args_value(args)?))
}

fn check_schedulable(bridge: &FunctionBridge, path: &FunctionPath) -> Result<(), HostError> {
    match bridge.deployment.function(path).map(|f| f.kind) {
        Some(FunctionKind::Mutation | FunctionKind::Action) => Ok(()),
        Some(kind) => Err(HostError::new(format!(
            "Cannot schedule {path}: it is a {}; only mutations and actions can be scheduled",
            kind.as_str()
        ))),
        None => Err(HostError::new(format!(
            "Cannot schedule {path}: no such function is deployed"
        ))),
    }
}

pub(crate) async fn schedule(bridge: &FunctionBridge, args: Json) -> Result<Json, HostError> {
    let BridgeMode::Mutation { tx } = &bridge.mode else {
        return Err(HostError::new(
            "ctx.scheduler is only available in mutations and actions",
        ));
    };
    let (path, ts_ms, value) = schedule_args(&args)?;
    check_schedulable(bridge, &path)?;
    let mut guard = tx.lock().await;
    let tx = guard
        .as_mut()
        .ok_or_else(|| HostError::new("the transaction has already finished"))?;
    let id = scheduler::schedule_in(tx, &path, ts_ms, value)
        .await
        .map_err(|e| host_error(FunctionError::from_engine(e)))?;
    Ok(Json::String(id.encode()))
}

pub(crate) async fn cancel_job(bridge: &FunctionBridge, args: Json) -> Result<Json, HostError> {
    let BridgeMode::Mutation { tx } = &bridge.mode else {
        return Err(HostError::new(
            "ctx.scheduler is only available in mutations and actions",
        ));
    };
    let id = job_id(&args)?;
    let mut guard = tx.lock().await;
    let tx = guard
        .as_mut()
        .ok_or_else(|| HostError::new("the transaction has already finished"))?;
    scheduler::cancel_in(tx, id)
        .await
        .map_err(|e| host_error(FunctionError::from_engine(e)))?;
    Ok(Json::Null)
}

fn job_id(args: &Json) -> Result<DocumentId, HostError> {
    let text = args["id"]
        .as_str()
        .ok_or_else(|| HostError::new("`id` must be a scheduled function id"))?;
    DocumentId::decode(text)
        .map_err(|e| HostError::new(format!("Invalid scheduled function id: {e}")))
}

pub(crate) async fn schedule_from_action(
    bridge: &FunctionBridge,
    args: Json,
) -> Result<Json, HostError> {
    let (path, ts_ms, value) = schedule_args(&args)?;
    check_schedulable(bridge, &path)?;
    let (id, _) = bridge
        .db
        .run_mutation_boxed(move |tx| {
            let (path, value) = (path.clone(), value.clone());
            Box::pin(async move { scheduler::schedule_in(tx, &path, ts_ms, value).await })
        })
        .await
        .map_err(|e| host_error(FunctionError::from_engine(e)))?;
    Ok(Json::String(id.encode()))
}

pub(crate) async fn cancel_from_action(
    bridge: &FunctionBridge,
    args: Json,
) -> Result<Json, HostError> {
    let id = job_id(&args)?;
    bridge
        .db
        .run_mutation_boxed(move |tx| Box::pin(async move { scheduler::cancel_in(tx, id).await }))
        .await
        .map_err(|e| host_error(FunctionError::from_engine(e)))?;
    Ok(json!(null))
}
