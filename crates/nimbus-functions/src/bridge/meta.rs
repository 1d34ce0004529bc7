//! Metadata syscalls (`getRequestMetadata`, `getFunctionMetadata`, `getDeploymentMetadata`,
//! `getTransactionMetrics`) and the clear refusal for operations Nimbus does not support yet.

use nimbus_runtime::HostError;
use serde_json::{Value as Json, json};

use crate::bridge::FunctionBridge;

pub(crate) fn not_supported(op: &str, what: &str) -> HostError {
    HostError::new(format!(
        "{what} is not supported by Nimbus yet ({op}); the call failed and nothing was changed"
    ))
}

pub(crate) fn request_metadata(bridge: &FunctionBridge) -> Result<Json, HostError> {
    Ok(json!({
        "ip": null, "userAgent": null, "requestId": bridge.request_id,
        "scheduledFunctionId": null, "authToken": null,
    }))
}

pub(crate) fn function_metadata(bridge: &FunctionBridge) -> Result<Json, HostError> {
    Ok(json!({ "name": bridge.function.canonical(), "componentPath": "" }))
}

pub(crate) fn deployment_metadata(bridge: &FunctionBridge) -> Result<Json, HostError> {
    Ok(json!({ "name": bridge.db.tenant().as_str(), "region": "self-hosted", "class": "nimbus" }))
}

pub(crate) async fn transaction_metrics(bridge: &FunctionBridge) -> Result<Json, HostError> {
    let Some(slot) = bridge.tx_slot() else {
        return Err(HostError::new(
            "transaction metrics are only available in queries and mutations",
        ));
    };
    let guard = slot.lock().await;
    let usage = guard.as_ref().map(|tx| tx.usage()).unwrap_or_default();
    let limits = nimbus_engine::EngineLimits::default();
    let metric = |used: u64, max: u64| json!({ "used": used as f64, "remaining": max.saturating_sub(used) as f64 });
    Ok(json!({
        "bytesRead": metric(usage.bytes_read, limits.bytes_read_max),
        "bytesWritten": metric(usage.bytes_written, limits.bytes_written_max),
        "databaseQueries": metric(0, 4096),
        "documentsRead": metric(usage.documents_read, limits.documents_read_max),
        "documentsWritten": metric(usage.documents_written, limits.documents_written_max),
        "functionsScheduled": metric(0, 1000),
        "scheduledFunctionArgsBytes": metric(0, 16 * 1024 * 1024),
    }))
}
