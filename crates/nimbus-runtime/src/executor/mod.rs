//! `RuntimeExecutor`: a fixed set of worker threads fed by tenant-aware admission.
//!
//! Each worker owns its isolates (QuickJS runtimes never move between threads) and its warm
//! pool. Callers `invoke` from async code and get a future; the call is either queued under its
//! tenant's caps or rejected at once. A hard deadline per job guards against native calls that
//! cannot be interrupted: the stuck worker is quarantined (it exits when the call finally
//! returns), its caller answered, and a new worker takes its place.

mod admission;
mod pool;
mod worker;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use parking_lot::{Condvar, Mutex};
use tokio::sync::oneshot;

use crate::bytecode::{BYTECODE_CACHE_BYTES_MAX_DEFAULT, BytecodeCache};
use crate::error::{ErrorCode, RuntimeError};
use crate::invocation::{InvocationOutcome, InvocationRequest, TenantId};
use crate::watchdog::Watchdog;

use admission::Admission;

/// Default number of worker threads.
pub const WORKERS_DEFAULT: usize = 4;
/// Default bound on warm isolates each worker keeps.
pub const WARM_ISOLATES_PER_WORKER_MAX_DEFAULT: usize = 256;
/// Default time a warm isolate may sit unused before it is dropped.
pub const WARM_ISOLATE_IDLE_MAX_DEFAULT: std::time::Duration = std::time::Duration::from_secs(30);
/// Default bound on jobs queued across all tenants.
pub const QUEUED_TOTAL_MAX_DEFAULT: usize = 100_000;
/// Native stack of each worker thread; comfortably above the largest JS stack limit a policy
/// may set, so QuickJS's own stack check always fires first.
pub const WORKER_STACK_BYTES: usize = 16 * 1024 * 1024;

/// Executor settings.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// Worker threads.
    pub workers: usize,
    /// Warm isolates kept per worker (least recently used are dropped first).
    pub warm_isolates_per_worker_max: usize,
    /// A warm isolate unused this long is dropped (with its heap), so tenants that went quiet
    /// stop costing memory.
    pub warm_isolate_idle_max: std::time::Duration,
    /// Jobs queued across all tenants before every new call is rejected.
    pub queued_total_max: usize,
    /// Bound on the shared bytecode cache.
    pub bytecode_cache_bytes_max: usize,
    /// Runtime on which bridge futures run; `None` gives each worker a small runtime of its own.
    pub tokio_handle: Option<tokio::runtime::Handle>,
    /// Called on every thread that runs isolates before it runs one: such a thread blocks
    /// while its code awaits host calls, so the embedder may let host calls block it in
    /// place (storage reads) instead of handing work to other threads.
    pub on_isolate_thread: Option<ThreadHook>,
}

/// A function run on a thread when it starts serving isolates.
#[derive(Clone)]
pub struct ThreadHook(pub Arc<dyn Fn() + Send + Sync>);

impl std::fmt::Debug for ThreadHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ThreadHook")
    }
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        Self {
            workers: WORKERS_DEFAULT,
            warm_isolates_per_worker_max: WARM_ISOLATES_PER_WORKER_MAX_DEFAULT,
            warm_isolate_idle_max: WARM_ISOLATE_IDLE_MAX_DEFAULT,
            queued_total_max: QUEUED_TOTAL_MAX_DEFAULT,
            bytecode_cache_bytes_max: BYTECODE_CACHE_BYTES_MAX_DEFAULT,
            tokio_handle: None,
            on_isolate_thread: None,
        }
    }
}

/// Counters describing the executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExecutorStats {
    /// Live (non-quarantined) workers.
    pub workers: usize,
    /// Jobs queued.
    pub queued: usize,
    /// Jobs executing.
    pub active: usize,
    /// Calls rejected by admission since start.
    pub rejected_total: u64,
    /// Calls completed since start.
    pub completed_total: u64,
    /// Calls run outside admission (`invoke_unqueued`: nested calls, module analysis) since
    /// start.
    pub unqueued_total: u64,
    /// Workers quarantined since start.
    pub quarantined_total: u64,
}

