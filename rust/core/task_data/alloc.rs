//! The blob allocator behind PMU task data. In the kernel `alloc_perf_ctx_data()` takes the blob
//! from the PMU's `task_ctx_cache` (`kmem_cache_zalloc()`), and before 217c2a633ebb from
//! `kzalloc(task_ctx_size)`; facts: spec/task-data-slab-page-size.md A.1, A.4. This module keeps
//! that allocator behind the narrow [`TaskDataAlloc`] trait so the slab `KmemCache` (or a kmalloc
//! model) can be plugged in; [`StdBlobAlloc`] is the stand-in used by tests and benches.

use crate::{Errno, Error, Result};
use std::alloc::Layout;
use std::collections::HashSet;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Address of one PMU blob (`perf_ctx_data::data`). A plain address: it owns nothing by itself;
/// the allocator that produced it is the only one that may free it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BlobPtr(NonNull<u8>);

// SAFETY: a BlobPtr is an address of allocator-owned memory; moving the address between threads
// is harmless. Every dereference goes through `unsafe` code that states its own exclusivity
// argument (the blob is only touched by its task's context-switch path).
unsafe impl Send for BlobPtr {}
// SAFETY: see `Send`; sharing the address gives no access by itself.
unsafe impl Sync for BlobPtr {}

impl BlobPtr {
    /// Wrap a non-null address.
    pub fn new(p: NonNull<u8>) -> Self {
        BlobPtr(p)
    }
    /// The raw address.
    pub fn as_ptr(self) -> *mut u8 {
        self.0.as_ptr()
    }
    /// The address as an integer (what the model uses as an identity, e.g. LBR last owner).
    pub fn addr(self) -> usize {
        self.0.as_ptr() as usize
    }
}

/// Counters of a blob allocator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllocStats {
    /// Successful allocations so far.
    pub allocs: u64,
    /// Frees so far.
    pub frees: u64,
    /// Allocation attempts that failed (ENOMEM).
    pub failures: u64,
    /// Objects currently allocated (`allocs - frees`).
    pub live: u64,
    /// Bytes currently allocated as the allocator accounts them (`live * object_size` for a
    /// plain allocator; slab pages for a slab).
    pub live_bytes: u64,
}

/// An allocator of zeroed, aligned, fixed-size PMU blobs (`pmu->task_ctx_cache`).
pub trait TaskDataAlloc: Send + Sync {
    /// A short name (`"x86_lbr"`, `"std"`...).
    fn name(&self) -> &str;
    /// Allocate one zeroed object for `cpu` (models `kmem_cache_zalloc()`); ENOMEM on failure.
    fn alloc_zeroed(&self, cpu: u32) -> Result<BlobPtr>;
    /// Free an object previously returned by [`TaskDataAlloc::alloc_zeroed`] of this allocator.
    ///
    /// # Safety
    /// `ptr` must come from this allocator and must not be freed twice or used afterwards.
    unsafe fn free(&self, ptr: BlobPtr, cpu: u32);
    /// Object size in bytes (`kmem_cache::object_size`).
    fn object_size(&self) -> usize;
    /// Guaranteed alignment of every object.
    fn align(&self) -> usize;
    /// Current counters.
    fn stats(&self) -> AllocStats;
}

/// Test/bench stand-in for the slab cache: `std::alloc::alloc_zeroed` with a fixed layout.
/// Optionally checked (remembers live addresses so a double or foreign free panics) and with
/// failure injection (the n-th allocation fails) to exercise the ENOMEM paths.
#[derive(Debug)]
pub struct StdBlobAlloc {
    layout: Layout,
    name: String,
    allocs: AtomicU64,
    frees: AtomicU64,
    failures: AtomicU64,
    /// Fail the allocation whose 0-based attempt number equals this (u64::MAX: never).
    fail_at: AtomicU64,
    attempts: AtomicU64,
    live_set: Option<Mutex<HashSet<usize>>>,
}

impl StdBlobAlloc {
    /// An unchecked allocator of `size`-byte objects aligned to `align` (a power of two).
    pub fn new(size: usize, align: usize) -> Result<Self> {
        Self::build(size, align, false)
    }

    /// Like [`StdBlobAlloc::new`], but every free is checked against the set of live objects:
    /// a double free or a foreign pointer panics (tests use this as their oracle).
    pub fn checked(size: usize, align: usize) -> Result<Self> {
        Self::build(size, align, true)
    }

    fn build(size: usize, align: usize, checked: bool) -> Result<Self> {
        if size == 0 {
            return Err(Error::perf(Errno::EINVAL, "blob size 0: object_size must be > 0"));
        }
        if !align.is_power_of_two() {
            return Err(Error::perf(Errno::EINVAL, format!("blob align {align} is not a power of two")));
        }
        let layout = Layout::from_size_align(size, align)
            .map_err(|_| Error::perf(Errno::EINVAL, format!("blob size {size} align {align} is too large")))?;
        Ok(StdBlobAlloc {
            layout,
            name: "std".into(),
            allocs: AtomicU64::new(0),
            frees: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            fail_at: AtomicU64::new(u64::MAX),
            attempts: AtomicU64::new(0),
            live_set: checked.then(|| Mutex::new(HashSet::new())),
        })
    }

