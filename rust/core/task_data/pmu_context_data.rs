//! PMU task data in the 6.2-6.14 design: the blob hangs off the task's per-PMU context
//! (`perf_event_pmu_context::task_ctx_data`), exists only for task contexts and is swapped
//! between two equivalent contexts on the optimised context switch. Models the task-data part of
//! find_get_pmu_context(), free_epc_rcu(), perf_event_swap_task_ctx_data() and Intel's
//! intel_pmu_lbr_swap_task_ctx() (removed by bd2da08d9363 / 1fbc6c8e5289); facts:
//! spec/task-data-slab-page-size.md A.2, A.3 and spec/context-and-scheduling.md §6.2.
//!
//! CPU-wide events get no data here: a CPU context has no task, so nothing is allocated and
//! `intel_pmu_lbr_sched_task()` falls into its "no data" branch (reset on sched-in).

use super::alloc::{BlobPtr, TaskDataAlloc};
use super::lbr::{BlobLayout, LbrBlob};
use crate::Result;
use std::sync::Arc;

/// Which kind of event context a pmu context belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtxKind {
    /// A task context (`ctx->task != NULL`): may carry task data.
    Task,
    /// A CPU context: never carries task data.
    Cpu,
}

/// A blob owned by exactly one pmu context; freed when dropped (`free_epc_rcu()`; the model has
/// no readers outside the owner, so the free is immediate).
pub struct OwnedBlob {
    ptr: BlobPtr,
    cache: Arc<dyn TaskDataAlloc>,
    cpu: u32,
}

impl OwnedBlob {
    /// Allocate a zeroed blob from `cache`.
    pub fn alloc(cache: &Arc<dyn TaskDataAlloc>, cpu: u32) -> Result<Self> {
        Ok(OwnedBlob { ptr: cache.alloc_zeroed(cpu)?, cache: Arc::clone(cache), cpu })
    }
    /// The blob's address.
    pub fn addr(&self) -> usize {
        self.ptr.addr()
    }
    /// The blob's bytes.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: `ptr` is a live `object_size()`-byte object owned only by this OwnedBlob;
        // `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.cache.object_size()) }
    }
}

impl Drop for OwnedBlob {
    fn drop(&mut self) {
        // SAFETY: the blob came from `self.cache` and is freed once, here.
        unsafe { self.cache.free(self.ptr, self.cpu) };
    }
}

/// The task-data part of one `perf_event_pmu_context`.
pub struct PmuContextData {
    kind: CtxKind,
    data: Option<OwnedBlob>,
}

impl PmuContextData {
    /// A pmu context of `kind` with no data yet.
    pub fn new(kind: CtxKind) -> Self {
        PmuContextData { kind, data: None }
    }

    /// The context kind.
    pub fn kind(&self) -> CtxKind {
        self.kind
    }

    /// An event joins this pmu context (`find_get_pmu_context()`): with `PERF_ATTACH_TASK_DATA`
    /// and a task context, allocate the blob once. CPU contexts get none. Returns whether the
    /// context now has data.
    pub fn attach_event(&mut self, attach_task_data: bool, cache: &Arc<dyn TaskDataAlloc>, cpu: u32) -> Result<bool> {
        if attach_task_data && self.kind == CtxKind::Task && self.data.is_none() {
            self.data = Some(OwnedBlob::alloc(cache, cpu)?);
        }
        Ok(self.data.is_some())
    }

    /// Whether the context carries a blob (`ctx->nr_task_data != 0`).
    pub fn has_data(&self) -> bool {
        self.data.is_some()
    }

    /// The blob, if any.
    pub fn data_mut(&mut self) -> Option<&mut OwnedBlob> {
        self.data.as_mut()
    }
}

/// `perf_event_swap_task_ctx_data()` with Intel's `swap_task_ctx`: on the optimised switch the
/// two contexts trade blobs (the saved LBR state follows the task), while each context keeps its
/// own `lbr_callstack_users` (swapped inside the blobs first, so the pointer swap puts them back).
/// With `lbr` = None the PMU has no `swap_task_ctx` and only the pointers are swapped.
pub fn swap_task_ctx(a: &mut PmuContextData, b: &mut PmuContextData, lbr: Option<BlobLayout>) -> Result<()> {
    if let (Some(l), Some(da), Some(db)) = (lbr, a.data.as_mut(), b.data.as_mut()) {
        let ua = LbrBlob::new(da.bytes_mut(), l)?.users();
        let ub = LbrBlob::new(db.bytes_mut(), l)?.users();
        LbrBlob::new(da.bytes_mut(), l)?.set_users(ub);
        LbrBlob::new(db.bytes_mut(), l)?.set_users(ua);
    }
    std::mem::swap(&mut a.data, &mut b.data);
    Ok(())
}
