//! The tenant registry: which tenants exist, whether they are suspended, and their admin keys.
//!
//! Persisted in the metadata of a reserved system database, one JSON record per tenant under
//! `tenant/<name>`, so a change writes only the tenant it changes: one commit through the
//! engine's commit path (atomic, durable), its size independent of how many tenants exist.
//! The registry is read once at startup and served from memory after that. Admin keys have
//! Convex's `Authorization: Convex <key>` form, `<tenant>|<secret>`; only a SHA-256 of each
//! secret is stored, so the registry never holds a usable key.
//!
//! Earlier versions kept the whole registry as one JSON document under `tenants`, rewritten on
//! every change; [`TenantRegistry::load`] imports such a document into per-tenant records and
//! removes it, in one commit.

use std::collections::BTreeMap;
use std::sync::Arc;

use nimbus_engine::{Database, Engine};
use nimbus_storage::TenantName;
use parking_lot::RwLock;
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// The reserved database holding the registry.
pub const SYSTEM_TENANT: &str = "nimbus-system";
/// Prefix of the per-tenant metadata keys: `tenant/<name>` holds one [`TenantRecord`].
const TENANT_META_PREFIX: &str = "tenant/";
/// The single-document registry of earlier versions, imported and removed on load.
const LEGACY_REGISTRY_META_KEY: &str = "tenants";

/// Whether a tenant serves requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantStatus {
    /// Serving.
    Active,
    /// Refused with 403 before any work is done.
    Suspended,
}

impl TenantStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
        }
    }
}

/// One stored admin key (its id and the hash of its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
struct KeyRecord {
    id: String,
    secret_sha256: String,
}

/// One tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRecord {
    /// Name.
    pub name: TenantName,
    /// Status.
    pub status: TenantStatus,
    keys: Vec<KeyRecord>,
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Compares without revealing where two strings first differ.
fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// All tenants.
pub struct TenantRegistry {
    system: Database,
    engine: Arc<Engine>,
    tenants: RwLock<BTreeMap<String, TenantRecord>>,
    writes: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for TenantRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantRegistry")
            .field("tenants", &self.tenants.read().len())
            .finish()
    }
}

impl TenantRegistry {
    /// Loads the registry, first importing the single-document registry of earlier versions
    /// if the system database still holds one.
    pub async fn load(engine: Arc<Engine>) -> Result<Self, ApiError> {
        let system_name =
            TenantName::new(SYSTEM_TENANT).map_err(|e| ApiError::internal(e.to_string()))?;
        let system = engine.database(&system_name).await?;
        let mut tenants = BTreeMap::new();
        for (key, bytes) in system.scan_meta(TENANT_META_PREFIX).await? {
            match record_from_json(&parse_json(&bytes)?) {
                Some(record) if tenant_meta_key(&record.name) == key => {
                    tenants.insert(record.name.as_str().to_owned(), record);
                }
                _ => tracing::warn!(key, "skipping an unreadable tenant registry record"),
            }
        }
        for record in import_legacy_registry(&system).await? {
            tenants.insert(record.name.as_str().to_owned(), record);
        }
        Ok(Self {
            system,
            engine,
            tenants: RwLock::new(tenants),
            writes: tokio::sync::Mutex::new(()),
        })
    }

    /// A tenant by name.
    pub fn get(&self, name: &str) -> Option<TenantRecord> {
        self.tenants.read().get(name).cloned()
    }

    /// Every tenant.
    pub fn list(&self) -> Vec<TenantRecord> {
        self.tenants.read().values().cloned().collect()
    }

    /// Active tenants' names.
    pub fn active(&self) -> Vec<TenantName> {
        self.tenants
            .read()
            .values()
            .filter(|t| t.status == TenantStatus::Active)
            .map(|t| t.name.clone())
            .collect()
    }

    /// Writes one tenant's record (or with `None` removes it): durably first, then in memory,
    /// so a failed commit changes nothing. Callers hold `writes`, which keeps the check they
    /// made before calling true until the change is in memory.
    async fn store(&self, name: &TenantName, record: Option<TenantRecord>) -> Result<(), ApiError> {
        let bytes = record.as_ref().map(record_bytes).transpose()?;
        self.system.put_meta(&tenant_meta_key(name), bytes).await?;
        let mut tenants = self.tenants.write();
        match record {
            Some(record) => tenants.insert(name.as_str().to_owned(), record),
            None => tenants.remove(name.as_str()),
        };
        Ok(())
    }

    fn new_key(name: &TenantName) -> (KeyRecord, String) {
        let secret = hex::encode(rand::random::<[u8; 32]>());
        let hash = sha256_hex(&secret);
        (
            KeyRecord {
                id: hash[..12].to_owned(),
                secret_sha256: hash,
            },
            format!("{}|{secret}", name.as_str()),
        )
    }

