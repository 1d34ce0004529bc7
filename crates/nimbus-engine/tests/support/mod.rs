//! Helpers for the engine's integration tests: providers (memory, SQLite in a temp dir,
//! PostgreSQL from `NIMBUS_TEST_POSTGRES_URL`), tenant names and document builders.

#![allow(
    dead_code,
    reason = "each test binary uses a different subset of these helpers"
)]

use std::sync::Arc;

use nimbus_engine::{Database, Engine, EngineLimits};
use nimbus_storage::{
    MemoryPersistence, Persistence, PostgresPersistence, SqlitePersistence, TenantName,
};
use nimbus_values::{Object, Value};

/// The PostgreSQL server used when `NIMBUS_TEST_POSTGRES_URL` is not set.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A provider under test and what keeps it alive.
pub struct Provider {
    pub name: &'static str,
    pub persistence: Arc<dyn Persistence>,
    pub prefix: String,
    _dir: Option<tempfile::TempDir>,
}

impl Provider {
    pub fn memory() -> Self {
        Self {
            name: "memory",
            persistence: Arc::new(MemoryPersistence::new()),
            prefix: unique_prefix(),
            _dir: None,
        }
    }

    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let persistence = Arc::new(SqlitePersistence::open(dir.path()).unwrap());
        Self {
            name: "sqlite",
            persistence,
            prefix: unique_prefix(),
            _dir: Some(dir),
        }
    }

    /// PostgreSQL, or `None` (loudly) when unreachable outside CI; unreachable under CI panics.
    pub async fn postgres(what: &str) -> Option<Self> {
        let url = std::env::var("NIMBUS_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.into());
        match PostgresPersistence::connect(&url).await {
            Ok(p) => Some(Self {
                name: "postgres",
                persistence: Arc::new(p),
                prefix: unique_prefix(),
                _dir: None,
            }),
            Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
                panic!("PostgreSQL at {url} is unreachable under CI=true: {e}")
            }
            Err(e) => {
                eprintln!("PostgreSQL half of the {what} did NOT run: {e} (url {url})");
                None
            }
        }
    }

    pub fn engine(&self) -> Engine {
        Engine::new(self.persistence.clone(), EngineLimits::default())
    }

    pub fn tenant(&self, name: &str) -> TenantName {
        TenantName::new(format!("{}-{name}", self.prefix)).unwrap()
    }

    pub async fn database(&self, engine: &Engine, name: &str) -> Database {
        engine.database(&self.tenant(name)).await.unwrap()
    }

    /// Drops every tenant this provider created.
    pub async fn cleanup(&self) {
        for tenant in self.persistence.tenants().await.unwrap() {
            if tenant.as_str().starts_with(&self.prefix) {
                self.persistence.drop_tenant(&tenant).await.unwrap();
            }
        }
    }
}

pub fn unique_prefix() -> String {
    format!("e{:08x}", rand::random::<u32>())
}

/// An object from `(field, value)` pairs.
pub fn obj(fields: &[(&str, Value)]) -> Object {
    let mut object = Object::new();
    for (name, value) in fields {
        object.insert(*name, value.clone()).unwrap();
    }
    object
}

pub fn s(text: &str) -> Value {
    Value::String(text.into())
}

pub fn n(x: f64) -> Value {
    Value::Float64(x)
}
