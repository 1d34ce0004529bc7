//! `Blocker`: how an isolate thread waits for host futures.
//!
//! Isolates never move between threads, so while code awaits a host call its thread blocks on
//! the host futures. They run either on a runtime the embedder shares (so a bridge's futures run
//! where its connection pools live) or on a small current-thread runtime owned by the worker.

use std::fmt;
use std::future::Future;

/// Blocks the current (isolate) thread on a future.
pub enum Blocker {
    /// A current-thread runtime owned by this thread.
    Own(tokio::runtime::Runtime),
    /// The embedder's runtime.
    Shared(tokio::runtime::Handle),
}

impl fmt::Debug for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Own(_) => f.write_str("Blocker::Own"),
            Self::Shared(_) => f.write_str("Blocker::Shared"),
        }
    }
}

impl Blocker {
    /// A blocker with its own current-thread runtime.
    pub fn own() -> Self {
        Self::Own(
            tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("building a current-thread tokio runtime"),
        )
    }

    /// Uses the given runtime handle, else a runtime of its own.
    pub fn from_handle(handle: Option<tokio::runtime::Handle>) -> Self {
        match handle {
            Some(handle) => Self::Shared(handle),
            None => Self::own(),
        }
    }

    /// Runs `future` to completion on this thread.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        match self {
            Self::Own(runtime) => runtime.block_on(future),
            Self::Shared(handle) => handle.block_on(future),
        }
    }
}
