//! Every bound the engine enforces, as one documented settings struct.

use std::time::Duration;

/// Per-tenant engine limits. Defaults follow Convex's published transaction limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineLimits {
    /// Documents one transaction may read (every document a scan touches counts).
    pub documents_read_max: u64,
    /// Bytes of documents one transaction may read.
    pub bytes_read_max: u64,
    /// Documents one transaction may write.
    pub documents_written_max: u64,
    /// Bytes of documents one transaction may write.
    pub bytes_written_max: u64,
    /// Index ranges one transaction may read (bounds the read set).
    pub read_ranges_max: usize,
    /// Fields one index may declare.
    pub index_fields_max: usize,
    /// Indexes one table may declare.
    pub indexes_per_table_max: usize,
    /// How many attempts `run_mutation` makes before reporting a conflict.
    pub occ_attempts_max: u32,
    /// Backoff before the first retry; doubled each attempt.
    pub occ_backoff_initial: Duration,
    /// Recent commits kept for conflict checks; older snapshots must re-run.
    pub conflict_window_commits: usize,
    /// Rows fetched from storage per query page.
    pub scan_page_rows: usize,
    /// Documents per backfill transaction when an index is added.
    pub backfill_chunk_documents: usize,
}

impl Default for EngineLimits {
    fn default() -> Self {
        Self {
            documents_read_max: 32_000,
            bytes_read_max: 16 * 1024 * 1024,
            documents_written_max: 16_000,
            bytes_written_max: 16 * 1024 * 1024,
            read_ranges_max: 4_096,
            index_fields_max: 16,
            indexes_per_table_max: 32,
            occ_attempts_max: 8,
            occ_backoff_initial: Duration::from_millis(2),
            conflict_window_commits: 65_536,
            scan_page_rows: 128,
            backfill_chunk_documents: 1_000,
        }
    }
}
