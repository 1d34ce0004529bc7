//! What to run, on whose behalf, and what came back — all as plain data.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::bundle::RuntimeBundle;
use crate::cancel::CancelToken;
use crate::host::HostBridge;
use crate::policy::RuntimePolicy;

/// A tenant's name, as admitted at the edge.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(pub Arc<str>);

impl TenantId {
    /// Wraps a name.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Self(name.into())
    }
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({})", self.0)
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How the isolate's clock, randomness, timers and network behave.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ExecutionMode {
    /// Queries and mutations: `Math.random` and `crypto.getRandomValues` from a ChaCha12
    /// stream seeded with `seed`, `Date.now()` frozen at `now_ms`, and `fetch` / timers throw
    /// Convex's error text. Same bundle, same seed, same host answers ⇒ same result.
    Deterministic {
        /// RNG seed.
        seed: u64,
        /// The frozen wall clock, in milliseconds since the Unix epoch.
        now_ms: f64,
    },
    /// Actions and fetch apps: real clock, OS-seeded randomness, timers, `fetch` (behind the
    /// network grant).
    Action,
}

/// On whose behalf code runs. Data, never authority: the bridge decides what it allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvocationAuth {
    /// No credentials.
    Anonymous,
    /// The tenant's admin (deploy keys, dashboard).
    Admin,
    /// The platform itself (scheduler, crons, module analysis).
    System,
    /// An end user, with the identity claims as JSON text.
    User {
        /// JSON text of the identity object.
        identity_json: String,
    },
}

/// How the value returned by the entry point becomes the outcome's JSON text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnEncoding {
    /// The entry returns JSON text already (Convex's `invoke*` do): a string is passed through.
    JsonText,
    /// The entry returns a value, which is `JSON.stringify`-ed (`undefined` → `null`).
    Value,
}

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryPoint {
    /// Load `module`, walk `export_path` from its namespace (e.g. `["list", "invokeQuery"]`),
    /// and call the function found with `this` set to the object holding it and `args` as
    /// string arguments.
    Call {
        /// Module path inside the bundle, e.g. `messages.js`.
        module: String,
        /// Property path from the module namespace to the function.
        export_path: Vec<String>,
        /// String arguments.
        args: Vec<String>,
        /// How to turn the returned value into JSON text.
        returns: ReturnEncoding,
    },
    /// Host-provided (trusted) ES module source that may import bundle modules by path
    /// (`import * as m from "./messages.js"`); its default export is called with no arguments
    /// and its return value `JSON.stringify`-ed. Used for module analysis at push time.
    Script {
        /// The module source.
        source: String,
    },
    /// A Workers-style app: `module`'s default export's `fetch(request, env, ctx)` is called
    /// with a `Request` built from `request_json` (`{url, method, headers: [[k, v]…],
    /// bodyBase64}`) and `env` from `env_json` (plus the `NIMBUS` binding for the tenant's
    /// functions). The outcome is the `Response` as JSON text (`{status, statusText,
    /// headers, bodyBase64}`), after every `ctx.waitUntil` promise settled.
    Fetch {
        /// Module path of the app's main module.
        module: String,
        /// The request, as JSON text.
        request_json: String,
        /// Environment variables (and granted secrets), as a JSON object text.
        env_json: String,
    },
    /// A Convex HTTP action: `module`'s default export (an `HttpRouter`) runs
    /// `runRequest(request_json, route)`, as Convex runs it; the request body may be streamed
    /// (`streamed: true` in `request_json`) and so may the response (sent early through
    /// `fetch/respond`). The outcome is `runRequest`'s JSON text, after a streamed response
    /// body has been written in full.
    HttpAction {
        /// Module path of the router, `http.js`.
        module: String,
        /// The request (`{url, method, headers, bodyBase64, streamed}`), as JSON text.
        request_json: String,
        /// The path the router matches.
        route: String,
    },
    /// A WebSocket connection of a Workers-style app, in one isolate for its whole life:
    /// either the default export's `websocket` handlers (`open(ws, env)`,
    /// `message(ws, data, env)`, `close(ws, code, reason, env)`), or, without them, its
    /// `fetch(request, env, ctx)` answering the upgrade request with
    /// `new Response(null, { status: 101, webSocket: client })` from a `WebSocketPair` whose
    /// server end has listeners. Frames come from the host (`ws/recv`), sends go to it
    /// (`ws/send`, `ws/close`). The wall-clock limit applies to each frame's handling, not to
    /// the time spent waiting for the next frame.
    WebSocket {
        /// Module path of the app's main module.
        module: String,
        /// The upgrade request (`url`, `method`, `headers`), as JSON text.
        request_json: String,
        /// Environment variables, as a JSON object text.
        env_json: String,
    },
}

/// One invocation, as data.
#[derive(Clone)]
pub struct InvocationRequest {
    /// The tenant the code belongs to (admission and pooling key).
    pub tenant: TenantId,
    /// The code; verified before anything runs.
    pub bundle: RuntimeBundle,
    /// The tenant's policy.
    pub policy: Arc<RuntimePolicy>,
    /// The host.
    pub bridge: Arc<dyn HostBridge>,
    /// What to call.
    pub entry: EntryPoint,
    /// Deterministic or action semantics.
    pub mode: ExecutionMode,
    /// On whose behalf.
    pub auth: InvocationAuth,
    /// Request id, passed to the bridge and shown in errors.
    pub request_id: String,
    /// Fired by the caller to stop the invocation (client gone, deployment replaced).
    pub cancel: CancelToken,
}

impl fmt::Debug for InvocationRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvocationRequest")
            .field("tenant", &self.tenant)
            .field("bundle", &self.bundle.expected_hash())
            .field("entry", &self.entry)
            .field("mode", &self.mode)
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
    }
}

/// Severity of a captured `console` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// `console.debug`
    Debug,
    /// `console.log`
    Log,
    /// `console.info`
    Info,
    /// `console.warn`
    Warn,
    /// `console.error`
    Error,
}

impl LogLevel {
    /// Convex's upper-case level name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "DEBUG",
            Self::Log => "LOG",
            Self::Info => "INFO",
            Self::Warn => "WARN",
            Self::Error => "ERROR",
        }
    }
}

/// One captured `console.*` line.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// Severity.
    pub level: LogLevel,
    /// The formatted arguments.
    pub messages: Vec<String>,
    /// Wall-clock time of the call, ms since the Unix epoch.
    pub timestamp_ms: f64,
    /// Whether the line was cut at the per-line limit.
    pub is_truncated: bool,
}

impl LogLine {
    /// Convex's `"[LEVEL] m1 m2"` form, as returned in `logLines`.
    pub fn to_convex_string(&self) -> String {
        format!("[{}] {}", self.level.as_str(), self.messages.join(" "))
    }
}

/// What a successful invocation produced.
#[derive(Debug, Clone, PartialEq)]
pub struct InvocationOutcome {
    /// JSON text of the result.
    pub result_json: String,
    /// Captured console lines.
    pub logs: Vec<LogLine>,
    /// Host calls made.
    pub host_calls: u32,
    /// Wall-clock time spent in the isolate (including host waits).
    pub elapsed: Duration,
    /// Whether a warm isolate was reused.
    pub isolate_reused: bool,
}
