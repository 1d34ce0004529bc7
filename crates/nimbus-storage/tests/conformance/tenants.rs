//! Tenant isolation, listing, dropping and reopening.

use nimbus_storage::{KeyRange, Order, StorageError};

use super::Ctx;
use crate::support::{doc_key, standard_batch, tenant};

pub async fn isolation_and_drop(ctx: &Ctx<'_>, name: String) {
    let (a, b) = (
        ctx.open(&format!("{name}-a")).await,
        ctx.open(&format!("{name}-b")).await,
    );
    // Identical keys, different values.
    let mut in_b = standard_batch(1);
    in_b.documents[0].value = Some(b"b".to_vec());
    in_b.meta[0].1 = Some(b"b".to_vec());
    a.commit(standard_batch(1)).await.unwrap();
    b.commit(in_b).await.unwrap();
    a.commit(standard_batch(2)).await.unwrap();
    let k = doc_key(1, 1);
    assert_eq!(
        a.get_document(k, 9).await.unwrap().unwrap().value.unwrap(),
        1u64.to_le_bytes()
    );
    assert_eq!(
        b.get_document(k, 9).await.unwrap().unwrap().value.unwrap(),
        b"b"
    );
    assert_eq!(
        b.get_document(doc_key(1, 2), 9).await.unwrap(),
        None,
        "a's commit is not in b"
    );
    assert_eq!(
        b.scan_index(1, &KeyRange::all(), 9, Order::Asc, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(b.journal_after(0, 10).await.unwrap().len(), 1);
    assert_eq!(b.meta_get("last").await.unwrap().unwrap(), b"b");
    assert_eq!(b.max_ts().await.unwrap(), Some(1));

    let (ta, tb) = (
        tenant(&format!("{}-{name}-a", ctx.prefix)),
        tenant(&format!("{}-{name}-b", ctx.prefix)),
    );
    let listed = ctx.p.tenants().await.unwrap();
    assert!(listed.contains(&ta) && listed.contains(&tb), "{listed:?}");
    assert!(
        listed.windows(2).all(|w| w[0] < w[1]),
        "tenants are sorted: {listed:?}"
    );

    ctx.p.drop_tenant(&ta).await.unwrap();
    ctx.p.drop_tenant(&ta).await.unwrap(); // Dropping twice is fine.
    let listed = ctx.p.tenants().await.unwrap();
    assert!(!listed.contains(&ta) && listed.contains(&tb), "{listed:?}");
    let err = a.commit(standard_batch(3)).await.unwrap_err();
    assert!(
        matches!(err, StorageError::Closed { .. }),
        "old handle after drop: {err}"
    );
    assert!(matches!(
        a.max_ts().await.unwrap_err(),
        StorageError::Closed { .. }
    ));
    // b is untouched, and a reopened `a` starts empty.
    assert_eq!(
        b.get_document(k, 9).await.unwrap().unwrap().value.unwrap(),
        b"b"
    );
    let a = ctx.p.open_tenant(&ta).await.unwrap();
    assert_eq!(a.max_ts().await.unwrap(), None);
    assert_eq!(a.get_document(k, 9).await.unwrap(), None);
    a.commit(standard_batch(1)).await.unwrap();
}

pub async fn reopen_sees_data(ctx: &Ctx<'_>, name: String) {
    let s = ctx.open(&name).await;
    s.commit(standard_batch(1)).await.unwrap();
    drop(s);
    let again = ctx.open(&name).await;
    assert_eq!(again.max_ts().await.unwrap(), Some(1));
    again.commit(standard_batch(2)).await.unwrap();
}
