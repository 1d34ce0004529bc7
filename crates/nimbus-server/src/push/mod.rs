//! The push protocol `npx convex deploy` / `npx convex dev` speak (§5 of the Convex spec):
//! `get_config_hashes`, `deploy2/{evaluate_schema, evaluate_push, start_push, wait_for_schema,
//! finish_push, report_push_completed}`, `v1/get_canonical_urls` and `stream_function_logs`.
//!
//! `start_push` analyses the new modules (every module must load, the schema must parse) and
//! parks them under a push id; `finish_push` deploys them — schema applied and existing data
//! validated, crons replaced — or fails with nothing changed. Either way a failed push leaves
//! the previous deployment serving.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use nimbus_functions::AppModules;
use nimbus_runtime::ModuleSource;
use parking_lot::Mutex;
use serde_json::{Value as Json_, json};
use sha2::{Digest, Sha256};

use crate::api::envelope::parse_body;
use crate::auth::credentials;
use crate::error::ApiError;
use crate::state::AppState;
use crate::tenants::Admission;

/// Pushes analysed but not yet finished, kept at most.
pub const PENDING_PUSHES_MAX: usize = 64;
const HASHES_META_KEY: &str = "push/module-hashes";

/// A push between `start_push` and `finish_push`.
struct PendingPush {
    tenant: String,
    modules: AppModules,
    hashes: BTreeMap<String, String>,
}

/// Parked pushes, oldest evicted first.
#[derive(Default)]
pub struct PendingPushes {
    inner: Mutex<(HashMap<String, PendingPush>, VecDeque<String>)>,
}

impl std::fmt::Debug for PendingPushes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingPushes").finish_non_exhaustive()
    }
}

impl PendingPushes {
    fn park(&self, push: PendingPush) -> String {
        let id = hex::encode(rand::random::<[u8; 12]>());
        let mut inner = self.inner.lock();
        inner.0.insert(id.clone(), push);
        inner.1.push_back(id.clone());
        while inner.1.len() > PENDING_PUSHES_MAX {
            if let Some(old) = inner.1.pop_front() {
                inner.0.remove(&old);
            }
        }
        id
    }

    fn take(&self, id: &str) -> Option<PendingPush> {
        let mut inner = self.inner.lock();
        inner.1.retain(|x| x != id);
        inner.0.remove(id)
    }
}

