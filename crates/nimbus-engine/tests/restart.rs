//! Restart: everything the engine keeps — documents, catalog, schema, index contents and the
//! timestamp sequence — survives dropping the engine and opening a new one over a freshly
//! opened persistence of the same data (a SQLite directory, a PostgreSQL database).

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use nimbus_engine::{
    Catalog, Engine, EngineError, EngineLimits, QuerySpec, RangeExpr, RangeOp, TransactionMode,
};
use nimbus_storage::{Persistence, PostgresPersistence, SqlitePersistence, TenantName};
use nimbus_values::DocumentId;
use serde_json::json;

use support::{Provider, n, obj, s, unique_prefix};

/// What the first engine left behind, to compare with what the second one finds.
struct Before {
    catalog: Catalog,
    schema: serde_json::Value,
    /// Every document: id → (channel, n, creation time).
    documents: BTreeMap<DocumentId, (String, f64, f64)>,
    /// `by_channel == "general"`, in index order.
    general: Vec<DocumentId>,
    /// The newest commit timestamp the first engine handed out.
    max_ts: u64,
}

fn schema() -> serde_json::Value {
    json!({
        "tables": [{
            "tableName": "messages",
            "indexes": [{ "indexDescriptor": "by_channel", "fields": ["channel"] }],
            "documentType": { "type": "object", "value": {
                "channel": { "fieldType": { "type": "string" }, "optional": false },
                "n": { "fieldType": { "type": "number" }, "optional": false }
            } }
        }],
        "schemaValidation": true
    })
}

fn by_channel(channel: &str) -> QuerySpec {
    QuerySpec::index(
        "messages",
        "by_channel",
        vec![RangeExpr {
            op: RangeOp::Eq,
            field: "channel".into(),
            value: Some(s(channel)),
        }],
    )
}

/// Creates data with the first engine, then drops it.
async fn populate(persistence: Arc<dyn Persistence>, tenant: &TenantName) -> Before {
    let engine = Engine::new(persistence, EngineLimits::default());
    let db = engine.database(tenant).await.unwrap();
    let mut max_ts = 0;
    // A table created implicitly, before any schema exists.
    let (_, ts) = db
        .run_mutation(async |tx| tx.insert("other", obj(&[("x", n(1.0))])).await)
        .await
        .unwrap();
    max_ts = max_ts.max(ts);
    let (_, ts) = db
        .run_mutation(async |tx| {
            for i in 0..6 {
                let channel = if i % 2 == 0 { "general" } else { "random" };
                tx.insert(
                    "messages",
                    obj(&[("channel", s(channel)), ("n", n(f64::from(i)))]),
                )
                .await?;
            }
            Ok(())
        })
        .await
        .unwrap();
    max_ts = max_ts.max(ts);
    // The index is added after data exists, so it is backfilled, then written by later commits.
    db.set_schema(&schema()).await.unwrap();
    let (_, ts) = db
        .run_mutation(async |tx| {
            tx.insert("messages", obj(&[("channel", s("general")), ("n", n(6.0))]))
                .await
        })
        .await
        .unwrap();
    max_ts = max_ts.max(ts).max(db.snapshot_ts());

    let mut tx = db.begin(TransactionMode::ReadOnly);
    let mut documents = BTreeMap::new();
    for doc in tx.collect(&QuerySpec::table("messages")).await.unwrap() {
        let Some(nimbus_values::Value::String(channel)) = doc.fields.get("channel").cloned() else {
            panic!()
        };
        let Some(nimbus_values::Value::Float64(x)) = doc.fields.get("n").cloned() else {
            panic!()
        };
        documents.insert(doc.id, (channel, x, doc.creation_time));
    }
    assert_eq!(documents.len(), 7);
    let general: Vec<DocumentId> = tx
        .collect(&by_channel("general"))
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(general.len(), 4);
    let before = Before {
        catalog: (*db.catalog()).clone(),
        schema: schema(),
        documents,
        general,
        max_ts,
    };
    drop(tx);
    drop(db);
    drop(engine);
    before
}

