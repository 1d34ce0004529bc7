//! Workers-style fetch apps: a tenant deploys an ES module bundle whose default export has
//! `fetch(request, env, ctx)`; requests reach it by one of its hostnames or by
//! `/t/<tenant>/apps/<app>/…`.
//!
//! Each app runs in its own isolates (its admission key is `<tenant>/<app>`, so two apps never
//! share an isolate or a global, even with identical code), warm by default: module state
//! persists across requests of one app — an explicit contract — and never crosses apps. The
//! registry swaps an app's version atomically on deploy; a request in flight keeps the version
//! it started with. `env` holds the app's variables (and its secrets only when the tenant's
//! grants include `secrets`); `env.NIMBUS` calls the tenant's Convex functions through the same
//! runner and single mutation path.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures::StreamExt;
use nimbus_functions::FunctionRunner;
use nimbus_runtime::{
    CancelToken, EntryPoint, ErrorCode, ExecutionMode, GrantFamily, InvocationAuth,
    InvocationRequest, ModuleSource, PoolKind, RuntimeBundle, RuntimeGrants, RuntimePolicy,
    TenantId,
};
use nimbus_storage::TenantName;
use parking_lot::RwLock;
use serde_json::{Value as Json, json};

use crate::api::envelope::{parse_body, request_id};
use crate::auth::credentials;
use crate::error::ApiError;
use crate::fetch_app_bridge::FetchAppBridge;
use crate::state::AppState;
use crate::tenants::Admission;
use nimbus_functions::http_body::{BodySource, HTTP_INLINE_BODY_BYTES_MAX, HttpExchange};

/// Largest request or response body of a fetch app, in bytes.
pub const FETCH_APP_BODY_BYTES_MAX: usize = 32 * 1024 * 1024;
/// Heap limit of a fetch app's isolate, in MiB.
pub const FETCH_APP_HEAP_MIB: u32 = 64;
const META_PREFIX: &str = "fetch-app/";

/// One deployed app version.
#[derive(Debug)]
pub struct FetchApp {
    tenant: TenantName,
    name: String,
    main: String,
    bundle: RuntimeBundle,
    env: BTreeMap<String, String>,
    secrets: BTreeMap<String, String>,
    hostnames: Vec<String>,
}

impl FetchApp {
    /// The owning tenant.
    pub fn tenant(&self) -> &TenantName {
        &self.tenant
    }
    /// The app's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The code.
    pub fn bundle(&self) -> &RuntimeBundle {
        &self.bundle
    }
    /// The main module's path.
    pub fn main(&self) -> &str {
        &self.main
    }
    /// `env` as JSON: the variables, plus the secrets when the server grants them.
    pub fn env_json(&self, config: &crate::config::ServerConfig) -> String {
        let mut env = self.env.clone();
        if config.fetch_apps_secrets {
            env.extend(self.secrets.clone());
        }
        serde_json::to_string(&env).unwrap_or_default()
    }
}

/// The policy of an app's WebSocket connection: a fresh isolate per connection, the request
/// time limit applied to each frame.
pub fn socket_policy(config: &crate::config::ServerConfig) -> Arc<RuntimePolicy> {
    let policy = policy(config.fetch_apps_network, config.fetch_app_timeout);
    Arc::new(
        RuntimePolicy::builder()
            .grants(policy.grants().clone())
            .limits(policy.limits().clone())
            .pool(PoolKind::Fresh)
            .build()
            .expect("the socket policy is valid"),
    )
}

/// All apps, and the hostnames that reach them.
#[derive(Debug, Default)]
pub struct FetchApps {
    apps: RwLock<HashMap<(String, String), Arc<FetchApp>>>,
    hosts: RwLock<HashMap<String, (String, String)>>,
}

fn policy(network: bool, timeout: Duration) -> Arc<RuntimePolicy> {
    let mut grants = RuntimeGrants::none()
        .with(GrantFamily::Functions)
        .with(GrantFamily::Env);
    if network {
        grants = grants.with(GrantFamily::Network);
    }
    Arc::new(
        RuntimePolicy::builder()
            .grants(grants)
            .pool(PoolKind::Warm)
            .wall_timeout(timeout)
            .heap_mib(FETCH_APP_HEAP_MIB)
            .admission(nimbus_runtime::AdmissionCaps {
                active_max: 4,
                queue_max: 1024,
                in_flight_max: 1028,
            })
            .build()
            .expect("the fetch app policy is valid"),
    )
}

