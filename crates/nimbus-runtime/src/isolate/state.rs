//! Per-isolate state shared between the driver and the natives: the interrupt flag and the
//! state of the invocation currently running.
//!
//! The natives run on the isolate's own thread, so invocation state lives in an `Rc<RefCell>`;
//! every borrow is short and never held across a call into JS. The interrupt flag is the one
//! piece touched from another thread (the watchdog), so it is atomic.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha12Rng;
use rquickjs::{Function, Persistent};

use crate::cancel::CancelToken;
use crate::error::{ErrorCode, RuntimeError};
use crate::grants::RuntimeGrants;
use crate::host::{HostCall, HostCallContext, SharedBridge};
use crate::invocation::{ExecutionMode, LogLine};

/// Most console lines kept per invocation (Convex's limit); later lines are dropped after one
/// overflow notice.
pub const LOG_LINES_MAX: usize = 256;
/// Longest console line kept, in bytes; longer lines are cut and marked truncated.
pub const LOG_LINE_BYTES_MAX: usize = 32 * 1024;
/// Most timers one invocation may have pending at once.
pub const TIMERS_PENDING_MAX: usize = 10_000;

/// Why an isolate was told to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum InterruptReason {
    Deadline = 1,
    Cancelled = 2,
    HostCallBudget = 3,
    OutOfMemory = 4,
}

/// The flag the QuickJS interrupt handler polls.
#[derive(Debug, Default)]
pub(crate) struct Interrupt {
    reason: AtomicU8,
    cancel: Mutex<Option<CancelToken>>,
}

impl Interrupt {
    pub(crate) fn trip(&self, reason: InterruptReason) {
        // The first reason wins: a budget trip followed by the deadline is still a budget error.
        let _ = self
            .reason
            .compare_exchange(0, reason as u8, Ordering::SeqCst, Ordering::SeqCst);
    }

    pub(crate) fn reason(&self) -> Option<InterruptReason> {
        match self.reason.load(Ordering::SeqCst) {
            1 => Some(InterruptReason::Deadline),
            2 => Some(InterruptReason::Cancelled),
            3 => Some(InterruptReason::HostCallBudget),
            4 => Some(InterruptReason::OutOfMemory),
            _ => None,
        }
    }

    /// Called by the interpreter every few thousand instructions: must be cheap.
    pub(crate) fn should_stop(&self) -> bool {
        if self.reason.load(Ordering::Relaxed) != 0 {
            return true;
        }
        if let Some(cancel) = self.cancel.lock().as_ref()
            && cancel.is_cancelled()
        {
            self.trip(InterruptReason::Cancelled);
            return true;
        }
        false
    }

    pub(crate) fn arm(&self, cancel: CancelToken) {
        self.reason.store(0, Ordering::SeqCst);
        *self.cancel.lock() = Some(cancel);
    }

    pub(crate) fn disarm(&self) {
        *self.cancel.lock() = None;
    }

    pub(crate) fn to_error(reason: InterruptReason, limits: &crate::RuntimeLimits) -> RuntimeError {
        match reason {
            InterruptReason::Deadline => RuntimeError::new(
                ErrorCode::Timeout,
                format!(
                    "function execution timed out: it ran longer than the {} ms limit and was \
                     stopped; make the function do less work per call or raise the limit",
                    limits.wall_timeout.as_millis()
                ),
            ),
            InterruptReason::Cancelled => RuntimeError::new(
                ErrorCode::Cancelled,
                "function execution was cancelled by the caller".to_owned(),
            ),
            InterruptReason::OutOfMemory => RuntimeError::new(
                ErrorCode::OutOfMemory,
                format!(
                    "function ran out of memory: it exceeded the {} MiB heap limit and was \
                     stopped; use less memory per call (stream or paginate large data)",
                    limits.heap_mib
                ),
            ),
            InterruptReason::HostCallBudget => RuntimeError::new(
                ErrorCode::HostCallBudget,
                format!(
                    "function made more than {} host calls (database reads, syscalls, fetches) \
                     and was stopped; batch the work or split it across calls",
                    limits.host_calls_max
                ),
            ),
        }
    }
}

/// An async host call issued by JS and not yet handed to the driver.
pub(crate) struct PendingCall {
    pub(crate) call: HostCall,
    pub(crate) resolve: Persistent<Function<'static>>,
    pub(crate) reject: Persistent<Function<'static>>,
}

/// A timer registered by `setTimeout` / `setInterval`.
pub(crate) struct PendingTimer {
    pub(crate) due: Instant,
    pub(crate) callback: Persistent<Function<'static>>,
}

