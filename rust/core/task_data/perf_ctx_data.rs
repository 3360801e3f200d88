//! Per-task PMU data in the 6.15+ design: `task_struct::perf_ctx_data`, a refcounted header
//! (`struct perf_ctx_data`) pointing at a PMU blob, published lock-free and freed after an RCU
//! grace period. Models alloc_perf_ctx_data(), free_perf_ctx_data(), perf_free_ctx_data_rcu(),
//! attach_task_ctx_data() and detach_task_ctx_data() in kernel/events/core.c (6.15 with
//! 4960626f956d); facts: spec/task-data-slab-page-size.md A.4.
//!
//! Task slots: [`TaskDataTable`] is a fixed-capacity array indexed by a task index (`u32`); each
//! slot is the task's `perf_ctx_data` pointer (an `AtomicPtr` to a boxed [`PerfCtxData`]) plus
//! its life state (alive / `PF_EXITING` / dead). Pointers are the point here: the protocol is a
//! compare-and-exchange on exactly this pointer, and readers dereference it under a read guard.
//!
//! RCU model: readers (the context switch) hold an [`RcuReadGuard`] (`rcu_read_lock()`); an
//! unpublished object goes on a deferred list; [`TaskDataTable::synchronize`] is the grace
//! period: it takes the deferred batch, waits for every reader (write side of a rwlock) and only
//! then frees the batch. Objects that were never published are freed directly.

use super::alloc::{BlobPtr, TaskDataAlloc};
use super::sync::{self, AtomicPtr, AtomicU32, Mutex, RwLock, RwLockReadGuard};
use crate::{Error, Result};
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;

/// `sizeof(struct perf_ctx_data)` on LP64: rcu_head 16 + refcount 4 + global 4 + cache 8 +
/// data 8 (spec A.4 [calc]).
pub const PERF_CTX_DATA_SIZE: usize = 40;
/// The kmalloc class that serves the 40-byte header (`kzalloc` → kmalloc-64).
pub const PERF_CTX_DATA_KMALLOC: usize = 64;

/// Task life states of a slot.
const UNUSED: u32 = 0;
const ALIVE: u32 = 1;
/// `PF_EXITING` set: `perf_event_exit_task()` has begun.
const EXITING: u32 = 2;
const DEAD: u32 = 3;

/// How `attach_global_ctx_data()` walks the threads after allocating for one of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GlobalWalk {
    /// v6.15: restart the whole `for_each_process_thread` walk after every allocation (O(N²)).
    Restart,
    /// Continue after the thread just served (one pass; what the 2026 follow-ups aim at).
    SinglePass,
}

/// One `struct perf_ctx_data`: the header the task points at.
pub struct PerfCtxData {
    /// Users: per-task events plus at most one global reference.
    pub(super) refcount: AtomicU32,
    /// 1 while this object holds the single system-wide reference.
    pub(super) global: AtomicU32,
    /// The allocator `data` came from (`ctx_cache`), needed at fork and free.
    pub(super) cache: Arc<dyn TaskDataAlloc>,
    /// The PMU blob.
    pub(super) data: BlobPtr,
    /// CPU the blob was allocated on (passed back to the allocator at free).
    pub(super) cpu: u32,
}

impl PerfCtxData {
    /// Current reference count.
    pub fn refcount(&self) -> u32 {
        self.refcount.load(SeqCst)
    }
    /// Whether this object holds the global reference.
    pub fn is_global(&self) -> bool {
        self.global.load(SeqCst) != 0
    }
    /// The blob's address.
    pub fn blob(&self) -> BlobPtr {
        self.data
    }
    /// The blob's size in bytes.
    pub fn blob_size(&self) -> usize {
        self.cache.object_size()
    }
    /// The allocator the blob came from.
    pub fn cache(&self) -> &Arc<dyn TaskDataAlloc> {
        &self.cache
    }

