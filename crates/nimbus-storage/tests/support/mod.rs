//! Helpers shared by the integration tests: building batches, unique tenant names, and
//! connecting to the test PostgreSQL server (or explaining loudly why not).

#![allow(
    dead_code,
    reason = "each test binary uses a different subset of these helpers"
)]

pub mod batches;

#[allow(unused_imports, reason = "not every test binary uses both")]
pub use batches::{doc_key, standard_batch};
use nimbus_storage::{
    CommitBatch, DocKey, DocumentVersion, IndexEntry, PostgresPersistence, TenantName,
};

/// The PostgreSQL server the tests use when `NIMBUS_TEST_POSTGRES_URL` is not set.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub fn postgres_url() -> String {
    std::env::var("NIMBUS_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

/// Connects to the test server. If it is unreachable, fails under `CI=true`, else says loudly
/// that the PostgreSQL half did not run and returns `None`.
pub async fn postgres(what: &str) -> Option<PostgresPersistence> {
    let url = postgres_url();
    match PostgresPersistence::connect(&url).await {
        Ok(p) => Some(p),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("PostgreSQL at {url} is unreachable under CI=true: {e}")
        }
        Err(e) => {
            eprintln!(
                "PostgreSQL half of the {what} did NOT run: {e} (url {url}; set NIMBUS_TEST_POSTGRES_URL)"
            );
            None
        }
    }
}

/// A tenant-name prefix unique to this run, so runs sharing one database do not collide.
pub fn unique_prefix() -> String {
    format!("t{:08x}", rand::random::<u32>())
}

pub fn tenant(name: &str) -> TenantName {
    TenantName::new(name).expect("test tenant names are valid")
}

pub fn doc(key: DocKey, ts: u64, value: Option<&[u8]>) -> DocumentVersion {
    DocumentVersion {
        key,
        ts,
        value: value.map(<[u8]>::to_vec),
    }
}

pub fn entry(index_id: u32, key: &[u8], ts: u64, doc: Option<DocKey>) -> IndexEntry {
    IndexEntry {
        index_id,
        key: key.to_vec(),
        ts,
        doc,
    }
}

/// An empty batch at `ts` with journal payload `ts` as bytes.
pub fn batch(ts: u64) -> CommitBatch {
    CommitBatch {
        ts,
        journal: ts.to_be_bytes().to_vec(),
        ..CommitBatch::default()
    }
}
