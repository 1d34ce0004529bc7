//! `nimbus-server`: many tenants' Convex backends behind one HTTP listener.
//!
//! Architecture invariant: this is the only crate that knows HTTP and WebSocket. It admits
//! each request for exactly one tenant at the edge (path prefix or Host), turns Convex wire
//! formats into the function runner's plain data and back, and never touches engine or runtime
//! internals directly.
//!
//! API boundary: [`Server`] (build it over a persistence provider and a [`ServerConfig`], then
//! [`Server::serve`] on a listener) and the `/…` routes documented in ARCHITECTURE.md.

pub mod admin;
pub mod api;
pub mod auth;
mod background;
pub mod config;
pub mod error;
mod fetch_app_bridge;
pub mod fetch_app_sockets;
pub mod fetch_apps;
pub mod logs;
pub mod metrics;
pub mod push;
pub mod router;
pub mod state;
pub mod sync;
pub mod tenants;

use axum::serve::ListenerExt;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use nimbus_engine::{Engine, EngineLimits};
use nimbus_functions::FunctionRunner;
use nimbus_runtime::{ExecutorConfig, RuntimeExecutor};
use nimbus_storage::Persistence;
use parking_lot::Mutex;

pub use config::ServerConfig;
pub use error::ApiError;

use crate::state::AppState;
use crate::tenants::TenantRegistry;

/// A running (or ready) server.
#[derive(Clone, Debug)]
pub struct Server {
    state: Arc<AppState>,
}

impl Server {
    /// Builds the server over `persistence`.
    pub async fn new(
        persistence: Arc<dyn Persistence>,
        config: ServerConfig,
    ) -> Result<Self, ApiError> {
        let engine = Arc::new(Engine::new(persistence, EngineLimits::default()));
        let workers = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .max(2);
        let executor = Arc::new(RuntimeExecutor::new(ExecutorConfig {
            workers,
            // A tenant's warm isolates go when the tenant goes idle.
            warm_isolate_idle_max: config.tenant_idle_close,
            // Isolate threads block on their host calls anyway: storage reads run in place.
            on_isolate_thread: Some(nimbus_runtime::ThreadHook(Arc::new(
                nimbus_storage::mark_thread_may_block,
            ))),
            tokio_handle: Some(tokio::runtime::Handle::current()),
            ..Default::default()
        }));
        let runner = FunctionRunner::new(engine.clone(), executor, config.runner.clone());
        let registry = TenantRegistry::load(engine).await?;
        let state = Arc::new(AppState {
            runner,
            registry,
            metrics: Default::default(),
            logs: logs::FunctionLogs::new(config.log_entries_max),
            disconnects: Mutex::new(HashMap::new()),
            dedupe: Mutex::new(HashMap::new()),
            due: crate::background::DueIndex::default(),
            pushes: Default::default(),
            fetch_apps: Default::default(),
            app_ws_permits: Arc::new(tokio::sync::Semaphore::new(config.app_ws_connections_max)),
            config,
        });
        state
            .fetch_apps
            .load(&state.runner, &state.registry.active())
            .await;
        Ok(Self { state })
    }

    /// The HTTP router (for tests that drive it without a socket).
    pub fn router(&self) -> axum::Router {
        router::router(self.state.clone())
    }

    /// The function runner.
    pub fn runner(&self) -> &FunctionRunner {
        &self.state.runner
    }

    /// Serves on `listener` until `shutdown` resolves; in-flight requests finish first.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        self.serve_with(listener, axum::Router::new(), shutdown)
            .await
    }

    /// Like [`Server::serve`], with extra routes (the developer loop serves the app's page).
    pub async fn serve_with(
        self,
        listener: tokio::net::TcpListener,
        extra: axum::Router,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let scheduler = tokio::spawn(background::scheduler_loop(self.state.clone()));
        let idle_tenants = tokio::spawn(background::idle_tenant_loop(self.state.clone()));
        // Without TCP_NODELAY, a reply written in two parts (a mutation's response, then the
        // subscription update it caused) waits on the client's delayed ACK: ~20 ms a round trip.
        let listener = listener.tap_io(|stream| {
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%error, "TCP_NODELAY could not be set");
            }
        });
        let result = axum::serve(listener, extra.merge(self.router()))
            .with_graceful_shutdown(shutdown)
            .await;
        scheduler.abort();
        idle_tenants.abort();
        result
    }

    /// Creates the tenant unless it exists; returns a fresh admin key for it.
    pub async fn ensure_tenant(&self, name: &str) -> Result<String, ApiError> {
        if self.state.registry.get(name).is_some() {
            return Ok(self.state.registry.create_key(name).await?.1);
        }
        Ok(self.state.registry.create(name).await?.1)
    }

    /// Tells the scheduler that the tenant's jobs or crons may have changed (after a deploy
    /// made outside the push protocol).
    pub fn schedule_changed(&self, tenant: &nimbus_storage::TenantName) {
        self.state.due.changed(tenant);
    }

    /// Function log entries of a tenant newer than `cursor_ms` (waits up to `timeout`).
    pub async fn function_logs(
        &self,
        tenant: &str,
        cursor_ms: f64,
        timeout: Duration,
    ) -> (Vec<serde_json::Value>, f64) {
        self.state.logs.since(tenant, cursor_ms, timeout).await
    }
}
