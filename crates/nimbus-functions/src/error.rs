//! `FunctionError`: why a function call failed, in the shape Convex clients expect.
//!
//! User errors carry Convex's message text (`Uncaught Error: …`, `ArgumentValidationError: …`)
//! and, for `ConvexError`, the error's data; platform errors say so. The server maps the
//! classification once to HTTP statuses and WebSocket messages.

use nimbus_engine::{EngineError, ReadSet};
use nimbus_runtime::{ErrorCode, RuntimeError};
use nimbus_values::Value;

/// How a failure is classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The function threw, or its input or output was invalid: the caller's problem.
    User,
    /// The function path does not name a deployed function the caller may run.
    NotFound,
    /// The tenant or platform is overloaded; retry later.
    Overloaded,
    /// A limit stopped the function (time, memory, host calls).
    Limit,
    /// A request or response body exceeded its size limit.
    TooLarge,
    /// Something broke in the platform.
    Internal,
}

/// A failed function call.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionError {
    /// Classification.
    pub kind: FailureKind,
    /// Message in Convex's form.
    pub message: String,
    /// `ConvexError` data, if the function threw one.
    pub data: Option<Value>,
    /// Captured console lines (Convex's `"[LEVEL] …"` strings).
    pub log_lines: Vec<String>,
    /// For a query that threw: what it read first. A subscription re-runs a failing query
    /// when that data changes, as Convex does (a query may throw until a document exists).
    pub read_set: Option<Box<ReadSet>>,
}

impl FunctionError {
    /// A user error with a message.
    pub fn user(message: impl Into<String>) -> Self {
        Self {
            kind: FailureKind::User,
            message: message.into(),
            data: None,
            log_lines: Vec::new(),
            read_set: None,
        }
    }

    /// A not-found error.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            kind: FailureKind::NotFound,
            ..Self::user(message)
        }
    }

    /// An internal error.
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            kind: FailureKind::Internal,
            ..Self::user(message)
        }
    }

    /// From a runtime failure of the function's own code.
    pub fn from_runtime(error: RuntimeError) -> Self {
        let kind = match error.code {
            ErrorCode::JsException | ErrorCode::NeverResolves | ErrorCode::GrantDenied => {
                FailureKind::User
            }
            ErrorCode::EntryPointNotFound => FailureKind::NotFound,
            ErrorCode::TenantOverCapacity | ErrorCode::ShuttingDown => FailureKind::Overloaded,
            ErrorCode::Timeout
            | ErrorCode::Cancelled
            | ErrorCode::OutOfMemory
            | ErrorCode::StackOverflow
            | ErrorCode::HostCallBudget
            | ErrorCode::WorkerQuarantined => FailureKind::Limit,
            ErrorCode::BundleIntegrity | ErrorCode::ModuleLoad | ErrorCode::Internal => {
                FailureKind::Internal
            }
        };
        let data = error
            .data
            .as_deref()
            .and_then(|text| Value::from_json_text(text).ok());
        let message = match error.code {
            ErrorCode::JsException => {
                let base = format!("Uncaught {}", error.message);
                match &error.stack {
                    Some(stack) if !stack.trim().is_empty() => {
                        format!("{base}\n{}", stack.trim_end())
                    }
                    _ => base,
                }
            }
            _ => error.message,
        };
        Self {
            kind,
            message,
            data,
            log_lines: Vec::new(),
            read_set: None,
        }
    }

    /// From an engine failure inside a function.
    pub fn from_engine(error: EngineError) -> Self {
        let kind = match &error {
            EngineError::Storage(_) => FailureKind::Internal,
            EngineError::Overloaded { .. } => FailureKind::Overloaded,
            _ => FailureKind::User,
        };
        Self {
            kind,
            ..Self::user(error.to_string())
        }
    }

    /// Attaches log lines.
    pub fn with_logs(mut self, log_lines: Vec<String>) -> Self {
        self.log_lines = log_lines;
        self
    }
}

impl std::fmt::Display for FunctionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FunctionError {}
