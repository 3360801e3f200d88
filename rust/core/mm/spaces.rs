//! The arena of address spaces: every `mm_struct` of the simulated machine by typed id, with
//! `init_mm` as id 0, one table arena, the read side of the walk protection and the writer
//! lock. Models `mm_alloc()` / `pgd_alloc()` (a new PGD gets the kernel half of `init_mm`'s),
//! `exit_mmap()` / `pgd_free()`, and `init_mm` itself (mm/init-mm.c). Facts:
//! spec/task-data-slab-page-size.md §C.3, §C.6.
//!
//! Concurrency: readers (the page-size walk) never lock; they read the PGD root of an mm from
//! an atomic slot and each entry with one atomic load. Writers (mmap, munmap, collapse, split,
//! new/drop mm, grace-period ends) serialise on one mutex, the model's `mmap_lock`.

use super::grace::{IrqOff, ReadSide, TableAllocator, TableFree};
use super::kernel::{KernelLayout, KernelRegion};
use super::mmap::MmStruct;
use super::pgtable::{entry_table, is_leaf, leaf_entry, present, table_entry, Level, Paging, TableArena, SIZE_4K};
use crate::{Errno, Error, Result};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Typed id of an address space (`struct mm_struct *`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MmId(pub u32);

/// `init_mm`: the kernel's own address space, id 0.
pub const INIT_MM: MmId = MmId(0);

/// Most address spaces one arena holds (ids are not reused).
pub const MAX_MMS: usize = 1 << 16;

/// Construction options of an [`AddressSpaces`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MmConfig {
    /// 4-level or 5-level paging.
    pub paging: Paging,
    /// `X86_FEATURE_GBPAGES`: 1 GiB leaves allowed (direct map, hugetlb 1G).
    pub gbpages: bool,
    /// How unlinked page-table pages are freed (the kernel defers them).
    pub table_free: TableFree,
    /// The kernel half built into `init_mm`.
    pub kernel: KernelLayout,
    /// Capacity of the page-table arena in 4 KiB tables (address space reserved up front and
    /// backed only when used; at most `pgtable::MAX_TABLES`). Running out is ENOMEM.
    pub max_tables: usize,
}

impl Default for MmConfig {
    fn default() -> Self {
        MmConfig {
            paging: Paging::FourLevel,
            gbpages: true,
            table_free: TableFree::Deferred,
            kernel: KernelLayout::default(),
            max_tables: super::pgtable::DEFAULT_TABLES,
        }
    }
}

/// Counters of an [`AddressSpaces`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MmStats {
    /// Live address spaces, `init_mm` included.
    pub mms: u64,
    /// Page-table pages in use or waiting for a grace period.
    pub tables_live: u64,
    /// Page-table pages on the deferred list.
    pub tables_deferred: u64,
    /// Page-table pages reclaimed by grace-period ends.
    pub tables_reclaimed: u64,
    /// Grace periods completed by `synchronize()`.
    pub grace_periods: u64,
    /// Walkers inside an IRQs-off section right now.
    pub readers: u64,
    /// THP collapses (4 KiB -> 2 MiB) done.
    pub collapses: u64,
    /// THP splits (2 MiB -> 4 KiB) done.
    pub splits: u64,
}

pub(crate) struct Inner {
    pub(crate) alloc: TableAllocator,
    pub(crate) mms: Vec<Option<MmStruct>>,
    pub(crate) collapses: u64,
    pub(crate) splits: u64,
}

/// The writer lock held (see [`AddressSpaces::mmap_write_lock`]).
pub struct MmapWriteGuard<'a> {
    _g: MutexGuard<'a, Inner>,
}

/// Every address space of one simulated machine. `Send + Sync`: walks run lock-free from any
/// thread while another thread changes mappings.
pub struct AddressSpaces {
    pub(crate) cfg: MmConfig,
    pub(crate) tables: TableArena,
    /// PGD table index + 1 of each mm; 0 = no such mm (never created or dropped).
    pub(crate) roots: Box<[AtomicU32]>,
    pub(crate) read: ReadSide,
    pub(crate) inner: Mutex<Inner>,
    kernel_regions: Vec<KernelRegion>,
}

impl std::fmt::Debug for AddressSpaces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddressSpaces").field("cfg", &self.cfg).field("stats", &self.stats()).finish()
    }
}

