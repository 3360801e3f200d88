//! x86-64 page tables: 4 KiB tables of 512 eight-byte entries, 4-level (48-bit) or 5-level
//! (57-bit, LA57) paging, canonical-address rules and the entry encoding. Models the geometry of
//! arch/x86/include/asm/pgtable_64_types.h (`PGDIR_SHIFT`, `P4D_SHIFT`, `PUD_SHIFT`,
//! `PMD_SHIFT`, `pgtable_l5_enabled()`) and the `pXd_present()` / `pXd_leaf()` tests of
//! arch/x86/include/asm/pgtable.h; facts: spec/task-data-slab-page-size.md §C.6.
//!
//! Tables live in a [`TableArena`]: one zeroed allocation that never moves, so a lock-free
//! walker can hold a table index while a writer (under the model's mmap lock) changes other
//! entries. A table reference inside an entry is the table's arena index stored in the
//! physical-frame bits (12..52), so no pointer and no `unsafe` is needed.

use std::alloc::{alloc_zeroed, handle_alloc_error, Layout};
use std::sync::atomic::{AtomicU64, Ordering};

/// Entries per table (`PTRS_PER_PTE` = `PTRS_PER_PMD` = ... = 512).
pub const PTRS_PER_TABLE: usize = 512;
/// `_PAGE_PRESENT` (bit 0).
pub const PAGE_PRESENT: u64 = 1 << 0;
/// `_PAGE_RW` (bit 1).
pub const PAGE_RW: u64 = 1 << 1;
/// `_PAGE_USER` (bit 2).
pub const PAGE_USER: u64 = 1 << 2;
/// `_PAGE_PSE` (bit 7): at a PUD or PMD, the entry maps a 1 GiB or 2 MiB page (a leaf).
pub const PAGE_PSE: u64 = 1 << 7;
/// Frame-number field of an entry (bits 12..52, `PTE_PFN_MASK`).
pub const PFN_MASK: u64 = ((1u64 << 52) - 1) & !((1u64 << 12) - 1);

/// 4 KiB: a PTE leaf (`PAGE_SIZE`).
pub const SIZE_4K: u64 = 1 << 12;
/// 2 MiB: a PMD leaf (`PMD_SIZE`).
pub const SIZE_2M: u64 = 1 << 21;
/// 1 GiB: a PUD leaf (`PUD_SIZE`).
pub const SIZE_1G: u64 = 1 << 30;

/// Build an entry that references the table with arena index `table`.
#[inline]
pub fn table_entry(table: u32, user: bool) -> u64 {
    ((table as u64) << 12) | PAGE_PRESENT | PAGE_RW | if user { PAGE_USER } else { 0 }
}

/// Build a leaf entry for frame `pfn`; `huge` sets the PS bit (PUD / PMD leaves).
#[inline]
pub fn leaf_entry(pfn: u64, huge: bool, user: bool) -> u64 {
    ((pfn << 12) & PFN_MASK)
        | PAGE_PRESENT
        | PAGE_RW
        | if user { PAGE_USER } else { 0 }
        | if huge { PAGE_PSE } else { 0 }
}

/// `pXd_present()`.
#[inline]
pub fn present(e: u64) -> bool {
    e & PAGE_PRESENT != 0
}

/// `pud_leaf()` / `pmd_leaf()`: present with the PS bit.
#[inline]
pub fn is_leaf(e: u64) -> bool {
    e & (PAGE_PRESENT | PAGE_PSE) == (PAGE_PRESENT | PAGE_PSE)
}

/// The arena index of the table an entry references (its frame number).
#[inline]
pub fn entry_table(e: u64) -> u32 {
    ((e & PFN_MASK) >> 12) as u32
}

/// Paging mode: 4-level (48-bit virtual addresses) or 5-level (LA57, 57-bit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Paging {
    /// 4-level paging; the P4D level is folded into the PGD (`PTRS_PER_P4D` = 1).
    #[default]
    FourLevel,
    /// 5-level paging (`pgtable_l5_enabled()`): PGD = PML5, P4D = PML4.
    FiveLevel,
}

/// A page-table level, top to bottom.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    /// Page global directory (PML4 with 4-level paging, PML5 with 5-level).
    Pgd,
    /// P4D (PML4 with 5-level paging; folded with 4-level).
    P4d,
    /// Page upper directory (PDPT); may hold 1 GiB leaves.
    Pud,
    /// Page middle directory (PD); may hold 2 MiB leaves.
    Pmd,
    /// Page table entry level (PT); holds 4 KiB leaves.
    Pte,
}

impl Level {
    /// `*_SHIFT` of the level (the address bits one entry of this level covers).
    pub fn shift(self, paging: Paging) -> u32 {
        match self {
            Level::Pgd => match paging {
                Paging::FourLevel => 39,
                Paging::FiveLevel => 48,
            },
            Level::P4d => 39,
            Level::Pud => 30,
            Level::Pmd => 21,
            Level::Pte => 12,
        }
    }

