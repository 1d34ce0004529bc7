//! Engine throughput and latency on the durable providers, printed as a markdown table.
//!
//! Measures, on SQLite (a directory on the target disk, so fsync costs what it costs in
//! production) and on PostgreSQL when reachable:
//! - commits of one small document into a table with one declared index, begin → insert →
//!   commit in a loop, with 1 writer and with 8 concurrent writers (each its own task);
//! - point reads (`get` of a random existing id) and 10-document index-range reads on a table
//!   of 10,000 documents, one read-only transaction per read;
//! - subscription matching: `SubscriptionRegistry::invalidated` for one commit's write keys
//!   against 10,000 registered read sets (each a distinct `by_channel` equality range), and the
//!   end-to-end commit latency while 10,000 subscriptions are live on the database.
//!
//! Run: `cargo bench -p nimbus-engine --bench engine`; `NIMBUS_BENCH_QUICK=1` shortens every
//! measurement (for smoke runs, not for numbers).

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use nimbus_engine::{
    Database, Engine, EngineLimits, QuerySpec, RangeExpr, RangeOp, ReadSet, SubscriptionRegistry,
    TransactionMode, WriteKeys,
};
use nimbus_storage::{Persistence, SqlitePersistence, TenantName};
use nimbus_values::DocumentId;
use rand::Rng;

use support::{Provider, n, obj, s};

/// How long each measurement runs; `quick` is for `NIMBUS_BENCH_QUICK=1`.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    /// Commits by the single writer.
    commits_single: usize,
    /// Concurrent writers, and commits each makes.
    writers: usize,
    commits_per_writer: usize,
    /// Documents in the read table.
    read_table_docs: usize,
    /// Point reads and range reads.
    point_reads: usize,
    range_reads: usize,
    /// Registered subscriptions, matching calls, commits with live subscriptions.
    subscriptions: usize,
    match_calls: usize,
    subscribed_commits: usize,
}

impl Sizes {
    fn from_env() -> Self {
        if std::env::var("NIMBUS_BENCH_QUICK").as_deref() == Ok("1") {
            Self {
                commits_single: 200,
                writers: 8,
                commits_per_writer: 25,
                read_table_docs: 1_000,
                point_reads: 500,
                range_reads: 200,
                subscriptions: 1_000,
                match_calls: 500,
                subscribed_commits: 100,
            }
        } else {
            Self {
                commits_single: 4_000,
                writers: 8,
                commits_per_writer: 1_000,
                read_table_docs: 10_000,
                point_reads: 20_000,
                range_reads: 10_000,
                subscriptions: 10_000,
                match_calls: 20_000,
                subscribed_commits: 2_000,
            }
        }
    }
}

/// Documents per bucket: one `by_bucket` equality range returns this many.
const RANGE_DOCS: usize = 10;
/// Documents per insert transaction when filling the read table.
const FILL_BATCH: usize = 1_000;

struct Row {
    provider: &'static str,
    what: String,
    ops_per_s: f64,
    p50: Duration,
    p99: Duration,
}

impl Row {
    /// A row from per-operation latencies and the wall time they took together.
    fn new(
        provider: &'static str,
        what: String,
        elapsed: Duration,
        mut latencies: Vec<Duration>,
    ) -> Self {
        latencies.sort();
        let at = |q: usize| {
            latencies.get((latencies.len() * q / 100).min(latencies.len().saturating_sub(1)))
        };
        Self {
            provider,
            what,
            ops_per_s: latencies.len() as f64 / elapsed.as_secs_f64(),
            p50: at(50).copied().unwrap_or_default(),
            p99: at(99).copied().unwrap_or_default(),
        }
    }
}

fn main() {
    let sizes = Sizes::from_env();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let rows = runtime.block_on(run(sizes));
    print_table(&rows);
}

async fn run(sizes: Sizes) -> Vec<Row> {
    let mut rows = Vec::new();
    // On the target disk, never a tmpfs: durability must cost a real fsync.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let sqlite: Arc<dyn Persistence> =
        Arc::new(SqlitePersistence::open(dir.path()).expect("sqlite"));
    let tenant = TenantName::new(format!("bench-{:08x}", std::process::id())).expect("tenant name");
    bench_provider(sqlite, tenant, "sqlite", sizes, &mut rows).await;
    if let Some(postgres) = Provider::postgres("engine benchmark").await {
        let tenant = postgres.tenant("bench");
        bench_provider(
            postgres.persistence.clone(),
            tenant,
            "postgres",
            sizes,
            &mut rows,
        )
        .await;
        postgres.cleanup().await;
    }
    rows
}

