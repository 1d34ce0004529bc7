//! The heap limit, enforced by the allocator itself.
//!
//! QuickJS's own memory limit makes an allocation fail with a *catchable* "out of memory"
//! error, and code that catches it keeps running in a context that may be half-broken. Here the
//! limit lives in the allocator instead: the failing allocation also trips the isolate's
//! interrupt, so the invocation is terminated at the next poll whatever the code does, and the
//! isolate is poisoned (never reused).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rquickjs::allocator::{Allocator, RustAllocator};

use crate::isolate::state::{Interrupt, InterruptReason};

/// Counts live bytes and refuses allocations past `limit_bytes`. The count is shared with the
/// isolate, which reads it after every invocation: asking QuickJS instead
/// (`JS_ComputeMemoryUsage`) walks the whole heap and cost a tenth of a warm request's CPU.
pub(crate) struct LimitedAllocator {
    inner: RustAllocator,
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
            inner: RustAllocator,
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

// SAFETY: every method forwards to `RustAllocator` (a correct allocator) and only adds
// bookkeeping; pointers handed out are exactly the ones `RustAllocator` returned.
unsafe impl Allocator for LimitedAllocator {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        if self.used_bytes().saturating_add(size) > self.limit_bytes {
            return self.refuse();
        }
        let ptr = self.inner.alloc(size);
        if !ptr.is_null() {
            // SAFETY: `ptr` was just returned by `RustAllocator::alloc`.
            self.set_used_bytes(self.used_bytes() + unsafe { RustAllocator::usable_size(ptr) });
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
        let ptr = self.inner.calloc(count, size);
        if !ptr.is_null() {
            // SAFETY: `ptr` was just returned by `RustAllocator::calloc`.
            self.set_used_bytes(self.used_bytes() + unsafe { RustAllocator::usable_size(ptr) });
        }
        ptr
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8) {
        if ptr.is_null() {
            return;
        }
        // SAFETY: QuickJS only frees pointers this allocator returned.
        unsafe {
            self.set_used_bytes(
                self.used_bytes()
                    .saturating_sub(RustAllocator::usable_size(ptr)),
            );
            self.inner.dealloc(ptr);
        }
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, new_size: usize) -> *mut u8 {
        if ptr.is_null() {
            return self.alloc(new_size);
        }
        // SAFETY: `ptr` came from this allocator (QuickJS contract).
        let old_size = unsafe { RustAllocator::usable_size(ptr) };
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
        let new_ptr = unsafe { self.inner.realloc(ptr, new_size) };
        if !new_ptr.is_null() {
            // SAFETY: `new_ptr` was just returned by `RustAllocator::realloc`.
            let new_usable = unsafe { RustAllocator::usable_size(new_ptr) };
            self.set_used_bytes(self.used_bytes().saturating_sub(old_size) + new_usable);
        }
        new_ptr
    }

    unsafe fn usable_size(ptr: *mut u8) -> usize {
        // SAFETY: forwarded contract.
        unsafe { RustAllocator::usable_size(ptr) }
    }
}
