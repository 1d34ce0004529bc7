//! `RuntimeBundle`: the modules of one deployment plus the SHA-256 they must hash to.
//!
//! The expected hash is fixed when the bundle is deployed. [`RuntimeBundle::verify`] re-hashes
//! every module and is called before *every* invocation, so a bundle altered after deployment
//! (in storage, in a cache, in memory) never runs. The per-module hashes computed on the way
//! are what the bytecode cache is keyed by, so a cache entry can only ever be used for exactly
//! the source it was compiled from.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::error::{ErrorCode, RuntimeError};

/// A SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BundleHash(pub [u8; 32]);

impl BundleHash {
    /// Lower-case hex form.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses the lower- or upper-case hex form.
    pub fn from_hex(text: &str) -> Option<Self> {
        let bytes = hex::decode(text).ok()?;
        Some(Self(bytes.try_into().ok()?))
    }
}

impl fmt::Debug for BundleHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BundleHash({})", &self.to_hex()[..12])
    }
}

/// One ES module of a bundle.
#[derive(Debug, Clone)]
pub struct ModuleSource {
    /// Path inside the bundle, e.g. `messages.js` or `_deps/ABC.js` (no leading `/`).
    pub path: String,
    /// The module's JavaScript source.
    pub source: Arc<str>,
}

/// The modules of one deployment and the hash they must have.
#[derive(Debug, Clone)]
pub struct RuntimeBundle {
    modules: Arc<BTreeMap<String, Arc<str>>>,
    expected: BundleHash,
}

/// What [`RuntimeBundle::verify`] proves: the bundle hash and each module's own hash.
#[derive(Debug, Clone)]
pub(crate) struct VerifiedBundle {
    pub(crate) module_hashes: BTreeMap<String, BundleHash>,
}

impl RuntimeBundle {
    /// Builds a bundle that must hash to `expected`. Nothing is checked here: the check happens
    /// before each invocation.
    pub fn new(modules: Vec<ModuleSource>, expected: BundleHash) -> Self {
        let modules = modules
            .into_iter()
            .map(|m| (normalize_path(&m.path), m.source))
            .collect();
        Self {
            modules: Arc::new(modules),
            expected,
        }
    }

    /// Builds a bundle and records its current hash as the expected one (what a deploy does).
    pub fn sealed(modules: Vec<ModuleSource>) -> Self {
        let mut bundle = Self::new(modules, BundleHash([0; 32]));
        bundle.expected = bundle.compute().0;
        bundle
    }

    /// Convenience for tests and tools: a bundle from `(path, source)` pairs, sealed.
    pub fn from_sources<'a>(sources: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self::sealed(
            sources
                .into_iter()
                .map(|(path, source)| ModuleSource {
                    path: path.into(),
                    source: source.into(),
                })
                .collect(),
        )
    }

    /// The hash this bundle must have.
    pub fn expected_hash(&self) -> BundleHash {
        self.expected
    }

    /// The module source at `path`, if present.
    pub fn module(&self, path: &str) -> Option<&Arc<str>> {
        self.modules.get(normalize_path(path).as_str())
    }

    /// All module paths, sorted.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.modules.keys().map(String::as_str)
    }

    /// Total source bytes.
    pub fn source_bytes(&self) -> usize {
        self.modules.values().map(|s| s.len()).sum()
    }

    /// Re-hashes every module and compares with the expected hash.
    pub(crate) fn verify(&self) -> Result<VerifiedBundle, RuntimeError> {
        let (actual, module_hashes) = self.compute();
        if actual != self.expected {
            return Err(RuntimeError::new(
                ErrorCode::BundleIntegrity,
                format!(
                    "bundle integrity check failed: expected SHA-256 {} but the modules hash to {}; \
                     no code was run. Redeploy the app to replace the damaged bundle.",
                    self.expected.to_hex(),
                    actual.to_hex()
                ),
            ));
        }
        Ok(VerifiedBundle { module_hashes })
    }

    /// The bundle hash: SHA-256 over each module's path and SHA-256, in path order. Hashing
    /// module by module lets the same pass yield the per-module keys of the bytecode cache.
    fn compute(&self) -> (BundleHash, BTreeMap<String, BundleHash>) {
        let mut bundle = Sha256::new();
        let mut module_hashes = BTreeMap::new();
        for (path, source) in self.modules.iter() {
            let module_hash = module_hash(path, source);
            bundle.update((path.len() as u64).to_le_bytes());
            bundle.update(path.as_bytes());
            bundle.update(module_hash.0);
            module_hashes.insert(path.clone(), module_hash);
        }
        (BundleHash(bundle.finalize().into()), module_hashes)
    }
}

/// SHA-256 of one module's path and source (the path matters: relative imports resolve
/// against it).
pub(crate) fn module_hash(path: &str, source: &str) -> BundleHash {
    let mut hasher = Sha256::new();
    hasher.update((path.len() as u64).to_le_bytes());
    hasher.update(path.as_bytes());
    hasher.update(source.as_bytes());
    BundleHash(hasher.finalize().into())
}

/// Bundle paths never start with `/` or `./`.
pub(crate) fn normalize_path(path: &str) -> String {
    path.trim_start_matches("./")
        .trim_start_matches('/')
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_bundle_verifies_and_tampered_bundle_does_not() {
        let bundle = RuntimeBundle::from_sources([("a.js", "export const x = 1;")]);
        assert!(bundle.verify().is_ok());
        let tampered = RuntimeBundle::new(
            vec![ModuleSource {
                path: "a.js".into(),
                source: "export const x = 2;".into(),
            }],
            bundle.expected_hash(),
        );
        let err = tampered.verify().unwrap_err();
        assert_eq!(err.code, ErrorCode::BundleIntegrity);
        assert!(err.message.contains(&bundle.expected_hash().to_hex()));
    }

    #[test]
    fn renaming_a_module_changes_the_hash() {
        let a = RuntimeBundle::from_sources([("a.js", "x")]);
        let b = RuntimeBundle::from_sources([("b.js", "x")]);
        assert_ne!(a.expected_hash(), b.expected_hash());
    }
}