async fn bench_provider(
    persistence: Arc<dyn Persistence>,
    tenant: TenantName,
    provider: &'static str,
    sizes: Sizes,
    rows: &mut Vec<Row>,
) {
    let engine = Engine::new(persistence, EngineLimits::default());
    let db = engine.database(&tenant).await.expect("database");
    let index = |name: &str, field: &str| serde_json::json!([{ "indexDescriptor": name, "fields": [field] }]);
    db.set_schema(&serde_json::json!({
        "tables": [
            { "tableName": "items", "indexes": index("by_n", "n") },
            { "tableName": "docs", "indexes": index("by_bucket", "bucket") },
            { "tableName": "messages", "indexes": index("by_channel", "channel") }
        ],
        "schemaValidation": false
    }))
    .await
    .expect("schema");

    let (elapsed, latencies) = commits(&db, 1, sizes.commits_single).await;
    rows.push(Row::new(
        provider,
        "commit, 1 writer".into(),
        elapsed,
        latencies,
    ));
    let (elapsed, latencies) = commits(&db, sizes.writers, sizes.commits_per_writer).await;
    rows.push(Row::new(
        provider,
        format!("commit, {} writers", sizes.writers),
        elapsed,
        latencies,
    ));

    let ids = fill_read_table(&db, sizes.read_table_docs).await;
    let (elapsed, latencies) = point_reads(&db, &ids, sizes.point_reads).await;
    rows.push(Row::new(
        provider,
        format!("get, {} docs", ids.len()),
        elapsed,
        latencies,
    ));
    let (elapsed, latencies) = range_reads(&db, ids.len() / RANGE_DOCS, sizes.range_reads).await;
    rows.push(Row::new(
        provider,
        format!("index range of {RANGE_DOCS}, {} docs", ids.len()),
        elapsed,
        latencies,
    ));

    let read_sets = channel_read_sets(&db, sizes.subscriptions).await;
    let (elapsed, latencies) = registry_matching(&db, &read_sets, sizes.match_calls).await;
    rows.push(Row::new(
        provider,
        format!("match 1 commit vs {} subscriptions", read_sets.len()),
        elapsed,
        latencies,
    ));
    let (elapsed, latencies) = subscribed_commits(&db, &read_sets, sizes.subscribed_commits).await;
    rows.push(Row::new(
        provider,
        format!("commit, 1 writer, {} live subscriptions", read_sets.len()),
        elapsed,
        latencies,
    ));
    drop(db);
    engine
        .drop_tenant(&tenant)
        .await
        .expect("drop bench tenant");
}

