//! The storage conformance suite: every provider must pass these checks unchanged.
//!
//! Each check uses its own tenant(s) named `<prefix>-<check>`, so providers that share a
//! database across runs (PostgreSQL) can run it concurrently; `run_all` drops them at the end.

mod concurrency;
mod documents;
mod index_scans;
mod journal_meta;
mod tenants;
mod timestamps;

use std::future::Future;
use std::sync::Arc;

use nimbus_storage::{Persistence, TenantStorage};

use crate::support::tenant;

/// Runs every check against `p`, printing each check's name so a failure is easy to place.
pub async fn run_all(p: &dyn Persistence, prefix: &str) {
    let ctx = Ctx { p, prefix };
    check(&ctx, "documents-read-back", documents::read_back).await;
    check(&ctx, "documents-snapshots", documents::snapshots).await;
    check(
        &ctx,
        "index-orders-bounds",
        index_scans::orders_bounds_limits,
    )
    .await;
    check(&ctx, "index-removals", index_scans::removals_and_readds).await;
    check(&ctx, "index-limit-checks", index_scans::limit_checks).await;
    check(&ctx, "ts-increasing", timestamps::must_increase).await;
    check(
        &ctx,
        "ts-invalid-batches",
        timestamps::invalid_batches_write_nothing,
    )
    .await;
    check(
        &ctx,
        "ts-bad-in-group",
        timestamps::bad_batch_among_good_ones,
    )
    .await;
    check(&ctx, "journal-after", journal_meta::journal_after).await;
    check(&ctx, "meta", journal_meta::meta_put_delete_scan).await;
    check(&ctx, "atomic", journal_meta::commit_is_atomic).await;
    check(&ctx, "isolation", tenants::isolation_and_drop).await;
    check(&ctx, "concurrent", concurrency::concurrent_writers).await;
    check(&ctx, "reopen", tenants::reopen_sees_data).await;
    for t in p.tenants().await.expect("list tenants") {
        if t.as_str().starts_with(prefix) {
            p.drop_tenant(&t).await.expect("drop test tenant");
        }
    }
}

/// What a check gets: the provider and a way to name its tenants.
pub struct Ctx<'a> {
    pub p: &'a dyn Persistence,
    pub prefix: &'a str,
}

impl Ctx<'_> {
    /// Opens (creating) the tenant `<prefix>-<suffix>`.
    pub async fn open(&self, suffix: &str) -> Arc<dyn TenantStorage> {
        let name = tenant(&format!("{}-{suffix}", self.prefix));
        self.p.open_tenant(&name).await.expect("open tenant")
    }
}

async fn check<'a, F, Fut>(ctx: &'a Ctx<'a>, name: &str, f: F)
where
    F: FnOnce(&'a Ctx<'a>, String) -> Fut,
    Fut: Future<Output = ()> + 'a,
{
    eprintln!("[{}] conformance check {name}", ctx.p.kind());
    f(ctx, name.to_owned()).await;
}
