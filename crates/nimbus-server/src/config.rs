//! `ServerConfig`: every setting and bound of the server, named and documented in one place.

use std::time::Duration;

use nimbus_functions::RunnerConfig;

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The key that administers tenants (never logged in full).
    pub operator_key: String,
    /// Base domain for host-based tenant routing: `<tenant>.<domain>`. `localhost` always works.
    pub domain: Option<String>,
    /// Tenant that requests naming none (no `/t/<tenant>` prefix, no tenant Host, no admin key)
    /// are routed to — for single-tenant setups and clients that cannot keep a path prefix.
    pub default_tenant: Option<String>,
    /// Largest request body on `/api/*` (queries, mutations, actions), in bytes.
    pub api_body_bytes_max: usize,
    /// Largest (decompressed) push body, in bytes.
    pub push_body_bytes_max: usize,
    /// Largest WebSocket message accepted from a client, in bytes.
    pub ws_message_bytes_max: usize,
    /// Bytes a WebSocket reads from its connection at a time. Tungstenite allocates (and
    /// zero-fills) this buffer per socket, so its 128 KiB default made every idle sync client
    /// cost that much memory; messages larger than it still arrive whole.
    pub ws_read_buffer_bytes: usize,
    /// Messages queued for one WebSocket client before it is disconnected as too slow.
    pub ws_outbound_queue_max: usize,
    /// Mutations queued on one WebSocket before further ones are refused.
    pub ws_mutation_queue_max: usize,
    /// Idle time after which the server sends an application-level `Ping`.
    pub ws_ping_interval: Duration,
    /// When a subscribed query was refused because its tenant was over capacity, how long
    /// the session waits before running it again (its data may not change for a long time).
    pub ws_overloaded_query_retry: Duration,
    /// Completed mutation outcomes kept per tenant for de-duplication across reconnects.
    pub mutation_dedupe_entries_max: usize,
    /// Function log entries kept per tenant for `stream_function_logs`.
    pub log_entries_max: usize,
    /// How long `stream_function_logs` waits for new entries.
    pub log_poll_timeout: Duration,
    /// How often the scheduler looks for due jobs when nothing woke it sooner.
    pub scheduler_poll_interval: Duration,
    /// A tenant nobody used for this long (no request, no open socket, no subscription) is
    /// closed: its connections, threads and caches are freed until its next request.
    pub tenant_idle_close: Duration,
    /// Wall-clock limit of one request to a fetch app.
    pub fetch_app_timeout: Duration,
    /// How long `ctx.waitUntil` work of a fetch app may run after the response was sent.
    pub wait_until_grace: Duration,
    /// A fetch app's WebSocket is closed (1001) after this long without a client frame.
    pub app_ws_idle_timeout: Duration,
    /// Largest WebSocket message a fetch app accepts; larger ones close the socket (1009).
    pub app_ws_message_bytes_max: usize,
    /// Fetch-app WebSockets open at once across the server (each holds one isolate).
    pub app_ws_connections_max: usize,
    /// Whether fetch apps may make outbound `fetch` calls (the `network` grant).
    pub fetch_apps_network: bool,
    /// Whether fetch apps see their secrets in `env` (the `secrets` grant).
    pub fetch_apps_secrets: bool,
    /// Function runner settings.
    pub runner: RunnerConfig,
}

impl ServerConfig {
    /// Defaults with the given operator key.
    pub fn new(operator_key: impl Into<String>) -> Self {
        Self {
            operator_key: operator_key.into(),
            domain: None,
            default_tenant: None,
            api_body_bytes_max: 16 * 1024 * 1024,
            push_body_bytes_max: 128 * 1024 * 1024,
            ws_message_bytes_max: 16 * 1024 * 1024,
            ws_read_buffer_bytes: 8 * 1024,
            ws_outbound_queue_max: 1024,
            ws_mutation_queue_max: 1000,
            ws_ping_interval: Duration::from_secs(15),
            ws_overloaded_query_retry: Duration::from_secs(1),
            mutation_dedupe_entries_max: 100_000,
            log_entries_max: 10_000,
            log_poll_timeout: Duration::from_secs(10),
            scheduler_poll_interval: Duration::from_secs(1),
            tenant_idle_close: Duration::from_secs(30),
            fetch_app_timeout: Duration::from_secs(30),
            wait_until_grace: Duration::from_secs(10),
            app_ws_idle_timeout: Duration::from_secs(60),
            app_ws_message_bytes_max: 32 * 1024 * 1024,
            app_ws_connections_max: 1024,
            fetch_apps_network: false,
            fetch_apps_secrets: false,
            runner: RunnerConfig::default(),
        }
    }
}
