//! The engine's behaviour checks, run unchanged against every storage provider by
//! `engine_conformance.rs`.

#![allow(dead_code, reason = "shared between test binaries")]

pub mod crud;
pub mod isolation;
pub mod occ;
pub mod queries;
pub mod schema;
pub mod subscriptions;

use crate::support::Provider;

/// Runs every check against `provider`.
pub async fn run_all(provider: &Provider) {
    crud::insert_get_patch_replace_delete(provider).await;
    crud::reserved_fields_and_missing_documents_are_rejected(provider).await;
    crud::the_journal_lists_commits_in_order(provider).await;
    occ::lost_update_is_rejected(provider).await;
    occ::write_skew_is_rejected(provider).await;
    occ::phantom_insert_into_a_read_range_is_rejected(provider).await;
    occ::disjoint_transactions_both_commit(provider).await;
    occ::concurrent_increments_all_land(provider).await;
    queries::index_ranges_order_filters_and_limits(provider).await;
    queries::pagination_is_stable_across_concurrent_inserts(provider).await;
    queries::reads_see_the_transactions_own_writes(provider).await;
    queries::a_rollback_to_a_savepoint_undoes_exactly_the_later_writes(provider).await;
    schema::new_indexes_are_backfilled(provider).await;
    schema::validation_rejects_bad_writes_and_bad_schema_changes(provider).await;
    subscriptions::invalidation_is_precise(provider).await;
    subscriptions::late_subscribers_catch_up(provider).await;
    subscriptions::changed_between_is_exact_up_to_the_snapshot(provider).await;
    subscriptions::abandoned_commits_never_hold_the_snapshot_back(provider).await;
    isolation::tenants_cannot_see_each_other(provider).await;
    provider.cleanup().await;
}
