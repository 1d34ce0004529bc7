//! The driver: runs microtasks, hands async host calls to the bridge, fires timers, and waits,
//! until the promise an entry point returned settles — or a limit stops it.
//!
//! Async host calls are resolved in the order they were issued (a `FuturesOrdered`), so a
//! deterministic invocation sees the same interleaving every time it runs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use futures::FutureExt;
use futures::future::BoxFuture;
use futures::stream::{FuturesOrdered, StreamExt};
use rquickjs::{Ctx, Function, Persistent, Value};

use crate::cancel::CancelToken;
use crate::error::{ErrorCode, RuntimeError};
use crate::host::HostError;
use crate::isolate::blocker::Blocker;
use crate::isolate::host_natives::host_error_value;
use crate::isolate::state::{Interrupt, InterruptReason, SharedState};
use crate::policy::RuntimeLimits;

type HostResult = (u64, Result<String, HostError>);

/// What the driver needs from the invocation.
pub(crate) struct DriveEnv<'a> {
    pub(crate) state: &'a SharedState,
    pub(crate) interrupt: &'a Arc<Interrupt>,
    pub(crate) blocker: &'a Blocker,
    pub(crate) deadline: std::cell::Cell<Instant>,
    /// The wall-clock limit applies to each JS turn (waiting on the host does not count), as
    /// for WebSocket handlers, where each frame gets the full limit.
    pub(crate) per_turn: bool,
    /// Re-arms the watchdog at a new deadline (per-turn mode).
    pub(crate) rearm: &'a dyn Fn(Instant),
    pub(crate) cancel: &'a CancelToken,
    pub(crate) limits: &'a RuntimeLimits,
    pub(crate) heap_bytes: usize,
}

enum Woke {
    Host(HostResult),
    Timer,
    Deadline,
    Cancelled,
}

/// Drives `value` (a promise or a plain value) to a settled value.
pub(crate) fn settle<'js>(
    ctx: &Ctx<'js>,
    value: Value<'js>,
    env: &DriveEnv<'_>,
) -> Result<Value<'js>, RuntimeError> {
    let mut in_flight: FuturesOrdered<BoxFuture<'static, HostResult>> = FuturesOrdered::new();
    type Resolvers = (Persistent<Function<'static>>, Persistent<Function<'static>>);
    let mut resolvers: HashMap<u64, Resolvers> = HashMap::new();
    let mut next_call_id = 0u64;
    loop {
        run_microtasks(ctx, env)?;
        let Some(promise) = value.as_promise() else {
            return Ok(value);
        };
        match promise.state() {
            rquickjs::promise::PromiseState::Resolved => {
                return promise
                    .result::<Value>()
                    .unwrap_or(Ok(Value::new_undefined(ctx.clone())))
                    .map_err(|e| js_error(ctx, e, env));
            }
            rquickjs::promise::PromiseState::Rejected => {
                let err = match promise.result::<Value>() {
                    Some(Err(e)) => e,
                    _ => rquickjs::Error::Exception,
                };
                return Err(js_error(ctx, err, env));
            }
            rquickjs::promise::PromiseState::Pending => {}
        }
        // Hand newly issued calls to the bridge.
        let issued = std::mem::take(&mut env.state.borrow_mut().pending_calls);
        if !issued.is_empty() {
            let st = env.state.borrow();
            let Some((bridge, host_ctx)) = st.host.clone() else {
                return Err(RuntimeError::internal(
                    "async host call outside an invocation",
                ));
            };
            drop(st);
            for pending in issued {
                let id = next_call_id;
                next_call_id += 1;
                let future = bridge.call_async(&host_ctx, pending.call);
                in_flight.push_back(future.map(move |result| (id, result)).boxed());
                resolvers.insert(id, (pending.resolve, pending.reject));
            }
        }
        let next_timer = env.state.borrow().timers.values().map(|t| t.due).min();
        if in_flight.is_empty() && next_timer.is_none() {
            return Err(RuntimeError::new(
                ErrorCode::NeverResolves,
                "Returned promise will never resolve: nothing the function is waiting on can \
                 settle it; make sure every promise it awaits is resolved",
            ));
        }
        let deadline = env.deadline.get();
        let per_turn = env.per_turn;
        let woke = env.blocker.block_on(async {
            tokio::select! {
                biased;
                _ = env.cancel.cancelled() => Woke::Cancelled,
                _ = tokio::time::sleep_until(deadline.into()), if !per_turn => Woke::Deadline,
                Some(result) = in_flight.next(), if !in_flight.is_empty() => Woke::Host(result),
                _ = sleep_until_opt(next_timer), if next_timer.is_some() => Woke::Timer,
            }
        });
        if env.per_turn && matches!(woke, Woke::Host(_) | Woke::Timer) {
            let next = Instant::now() + env.limits.wall_timeout;
            env.deadline.set(next);
            (env.rearm)(next);
        }
        match woke {
            Woke::Cancelled => {
                env.interrupt.trip(InterruptReason::Cancelled);
                return Err(Interrupt::to_error(InterruptReason::Cancelled, env.limits));
            }
            Woke::Deadline => {
                env.interrupt.trip(InterruptReason::Deadline);
                return Err(Interrupt::to_error(
                    env.interrupt.reason().unwrap_or(InterruptReason::Deadline),
                    env.limits,
                ));
            }
            Woke::Host(first) => {
                let mut ready = vec![first];
                while let Some(Some(more)) = in_flight.next().now_or_never() {
                    ready.push(more);
                }
                for (id, result) in ready {
                    if let Some((resolve, reject)) = resolvers.remove(&id) {
                        deliver(ctx, resolve, reject, result).map_err(|e| js_error(ctx, e, env))?;
                    }
                }
            }
            Woke::Timer => fire_due_timers(ctx, env)?,
        }
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at.into()).await;
    }
}