/// One tenant's admission counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TenantStats {
    /// Jobs executing.
    pub active: u32,
    /// Jobs queued.
    pub queued: usize,
}

pub(crate) type Responder = oneshot::Sender<Result<InvocationOutcome, RuntimeError>>;

/// A queued invocation.
pub(crate) struct Job {
    pub(crate) request: InvocationRequest,
    pub(crate) responder: Responder,
}

/// State shared by the handle, the workers and the watchdog callbacks.
pub(crate) struct Shared {
    pub(crate) admission: Mutex<Admission>,
    pub(crate) work_ready: Condvar,
    pub(crate) config: ExecutorConfig,
    pub(crate) watchdog: Watchdog,
    pub(crate) cache: BytecodeCache,
    pub(crate) shutting_down: AtomicBool,
    pub(crate) workers_live: AtomicUsize,
    pub(crate) next_worker_id: AtomicUsize,
    pub(crate) completed_total: AtomicU64,
    pub(crate) unqueued_total: AtomicU64,
    pub(crate) quarantined_total: AtomicU64,
}

/// The executor handle. Dropping the last handle shuts the workers down.
pub struct RuntimeExecutor {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RuntimeExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeExecutor")
            .field("stats", &self.stats())
            .finish()
    }
}

impl RuntimeExecutor {
    /// Starts the workers.
    pub fn new(config: ExecutorConfig) -> Self {
        let shared = Arc::new(Shared {
            admission: Mutex::new(Admission::default()),
            work_ready: Condvar::new(),
            cache: BytecodeCache::new(config.bytecode_cache_bytes_max),
            watchdog: Watchdog::start(),
            shutting_down: AtomicBool::new(false),
            workers_live: AtomicUsize::new(0),
            next_worker_id: AtomicUsize::new(0),
            completed_total: AtomicU64::new(0),
            unqueued_total: AtomicU64::new(0),
            quarantined_total: AtomicU64::new(0),
            config,
        });
        for _ in 0..shared.config.workers.max(1) {
            worker::spawn(shared.clone());
        }
        Self { shared }
    }

