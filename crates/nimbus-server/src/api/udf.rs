//! The function endpoints of the Convex HTTP API: `/api/query`, `/api/mutation`,
//! `/api/action`, `/api/function`, `/api/run/…`, `/api/query_ts`, `/api/query_at_ts`,
//! `/api/query_batch`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use nimbus_functions::{CallRequest, FunctionKind};
use nimbus_values::ValueFormat;
use serde_json::{Value as Json_, json};

use crate::api::envelope::{
    failure, parse_args, parse_body, request_id, respond, response_format, success,
};
use crate::auth::credentials;
use crate::error::ApiError;
use crate::state::AppState;
use crate::tenants::Admission;

fn ts_string(ts: u64) -> String {
    STANDARD.encode(ts.to_le_bytes())
}

fn parse_ts(value: &Json_) -> Result<u64, ApiError> {
    let text = value
        .as_str()
        .ok_or_else(|| ApiError::bad_request("InvalidTs", "ts must be a base64 string"))?;
    let bytes = STANDARD
        .decode(text)
        .map_err(|_| ApiError::bad_request("InvalidTs", "ts is not base64"))?;
    let bytes: [u8; 8] = bytes
        .try_into()
        .map_err(|_| ApiError::bad_request("InvalidTs", "ts must encode 8 bytes"))?;
    Ok(u64::from_le_bytes(bytes))
}

struct Parsed {
    path: String,
    args: nimbus_values::Value,
    format: ValueFormat,
    body: Json_,
}

fn parse_call(
    headers: &HeaderMap,
    body: &[u8],
    default_format: Option<&str>,
) -> Result<Parsed, ApiError> {
    let body = parse_body(body)?;
    let path = body["path"]
        .as_str()
        .ok_or_else(|| {
            ApiError::bad_request(
                "MissingPath",
                "the request needs a `path`, e.g. \"messages:list\"",
            )
        })?
        .to_owned();
    let args = parse_args(&body["args"])?;
    let format = response_format(body["format"].as_str().or(default_format), headers)?;
    Ok(Parsed {
        path,
        args,
        format,
        body,
    })
}

async fn run(
    state: &Arc<AppState>,
    admission: &Admission,
    headers: &HeaderMap,
    query: Option<&str>,
    parsed: Parsed,
    kind: Option<FunctionKind>,
    at_ts: Option<u64>,
) -> Result<Response, ApiError> {
    let creds = credentials(headers, query, &state.registry, admission.tenant.as_str())?;
    let (caller, identity) = creds.caller();
    let request_id = request_id(headers);
    let request = CallRequest {
        tenant: admission.tenant.clone(),
        path: parsed.path.clone(),
        args: parsed.args,
        caller,
        identity,
        expected_kind: kind,
    };
    let started = std::time::Instant::now();
    let result = match at_ts {
        Some(ts) => state.runner.query_at(request, ts).await,
        None => state.runner.call(request).await,
    };
    state.observe_call(admission, &parsed.path, kind, &result, started.elapsed());
    Ok(respond(result, &request_id, parsed.format))
}

/// Refuses a call at once when the tenant already has as many calls in flight as admission
/// allows. Admission would refuse it too, but only after the body was parsed, the caller
/// checked, the arguments validated and the refusal logged: under a flood that work, done
/// for every refused request, takes the server's time from other tenants.
fn refuse_when_saturated(state: &AppState, admission: &Admission) -> Result<(), ApiError> {
    let caps = state.config.runner.admission;
    let stats = state
        .runner
        .executor()
        .tenant_stats(&nimbus_runtime::TenantId::new(admission.tenant.as_str()));
    if stats.active as usize + stats.queued >= caps.in_flight_max as usize {
        state.metrics.early_rejections.inc();
        return Err(ApiError::overloaded(format!(
            "tenant over capacity: tenant '{}' already has {} calls in flight (the maximum); retry later",
            admission.tenant.as_str(),
            caps.in_flight_max
        )));
    }
    Ok(())
}

macro_rules! endpoint {
    ($name:ident, $kind:expr) => {
        /// One function endpoint.
        pub async fn $name(
            State(state): State<Arc<AppState>>,
            Extension(admission): Extension<Admission>,
            headers: HeaderMap,
            RawQuery(query): RawQuery,
            body: Bytes,
        ) -> Result<Response, ApiError> {
            refuse_when_saturated(&state, &admission)?;
            let parsed = parse_call(&headers, &body, None)?;
            run(
                &state,
                &admission,
                &headers,
                query.as_deref(),
                parsed,
                $kind,
                None,
            )
            .await
        }
    };
}