    /// The blob's bytes, for the task's own context-switch path (LBR save/restore).
    ///
    /// # Safety
    /// The caller must be the only code touching this blob's bytes for the lifetime of the
    /// slice (in the kernel: the CPU switching this task; one task is switched by one CPU at a
    /// time), and must hold the read guard the object was obtained under.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn blob_mut(&self) -> &mut [u8] {
        // SAFETY: `data` points to `object_size()` bytes owned by this header until it is freed,
        // which cannot happen while the caller holds its read guard; exclusivity is the caller's
        // contract.
        unsafe { std::slice::from_raw_parts_mut(self.data.as_ptr(), self.cache.object_size()) }
    }
}

/// `refcount_inc_not_zero()`.
pub(super) fn inc_not_zero(r: &AtomicU32) -> bool {
    let mut cur = r.load(SeqCst);
    loop {
        if cur == 0 {
            return false;
        }
        match r.compare_exchange(cur, cur + 1, SeqCst, SeqCst) {
            Ok(_) => return true,
            Err(v) => cur = v,
        }
    }
}

/// `refcount_dec_not_one()`: decrement unless the count is one; false when it was one.
pub(super) fn dec_not_one(r: &AtomicU32) -> bool {
    let mut cur = r.load(SeqCst);
    loop {
        if cur <= 1 {
            return false;
        }
        match r.compare_exchange(cur, cur - 1, SeqCst, SeqCst) {
            Ok(_) => return true,
            Err(v) => cur = v,
        }
    }
}

/// Outcome of `refcount_dec_and_test()` (the kernel saturates and warns on underflow; the model
/// refuses to go below zero and reports it).
#[derive(PartialEq, Eq)]
pub(super) enum Dec {
    Zero,
    NonZero,
    Underflow,
}

pub(super) fn dec_and_test(r: &AtomicU32) -> Dec {
    let mut cur = r.load(SeqCst);
    loop {
        if cur == 0 {
            return Dec::Underflow;
        }
        match r.compare_exchange(cur, cur - 1, SeqCst, SeqCst) {
            Ok(_) => return if cur == 1 { Dec::Zero } else { Dec::NonZero },
            Err(v) => cur = v,
        }
    }
}

/// A raw header pointer on the deferred-free list.
struct Deferred(*mut PerfCtxData);
// SAFETY: the pointer is an unpublished, uniquely owned header waiting for its grace period;
// only `synchronize` (or drop) frees it, once.
unsafe impl Send for Deferred {}

/// One task's slot.
pub(super) struct Slot {
    pub(super) ptr: AtomicPtr<PerfCtxData>,
    pub(super) state: AtomicU32,
}

/// Counters of a [`TaskDataTable`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskDataStats {
    /// Headers allocated (`kzalloc` of 40 bytes) so far.
    pub headers_allocated: u64,
    /// Headers freed so far (directly or after a grace period).
    pub headers_freed: u64,
    /// Headers currently allocated (published, deferred or in flight).
    pub headers_live: u64,
    /// Unpublished objects waiting for a grace period.
    pub deferred_pending: u64,
    /// Objects freed directly because they were never published.
    pub direct_frees: u64,
    /// Objects freed after a grace period.
    pub rcu_frees: u64,
    /// Grace periods run.
    pub grace_periods: u64,
    /// Decrements that found a zero refcount (the kernel would WARN); must stay 0.
    pub refcount_underflows: u64,
    /// Thread slots visited by global attach/detach walks (shows the O(N²) restart walk).
    pub walk_visits: u64,
    /// Current `global_ctx_data_ref`.
    pub global_ref: u32,
}

#[derive(Default)]
pub(super) struct Counters {
    pub(super) headers_allocated: AtomicU64,
    pub(super) headers_freed: AtomicU64,
    pub(super) direct_frees: AtomicU64,
    pub(super) rcu_frees: AtomicU64,
    pub(super) grace_periods: AtomicU64,
    pub(super) underflows: AtomicU64,
    pub(super) walk_visits: AtomicU64,
}

/// The tasks' `perf_ctx_data` pointers plus the global-user state (`global_ctx_data_ref`,
/// `global_ctx_data_rwsem`) and the RCU model.
pub struct TaskDataTable {
    pub(super) slots: Box<[Slot]>,
    /// `rcu_read_lock()` is the read side; a grace period takes the write side.
    rcu: RwLock<()>,
    deferred: Mutex<Vec<Deferred>>,
    /// `global_ctx_data_ref`.
    pub(super) global_ref: AtomicU32,
    /// `global_ctx_data_rwsem` (a percpu rwsem in the kernel).
    pub(super) global_rwsem: RwLock<()>,
    pub(super) walk: GlobalWalk,
    pub(super) counters: Counters,
}

