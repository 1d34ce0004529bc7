//! The heap limit, enforced by the allocator itself.
//!
//! QuickJS's own memory limit makes an allocation fail with a *catchable* "out of memory"
//! error, and code that catches it keeps running in a context that may be half-broken. Here the
//! limit lives in the allocator instead: the failing allocation also trips the isolate's
//! interrupt, so the invocation is terminated at the next poll whatever the code does, and the
//! isolate is poisoned (never reused).
//!
//! Blocks come straight from the C allocator, as in QuickJS's own default: rquickjs's
//! `RustAllocator` prefixes every block with a 16-byte size header (Rust's `dealloc` needs the
//! layout), and an idle isolate holds thousands of small blocks, so the header alone cost
//! about a fifth of its memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rquickjs::allocator::Allocator;

use crate::isolate::state::{Interrupt, InterruptReason};

/// Counts live bytes and refuses allocations past `limit_bytes`. The count is shared with the
/// isolate, which reads it after every invocation: asking QuickJS instead
/// (`JS_ComputeMemoryUsage`) walks the whole heap and cost a tenth of a warm request's CPU.
pub(crate) struct LimitedAllocator {
    used: Arc<AtomicUsize>,
    limit_bytes: usize,
    interrupt: Arc<Interrupt>,
}

impl LimitedAllocator {
    pub(crate) fn new(
        limit_bytes: usize,
        interrupt: Arc<Interrupt>,
        used: Arc<AtomicUsize>,
    ) -> Self {
        used.store(0, Ordering::Relaxed);
        Self {
            used,
            limit_bytes,
            interrupt,
        }
    }

    // Only the isolate's own thread allocates; the atomic is for the isolate to read the count.
    fn used_bytes(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn set_used_bytes(&self, bytes: usize) {
        self.used.store(bytes, Ordering::Relaxed);
    }

    fn refuse(&self) -> *mut u8 {
        self.interrupt.trip(InterruptReason::OutOfMemory);
        std::ptr::null_mut()
    }
}

/// The C allocator's usable size of a block it returned.
///
/// # Safety
/// `ptr` must be a live block from `malloc`/`calloc`/`realloc`.
unsafe fn block_size(ptr: *mut u8) -> usize {
    #[cfg(target_os = "macos")]
    // SAFETY: forwarded contract.
    unsafe {
        libc::malloc_size(ptr.cast())
    }
    #[cfg(not(target_os = "macos"))]
    // SAFETY: forwarded contract.
    unsafe {
        libc::malloc_usable_size(ptr.cast())
    }
}

// SAFETY: every method forwards to the C allocator (which aligns blocks for any type, as
// QuickJS requires) and only adds bookkeeping; pointers handed out are exactly the ones it
// returned, and only those are freed or resized.
unsafe impl Allocator for LimitedAllocator {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        if self.used_bytes().saturating_add(size) > self.limit_bytes {
            return self.refuse();
        }
        // SAFETY: plain malloc; a null result is passed on to QuickJS, which handles it.
        let ptr = unsafe { libc::malloc(size.max(1)) }.cast::<u8>();
        if !ptr.is_null() {
            // SAFETY: `ptr` was just returned by malloc.
            self.set_used_bytes(self.used_bytes() + unsafe { block_size(ptr) });
        }
        ptr
    }

    fn calloc(&mut self, count: usize, size: usize) -> *mut u8 {
        let Some(total) = count.checked_mul(size) else {
            return std::ptr::null_mut();
        };
        if self.used_bytes().saturating_add(total) > self.limit_bytes {
            return self.refuse();
        }
        // SAFETY: plain calloc (it checks the multiplication again).
        let ptr = unsafe { libc::calloc(count.max(1), size.max(1)) }.cast::<u8>();
        if !ptr.is_null() {
            // SAFETY: `ptr` was just returned by calloc.
            self.set_used_bytes(self.used_bytes() + unsafe { block_size(ptr) });
        }
        ptr
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8) {
        if ptr.is_null() {
            return;
        }
        // SAFETY: QuickJS only frees pointers this allocator returned.
        unsafe {
            self.set_used_bytes(self.used_bytes().saturating_sub(block_size(ptr)));
            libc::free(ptr.cast());
        }
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, new_size: usize) -> *mut u8 {
        if ptr.is_null() {
            return self.alloc(new_size);
        }
        if new_size == 0 {
            // C's realloc(ptr, 0): the block is freed.
            // SAFETY: `ptr` came from this allocator (QuickJS contract).
            unsafe { self.dealloc(ptr) };
            return std::ptr::null_mut();
        }
        // SAFETY: `ptr` came from this allocator (QuickJS contract).
        let old_size = unsafe { block_size(ptr) };
        if new_size > old_size
            && self
                .used_bytes()
                .saturating_sub(old_size)
                .saturating_add(new_size)
                > self.limit_bytes
        {
            return self.refuse();
        }
        // SAFETY: as above; on failure the old block stays valid and accounted.
        let new_ptr = unsafe { libc::realloc(ptr.cast(), new_size) }.cast::<u8>();
        if !new_ptr.is_null() {
            // SAFETY: `new_ptr` was just returned by realloc.
            let new_usable = unsafe { block_size(new_ptr) };
            self.set_used_bytes(self.used_bytes().saturating_sub(old_size) + new_usable);
        }
        new_ptr
    }

    unsafe fn usable_size(ptr: *mut u8) -> usize {
        // SAFETY: forwarded contract.
        unsafe { block_size(ptr) }
    }
}
