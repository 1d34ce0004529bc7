//! The tenant registry's storage: every change survives a reload (in memory and on SQLite), a
//! registry written by earlier versions as one document is imported, and a change commits only
//! the tenant it changes — measured on the batches the storage receives, so the cost of a
//! change does not grow with the number of tenants.

use std::sync::Arc;

use async_trait::async_trait;
use axum::http::StatusCode;
use nimbus_engine::{Engine, EngineLimits};
use nimbus_server::ApiError;
use nimbus_server::tenants::{SYSTEM_TENANT, TenantRegistry, TenantStatus};
use nimbus_storage::{
    CommitBatch, CommitTicket, DocKey, DocumentVersion, JournalEntry, KeyRange, MemoryPersistence,
    Order, Persistence, SqlitePersistence, StorageError, TenantName, TenantStorage,
};
use parking_lot::Mutex;
use serde_json::json;
use sha2::{Digest, Sha256};

/// What one commit asked the storage to write.
#[derive(Debug, Clone)]
struct Commit {
    tenant: String,
    /// Document, index-entry, metadata and journal bytes.
    bytes: usize,
    /// Metadata keys written (`true`) or deleted (`false`).
    meta: Vec<(String, bool)>,
}

/// Memory storage that records every batch it is given.
#[derive(Debug, Default)]
struct Recording {
    inner: MemoryPersistence,
    commits: Arc<Mutex<Vec<Commit>>>,
}

impl Recording {
    /// The commits to the system database since the last call.
    fn take_system_commits(&self) -> Vec<Commit> {
        std::mem::take(&mut *self.commits.lock())
            .into_iter()
            .filter(|c| c.tenant == SYSTEM_TENANT)
            .collect()
    }
}

#[derive(Debug)]
struct RecordingTenant {
    tenant: String,
    inner: Arc<dyn TenantStorage>,
    commits: Arc<Mutex<Vec<Commit>>>,
}

#[async_trait]
impl Persistence for Recording {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn open_tenant(
        &self,
        tenant: &TenantName,
    ) -> Result<Arc<dyn TenantStorage>, StorageError> {
        Ok(Arc::new(RecordingTenant {
            tenant: tenant.as_str().to_owned(),
            inner: self.inner.open_tenant(tenant).await?,
            commits: self.commits.clone(),
        }))
    }

    async fn tenants(&self) -> Result<Vec<TenantName>, StorageError> {
        self.inner.tenants().await
    }

    async fn drop_tenant(&self, tenant: &TenantName) -> Result<(), StorageError> {
        self.inner.drop_tenant(tenant).await
    }
}

#[async_trait]
impl TenantStorage for RecordingTenant {
    async fn submit(&self, batch: CommitBatch) -> Result<CommitTicket, StorageError> {
        let bytes = batch
            .documents
            .iter()
            .map(|d| d.value.as_ref().map_or(0, Vec::len))
            .sum::<usize>()
            + batch
                .index_entries
                .iter()
                .map(|e| e.key.len())
                .sum::<usize>()
            + batch
                .meta
                .iter()
                .map(|(k, v)| k.len() + v.as_ref().map_or(0, Vec::len))
                .sum::<usize>()
            + batch.journal.len();
        self.commits.lock().push(Commit {
            tenant: self.tenant.clone(),
            bytes,
            meta: batch
                .meta
                .iter()
                .map(|(k, v)| (k.clone(), v.is_some()))
                .collect(),
        });
        self.inner.submit(batch).await
    }

    async fn max_ts(&self) -> Result<Option<u64>, StorageError> {
        self.inner.max_ts().await
    }

    async fn get_document(
        &self,
        key: DocKey,
        at_ts: u64,
    ) -> Result<Option<DocumentVersion>, StorageError> {
        self.inner.get_document(key, at_ts).await
    }

    async fn scan_index(
        &self,
        index_id: u32,
        range: &KeyRange,
        at_ts: u64,
        order: Order,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, DocKey)>, StorageError> {
        self.inner
            .scan_index(index_id, range, at_ts, order, limit)
            .await
    }

    async fn journal_after(
        &self,
        after_ts: u64,
        limit: usize,
    ) -> Result<Vec<JournalEntry>, StorageError> {
        self.inner.journal_after(after_ts, limit).await
    }

    async fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.meta_get(key).await
    }

    async fn meta_scan(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        self.inner.meta_scan(prefix).await
    }
}