fn deliver<'js>(
    ctx: &Ctx<'js>,
    resolve: Persistent<Function<'static>>,
    reject: Persistent<Function<'static>>,
    result: Result<String, HostError>,
) -> rquickjs::Result<()> {
    match result {
        Ok(text) => resolve.restore(ctx)?.call::<_, ()>((text,)),
        Err(error) => reject
            .restore(ctx)?
            .call::<_, ()>((host_error_value(ctx, error)?,)),
    }
}

fn fire_due_timers(ctx: &Ctx<'_>, env: &DriveEnv<'_>) -> Result<(), RuntimeError> {
    let now = Instant::now();
    let mut due: Vec<(Instant, u64)> = env
        .state
        .borrow()
        .timers
        .iter()
        .filter(|(_, t)| t.due <= now)
        .map(|(id, t)| (t.due, *id))
        .collect();
    due.sort();
    for (_, id) in due {
        let Some(timer) = env.state.borrow_mut().timers.remove(&id) else {
            continue;
        };
        let callback = timer
            .callback
            .restore(ctx)
            .map_err(|e| js_error(ctx, e, env))?;
        callback
            .call::<_, ()>(())
            .map_err(|e| js_error(ctx, e, env))?;
        run_microtasks(ctx, env)?;
    }
    Ok(())
}

/// Runs queued promise jobs until none are left or the interrupt trips.
pub(crate) fn run_microtasks(ctx: &Ctx<'_>, env: &DriveEnv<'_>) -> Result<(), RuntimeError> {
    while ctx.execute_pending_job() {
        if let Some(reason) = env.interrupt.reason() {
            return Err(Interrupt::to_error(reason, env.limits));
        }
    }
    if let Some(reason) = env.interrupt.reason() {
        return Err(Interrupt::to_error(reason, env.limits));
    }
    Ok(())
}

/// Classifies a JS failure: an interrupt, the heap or stack limit, a denied grant, or an
/// ordinary exception (with its stack and `data`).
pub(crate) fn js_error(ctx: &Ctx<'_>, error: rquickjs::Error, env: &DriveEnv<'_>) -> RuntimeError {
    if let Some(reason) = env.interrupt.reason() {
        let _ = ctx.catch();
        return Interrupt::to_error(reason, env.limits);
    }
    let thrown = if error.is_exception() {
        ctx.catch()
    } else {
        Value::new_undefined(ctx.clone())
    };
    if !error.is_exception() {
        return RuntimeError::internal(format!("engine error: {error}"));
    }
    let (message, stack, data) = describe_thrown(&thrown);
    let out_of_memory = thrown.is_null() || message.contains("out of memory");
    if out_of_memory {
        return RuntimeError::new(
            ErrorCode::OutOfMemory,
            format!(
                "function ran out of memory: it exceeded the {} MiB heap limit and was stopped; \
                 use less memory per call (stream or paginate large data)",
                env.heap_bytes / (1024 * 1024)
            ),
        );
    }
    if message.contains("Maximum call stack size exceeded") || message.contains("stack overflow") {
        return RuntimeError {
            stack,
            ..RuntimeError::new(
                ErrorCode::StackOverflow,
                format!(
                    "{message} (the JS stack limit is {} KiB; avoid unbounded recursion)",
                    env.limits.stack_bytes_max / 1024
                ),
            )
        };
    }
    if let Some(denial) = env.state.borrow().grant_denial.as_ref()
        && message.contains(&denial.message)
    {
        return RuntimeError {
            stack,
            ..denial.clone()
        };
    }
    RuntimeError {
        stack,
        data,
        ..RuntimeError::new(ErrorCode::JsException, message)
    }
}

/// `(message, stack, data)` of a thrown value.
fn describe_thrown(thrown: &Value<'_>) -> (String, Option<String>, Option<String>) {
    if let Some(object) = thrown.as_object() {
        let message: Option<String> = object.get("message").ok();
        let name: Option<String> = object.get("name").ok();
        let stack: Option<String> = object.get("stack").ok();
        let data: Option<String> = object.get("data").ok();
        if let Some(message) = message {
            let text = match name {
                Some(name) if !name.is_empty() => format!("{name}: {message}"),
                _ => message,
            };
            return (text, stack.filter(|s| !s.is_empty()), data);
        }
    }
    let text = thrown
        .as_string()
        .and_then(|s| s.to_string().ok())
        .or_else(|| {
            thrown
                .ctx()
                .json_stringify(thrown.clone())
                .ok()
                .flatten()
                .and_then(|s| s.to_string().ok())
        })
        .unwrap_or_else(|| format!("{:?}", thrown.type_of()));
    (text, None, None)
}