    /// Leaf size at this level, if x86-64 allows a leaf here (`pXd_leaf_size()`).
    pub fn leaf_size(self) -> Option<u64> {
        match self {
            Level::Pud => Some(SIZE_1G),
            Level::Pmd => Some(SIZE_2M),
            Level::Pte => Some(SIZE_4K),
            Level::Pgd | Level::P4d => None,
        }
    }
}

impl Paging {
    /// Virtual-address width: 48 or 57 bits.
    pub fn va_bits(self) -> u32 {
        match self {
            Paging::FourLevel => 48,
            Paging::FiveLevel => 57,
        }
    }

    /// The levels that exist as separate tables, top to bottom.
    pub fn levels(self) -> &'static [Level] {
        match self {
            Paging::FourLevel => &[Level::Pgd, Level::Pud, Level::Pmd, Level::Pte],
            Paging::FiveLevel => &[Level::Pgd, Level::P4d, Level::Pud, Level::Pmd, Level::Pte],
        }
    }

    /// Canonical address: the bits above the top VA bit all equal it (else #GP).
    #[inline]
    pub fn is_canonical(self, addr: u64) -> bool {
        let s = 64 - self.va_bits();
        (((addr << s) as i64) >> s) as u64 == addr
    }

    /// `TASK_SIZE_MAX`: the end of user space (2^47 - 4096 or 2^56 - 4096; the last page is a
    /// guard).
    pub fn task_size_max(self) -> u64 {
        (1u64 << (self.va_bits() - 1)) - SIZE_4K
    }

    /// Start of the kernel half (the lowest canonical address with the top VA bit set).
    pub fn kernel_start(self) -> u64 {
        !((1u64 << (self.va_bits() - 1)) - 1)
    }

    /// Index of `addr` in a table of `level` (`pgd_index()`, `pud_index()`, ...).
    #[inline]
    pub fn index(self, level: Level, addr: u64) -> usize {
        ((addr >> level.shift(self)) & (PTRS_PER_TABLE as u64 - 1)) as usize
    }

    /// First PGD index of the kernel half (256 in both modes).
    pub fn kernel_pgd_index(self) -> usize {
        self.index(Level::Pgd, self.kernel_start())
    }
}

/// One page-table page: 512 entries, each read and written atomically (`READ_ONCE` /
/// `WRITE_ONCE`).
pub struct Table {
    entries: [AtomicU64; PTRS_PER_TABLE],
}

/// Upper bound on table pages per arena (1 Mi tables = 4 GiB of page tables).
pub const MAX_TABLES: usize = 1 << 20;
/// Default capacity of an arena: 64 Ki tables (256 MiB of address space reserved, backed only
/// when touched), enough for ~128 GiB of memory mapped with 4 KiB pages.
pub const DEFAULT_TABLES: usize = 1 << 16;

/// An arena of page-table pages addressed by `u32` index: one zeroed allocation of
/// `capacity` tables that never moves, so any index stays readable for the arena's life and a
/// table is found from its index with one multiply-add (no per-level indirection). Memory is
/// obtained zeroed from the allocator, so untouched tables cost no RAM. Reuse of a freed index
/// is what the grace period (`grace.rs`) guards.
pub struct TableArena {
    tables: Box<[Table]>,
}

impl Default for TableArena {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_TABLES)
    }
}

impl TableArena {
    /// An arena with room for `capacity` tables (clamped to 1..=[`MAX_TABLES`]).
    pub fn with_capacity(capacity: usize) -> Self {
        let n = capacity.clamp(1, MAX_TABLES);
        let layout = Layout::array::<Table>(n).unwrap_or_else(|_| unreachable!("n <= MAX_TABLES fits"));
        // SAFETY: `layout` has a non-zero size (n >= 1 tables of 4096 bytes). `alloc_zeroed`
        // returns null (handled) or memory valid for `n` `Table`s with that layout. Every field
        // of `Table` is an `AtomicU64`, which has the same in-memory representation as `u64`,
        // so the all-zero bytes are `n` valid tables of zero entries. `Box<[Table]>` of length
        // `n` deallocates with `Layout::array::<Table>(n)`, the layout allocated here.
        let tables = unsafe {
            let p = alloc_zeroed(layout).cast::<Table>();
            if p.is_null() {
                handle_alloc_error(layout);
            }
            Box::from_raw(std::ptr::slice_from_raw_parts_mut(p, n))
        };
        TableArena { tables }
    }

    /// Number of tables the arena can hold.
    pub fn capacity(&self) -> usize {
        self.tables.len()
    }

    /// Whether table `index` exists in this arena (writer side, before handing it out).
    pub fn ensure(&self, index: u32) -> bool {
        (index as usize) < self.tables.len()
    }

