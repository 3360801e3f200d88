//! PMU task data backed by the slab model: [`SlabBlobAlloc`] implements [`TaskDataAlloc`] with
//! either a per-PMU [`KmemCache`] ("x86_lbr", the 217c2a633ebb / v6.15+ design:
//! `kmem_cache_zalloc(pmu->task_ctx_cache)`) or `kzalloc(task_ctx_size)` from the generic
//! kmalloc caches of a [`KmallocModel`] (the design before 217c2a633ebb). Models
//! `alloc_perf_ctx_data()` / `free_perf_ctx_data()` in kernel/events/core.c and
//! `create_lbr_kmem_cache()` / `intel_pmu_arch_lbr_init()` in arch/x86/events/intel/lbr.c as far
//! as memory goes; facts: spec/task-data-slab-page-size.md A.4-A.6, B.3-B.4.
//!
//! **Header.** Each blob allocation also takes the 40-byte `struct perf_ctx_data` header from
//! kmalloc-64 of the same [`KmallocModel`] and frees it with the blob, because the kernel pairs
//! the two allocations one to one (`alloc_perf_ctx_data()` kzallocs the header and
//! `kmem_cache_zalloc`s the blob; `free_perf_ctx_data()` frees both). The header's memory is
//! therefore read from the kmalloc-64 row of [`SlabBlobAlloc::slabinfo`].
//!
//! **Locking.** The slab model is `&mut` (one `kmem_cache_cpu` per CPU, no atomics), while the
//! task-data table calls the allocator from several threads. All state sits behind one
//! `std::sync::Mutex`; alloc, free and the read-outs take it for the whole operation, so the
//! cache's per-CPU freelists and partial lists are only touched by one thread at a time (the
//! kernel gets the same exclusion from `this_cpu` ops with preemption off plus the node
//! `list_lock`). A poisoned lock is recovered: every operation leaves the model consistent or
//! returns an error before changing it.
//!
//! **Free CPU.** `free(ptr, cpu)` pushes the object onto `cpu`'s freelist: the table passes
//! the CPU the object was allocated on (kept in the header), so frees go back to the right
//! CPU's slab. A CPU number outside the model (never produced by the table) is folded onto
//! CPU 0, the model's boot CPU, because `free` cannot fail by contract.

use super::alloc::{AllocStats, BlobPtr, TaskDataAlloc};
use super::perf_ctx_data::PERF_CTX_DATA_SIZE;
use crate::slab::xsave::{xsave_support, XSAVE_ALIGNMENT};
use crate::slab::{
    CacheCounters, KmallocAlignRule, KmallocModel, KmemCache, Misaligned, SlabFlags, SlabInfo, XsaveKind,
};
use crate::{Errno, Error, Result};
use std::collections::HashMap;
use std::ptr::NonNull;
use std::sync::{Mutex, MutexGuard};

/// Where the blob comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobBackend {
    /// `kmem_cache_zalloc(pmu->task_ctx_cache)`: a per-PMU "x86_lbr" cache (v5.9+, 217c2a633ebb).
    KmemCache,
    /// `kzalloc(task_ctx_size)` from the generic kmalloc caches (before 217c2a633ebb).
    Kzalloc,
}

impl BlobBackend {
    /// Parse `"kmem_cache"` or `"kzalloc"`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "kmem_cache" => Ok(BlobBackend::KmemCache),
            "kzalloc" => Ok(BlobBackend::Kzalloc),
            _ => Err(Error::Usage(format!("allocator {s:?} is unknown (use \"kmem_cache\" or \"kzalloc\")"))),
        }
    }
    /// Canonical name.
    pub fn name(self) -> &'static str {
        match self {
            BlobBackend::KmemCache => "kmem_cache",
            BlobBackend::Kzalloc => "kzalloc",
        }
    }
}

/// The x86 LBR blob layouts of spec A.5 / B.4 (size, cache align).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LbrBlob {
    /// Legacy HSW/SKL `struct x86_perf_task_context`: 800 B, align 0 (8).
    Legacy,
    /// Arch LBR with XSAVE, lbr_nr 32: 704 + 808 = 1512 B, align `XSAVE_ALIGNMENT` (64).
    ArchXsave,
    /// The series' memory claim: 788 B, modelled with align 64 (spec B.3).
    Claim788,
}

