//! Routing: operator routes and health at the root; everything else is admitted for one
//! tenant — by a `/t/<tenant>` path prefix or a `<tenant>.<domain>` Host — and then served by
//! the tenant router with the [`Admission`] attached as data.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{Method, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, post};
use tower::ServiceExt;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
use tower_http::decompression::RequestDecompressionLayer;

use crate::api::{http_actions, udf};
use crate::error::ApiError;
use crate::state::AppState;
use crate::tenants::{Admission, TenantStatus, tenant_from_host, tenant_from_path};
use crate::{admin, push, sync};

fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_headers(AllowHeaders::mirror_request())
        .allow_credentials(true)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::OPTIONS,
            Method::PATCH,
            Method::DELETE,
            Method::PUT,
        ])
        .max_age(Duration::from_secs(86_400))
}

fn tenant_router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/api/query", post(udf::query).get(udf::query_get))
        .route("/api/mutation", post(udf::mutation))
        .route("/api/action", post(udf::action))
        .route("/api/function", post(udf::function))
        .route("/api/run/{*path}", post(udf::run_path))
        .route("/api/query_ts", post(udf::query_ts))
        .route("/api/query_at_ts", post(udf::query_at_ts))
        .route("/api/query_batch", post(udf::query_batch))
        .route("/api/sync", get(sync::upgrade))
        .route("/api/{version}/sync", get(sync::upgrade))
        .layer(DefaultBodyLimit::max(state.config.api_body_bytes_max));
    let push = Router::new()
        .route("/api/get_config_hashes", post(push::config_hashes))
        .route("/api/deploy2/evaluate_schema", post(push::evaluate_schema))
        .route("/api/deploy2/evaluate_push", post(push::evaluate_push))
        .route("/api/deploy2/start_push", post(push::start_push))
        .route("/api/deploy2/wait_for_schema", post(push::wait_for_schema))
        .route("/api/deploy2/finish_push", post(push::finish_push))
        .route(
            "/api/deploy2/report_push_completed",
            post(push::report_push_completed),
        )
        .route("/api/v1/get_canonical_urls", get(push::canonical_urls))
        .route("/api/stream_function_logs", get(push::stream_function_logs))
        .route(
            "/api/nimbus/apps/{app}",
            axum::routing::put(crate::fetch_apps::deploy),
        )
        .layer(DefaultBodyLimit::max(state.config.push_body_bytes_max))
        .layer(RequestDecompressionLayer::new());
    let apps = Router::new()
        .route("/apps/{*rest}", any(crate::fetch_apps::by_path))
        .layer(DefaultBodyLimit::max(
            crate::fetch_apps::FETCH_APP_BODY_BYTES_MAX,
        ));
    let site = Router::new()
        .route("/http", any(http_actions::handle))
        .route("/http/{*rest}", any(http_actions::handle))
        .layer(DefaultBodyLimit::max(
            state.config.runner.http_body_bytes_max,
        ));
    api.merge(push)
        .layer(cors())
        .merge(site)
        .merge(apps)
        .with_state(state)
}

/// The whole router.
pub fn router(state: Arc<AppState>) -> Router {
    let tenants = tenant_router(state.clone());
    Router::new()
        .route("/health", get(admin::health))
        .route("/metrics", get(admin::metrics))
        .route(
            "/_nimbus/tenants",
            post(admin::create_tenant).get(admin::list_tenants),
        )
        .route("/_nimbus/tenants/{name}", delete(admin::delete_tenant))
        .route("/_nimbus/tenants/{name}/suspend", post(admin::suspend))
        .route("/_nimbus/tenants/{name}/resume", post(admin::resume))
        .route("/_nimbus/tenants/{name}/keys", post(admin::create_key))
        .route(
            "/_nimbus/tenants/{name}/keys/{id}",
            delete(admin::revoke_key),
        )
        .route(
            "/_nimbus/tenants/{name}/disconnect",
            post(admin::disconnect),
        )
        .fallback(move |state: State<Arc<AppState>>, request: Request| {
            dispatch(state, tenants.clone(), request)
        })
        .with_state(state)
}

/// The tenant named by an `Authorization: Convex <tenant>|<secret>` admin key.
fn tenant_from_admin_key(headers: &axum::http::HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("convex") {
        return None;
    }
    let (tenant, _) = key.trim().split_once('|')?;
    Some(tenant.to_owned())
}

/// Admits a request for its tenant (before any work is done) and hands it to the tenant
/// router.
async fn dispatch(
    State(state): State<Arc<AppState>>,
    tenants: Router,
    mut request: Request,
) -> Response {
    state.metrics.http_requests.inc();
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_owned();
    if let Some(app) = state
        .fetch_apps
        .by_host(&host, state.config.domain.as_deref())
    {
        return crate::fetch_apps::by_host(state.clone(), app, request).await;
    }
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let (name, rest, base_url) = if let Some((name, rest)) = tenant_from_path(&path) {
        (
            name.to_owned(),
            rest.to_owned(),
            format!("http://{host}/t/{name}"),
        )
    } else if let Some(name) = tenant_from_host(&host, state.config.domain.as_deref()) {
        (name.to_owned(), path.clone(), format!("http://{host}"))
    } else if let Some(name) = tenant_from_admin_key(request.headers()) {
        // The Convex CLI resolves `/api/…` against the deployment URL as an absolute path,
        // dropping a `/t/<tenant>` prefix; its admin key names the tenant instead.
        (
            name.clone(),
            path.clone(),
            format!("http://{host}/t/{name}"),
        )
    } else if let Some(name) = state.config.default_tenant.clone() {
        (name, path.clone(), format!("http://{host}"))
    } else {
        return ApiError::not_found("NoTenant", "no tenant in this request: use http://HOST/t/<tenant>/… or http://<tenant>.localhost:PORT/…").into_response();
    };
    let Some(record) = state.registry.get(&name) else {
        return ApiError::not_found(
            "TenantNotFound",
            format!("tenant \"{name}\" does not exist"),
        )
        .into_response();
    };
    if record.status == TenantStatus::Suspended {
        return ApiError::forbidden(
            "TenantSuspended",
            format!("tenant \"{name}\" is suspended; ask the operator to resume it"),
        )
        .into_response();
    }
    let rewritten = match &query {
        Some(q) => format!("{rest}?{q}"),
        None => rest,
    };
    match rewritten.parse::<Uri>() {
        Ok(uri) => *request.uri_mut() = uri,
        Err(_) => {
            return ApiError::bad_request("BadPath", "the request path is not valid")
                .into_response();
        }
    }
    request.extensions_mut().insert(Admission {
        tenant: record.name.clone(),
        base_url,
    });
    match tenants.oneshot(request.map(Body::new)).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}
