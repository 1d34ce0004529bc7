//! Module analysis at push: evaluate every module once, in a fresh isolate, and read what it
//! registers — functions (`isQuery`/`isMutation`/`isAction`/`isHttp`, public or internal, with
//! `exportArgs()`/`exportReturns()`), the `http.js` router's routes, `crons.js`'s jobs and
//! `schema.js`'s schema. A module that fails to load is reported with its path and the
//! position the engine gives, and nothing is deployed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use nimbus_runtime::{
    CancelToken, EntryPoint, ExecutionMode, GrantFamily, HostBridge, HostCall, HostCallContext,
    HostError, InvocationAuth, InvocationRequest, PoolKind, RuntimeExecutor, RuntimeGrants,
    RuntimePolicy, TenantId,
};
use nimbus_values::Validator;
use serde_json::Value as Json;

use crate::analysis_cache::AnalysisCache;
use crate::deployment::{
    AppModules, Deployment, FunctionInfo, FunctionKind, HttpRoute, Visibility,
};
use crate::error::FunctionError;
use crate::path::FunctionPath;

/// Time allowed to evaluate one module's top-level code.
pub const ANALYSIS_TIMEOUT: Duration = Duration::from_secs(10);
/// Import-phase clock: module top-level code sees this `Date.now()` (deterministic).
const IMPORT_PHASE_NOW_MS: f64 = 0.0;

/// Answers `process.env` during import and refuses everything else.
struct ImportBridge {
    env: BTreeMap<String, String>,
}

impl HostBridge for ImportBridge {
    fn call(&self, _ctx: &HostCallContext, call: HostCall) -> Result<String, HostError> {
        match call {
            HostCall::EnvGet { name } => Ok(self
                .env
                .get(&name)
                .map_or("null".into(), |v| Json::String(v.clone()).to_string())),
            other => Err(HostError::new(format!(
                "{} is not allowed while modules are being imported; move it into a function",
                other.describe()
            ))),
        }
    }
}

fn analysis_policy() -> RuntimePolicy {
    RuntimePolicy::builder()
        .grants(RuntimeGrants::none().with(GrantFamily::Env))
        .pool(PoolKind::Fresh)
        .wall_timeout(ANALYSIS_TIMEOUT)
        .heap_mib(256)
        .build()
        .expect("the analysis policy is valid")
}

/// The script that imports one module and describes what it exports.
fn describe_script(module: &str) -> String {
    let module_json = Json::String(module.to_owned());
    format!(
        r#"import * as ns from {specifier};
const MODULE = {module_json};
export default () => {{
  const functions = [];
  for (const name of Object.keys(ns)) {{
    const v = ns[name];
    if (v === null || (typeof v !== "object" && typeof v !== "function")) continue;
    const kinds = ["isQuery", "isMutation", "isAction", "isHttp"].filter((k) => v[k] === true);
    if (kinds.length !== 1) continue;
    const kind = {{ isQuery: "query", isMutation: "mutation", isAction: "action", isHttp: "httpAction" }}[kinds[0]];
    const parse = (f) => (typeof f === "function" ? JSON.parse(f.call(v)) : null);
    functions.push({{ name, kind, visibility: v.isInternal === true ? "internal" : "public",
      args: kind === "httpAction" ? null : parse(v.exportArgs), returns: kind === "httpAction" ? null : parse(v.exportReturns) }});
  }}
  const d = ns.default;
  let routes = null, crons = null, schema = null, error = null;
  if (MODULE === "http.js") {{
    if (!d || d.isRouter !== true) error = "http.js must export default an HttpRouter (httpRouter())";
    else routes = d.getRoutes().map(([path, method]) => [path, method]);
  }}
  if (MODULE === "crons.js" && d !== undefined) {{
    if (d.isCrons !== true) error = "crons.js must export default a Crons object (cronJobs())";
    else crons = JSON.parse(d.export());
  }}
  if (MODULE === "schema.js") {{
    if (!d || typeof d.export !== "function") error = "schema.js must export default defineSchema(...)";
    else schema = JSON.parse(d.export());
  }}
  return {{ functions, routes, crons, schema, error }};
}};
"#,
        specifier = Json::String(format!("./{module}"))
    )
}

