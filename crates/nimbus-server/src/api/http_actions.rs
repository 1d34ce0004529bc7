//! HTTP actions: requests under the tenant's `/http/…` (its site URL) run the app's `http.js`
//! router. Unrouted paths get 404 "No matching routes found" without running any code; a
//! throwing handler gets a 500 with the request id. Request bodies up to
//! [`HTTP_INLINE_BODY_BYTES_MAX`] are buffered, larger or unsized ones stream to the handler; a
//! streamed response is answered as soon as the handler returns it. Bodies over the runner's
//! `http_body_bytes_max` get 413.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Extension, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nimbus_functions::http_body::HTTP_INLINE_BODY_BYTES_MAX;
use nimbus_functions::{
    CallOutcome, FailureKind, FunctionError, FunctionKind, HttpRequest, HttpRequestBody,
    HttpResponseBody,
};
use serde_json::json;

use crate::api::envelope::request_id;
use crate::error::ApiError;
use crate::fetch_apps::body_source;
use crate::state::AppState;
use crate::tenants::Admission;

/// Any method on `/http/{*rest}`.
pub async fn handle(
    State(state): State<Arc<AppState>>,
    Extension(admission): Extension<Admission>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let routed = path_and_query
        .strip_prefix("/http")
        .unwrap_or(path_and_query);
    let routed = if routed.is_empty() || routed.starts_with('?') {
        format!("/{routed}")
    } else {
        routed.to_owned()
    };
    let route = routed.split('?').next().unwrap_or("/").to_owned();
    let limit = state.config.runner.http_body_bytes_max;
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    let body = match declared {
        Some(length) if length > limit => return Ok(too_large(limit)),
        Some(0) => HttpRequestBody::Inline(None),
        Some(length) if length <= HTTP_INLINE_BODY_BYTES_MAX => {
            match axum::body::to_bytes(body, HTTP_INLINE_BODY_BYTES_MAX).await {
                Ok(bytes) => HttpRequestBody::Inline(Some(bytes.to_vec())),
                Err(error) => {
                    return Err(ApiError::bad_request(
                        "BadRequestBody",
                        format!("reading the request body failed: {error}"),
                    ));
                }
            }
        }
        _ => HttpRequestBody::Streamed(body_source(body)),
    };
    // The handler sees the URL the client used (the tenant's site URL plus the route).
    let site_url = format!(
        "{}/http{}",
        admission.base_url.trim_end_matches('/'),
        routed
    );
    let request = HttpRequest {
        url: site_url,
        path: route.clone(),
        method: parts.method.as_str().to_owned(),
        headers: parts
            .headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
        body,
    };
    let request_id = request_id(&parts.headers);
    let started = Instant::now();
    let result = state.runner.http_action(&admission.tenant, request).await;
    match result {
        Ok(Some(mut response)) => {
            match response.finished.take() {
                // Streamed: the outcome (logs, or why the body broke off) comes once the
                // handler has written the whole body.
                Some(finished) => {
                    let (state, admission) = (state.clone(), admission.clone());
                    tokio::spawn(async move {
                        let outcome = finished.await.unwrap_or_else(|_| {
                            Err(FunctionError::internal("the HTTP action was abandoned"))
                        });
                        let outcome = outcome.map(called);
                        observe(&state, &admission, &route, &outcome, started.elapsed());
                    });
                }
                None => observe(
                    &state,
                    &admission,
                    &route,
                    &Ok(called(std::mem::take(&mut response.log_lines))),
                    started.elapsed(),
                ),
            }
            let mut builder = Response::builder()
                .status(StatusCode::from_u16(response.status).unwrap_or(StatusCode::OK));
            for (name, value) in &response.headers {
                if let (Ok(name), Ok(value)) = (
                    HeaderName::try_from(name.as_str()),
                    HeaderValue::try_from(value.as_str()),
                ) {
                    builder = builder.header(name, value);
                }
            }
            let body = match response.body {
                HttpResponseBody::Full(bytes) => Body::from(bytes),
                HttpResponseBody::Streamed(stream) => Body::from_stream(stream),
            };
            builder
                .body(body)
                .map_err(|e| ApiError::internal(e.to_string()))
        }
        Ok(None) => {
            observe(
                &state,
                &admission,
                &route,
                &Ok(called(Vec::new())),
                started.elapsed(),
            );
            Ok((StatusCode::NOT_FOUND, "No matching routes found").into_response())
        }
        Err(error) => {
            observe(
                &state,
                &admission,
                &route,
                &Err(error.clone()),
                started.elapsed(),
            );
            let status = match error.kind {
                FailureKind::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
                FailureKind::TooLarge => return Ok(too_large(limit)),
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            let mut body = json!({ "code": format!("[Request ID: {request_id}] Server Error"), "trace": error.message });
            if let Some(data) = &error.data {
                body["data"] = data.to_json();
            }
            Ok((status, axum::Json(body)).into_response())
        }
    }
}

/// A finished HTTP action as the call log records it.
fn called(log_lines: Vec<String>) -> CallOutcome {
    CallOutcome {
        value: nimbus_values::Value::Null,
        log_lines,
        kind: FunctionKind::HttpAction,
        ts: 0,
        read_set: None,
        journal: None,
    }
}

fn observe(
    state: &AppState,
    admission: &Admission,
    route: &str,
    outcome: &Result<CallOutcome, FunctionError>,
    elapsed: Duration,
) {
    state.observe_call(
        admission,
        route,
        Some(FunctionKind::HttpAction),
        outcome,
        elapsed,
    );
}

fn too_large(limit: usize) -> Response {
    crate::fetch_apps::closing(
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "BodyTooLarge",
            format!("HTTP action request and response bodies are limited to {limit} bytes"),
        )
        .into_response(),
    )
}