/// Opens a second engine over `persistence` and checks that everything survived.
async fn verify(
    persistence: Arc<dyn Persistence>,
    tenant: &TenantName,
    before: &Before,
    provider: &str,
) {
    let engine = Engine::new(persistence, EngineLimits::default());
    let db = engine.database(tenant).await.unwrap();
    assert_eq!(
        *db.catalog(),
        before.catalog,
        "{provider}: catalog (table numbers, indexes) survives"
    );
    assert_eq!(
        db.schema().map(|schema| schema.json.clone()),
        Some(before.schema.clone()),
        "{provider}: schema"
    );
    assert!(
        db.snapshot_ts() >= before.max_ts,
        "{provider}: snapshot resumes at the newest commit"
    );

    let mut tx = db.begin(TransactionMode::ReadOnly);
    for (id, (channel, x, creation_time)) in &before.documents {
        let doc = tx
            .get(*id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{provider}: {} is lost", id.encode()));
        assert_eq!(
            doc.fields,
            obj(&[("channel", s(channel)), ("n", n(*x))]),
            "{provider}"
        );
        assert_eq!(doc.creation_time, *creation_time, "{provider}");
    }
    let general: Vec<DocumentId> = tx
        .collect(&by_channel("general"))
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(
        general, before.general,
        "{provider}: index contents survive"
    );
    assert_eq!(tx.count("messages").await.unwrap(), 7, "{provider}");
    drop(tx);

    // The schema still validates writes.
    let err = db
        .run_mutation(async |tx| {
            tx.insert("messages", obj(&[("channel", n(1.0)), ("n", n(1.0))]))
                .await
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, EngineError::SchemaValidation { .. }),
        "{provider}: {err}"
    );

    // New commits are ordered after every old one, and are indexed.
    let (id, ts) = db
        .run_mutation(async |tx| {
            tx.insert("messages", obj(&[("channel", s("general")), ("n", n(7.0))]))
                .await
        })
        .await
        .unwrap();
    assert!(
        ts > before.max_ts,
        "{provider}: new commit ts {ts} must exceed the old maximum {}",
        before.max_ts
    );
    let mut tx = db.begin(TransactionMode::ReadOnly);
    let general: Vec<DocumentId> = tx
        .collect(&by_channel("general"))
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(general.len(), 5, "{provider}");
    assert_eq!(
        general.last(),
        Some(&id),
        "{provider}: the newest document sorts last in its channel"
    );
    let journal = db.journal_after(0, 1_000).await.unwrap();
    assert!(
        journal.windows(2).all(|w| w[0].0 < w[1].0),
        "{provider}: the journal stays strictly ordered"
    );
    assert!(
        journal.iter().any(|(t, _)| *t == before.max_ts),
        "{provider}: old journal entries remain"
    );

    // Table numbers and index ids are never reused after a restart.
    db.run_mutation(async |tx| tx.insert("fresh", obj(&[])).await)
        .await
        .unwrap();
    let catalog = db.catalog();
    let old_max_table = before
        .catalog
        .tables()
        .map(|t| t.number.get())
        .max()
        .unwrap();
    assert!(
        catalog.table("fresh").unwrap().number.get() > old_max_table,
        "{provider}"
    );
    let old_max_index = before
        .catalog
        .tables()
        .flat_map(|t| t.indexes.values().copied())
        .max()
        .unwrap();
    assert!(
        catalog
            .table("fresh")
            .unwrap()
            .indexes
            .values()
            .all(|i| *i > old_max_index),
        "{provider}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_engine_state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = TenantName::new(format!("{}-restart", unique_prefix())).unwrap();
    let before = populate(
        Arc::new(SqlitePersistence::open(dir.path()).unwrap()),
        &tenant,
    )
    .await;
    verify(
        Arc::new(SqlitePersistence::open(dir.path()).unwrap()),
        &tenant,
        &before,
        "sqlite",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_engine_state_survives_a_restart() {
    let Some(first) = Provider::postgres("restart test").await else {
        return;
    };
    let tenant = first.tenant("restart");
    let before = populate(first.persistence.clone(), &tenant).await;
    drop(first);
    // A brand-new connection pool: nothing in memory carries over.
    let url = std::env::var("NIMBUS_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| support::DEFAULT_POSTGRES_URL.into());
    let second: Arc<dyn Persistence> = Arc::new(PostgresPersistence::connect(&url).await.unwrap());
    verify(second.clone(), &tenant, &before, "postgres").await;
    second.drop_tenant(&tenant).await.unwrap();
}
