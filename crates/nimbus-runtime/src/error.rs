//! The runtime's one classified error type.
//!
//! Every failure carries a stable machine [`ErrorCode`] (mapped once, by the server, to an HTTP
//! status, a WebSocket close code and a JS error class) and a message that says what went wrong
//! and what to do about it.

use std::fmt;

/// Stable, machine-readable classification of a [`RuntimeError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The bundle's contents do not hash to the expected SHA-256: nothing ran.
    BundleIntegrity,
    /// The bundle could not be loaded (syntax error, missing module, throwing top-level code).
    ModuleLoad,
    /// The requested export or method does not exist.
    EntryPointNotFound,
    /// User code threw, or its returned promise rejected.
    JsException,
    /// The returned promise can never settle (nothing pending that could settle it).
    NeverResolves,
    /// The invocation ran past its wall-clock deadline.
    Timeout,
    /// The caller cancelled the invocation.
    Cancelled,
    /// The isolate hit its heap limit.
    OutOfMemory,
    /// The JS stack limit was exceeded.
    StackOverflow,
    /// The invocation made more host calls than its budget allows.
    HostCallBudget,
    /// A host call outside the tenant's grants was attempted.
    GrantDenied,
    /// The tenant's admission queue is full.
    TenantOverCapacity,
    /// The executor is shutting down.
    ShuttingDown,
    /// A worker overran the hard deadline inside a native call and was quarantined.
    WorkerQuarantined,
    /// A bug or an unexpected engine failure.
    Internal,
}

impl ErrorCode {
    /// Short stable tag, safe to show to clients and to match on in tests.
    pub fn tag(self) -> &'static str {
        match self {
            Self::BundleIntegrity => "BundleIntegrity",
            Self::ModuleLoad => "ModuleLoad",
            Self::EntryPointNotFound => "EntryPointNotFound",
            Self::JsException => "JsException",
            Self::NeverResolves => "NeverResolves",
            Self::Timeout => "Timeout",
            Self::Cancelled => "Cancelled",
            Self::OutOfMemory => "OutOfMemory",
            Self::StackOverflow => "StackOverflow",
            Self::HostCallBudget => "HostCallBudget",
            Self::GrantDenied => "GrantDenied",
            Self::TenantOverCapacity => "TenantOverCapacity",
            Self::ShuttingDown => "ShuttingDown",
            Self::WorkerQuarantined => "WorkerQuarantined",
            Self::Internal => "Internal",
        }
    }

    /// Whether the error was caused by the tenant's code or input (as opposed to the platform).
    pub fn is_user_error(self) -> bool {
        !matches!(self, Self::Internal | Self::ShuttingDown)
    }
}

/// A classified runtime failure.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeError {
    /// Stable classification.
    pub code: ErrorCode,
    /// Human-readable message: what was wrong and what to do.
    pub message: String,
    /// For [`ErrorCode::JsException`]: the JS stack, if any.
    pub stack: Option<String>,
    /// For [`ErrorCode::JsException`]: the `data` property of a thrown error (Convex's
    /// `ConvexError` data), as the JSON text the code attached to it.
    pub data: Option<String>,
    /// Console lines the code logged before it failed.
    pub logs: Vec<crate::invocation::LogLine>,
}

impl RuntimeError {
    /// Builds an error with no stack or data.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            stack: None,
            data: None,
            logs: Vec::new(),
        }
    }

    /// An internal (platform) error.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.tag(), self.message)
    }
}

impl std::error::Error for RuntimeError {}