    #[inline(always)]
    fn slot(&self, table: u32, idx: usize) -> Option<&AtomicU64> {
        // `idx` is masked, so only the table index can be out of range.
        Some(&self.tables.get(table as usize)?.entries[idx & (PTRS_PER_TABLE - 1)])
    }

    /// Read one entry once. It pairs with the Release store that published a table below it
    /// and, being SeqCst, also with the writer's SeqCst fence before its reader check (see
    /// `grace.rs`); on x86-64 and arm64 a SeqCst load is the same instruction as an Acquire
    /// load. An index outside the arena reads as a non-present entry.
    #[inline(always)]
    pub fn load(&self, table: u32, idx: usize) -> u64 {
        match self.slot(table, idx) {
            Some(a) => a.load(Ordering::SeqCst),
            None => 0,
        }
    }

    /// Write one entry (Release: a table it references is fully initialised first).
    #[inline]
    pub fn store(&self, table: u32, idx: usize, e: u64) {
        if let Some(a) = self.slot(table, idx) {
            a.store(e, Ordering::Release);
        }
    }

    /// Zero all 512 entries of a table (before it returns to the free list).
    pub fn zero(&self, table: u32) {
        for i in 0..PTRS_PER_TABLE {
            self.store(table, i, 0);
        }
    }

    /// Number of present entries in a table.
    pub fn present_count(&self, table: u32) -> usize {
        (0..PTRS_PER_TABLE).filter(|&i| present(self.load(table, i))).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_rules_per_mode() {
        let p4 = Paging::FourLevel;
        assert!(p4.is_canonical(0x0000_7fff_ffff_ffff));
        assert!(!p4.is_canonical(0x0000_8000_0000_0000));
        assert!(p4.is_canonical(0xffff_8000_0000_0000));
        assert!(!p4.is_canonical(0xfff0_0000_0000_0000));
        let p5 = Paging::FiveLevel;
        assert!(p5.is_canonical(0x0000_8000_0000_0000));
        assert!(p5.is_canonical(0x00ff_ffff_ffff_ffff));
        assert!(!p5.is_canonical(0x0100_0000_0000_0000));
        assert!(p5.is_canonical(0xff00_0000_0000_0000));
        assert_eq!(p4.task_size_max(), 0x0000_7fff_ffff_f000);
        assert_eq!(p5.task_size_max(), (1u64 << 56) - 4096);
        assert_eq!(p4.kernel_start(), 0xffff_8000_0000_0000);
        assert_eq!(p5.kernel_start(), 0xff00_0000_0000_0000);
        assert_eq!(p4.kernel_pgd_index(), 256);
        assert_eq!(p5.kernel_pgd_index(), 256);
    }

    #[test]
    fn indices_take_nine_bits_per_level() {
        let a = 0x0000_7f12_3456_7000u64;
        let p = Paging::FourLevel;
        assert_eq!(p.index(Level::Pgd, a), ((a >> 39) & 511) as usize);
        assert_eq!(p.index(Level::Pte, a), ((a >> 12) & 511) as usize);
        assert_eq!(Paging::FiveLevel.index(Level::Pgd, 0x00ff_0000_0000_0000), 255);
    }

    #[test]
    fn entries_round_trip_table_index_and_flags() {
        let e = table_entry(123_456, true);
        assert!(present(e) && !is_leaf(e));
        assert_eq!(entry_table(e), 123_456);
        let l = leaf_entry(7, true, false);
        assert!(is_leaf(l));
        assert!(!is_leaf(leaf_entry(7, false, false)));
        assert!(!is_leaf(PAGE_PSE), "a non-present entry is never a leaf");
    }

    #[test]
    fn arena_memory_starts_zeroed_and_holds_writes_at_both_ends() {
        let a = TableArena::with_capacity(300);
        assert_eq!(a.capacity(), 300);
        for t in [0u32, 1, 150, 299] {
            assert_eq!(a.present_count(t), 0);
            a.store(t, 511, t as u64 * 2 + 1);
            assert_eq!(a.load(t, 511), t as u64 * 2 + 1);
        }
        assert_eq!(a.load(300, 0), 0, "past the end reads as non-present");
        assert_eq!(TableArena::with_capacity(0).capacity(), 1);
    }

    #[test]
    fn arena_reads_unbacked_tables_as_empty() {
        let a = TableArena::with_capacity(16);
        assert_eq!(a.load(5, 3), 0);
        assert_eq!(a.load(u32::MAX, 0), 0);
        assert!(!a.ensure(u32::MAX));
        assert!(!a.ensure(16));
        assert!(a.ensure(5));
        a.store(5, 3, 0xabc1);
        assert_eq!(a.load(5, 3), 0xabc1);
        assert_eq!(a.present_count(5), 1);
        a.zero(5);
        assert_eq!(a.present_count(5), 0);
    }
}
