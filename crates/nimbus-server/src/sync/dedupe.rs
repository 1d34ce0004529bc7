//! Mutation de-duplication by `(sessionId, requestId)`: a client re-sends unacknowledged
//! mutations after a reconnect with the same ids, and must get the stored outcome — or, if
//! the first attempt is still running, wait for it — never a second execution.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::Value as Json;
use tokio::sync::watch;

/// What a mutation produced, as the sync protocol reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct MutationOutcome {
    /// The encoded value, or the error message and optional `ConvexError` data.
    pub result: Result<Json, (String, Option<Json>)>,
    /// Commit timestamp (successes).
    pub ts: Option<u64>,
    /// Console lines.
    pub log_lines: Vec<String>,
}

type Key = (String, u32);

enum Entry {
    Running(watch::Receiver<Option<MutationOutcome>>),
    Done(MutationOutcome),
}

/// What [`DedupeStore::begin`] decided.
#[derive(Debug)]
pub enum Begin {
    /// First sight: run it, then call [`Completion::finish`].
    Run(Completion),
    /// Already running elsewhere: wait for its outcome.
    Wait(watch::Receiver<Option<MutationOutcome>>),
    /// Already done.
    Done(MutationOutcome),
}

/// The right (and duty) to record a mutation's outcome.
pub struct Completion {
    store: Arc<DedupeStore>,
    key: Key,
    sender: watch::Sender<Option<MutationOutcome>>,
}

impl std::fmt::Debug for Completion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Completion")
            .field("key", &self.key)
            .finish()
    }
}

impl std::fmt::Debug for DedupeStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DedupeStore")
            .field("entries", &self.inner.lock().map.len())
            .finish()
    }
}

impl Completion {
    /// Stores the outcome and wakes anyone waiting for it.
    pub fn finish(self, outcome: MutationOutcome) {
        self.store
            .inner
            .lock()
            .map
            .insert(self.key.clone(), Entry::Done(outcome.clone()));
        let _ = self.sender.send(Some(outcome));
    }
}

struct Inner {
    map: HashMap<Key, Entry>,
    order: VecDeque<Key>,
}

/// Bounded store of mutation outcomes for one tenant (oldest forgotten first).
pub struct DedupeStore {
    inner: Mutex<Inner>,
    entries_max: usize,
}

impl DedupeStore {
    /// A store remembering at most `entries_max` mutations.
    pub fn new(entries_max: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                order: VecDeque::new(),
            }),
            entries_max,
        }
    }

    /// Registers a mutation, or reports that it is known.
    pub fn begin(self: &Arc<Self>, session: &str, request_id: u32) -> Begin {
        let key = (session.to_owned(), request_id);
        let mut inner = self.inner.lock();
        match inner.map.get(&key) {
            Some(Entry::Done(outcome)) => return Begin::Done(outcome.clone()),
            Some(Entry::Running(receiver)) => return Begin::Wait(receiver.clone()),
            None => {}
        }
        let (sender, receiver) = watch::channel(None);
        inner.map.insert(key.clone(), Entry::Running(receiver));
        inner.order.push_back(key.clone());
        while inner.order.len() > self.entries_max {
            if let Some(old) = inner.order.pop_front() {
                inner.map.remove(&old);
            }
        }
        Begin::Run(Completion {
            store: self.clone(),
            key,
            sender,
        })
    }
}