    /// Submits an invocation. Resolves with its outcome, or at once with
    /// [`ErrorCode::TenantOverCapacity`] when the tenant's queue is full.
    pub fn invoke(
        &self,
        request: InvocationRequest,
    ) -> impl Future<Output = Result<InvocationOutcome, RuntimeError>> + Send + 'static {
        let (responder, receiver) = oneshot::channel();
        let rejection = self.enqueue(Job { request, responder });
        async move {
            if let Some(error) = rejection {
                return Err(error);
            }
            receiver.await.unwrap_or_else(|_| {
                Err(RuntimeError::new(
                    ErrorCode::ShuttingDown,
                    "the executor shut down",
                ))
            })
        }
    }

    /// Runs an invocation at once on a blocking thread of the embedder's tokio runtime, outside
    /// admission. For calls made *by* running code on behalf of the same tenant (a mutation's
    /// `runQuery`, an action's `runMutation`): queueing them behind their caller's own admission
    /// slot could deadlock. Every limit of the request's policy still applies, and the caller
    /// is answered at the hard deadline even if a native call keeps the thread busy.
    pub fn invoke_unqueued(
        &self,
        request: InvocationRequest,
    ) -> impl Future<Output = Result<InvocationOutcome, RuntimeError>> + Send + 'static {
        let shared = self.shared.clone();
        async move {
            let handle = shared
                .config
                .tokio_handle
                .clone()
                .or_else(|| tokio::runtime::Handle::try_current().ok());
            let limits = request.policy.limits().clone();
            let hard_deadline = limits.wall_timeout + limits.hard_deadline_grace;
            shared.unqueued_total.fetch_add(1, Ordering::SeqCst);
            let task = tokio::task::spawn_blocking(move || {
                if let Some(hook) = &shared.config.on_isolate_thread {
                    (hook.0)();
                }
                let blocker = crate::isolate::Blocker::from_handle(handle);
                let mut pool = pool::WorkerPool::new(0, shared.cache.clone());
                pool.run(&request, &blocker, &shared.watchdog)
            });
            match tokio::time::timeout(hard_deadline, task).await {
                Ok(Ok(result)) => result,
                Ok(Err(join_error)) => Err(RuntimeError::internal(format!(
                    "nested invocation failed: {join_error}"
                ))),
                Err(_) => Err(RuntimeError::new(
                    ErrorCode::WorkerQuarantined,
                    "function execution timed out inside a native operation that cannot be \
                     interrupted and was abandoned. Do less work per call.",
                )),
            }
        }
    }

    /// Runs a long-lived invocation (a WebSocket connection's handlers) on a blocking thread
    /// with a fresh isolate, outside admission and without an overall deadline: its wall-clock
    /// limit applies per turn (see [`crate::EntryPoint::WebSocket`]).
    pub fn invoke_long_lived(
        &self,
        request: InvocationRequest,
    ) -> impl Future<Output = Result<InvocationOutcome, RuntimeError>> + Send + 'static {
        let shared = self.shared.clone();
        async move {
            let handle = shared
                .config
                .tokio_handle
                .clone()
                .or_else(|| tokio::runtime::Handle::try_current().ok());
            shared.unqueued_total.fetch_add(1, Ordering::SeqCst);
            let task = tokio::task::spawn_blocking(move || {
                if let Some(hook) = &shared.config.on_isolate_thread {
                    (hook.0)();
                }
                let blocker = crate::isolate::Blocker::from_handle(handle);
                let mut pool = pool::WorkerPool::new(0, shared.cache.clone());
                pool.run(&request, &blocker, &shared.watchdog)
            });
            task.await.unwrap_or_else(|e| {
                Err(RuntimeError::internal(format!(
                    "connection task failed: {e}"
                )))
            })
        }
    }

    fn enqueue(&self, job: Job) -> Option<RuntimeError> {
        if self.shared.shutting_down.load(Ordering::SeqCst) {
            return Some(RuntimeError::new(
                ErrorCode::ShuttingDown,
                "the executor is shutting down",
            ));
        }
        let tenant = job.request.tenant.clone();
        let caps = job.request.policy.admission();
        let result = self
            .shared
            .admission
            .lock()
            .enqueue(job, self.shared.config.queued_total_max);
        match result {
            Ok(()) => {
                self.shared.work_ready.notify_one();
                None
            }
            Err(_rejected) => Some(admission::over_capacity(&tenant, caps)),
        }
    }

    /// Current counters.
    pub fn stats(&self) -> ExecutorStats {
        let admission = self.shared.admission.lock();
        ExecutorStats {
            workers: self.shared.workers_live.load(Ordering::SeqCst),
            queued: admission.queued_total(),
            active: admission.active_total(),
            rejected_total: admission.rejected_total,
            completed_total: self.shared.completed_total.load(Ordering::SeqCst),
            unqueued_total: self.shared.unqueued_total.load(Ordering::SeqCst),
            quarantined_total: self.shared.quarantined_total.load(Ordering::SeqCst),
        }
    }

    /// One tenant's counters.
    pub fn tenant_stats(&self, tenant: &TenantId) -> TenantStats {
        let (active, queued) = self.shared.admission.lock().tenant_counts(tenant);
        TenantStats { active, queued }
    }

    /// The shared bytecode cache.
    pub fn bytecode_cache(&self) -> &BytecodeCache {
        &self.shared.cache
    }
}

impl Drop for RuntimeExecutor {
    fn drop(&mut self) {
        self.shared.shutting_down.store(true, Ordering::SeqCst);
        let drained = self.shared.admission.lock().drain();
        for job in drained {
            let _ = job.responder.send(Err(RuntimeError::new(
                ErrorCode::ShuttingDown,
                "the executor shut down before the call ran",
            )));
        }
        self.shared.work_ready.notify_all();
    }
}
