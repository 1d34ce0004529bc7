//! Analyses of recently pushed code. A push analyses its modules twice (`start_push` checks
//! them, `finish_push` deploys them) and one app is often deployed to many tenants; analysis
//! evaluates every module in a fresh isolate, so it is the bulk of a deploy's cost. It is a
//! pure function of the modules and the environment variables (fixed seed and clock, no
//! data access), so its result is kept, keyed by both, and reused. Deployments made from one
//! entry share one copy of the module sources in memory.

use std::collections::{BTreeMap, VecDeque};

use nimbus_runtime::BundleHash;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use crate::deployment::Deployment;

/// Analyses kept (least recently stored dropped first).
pub const ANALYSES_CACHED_MAX: usize = 32;

type Key = (BundleHash, [u8; 32]);

/// Recently computed analyses.
#[derive(Debug, Default)]
pub(crate) struct AnalysisCache {
    entries: Mutex<VecDeque<(Key, Deployment)>>,
}

impl AnalysisCache {
    pub(crate) fn key(bundle: BundleHash, env: &BTreeMap<String, String>) -> Key {
        let mut hasher = Sha256::new();
        for (name, value) in env {
            // Length-prefixed, so no two environments hash alike by shifting text around.
            for part in [name, value] {
                hasher.update((part.len() as u64).to_le_bytes());
                hasher.update(part.as_bytes());
            }
        }
        (bundle, hasher.finalize().into())
    }

    pub(crate) fn get(&self, key: &Key) -> Option<Deployment> {
        let entries = self.entries.lock();
        entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, deployment)| deployment.clone())
    }

    pub(crate) fn insert(&self, key: Key, deployment: Deployment) {
        let mut entries = self.entries.lock();
        entries.retain(|(k, _)| *k != key);
        entries.push_back((key, deployment));
        while entries.len() > ANALYSES_CACHED_MAX {
            entries.pop_front();
        }
    }
}
