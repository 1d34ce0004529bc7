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
            scheduler_wake: tokio::sync::Notify::new(),
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
        let scheduler = tokio::spawn(scheduler_loop(self.state.clone()));
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
        result
    }

    /// Creates the tenant unless it exists; returns a fresh admin key for it.
    pub async fn ensure_tenant(&self, name: &str) -> Result<String, ApiError> {
        if self.state.registry.get(name).is_some() {
            return Ok(self.state.registry.create_key(name).await?.1);
        }
        Ok(self.state.registry.create(name).await?.1)
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

    /// Wakes the scheduler (after a deploy).
    pub fn wake_scheduler(&self) {
        self.state.scheduler_wake.notify_one();
    }
}

/// Runs due scheduled jobs and crons of every active tenant; wakes on deploys and mutations,
/// and at least every `scheduler_poll_interval`.
async fn scheduler_loop(state: Arc<AppState>) {
    for tenant in state.registry.active() {
        if let Err(error) = state.runner.recover_after_restart(&tenant).await {
            tracing::warn!(tenant = tenant.as_str(), %error, "could not recover scheduled actions");
        }
    }
    loop {
        let mut next_wake = state.config.scheduler_poll_interval;
        for tenant in state.registry.active() {
            match state.runner.run_due_jobs(&tenant).await {
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(tenant = tenant.as_str(), %error, "scheduled jobs failed")
                }
            }
            if let Ok(Some(due_ms)) = state.runner.next_due_ms(&tenant).await {
                let now_ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs_f64() * 1000.0)
                    .unwrap_or(0.0);
                let wait = Duration::from_secs_f64(((due_ms - now_ms) / 1000.0).max(0.0));
                next_wake = next_wake.min(wait);
            }
        }
        tokio::select! {
            _ = state.scheduler_wake.notified() => {}
            _ = tokio::time::sleep(next_wake) => {}
        }
    }
}