impl LbrBlob {
    /// Parse `"legacy"`, `"arch_xsave"` or `"788"`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "legacy" => Ok(LbrBlob::Legacy),
            "arch_xsave" => Ok(LbrBlob::ArchXsave),
            "788" => Ok(LbrBlob::Claim788),
            _ => Err(Error::Usage(format!("blob {s:?} is unknown (use \"legacy\", \"arch_xsave\" or \"788\")"))),
        }
    }
    /// Canonical name.
    pub fn name(self) -> &'static str {
        match self {
            LbrBlob::Legacy => "legacy",
            LbrBlob::ArchXsave => "arch_xsave",
            LbrBlob::Claim788 => "788",
        }
    }
    /// `object_size` of the cache.
    pub fn size(self) -> usize {
        match self {
            LbrBlob::Legacy => 800,
            LbrBlob::ArchXsave => 1512,
            LbrBlob::Claim788 => 788,
        }
    }
    /// The `align` argument of `kmem_cache_create()`.
    pub fn align(self) -> usize {
        match self {
            LbrBlob::Legacy => 0,
            LbrBlob::ArchXsave | LbrBlob::Claim788 => XSAVE_ALIGNMENT,
        }
    }
}

struct Inner {
    cache: Option<KmemCache>,
    kmalloc: KmallocModel,
    /// blob address -> header address (kmalloc-64).
    headers: HashMap<usize, usize>,
    allocs: u64,
    frees: u64,
    failures: u64,
}

/// A [`TaskDataAlloc`] over the slab model (see the module docs for locking and the free CPU).
pub struct SlabBlobAlloc {
    backend: BlobBackend,
    size: usize,
    align: usize,
    nr_cpus: usize,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for SlabBlobAlloc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlabBlobAlloc")
            .field("backend", &self.backend)
            .field("size", &self.size)
            .field("align", &self.align)
            .field("nr_cpus", &self.nr_cpus)
            .finish()
    }
}

/// XSAVE results over the live blobs (see [`SlabBlobAlloc::xsave_live`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XsaveReport {
    /// Live blobs examined.
    pub blobs: u64,
    /// Blobs 64-byte aligned, into which a real XSAVE was executed.
    pub saved: u64,
    /// Blobs not 64-byte aligned (XSAVE not executed: it would raise #GP).
    pub misaligned: u64,
}

impl SlabBlobAlloc {
    /// An allocator of `size`-byte blobs. `KmemCache` creates the "x86_lbr" cache with `align`;
    /// `Kzalloc` ignores `align` (kzalloc has no alignment argument) and serves the blob from
    /// the kmalloc class of `size` under `rule` (`debug_redzone` models slub_debug=Z on the
    /// kmalloc caches). `nr_cpus` sets the slab orders.
    pub fn new(
        backend: BlobBackend,
        size: usize,
        align: usize,
        nr_cpus: usize,
        rule: KmallocAlignRule,
        debug_redzone: bool,
    ) -> Result<Self> {
        if nr_cpus == 0 {
            return Err(Error::Usage("nr_cpus 0: need at least one CPU".into()));
        }
        if size == 0 {
            return Err(Error::perf(Errno::EINVAL, "blob size 0: object_size must be > 0"));
        }
        let kmalloc = KmallocModel::new(nr_cpus, rule, debug_redzone)?;
        let (cache, eff_align) = match backend {
            BlobBackend::KmemCache => {
                let c = KmemCache::new("x86_lbr", size, align, SlabFlags::empty(), nr_cpus)?;
                let a = c.layout().align;
                (Some(c), a)
            }
            BlobBackend::Kzalloc => {
                if kmalloc.cache_for(size).is_none() {
                    return Err(Error::perf(
                        Errno::EINVAL,
                        format!("blob size {size} is above the kmalloc slab classes (8 KiB)"),
                    ));
                }
                (None, rule.guaranteed_align(size))
            }
        };
        Ok(SlabBlobAlloc {
            backend,
            size,
            align: eff_align,
            nr_cpus,
            inner: Mutex::new(Inner { cache, kmalloc, headers: HashMap::new(), allocs: 0, frees: 0, failures: 0 }),
        })
    }

    /// The x86 LBR allocator for `blob` with the 6.18 kmalloc rule and no debugging.
    pub fn lbr(backend: BlobBackend, blob: LbrBlob, nr_cpus: usize) -> Result<Self> {
        Self::new(backend, blob.size(), blob.align(), nr_cpus, KmallocAlignRule::LargestPow2Divisor, false)
    }