    /// Creates a tenant; returns it with its first admin key (shown once).
    pub async fn create(&self, name: &str) -> Result<(TenantRecord, String), ApiError> {
        let name = TenantName::new(name)
            .map_err(|e| ApiError::bad_request("InvalidTenantName", e.to_string()))?;
        if name.as_str().starts_with("nimbus-") {
            return Err(ApiError::bad_request(
                "InvalidTenantName",
                "tenant names starting with \"nimbus-\" are reserved",
            ));
        }
        let _guard = self.writes.lock().await;
        if self.tenants.read().contains_key(name.as_str()) {
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "TenantExists",
                format!("tenant \"{}\" already exists", name.as_str()),
            ));
        }
        let (key, admin_key) = Self::new_key(&name);
        let record = TenantRecord {
            name: name.clone(),
            status: TenantStatus::Active,
            keys: vec![key],
        };
        self.store(&name, Some(record.clone())).await?;
        Ok((record, admin_key))
    }

    async fn update(
        &self,
        name: &str,
        change: impl FnOnce(&mut TenantRecord),
    ) -> Result<TenantRecord, ApiError> {
        let _guard = self.writes.lock().await;
        let mut record = self.get(name).ok_or_else(|| not_found(name))?;
        change(&mut record);
        self.store(&record.name, Some(record.clone())).await?;
        Ok(record)
    }

    /// Suspends or resumes a tenant.
    pub async fn set_status(
        &self,
        name: &str,
        status: TenantStatus,
    ) -> Result<TenantRecord, ApiError> {
        self.update(name, |t| t.status = status).await
    }

    /// Deletes a tenant and all its data.
    pub async fn delete(&self, name: &str) -> Result<(), ApiError> {
        let _guard = self.writes.lock().await;
        let record = self.get(name).ok_or_else(|| not_found(name))?;
        self.store(&record.name, None).await?;
        self.engine.drop_tenant(&record.name).await?;
        Ok(())
    }

    /// Issues another admin key; returns `(id, key)`.
    pub async fn create_key(&self, name: &str) -> Result<(String, String), ApiError> {
        let tenant = self.get(name).ok_or_else(|| not_found(name))?;
        let (key, admin_key) = Self::new_key(&tenant.name);
        let id = key.id.clone();
        self.update(name, |t| t.keys.push(key)).await?;
        Ok((id, admin_key))
    }

    /// Revokes an admin key.
    pub async fn revoke_key(&self, name: &str, id: &str) -> Result<(), ApiError> {
        let tenant = self.get(name).ok_or_else(|| not_found(name))?;
        if !tenant.keys.iter().any(|k| k.id == id) {
            return Err(ApiError::not_found(
                "KeyNotFound",
                format!("tenant \"{name}\" has no admin key with id {id}"),
            ));
        }
        self.update(name, |t| t.keys.retain(|k| k.id != id))
            .await
            .map(|_| ())
    }

    /// Whether `key` is a live admin key of `tenant`.
    pub fn verify_admin_key(&self, tenant: &str, key: &str) -> bool {
        let Some((key_tenant, secret)) = key.split_once('|') else {
            return false;
        };
        if key_tenant != tenant {
            return false;
        }
        let hash = sha256_hex(secret);
        self.get(tenant).is_some_and(|t| {
            t.keys
                .iter()
                .any(|k| constant_time_eq(&k.secret_sha256, &hash))
        })
    }
}

fn not_found(name: &str) -> ApiError {
    ApiError::not_found(
        "TenantNotFound",
        format!("tenant \"{name}\" does not exist; create it with `nimbus tenants create {name}`"),
    )
}

fn tenant_meta_key(name: &TenantName) -> String {
    format!("{TENANT_META_PREFIX}{}", name.as_str())
}

fn parse_json(bytes: &[u8]) -> Result<Json, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::internal(format!("tenant registry is damaged: {e}")))
}

/// A tenant's stored form; the same shape as one entry of the legacy single document.
fn record_bytes(record: &TenantRecord) -> Result<Vec<u8>, ApiError> {
    let json = json!({
        "name": record.name.as_str(),
        "status": record.status.as_str(),
        "keys": record
            .keys
            .iter()
            .map(|k| json!({ "id": k.id, "sha256": k.secret_sha256 }))
            .collect::<Vec<_>>(),
    });
    serde_json::to_vec(&json).map_err(|e| ApiError::internal(e.to_string()))
}

/// Reads a stored tenant; `None` when its name is not a valid tenant name. A status other than
/// `suspended` reads as active, and malformed keys are left out.
fn record_from_json(t: &Json) -> Option<TenantRecord> {
    let name = t["name"].as_str().and_then(|n| TenantName::new(n).ok())?;
    let status = if t["status"] == "suspended" {
        TenantStatus::Suspended
    } else {
        TenantStatus::Active
    };
    let keys = t["keys"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|k| {
            Some(KeyRecord {
                id: k["id"].as_str()?.to_owned(),
                secret_sha256: k["sha256"].as_str()?.to_owned(),
            })
        })
        .collect();
    Some(TenantRecord { name, status, keys })
}

/// Moves the legacy single-document registry, if present, into per-tenant records and deletes
/// it, all in one commit (so an interrupted import leaves the legacy document in place and runs
/// again on the next load). Returns the imported tenants; for a tenant that also has a
/// per-tenant record, the legacy document wins.
async fn import_legacy_registry(system: &Database) -> Result<Vec<TenantRecord>, ApiError> {
    let Some(bytes) = system.get_meta(LEGACY_REGISTRY_META_KEY).await? else {
        return Ok(Vec::new());
    };
    let json = parse_json(&bytes)?;
    let records: Vec<TenantRecord> = json["tenants"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(record_from_json)
        .collect();
    let mut writes = Vec::with_capacity(records.len() + 1);
    for record in &records {
        writes.push((tenant_meta_key(&record.name), Some(record_bytes(record)?)));
    }
    writes.push((LEGACY_REGISTRY_META_KEY.to_owned(), None));
    system.put_meta_many(writes).await?;
    tracing::info!(
        tenants = records.len(),
        "imported the single-document tenant registry into per-tenant records"
    );
    Ok(records)
}
