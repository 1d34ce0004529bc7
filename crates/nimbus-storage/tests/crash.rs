//! Kills a process that is committing under load (SIGKILL) and checks, after reopening the
//! storage, that every acknowledged commit survived whole and no commit is partially present.
//! Runs for SQLite and (when reachable) PostgreSQL.

mod support;

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use nimbus_storage::{KeyRange, Order, Persistence, SqlitePersistence, TenantStorage};
use support::batches::{ID_INDEX, TS_INDEX, doc_key};
use tokio::io::{AsyncBufReadExt, BufReader};

/// Acknowledged commits to wait for before killing the writer.
const ACKS_BEFORE_KILL: usize = 200;

/// How long the writer may take to acknowledge them.
const ACK_TIMEOUT: Duration = Duration::from_secs(60);

/// Starts the crash writer, kills it after [`ACKS_BEFORE_KILL`] acks and returns every
/// timestamp it acknowledged.
async fn run_and_kill(kind: &str, location: &str, tenant: &str) -> BTreeSet<u64> {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_nimbus-storage-crash-writer"))
        .args([kind, location, tenant])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start crash writer");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = BTreeSet::new();
    let read_acks = async {
        while acked.len() < ACKS_BEFORE_KILL {
            let line = lines
                .next_line()
                .await
                .unwrap()
                .expect("crash writer exited early");
            acked.insert(line.parse::<u64>().unwrap());
        }
    };
    tokio::time::timeout(ACK_TIMEOUT, read_acks)
        .await
        .expect("crash writer too slow");
    // `start_kill` sends SIGKILL on Unix: no destructors, no flushing, like a crash.
    child.start_kill().unwrap();
    // Acks printed before the kill landed still count as acknowledged.
    while let Ok(Some(line)) = lines.next_line().await {
        acked.insert(line.parse::<u64>().unwrap());
    }
    let status = child.wait().await.unwrap();
    assert!(
        !status.success(),
        "the writer was killed, not finished: {status}"
    );
    acked
}

/// Every acked ts is in the journal, and every journal entry's commit is present whole.
async fn check_survivors(s: &dyn TenantStorage, acked: &BTreeSet<u64>) -> BTreeSet<u64> {
    let journal: BTreeSet<u64> = s
        .journal_after(0, 100_000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.ts)
        .collect();
    let lost: Vec<_> = acked.difference(&journal).collect();
    assert!(lost.is_empty(), "acknowledged commits lost: {lost:?}");
    let max = *journal.last().unwrap();
    for &ts in &journal {
        let doc = s.get_document(doc_key(1, ts), max).await.unwrap();
        assert_eq!(doc.map(|d| d.ts), Some(ts), "document of commit {ts}");
        let key = ts.to_be_bytes().to_vec();
        let range = KeyRange::new(
            std::ops::Bound::Included(key.clone()),
            std::ops::Bound::Included(key),
        );
        assert_eq!(
            s.scan_index(TS_INDEX, &range, max, Order::Asc, 1)
                .await
                .unwrap()
                .len(),
            1,
            "entry of {ts}"
        );
    }
    for index in [TS_INDEX, ID_INDEX] {
        let entries = s
            .scan_index(index, &KeyRange::all(), max, Order::Asc, 100_000)
            .await
            .unwrap();
        assert_eq!(
            entries.len(),
            journal.len(),
            "index {index} has entries of commits not in the journal"
        );
    }
    journal
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().to_str().unwrap();
    let acked = run_and_kill("sqlite", location, "crash").await;
    let p = SqlitePersistence::open(dir.path()).unwrap();
    let tenant = support::tenant("crash");
    let journal = check_survivors(&*p.open_tenant(&tenant).await.unwrap(), &acked).await;
    // Straight SQL: no document or index row without its journal entry.
    let conn = rusqlite::Connection::open(p.tenant_path(&tenant)).unwrap();
    for table in ["documents", "index_entries"] {
        let orphans: i64 = conn
            .query_row(
                &format!("SELECT count(*) FROM {table} WHERE ts NOT IN (SELECT ts FROM journal)"),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(orphans, 0, "{table} rows without a journal entry");
    }
    eprintln!(
        "sqlite: {} acked, {} in journal after SIGKILL",
        acked.len(),
        journal.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_survives_sigkill() {
    let Some(p) = support::postgres("storage crash test").await else {
        return;
    };
    let tenant = support::tenant(&format!("{}-crash", support::unique_prefix()));
    let acked = run_and_kill("postgres", &support::postgres_url(), tenant.as_str()).await;
    let storage = p.open_tenant(&tenant).await.unwrap();
    let journal = check_survivors(&*storage, &acked).await;
    let (client, conn) = tokio_postgres::connect(&support::postgres_url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let schema = format!("nimbus_{}", tenant.as_str().replace('-', "_"));
    for table in ["documents", "index_entries"] {
        let sql = format!(
            "SELECT count(*) FROM \"{schema}\".{table} WHERE ts NOT IN (SELECT ts FROM \"{schema}\".journal)"
        );
        let orphans: i64 = client.query_one(&sql, &[]).await.unwrap().get(0);
        assert_eq!(orphans, 0, "{table} rows without a journal entry");
    }
    p.drop_tenant(&tenant).await.unwrap();
    eprintln!(
        "postgres: {} acked, {} in journal after SIGKILL",
        acked.len(),
        journal.len()
    );
}
