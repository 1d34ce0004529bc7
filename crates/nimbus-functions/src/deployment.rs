//! A deployment: the pushed modules, sealed into a runtime bundle, with what analysis found in
//! them (functions, HTTP routes, crons, schema) and the environment variables they see.
//!
//! Deployments are persisted as one JSON document in the tenant's database metadata, written
//! only after analysis succeeded, so a failed push never replaces a working deployment.

use std::collections::BTreeMap;

use nimbus_runtime::{BundleHash, ModuleSource, RuntimeBundle};
use nimbus_values::Validator;
use serde_json::{Value as Json, json};

use crate::error::FunctionError;
use crate::path::FunctionPath;

/// Metadata key of the active deployment.
pub const DEPLOYMENT_META_KEY: &str = "deployment";

/// What kind of function an export is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionKind {
    /// `query` / `internalQuery`.
    Query,
    /// `mutation` / `internalMutation`.
    Mutation,
    /// `action` / `internalAction`.
    Action,
    /// `httpAction` (reachable only through the router).
    HttpAction,
}

impl FunctionKind {
    /// Convex's name (`query`, `mutation`, `action`, `httpAction`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::Mutation => "mutation",
            Self::Action => "action",
            Self::HttpAction => "httpAction",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "query" => Self::Query,
            "mutation" => Self::Mutation,
            "action" => Self::Action,
            "httpAction" => Self::HttpAction,
            _ => return None,
        })
    }
}

/// Who may call a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Clients.
    Public,
    /// Only other functions, the scheduler and admins.
    Internal,
}

/// One registered function.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionInfo {
    /// Where it lives.
    pub path: FunctionPath,
    /// Its kind.
    pub kind: FunctionKind,
    /// Who may call it.
    pub visibility: Visibility,
    /// Argument validator (`None`: any object).
    pub args: Option<Validator>,
    /// Return validator (`None`: not checked).
    pub returns: Option<Validator>,
}

/// One HTTP route from `http.js`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRoute {
    /// Exact path, or a prefix ending in `/*`.
    pub path: String,
    /// Upper-case method.
    pub method: String,
}

/// The modules a client pushes.
#[derive(Debug, Clone, Default)]
pub struct AppModules {
    /// Function modules and shared chunks (`_deps/…`).
    pub modules: Vec<ModuleSource>,
    /// `schema.js`, bundled on its own, if the app has a schema.
    pub schema: Option<ModuleSource>,
}

impl AppModules {
    /// The runtime bundle: every module plus the schema module.
    pub fn bundle(&self) -> RuntimeBundle {
        let mut modules = self.modules.clone();
        if let Some(schema) = &self.schema {
            modules.retain(|m| m.path != schema.path);
            modules.push(schema.clone());
        }
        RuntimeBundle::sealed(modules)
    }
}

/// An analysed, deployable app.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The code, sealed with its hash.
    pub bundle: RuntimeBundle,
    /// Registered functions by path.
    pub functions: BTreeMap<FunctionPath, FunctionInfo>,
    /// HTTP routes, if the app has `http.js`.
    pub http_routes: Option<Vec<HttpRoute>>,
    /// The crons JSON from `crons.js` (`{identifier: {name, args, schedule}}`), if any.
    pub crons: Option<Json>,
    /// The schema JSON from `schema.js`, if any.
    pub schema: Option<Json>,
    /// Environment variables visible as `process.env`.
    pub env: BTreeMap<String, String>,
}

impl Deployment {
    /// A function by path.
    pub fn function(&self, path: &FunctionPath) -> Option<&FunctionInfo> {
        self.functions.get(path)
    }

    /// The bundle hash (identifies the deployment's code).
    pub fn hash(&self) -> BundleHash {
        self.bundle.expected_hash()
    }

    /// The persisted form.
    pub fn to_json(&self) -> Json {
        let modules: Vec<Json> = self
            .bundle
            .paths()
            .map(|p| json!({ "path": p, "source": self.bundle.module(p).map(|s| s.to_string()) }))
            .collect();
        let functions: Vec<Json> = self
            .functions
            .values()
            .map(|f| {
                json!({
                    "module": f.path.module, "export": f.path.export, "kind": f.kind.as_str(),
                    "visibility": if f.visibility == Visibility::Public { "public" } else { "internal" },
                    "args": f.args.as_ref().map(Validator::to_json),
                    "returns": f.returns.as_ref().map(Validator::to_json),
                })
            })
            .collect();
        json!({
            "modules": modules,
            "hash": self.hash().to_hex(),
            "functions": functions,
            "httpRoutes": self.http_routes.as_ref().map(|r| r.iter().map(|r| json!([r.path, r.method])).collect::<Vec<_>>()),
            "crons": self.crons,
            "schema": self.schema,
            "env": self.env,
        })
    }

    /// Reads the persisted form. The stored hash becomes the bundle's expected hash, so a
    /// module altered in storage fails the integrity check before it can run.
    pub fn from_json(json: &Json) -> Result<Self, FunctionError> {
        let bad =
            |what: &str| FunctionError::internal(format!("stored deployment is damaged: {what}"));
        let modules = json["modules"]
            .as_array()
            .ok_or_else(|| bad("modules"))?
            .iter()
            .map(|m| {
                Some(ModuleSource {
                    path: m["path"].as_str()?.to_owned(),
                    source: m["source"].as_str()?.into(),
                })
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("module"))?;
        let hash = json["hash"]
            .as_str()
            .and_then(BundleHash::from_hex)
            .ok_or_else(|| bad("hash"))?;
        let mut functions = BTreeMap::new();
        for f in json["functions"]
            .as_array()
            .ok_or_else(|| bad("functions"))?
        {
            let path = FunctionPath {
                module: f["module"]
                    .as_str()
                    .ok_or_else(|| bad("function module"))?
                    .to_owned(),
                export: f["export"]
                    .as_str()
                    .ok_or_else(|| bad("function export"))?
                    .to_owned(),
            };
            let kind = f["kind"]
                .as_str()
                .and_then(FunctionKind::parse)
                .ok_or_else(|| bad("function kind"))?;
            let visibility = if f["visibility"] == "internal" {
                Visibility::Internal
            } else {
                Visibility::Public
            };
            let validator = |j: &Json| match j {
                Json::Null => Ok(None),
                j => Validator::from_json(j)
                    .map(Some)
                    .map_err(|_| bad("validator")),
            };
            let info = FunctionInfo {
                path: path.clone(),
                kind,
                visibility,
                args: validator(&f["args"])?,
                returns: validator(&f["returns"])?,
            };
            functions.insert(path, info);
        }
        let http_routes = match &json["httpRoutes"] {
            Json::Array(routes) => Some(
                routes
                    .iter()
                    .map(|r| {
                        Some(HttpRoute {
                            path: r[0].as_str()?.to_owned(),
                            method: r[1].as_str()?.to_owned(),
                        })
                    })
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| bad("route"))?,
            ),
            _ => None,
        };
        let env = json["env"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            bundle: RuntimeBundle::new(modules, hash),
            functions,
            http_routes,
            crons: json.get("crons").filter(|c| !c.is_null()).cloned(),
            schema: json.get("schema").filter(|c| !c.is_null()).cloned(),
            env,
        })
    }
}
