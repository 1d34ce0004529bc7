//! `nimbus-functions`: runs unmodified Convex function bundles on the engine.
//!
//! Architecture invariant: this is the only crate that knows both the runtime and the engine.
//! It implements the runtime's `HostBridge` as the Convex syscall ABI over engine transactions,
//! and owns everything about *functions* — analysis at push, invocation, argument and return
//! validation, the scheduler and crons — but nothing about HTTP or WebSocket wire formats.
//!
//! API boundary: [`FunctionRunner`] (`deploy`, `call`, `http_action`, the scheduler) plus the
//! plain data it takes and returns ([`AppModules`], [`CallRequest`], [`CallOutcome`],
//! [`FunctionError`]).

mod analysis;
mod analysis_cache;
mod bridge;
mod deployment;
mod error;
mod fetch;
mod http_action;
pub mod http_body;
mod journal;
mod path;
mod runner;
mod scheduler;
mod validation;

pub use analysis_cache::ANALYSES_CACHED_MAX;
pub use deployment::{AppModules, Deployment, FunctionInfo, FunctionKind, HttpRoute, Visibility};
pub use error::{FailureKind, FunctionError};
pub use fetch::{FETCH_RESPONSE_BYTES_MAX_DEFAULT, FETCH_TIMEOUT_DEFAULT, FetchPolicy, Fetcher};
pub use http_action::{HttpRequest, HttpRequestBody, HttpResponse, HttpResponseBody};
pub use journal::QueryJournal;
pub use path::FunctionPath;
pub use runner::{CallOutcome, CallRequest, Caller, FunctionRunner, RunnerConfig};
pub use scheduler::{Clock, ManualClock, SCHEDULED_FUNCTIONS_TABLE, SystemClock};