    /// For a checked allocator: whether `addr` is a live object of this allocator (None when
    /// unchecked). Tests use it to prove a reader never holds freed memory.
    pub fn is_live(&self, addr: usize) -> Option<bool> {
        self.live_set.as_ref().map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).contains(&addr))
    }

    /// Make the allocation attempt number `n` (0-based, counted from now on) fail with ENOMEM.
    pub fn fail_nth(&self, n: u64) {
        self.attempts.store(0, Ordering::SeqCst);
        self.fail_at.store(n, Ordering::SeqCst);
    }
}

impl TaskDataAlloc for StdBlobAlloc {
    fn name(&self) -> &str {
        &self.name
    }

    fn alloc_zeroed(&self, _cpu: u32) -> Result<BlobPtr> {
        let attempt = self.attempts.fetch_add(1, Ordering::SeqCst);
        if attempt == self.fail_at.load(Ordering::SeqCst) {
            self.failures.fetch_add(1, Ordering::Relaxed);
            return Err(Error::perf(Errno::ENOMEM, "task_ctx_cache: blob allocation failed"));
        }
        // SAFETY: the layout has a non-zero size (checked in `build`).
        let p = unsafe { std::alloc::alloc_zeroed(self.layout) };
        let Some(p) = NonNull::new(p) else {
            self.failures.fetch_add(1, Ordering::Relaxed);
            return Err(Error::perf(Errno::ENOMEM, "task_ctx_cache: out of memory"));
        };
        if let Some(set) = &self.live_set {
            set.lock().unwrap_or_else(|e| e.into_inner()).insert(p.as_ptr() as usize);
        }
        self.allocs.fetch_add(1, Ordering::Relaxed);
        Ok(BlobPtr(p))
    }

    unsafe fn free(&self, ptr: BlobPtr, _cpu: u32) {
        if let Some(set) = &self.live_set {
            let was_live = set.lock().unwrap_or_else(|e| e.into_inner()).remove(&ptr.addr());
            assert!(was_live, "StdBlobAlloc: double or foreign free of {:#x}", ptr.addr());
        }
        self.frees.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller guarantees `ptr` came from `alloc_zeroed` of this allocator (same
        // layout) and is freed once.
        unsafe { std::alloc::dealloc(ptr.as_ptr(), self.layout) };
    }

    fn object_size(&self) -> usize {
        self.layout.size()
    }

    fn align(&self) -> usize {
        self.layout.align()
    }

    fn stats(&self) -> AllocStats {
        let allocs = self.allocs.load(Ordering::Relaxed);
        let frees = self.frees.load(Ordering::Relaxed);
        let live = allocs.saturating_sub(frees);
        AllocStats {
            allocs,
            frees,
            failures: self.failures.load(Ordering::Relaxed),
            live,
            live_bytes: live * self.layout.size() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_zeroed_aligned_and_counted() {
        let a = StdBlobAlloc::checked(1512, 64).unwrap();
        let ps: Vec<_> = (0..8).map(|_| a.alloc_zeroed(0).unwrap()).collect();
        for p in &ps {
            assert_eq!(p.addr() % 64, 0);
            // SAFETY: freshly allocated 1512-byte object, not shared.
            let bytes = unsafe { std::slice::from_raw_parts(p.as_ptr(), 1512) };
            assert!(bytes.iter().all(|&b| b == 0));
        }
        assert_eq!(a.stats().live, 8);
        assert_eq!(a.stats().live_bytes, 8 * 1512);
        for p in ps {
            // SAFETY: each pointer came from `a` and is freed once.
            unsafe { a.free(p, 0) };
        }
        assert_eq!(a.stats(), AllocStats { allocs: 8, frees: 8, failures: 0, live: 0, live_bytes: 0 });
    }

    #[test]
    #[should_panic(expected = "double or foreign free")]
    fn checked_allocator_catches_double_free() {
        let a = StdBlobAlloc::checked(64, 8).unwrap();
        let p = a.alloc_zeroed(0).unwrap();
        // SAFETY: the first free is legitimate; the second is the bug under test, and the
        // checked allocator panics before touching memory.
        unsafe {
            a.free(p, 0);
            a.free(p, 0);
        }
    }

    #[test]
    fn bad_layouts_and_injected_failures_are_errors() {
        assert!(StdBlobAlloc::new(0, 8).is_err());
        assert!(StdBlobAlloc::new(64, 48).is_err());
        let a = StdBlobAlloc::new(64, 8).unwrap();
        a.fail_nth(1);
        let p = a.alloc_zeroed(0).unwrap();
        let e = a.alloc_zeroed(0).unwrap_err();
        assert!(e.to_string().contains("ENOMEM"), "{e}");
        assert_eq!(a.stats().failures, 1);
        // SAFETY: from `a`, freed once.
        unsafe { a.free(p, 0) };
    }
}
