//! The tenant registry: which tenants exist, whether they are suspended, and their admin keys.
//!
//! Persisted as one JSON document in the metadata of a reserved system database, written
//! through the engine's commit path (atomic, durable). Admin keys have Convex's
//! `Authorization: Convex <key>` form, `<tenant>|<secret>`; only a SHA-256 of each secret is
//! stored, so the registry never holds a usable key.

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
const REGISTRY_META_KEY: &str = "tenants";

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
    /// Loads the registry.
    pub async fn load(engine: Arc<Engine>) -> Result<Self, ApiError> {
        let system_name =
            TenantName::new(SYSTEM_TENANT).map_err(|e| ApiError::internal(e.to_string()))?;
        let system = engine.database(&system_name).await?;
        let mut tenants = BTreeMap::new();
        if let Some(bytes) = system.get_meta(REGISTRY_META_KEY).await? {
            let json: Json = serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::internal(format!("tenant registry is damaged: {e}")))?;
            for t in json["tenants"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                let Some(name) = t["name"].as_str().and_then(|n| TenantName::new(n).ok()) else {
                    continue;
                };
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
                tenants.insert(
                    name.as_str().to_owned(),
                    TenantRecord { name, status, keys },
                );
            }
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

    async fn save(&self, tenants: BTreeMap<String, TenantRecord>) -> Result<(), ApiError> {
        let json = json!({
            "tenants": tenants.values().map(|t| json!({
                "name": t.name.as_str(),
                "status": t.status.as_str(),
                "keys": t.keys.iter().map(|k| json!({ "id": k.id, "sha256": k.secret_sha256 })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>()
        });
        let bytes = serde_json::to_vec(&json).map_err(|e| ApiError::internal(e.to_string()))?;
        self.system.put_meta(REGISTRY_META_KEY, Some(bytes)).await?;
        *self.tenants.write() = tenants;
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
        let mut tenants = self.tenants.read().clone();
        if tenants.contains_key(name.as_str()) {
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
        tenants.insert(name.as_str().to_owned(), record.clone());
        self.save(tenants).await?;
        Ok((record, admin_key))
    }

    async fn update(
        &self,
        name: &str,
        change: impl FnOnce(&mut TenantRecord),
    ) -> Result<TenantRecord, ApiError> {
        let _guard = self.writes.lock().await;
        let mut tenants = self.tenants.read().clone();
        let record = tenants.get_mut(name).ok_or_else(|| not_found(name))?;
        change(record);
        let record = record.clone();
        self.save(tenants).await?;
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
        let mut tenants = self.tenants.read().clone();
        let record = tenants.remove(name).ok_or_else(|| not_found(name))?;
        self.save(tenants).await?;
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
