//! Commit timestamps must strictly increase; rejected commits write nothing.

use nimbus_storage::{
    CommitBatch, DocumentVersion, JournalEntry, KeyRange, MAX_TIMESTAMP, Order, StorageError,
    TenantStorage,
};

use super::Ctx;
use crate::support::{batch, doc, doc_key, entry, standard_batch};

/// Everything a rejected commit could have touched, as seen at the newest snapshot.
#[derive(Debug, PartialEq)]
struct Visible {
    max_ts: Option<u64>,
    journal: Vec<JournalEntry>,
    docs: Vec<Option<DocumentVersion>>,
    index: Vec<(Vec<u8>, nimbus_storage::DocKey)>,
    meta: Vec<(String, Vec<u8>)>,
}

async fn visible(s: &dyn TenantStorage) -> Visible {
    let mut docs = Vec::new();
    for n in [1, 2, 5, 7] {
        docs.push(s.get_document(doc_key(1, n), u64::MAX).await.unwrap());
    }
    let mut index = s
        .scan_index(1, &KeyRange::all(), u64::MAX, Order::Asc, 1000)
        .await
        .unwrap();
    index.extend(
        s.scan_index(2, &KeyRange::all(), u64::MAX, Order::Asc, 1000)
            .await
            .unwrap(),
    );
    Visible {
        max_ts: s.max_ts().await.unwrap(),
        journal: s.journal_after(0, 1000).await.unwrap(),
        docs,
        index,
        meta: s.meta_scan("").await.unwrap(),
    }
}

/// A batch at `ts` touching document 1, index 1, the journal and meta key "last".
fn touching(ts: u64) -> CommitBatch {
    CommitBatch {
        documents: vec![doc(doc_key(1, 1), ts, Some(b"changed"))],
        index_entries: vec![entry(1, b"changed", ts, Some(doc_key(1, 1)))],
        meta: vec![
            ("last".into(), Some(b"changed".to_vec())),
            ("other".into(), None),
        ],
        ..batch(ts)
    }
}

pub async fn must_increase(ctx: &Ctx<'_>, name: String) {
    let s = ctx.open(&name).await;
    s.commit(standard_batch(5)).await.unwrap();
    s.commit(CommitBatch {
        meta: vec![("other".into(), Some(b"o".to_vec()))],
        ..batch(7)
    })
    .await
    .unwrap();
    let before = visible(&*s).await;
    for ts in [7, 6, 1] {
        match s.commit(touching(ts)).await {
            Err(StorageError::TimestampNotIncreasing { ts: got, max_ts: 7 }) => assert_eq!(got, ts),
            other => panic!("commit at {ts} after 7 must be rejected, got {other:?}"),
        }
        assert_eq!(
            visible(&*s).await,
            before,
            "rejected commit at {ts} wrote something"
        );
    }
    // After rejections the next higher ts still works.
    s.commit(touching(8)).await.unwrap();
    assert_eq!(s.max_ts().await.unwrap(), Some(8));
    assert_eq!(
        s.meta_get("last").await.unwrap().as_deref(),
        Some(&b"changed"[..])
    );
}

pub async fn invalid_batches_write_nothing(ctx: &Ctx<'_>, name: String) {
    let s = ctx.open(&name).await;
    s.commit(standard_batch(5)).await.unwrap();
    let before = visible(&*s).await;
    let out_of_range = touching(MAX_TIMESTAMP + 1);
    let mut wrong_stamp = touching(10);
    wrong_stamp.index_entries[0].ts = 11;
    let mut duplicate_doc = touching(10);
    duplicate_doc.documents.push(doc(doc_key(1, 1), 10, None));
    let mut duplicate_entry = touching(10);
    duplicate_entry
        .index_entries
        .push(entry(1, b"changed", 10, None));
    let err = s.commit(out_of_range).await.unwrap_err();
    assert!(
        matches!(err, StorageError::TimestampOutOfRange { .. }),
        "{err}"
    );
    for bad in [wrong_stamp, duplicate_doc, duplicate_entry] {
        let err = s.commit(bad).await.unwrap_err();
        assert!(
            matches!(err, StorageError::InvalidBatch { ts: 10, .. }),
            "{err}"
        );
        assert_eq!(visible(&*s).await, before);
    }
    // The largest storable timestamp itself is fine.
    s.commit(touching(MAX_TIMESTAMP)).await.unwrap();
    assert_eq!(s.max_ts().await.unwrap(), Some(MAX_TIMESTAMP));
}

/// Submitted back to back, the batches likely share one group commit: the bad one must fail
/// alone and leave no trace, the good ones around it must commit.
pub async fn bad_batch_among_good_ones(ctx: &Ctx<'_>, name: String) {
    let s = ctx.open(&name).await;
    let t1 = s.submit(standard_batch(100)).await.unwrap();
    let t2 = s.submit(touching(90)).await.unwrap();
    let t3 = s.submit(standard_batch(110)).await.unwrap();
    let t4 = s.submit(touching(110)).await.unwrap();
    t1.durable().await.unwrap();
    let err = t2.durable().await.unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::TimestampNotIncreasing {
                ts: 90,
                max_ts: 100
            }
        ),
        "{err}"
    );
    t3.durable().await.unwrap();
    let err = t4.durable().await.unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::TimestampNotIncreasing {
                ts: 110,
                max_ts: 110
            }
        ),
        "{err}"
    );
    let journal: Vec<u64> = s
        .journal_after(0, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.ts)
        .collect();
    assert_eq!(journal, [100, 110]);
    assert_eq!(s.get_document(doc_key(1, 1), u64::MAX).await.unwrap(), None);
    assert!(
        s.get_document(doc_key(1, 100), u64::MAX)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        s.get_document(doc_key(1, 110), u64::MAX)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        s.meta_get("last").await.unwrap(),
        Some(110u64.to_be_bytes().to_vec())
    );
}