    /// Which backend serves the blobs.
    pub fn backend(&self) -> BlobBackend {
        self.backend
    }

    /// Present CPUs of the model.
    pub fn nr_cpus(&self) -> usize {
        self.nr_cpus
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// slabinfo of the cache serving the blobs ("x86_lbr", or the kmalloc class) and of
    /// kmalloc-64 (the headers). With `Kzalloc` and a 40 < size <= 64 blob both rows are the
    /// same cache.
    pub fn slabinfo(&self) -> (SlabInfo, SlabInfo) {
        let g = self.lock();
        let blob = match &g.cache {
            Some(c) => c.slabinfo(),
            None => g.kmalloc.cache_for(self.size).map(|c| c.slabinfo()).unwrap_or_else(empty_info),
        };
        let hdr = g.kmalloc.cache_for(PERF_CTX_DATA_SIZE).map(|c| c.slabinfo()).unwrap_or_else(empty_info);
        (blob, hdr)
    }

    /// Objects still allocated in the blob cache and in the kmalloc model (exact counts).
    pub fn inuse(&self) -> (usize, usize) {
        let g = self.lock();
        let blob = match &g.cache {
            Some(c) => c.inuse(),
            None => g.headers.len(),
        };
        (blob, g.kmalloc.inuse())
    }

    /// The slab's own counters (allocs, frees, slabs) of the blob cache: the "x86_lbr" cache,
    /// or the kmalloc class serving the blob size.
    pub fn blob_counters(&self) -> CacheCounters {
        let g = self.lock();
        match &g.cache {
            Some(c) => c.counters(),
            None => g.kmalloc.cache_for(self.size).map(|c| c.counters()).unwrap_or_default(),
        }
    }

    /// The slab's counters of kmalloc-64 (the headers, plus any other 33..64-byte kmalloc).
    pub fn header_counters(&self) -> CacheCounters {
        let g = self.lock();
        g.kmalloc.cache_for(PERF_CTX_DATA_SIZE).map(|c| c.counters()).unwrap_or_default()
    }

    /// `kmem_cache_shrink()` of the "x86_lbr" cache: give its empty slabs back; returns the
    /// slabs left. `None` for the kzalloc backend (the kmalloc caches are shared, not shrunk).
    pub fn shrink(&self) -> Option<usize> {
        let mut g = self.lock();
        g.cache.as_mut().map(|c| {
            c.shrink();
            c.slabinfo().num_slabs
        })
    }

    /// Run a real `XSAVE` into every live, 64-byte-aligned blob and count the misaligned ones
    /// (never executed on: the CPU would raise #GP). Errors if the CPU has no XSAVE.
    pub fn xsave_live(&self) -> Result<XsaveReport> {
        if !xsave_support().xsave {
            return Err(Error::Usage("this CPU has no XSAVE".into()));
        }
        let mut g = self.lock();
        let mut blobs: Vec<usize> = g.headers.keys().copied().collect();
        blobs.sort_unstable();
        let mut r = XsaveReport::default();
        for b in blobs {
            r.blobs += 1;
            if b % XSAVE_ALIGNMENT != 0 {
                r.misaligned += 1;
                continue;
            }
            match &mut g.cache {
                Some(c) => c.xsave(b, XsaveKind::Standard, Misaligned::Refuse)?,
                None => g.kmalloc.xsave(b, XsaveKind::Standard, Misaligned::Refuse)?,
            }
            r.saved += 1;
        }
        Ok(r)
    }
}

fn empty_info() -> SlabInfo {
    SlabInfo {
        name: String::new(),
        active_objs: 0,
        num_objs: 0,
        objsize: 0,
        objperslab: 0,
        pagesperslab: 0,
        active_slabs: 0,
        num_slabs: 0,
        inuse_objs: 0,
        object_size: 0,
        padding_bytes: 0,
        tail_waste_bytes: 0,
        total_bytes: 0,
        cpu_slabs: 0,
        cpu_partial_slabs: 0,
        node_partial_slabs: 0,
        full_slabs: 0,
    }
}

impl TaskDataAlloc for SlabBlobAlloc {
    fn name(&self) -> &str {
        match self.backend {
            BlobBackend::KmemCache => "x86_lbr",
            BlobBackend::Kzalloc => "kzalloc",
        }
    }

