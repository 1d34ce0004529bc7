//! The operator API (`/_nimbus/…`, `Authorization: Bearer <operator key>`): create, list,
//! suspend, resume and delete tenants; issue and revoke admin keys; disconnect a tenant's
//! sockets. Also `/health` (public) and `/metrics` (operator key).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::api::envelope::parse_body;
use crate::error::ApiError;
use crate::state::AppState;
use crate::tenants::TenantStatus;

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn require_operator(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    match given {
        Some(key) if constant_time_eq(key.as_bytes(), state.config.operator_key.as_bytes()) => {
            Ok(())
        }
        Some(_) => Err(ApiError::unauthenticated(
            "Unauthenticated",
            "the operator key is wrong",
        )),
        None => Err(ApiError::unauthenticated(
            "Unauthenticated",
            "this endpoint needs the operator key: `Authorization: Bearer <operator key>`",
        )),
    }
}

fn base_url(headers: &HeaderMap, name: &str) -> String {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}/t/{name}")
}

/// `GET /health`.
pub async fn health() -> &'static str {
    "ok"
}

/// `GET /metrics`.
pub async fn metrics(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require_operator(&state, &headers)?;
    let stats = state.runner.executor().stats();
    state.metrics.executor_queued.set(stats.queued as i64);
    state.metrics.executor_active.set(stats.active as i64);
    state
        .metrics
        .executor_rejected
        .set(stats.rejected_total as i64);
    Ok((
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response())
}

/// `POST /_nimbus/tenants` `{"name": …}`.
pub async fn create_tenant(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_operator(&state, &headers)?;
    let body = parse_body(&body)?;
    let name = body["name"]
        .as_str()
        .ok_or_else(|| ApiError::bad_request("MissingName", "the body needs a tenant `name`"))?;
    let (record, admin_key) = state.registry.create(name).await?;
    let url = base_url(&headers, record.name.as_str());
    tracing::info!(tenant = record.name.as_str(), "tenant created");
    Ok((
        StatusCode::CREATED,
        Json(json!({ "name": record.name.as_str(), "url": url, "siteUrl": format!("{url}/http"), "adminKey": admin_key })),
    )
        .into_response())
}

/// `GET /_nimbus/tenants`.
pub async fn list_tenants(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require_operator(&state, &headers)?;
    let tenants: Vec<_> = state
        .registry
        .list()
        .into_iter()
        .map(|t| json!({ "name": t.name.as_str(), "status": if t.status == TenantStatus::Active { "active" } else { "suspended" } }))
        .collect();
    Ok(Json(json!({ "tenants": tenants })).into_response())
}

async fn set_status(
    state: &AppState,
    headers: &HeaderMap,
    name: &str,
    status: TenantStatus,
) -> Result<Response, ApiError> {
    require_operator(state, headers)?;
    state.registry.set_status(name, status).await?;
    if status == TenantStatus::Active
        && let Ok(tenant) = nimbus_storage::TenantName::new(name)
    {
        // Jobs that came due while it was suspended run now.
        state.due.changed(&tenant);
    }
    if status == TenantStatus::Suspended {
        state.disconnect_tenant(name);
    }
    tracing::info!(tenant = name, ?status, "tenant status changed");
    Ok(Json(json!({ "name": name, "status": if status == TenantStatus::Active { "active" } else { "suspended" } })).into_response())
}

/// `POST /_nimbus/tenants/{name}/suspend`.
pub async fn suspend(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    set_status(&state, &headers, &name, TenantStatus::Suspended).await
}

/// `POST /_nimbus/tenants/{name}/resume`.
pub async fn resume(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    set_status(&state, &headers, &name, TenantStatus::Active).await
}

/// `DELETE /_nimbus/tenants/{name}`.
pub async fn delete_tenant(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    require_operator(&state, &headers)?;
    state.disconnect_tenant(&name);
    state.registry.delete(&name).await?;
    tracing::info!(tenant = name, "tenant deleted");
    Ok(Json(json!({ "deleted": name })).into_response())
}

/// `POST /_nimbus/tenants/{name}/keys`.
pub async fn create_key(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    require_operator(&state, &headers)?;
    let (id, admin_key) = state.registry.create_key(&name).await?;
    tracing::info!(tenant = name, key = id, "admin key issued");
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": id, "adminKey": admin_key })),
    )
        .into_response())
}

/// `DELETE /_nimbus/tenants/{name}/keys/{id}`.
pub async fn revoke_key(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((name, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    require_operator(&state, &headers)?;
    state.registry.revoke_key(&name, &id).await?;
    tracing::info!(tenant = name, key = id, "admin key revoked");
    Ok(Json(json!({ "revoked": id })).into_response())
}

/// `POST /_nimbus/tenants/{name}/disconnect`.
pub async fn disconnect(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    require_operator(&state, &headers)?;
    if state.registry.get(&name).is_none() {
        return Err(ApiError::not_found(
            "TenantNotFound",
            format!("tenant \"{name}\" does not exist"),
        ));
    }
    state.disconnect_tenant(&name);
    Ok(Json(json!({ "disconnected": name })).into_response())
}
