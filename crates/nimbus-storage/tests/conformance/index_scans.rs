//! Index scans: order, bounds, limits, removals and re-adds, snapshots.

use std::ops::Bound::{self, Excluded, Included, Unbounded};

use nimbus_storage::{
    CommitBatch, DocKey, KeyRange, MAX_READ_LIMIT_ROWS, Order, StorageError, TenantStorage,
};

use super::Ctx;
use crate::support::{batch, doc_key, entry};

/// Scans index 1 and returns the keys as strings.
async fn keys(
    s: &dyn TenantStorage,
    range: KeyRange,
    at: u64,
    order: Order,
    limit: usize,
) -> Vec<String> {
    let rows = s.scan_index(1, &range, at, order, limit).await.unwrap();
    rows.into_iter()
        .map(|(k, _)| String::from_utf8(k).unwrap())
        .collect()
}

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn range(start: Bound<&str>, end: Bound<&str>) -> KeyRange {
    KeyRange::new(start.map(b), end.map(b))
}

pub async fn orders_bounds_limits(ctx: &Ctx<'_>, name: String) {
    let s = ctx.open(&name).await;
    let names = ["a", "b", "ba", "c", "d"];
    let mut entries: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, n)| entry(1, n.as_bytes(), 10, Some(doc_key(1, i as u64))))
        .collect();
    // Another index with the same keys must not leak into index 1.
    entries.push(entry(2, b"b", 10, Some(doc_key(9, 9))));
    s.commit(CommitBatch {
        index_entries: entries,
        ..batch(10)
    })
    .await
    .unwrap();

    let all = keys(&*s, KeyRange::all(), 10, Order::Asc, 100).await;
    assert_eq!(all, names);
    let rows = s
        .scan_index(1, &KeyRange::all(), 10, Order::Asc, 100)
        .await
        .unwrap();
    assert_eq!(
        rows[1],
        (b("b"), doc_key(1, 1)),
        "scan returns the document key"
    );
    assert_eq!(
        keys(&*s, KeyRange::all(), 10, Order::Desc, 100).await,
        ["d", "c", "ba", "b", "a"]
    );
    assert_eq!(
        keys(&*s, KeyRange::all(), 10, Order::Asc, 2).await,
        ["a", "b"]
    );
    assert_eq!(
        keys(&*s, KeyRange::all(), 10, Order::Desc, 2).await,
        ["d", "c"]
    );
    assert!(
        keys(&*s, KeyRange::all(), 10, Order::Asc, 0)
            .await
            .is_empty()
    );
    assert!(
        keys(&*s, KeyRange::all(), 9, Order::Asc, 100)
            .await
            .is_empty(),
        "before the commit"
    );

    let cases: [(Bound<&str>, Bound<&str>, &[&str]); 9] = [
        (Included("b"), Included("c"), &["b", "ba", "c"]),
        (Excluded("b"), Included("c"), &["ba", "c"]),
        (Included("b"), Excluded("c"), &["b", "ba"]),
        (Excluded("b"), Excluded("c"), &["ba"]),
        (Unbounded, Excluded("b"), &["a"]),
        (Excluded("ba"), Unbounded, &["c", "d"]),
        (Included("bb"), Included("bz"), &[]),
        (Included("c"), Included("b"), &[]),
        (Included("b"), Excluded("b"), &[]),
    ];
    for (start, end, want) in cases {
        let asc = keys(&*s, range(start, end), 10, Order::Asc, 100).await;
        assert_eq!(asc, want, "asc {start:?}..{end:?}");
        let mut desc = keys(&*s, range(start, end), 10, Order::Desc, 100).await;
        desc.reverse();
        assert_eq!(desc, want, "desc {start:?}..{end:?}");
    }
    // Limits apply after the range: the first/last matching keys.
    assert_eq!(
        keys(&*s, range(Excluded("a"), Unbounded), 10, Order::Asc, 2).await,
        ["b", "ba"]
    );
    assert_eq!(
        keys(&*s, range(Unbounded, Excluded("d")), 10, Order::Desc, 2).await,
        ["c", "ba"]
    );
}

/// The index keys a commit sets (`Some`) or removes (`None`).
type Changes = Vec<(&'static str, Option<DocKey>)>;

pub async fn removals_and_readds(ctx: &Ctx<'_>, name: String) {
    let s = ctx.open(&name).await;
    let (d1, d2) = (doc_key(1, 1), doc_key(1, 2));
    let commits: [(u64, Changes); 4] = [
        (
            10,
            vec![("k1", Some(d1)), ("k2", Some(d2)), ("k3", Some(d1))],
        ),
        (20, vec![("k2", None)]),
        (30, vec![("k2", Some(d1)), ("k1", None)]),
        (40, vec![("k3", None)]),
    ];
    for (ts, changes) in commits {
        let entries = changes
            .into_iter()
            .map(|(k, d)| entry(1, k.as_bytes(), ts, d))
            .collect();
        s.commit(CommitBatch {
            index_entries: entries,
            ..batch(ts)
        })
        .await
        .unwrap();
    }
    for order in [Order::Asc, Order::Desc] {
        let at = |ts| keys(&*s, KeyRange::all(), ts, order, 100);
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        assert_eq!(sorted(at(10).await), ["k1", "k2", "k3"]);
        assert_eq!(sorted(at(20).await), ["k1", "k3"], "removal hides the key");
        assert_eq!(sorted(at(29).await), ["k1", "k3"]);
        assert_eq!(sorted(at(30).await), ["k2", "k3"], "re-added key is back");
        assert_eq!(sorted(at(40).await), ["k2"]);
        // A limit counts only visible keys, not removed ones.
        assert_eq!(at(40).await.len(), 1);
    }
    let rows = s
        .scan_index(1, &KeyRange::all(), 30, Order::Asc, 1)
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![(b("k2"), d1)],
        "re-added key points at its new document"
    );
    assert!(
        s.scan_index(1, &KeyRange::all(), 10, Order::Asc, 1)
            .await
            .unwrap()[0]
            .0
            == b("k1")
    );
}

pub async fn limit_checks(ctx: &Ctx<'_>, name: String) {
    let s = ctx.open(&name).await;
    let too_many = MAX_READ_LIMIT_ROWS + 1;
    let err = s
        .scan_index(1, &KeyRange::all(), 1, Order::Asc, too_many)
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::LimitTooLarge { .. }), "{err}");
    let err = s.journal_after(0, too_many).await.unwrap_err();
    assert!(matches!(err, StorageError::LimitTooLarge { .. }), "{err}");
    assert!(
        s.scan_index(1, &KeyRange::all(), 1, Order::Asc, MAX_READ_LIMIT_ROWS)
            .await
            .unwrap()
            .is_empty()
    );
}