endpoint!(query, Some(FunctionKind::Query));
endpoint!(mutation, Some(FunctionKind::Mutation));
endpoint!(action, Some(FunctionKind::Action));
endpoint!(function, None);

/// `GET /api/query?path=…&args=…&format=…`.
pub async fn query_get(
    State(state): State<Arc<AppState>>,
    Extension(admission): Extension<Admission>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let path = get("path")
        .ok_or_else(|| ApiError::bad_request("MissingPath", "the query string needs `path`"))?;
    let args: Json_ = match get("args") {
        Some(text) => serde_json::from_str(&text).map_err(|e| {
            ApiError::bad_request("InvalidArgs", format!("`args` is not JSON: {e}"))
        })?,
        None => json!({}),
    };
    let parsed = Parsed {
        path,
        args: parse_args(&args)?,
        format: response_format(get("format").as_deref(), &headers)?,
        body: json!({}),
    };
    run(
        &state,
        &admission,
        &headers,
        query.as_deref(),
        parsed,
        Some(FunctionKind::Query),
        None,
    )
    .await
}

/// `POST /api/run/{module/path}/{function}`.
pub async fn run_path(
    State(state): State<Arc<AppState>>,
    Extension(admission): Extension<Admission>,
    Path(function_path): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let (module, function) = function_path.rsplit_once('/').ok_or_else(|| {
        ApiError::bad_request(
            "InvalidPath",
            "use /api/run/<module>/<function>, e.g. /api/run/messages/list",
        )
    })?;
    let parsed = Parsed {
        path: format!("{module}:{function}"),
        args: parse_args(&body["args"])?,
        format: response_format(body["format"].as_str().or(Some("json")), &headers)?,
        body: body.clone(),
    };
    run(
        &state,
        &admission,
        &headers,
        query.as_deref(),
        parsed,
        None,
        None,
    )
    .await
}

/// `POST /api/query_ts`: the newest snapshot timestamp.
pub async fn query_ts(
    State(state): State<Arc<AppState>>,
    Extension(admission): Extension<Admission>,
) -> Result<Response, ApiError> {
    let db = state.runner.engine().database(&admission.tenant).await?;
    Ok(Json(json!({ "ts": ts_string(db.snapshot_ts()) })).into_response())
}

/// `POST /api/query_at_ts`: a query at an earlier snapshot.
pub async fn query_at_ts(
    State(state): State<Arc<AppState>>,
    Extension(admission): Extension<Admission>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let parsed = parse_call(&headers, &body, None)?;
    let ts = parse_ts(&parsed.body["ts"])?;
    run(
        &state,
        &admission,
        &headers,
        query.as_deref(),
        parsed,
        Some(FunctionKind::Query),
        Some(ts),
    )
    .await
}

/// `POST /api/query_batch`: several queries at one snapshot.
pub async fn query_batch(
    State(state): State<Arc<AppState>>,
    Extension(admission): Extension<Admission>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let queries = body["queries"]
        .as_array()
        .ok_or_else(|| ApiError::bad_request("InvalidBatch", "the body needs a `queries` array"))?;
    let creds = credentials(
        &headers,
        query.as_deref(),
        &state.registry,
        admission.tenant.as_str(),
    )?;
    let (caller, identity) = creds.caller();
    let db = state.runner.engine().database(&admission.tenant).await?;
    let ts = db.snapshot_ts();
    let request_id = request_id(&headers);
    let mut results = Vec::with_capacity(queries.len());
    for item in queries {
        let path = item["path"]
            .as_str()
            .ok_or_else(|| ApiError::bad_request("MissingPath", "every query needs a `path`"))?
            .to_owned();
        let args = parse_args(&item["args"])?;
        let format = response_format(item["format"].as_str(), &headers)?;
        let request = CallRequest {
            tenant: admission.tenant.clone(),
            path,
            args,
            caller,
            identity: identity.clone(),
            expected_kind: Some(FunctionKind::Query),
        };
        let result = state.runner.query_at(request, ts).await;
        results.push(match result {
            Ok(outcome) => success(&outcome, format),
            Err(error) => failure(&error, &request_id, format)?,
        });
    }
    Ok(Json(json!({ "results": results })).into_response())
}
