//! A worker thread: takes jobs from admission, runs them in its pool, answers the caller.
//!
//! Each job arms a hard deadline (wall-clock limit + grace) on the watchdog. If it fires, the
//! worker is stuck in a native call the interrupt cannot reach: the watchdog answers the caller,
//! releases the tenant's admission slot and starts a replacement worker; the stuck thread exits
//! as soon as the call returns, dropping its isolates on its own thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::error::{ErrorCode, RuntimeError};
use crate::executor::pool::WorkerPool;
use crate::executor::{Job, Responder, Shared, WORKER_STACK_BYTES};
use crate::invocation::{InvocationOutcome, TenantId};
use crate::isolate::Blocker;

/// The caller-facing half of a running job, shared with the hard-deadline callback.
struct InFlight {
    responder: Mutex<Option<Responder>>,
    released: AtomicBool,
    tenant: TenantId,
}

/// Starts one worker thread.
pub(crate) fn spawn(shared: Arc<Shared>) {
    let id = shared.next_worker_id.fetch_add(1, Ordering::SeqCst);
    shared.workers_live.fetch_add(1, Ordering::SeqCst);
    let spawned = std::thread::Builder::new()
        .name(format!("nimbus-worker-{id}"))
        .stack_size(WORKER_STACK_BYTES)
        .spawn({
            let shared = shared.clone();
            move || run(shared)
        });
    if let Err(error) = spawned {
        shared.workers_live.fetch_sub(1, Ordering::SeqCst);
        tracing::error!(%error, "could not start a runtime worker thread");
    }
}

fn run(shared: Arc<Shared>) {
    if let Some(hook) = &shared.config.on_isolate_thread {
        (hook.0)();
    }
    let blocker = Blocker::from_handle(shared.config.tokio_handle.clone());
    let mut pool = WorkerPool::new(
        shared.config.warm_isolates_per_worker_max,
        shared.cache.clone(),
    );
    let quarantined = Arc::new(AtomicBool::new(false));
    let idle_max = shared.config.warm_isolate_idle_max;
    // Idle isolates are looked for twice per idle period: dropped at most 1.5 periods late.
    let sweep_every = (idle_max / 2).max(Duration::from_millis(100));
    let mut last_sweep = Instant::now();
    loop {
        if last_sweep.elapsed() >= sweep_every {
            last_sweep = Instant::now();
            if pool.drop_idle(idle_max) > 0 {
                crate::memory::release_free_memory();
            }
        }
        let Job { request, responder } = match next_job(&shared, sweep_every) {
            Next::Job(job) => job,
            Next::Idle => continue,
            Next::ShuttingDown => break,
        };
        let in_flight = Arc::new(InFlight {
            responder: Mutex::new(Some(responder)),
            released: AtomicBool::new(false),
            tenant: request.tenant.clone(),
        });
        let limits = request.policy.limits();
        let hard_deadline = Instant::now() + limits.wall_timeout + limits.hard_deadline_grace;
        let guard = {
            let (shared, in_flight, quarantined) =
                (shared.clone(), in_flight.clone(), quarantined.clone());
            shared.clone().watchdog.arm(hard_deadline, move || {
                quarantine(&shared, &in_flight, &quarantined);
            })
        };
        let result = if request.cancel.is_cancelled() {
            Err(RuntimeError::new(
                ErrorCode::Cancelled,
                "the call was cancelled before it ran",
            ))
        } else {
            run_contained(&mut pool, &request, &blocker, &shared)
        };
        drop(guard);
        if quarantined.load(Ordering::SeqCst) {
            // The watchdog already answered the caller and started a replacement.
            return;
        }
        finish(&shared, &in_flight, result);
    }
    shared.workers_live.fetch_sub(1, Ordering::SeqCst);
}

/// Runs one job; a panic (a bug in a host bridge or in the runtime) fails that job alone.
/// Unwinding drops the isolate it happened in, so no half-run context is reused, and the worker
/// carries on: without this, the thread would die holding the tenant's admission slot and the
/// executor would lose a worker for good.
fn run_contained(
    pool: &mut WorkerPool,
    request: &crate::invocation::InvocationRequest,
    blocker: &Blocker,
    shared: &Shared,
) -> Result<InvocationOutcome, RuntimeError> {
    let run = std::panic::AssertUnwindSafe(|| pool.run(request, blocker, &shared.watchdog));
    std::panic::catch_unwind(run).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-text panic".to_owned());
        tracing::error!(tenant = %request.tenant, panic = %what, "an invocation panicked");
        Err(RuntimeError::internal(format!(
            "the platform failed while running this call ({what}); it was stopped and nothing \
             of it was kept"
        )))
    })
}

/// What a waiting worker got.
#[expect(
    clippy::large_enum_variant,
    reason = "moved once per job straight into the worker loop; boxing would allocate per job"
)]
enum Next {
    Job(Job),
    /// Nothing arrived for a while: time to drop idle isolates.
    Idle,
    ShuttingDown,
}

fn next_job(shared: &Shared, wait_max: Duration) -> Next {
    let mut admission = shared.admission.lock();
    loop {
        if shared.shutting_down.load(Ordering::SeqCst) {
            return Next::ShuttingDown;
        }
        if let Some(job) = admission.next_job() {
            return Next::Job(job);
        }
        if shared
            .work_ready
            .wait_for(&mut admission, wait_max)
            .timed_out()
        {
            return Next::Idle;
        }
    }
}

fn finish(shared: &Shared, in_flight: &InFlight, result: Result<InvocationOutcome, RuntimeError>) {
    if in_flight.released.swap(true, Ordering::SeqCst) {
        return;
    }
    // Counters and admission are settled before the caller hears back, so a caller that
    // awaited its result observes consistent stats.
    shared.completed_total.fetch_add(1, Ordering::SeqCst);
    if shared.admission.lock().complete(&in_flight.tenant) {
        shared.work_ready.notify_one();
    }
    if let Some(responder) = in_flight.responder.lock().take() {
        let _ = responder.send(result);
    }
}

fn quarantine(shared: &Arc<Shared>, in_flight: &InFlight, quarantined: &AtomicBool) {
    if quarantined.swap(true, Ordering::SeqCst) {
        return;
    }
    shared.quarantined_total.fetch_add(1, Ordering::SeqCst);
    shared.workers_live.fetch_sub(1, Ordering::SeqCst);
    tracing::warn!(tenant = %in_flight.tenant, "worker overran its hard deadline; quarantined");
    finish(
        shared,
        in_flight,
        Err(RuntimeError::new(
            ErrorCode::WorkerQuarantined,
            "function execution timed out inside a native operation that cannot be interrupted \
             (for example sorting a huge array) and was abandoned; its worker was replaced. \
             Do less work per call.",
        )),
    );
    if !shared.shutting_down.load(Ordering::SeqCst) {
        spawn(shared.clone());
    }
}
