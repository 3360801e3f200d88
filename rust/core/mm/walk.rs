//! The page-size walk behind `PERF_SAMPLE_DATA_PAGE_SIZE` / `PERF_SAMPLE_CODE_PAGE_SIZE`.
//! Models `perf_get_pgtable_size()` (the lockless walk as rewritten in 8af26be06272),
//! `perf_get_page_size()` (8d97e71811aa: the mm choice and the IRQs-off section) and the
//! sample-preparation step of `perf_prepare_sample()` in kernel/events/core.c. Facts:
//! spec/task-data-slab-page-size.md §C.1-C.4.
//!
//! The walk reads each level's entry exactly once with one atomic load, never allocates and
//! never locks; it reports the page-table mapping size (1 GiB at a PUD leaf, 2 MiB at a PMD
//! leaf, 4 KiB at a present PTE) and 0 for a null address, a non-canonical address, a missing
//! mm or any non-present level. x86-64 has no PGD/P4D leaves (`pgd_leaf()` / `p4d_leaf()` are
//! false), so the PS bit is not looked at there. The kernel's "`pte_offset_map()` failed, retry
//! from the PMD read" path cannot trigger here: the walk keeps the PMD value it read, and the
//! PTE table it names stays readable until the grace period ends (see `grace.rs`).

use super::grace::IrqOff;
use super::pgtable::{entry_table, is_leaf, present, Level, Paging, SIZE_1G, SIZE_2M, SIZE_4K};
use super::spaces::{AddressSpaces, MmId, INIT_MM};
use crate::abi::sample::{PERF_SAMPLE_CODE_PAGE_SIZE, PERF_SAMPLE_DATA_PAGE_SIZE};

/// What the walker needs to know about the task that was running when the sample was taken:
/// `current->mm`, `current->active_mm` and whether it is a kernel thread. A kernel thread has
/// `mm == None` unless it borrowed a user mm with `kthread_use_mm()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TaskMmView {
    /// `current->mm`.
    pub mm: Option<MmId>,
    /// `current->active_mm` (the mm whose page tables are loaded; a kernel thread borrows the
    /// previous task's). `None` in the context-switch window of 8d97e71811aa.
    pub active_mm: Option<MmId>,
    /// `current->flags & PF_KTHREAD`.
    pub is_kernel_thread: bool,
}

impl TaskMmView {
    /// A user task running in `mm`.
    pub fn user(mm: MmId) -> Self {
        TaskMmView { mm: Some(mm), active_mm: Some(mm), is_kernel_thread: false }
    }

    /// A kernel thread (no mm of its own) lazily borrowing `active_mm`.
    pub fn kernel_thread(active_mm: Option<MmId>) -> Self {
        TaskMmView { mm: None, active_mm, is_kernel_thread: true }
    }

    /// The mm the kernel walks: `current->mm`, or `init_mm` when there is none.
    #[inline]
    pub fn walk_mm(&self) -> MmId {
        self.mm.unwrap_or(INIT_MM)
    }
}

/// The active_mm variant found `current->active_mm` NULL: in the kernel this would be a NULL
/// pointer dereference in NMI context; the model reports it instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("current->active_mm is NULL (context_switch() window): the walk would dereference NULL")]
pub struct MissingMm;

/// One step of the walk: the entry at `level` was read once into `e`; say where to go next.
#[inline(always)]
fn decide(level: Level, e: u64) -> Result<u32, u64> {
    if !present(e) {
        return Err(0);
    }
    match level.leaf_size() {
        Some(size) if level == Level::Pte || is_leaf(e) => Err(size),
        _ => Ok(entry_table(e)),
    }
}

impl AddressSpaces {
    /// `perf_get_pgtable_size(mm, addr)`: the mapping size of `addr` in `mm`'s page tables, or
    /// 0. Needs an IRQs-off section (the caller's duty in the kernel too). One atomic load per
    /// level, no allocation, no lock.
    #[inline]
    pub fn perf_get_pgtable_size(&self, _irq: &IrqOff<'_>, mm: MmId, addr: u64) -> u64 {
        #[inline(always)]
        fn ix(addr: u64, shift: u32) -> usize {
            ((addr >> shift) & 511) as usize
        }
        let p = self.cfg.paging;
        if !p.is_canonical(addr) {
            return 0;
        }
        let Some(root) = self.root(mm) else { return 0 };
        let t = &self.tables;
        // PGD (pgd_leaf() is false on x86-64).
        let mut p4d = t.load(root, ix(addr, Level::Pgd.shift(p)));
        if !present(p4d) {
            return 0;
        }
        // P4D: a real level with LA57, folded into the PGD entry otherwise.
        if p == Paging::FiveLevel {
            p4d = t.load(entry_table(p4d), ix(addr, 39));
            if !present(p4d) {
                return 0;
            }
        }
        let pud = t.load(entry_table(p4d), ix(addr, 30));
        if !present(pud) {
            return 0;
        }
        if is_leaf(pud) {
            return SIZE_1G;
        }
        let pmd = t.load(entry_table(pud), ix(addr, 21));
        if !present(pmd) {
            return 0;
        }
        if is_leaf(pmd) {
            return SIZE_2M;
        }
        let pte = t.load(entry_table(pmd), ix(addr, 12));
        if present(pte) {
            SIZE_4K
        } else {
            0
        }
    }