    fn alloc_zeroed(&self, cpu: u32) -> Result<BlobPtr> {
        let mut g = self.lock();
        let cpu = cpu as usize;
        let hdr = match g.kmalloc.kzalloc(PERF_CTX_DATA_SIZE, cpu) {
            Ok(h) => h,
            Err(e) => {
                g.failures += 1;
                return Err(e);
            }
        };
        let inner = &mut *g;
        let blob = match &mut inner.cache {
            Some(c) => c.zalloc(cpu),
            None => inner.kmalloc.kzalloc(self.size, cpu),
        };
        let blob = match blob {
            Ok(b) => b,
            Err(e) => {
                // free_perf_ctx_data() of a half-built object: give the header back.
                let _ = g.kmalloc.kfree(hdr, cpu);
                g.failures += 1;
                return Err(e);
            }
        };
        let Some(p) = NonNull::new(blob as *mut u8) else {
            return Err(Error::Internal("slab returned a NULL object".into()));
        };
        g.headers.insert(blob, hdr);
        g.allocs += 1;
        Ok(BlobPtr::new(p))
    }

    unsafe fn free(&self, ptr: BlobPtr, cpu: u32) {
        let mut g = self.lock();
        let cpu = if (cpu as usize) < self.nr_cpus { cpu as usize } else { 0 };
        let Some(hdr) = g.headers.remove(&ptr.addr()) else {
            panic!("SlabBlobAlloc: double or foreign free of {:#x}", ptr.addr());
        };
        let inner = &mut *g;
        let r = match &mut inner.cache {
            Some(c) => c.free(ptr.addr(), cpu),
            None => inner.kmalloc.kfree(ptr.addr(), cpu),
        };
        r.expect("SlabBlobAlloc: blob free rejected by the slab");
        inner.kmalloc.kfree(hdr, cpu).expect("SlabBlobAlloc: header free rejected by kmalloc-64");
        inner.frees += 1;
    }

    fn object_size(&self) -> usize {
        self.size
    }

    fn align(&self) -> usize {
        self.align
    }

    fn stats(&self) -> AllocStats {
        let g = self.lock();
        let live = g.allocs - g.frees;
        let live_bytes = match &g.cache {
            Some(c) => c.slabinfo().total_bytes as u64,
            None => live * g.kmalloc.cache_for(self.size).map_or(0, |c| c.layout().size) as u64,
        };
        AllocStats { allocs: g.allocs, frees: g.frees, failures: g.failures, live, live_bytes }
    }
}

/// Slab memory of one system-wide LBR call-stack event over `threads` threads (spec A.3 and
/// B.3): rows read from slabinfo after the global attach, and after the global detach plus a
/// grace period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlabTaskDataMemory {
    /// Blob cache row while the event exists.
    pub blob_attached: SlabInfo,
    /// kmalloc-64 (headers) row while the event exists.
    pub header_attached: SlabInfo,
    /// Blob cache row after detach + `synchronize()`.
    pub blob_released: SlabInfo,
    /// kmalloc-64 row after detach + `synchronize()`.
    pub header_released: SlabInfo,
    /// Objects left in the whole model after release (blob cache + kmalloc): 0 when clean.
    pub live_after: usize,
    /// Slabs of the "x86_lbr" cache after `kmem_cache_shrink()` following the release (0 when
    /// every slab was empty); `None` for kzalloc.
    pub blob_slabs_after_shrink: Option<usize>,
}

/// Drive a [`super::TaskDataTable`] with `threads` threads through one global attach and the
/// global detach + grace period on `alloc`, and read its slabinfo at both points.
pub fn slab_global_attach_memory(threads: u32, alloc: &std::sync::Arc<SlabBlobAlloc>) -> Result<SlabTaskDataMemory> {
    let dynalloc: std::sync::Arc<dyn TaskDataAlloc> = alloc.clone();
    let t = super::TaskDataTable::with_walk(threads, super::GlobalWalk::SinglePass);
    for i in 0..threads {
        t.spawn(i)?;
    }
    t.attach_global_ctx_data(&dynalloc)?;
    let (blob_attached, header_attached) = alloc.slabinfo();
    t.detach_global_ctx_data()?;
    t.synchronize();
    let (blob_released, header_released) = alloc.slabinfo();
    let (b, k) = alloc.inuse();
    let live_after = if alloc.backend() == BlobBackend::KmemCache { b + k } else { k };
    let blob_slabs_after_shrink = alloc.shrink();
    Ok(SlabTaskDataMemory {
        blob_attached,
        header_attached,
        blob_released,
        header_released,
        live_after,
        blob_slabs_after_shrink,
    })
}
