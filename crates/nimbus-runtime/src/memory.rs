//! Giving freed memory back to the operating system.
//!
//! Dropping idle isolates (and, in the server, idle tenants) frees many small blocks that the
//! C allocator would otherwise keep mapped for reuse, so the process's RSS would stay at its
//! high-water mark. `malloc_trim` returns the free pages; it is glibc's, so elsewhere this
//! does nothing.

/// Returns free heap pages to the operating system (glibc; a no-op elsewhere).
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it is safe to call at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
