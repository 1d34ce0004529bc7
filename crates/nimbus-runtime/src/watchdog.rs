//! The watchdog: one thread that fires deadline callbacks.
//!
//! Isolates poll an interrupt flag; the watchdog is what trips it at the deadline, so the
//! interpreter's hot loop only reads an atomic. The executor also arms a *hard* deadline per
//! job: if a worker is still inside one uninterruptible native call when it fires, the worker is
//! quarantined and replaced.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

type Callback = Box<dyn FnOnce() + Send>;

/// A handle to the watchdog thread. Cloning shares the thread.
#[derive(Clone)]
pub struct Watchdog {
    shared: Arc<Shared>,
}

impl fmt::Debug for Watchdog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watchdog")
            .field("armed", &self.shared.state.lock().callbacks.len())
            .finish()
    }
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    next_id: u64,
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    callbacks: HashMap<u64, Callback>,
    stopping: bool,
}

/// Disarms its deadline when dropped (unless it already fired).
#[must_use = "dropping the guard disarms the deadline"]
pub struct WatchdogGuard {
    shared: Arc<Shared>,
    id: u64,
}

impl fmt::Debug for WatchdogGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WatchdogGuard({})", self.id)
    }
}

impl Drop for WatchdogGuard {
    fn drop(&mut self) {
        // Removing the callback is enough: the heap entry is skipped when it comes due.
        self.shared.state.lock().callbacks.remove(&self.id);
    }
}

impl Watchdog {
    /// Starts the watchdog thread. It stops when the last handle is dropped.
    pub fn start() -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
        });
        let weak = Arc::downgrade(&shared);
        std::thread::Builder::new()
            .name("nimbus-watchdog".into())
            .spawn(move || run(weak))
            .expect("spawning the watchdog thread");
        Self { shared }
    }

    /// Runs `callback` on the watchdog thread at `deadline` unless the guard is dropped first.
    pub fn arm(
        &self,
        deadline: Instant,
        callback: impl FnOnce() + Send + 'static,
    ) -> WatchdogGuard {
        let mut state = self.shared.state.lock();
        let id = state.next_id;
        state.next_id += 1;
        // The thread sleeps until the earliest deadline at most, so only a new earliest one
        // needs to wake it: waking it for every invocation cost a context switch per request.
        let earliest = state
            .heap
            .peek()
            .is_none_or(|Reverse((at, _))| deadline < *at);
        state.heap.push(Reverse((deadline, id)));
        state.callbacks.insert(id, Box::new(callback));
        drop(state);
        if earliest {
            self.shared.wake.notify_one();
        }
        WatchdogGuard {
            shared: self.shared.clone(),
            id,
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.state.get_mut().stopping = true;
    }
}

fn run(weak: std::sync::Weak<Shared>) {
    loop {
        let Some(shared) = weak.upgrade() else { return };
        let mut state = shared.state.lock();
        if state.stopping {
            return;
        }
        let now = Instant::now();
        let mut due = Vec::new();
        while let Some(Reverse((at, id))) = state.heap.peek().copied() {
            if at > now {
                break;
            }
            state.heap.pop();
            if let Some(callback) = state.callbacks.remove(&id) {
                due.push(callback);
            }
        }
        if !due.is_empty() {
            drop(state);
            for callback in due {
                callback();
            }
            continue;
        }
        // Sleep until the next deadline, or at most a second so that a dropped watchdog's
        // thread notices and exits.
        let until = state
            .heap
            .peek()
            .map(|Reverse((at, _))| *at)
            .unwrap_or(now + std::time::Duration::from_secs(1))
            .min(now + std::time::Duration::from_secs(1));
        shared.wake.wait_until(&mut state, until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    #[test]
    fn fires_due_callbacks_and_skips_disarmed_ones() {
        let watchdog = Watchdog::start();
        let fired = Arc::new(AtomicU32::new(0));
        let f1 = fired.clone();
        let _kept = watchdog.arm(Instant::now() + Duration::from_millis(5), move || {
            f1.fetch_add(1, Ordering::SeqCst);
        });
        let f2 = fired.clone();
        let dropped = watchdog.arm(Instant::now() + Duration::from_millis(5), move || {
            f2.fetch_add(10, Ordering::SeqCst);
        });
        drop(dropped);
        let start = Instant::now();
        while fired.load(Ordering::SeqCst) == 0 && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(fired.load(Ordering::SeqCst), 1);
    }
}