/// Analyses `modules` and builds the deployment (from `cache` when these modules and `env`
/// were analysed recently).
pub async fn analyze(
    executor: &RuntimeExecutor,
    cache: &AnalysisCache,
    tenant: &TenantId,
    modules: &AppModules,
    env: BTreeMap<String, String>,
) -> Result<Deployment, FunctionError> {
    let bundle = modules.bundle();
    let key = AnalysisCache::key(bundle.expected_hash(), &env);
    if let Some(deployment) = cache.get(&key) {
        return Ok(deployment);
    }
    let bridge: Arc<dyn HostBridge> = Arc::new(ImportBridge { env: env.clone() });
    let policy = Arc::new(analysis_policy());
    let mut functions = BTreeMap::new();
    let mut http_routes = None;
    let mut crons = None;
    let mut schema = None;
    let mut paths: Vec<String> = bundle
        .paths()
        .filter(|p| !p.starts_with("_deps/"))
        .map(str::to_owned)
        .collect();
    paths.sort();
    for module in paths {
        let request = InvocationRequest {
            tenant: tenant.clone(),
            bundle: bundle.clone(),
            policy: policy.clone(),
            bridge: bridge.clone(),
            entry: EntryPoint::Script {
                source: describe_script(&module),
            },
            mode: ExecutionMode::Deterministic {
                seed: 0,
                now_ms: IMPORT_PHASE_NOW_MS,
            },
            auth: InvocationAuth::System,
            request_id: format!("analyze:{module}"),
            cancel: CancelToken::new(),
        };
        let outcome = executor.invoke_unqueued(request).await.map_err(|e| {
            FunctionError::user(format!(
                "Failed to analyze {module}: {}",
                e.message.replace("__nimbus_script", "analysis")
            ))
        })?;
        let described: Json = serde_json::from_str(&outcome.result_json).map_err(|e| {
            FunctionError::internal(format!("analysis of {module} returned bad JSON: {e}"))
        })?;
        if let Some(error) = described["error"].as_str() {
            return Err(FunctionError::user(format!(
                "Failed to analyze {module}: {error}"
            )));
        }
        for f in described["functions"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let name = f["name"].as_str().unwrap_or_default().to_owned();
            let kind = match f["kind"].as_str() {
                Some("query") => FunctionKind::Query,
                Some("mutation") => FunctionKind::Mutation,
                Some("action") => FunctionKind::Action,
                _ => FunctionKind::HttpAction,
            };
            let validator = |j: &Json, what: &str| -> Result<Option<Validator>, FunctionError> {
                match j {
                    Json::Null => Ok(None),
                    j => Validator::from_json(j).map(Some).map_err(|e| {
                        FunctionError::user(format!("Failed to analyze {module}: {what} validator of `{name}` is invalid: {e}"))
                    }),
                }
            };
            let path = FunctionPath {
                module: module.clone(),
                export: name.clone(),
            };
            let info = FunctionInfo {
                path: path.clone(),
                kind,
                visibility: if f["visibility"] == "internal" {
                    Visibility::Internal
                } else {
                    Visibility::Public
                },
                args: validator(&f["args"], "args")?,
                returns: validator(&f["returns"], "returns")?,
            };
            functions.insert(path, info);
        }
        if let Some(routes) = described["routes"].as_array() {
            http_routes = Some(
                routes
                    .iter()
                    .filter_map(|r| {
                        Some(HttpRoute {
                            path: r[0].as_str()?.to_owned(),
                            method: r[1].as_str()?.to_owned(),
                        })
                    })
                    .collect(),
            );
        }
        if !described["crons"].is_null() {
            crons = Some(described["crons"].clone());
        }
        if !described["schema"].is_null() {
            schema = Some(described["schema"].clone());
        }
    }
    let deployment = Deployment {
        bundle,
        functions,
        http_routes,
        crons,
        schema,
        env,
    };
    check_crons(&deployment)?;
    cache.insert(key, deployment.clone());
    Ok(deployment)
}

/// Every cron must target a deployed mutation or action.
fn check_crons(deployment: &Deployment) -> Result<(), FunctionError> {
    let Some(crons) = deployment.crons.as_ref().and_then(Json::as_object) else {
        return Ok(());
    };
    for (identifier, job) in crons {
        let name = job["name"].as_str().unwrap_or_default();
        let path = FunctionPath::parse(name)?;
        match deployment.function(&path).map(|f| f.kind) {
            Some(FunctionKind::Mutation | FunctionKind::Action) => {}
            Some(kind) => {
                return Err(FunctionError::user(format!(
                    "Cron job \"{identifier}\" targets {name}, a {}; crons must run mutations or actions",
                    kind.as_str()
                )));
            }
            None => {
                return Err(FunctionError::user(format!(
                    "Cron job \"{identifier}\" targets {name}, which is not deployed"
                )));
            }
        }
    }
    Ok(())
}