impl AddressSpaces {
    /// A machine's address spaces with only `init_mm`, its kernel half built from `cfg.kernel`.
    pub fn new(cfg: MmConfig) -> Result<Self> {
        cfg.kernel.validate(cfg.paging)?;
        let kernel_regions = cfg.kernel.regions(cfg.paging, cfg.gbpages);
        let s = AddressSpaces {
            tables: TableArena::with_capacity(cfg.max_tables),
            roots: (0..MAX_MMS).map(|_| AtomicU32::new(0)).collect(),
            read: ReadSide::default(),
            inner: Mutex::new(Inner { alloc: TableAllocator::default(), mms: Vec::new(), collapses: 0, splits: 0 }),
            kernel_regions,
            cfg,
        };
        {
            let mut g = s.lock();
            let pgd = g.alloc.alloc(&s.tables)?;
            g.mms.push(Some(MmStruct::default()));
            for r in s.kernel_regions.clone() {
                let mut a = r.start;
                while a < r.start + r.size {
                    s.set_leaf(&mut g, pgd, a, r.page_size, false)?;
                    a += r.page_size;
                }
            }
            s.roots[0].store(pgd + 1, Ordering::Release);
        }
        Ok(s)
    }

    /// The configuration this arena was built with.
    pub fn config(&self) -> &MmConfig {
        &self.cfg
    }

    /// Paging mode.
    pub fn paging(&self) -> Paging {
        self.cfg.paging
    }

    /// The kernel regions mapped in `init_mm` (and so in every mm).
    pub fn kernel_regions(&self) -> &[KernelRegion] {
        &self.kernel_regions
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent-enough state for a model; keep going.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Take the writer lock (the model's `mmap_write_lock()`, one for every mm) and hold it
    /// until the guard drops. Walks never take it; tests use this to show that.
    pub fn mmap_write_lock(&self) -> MmapWriteGuard<'_> {
        MmapWriteGuard { _g: self.lock() }
    }

    /// Enter an IRQs-off section (`local_irq_save()`); the walk functions need one.
    #[inline]
    pub fn irq_off(&self) -> IrqOff<'_> {
        self.read.enter()
    }

    /// The PGD table of `mm`, if it exists (lock-free).
    #[inline]
    pub(crate) fn root(&self, mm: MmId) -> Option<u32> {
        match self.roots.get(mm.0 as usize) {
            Some(r) => r.load(Ordering::Acquire).checked_sub(1),
            None => None,
        }
    }

    /// Whether `mm` is a live address space.
    pub fn exists(&self, mm: MmId) -> bool {
        self.root(mm).is_some()
    }

    /// `mm_alloc()` + `pgd_alloc()`: a new, empty user address space whose PGD shares
    /// `init_mm`'s kernel half.
    pub fn new_mm(&self) -> Result<MmId> {
        let mut g = self.lock();
        let id = g.mms.len();
        if id >= MAX_MMS {
            return Err(Error::perf(Errno::ENOMEM, format!("more than {MAX_MMS} address spaces")));
        }
        let init = self.root(INIT_MM).ok_or_else(|| Error::Internal("init_mm has no PGD".into()))?;
        let pgd = g.alloc.alloc(&self.tables)?;
        for i in self.cfg.paging.kernel_pgd_index()..super::pgtable::PTRS_PER_TABLE {
            self.tables.store(pgd, i, self.tables.load(init, i));
        }
        g.mms.push(Some(MmStruct::default()));
        self.roots[id].store(pgd + 1, Ordering::Release);
        Ok(MmId(id as u32))
    }

    /// `exit_mmap()` + `pgd_free()`: unmap everything and free the mm's page tables (through
    /// the grace period). Walks that name this mm afterwards answer 0.
    pub fn drop_mm(&self, mm: MmId) -> Result<()> {
        if mm == INIT_MM {
            return Err(Error::Usage("init_mm cannot be dropped".into()));
        }
        let mut g = self.lock();
        self.check_user_mm(&g, mm)?;
        let pgd = self.root(mm).ok_or_else(|| Error::Internal("live mm without PGD".into()))?;
        self.clear_user_range(&mut g, pgd, 0, self.cfg.paging.task_size_max());
        self.roots[mm.0 as usize].store(0, Ordering::Release);
        let mode = self.cfg.table_free;
        g.alloc.free(&self.tables, pgd, mode);
        g.mms[mm.0 as usize] = None;
        Ok(())
    }

