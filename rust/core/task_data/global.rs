//! System-wide users of PMU task data (6.15+): `global_ctx_data_ref` and the walks over every
//! thread, fork-time allocation, and the exit-time detach. Models attach_global_ctx_data(),
//! __detach_global_ctx_data(), detach_global_ctx_data(), perf_event_alloc_task_data() and the
//! detach at the end of perf_event_exit_task() in kernel/events/core.c (with 4960626f956d's
//! PF_EXITING checks and da45c8d5f051's single-pass detach); facts:
//! spec/task-data-slab-page-size.md A.4, A.6.

use super::alloc::TaskDataAlloc;
use super::perf_ctx_data::{
    dec_and_test, dec_not_one, inc_not_zero, Dec, GlobalWalk, TaskDataTable, PERF_CTX_DATA_KMALLOC, PERF_CTX_DATA_SIZE,
};
use super::sync;
use crate::Result;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

impl TaskDataTable {
    /// `attach_global_ctx_data(cache)`: the first CPU-wide LBR call-stack event gives every live
    /// thread an object holding the global reference; later ones only count.
    pub fn attach_global_ctx_data(&self, cache: &Arc<dyn TaskDataAlloc>) -> Result<()> {
        if inc_not_zero(&self.global_ref) {
            return Ok(());
        }
        let _w = sync::write(&self.global_rwsem);
        if inc_not_zero(&self.global_ref) {
            return Ok(());
        }
        let mut next_start = 0usize;
        'walk: loop {
            let g = self.rcu_read_lock();
            let start = next_start;
            for i in start..self.slots.len() {
                let s = &self.slots[i];
                self.counters.walk_visits.fetch_add(1, SeqCst);
                // 4960626f956d: exiting threads are skipped (their exit detach may have run).
                if !Self::is_alive_slot(s) {
                    continue;
                }
                let mut usable = false;
                if let Some(cd) = self.ctx_data(&g, i as u32) {
                    if cd.is_global() {
                        continue;
                    }
                    cd.global.store(1, SeqCst);
                    usable = inc_not_zero(&cd.refcount);
                    if !usable {
                        cd.global.store(0, SeqCst);
                    }
                }
                if !usable {
                    drop(g);
                    if let Err(e) = self.attach_task_ctx_data(i as u32, cache, true) {
                        self.detach_global_walk();
                        return Err(e);
                    }
                    next_start = match self.walk {
                        GlobalWalk::Restart => 0,
                        GlobalWalk::SinglePass => i + 1,
                    };
                    continue 'walk;
                }
            }
            break;
        }
        self.global_ref.store(1, SeqCst);
        Ok(())
    }

    /// `__detach_global_ctx_data()`: one pass; every object holding the global reference loses
    /// its flag and that reference.
    fn detach_global_walk(&self) {
        let g = self.rcu_read_lock();
        for i in 0..self.slots.len() {
            self.counters.walk_visits.fetch_add(1, SeqCst);
            if !Self::is_in_use(&self.slots[i]) {
                continue;
            }
            if let Some(cd) = self.ctx_data(&g, i as u32) {
                if cd.global.swap(0, SeqCst) != 0 {
                    self.detach_under(&g, i as u32);
                }
            }
        }
    }

    /// `detach_global_ctx_data()`: the last CPU-wide user's free drops the global reference of
    /// every thread. Returns an error only on unbalanced use (no global user).
    pub fn detach_global_ctx_data(&self) -> Result<()> {
        if dec_not_one(&self.global_ref) {
            return Ok(());
        }
        let _w = sync::write(&self.global_rwsem);
        match dec_and_test(&self.global_ref) {
            Dec::Zero => self.detach_global_walk(),
            Dec::NonZero => {}
            Dec::Underflow => return Err(crate::Error::Usage("detach_global_ctx_data without a global user".into())),
        }
        Ok(())
    }

    /// `perf_event_alloc_task_data(child, parent)` (from `perf_event_fork()`): while a global
    /// user exists the child gets an object with the global reference, from the parent's cache.
    pub fn perf_event_alloc_task_data(&self, child: u32, parent: u32) -> Result<()> {
        self.slot(child)?;
        self.slot(parent)?;
        if self.global_ref.load(SeqCst) == 0 {
            return Ok(());
        }
        let cache = {
            let g = self.rcu_read_lock();
            match self.ctx_data(&g, parent) {
                Some(cd) => Arc::clone(cd.cache()),
                None => return Ok(()), // parent has none: the child gets none
            }
        };
        let _r = sync::read(&self.global_rwsem);
        let g = self.rcu_read_lock();
        match self.ctx_data(&g, child) {
            None => {
                drop(g);
                if self.global_ref.load(SeqCst) != 0 {
                    // A failed allocation leaves the child without data (fork does not fail).
                    let _ = self.attach_task_ctx_data(child, &cache, true);
                }
            }
            Some(cd) => {
                if cd.global.swap(1, SeqCst) == 0 {
                    cd.refcount.fetch_add(1, SeqCst);
                }
            }
        }
        Ok(())
    }

    /// Fork: `child` becomes a live thread with a NULL pointer (`perf_event_init_task()`), then
    /// `perf_event_fork()` allocates for it while a global user exists.
    pub fn fork(&self, parent: u32, child: u32) -> Result<()> {
        if !self.is_alive(parent) {
            return Err(crate::Error::Usage(format!("fork: parent task {parent} is not alive")));
        }
        self.spawn(child)?;
        self.perf_event_alloc_task_data(child, parent)
    }

    /// Exit: set `PF_EXITING` first, then (end of `perf_event_exit_task()`) drop exactly one
    /// reference "for the system-wide event", then the task is dead.
    pub fn exit_task(&self, task: u32) -> Result<()> {
        self.set_exiting(task)?;
        self.detach_task_ctx_data(task)?;
        self.set_dead(task);
        Ok(())
    }

    /// Memory held by task data right now.
    pub fn memory(&self) -> TaskDataMemory {
        let st = self.stats();
        let g = self.rcu_read_lock();
        let mut blob_bytes = 0u64;
        let mut blobs = 0u64;
        let mut blob_size = 0u64;
        let mut blob_align = 0u64;
        for i in 0..self.slots.len() {
            if let Some(cd) = self.ctx_data(&g, i as u32) {
                blobs += 1;
                blob_size = cd.blob_size() as u64;
                blob_align = cd.cache().align() as u64;
                blob_bytes += blob_size;
            }
        }
        TaskDataMemory {
            headers: st.headers_live,
            header_bytes_requested: st.headers_live * PERF_CTX_DATA_SIZE as u64,
            header_bytes_kmalloc: st.headers_live * PERF_CTX_DATA_KMALLOC as u64,
            published_blobs: blobs,
            blob_object_size: blob_size,
            blob_align,
            blob_bytes,
            deferred: st.deferred_pending,
        }
    }
}

