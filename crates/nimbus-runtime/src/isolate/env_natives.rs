//! Natives for the isolate's own environment: console capture, the clock, randomness and
//! timers. Their behaviour depends on the invocation's [`crate::ExecutionMode`].

use std::time::{Duration, Instant};

use rquickjs::{ArrayBuffer, Ctx, Exception, Function, Object, Persistent};

use crate::invocation::{LogLevel, LogLine};
use crate::isolate::state::{PendingTimer, SharedState, TIMERS_PENDING_MAX, wall_clock_ms};

/// Longest a single timer may be set for; longer delays are clamped (the wall-clock limit
/// stops the invocation long before).
const TIMER_DELAY_MAX: Duration = Duration::from_secs(24 * 60 * 60);

/// Installs `log`, `now`, `perfNow`, `random`, `randomBytes`, `deterministic`, `timerStart`
/// and `timerClear` on the natives object.
pub(crate) fn install<'js>(
    ctx: &Ctx<'js>,
    natives: &Object<'js>,
    state: &SharedState,
) -> rquickjs::Result<()> {
    let s = state.clone();
    natives.set(
        "log",
        Function::new(ctx.clone(), move |level: String, messages: Vec<String>| {
            let level = match level.as_str() {
                "DEBUG" => LogLevel::Debug,
                "INFO" => LogLevel::Info,
                "WARN" => LogLevel::Warn,
                "ERROR" => LogLevel::Error,
                _ => LogLevel::Log,
            };
            let line = LogLine {
                level,
                messages,
                timestamp_ms: wall_clock_ms(),
                is_truncated: false,
            };
            s.borrow_mut().push_log(line);
        })?,
    )?;
    let s = state.clone();
    natives.set(
        "now",
        Function::new(ctx.clone(), move || s.borrow().now_ms())?,
    )?;
    let s = state.clone();
    natives.set(
        "perfNow",
        Function::new(ctx.clone(), move || s.borrow().perf_now_ms())?,
    )?;
    let s = state.clone();
    natives.set(
        "random",
        Function::new(ctx.clone(), move || s.borrow_mut().random_f64())?,
    )?;
    let s = state.clone();
    natives.set(
        "randomBytes",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, len: usize| {
            let bytes = s.borrow_mut().random_bytes(len.min(65536));
            ArrayBuffer::new(ctx, bytes)
        })?,
    )?;
    let s = state.clone();
    natives.set(
        "deterministic",
        Function::new(ctx.clone(), move || s.borrow().deterministic())?,
    )?;
    let s = state.clone();
    natives.set(
        "timerStart",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, delay_ms: f64, callback: Function<'js>| {
                let mut st = s.borrow_mut();
                if st.timers.len() >= TIMERS_PENDING_MAX {
                    return Err(Exception::throw_range(
                        &ctx,
                        &format!("too many pending timers (maximum {TIMERS_PENDING_MAX})"),
                    ));
                }
                let delay = Duration::from_secs_f64((delay_ms.max(0.0) / 1000.0).min(1e9))
                    .min(TIMER_DELAY_MAX);
                let id = st.next_timer_id;
                st.next_timer_id += 1;
                st.timers.insert(
                    id,
                    PendingTimer {
                        due: Instant::now() + delay,
                        callback: Persistent::save(&ctx, callback),
                    },
                );
                Ok(id as f64)
            },
        )?,
    )?;
    let s = state.clone();
    natives.set(
        "timerClear",
        Function::new(ctx.clone(), move |id: f64| {
            s.borrow_mut().timers.remove(&(id as u64));
        })?,
    )?;
    Ok(())
}
