//! Prometheus metrics (`/metrics`, operator key): requests, invocations and errors, latency
//! histograms per tenant and function kind, executor queue depths, live subscriptions.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of per-call metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    /// Tenant.
    pub tenant: String,
    /// `query`, `mutation`, `action`, `httpAction`, `any`.
    pub kind: String,
    /// `success` or `error`.
    pub outcome: String,
}

/// Labels of per-tenant latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// Tenant.
    pub tenant: String,
    /// Function kind.
    pub kind: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    /// Function calls by tenant, kind and outcome.
    pub calls: Family<CallLabels, Counter>,
    /// Call latency by tenant and kind, in seconds.
    pub latency: Family<KindLabels, Histogram, fn() -> Histogram>,
    /// HTTP requests served (all routes).
    pub http_requests: Counter,
    /// Jobs queued in the runtime executor.
    pub executor_queued: Gauge,
    /// Jobs running in the runtime executor.
    pub executor_active: Gauge,
    /// Calls rejected by admission since start.
    pub executor_rejected: Gauge,
    /// Calls refused before any work because their tenant was at its in-flight limit.
    pub early_rejections: Counter,
    /// Live WebSocket connections.
    pub websockets: Gauge,
    /// Live query subscriptions across WebSockets.
    pub subscriptions: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("nimbus");
        let calls = Family::<CallLabels, Counter>::default();
        let latency = Family::<KindLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let http_requests = Counter::default();
        let early_rejections = Counter::default();
        let (executor_queued, executor_active, executor_rejected) =
            (Gauge::default(), Gauge::default(), Gauge::default());
        let (websockets, subscriptions) = (Gauge::default(), Gauge::default());
        registry.register(
            "function_calls",
            "Function calls by tenant, kind and outcome",
            calls.clone(),
        );
        registry.register(
            "function_latency_seconds",
            "Function call latency",
            latency.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests served",
            http_requests.clone(),
        );
        registry.register(
            "executor_queued_jobs",
            "Invocations waiting for a worker",
            executor_queued.clone(),
        );
        registry.register(
            "executor_active_jobs",
            "Invocations running",
            executor_active.clone(),
        );
        registry.register(
            "executor_rejected_jobs",
            "Invocations rejected by admission since start",
            executor_rejected.clone(),
        );
        registry.register(
            "api_calls_refused",
            "Calls refused before any work: their tenant was at its in-flight limit",
            early_rejections.clone(),
        );
        registry.register(
            "websocket_connections",
            "Live WebSocket connections",
            websockets.clone(),
        );
        registry.register(
            "query_subscriptions",
            "Live query subscriptions",
            subscriptions.clone(),
        );
        Self {
            registry,
            calls,
            latency,
            http_requests,
            executor_queued,
            executor_active,
            executor_rejected,
            early_rejections,
            websockets,
            subscriptions,
        }
    }
}

impl Metrics {
    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