fn app_json(app: &FetchApp) -> Json {
    json!({
        "name": app.name,
        "main": app.main,
        "hash": app.bundle.expected_hash().to_hex(),
        "modules": app.bundle.paths().map(|p| json!({ "path": p, "source": app.bundle.module(p).map(|s| s.to_string()) })).collect::<Vec<_>>(),
        "env": app.env,
        "secrets": app.secrets,
        "hostnames": app.hostnames,
    })
}

fn app_from_json(tenant: &TenantName, json: &Json) -> Option<FetchApp> {
    let modules = json["modules"]
        .as_array()?
        .iter()
        .map(|m| {
            Some(ModuleSource {
                path: m["path"].as_str()?.to_owned(),
                source: m["source"].as_str()?.into(),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let hash = nimbus_runtime::BundleHash::from_hex(json["hash"].as_str()?)?;
    let strings = |j: &Json| {
        j.as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default()
    };
    Some(FetchApp {
        tenant: tenant.clone(),
        name: json["name"].as_str()?.to_owned(),
        main: json["main"].as_str()?.to_owned(),
        bundle: RuntimeBundle::new(modules, hash),
        env: strings(&json["env"]),
        secrets: strings(&json["secrets"]),
        hostnames: json["hostnames"]
            .as_array()
            .map(|h| {
                h.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
    })
}

impl FetchApps {
    /// The app a Host header names, if any: one of an app's own hostnames, or
    /// `<app>.<tenant>.<domain>` (`<app>.<tenant>.localhost` always works), which reaches every
    /// app without configuring anything.
    pub fn by_host(&self, host: &str, domain: Option<&str>) -> Option<Arc<FetchApp>> {
        let host = host.rsplit_once(':').map_or(host, |(h, p)| {
            if p.chars().all(|c| c.is_ascii_digit()) {
                h
            } else {
                host
            }
        });
        let host = host.to_ascii_lowercase();
        let key = self.hosts.read().get(&host).cloned();
        if let Some(key) = key {
            return self.apps.read().get(&key).cloned();
        }
        let (app, rest) = host.split_once('.')?;
        let tenant = crate::tenants::tenant_from_host(rest, domain)?;
        self.get(tenant, app)
    }

    fn get(&self, tenant: &str, name: &str) -> Option<Arc<FetchApp>> {
        self.apps
            .read()
            .get(&(tenant.to_owned(), name.to_owned()))
            .cloned()
    }

    /// Loads every app of the given tenants (at startup).
    pub async fn load(&self, runner: &FunctionRunner, tenants: &[TenantName]) {
        for tenant in tenants {
            let Ok(db) = runner.engine().database(tenant).await else {
                continue;
            };
            let Ok(Some(index)) = db.get_meta("fetch-apps").await else {
                continue;
            };
            let names: Vec<String> = serde_json::from_slice(&index).unwrap_or_default();
            for name in names {
                if let Ok(Some(bytes)) = db.get_meta(&format!("{META_PREFIX}{name}")).await
                    && let Ok(json) = serde_json::from_slice::<Json>(&bytes)
                    && let Some(app) = app_from_json(tenant, &json)
                {
                    self.install(Arc::new(app));
                }
            }
        }
    }

    fn install(&self, app: Arc<FetchApp>) {
        let key = (app.tenant.as_str().to_owned(), app.name.clone());
        let mut hosts = self.hosts.write();
        hosts.retain(|_, owner| *owner != key);
        for host in &app.hostnames {
            hosts.insert(host.clone(), key.clone());
        }
        self.apps.write().insert(key, app);
    }
}

fn require_admin(
    state: &AppState,
    admission: &Admission,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<(), ApiError> {
    if !credentials(headers, query, &state.registry, admission.tenant.as_str())?.is_admin() {
        return Err(ApiError::unauthenticated(
            "MissingAdminKey",
            "deploying apps needs the tenant's admin key: `Authorization: Convex <adminKey>`",
        ));
    }
    Ok(())
}

/// `PUT /api/nimbus/apps/{app}` `{main, modules: [{path, source}], env?, secrets?, hostnames?}`.
pub async fn deploy(
    State(state): State<Arc<AppState>>,
    Extension(admission): Extension<Admission>,
    Path(name): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_admin(&state, &admission, &headers, query.as_deref())?;
    TenantName::new(&name).map_err(|_| {
        ApiError::bad_request(
            "InvalidAppName",
            "app names use lower-case letters, digits and dashes",
        )
    })?;
    let body = parse_body(&body)?;
    let modules: Vec<ModuleSource> = body["modules"]
        .as_array()
        .ok_or_else(|| {
            ApiError::bad_request("InvalidApp", "the body needs `modules`: [{path, source}]")
        })?
        .iter()
        .map(|m| {
            Some(ModuleSource {
                path: m["path"].as_str()?.to_owned(),
                source: m["source"].as_str()?.into(),
            })
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| {
            ApiError::bad_request("InvalidApp", "every module needs a `path` and a `source`")
        })?;
    let main = body["main"].as_str().unwrap_or("index.js").to_owned();
    let strings = |j: &Json| -> BTreeMap<String, String> {
        j.as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default()
    };
    let hostnames: Vec<String> = body["hostnames"]
        .as_array()
        .map(|h| {
            h.iter()
                .filter_map(|x| x.as_str().map(|s| s.to_ascii_lowercase()))
                .collect()
        })
        .unwrap_or_default();
    for host in &hostnames {
        if let Some(owner) = state.fetch_apps.hosts.read().get(host)
            && *owner != (admission.tenant.as_str().to_owned(), name.clone())
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "HostnameTaken",
                format!("the hostname {host} already belongs to another app"),
            ));
        }
    }
    let bundle = RuntimeBundle::sealed(modules);
    if bundle.module(&main).is_none() {
        return Err(ApiError::bad_request(
            "InvalidApp",
            format!("the main module {main} is not in `modules`"),
        ));
    }
    // The app must load and export a fetch handler before it replaces the running version.
    let check = format!(
        "import * as main from {};\nexport default () => typeof (main.default && main.default.fetch);\n",
        Json::String(format!("./{main}"))
    );
    let outcome = state
        .runner
        .executor()
        .invoke_unqueued(InvocationRequest {
            tenant: TenantId::new(format!("{}/{name}", admission.tenant.as_str())),
            bundle: bundle.clone(),
            policy: policy(false, state.config.fetch_app_timeout),
            bridge: Arc::new(nimbus_runtime::NoHost),
            entry: EntryPoint::Script { source: check },
            mode: ExecutionMode::Action,
            auth: InvocationAuth::Admin,
            request_id: "deploy".into(),
            cancel: CancelToken::new(),
        })
        .await
        .map_err(|e| {
            ApiError::bad_request(
                "InvalidApp",
                format!("the app failed to load: {}", e.message),
            )
        })?;
    if outcome.result_json != "\"function\"" {
        return Err(ApiError::bad_request(
            "InvalidApp",
            "the main module must `export default { fetch(request, env, ctx) { … } }`",
        ));
    }
    let app = FetchApp {
        tenant: admission.tenant.clone(),
        name: name.clone(),
        main,
        bundle,
        env: strings(&body["env"]),
        secrets: strings(&body["secrets"]),
        hostnames,
    };
    let db = state.runner.engine().database(&admission.tenant).await?;
    db.put_meta(
        &format!("{META_PREFIX}{name}"),
        Some(serde_json::to_vec(&app_json(&app)).unwrap_or_default()),
    )
    .await?;
    let mut names: Vec<String> = match db.get_meta("fetch-apps").await? {
        Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        None => Vec::new(),
    };
    if !names.contains(&name) {
        names.push(name.clone());
        db.put_meta(
            "fetch-apps",
            Some(serde_json::to_vec(&names).unwrap_or_default()),
        )
        .await?;
    }
    let url = format!("{}/apps/{name}", admission.base_url);
    let hostnames = app.hostnames.clone();
    state.fetch_apps.install(Arc::new(app));
    Ok((
        StatusCode::OK,
        axum::Json(json!({ "name": name, "url": url, "hostnames": hostnames })),
    )
        .into_response())
}

/// `/apps/{app}` and `/apps/{app}/{*rest}` under a tenant.
pub async fn by_path(
    State(state): State<Arc<AppState>>,
    Extension(admission): Extension<Admission>,
    request: axum::extract::Request,
) -> Response {
    let uri = request.uri().clone();
    let path = uri.path().strip_prefix("/apps/").unwrap_or("");
    let (name, rest) = path
        .split_once('/')
        .map_or((path, "/".to_owned()), |(n, r)| (n, format!("/{r}")));
    let Some(app) = state.fetch_apps.get(admission.tenant.as_str(), name) else {
        return ApiError::not_found(
            "AppNotFound",
            format!(
                "tenant \"{}\" has no app \"{name}\"",
                admission.tenant.as_str()
            ),
        )
        .into_response();
    };
    let host = request
        .headers()
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_owned();
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    handle(state, app, format!("http://{host}{rest}{query}"), request).await
}

/// A request whose Host is an app's hostname.
pub async fn by_host(
    state: Arc<AppState>,
    app: Arc<FetchApp>,
    request: axum::extract::Request,
) -> Response {
    let host = request
        .headers()
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    handle(state, app, format!("http://{host}{path}"), request).await
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

async fn handle(
    state: Arc<AppState>,
    app: Arc<FetchApp>,
    url: String,
    request: axum::extract::Request,
) -> Response {
    let (mut parts, body) = request.into_parts();
    if is_upgrade(&parts.headers) {
        use axum::extract::FromRequestParts;
        return match axum::extract::WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
            Ok(upgrade) => {
                let max = state.config.app_ws_message_bytes_max;
                let permits = state.app_ws_permits.clone();
                let request_json = json!({
                    "url": url, "method": parts.method.as_str(), "headers": header_pairs(&parts.headers),
                })
                .to_string();
                upgrade
                    .max_message_size(max)
                    .read_buffer_size(state.config.ws_read_buffer_bytes)
                    .max_frame_size(max)
                    .on_upgrade(move |socket| {
                        crate::fetch_app_sockets::run(state, app, socket, permits, request_json)
                    })
            }
            Err(rejection) => rejection.into_response(),
        };
    }
    let declared = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    let body = match (&parts.method, declared) {
        (&Method::GET | &Method::HEAD, _) => AppRequestBody::Inline(None),
        (_, Some(length)) if length > FETCH_APP_BODY_BYTES_MAX => return too_large(),
        (_, Some(length)) if length <= HTTP_INLINE_BODY_BYTES_MAX => {
            match axum::body::to_bytes(body, HTTP_INLINE_BODY_BYTES_MAX).await {
                Ok(bytes) => AppRequestBody::Inline(Some(bytes)),
                Err(_) => return too_large(),
            }
        }
        _ => AppRequestBody::Streamed(body),
    };
    serve(&state, app, url, parts.method, parts.headers, body).await
}

type Invoked = Result<nimbus_runtime::InvocationOutcome, nimbus_runtime::RuntimeError>;

fn flatten(joined: Result<Invoked, tokio::task::JoinError>) -> Invoked {
    joined.unwrap_or_else(|e| Err(nimbus_runtime::RuntimeError::internal(e.to_string())))
}

/// Records one request to an app in the tenant's function log.
fn record_outcome(
    state: &AppState,
    app: &FetchApp,
    identifier: &str,
    started: Instant,
    result: &Invoked,
) {
    let (logs, error) = match result {
        Ok(outcome) => (&outcome.logs, None),
        Err(error) => (&error.logs, Some(error.message.as_str())),
    };
    let lines: Vec<String> = logs.iter().map(|l| l.to_convex_string()).collect();
    let elapsed = started.elapsed().as_secs_f64();
    state.logs.record(
        app.tenant.as_str(),
        "HttpAction",
        identifier,
        &lines,
        error,
        elapsed,
    );
}

/// The HTTP response an app described; `streamed` is the body when the description says the
/// body follows as a stream.
fn response_from(described: &str, streamed: Body) -> Response {
    let described: Json = serde_json::from_str(described).unwrap_or_default();
    let body = if described["streamed"].as_bool() == Some(true) {
        streamed
    } else {
        let bytes = described["bodyBase64"]
            .as_str()
            .map(|b| STANDARD.decode(b).unwrap_or_default())
            .unwrap_or_default();
        if bytes.len() > FETCH_APP_BODY_BYTES_MAX {
            return ApiError::internal("the app's response body exceeds the size limit")
                .into_response();
        }
        Body::from(bytes)
    };
    let status = StatusCode::from_u16(described["status"].as_u64().unwrap_or(200) as u16)
        .unwrap_or(StatusCode::OK);
    let mut builder = Response::builder().status(status);
    for pair in described["headers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        if let (Some(k), Some(v)) = (pair[0].as_str(), pair[1].as_str())
            && let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v))
        {
            builder = builder.header(k, v);
        }
    }
    builder
        .body(body)
        .unwrap_or_else(|_| ApiError::internal("bad response").into_response())
}

/// The request's headers as `[name, value]` pairs (values that are not text are left out).
fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect()
}

/// A request body as the exchange reads it.
pub(crate) fn body_source(body: Body) -> BodySource {
    Box::pin(
        body.into_data_stream()
            .map(|chunk| chunk.map_err(|e| e.to_string())),
    )
}

/// How a request body reaches the app.
enum AppRequestBody {
    /// Buffered (small, or none at all) and handed over with the request.
    Inline(Option<Bytes>),
    /// Pulled by the app as it reads.
    Streamed(Body),
}

fn too_large() -> Response {
    closing(
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "BodyTooLarge",
            format!("request bodies of fetch apps are limited to {FETCH_APP_BODY_BYTES_MAX} bytes"),
        )
        .into_response(),
    )
}

/// Marks a response that refuses a body it did not read whole: the rest of that body is still
/// on the connection, so it cannot carry another request. `Connection: close` tells the client
/// so (and hyper closes it); otherwise a client's next request on it races the close.
pub(crate) fn closing(mut response: Response) -> Response {
    response.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    response
}

async fn serve(
    state: &Arc<AppState>,
    app: Arc<FetchApp>,
    url: String,
    method: Method,
    headers: HeaderMap,
    body: AppRequestBody,
) -> Response {
    let request_id = request_id(&headers);
    let header_pairs = header_pairs(&headers);
    let (body_b64, streamed) = match body {
        AppRequestBody::Inline(bytes) => (bytes.map(|b| STANDARD.encode(&b)), None),
        AppRequestBody::Streamed(body) => (None, Some(body)),
    };
    let request_json = json!({
        "url": url, "method": method.as_str(), "headers": header_pairs, "bodyBase64": body_b64,
        "streamed": streamed.is_some(),
        "waitUntilGraceMs": state.config.wait_until_grace.as_millis() as u64,
    })
    .to_string();
    let (exchange, ends) = HttpExchange::new(streamed.map(body_source), FETCH_APP_BODY_BYTES_MAX);
    let network = state.config.fetch_apps_network;
    let started = Instant::now();
    let invocation = InvocationRequest {
        tenant: TenantId::new(format!("{}/{}", app.tenant.as_str(), app.name)),
        bundle: app.bundle.clone(),
        policy: policy(network, state.config.fetch_app_timeout),
        bridge: Arc::new(FetchAppBridge {
            runner: state.runner.clone(),
            tenant: app.tenant.clone(),
            exchange: exchange.clone(),
        }),
        entry: EntryPoint::Fetch {
            module: app.main.clone(),
            request_json,
            env_json: app.env_json(&state.config),
        },
        mode: ExecutionMode::Action,
        auth: InvocationAuth::Anonymous,
        request_id: request_id.clone(),
        cancel: CancelToken::new(),
    };
    let identifier = format!("app:{}", app.name);
    let mut running = tokio::spawn(state.runner.executor().invoke(invocation));
    let joined = tokio::select! {
        // Early answer first: once the app has answered, that answer stands even if the
        // invocation has meanwhile ended (a stream that failed after its head was sent must
        // break the body, not turn into a 500).
        biased;
        // The handler answered and keeps working through `ctx.waitUntil`: reply now; the
        // invocation finishes in the background (bounded by the grace period and its limits).
        Ok(described) = ends.early => {
            let state = state.clone();
            tokio::spawn(async move {
                let result = flatten(running.await);
                match &result {
                    Ok(_) => exchange.response_body.end(),
                    Err(error) => exchange.response_body.abort(&error.message).await,
                }
                record_outcome(&state, &app, &identifier, started, &result);
            });
            return response_from(&described, Body::from_stream(ends.body));
        }
        joined = &mut running => joined,
    };
    let result = flatten(joined);
    record_outcome(state, &app, &identifier, started, &result);
    if result.is_err() && exchange.request_body.was_too_large() {
        return too_large();
    }
    match result {
        Ok(outcome) => response_from(&outcome.result_json, Body::empty()),
        Err(error) => {
            let status = match error.code {
                ErrorCode::Timeout | ErrorCode::WorkerQuarantined => StatusCode::GATEWAY_TIMEOUT,
                ErrorCode::TenantOverCapacity | ErrorCode::ShuttingDown => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            (status, axum::Json(json!({ "error": error.message, "code": error.code.tag(), "requestId": request_id }))).into_response()
        }
    }
}
