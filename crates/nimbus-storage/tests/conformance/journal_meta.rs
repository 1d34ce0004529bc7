//! The journal, catalog metadata, and all-or-nothing visibility of one commit.

use nimbus_storage::{CommitBatch, KeyRange, Order};

use super::Ctx;
use crate::support::{batch, doc, doc_key, entry};

pub async fn journal_after(ctx: &Ctx<'_>, name: String) {
    let s = ctx.open(&name).await;
    assert!(s.journal_after(0, 10).await.unwrap().is_empty());
    for ts in [3, 5, 8, 13] {
        s.commit(CommitBatch {
            journal: format!("j{ts}").into_bytes(),
            ..batch(ts)
        })
        .await
        .unwrap();
    }
    // A commit with an empty payload still has its journal entry.
    s.commit(CommitBatch {
        journal: Vec::new(),
        ..batch(21)
    })
    .await
    .unwrap();
    let ts_after = |after, limit| {
        let s = &s;
        async move {
            s.journal_after(after, limit)
                .await
                .unwrap()
                .iter()
                .map(|e| e.ts)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(ts_after(0, 100).await, [3, 5, 8, 13, 21]);
    assert_eq!(ts_after(5, 100).await, [8, 13, 21], "strictly after");
    assert_eq!(ts_after(4, 2).await, [5, 8]);
    assert_eq!(ts_after(21, 100).await, Vec::<u64>::new());
    assert_eq!(ts_after(u64::MAX, 100).await, Vec::<u64>::new());
    assert!(ts_after(0, 0).await.is_empty());
    let entries = s.journal_after(7, 2).await.unwrap();
    assert_eq!(entries[0].payload, b"j8");
    assert_eq!(entries[1].payload, b"j13");
    assert_eq!(s.journal_after(13, 1).await.unwrap()[0].payload, b"");
}

pub async fn meta_put_delete_scan(ctx: &Ctx<'_>, name: String) {
    let s = ctx.open(&name).await;
    let put = |k: &str, v: &str| (k.to_owned(), Some(v.as_bytes().to_vec()));
    let del = |k: &str| (k.to_owned(), None);
    let meta = vec![
        put("table/users", "1"),
        put("table/posts", "2"),
        put("table_x", "underscore"),
        put("table%", "percent"),
        put("tablez", "z"),
        put("index/users/by_name", "3"),
        put("", "empty key"),
        put("twice", "first"),
        put("twice", "second"),
        put("gone", "soon"),
        del("gone"),
        del("never-existed"),
    ];
    s.commit(CommitBatch { meta, ..batch(1) }).await.unwrap();
    let get = |k: &'static str| {
        let s = &s;
        async move {
            s.meta_get(k)
                .await
                .unwrap()
                .map(|v| String::from_utf8(v).unwrap())
        }
    };
    assert_eq!(get("table/users").await.as_deref(), Some("1"));
    assert_eq!(
        get("twice").await.as_deref(),
        Some("second"),
        "last write in a batch wins"
    );
    assert_eq!(get("gone").await, None, "put then delete in one batch");
    assert_eq!(get("").await.as_deref(), Some("empty key"));
    assert_eq!(get("missing").await, None);
    let scan = |prefix: &'static str| {
        let s = &s;
        async move {
            s.meta_scan(prefix)
                .await
                .unwrap()
                .into_iter()
                .map(|(k, _)| k)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(scan("table/").await, ["table/posts", "table/users"]);
    assert_eq!(scan("table_").await, ["table_x"], "'_' is not a wildcard");
    assert_eq!(scan("table%").await, ["table%"], "'%' is not a wildcard");
    assert_eq!(
        scan("table").await,
        ["table%", "table/posts", "table/users", "table_x", "tablez"]
    );
    assert_eq!(scan("nothing").await, Vec::<String>::new());
    assert_eq!(scan("").await.len(), 8);
    let values = s.meta_scan("index/").await.unwrap();
    assert_eq!(
        values,
        vec![("index/users/by_name".to_owned(), b"3".to_vec())]
    );

    s.commit(CommitBatch {
        meta: vec![del("table/users"), put("table/posts", "22")],
        ..batch(2)
    })
    .await
    .unwrap();
    assert_eq!(scan("table/").await, ["table/posts"]);
    assert_eq!(get("table/posts").await.as_deref(), Some("22"));
}

/// Before its ts nothing of a commit is visible; at its ts everything is.
pub async fn commit_is_atomic(ctx: &Ctx<'_>, name: String) {
    let s = ctx.open(&name).await;
    s.commit(batch(10)).await.unwrap();
    let docs: Vec<_> = (0..50)
        .map(|n| doc(doc_key(3, n), 20, Some(b"v")))
        .collect();
    let entries: Vec<_> = (0..50u64)
        .map(|n| entry(1, &n.to_be_bytes(), 20, Some(doc_key(3, n))))
        .collect();
    let meta = (0..10).map(|n| (format!("m/{n}"), Some(vec![1]))).collect();
    s.commit(CommitBatch {
        documents: docs,
        index_entries: entries,
        meta,
        journal: b"big".to_vec(),
        ts: 20,
    })
    .await
    .unwrap();
    for n in 0..50 {
        assert!(s.get_document(doc_key(3, n), 19).await.unwrap().is_none());
        assert!(s.get_document(doc_key(3, n), 20).await.unwrap().is_some());
    }
    assert!(
        s.scan_index(1, &KeyRange::all(), 19, Order::Asc, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.scan_index(1, &KeyRange::all(), 20, Order::Asc, 100)
            .await
            .unwrap()
            .len(),
        50
    );
    assert_eq!(s.journal_after(10, 10).await.unwrap()[0].payload, b"big");
    assert_eq!(s.meta_scan("m/").await.unwrap().len(), 10);
}
