//! Crash-test helper: commits standard batches from several concurrent writers forever and
//! prints each timestamp to stdout only after its commit was acknowledged as durable. The
//! crash test SIGKILLs it mid-load and checks that every printed timestamp survived.
//!
//! Usage: `nimbus-storage-crash-writer sqlite <dir> <tenant>` or
//! `nimbus-storage-crash-writer postgres <url> <tenant>`.

#[path = "../../tests/support/batches.rs"]
mod batches;

use std::io::Write;
use std::sync::Arc;

use nimbus_storage::{Persistence, PostgresPersistence, SqlitePersistence, TenantName};

/// Concurrent committers, so that kills land while group commits are in flight.
const WRITERS: usize = 8;

/// Commits per writer before giving up, so a forgotten process cannot run forever.
const COMMITS_PER_WRITER_MAX: u64 = 1_000_000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, kind, location, tenant] = args.as_slice() else {
        return Err("usage: nimbus-storage-crash-writer sqlite|postgres <dir|url> <tenant>".into());
    };
    let persistence: Box<dyn Persistence> = match kind.as_str() {
        "sqlite" => Box::new(SqlitePersistence::open(location)?),
        "postgres" => Box::new(PostgresPersistence::connect(location).await?),
        other => return Err(format!("unknown provider {other:?}").into()),
    };
    let storage = persistence
        .open_tenant(&TenantName::new(tenant.as_str())?)
        .await?;
    let next_ts = storage.max_ts().await?.unwrap_or(0) + 1;
    // The engine's pattern: allocate ts and submit under one lock, await durability outside.
    let allocator = Arc::new(tokio::sync::Mutex::new(next_ts));
    let mut tasks = Vec::new();
    for _ in 0..WRITERS {
        let (storage, allocator) = (Arc::clone(&storage), Arc::clone(&allocator));
        tasks.push(tokio::spawn(async move {
            for _ in 0..COMMITS_PER_WRITER_MAX {
                let (ts, ticket) = {
                    let mut next = allocator.lock().await;
                    let ts = *next;
                    *next += 1;
                    (ts, storage.submit(batches::standard_batch(ts)).await?)
                };
                ticket.durable().await?;
                let mut out = std::io::stdout().lock();
                writeln!(out, "{ts}")?;
                out.flush()?;
            }
            Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
        }));
    }
    for task in tasks {
        task.await?.map_err(|e| e.to_string())?;
    }
    Ok(())
}
