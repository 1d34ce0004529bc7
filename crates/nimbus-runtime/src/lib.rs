//! `nimbus-runtime`: sandboxed QuickJS isolates for untrusted tenant code.
//!
//! Architecture invariant: this crate depends on no other Nimbus crate. It knows nothing about
//! documents, tables, HTTP or tenants' data; everything outside the isolate is reached through
//! the single [`HostBridge`] trait, one [`HostCall`] at a time.
//!
//! API boundary: callers build a [`RuntimeBundle`] and a [`RuntimePolicy`], describe what to run
//! as an [`InvocationRequest`], and hand it to a [`RuntimeExecutor`] (or, for single-threaded
//! tools, to an [`Isolate`] directly). The result is an [`InvocationOutcome`] or a classified
//! [`RuntimeError`].

mod bundle;
mod bytecode;
mod cancel;
mod error;
mod executor;
mod grants;
mod host;
mod invocation;
mod isolate;
mod memory;
mod policy;
mod watchdog;

pub use bundle::{BundleHash, ModuleSource, RuntimeBundle};
pub use bytecode::{BYTECODE_CACHE_BYTES_MAX_DEFAULT, BytecodeCache};
pub use cancel::CancelToken;
pub use error::{ErrorCode, RuntimeError};
pub use executor::{
    ExecutorConfig, ExecutorStats, QUEUED_TOTAL_MAX_DEFAULT, RuntimeExecutor, TenantStats,
    ThreadHook, WARM_ISOLATES_PER_WORKER_MAX_DEFAULT, WORKERS_DEFAULT,
};

pub use grants::{GrantFamily, RuntimeGrants};
pub use host::{
    FetchRequest, HostBridge, HostCall, HostCallContext, HostError, HostFuture, NoHost,
};
pub use invocation::{
    EntryPoint, ExecutionMode, InvocationAuth, InvocationOutcome, InvocationRequest, LogLevel,
    LogLine, ReturnEncoding, TenantId,
};
pub use isolate::{
    Blocker, Isolate, IsolateMemory, LOG_LINE_BYTES_MAX, LOG_LINES_MAX, TIMERS_PENDING_MAX,
};
pub use memory::release_free_memory;
pub use policy::{AdmissionCaps, PolicyError, PoolKind, RuntimeLimits, RuntimePolicy};
pub use watchdog::Watchdog;