/// `writers` tasks, each committing `per_writer` single-document inserts.
async fn commits(db: &Database, writers: usize, per_writer: usize) -> (Duration, Vec<Duration>) {
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|writer| {
            let db = db.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_writer);
                for i in 0..per_writer {
                    let began = Instant::now();
                    let mut tx = db.begin(TransactionMode::ReadWrite);
                    let fields = obj(&[
                        ("n", n(i as f64)),
                        ("writer", n(writer as f64)),
                        ("body", s("hello")),
                    ]);
                    tx.insert("items", fields).await.expect("insert");
                    db.commit(tx).await.expect("commit");
                    latencies.push(began.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(writers * per_writer);
    for task in tasks {
        latencies.extend(task.await.expect("writer task"));
    }
    (start.elapsed(), latencies)
}

/// Fills `docs` with `count` documents, `RANGE_DOCS` per bucket; returns their ids.
async fn fill_read_table(db: &Database, count: usize) -> Vec<DocumentId> {
    let mut ids = Vec::with_capacity(count);
    for chunk_start in (0..count).step_by(FILL_BATCH) {
        let (chunk, _) = db
            .run_mutation(async |tx| {
                let mut chunk = Vec::with_capacity(FILL_BATCH);
                for i in chunk_start..(chunk_start + FILL_BATCH).min(count) {
                    let fields = obj(&[
                        ("bucket", n((i / RANGE_DOCS) as f64)),
                        ("i", n(i as f64)),
                        ("body", s("x")),
                    ]);
                    chunk.push(tx.insert("docs", fields).await?);
                }
                Ok(chunk)
            })
            .await
            .expect("fill");
        ids.extend(chunk);
    }
    ids
}

async fn point_reads(db: &Database, ids: &[DocumentId], reads: usize) -> (Duration, Vec<Duration>) {
    let mut latencies = Vec::with_capacity(reads);
    let start = Instant::now();
    for _ in 0..reads {
        let id = ids[rand::rng().random_range(0..ids.len())];
        let began = Instant::now();
        let mut tx = db.begin(TransactionMode::ReadOnly);
        assert!(tx.get(id).await.expect("get").is_some());
        latencies.push(began.elapsed());
    }
    (start.elapsed(), latencies)
}

async fn range_reads(db: &Database, buckets: usize, reads: usize) -> (Duration, Vec<Duration>) {
    let mut latencies = Vec::with_capacity(reads);
    let start = Instant::now();
    for _ in 0..reads {
        let bucket = rand::rng().random_range(0..buckets);
        let spec = QuerySpec::index(
            "docs",
            "by_bucket",
            vec![RangeExpr {
                op: RangeOp::Eq,
                field: "bucket".into(),
                value: Some(n(bucket as f64)),
            }],
        );
        let began = Instant::now();
        let mut tx = db.begin(TransactionMode::ReadOnly);
        assert_eq!(tx.collect(&spec).await.expect("range").len(), RANGE_DOCS);
        latencies.push(began.elapsed());
    }
    (start.elapsed(), latencies)
}

fn channel(i: usize) -> String {
    format!("c{i}")
}

/// The read set of `by_channel == c{i}` for each of `count` channels, with its snapshot.
async fn channel_read_sets(db: &Database, count: usize) -> Vec<(ReadSet, u64)> {
    let mut read_sets = Vec::with_capacity(count);
    for i in 0..count {
        let spec = QuerySpec::index(
            "messages",
            "by_channel",
            vec![RangeExpr {
                op: RangeOp::Eq,
                field: "channel".into(),
                value: Some(s(&channel(i))),
            }],
        );
        let mut tx = db.begin(TransactionMode::ReadOnly);
        tx.collect(&spec).await.expect("channel query");
        let ts = tx.snapshot_ts();
        read_sets.push((tx.read_set().clone(), ts));
    }
    read_sets
}

/// Inserts one message into channel `i`; returns the commit timestamp.
async fn post(db: &Database, i: usize) -> u64 {
    let mut tx = db.begin(TransactionMode::ReadWrite);
    tx.insert(
        "messages",
        obj(&[("channel", s(&channel(i))), ("body", s("hi"))]),
    )
    .await
    .expect("insert");
    db.commit(tx).await.expect("commit")
}

/// `SubscriptionRegistry::invalidated` for a real commit's write keys (one message into one
/// channel: its `by_id`, `by_creation_time` and `by_channel` keys) with every read set
/// registered.
async fn registry_matching(
    db: &Database,
    read_sets: &[(ReadSet, u64)],
    calls: usize,
) -> (Duration, Vec<Duration>) {
    let mut registry = SubscriptionRegistry::new();
    for (read_set, _) in read_sets {
        registry.insert(read_set);
    }
    let before = db.snapshot_ts();
    let target = read_sets.len() / 2;
    let ts = post(db, target).await;
    let keys: WriteKeys = db
        .journal_after(before, 16)
        .await
        .expect("journal")
        .into_iter()
        .find_map(|(at, keys)| (at == ts).then_some(keys))
        .expect("the commit's journal entry");
    assert_eq!(
        registry.invalidated(&keys).len(),
        1,
        "exactly the channel's subscription matches"
    );
    let mut latencies = Vec::with_capacity(calls);
    let start = Instant::now();
    for _ in 0..calls {
        let began = Instant::now();
        let hit = registry.invalidated(&keys);
        latencies.push(began.elapsed());
        std::hint::black_box(hit);
    }
    (start.elapsed(), latencies)
}

/// Commits with every read set subscribed on the database; each commit writes into a
/// different channel, so each wakes exactly one subscription.
async fn subscribed_commits(
    db: &Database,
    read_sets: &[(ReadSet, u64)],
    commits: usize,
) -> (Duration, Vec<Duration>) {
    // The channel used by `registry_matching` was already written; start after it.
    let first = read_sets.len() / 2 + 1;
    let subscriptions: Vec<_> = read_sets
        .iter()
        .map(|(read_set, ts)| db.subscribe(read_set, *ts))
        .collect();
    let live = db.subscription_count();
    let mut latencies = Vec::with_capacity(commits);
    let start = Instant::now();
    for i in 0..commits {
        let began = Instant::now();
        post(db, (first + i) % read_sets.len()).await;
        latencies.push(began.elapsed());
    }
    let elapsed = start.elapsed();
    assert!(
        db.subscription_count() < live,
        "the commits woke their subscriptions"
    );
    drop(subscriptions);
    (elapsed, latencies)
}

fn print_table(rows: &[Row]) {
    let time = |d: Duration| {
        if d < Duration::from_millis(1) {
            format!("{:.1} µs", d.as_secs_f64() * 1e6)
        } else {
            format!("{:.2} ms", d.as_secs_f64() * 1e3)
        }
    };
    println!("| provider | operation | ops/s | p50 | p99 |");
    println!("|---|---|---:|---:|---:|");
    for r in rows {
        println!(
            "| {} | {} | {:.0} | {} | {} |",
            r.provider,
            r.what,
            r.ops_per_s,
            time(r.p50),
            time(r.p99)
        );
    }
}