async fn load(persistence: Arc<dyn Persistence>) -> TenantRegistry {
    let engine = Arc::new(Engine::new(persistence, EngineLimits::default()));
    TenantRegistry::load(engine).await.unwrap()
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The id the registry gives an admin key: the start of its secret's hash.
fn key_id(admin_key: &str) -> String {
    let (_, secret) = admin_key.split_once('|').unwrap();
    sha256_hex(secret)[..12].to_owned()
}

fn assert_error(result: Result<impl std::fmt::Debug, ApiError>, status: StatusCode, code: &str) {
    let error = result.unwrap_err();
    assert_eq!((error.status, error.code), (status, code), "{error:?}");
}

fn names(names: Vec<TenantName>) -> Vec<String> {
    names.into_iter().map(|n| n.as_str().to_owned()).collect()
}

/// Creates, suspends, resumes, issues and revokes keys and deletes; checks the errors on the
/// way; then reloads the registry from a new engine (`open` gives the persistence for each
/// load) and checks that everything survived and the reloaded registry keeps working.
async fn changes_survive_a_reload(open: impl Fn() -> Arc<dyn Persistence>) {
    let registry = load(open()).await;
    let (_, alpha_first) = registry.create("alpha").await.unwrap();
    let (_, beta_key) = registry.create("beta").await.unwrap();
    let (_, gamma_key) = registry.create("gamma").await.unwrap();
    let (_, delta_key) = registry.create("delta").await.unwrap();
    registry
        .set_status("beta", TenantStatus::Suspended)
        .await
        .unwrap();
    registry
        .set_status("delta", TenantStatus::Suspended)
        .await
        .unwrap();
    registry
        .set_status("delta", TenantStatus::Active)
        .await
        .unwrap();
    let (second_id, alpha_second) = registry.create_key("alpha").await.unwrap();
    assert_eq!(second_id, key_id(&alpha_second));
    registry
        .revoke_key("alpha", &key_id(&alpha_first))
        .await
        .unwrap();
    registry.delete("gamma").await.unwrap();

    assert_error(
        registry.create("alpha").await,
        StatusCode::CONFLICT,
        "TenantExists",
    );
    assert_error(
        registry.create("nimbus-x").await,
        StatusCode::BAD_REQUEST,
        "InvalidTenantName",
    );
    assert_error(
        registry.revoke_key("alpha", "no-such-key").await,
        StatusCode::NOT_FOUND,
        "KeyNotFound",
    );
    assert_error(
        registry.set_status("gamma", TenantStatus::Active).await,
        StatusCode::NOT_FOUND,
        "TenantNotFound",
    );
    assert_error(
        registry.delete("gamma").await,
        StatusCode::NOT_FOUND,
        "TenantNotFound",
    );
    let before = registry.list();
    drop(registry);

    let registry = load(open()).await;
    assert_eq!(registry.list(), before);
    assert_eq!(names(registry.active()), ["alpha", "delta"]);
    assert_eq!(
        registry.get("beta").unwrap().status,
        TenantStatus::Suspended
    );
    assert!(registry.get("gamma").is_none());
    assert!(!registry.verify_admin_key("alpha", &alpha_first));
    assert!(registry.verify_admin_key("alpha", &alpha_second));
    assert!(registry.verify_admin_key("beta", &beta_key));
    assert!(registry.verify_admin_key("delta", &delta_key));
    assert!(!registry.verify_admin_key("gamma", &gamma_key));
    assert!(!registry.verify_admin_key("delta", &beta_key));

    registry.create("gamma").await.unwrap();
    registry.delete("alpha").await.unwrap();
    let before = registry.list();
    drop(registry);
    let registry = load(open()).await;
    assert_eq!(registry.list(), before);
    assert_eq!(names(registry.active()), ["delta", "gamma"]);
}

#[tokio::test]
async fn changes_survive_a_reload_in_memory() {
    let persistence: Arc<dyn Persistence> = Arc::new(MemoryPersistence::new());
    changes_survive_a_reload(|| persistence.clone()).await;
}

#[tokio::test]
async fn changes_survive_a_restart_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    changes_survive_a_reload(|| Arc::new(SqlitePersistence::open(dir.path()).unwrap())).await;
}

