//! The `UdfResponse` envelope of the Convex HTTP API, value formats, and request parsing
//! shared by the function endpoints.

use std::str::FromStr;

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use nimbus_functions::{CallOutcome, FailureKind, FunctionError};
use nimbus_values::{Value, ValueFormat};
use serde_json::{Value as Json_, json};

use crate::error::ApiError;

/// The format to answer in: the request's `format`, else what the `Convex-Client` header
/// implies (every current client gets clean `json` unless it asks otherwise).
pub fn response_format(
    requested: Option<&str>,
    _headers: &HeaderMap,
) -> Result<ValueFormat, ApiError> {
    match requested {
        Some(text) => ValueFormat::from_str(text)
            .map_err(|e| ApiError::bad_request("InvalidFormat", e.to_string())),
        None => Ok(ValueFormat::CleanJson),
    }
}

/// Parses a JSON request body.
pub fn parse_body(body: &[u8]) -> Result<Json_, ApiError> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            "BadJsonBody",
            format!("the request body is not valid JSON: {e}"),
        )
    })
}

/// The function arguments: `[{…}]` (what clients send) or a bare `{…}`.
pub fn parse_args(args: &Json_) -> Result<Value, ApiError> {
    let object = match args {
        Json_::Null => json!({}),
        Json_::Array(items) if items.len() == 1 => items[0].clone(),
        Json_::Array(items) if items.is_empty() => json!({}),
        Json_::Array(_) => {
            return Err(ApiError::bad_request(
                "InvalidArgs",
                "args must be an array of exactly one object, or an object",
            ));
        }
        other => other.clone(),
    };
    let value = Value::from_json(&object).map_err(|e| {
        ApiError::bad_request("InvalidArgs", format!("invalid function arguments: {e}"))
    })?;
    if !matches!(value, Value::Object(_)) {
        return Err(ApiError::bad_request(
            "InvalidArgs",
            "function arguments must be an object",
        ));
    }
    Ok(value)
}

/// A successful call.
pub fn success(outcome: &CallOutcome, format: ValueFormat) -> Json_ {
    let mut body = json!({ "status": "success", "value": outcome.value.to_format(format) });
    if !outcome.log_lines.is_empty() {
        body["logLines"] = json!(outcome.log_lines);
    }
    body
}

/// A failed call: function errors in the envelope (HTTP 200, as the open-source backend
/// answers), platform trouble as a real status.
pub fn failure(
    error: &FunctionError,
    request_id: &str,
    format: ValueFormat,
) -> Result<Json_, ApiError> {
    match error.kind {
        FailureKind::Overloaded => Err(ApiError::overloaded(error.message.clone())),
        FailureKind::Internal => Err(ApiError::internal(format!(
            "[Request ID: {request_id}] Server Error: {}",
            error.message
        ))),
        FailureKind::User | FailureKind::NotFound | FailureKind::Limit | FailureKind::TooLarge => {
            let message = if error.message.starts_with("Uncaught") {
                format!("[Request ID: {request_id}] Server Error\n{}", error.message)
            } else {
                error.message.clone()
            };
            let mut body = json!({ "status": "error", "errorMessage": message });
            if let Some(data) = &error.data {
                body["errorData"] = data.to_format(format);
            }
            if !error.log_lines.is_empty() {
                body["logLines"] = json!(error.log_lines);
            }
            Ok(body)
        }
    }
}

/// Turns a call result into the HTTP response.
pub fn respond(
    result: Result<CallOutcome, FunctionError>,
    request_id: &str,
    format: ValueFormat,
) -> Response {
    let body = match result {
        Ok(outcome) => Ok(success(&outcome, format)),
        Err(error) => failure(&error, request_id, format),
    };
    match body {
        Ok(body) => (
            StatusCode::OK,
            [("convex-request-id", request_id.to_owned())],
            Json(body),
        )
            .into_response(),
        Err(error) => error.into_response(),
    }
}

/// The request id: the client's `Convex-Request-Id`, else a new one.
pub fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("convex-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_owned)
        .unwrap_or_else(|| hex::encode(rand::random::<[u8; 8]>()))
}
