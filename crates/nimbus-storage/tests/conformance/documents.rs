//! Document versions: read back, snapshot visibility, tombstones.

use nimbus_storage::CommitBatch;

use super::Ctx;
use crate::support::{batch, doc, doc_key};

pub async fn read_back(ctx: &Ctx<'_>, name: String) {
    let s = ctx.open(&name).await;
    assert_eq!(s.max_ts().await.unwrap(), None);
    let (a, b) = (doc_key(1, 1), doc_key(2, 1));
    let commit = CommitBatch {
        documents: vec![doc(a, 10, Some(b"A")), doc(b, 10, Some(b""))],
        ..batch(10)
    };
    s.commit(commit).await.unwrap();
    assert_eq!(s.max_ts().await.unwrap(), Some(10));
    assert_eq!(
        s.get_document(a, 10).await.unwrap(),
        Some(doc(a, 10, Some(b"A")))
    );
    // An empty value is a value, not a tombstone.
    assert_eq!(
        s.get_document(b, 10).await.unwrap(),
        Some(doc(b, 10, Some(b"")))
    );
    assert_eq!(s.get_document(doc_key(1, 2), 10).await.unwrap(), None);
    assert_eq!(s.get_document(a, u64::MAX).await.unwrap().unwrap().ts, 10);
}

pub async fn snapshots(ctx: &Ctx<'_>, name: String) {
    let s = ctx.open(&name).await;
    let k = doc_key(7, 42);
    let other = doc_key(7, 43);
    for (ts, value) in [
        (10, Some(&b"v1"[..])),
        (20, Some(b"v2")),
        (30, None),
        (40, Some(b"v4")),
    ] {
        let docs = vec![doc(k, ts, value), doc(other, ts, Some(b"x"))];
        s.commit(CommitBatch {
            documents: docs,
            ..batch(ts)
        })
        .await
        .unwrap();
    }
    let expect = [
        (0, None),
        (9, None),
        (10, Some((10, Some(&b"v1"[..])))),
        (19, Some((10, Some(b"v1")))),
        (20, Some((20, Some(b"v2")))),
        (29, Some((20, Some(b"v2")))),
        (30, Some((30, None))),
        (39, Some((30, None))),
        (40, Some((40, Some(b"v4")))),
        (u64::MAX, Some((40, Some(b"v4")))),
    ];
    for (at, want) in expect {
        let got = s.get_document(k, at).await.unwrap();
        assert_eq!(got, want.map(|(ts, v)| doc(k, ts, v)), "snapshot at {at}");
    }
}