#[tokio::test]
async fn a_single_document_registry_is_imported_in_one_commit() {
    let recording = Arc::new(Recording::default());
    let persistence: Arc<dyn Persistence> = recording.clone();
    let key = |tenant: &str, secret: &str| {
        let hash = sha256_hex(secret);
        (
            json!({ "id": &hash[..12], "sha256": hash }),
            format!("{tenant}|{secret}"),
        )
    };
    let (alpha_json, alpha_key) = key("alpha", "alpha-secret");
    let (beta_json, beta_key) = key("beta", "beta-secret");
    let (beta_json_2, beta_key_2) = key("beta", "beta-secret-2");
    // The format earlier versions wrote, including an entry they skipped on load.
    let legacy = json!({ "tenants": [
        { "name": "alpha", "status": "active", "keys": [alpha_json] },
        { "name": "beta", "status": "suspended", "keys": [beta_json, beta_json_2] },
        { "name": "Not A Name", "status": "active", "keys": [] },
    ] });
    let engine = Engine::new(persistence.clone(), EngineLimits::default());
    let system = engine
        .database(&TenantName::new(SYSTEM_TENANT).unwrap())
        .await
        .unwrap();
    system
        .put_meta("tenants", Some(serde_json::to_vec(&legacy).unwrap()))
        .await
        .unwrap();
    drop((system, engine));
    recording.take_system_commits();

    let registry = load(persistence.clone()).await;
    let commits = recording.take_system_commits();
    assert_eq!(commits.len(), 1, "{commits:?}");
    let mut app_meta: Vec<_> = commits[0]
        .meta
        .iter()
        .filter(|(k, _)| k.starts_with("app/"))
        .cloned()
        .collect();
    app_meta.sort();
    assert_eq!(
        app_meta,
        [
            ("app/tenant/alpha".to_owned(), true),
            ("app/tenant/beta".to_owned(), true),
            ("app/tenants".to_owned(), false),
        ]
    );
    assert_eq!(names(registry.active()), ["alpha"]);
    assert_eq!(
        registry.get("beta").unwrap().status,
        TenantStatus::Suspended
    );
    assert_eq!(registry.list().len(), 2);
    assert!(registry.verify_admin_key("alpha", &alpha_key));
    assert!(registry.verify_admin_key("beta", &beta_key));
    assert!(registry.verify_admin_key("beta", &beta_key_2));
    assert!(!registry.verify_admin_key("alpha", "alpha|wrong"));
    let before = registry.list();
    drop(registry);

    let engine = Arc::new(Engine::new(persistence.clone(), EngineLimits::default()));
    let system = engine
        .database(&TenantName::new(SYSTEM_TENANT).unwrap())
        .await
        .unwrap();
    assert_eq!(system.get_meta("tenants").await.unwrap(), None);
    let registry = TenantRegistry::load(engine).await.unwrap();
    assert!(recording.take_system_commits().is_empty());
    assert_eq!(registry.list(), before);
    registry
        .revoke_key("beta", &key_id(&beta_key))
        .await
        .unwrap();
    assert!(!registry.verify_admin_key("beta", &beta_key));
    assert!(registry.verify_admin_key("beta", &beta_key_2));
}

/// The one commit a registry change made, checked to write exactly `key` among the
/// application metadata (the engine also rewrites its own small catalog on each commit).
fn single_write(commits: &[Commit], key: &str, written: bool) -> usize {
    assert_eq!(commits.len(), 1, "{commits:?}");
    let app_meta: Vec<_> = commits[0]
        .meta
        .iter()
        .filter(|(k, _)| k.starts_with("app/"))
        .collect();
    assert_eq!(app_meta, [&(key.to_owned(), written)], "{commits:?}");
    commits[0].bytes
}

#[tokio::test]
async fn a_change_commits_only_its_tenant() {
    const TENANTS: usize = 300;
    let recording = Arc::new(Recording::default());
    let registry = load(recording.clone()).await;
    recording.take_system_commits();
    let mut create_bytes = Vec::new();
    for n in 0..TENANTS {
        // Same-length names, so every record has the same size.
        let name = format!("t{n:05}");
        registry.create(&name).await.unwrap();
        let commits = recording.take_system_commits();
        create_bytes.push(single_write(&commits, &format!("app/tenant/{name}"), true));
    }
    // The last create commits exactly as much as the first: nothing in it grows with the
    // number of tenants that already exist.
    assert!(
        create_bytes.iter().all(|&b| b == create_bytes[0]),
        "{create_bytes:?}"
    );
    assert!(create_bytes[0] < 1024, "{create_bytes:?}");

    registry
        .set_status("t00000", TenantStatus::Suspended)
        .await
        .unwrap();
    let bytes = single_write(&recording.take_system_commits(), "app/tenant/t00000", true);
    assert!(bytes < 1024);
    registry.create_key("t00001").await.unwrap();
    let bytes = single_write(&recording.take_system_commits(), "app/tenant/t00001", true);
    assert!(bytes < 1024);
    registry.delete("t00002").await.unwrap();
    let bytes = single_write(&recording.take_system_commits(), "app/tenant/t00002", false);
    assert!(bytes < 1024);
    assert_eq!(registry.list().len(), TENANTS - 1);
}
