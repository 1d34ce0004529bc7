//! A tenant's PostgreSQL schema: its name, creation and versioning.
//!
//! The schema version is kept in the schema's comment (`nimbus-storage schema v1`), which
//! also marks the schemas this crate owns: `tenants()` lists only those.

use tokio_postgres::Client;

use crate::{StorageError, TenantName};

/// Prefix of every tenant schema name.
const SCHEMA_PREFIX: &str = "nimbus_";

/// The comment marking a schema as ours, at the version this code writes.
const SCHEMA_COMMENT_V1: &str = "nimbus-storage schema v1";

/// Lists the schemas this crate created (of any version).
pub(super) const LIST_TENANT_SCHEMAS: &str = "SELECT nspname FROM pg_namespace
     WHERE obj_description(oid, 'pg_namespace') LIKE 'nimbus-storage schema v%'";

/// The schema of `tenant`, unquoted. Tenant names never contain `_`, so the mapping is
/// reversible.
pub(super) fn schema_name(tenant: &TenantName) -> String {
    format!("{SCHEMA_PREFIX}{}", tenant.as_str().replace('-', "_"))
}

/// The schema of `tenant`, quoted for splicing into SQL. Safe because a validated tenant name
/// maps to `[a-z0-9_]` only.
pub(super) fn quoted_schema(tenant: &TenantName) -> String {
    format!("\"{}\"", schema_name(tenant))
}

/// The tenant owning schema `name`, if it is a tenant schema.
pub(super) fn tenant_of_schema(name: &str) -> Option<TenantName> {
    let tenant = name.strip_prefix(SCHEMA_PREFIX)?;
    // A '-' in the schema name cannot come from `schema_name`; reject it so the mapping stays
    // one-to-one.
    if tenant.contains('-') {
        return None;
    }
    TenantName::new(tenant.replace('_', "-")).ok()
}

pub(super) fn drop_sql(tenant: &TenantName) -> String {
    format!("DROP SCHEMA IF EXISTS {} CASCADE", quoted_schema(tenant))
}

/// The advisory lock serialising writers (and creation) of one tenant, across processes.
pub(super) const LOCK_TENANT: &str =
    "SELECT pg_advisory_xact_lock(hashtextextended('nimbus-storage:' || $1, 0))";

/// Creates the tenant's schema and tables if missing, in one transaction under the tenant's
/// advisory lock (so concurrent creators do not collide), and checks the version.
pub(super) async fn ensure(client: &mut Client, tenant: &TenantName) -> Result<(), StorageError> {
    let name = schema_name(tenant);
    let tx = client.transaction().await?;
    tx.execute(LOCK_TENANT, &[&name]).await?;
    let comment: Option<String> = tx
        .query_opt(
            "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1",
            &[&name],
        )
        .await?
        .and_then(|row| row.get(0));
    match comment.as_deref() {
        Some(SCHEMA_COMMENT_V1) => {}
        None => tx.batch_execute(&create_sql(tenant)).await?,
        Some(other) => {
            return Err(StorageError::corrupt(
                tenant.as_str(),
                format!(
                    "schema {name} is marked {other:?}, not {SCHEMA_COMMENT_V1:?}; upgrade Nimbus or drop the schema"
                ),
            ));
        }
    }
    tx.commit().await?;
    Ok(())
}

fn create_sql(tenant: &TenantName) -> String {
    let s = quoted_schema(tenant);
    // `meta.key` uses the "C" collation so keys order by bytes, as in every other provider,
    // whatever the database's default collation.
    format!(
        "CREATE SCHEMA IF NOT EXISTS {s};
         CREATE TABLE IF NOT EXISTS {s}.documents (
             table_num BIGINT NOT NULL,
             internal_id BYTEA NOT NULL,
             ts BIGINT NOT NULL,
             value BYTEA NULL,
             PRIMARY KEY (table_num, internal_id, ts));
         CREATE TABLE IF NOT EXISTS {s}.index_entries (
             index_id BIGINT NOT NULL,
             key BYTEA NOT NULL,
             ts BIGINT NOT NULL,
             table_num BIGINT NULL,
             internal_id BYTEA NULL,
             PRIMARY KEY (index_id, key, ts));
         CREATE TABLE IF NOT EXISTS {s}.journal (
             ts BIGINT PRIMARY KEY,
             payload BYTEA NOT NULL);
         CREATE TABLE IF NOT EXISTS {s}.meta (
             key TEXT COLLATE \"C\" PRIMARY KEY,
             value BYTEA NOT NULL);
         COMMENT ON SCHEMA {s} IS '{SCHEMA_COMMENT_V1}';"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_round_trip() {
        let tenant = TenantName::new("acme-prod-2").unwrap();
        assert_eq!(schema_name(&tenant), "nimbus_acme_prod_2");
        assert_eq!(tenant_of_schema("nimbus_acme_prod_2"), Some(tenant));
        assert_eq!(tenant_of_schema("public"), None);
        assert_eq!(tenant_of_schema("nimbus_a-b"), None);
    }
}