/// Memory held by PMU task data (objects and bytes; slab page overhead is the slab's business).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskDataMemory {
    /// Live headers (published or awaiting a grace period).
    pub headers: u64,
    /// `headers * 40`.
    pub header_bytes_requested: u64,
    /// `headers * 64` (kmalloc-64 objects).
    pub header_bytes_kmalloc: u64,
    /// Objects reachable from task slots.
    pub published_blobs: u64,
    /// Blob object size (0 when none is published).
    pub blob_object_size: u64,
    /// Blob alignment (0 when none is published).
    pub blob_align: u64,
    /// `published_blobs * blob_object_size`.
    pub blob_bytes: u64,
    /// Objects unpublished but not yet freed (waiting for `synchronize`).
    pub deferred: u64,
}

impl TaskDataMemory {
    /// Header (kmalloc-64) plus blob bytes.
    pub fn total_bytes(&self) -> u64 {
        self.header_bytes_kmalloc + self.blob_bytes
    }
}

/// Item 7 of the study: `threads` live threads, one global (system-wide) attach; returns the
/// memory after attach and after detach + grace period.
pub fn global_attach_memory(
    threads: u32,
    cache: &Arc<dyn TaskDataAlloc>,
    walk: GlobalWalk,
) -> Result<(TaskDataMemory, TaskDataMemory)> {
    let t = TaskDataTable::with_walk(threads, walk);
    for i in 0..threads {
        t.spawn(i)?;
    }
    t.attach_global_ctx_data(cache)?;
    let attached = t.memory();
    t.detach_global_ctx_data()?;
    t.synchronize();
    Ok((attached, t.memory()))
}