/// A read-side critical section (`rcu_read_lock()`): nothing visible through it is freed until it
/// is dropped.
pub struct RcuReadGuard<'a> {
    _g: RwLockReadGuard<'a, ()>,
    table: *const TaskDataTable,
}

impl TaskDataTable {
    /// A table of `capacity` task slots, all unused, walking globally in the 6.15 way.
    pub fn new(capacity: u32) -> Self {
        Self::with_walk(capacity, GlobalWalk::Restart)
    }

    /// A table with an explicit global-attach walk strategy.
    pub fn with_walk(capacity: u32, walk: GlobalWalk) -> Self {
        let slots = (0..capacity)
            .map(|_| Slot { ptr: AtomicPtr::new(ptr::null_mut()), state: AtomicU32::new(UNUSED) })
            .collect::<Vec<_>>()
            .into_boxed_slice();
        TaskDataTable {
            slots,
            rcu: RwLock::new(()),
            deferred: Mutex::new(Vec::new()),
            global_ref: AtomicU32::new(0),
            global_rwsem: RwLock::new(()),
            walk,
            counters: Counters::default(),
        }
    }

    /// Number of task slots.
    pub fn capacity(&self) -> u32 {
        self.slots.len() as u32
    }

    pub(super) fn slot(&self, task: u32) -> Result<&Slot> {
        self.slots.get(task as usize).ok_or_else(|| {
            Error::NotFound(format!("task index {task} is out of range (table capacity {})", self.slots.len()))
        })
    }

    /// Whether the task slot holds a live (spawned, not yet exiting) task.
    pub fn is_alive(&self, task: u32) -> bool {
        self.slot(task).map(|s| s.state.load(SeqCst) == ALIVE).unwrap_or(false)
    }

    /// `PF_EXITING` is set at exit and never cleared: exiting and dead tasks both have it.
    pub(super) fn is_exiting(&self, s: &Slot) -> bool {
        matches!(s.state.load(SeqCst), EXITING | DEAD)
    }

    pub(super) fn is_alive_slot(s: &Slot) -> bool {
        s.state.load(SeqCst) == ALIVE
    }

    pub(super) fn is_in_use(s: &Slot) -> bool {
        s.state.load(SeqCst) != UNUSED
    }

    /// Make `task` a live thread with no task data (`perf_event_init_task()` sets the child's
    /// pointer to NULL). The slot must be unused, or dead with its data gone.
    pub fn spawn(&self, task: u32) -> Result<()> {
        let s = self.slot(task)?;
        if !s.ptr.load(SeqCst).is_null() {
            return Err(Error::Usage(format!("task {task}: slot still holds perf_ctx_data")));
        }
        for from in [UNUSED, DEAD] {
            if s.state.compare_exchange(from, ALIVE, SeqCst, SeqCst).is_ok() {
                return Ok(());
            }
        }
        Err(Error::Usage(format!("task {task} is already running")))
    }

    /// Set `PF_EXITING` (first step of exit). Errors if the task is not alive.
    pub(super) fn set_exiting(&self, task: u32) -> Result<()> {
        let s = self.slot(task)?;
        s.state
            .compare_exchange(ALIVE, EXITING, SeqCst, SeqCst)
            .map(|_| ())
            .map_err(|_| Error::Usage(format!("task {task} is not alive")))
    }

    pub(super) fn set_dead(&self, task: u32) {
        if let Ok(s) = self.slot(task) {
            s.state.store(DEAD, SeqCst);
        }
    }

