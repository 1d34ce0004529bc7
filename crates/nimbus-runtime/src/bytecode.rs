//! The bytecode cache: compiled QuickJS module bytecode keyed by module hash.
//!
//! Compiling a module's source is the dominant cost of a fresh isolate; loading bytecode is
//! several times cheaper. Entries are keyed by the SHA-256 of (path, source) that
//! [`crate::RuntimeBundle::verify`] recomputes before each invocation, so an entry is only ever
//! used for exactly the source it was compiled from. Only bytecode this process produced itself
//! is ever loaded (QuickJS trusts bytecode it reads).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::bundle::BundleHash;

/// Default bound on the total size of cached bytecode.
pub const BYTECODE_CACHE_BYTES_MAX_DEFAULT: usize = 256 * 1024 * 1024;

/// A bounded, shared cache of compiled module bytecode. Oldest entries are evicted first.
#[derive(Clone)]
pub struct BytecodeCache {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    entries: HashMap<BundleHash, Arc<[u8]>>,
    order: VecDeque<BundleHash>,
    bytes: usize,
    bytes_max: usize,
}

impl fmt::Debug for BytecodeCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.lock();
        f.debug_struct("BytecodeCache")
            .field("entries", &inner.entries.len())
            .field("bytes", &inner.bytes)
            .finish()
    }
}

impl Default for BytecodeCache {
    fn default() -> Self {
        Self::new(BYTECODE_CACHE_BYTES_MAX_DEFAULT)
    }
}

impl BytecodeCache {
    /// A cache holding at most `bytes_max` bytes of bytecode.
    pub fn new(bytes_max: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                entries: HashMap::new(),
                order: VecDeque::new(),
                bytes: 0,
                bytes_max,
            })),
        }
    }

    /// The bytecode for `module_hash`, if cached.
    pub(crate) fn get(&self, module_hash: &BundleHash) -> Option<Arc<[u8]>> {
        self.inner.lock().entries.get(module_hash).cloned()
    }

    /// Stores bytecode, evicting the oldest entries to stay within the bound.
    pub(crate) fn insert(&self, module_hash: BundleHash, bytecode: Arc<[u8]>) {
        let mut inner = self.inner.lock();
        if bytecode.len() > inner.bytes_max || inner.entries.contains_key(&module_hash) {
            return;
        }
        while inner.bytes + bytecode.len() > inner.bytes_max {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            if let Some(evicted) = inner.entries.remove(&oldest) {
                inner.bytes -= evicted.len();
            }
        }
        inner.bytes += bytecode.len();
        inner.order.push_back(module_hash);
        inner.entries.insert(module_hash, bytecode);
    }

    /// Number of cached modules.
    pub fn len(&self) -> usize {
        self.inner.lock().entries.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Total cached bytes.
    pub fn bytes(&self) -> usize {
        self.inner.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_oldest_to_stay_within_bound() {
        let cache = BytecodeCache::new(10);
        cache.insert(BundleHash([1; 32]), Arc::from(vec![0u8; 6]));
        cache.insert(BundleHash([2; 32]), Arc::from(vec![0u8; 6]));
        assert!(cache.get(&BundleHash([1; 32])).is_none());
        assert!(cache.get(&BundleHash([2; 32])).is_some());
        assert_eq!(cache.bytes(), 6);
    }
}