    /// `perf_get_page_size(addr)`: 0 for a null address; otherwise walk `current->mm`, or
    /// `init_mm` when the task has none (kernel threads), inside an IRQs-off section.
    /// `current->active_mm` is deliberately not used.
    #[inline]
    pub fn perf_get_page_size(&self, current: TaskMmView, addr: u64) -> u64 {
        if addr == 0 {
            return 0;
        }
        let irq = self.irq_off();
        self.perf_get_pgtable_size(&irq, current.walk_mm(), addr)
    }

    /// The rejected alternative (off by default): walk `current->active_mm`. It fails with
    /// [`MissingMm`] when `context_switch()` has cleared the field (see `lazy_tlb.rs`).
    pub fn perf_get_page_size_active_mm(&self, current: TaskMmView, addr: u64) -> Result<u64, MissingMm> {
        if addr == 0 {
            return Ok(0);
        }
        let mm = current.active_mm.ok_or(MissingMm)?;
        let irq = self.irq_off();
        Ok(self.perf_get_pgtable_size(&irq, mm, addr))
    }

    /// Bulk `perf_get_page_size()`: `out[i]` = the page size of `addrs[i]` for `current`
    /// (one IRQs-off section per address, as one per sample in the kernel). Panics never:
    /// `out` shorter than `addrs` fills only `out.len()` entries.
    pub fn page_sizes_into(&self, current: TaskMmView, addrs: &[u64], out: &mut [u64]) {
        for (o, &a) in out.iter_mut().zip(addrs) {
            *o = self.perf_get_page_size(current, a);
        }
    }

    /// Start a walk that advances one level per [`StepWalk::step`], for interleaving a walk
    /// with writers in tests and teaching.
    pub fn begin_walk<'a>(&'a self, irq: &'a IrqOff<'a>, mm: MmId, addr: u64) -> StepWalk<'a> {
        let p = self.cfg.paging;
        let table = self.root(mm);
        let done = if p.is_canonical(addr) && table.is_some() { None } else { Some(0) };
        StepWalk { spaces: self, _irq: irq, addr, table: table.unwrap_or(0), level: 0, done }
    }
}

/// A walk in progress, one level per step; the same rules as `perf_get_pgtable_size()`.
#[derive(Debug)]
pub struct StepWalk<'a> {
    spaces: &'a AddressSpaces,
    _irq: &'a IrqOff<'a>,
    addr: u64,
    table: u32,
    level: usize,
    done: Option<u64>,
}

impl StepWalk<'_> {
    /// Read the next level's entry; returns the page size once the walk has finished.
    pub fn step(&mut self) -> Option<u64> {
        if self.done.is_some() {
            return self.done;
        }
        let p = self.spaces.cfg.paging;
        let levels = p.levels();
        let Some(&level) = levels.get(self.level) else {
            self.done = Some(0);
            return self.done;
        };
        let e = self.spaces.tables.load(self.table, p.index(level, self.addr));
        match decide(level, e) {
            Ok(next) => {
                self.table = next;
                self.level += 1;
            }
            Err(size) => self.done = Some(size),
        }
        self.done
    }

    /// The level the next step reads, if the walk is not finished.
    pub fn next_level(&self) -> Option<Level> {
        if self.done.is_some() {
            return None;
        }
        self.spaces.cfg.paging.levels().get(self.level).copied()
    }

    /// Run the remaining steps.
    pub fn finish(mut self) -> u64 {
        loop {
            if let Some(s) = self.step() {
                return s;
            }
        }
    }
}

/// The two page-size fields of one sample, as `perf_prepare_sample()` computes them:
/// `DATA_PAGE_SIZE` from the data address `addr` (whatever the PMU provided, 0 if none; the
/// address is fetched even when `PERF_SAMPLE_ADDR` is not in `sample_type`) and
/// `CODE_PAGE_SIZE` from the instruction pointer `ip` (computed even without
/// `PERF_SAMPLE_IP`). `None` means the bit is not in `sample_type`.
///
/// The record encoder writes them as two `u64`s after `PERF_SAMPLE_CGROUP` and before the AUX
/// block (spec/ring-buffer-aux-records.md §6.2 items 22 and 23): data first, then code.
pub fn sample_page_sizes(
    spaces: &AddressSpaces,
    current: TaskMmView,
    sample_type: u64,
    ip: u64,
    addr: u64,
) -> (Option<u64>, Option<u64>) {
    let data = (sample_type & PERF_SAMPLE_DATA_PAGE_SIZE != 0).then(|| spaces.perf_get_page_size(current, addr));
    let code = (sample_type & PERF_SAMPLE_CODE_PAGE_SIZE != 0).then(|| spaces.perf_get_page_size(current, ip));
    (data, code)
}

/// `get_page_size_name()` of tools/perf: "N/A" for 0, else "4K", "2M", "1G", ...
pub fn page_size_name(size: u64) -> String {
    if size == 0 {
        return "N/A".to_string();
    }
    const UNITS: [(u64, &str); 4] = [(1 << 40, "T"), (1 << 30, "G"), (1 << 20, "M"), (1 << 10, "K")];
    for (u, n) in UNITS {
        if size >= u && size % u == 0 {
            return format!("{}{}", size / u, n);
        }
    }
    format!("{size}")
}
