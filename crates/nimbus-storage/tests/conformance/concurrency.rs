//! Many writers whose timestamps come from one lock-protected counter, as the engine does it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use nimbus_storage::{KeyRange, Order};

use super::Ctx;
use crate::support::{doc_key, standard_batch};

/// Concurrent writers in the test.
const WRITERS: u64 = 8;
/// Commits per writer.
const COMMITS_PER_WRITER: u64 = 50;

pub async fn concurrent_writers(ctx: &Ctx<'_>, name: String) {
    let s = ctx.open(&name).await;
    let next_ts = Arc::new(AtomicU64::new(1));
    // Held across allocate + submit so batches arrive in ts order; durability is awaited
    // outside it so commits can be grouped.
    let order = Arc::new(tokio::sync::Mutex::new(()));
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let (s, next_ts, order) = (Arc::clone(&s), Arc::clone(&next_ts), Arc::clone(&order));
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for i in 0..COMMITS_PER_WRITER {
                let guard = order.lock().await;
                let ts = next_ts.fetch_add(1, Ordering::SeqCst);
                let ticket = s.submit(standard_batch(ts)).await.unwrap();
                drop(guard);
                // Every fifth commit waits synchronously, mixing both styles.
                if (writer + i) % 5 == 0 {
                    ticket.durable().await.unwrap();
                } else {
                    mine.push((ts, ticket));
                }
            }
            for (ts, ticket) in mine {
                ticket
                    .durable()
                    .await
                    .unwrap_or_else(|e| panic!("commit {ts}: {e}"));
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let total = WRITERS * COMMITS_PER_WRITER;
    assert_eq!(s.max_ts().await.unwrap(), Some(total));
    let journal = s.journal_after(0, 1000).await.unwrap();
    assert_eq!(
        journal.iter().map(|e| e.ts).collect::<Vec<_>>(),
        (1..=total).collect::<Vec<_>>()
    );
    for ts in 1..=total {
        assert_eq!(
            s.get_document(doc_key(1, ts), total)
                .await
                .unwrap()
                .unwrap()
                .ts,
            ts
        );
    }
    assert_eq!(
        s.scan_index(1, &KeyRange::all(), total, Order::Desc, 1000)
            .await
            .unwrap()
            .len(),
        total as usize
    );
}
