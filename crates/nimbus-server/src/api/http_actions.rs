//! HTTP actions: requests under the tenant's `/http/…` (its site URL) run the app's `http.js`
//! router. Unrouted paths get 404 "No matching routes found" without running any code; a
//! throwing handler gets a 500 with the request id.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use nimbus_functions::{FailureKind, FunctionKind, HttpRequest};
use serde_json::json;

use crate::api::envelope::request_id;
use crate::error::ApiError;
use crate::state::AppState;
use crate::tenants::Admission;

/// Any method on `/http/{*rest}`.
pub async fn handle(
    State(state): State<Arc<AppState>>,
    Extension(admission): Extension<Admission>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
    let routed = path_and_query
        .strip_prefix("/http")
        .unwrap_or(path_and_query);
    let routed = if routed.is_empty() || routed.starts_with('?') {
        format!("/{routed}")
    } else {
        routed.to_owned()
    };
    // The handler sees the URL the client used (the tenant's site URL plus the route).
    let site_url = format!(
        "{}/http{}",
        admission.base_url.trim_end_matches('/'),
        routed
    );
    let request = HttpRequest {
        url: site_url,
        path: routed.split('?').next().unwrap_or("/").to_owned(),
        method: method.as_str().to_owned(),
        headers: headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
        body: (!body.is_empty()).then(|| body.to_vec()),
    };
    let request_id = request_id(&headers);
    let started = std::time::Instant::now();
    let result = state.runner.http_action(&admission.tenant, request).await;
    let outcome = match &result {
        Ok(Some(response)) => Ok(nimbus_functions::CallOutcome {
            value: nimbus_values::Value::Null,
            log_lines: response.log_lines.clone(),
            kind: FunctionKind::HttpAction,
            ts: 0,
            read_set: None,
        }),
        Ok(None) => Ok(nimbus_functions::CallOutcome {
            value: nimbus_values::Value::Null,
            log_lines: vec![],
            kind: FunctionKind::HttpAction,
            ts: 0,
            read_set: None,
        }),
        Err(error) => Err(error.clone()),
    };
    state.observe_call(
        &admission,
        routed.split('?').next().unwrap_or("/"),
        Some(FunctionKind::HttpAction),
        &outcome,
        started.elapsed(),
    );
    match result {
        Ok(Some(response)) => {
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
            builder
                .body(Body::from(response.body))
                .map_err(|e| ApiError::internal(e.to_string()))
        }
        Ok(None) => Ok((StatusCode::NOT_FOUND, "No matching routes found").into_response()),
        Err(error) => {
            let status = match error.kind {
                FailureKind::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
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