    /// Enter a read-side critical section.
    pub fn rcu_read_lock(&self) -> RcuReadGuard<'_> {
        RcuReadGuard { _g: sync::read(&self.rcu), table: self as *const _ }
    }

    /// The task's `perf_ctx_data` as seen under `guard` (`rcu_dereference(task->perf_ctx_data)`).
    pub fn ctx_data<'g>(&'g self, guard: &'g RcuReadGuard<'g>, task: u32) -> Option<&'g PerfCtxData> {
        assert!(ptr::eq(guard.table, self), "RcuReadGuard from another TaskDataTable");
        let p = self.slots.get(task as usize)?.ptr.load(SeqCst);
        // SAFETY: a non-null pointer in a slot was published by `attach_task_ctx_data`, i.e. it
        // is a live boxed header; it can only be freed by `synchronize` after it has been
        // unpublished AND every reader present at that time (including this guard's) is gone.
        unsafe { p.as_ref() }
    }

    /// `alloc_perf_ctx_data()`: blob from the cache, then the 40-byte header; refcount 1.
    pub(super) fn alloc_perf_ctx_data(
        &self,
        cache: &Arc<dyn TaskDataAlloc>,
        global: bool,
        cpu: u32,
    ) -> Result<*mut PerfCtxData> {
        let data = cache.alloc_zeroed(cpu)?;
        self.counters.headers_allocated.fetch_add(1, SeqCst);
        Ok(Box::into_raw(Box::new(PerfCtxData {
            refcount: AtomicU32::new(1),
            global: AtomicU32::new(global as u32),
            cache: Arc::clone(cache),
            data,
            cpu,
        })))
    }

    /// `free_perf_ctx_data()`: blob back to its cache, header freed.
    ///
    /// # Safety
    /// `p` came from `alloc_perf_ctx_data` of this table, is not reachable by any reader, and
    /// is freed once.
    unsafe fn free_now(&self, p: *mut PerfCtxData) {
        // SAFETY: per the contract `p` is a unique Box pointer.
        let cd = unsafe { Box::from_raw(p) };
        // SAFETY: `data` came from `cd.cache` and is freed exactly once, with its header.
        unsafe { cd.cache.free(cd.data, cd.cpu) };
        self.counters.headers_freed.fetch_add(1, SeqCst);
    }

    /// Free an object that was never published.
    pub(super) fn free_direct(&self, p: *mut PerfCtxData) {
        // SAFETY: the caller allocated `p` and never stored it in a slot.
        unsafe { self.free_now(p) };
        self.counters.direct_frees.fetch_add(1, SeqCst);
    }

    /// `perf_free_ctx_data_rcu()`: queue an unpublished object for the next grace period.
    pub(super) fn free_rcu(&self, p: *mut PerfCtxData) {
        sync::lock(&self.deferred).push(Deferred(p));
    }

    /// A grace period: free every object unpublished before this call once all readers that
    /// could still see it have left. Must not be called while holding an [`RcuReadGuard`] of this
    /// table (it would wait for itself).
    pub fn synchronize(&self) {
        let batch = std::mem::take(&mut *sync::lock(&self.deferred));
        drop(sync::write(&self.rcu));
        self.counters.grace_periods.fetch_add(1, SeqCst);
        for Deferred(p) in batch {
            // SAFETY: `p` was removed from its slot before it was queued, the batch was taken
            // before the write lock, and the write lock waited for every reader that began before
            // it; no reader can reach `p` any more. Each pointer is queued once.
            unsafe { self.free_now(p) };
            self.counters.rcu_frees.fetch_add(1, SeqCst);
        }
    }

    /// `attach_task_ctx_data(task, cache, global)`: make sure the task has a live object and
    /// hold one reference on it. Lock-free: allocate first, then publish by compare-and-exchange.
    pub fn attach_task_ctx_data(&self, task: u32, cache: &Arc<dyn TaskDataAlloc>, global: bool) -> Result<()> {
        let s = self.slot(task)?;
        // The model has no "current CPU" here; the allocation is accounted to CPU 0.
        let new = self.alloc_perf_ctx_data(cache, global, 0)?;
        let g = self.rcu_read_lock();
        let mut old: *mut PerfCtxData = ptr::null_mut();
        loop {
            match s.ptr.compare_exchange(old, new, SeqCst, SeqCst) {
                Ok(_) => {
                    if !old.is_null() {
                        // We replaced a dead object (refcount 0): its detacher's CAS will fail, so
                        // the free is ours.
                        self.free_rcu(old);
                    }
                    // 4960626f956d: an exiting task may already have run its exit detach; take
                    // the object back out so it cannot leak.
                    if self.is_exiting(s) && s.ptr.compare_exchange(new, ptr::null_mut(), SeqCst, SeqCst).is_ok() {
                        self.free_rcu(new);
                    }
                    drop(g);
                    return Ok(());
                }
                Err(cur) if cur.is_null() => old = ptr::null_mut(),
                Err(cur) => {
                    // SAFETY: `cur` was published and we hold the read guard, so it is not freed.
                    let cd = unsafe { &*cur };
                    if inc_not_zero(&cd.refcount) {
                        if global {
                            // Model choice: mark the reused object global so a restarted global
                            // walk does not take a second global reference on it.
                            cd.global.store(1, SeqCst);
                        }
                        drop(g);
                        self.free_direct(new);
                        return Ok(());
                    }
                    old = cur; // dead: replace it
                }
            }
        }
    }

    /// `detach_task_ctx_data(task)`: drop one reference; the last one unpublishes the object and
    /// queues it for RCU free.
    pub fn detach_task_ctx_data(&self, task: u32) -> Result<()> {
        self.slot(task)?;
        let g = self.rcu_read_lock();
        self.detach_under(&g, task);
        Ok(())
    }

    pub(super) fn detach_under(&self, g: &RcuReadGuard<'_>, task: u32) {
        let s = &self.slots[task as usize];
        let Some(cd) = self.ctx_data(g, task) else { return };
        match dec_and_test(&cd.refcount) {
            Dec::NonZero => {}
            Dec::Underflow => {
                self.counters.underflows.fetch_add(1, SeqCst);
            }
            Dec::Zero => {
                let p = cd as *const PerfCtxData as *mut PerfCtxData;
                if s.ptr.compare_exchange(p, ptr::null_mut(), SeqCst, SeqCst).is_ok() {
                    self.free_rcu(p);
                }
            }
        }
    }

    /// Current counters.
    pub fn stats(&self) -> TaskDataStats {
        let c = &self.counters;
        let allocated = c.headers_allocated.load(SeqCst);
        let freed = c.headers_freed.load(SeqCst);
        TaskDataStats {
            headers_allocated: allocated,
            headers_freed: freed,
            headers_live: allocated - freed,
            deferred_pending: sync::lock(&self.deferred).len() as u64,
            direct_frees: c.direct_frees.load(SeqCst),
            rcu_frees: c.rcu_frees.load(SeqCst),
            grace_periods: c.grace_periods.load(SeqCst),
            refcount_underflows: c.underflows.load(SeqCst),
            walk_visits: c.walk_visits.load(SeqCst),
            global_ref: self.global_ref.load(SeqCst),
        }
    }

    /// Number of tasks whose slot currently holds an object (published objects).
    pub fn nr_published(&self) -> u64 {
        self.slots.iter().filter(|s| !s.ptr.load(SeqCst).is_null()).count() as u64
    }

    /// The task's refcount and global flag, or None without data (for tests and Python).
    pub fn task_info(&self, task: u32) -> Result<Option<(u32, bool)>> {
        self.slot(task)?;
        let g = self.rcu_read_lock();
        Ok(self.ctx_data(&g, task).map(|cd| (cd.refcount(), cd.is_global())))
    }
}

impl Drop for TaskDataTable {
    fn drop(&mut self) {
        // Teardown: no readers can exist (we have `&mut self`); free published and deferred
        // objects so a dropped table never leaks, whatever its refcounts say.
        for s in self.slots.iter() {
            let p = s.ptr.swap(ptr::null_mut(), SeqCst);
            if !p.is_null() {
                // SAFETY: exclusive access; `p` was published by this table and is freed once.
                unsafe { self.free_now(p) };
            }
        }
        let batch = std::mem::take(&mut *sync::lock(&self.deferred));
        for Deferred(p) in batch {
            // SAFETY: exclusive access; deferred pointers are unpublished and queued once.
            unsafe { self.free_now(p) };
        }
    }
}
