//! Commit and read throughput of the durable providers, printed as a markdown table.
//!
//! Small commits (1 document + 2 index entries + meta + journal) with 1 writer and with 8
//! concurrent writers (timestamps allocated and submitted under one lock, durability awaited
//! outside it, as the engine does), then point reads and 10-row index scans. PostgreSQL rows
//! appear only when `NIMBUS_TEST_POSTGRES_URL` (or the default URL) is reachable.
//!
//! Run: `cargo bench -p nimbus-storage --bench commit`.

#[path = "../tests/support/batches.rs"]
mod batches;

use std::sync::Arc;
use std::time::{Duration, Instant};

use nimbus_storage::{
    KeyRange, Order, Persistence, PostgresPersistence, SqlitePersistence, TenantName, TenantStorage,
};

/// Commits in each commit measurement.
const COMMITS: u64 = 4_000;
/// Writers in the concurrent measurement.
const WRITERS: u64 = 8;
/// Reads in each read measurement.
const READS: u64 = 10_000;
/// Rows per index scan.
const SCAN_LIMIT: usize = 10;

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

struct Row {
    provider: &'static str,
    what: String,
    ops_per_s: f64,
    p50: Option<Duration>,
    p99: Option<Duration>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut rows = Vec::new();
    // On the target disk (not a tmpfs), so fsync costs what it costs in production.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let sqlite = SqlitePersistence::open(dir.path()).expect("sqlite");
    bench_provider(&sqlite, "sqlite", &mut rows).await;
    let url = std::env::var("NIMBUS_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
    match PostgresPersistence::connect(&url).await {
        Ok(pg) => bench_provider(&pg, "postgres", &mut rows).await,
        Err(e) => eprintln!("PostgreSQL benchmarks did NOT run: {e}"),
    }
    println!("| provider | operation | ops/s | p50 | p99 |");
    println!("|---|---|---:|---:|---:|");
    let ms = |d: Option<Duration>| {
        d.map_or("-".to_owned(), |d| {
            format!("{:.2} ms", d.as_secs_f64() * 1e3)
        })
    };
    for r in rows {
        println!(
            "| {} | {} | {:.0} | {} | {} |",
            r.provider,
            r.what,
            r.ops_per_s,
            ms(r.p50),
            ms(r.p99)
        );
    }
}

async fn bench_provider(p: &dyn Persistence, provider: &'static str, rows: &mut Vec<Row>) {
    let name = TenantName::new(format!("bench-{:08x}", std::process::id())).expect("tenant name");
    p.drop_tenant(&name).await.expect("drop old bench tenant");
    let s = p.open_tenant(&name).await.expect("open tenant");

    let (elapsed, mut latencies) = commits(&s, 1, 1).await;
    rows.push(row(
        provider,
        "commit, 1 writer",
        COMMITS,
        elapsed,
        &mut latencies,
    ));
    let (elapsed, mut latencies) = commits(&s, WRITERS, COMMITS + 1).await;
    rows.push(row(
        provider,
        "commit, 8 writers",
        COMMITS,
        elapsed,
        &mut latencies,
    ));

    let max = 2 * COMMITS;
    let start = Instant::now();
    for i in 0..READS {
        let ts = 1 + (i * 7919) % max;
        let doc = s
            .get_document(batches::doc_key(1, ts), max)
            .await
            .expect("read");
        assert!(doc.is_some());
    }
    rows.push(row(
        provider,
        "get_document",
        READS,
        start.elapsed(),
        &mut [],
    ));
    let start = Instant::now();
    for i in 0..READS {
        let from = (1 + (i * 7919) % max).to_be_bytes().to_vec();
        let range = KeyRange::new(std::ops::Bound::Included(from), std::ops::Bound::Unbounded);
        let found = s
            .scan_index(batches::TS_INDEX, &range, max, Order::Asc, SCAN_LIMIT)
            .await
            .expect("scan");
        assert!(!found.is_empty());
    }
    rows.push(row(
        provider,
        "scan_index (limit 10)",
        READS,
        start.elapsed(),
        &mut [],
    ));
    p.drop_tenant(&name).await.expect("drop bench tenant");
}

/// Commits [`COMMITS`] standard batches from `writers` tasks starting at `first_ts`; returns
/// the wall time and each commit's latency (lock wait + submit + durability).
async fn commits(
    s: &Arc<dyn TenantStorage>,
    writers: u64,
    first_ts: u64,
) -> (Duration, Vec<Duration>) {
    let allocator = Arc::new(tokio::sync::Mutex::new(first_ts));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let (s, allocator) = (Arc::clone(s), Arc::clone(&allocator));
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for _ in 0..COMMITS / writers {
                let begin = Instant::now();
                let ticket = {
                    let mut next = allocator.lock().await;
                    let ts = *next;
                    *next += 1;
                    s.submit(batches::standard_batch(ts)).await.expect("submit")
                };
                ticket.durable().await.expect("commit");
                latencies.push(begin.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("writer task"));
    }
    (start.elapsed(), latencies)
}

fn row(
    provider: &'static str,
    what: &str,
    ops: u64,
    elapsed: Duration,
    latencies: &mut [Duration],
) -> Row {
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
    };
    Row {
        provider,
        what: what.to_owned(),
        ops_per_s: ops as f64 / elapsed.as_secs_f64(),
        p50: pct(0.50),
        p99: pct(0.99),
    }
}