fn require_admin(
    state: &AppState,
    admission: &Admission,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<(), ApiError> {
    let creds = credentials(headers, query, &state.registry, admission.tenant.as_str())?;
    if !creds.is_admin() {
        return Err(ApiError::unauthenticated(
            "MissingAdminKey",
            "this endpoint needs the tenant's admin key: `Authorization: Convex <adminKey>`",
        ));
    }
    Ok(())
}

/// The hash the CLI computes to skip unchanged modules: hex SHA-256 of source ‖ source map.
fn module_hash(source: &str, source_map: Option<&str>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(source.as_bytes());
    hasher.update(source_map.unwrap_or("").as_bytes());
    hex::encode(hasher.finalize())
}

async fn stored_hashes(
    state: &AppState,
    admission: &Admission,
) -> Result<BTreeMap<String, String>, ApiError> {
    let db = state.runner.engine().database(&admission.tenant).await?;
    Ok(match db.get_meta(HASHES_META_KEY).await? {
        Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        None => BTreeMap::new(),
    })
}

/// `GET /api/v1/get_canonical_urls`.
pub async fn canonical_urls(Extension(admission): Extension<Admission>) -> Response {
    Json(json!({ "convexCloudUrl": admission.base_url, "convexSiteUrl": format!("{}/http", admission.base_url) })).into_response()
}

/// `POST /api/get_config_hashes`.
pub async fn config_hashes(
    State(state): State<Arc<AppState>>,
    Extension(admission): Extension<Admission>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    require_admin(&state, &admission, &headers, query.as_deref())?;
    let deployed = state
        .runner
        .deployment(&admission.tenant)
        .await
        .map_err(|e| ApiError::internal(e.message))?;
    let hashes = stored_hashes(&state, &admission).await?;
    // Only advertise modules the active deployment really holds.
    let module_hashes: Vec<Json_> = match &deployed {
        Some(deployment) => hashes
            .iter()
            .filter(|(path, _)| deployment.bundle.module(path).is_some())
            .map(|(path, hash)| json!({ "path": path, "hash": hash, "environment": "isolate" }))
            .collect(),
        None => Vec::new(),
    };
    Ok(Json(json!({
        "config": { "functions": "convex/", "authInfo": [] },
        "moduleHashes": module_hashes,
        "udfServerVersion": deployed.as_ref().map(|_| "1.48.0"),
        "nodeVersion": null,
    }))
    .into_response())
}

/// `POST /api/deploy2/evaluate_schema`: optional in the protocol; not offered.
pub async fn evaluate_schema() -> Response {
    ApiError::not_found(
        "NotFound",
        "evaluate_schema is not supported; the CLI falls back to evaluate_push",
    )
    .into_response()
}

fn module_entry(m: &Json_) -> Result<(ModuleSource, String), ApiError> {
    let path = m["path"]
        .as_str()
        .ok_or_else(|| ApiError::bad_request("InvalidModule", "a module has no path"))?;
    let source = m["source"].as_str().ok_or_else(|| {
        ApiError::bad_request("InvalidModule", format!("module {path} has no source"))
    })?;
    if m["environment"].as_str() == Some("node") {
        return Err(ApiError::bad_request(
            "NodeActionsUnsupported",
            format!(
                "{path} uses \"use node\"; Node.js actions are not supported by Nimbus. Remove the directive to run it in the isolate."
            ),
        ));
    }
    let hash = module_hash(source, m["sourceMap"].as_str());
    Ok((
        ModuleSource {
            path: path.to_owned(),
            source: source.into(),
        },
        hash,
    ))
}

/// Rebuilds the full module set of a push: changed modules plus unchanged ones from the
/// active deployment.
async fn modules_of(
    state: &AppState,
    admission: &Admission,
    body: &Json_,
) -> Result<(AppModules, BTreeMap<String, String>), ApiError> {
    let app = &body["appDefinition"];
    let mut modules = Vec::new();
    let mut hashes = BTreeMap::new();
    for m in app["changedModules"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let (module, hash) = module_entry(m)?;
        if module.path == "convex.config.js" {
            continue;
        }
        hashes.insert(module.path.clone(), hash);
        modules.push(module);
    }
    let unchanged = app["unchangedModuleHashes"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if !unchanged.is_empty() {
        let deployed = state
            .runner
            .deployment(&admission.tenant)
            .await
            .map_err(|e| ApiError::internal(e.message))?
            .ok_or_else(|| {
                ApiError::bad_request(
                    "UnknownModules",
                    "the push lists unchanged modules but nothing is deployed; push again",
                )
            })?;
        for m in unchanged {
            let path = m["path"].as_str().unwrap_or_default();
            let source = deployed.bundle.module(path).ok_or_else(|| {
                ApiError::bad_request(
                    "UnknownModules",
                    format!(
                        "the push lists {path} as unchanged but it is not deployed; push again"
                    ),
                )
            })?;
            hashes.insert(
                path.to_owned(),
                m["sha256"].as_str().unwrap_or_default().to_owned(),
            );
            modules.push(ModuleSource {
                path: path.to_owned(),
                source: source.clone(),
            });
        }
    }
    let schema = match &app["schema"] {
        Json_::Null => None,
        s => Some(module_entry(s)?.0),
    };
    Ok((AppModules { modules, schema }, hashes))
}

fn schema_change(push_id: Option<&str>) -> Json_ {
    json!({ "allocatedComponentIds": {}, "schemaIds": { "": push_id }, "indexDiffs": {} })
}

/// `POST /api/deploy2/evaluate_push`: analyses without parking anything.
pub async fn evaluate_push(
    State(state): State<Arc<AppState>>,
    Extension(admission): Extension<Admission>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_admin(&state, &admission, &headers, query.as_deref())?;
    let body = parse_body(&body)?;
    let (modules, _) = modules_of(&state, &admission, &body).await?;
    state
        .runner
        .analyze(&admission.tenant, &modules, BTreeMap::new())
        .await
        .map_err(|e| ApiError::bad_request("InvalidModules", e.message))?;
    Ok(Json(json!({ "schemaChange": schema_change(None) })).into_response())
}

/// `POST /api/deploy2/start_push`.
pub async fn start_push(
    State(state): State<Arc<AppState>>,
    Extension(admission): Extension<Admission>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_admin(&state, &admission, &headers, query.as_deref())?;
    let body = parse_body(&body)?;
    let (modules, hashes) = modules_of(&state, &admission, &body).await?;
    let deployment = state
        .runner
        .analyze(&admission.tenant, &modules, BTreeMap::new())
        .await
        .map_err(|e| ApiError::bad_request("InvalidModules", e.message))?;
    let dry_run = body["dryRun"].as_bool().unwrap_or(false);
    let push_id = if dry_run {
        None
    } else {
        Some(state.pushes.park(PendingPush {
            tenant: admission.tenant.as_str().to_owned(),
            modules,
            hashes,
        }))
    };
    let mut functions = serde_json::Map::new();
    for info in deployment.functions.values() {
        let entry = functions
            .entry(info.path.module.clone())
            .or_insert_with(|| json!({ "functions": [], "sourceMapped": null }));
        if let Some(list) = entry["functions"].as_array_mut() {
            list.push(json!({
                "name": info.path.export,
                "udfType": match info.kind {
                    nimbus_functions::FunctionKind::Query => "Query",
                    nimbus_functions::FunctionKind::Mutation => "Mutation",
                    nimbus_functions::FunctionKind::Action => "Action",
                    nimbus_functions::FunctionKind::HttpAction => "HttpAction",
                },
                "visibility": { "kind": if info.visibility == nimbus_functions::Visibility::Public { "public" } else { "internal" } },
                "args": info.args.as_ref().map(|v| v.to_json().to_string()),
                "returns": info.returns.as_ref().map(|v| v.to_json().to_string()),
            }));
        }
    }
    let routes: Option<Vec<Json_>> = deployment.http_routes.as_ref().map(|r| {
        r.iter()
            .map(|r| json!({ "method": r.method, "path": r.path }))
            .collect()
    });
    Ok(Json(json!({
        "environmentVariables": {},
        "externalDepsId": null,
        "componentDefinitionPackages": {},
        "appAuth": [],
        "analysis": { "": {
            "definition": { "path": "", "definitionType": { "type": "app" }, "childComponents": [], "httpMounts": {}, "exports": { "type": "branch", "branch": [] } },
            "schema": deployment.schema,
            "functions": functions,
            "udfConfig": { "serverVersion": "1.48.0", "importPhaseRngSeed": null, "importPhaseUnixTimestamp": null },
        } },
        "app": { "definitionPath": "", "componentPath": "", "args": {}, "childComponents": {}, "httpRoutes": { "httpModuleRoutes": routes, "mounts": [] }, "exports": {} },
        "schemaChange": schema_change(push_id.as_deref()),
    }))
    .into_response())
}

/// `POST /api/deploy2/wait_for_schema`: schema work happens in `finish_push`, so it is
/// always complete here.
pub async fn wait_for_schema(
    State(state): State<Arc<AppState>>,
    Extension(admission): Extension<Admission>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    require_admin(&state, &admission, &headers, query.as_deref())?;
    Ok(Json(json!({ "type": "complete" })).into_response())
}

/// `POST /api/deploy2/finish_push`: deploys the parked push.
pub async fn finish_push(
    State(state): State<Arc<AppState>>,
    Extension(admission): Extension<Admission>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_admin(&state, &admission, &headers, query.as_deref())?;
    let body = parse_body(&body)?;
    if body["dryRun"].as_bool() == Some(true) {
        return Ok(Json(finish_diff()).into_response());
    }
    let push_id = body["startPush"]["schemaChange"]["schemaIds"][""]
        .as_str()
        .ok_or_else(|| {
            ApiError::bad_request(
                "UnknownPush",
                "finish_push names no push; run the deploy again",
            )
        })?;
    let push = state.pushes.take(push_id).ok_or_else(|| {
        ApiError::bad_request(
            "UnknownPush",
            "this push expired or was already finished; run the deploy again",
        )
    })?;
    if push.tenant != admission.tenant.as_str() {
        return Err(ApiError::bad_request(
            "UnknownPush",
            "this push belongs to another tenant",
        ));
    }
    let previous_env = state
        .runner
        .deployment(&admission.tenant)
        .await
        .ok()
        .flatten()
        .map(|d| d.env.clone())
        .unwrap_or_default();
    state
        .runner
        .deploy(&admission.tenant, push.modules, previous_env)
        .await
        .map_err(|e| ApiError::bad_request("PushFailed", e.message))?;
    let db = state.runner.engine().database(&admission.tenant).await?;
    db.put_meta(
        HASHES_META_KEY,
        Some(serde_json::to_vec(&push.hashes).unwrap_or_default()),
    )
    .await?;
    // The deploy replaced the crons.
    state.due.changed(&admission.tenant);
    Ok(Json(finish_diff()).into_response())
}

fn finish_diff() -> Json_ {
    json!({ "authDiff": { "added": [], "removed": [] }, "definitionDiffs": {}, "componentDiffs": {} })
}

/// `POST /api/deploy2/report_push_completed`.
pub async fn report_push_completed() -> Response {
    Json(json!({})).into_response()
}

/// `GET /api/stream_function_logs?cursor=<ms>`: a long poll over the tenant's function logs.
pub async fn stream_function_logs(
    State(state): State<Arc<AppState>>,
    Extension(admission): Extension<Admission>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    require_admin(&state, &admission, &headers, query.as_deref())?;
    let cursor = url::form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "cursor")
        .and_then(|(_, v)| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    let timeout = state.config.log_poll_timeout.min(Duration::from_secs(60));
    let (entries, new_cursor) = state
        .logs
        .since(admission.tenant.as_str(), cursor, timeout)
        .await;
    Ok((
        StatusCode::OK,
        Json(json!({ "entries": entries, "newCursor": new_cursor })),
    )
        .into_response())
}