/// Everything the natives need to know about the running invocation.
pub(crate) struct InvocationState {
    pub(crate) mode: ExecutionMode,
    pub(crate) rng: ChaCha12Rng,
    pub(crate) started: Instant,
    pub(crate) host: Option<(SharedBridge, Arc<HostCallContext>)>,
    pub(crate) grants: RuntimeGrants,
    pub(crate) host_calls: u32,
    pub(crate) host_calls_max: u32,
    pub(crate) pending_calls: Vec<PendingCall>,
    pub(crate) timers: BTreeMap<u64, PendingTimer>,
    pub(crate) next_timer_id: u64,
    pub(crate) logs: Vec<LogLine>,
    pub(crate) log_overflowed: bool,
    /// The first call refused for lack of a grant; it classifies the invocation's failure.
    pub(crate) grant_denial: Option<RuntimeError>,
}

impl InvocationState {
    /// State for code running outside any invocation (module import during analysis uses an
    /// invocation too, so this is only the idle placeholder).
    pub(crate) fn idle() -> Self {
        Self {
            mode: ExecutionMode::Deterministic {
                seed: 0,
                now_ms: 0.0,
            },
            rng: ChaCha12Rng::seed_from_u64(0),
            started: Instant::now(),
            host: None,
            grants: RuntimeGrants::none(),
            host_calls: 0,
            host_calls_max: 0,
            pending_calls: Vec::new(),
            timers: BTreeMap::new(),
            next_timer_id: 1,
            logs: Vec::new(),
            log_overflowed: false,
            grant_denial: None,
        }
    }

    pub(crate) fn begin(
        &mut self,
        mode: ExecutionMode,
        host: (SharedBridge, Arc<HostCallContext>),
        grants: RuntimeGrants,
        host_calls_max: u32,
    ) {
        let rng = match mode {
            ExecutionMode::Deterministic { seed, .. } => ChaCha12Rng::seed_from_u64(seed),
            ExecutionMode::Action => ChaCha12Rng::from_os_rng(),
        };
        *self = Self {
            mode,
            rng,
            started: Instant::now(),
            host: Some(host),
            grants,
            host_calls: 0,
            host_calls_max,
            ..Self::idle()
        };
    }

    pub(crate) fn deterministic(&self) -> bool {
        matches!(self.mode, ExecutionMode::Deterministic { .. })
    }

    /// `Date.now()`: frozen in deterministic mode, the real clock otherwise.
    pub(crate) fn now_ms(&self) -> f64 {
        match self.mode {
            ExecutionMode::Deterministic { now_ms, .. } => now_ms,
            ExecutionMode::Action => wall_clock_ms(),
        }
    }

    /// `performance.now()`: 0 for the whole of a deterministic invocation.
    pub(crate) fn perf_now_ms(&self) -> f64 {
        match self.mode {
            ExecutionMode::Deterministic { .. } => 0.0,
            ExecutionMode::Action => self.started.elapsed().as_secs_f64() * 1000.0,
        }
    }

    pub(crate) fn random_f64(&mut self) -> f64 {
        // 53 random bits scaled into [0, 1), as engines do.
        (self.rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    pub(crate) fn random_bytes(&mut self, len: usize) -> Vec<u8> {
        let mut bytes = vec![0; len];
        self.rng.fill_bytes(&mut bytes);
        bytes
    }

    pub(crate) fn push_log(&mut self, mut line: LogLine) {
        if self.logs.len() >= LOG_LINES_MAX {
            if !self.log_overflowed {
                self.log_overflowed = true;
                self.logs.push(LogLine {
                    level: crate::LogLevel::Error,
                    messages: vec![format!(
                        "Log overflow (maximum {LOG_LINES_MAX}). Remaining log lines will be omitted."
                    )],
                    timestamp_ms: line.timestamp_ms,
                    is_truncated: false,
                });
            }
            return;
        }
        let mut bytes = 0;
        for message in &mut line.messages {
            if bytes + message.len() > LOG_LINE_BYTES_MAX {
                let mut keep = LOG_LINE_BYTES_MAX.saturating_sub(bytes);
                while !message.is_char_boundary(keep) {
                    keep -= 1;
                }
                message.truncate(keep);
                line.is_truncated = true;
            }
            bytes += message.len();
        }
        self.logs.push(line);
    }
}

pub(crate) type SharedState = Rc<RefCell<InvocationState>>;

pub(crate) fn wall_clock_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}
