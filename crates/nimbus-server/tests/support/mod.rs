//! Shared helpers of the server's integration tests: a real server on a free port, tenants
//! with the fixture Convex app deployed, and small HTTP helpers.

#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]

use std::collections::BTreeMap;
use std::sync::Arc;

use nimbus_functions::AppModules;
use nimbus_runtime::ModuleSource;
use nimbus_server::{Server, ServerConfig};
use nimbus_storage::{MemoryPersistence, TenantName};
use serde_json::{Value as Json, json};

pub mod streaming;
pub mod sync_socket;

pub const OPERATOR_KEY: &str = "test-operator-key";

pub fn fixture_modules() -> AppModules {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/app.bundle.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{} is missing ({e}); run: npm ci --prefix tests/fixtures && node tests/fixtures/bundle.mjs tests/fixtures/app tests/fixtures/app.bundle.json", path.display())
    });
    let json: Json = serde_json::from_str(&text).unwrap();
    let module = |m: &Json| ModuleSource {
        path: m["path"].as_str().unwrap().into(),
        source: m["source"].as_str().unwrap().into(),
    };
    AppModules {
        modules: json["modules"]
            .as_array()
            .unwrap()
            .iter()
            .map(module)
            .collect(),
        schema: json.get("schema").filter(|s| !s.is_null()).map(module),
    }
}

pub struct Running {
    pub base: String,
    pub http: reqwest::Client,
    pub server: Server,
}

pub async fn start(default_tenant: Option<&str>) -> Running {
    start_with(default_tenant, |_| {}).await
}

pub async fn start_with(
    default_tenant: Option<&str>,
    configure: impl FnOnce(&mut ServerConfig),
) -> Running {
    let mut config = ServerConfig::new(OPERATOR_KEY);
    config.default_tenant = default_tenant.map(str::to_owned);
    configure(&mut config);
    let server = Server::new(Arc::new(MemoryPersistence::new()), config)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(server.clone().serve(listener, std::future::pending()));
    Running {
        base,
        http: reqwest::Client::new(),
        server,
    }
}

impl Running {
    pub async fn create_tenant(&self, name: &str) -> String {
        let response = self
            .http
            .post(format!("{}/_nimbus/tenants", self.base))
            .bearer_auth(OPERATOR_KEY)
            .json(&json!({ "name": name }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let body: Json = response.json().await.unwrap();
        self.server
            .runner()
            .deploy(
                &TenantName::new(name).unwrap(),
                fixture_modules(),
                BTreeMap::new(),
            )
            .await
            .unwrap();
        body["adminKey"].as_str().unwrap().to_owned()
    }

    /// Runs a mutation through `/api/mutation` (convex-encoded JSON) and returns its value;
    /// panics unless it succeeded.
    pub async fn mutation(&self, tenant: &str, path: &str, args: Json) -> Json {
        let (status, reply) = self
            .post(
                &format!("/t/{tenant}/api/mutation"),
                json!({ "path": path, "args": [args], "format": "convex_encoded_json" }),
                None,
            )
            .await;
        assert_eq!(status, 200, "{path}: {reply}");
        assert_eq!(reply["status"], "success", "{path}: {reply}");
        reply["value"].clone()
    }

    /// The `/metrics` text (Prometheus exposition format).
    pub async fn metrics(&self) -> String {
        let response = self
            .http
            .get(format!("{}/metrics", self.base))
            .bearer_auth(OPERATOR_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: Json, auth: Option<&str>) -> (u16, Json) {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Json::Null))
    }
}

/// A request body sent with chunked transfer encoding (no Content-Length), one chunk per item.
pub fn chunked_body(chunks: Vec<Vec<u8>>) -> reqwest::Body {
    reqwest::Body::wrap_stream(futures::stream::iter(
        chunks
            .into_iter()
            .map(Ok::<_, std::io::Error>)
            .collect::<Vec<_>>(),
    ))
}