    /// End a grace period: reclaim the deferred page-table pages if no walker is inside an
    /// IRQs-off section (else a `Usage` error: the kernel would wait). Returns pages reclaimed.
    pub fn synchronize(&self) -> Result<usize> {
        let mut g = self.lock();
        let Inner { alloc, .. } = &mut *g;
        alloc.synchronize(&self.tables, &self.read)
    }

    /// Counters.
    pub fn stats(&self) -> MmStats {
        let g = self.lock();
        MmStats {
            mms: g.mms.iter().filter(|m| m.is_some()).count() as u64,
            tables_live: g.alloc.live,
            tables_deferred: g.alloc.deferred() as u64,
            tables_reclaimed: g.alloc.reclaimed,
            grace_periods: g.alloc.grace_periods,
            readers: self.read.active(),
            collapses: g.collapses,
            splits: g.splits,
        }
    }

    pub(crate) fn check_user_mm(&self, g: &Inner, mm: MmId) -> Result<()> {
        if mm == INIT_MM {
            return Err(Error::Usage(
                "init_mm holds only the kernel half; map user memory in an mm from new_mm()".into(),
            ));
        }
        match g.mms.get(mm.0 as usize) {
            Some(Some(_)) => Ok(()),
            _ => Err(Error::NotFound(format!("no address space with id {}", mm.0))),
        }
    }

    /// Install one leaf of `size` at `addr` (aligned), creating tables on the way down.
    pub(crate) fn set_leaf(&self, g: &mut Inner, pgd: u32, addr: u64, size: u64, user: bool) -> Result<()> {
        let p = self.cfg.paging;
        let mut t = pgd;
        for &lvl in p.levels() {
            let idx = p.index(lvl, addr);
            if lvl.leaf_size() == Some(size) {
                self.tables.store(t, idx, leaf_entry(addr >> 12, size > SIZE_4K, user));
                return Ok(());
            }
            let e = self.tables.load(t, idx);
            t = if present(e) {
                if is_leaf(e) {
                    return Err(Error::Internal(format!("{lvl:?} leaf in the way at {addr:#x}")));
                }
                entry_table(e)
            } else {
                let n = g.alloc.alloc(&self.tables)?;
                self.tables.store(t, idx, table_entry(n, user));
                n
            };
        }
        Err(Error::Internal(format!("no level has leaf size {size:#x}")))
    }

    /// The entry mapping `addr` at `level` and the table holding it, if the walk reaches it.
    pub(crate) fn entry_at(&self, pgd: u32, addr: u64, level: Level) -> Option<(u32, usize, u64)> {
        let p = self.cfg.paging;
        let mut t = pgd;
        for &lvl in p.levels() {
            let idx = p.index(lvl, addr);
            let e = self.tables.load(t, idx);
            if lvl == level {
                return Some((t, idx, e));
            }
            if !present(e) || is_leaf(e) {
                return None;
            }
            t = entry_table(e);
        }
        None
    }

    /// Clear every leaf in `[start, end)` of the user half and free tables left empty. Leaves
    /// above 4 KiB must lie wholly inside the range (callers split or refuse first).
    pub(crate) fn clear_user_range(&self, g: &mut Inner, pgd: u32, start: u64, end: u64) {
        if start < end {
            self.clear(g, pgd, 0, start, end);
        }
    }

    fn clear(&self, g: &mut Inner, t: u32, li: usize, start: u64, end: u64) {
        let p = self.cfg.paging;
        let levels = p.levels();
        let lvl = levels[li];
        let span = 1u64 << lvl.shift(p);
        let mode = self.cfg.table_free;
        let mut a = start;
        while a < end {
            let idx = p.index(lvl, a);
            let sub_end = end.min((a & !(span - 1)).saturating_add(span));
            let e = self.tables.load(t, idx);
            if present(e) {
                if is_leaf(e) || lvl == Level::Pte {
                    self.tables.store(t, idx, 0);
                } else {
                    let child = entry_table(e);
                    self.clear(g, child, li + 1, a, sub_end);
                    if self.tables.present_count(child) == 0 {
                        self.tables.store(t, idx, 0);
                        g.alloc.free(&self.tables, child, mode);
                    }
                }
            }
            a = sub_end;
        }
    }
}
