//! User mappings of one address space and the page-table changes they make: `mmap` of
//! anonymous, file and hugetlb regions (populated as with `MAP_POPULATE`, or left to fault),
//! `munmap` including partial unmaps, THP collapse (khugepaged / `MADV_COLLAPSE`:
//! `collapse_huge_page()` replaces a full PTE table by a PMD leaf and frees the table with
//! `pte_free_defer()`) and THP split (`__split_huge_pmd()`: a PMD leaf becomes a PTE table of
//! 512 entries). Models mm/mmap.c, mm/vma.c (`do_vmi_munmap()`), mm/khugepaged.c,
//! mm/huge_memory.c and the hugetlb alignment rules of mm/hugetlb.c (`hugetlb_vm_op_split()`).
//! Facts: spec/task-data-slab-page-size.md §C.6.
//!
//! Simplifications: `mmap` always behaves as `MAP_FIXED` (it replaces what it overlaps); VMAs
//! are not merged; a collapse needs the whole 2 MiB block inside one populated anon/file VMA.

use super::pgtable::{entry_table, is_leaf, leaf_entry, present, table_entry, Level, SIZE_1G, SIZE_2M, SIZE_4K};
use super::spaces::{AddressSpaces, Inner, MmId};
use crate::{Errno, Error, Result};
use std::collections::BTreeMap;

/// `mmap_min_addr` (Debian's default): the lowest address a user mapping may start at.
pub const MMAP_MIN_ADDR: u64 = 65536;

/// What backs a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MapKind {
    /// Anonymous memory (`MAP_ANONYMOUS`); 4 KiB pages, THP by collapse.
    Anon,
    /// A file mapping; 4 KiB pages, file THP (`FilePmdMapped`) by collapse.
    File,
    /// hugetlbfs (`MAP_HUGETLB`): 2 MiB or 1 GiB pages, never split.
    Hugetlb,
}

impl MapKind {
    /// Parse "anon" | "file" | "hugetlb".
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "anon" => Ok(MapKind::Anon),
            "file" => Ok(MapKind::File),
            "hugetlb" => Ok(MapKind::Hugetlb),
            _ => Err(Error::Usage(format!("kind {s:?} is not one of \"anon\", \"file\", \"hugetlb\""))),
        }
    }

    /// The name `parse` accepts.
    pub fn name(self) -> &'static str {
        match self {
            MapKind::Anon => "anon",
            MapKind::File => "file",
            MapKind::Hugetlb => "hugetlb",
        }
    }
}

/// One VMA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// First address.
    pub start: u64,
    /// End (exclusive).
    pub end: u64,
    /// What backs it.
    pub kind: MapKind,
    /// Base page size of the VMA (`vma_kernel_pagesize()`): 4 KiB, or the hugetlb size.
    pub page_size: u64,
    /// Whether its pages were populated (mapped in the page tables) when it was created.
    pub populated: bool,
}

/// The mappings of one `mm_struct` (its VMA tree); the page tables live in the arena.
#[derive(Clone, Debug, Default)]
pub struct MmStruct {
    pub(crate) vmas: BTreeMap<u64, Mapping>,
}

fn align_ok(x: u64, a: u64) -> bool {
    x % a == 0
}

impl AddressSpaces {
    /// Map `[addr, addr+length)` in `mm` (`MAP_FIXED`: existing mappings there are unmapped
    /// first). `page_size` is 4096 for anon/file, 2 MiB or 1 GiB for hugetlb; `addr` and
    /// `length` must be multiples of it. With `populate` every page is mapped now; without it
    /// the VMA exists but has no page-table entries (the model has no page faults), so walks
    /// answer 0 as for untouched memory.
    pub fn mmap(&self, mm: MmId, addr: u64, length: u64, page_size: u64, kind: MapKind, populate: bool) -> Result<()> {
        match (kind, page_size) {
            (MapKind::Anon | MapKind::File, SIZE_4K) => {}
            (MapKind::Hugetlb, SIZE_2M) => {}
            (MapKind::Hugetlb, SIZE_1G) if self.cfg.gbpages => {}
            (MapKind::Hugetlb, SIZE_1G) => {
                return Err(Error::perf(Errno::EINVAL, "hugetlb page_size 1 GiB needs GB pages (gbpages=false)"))
            }
            _ => {
                return Err(Error::perf(
                    Errno::EINVAL,
                    format!("page_size {page_size:#x} is not valid for a {} mapping", kind.name()),
                ))
            }
        }
        if length == 0 || !align_ok(length, page_size) {
            return Err(Error::perf(
                Errno::EINVAL,
                format!("length {length:#x} is not a non-zero multiple of page_size {page_size:#x}"),
            ));
        }
        if !align_ok(addr, page_size) {
            return Err(Error::perf(
                Errno::EINVAL,
                format!("addr {addr:#x} is not aligned to page_size {page_size:#x}"),
            ));
        }
        if addr < MMAP_MIN_ADDR {
            return Err(Error::perf(
                Errno::EPERM,
                format!("addr {addr:#x} is below mmap_min_addr ({MMAP_MIN_ADDR:#x})"),
            ));
        }
        let end = addr.checked_add(length).filter(|&e| e <= self.cfg.paging.task_size_max());
        let Some(end) = end else {
            return Err(Error::perf(
                Errno::ENOMEM,
                format!(
                    "addr {addr:#x} + length {length:#x} passes TASK_SIZE_MAX ({:#x})",
                    self.cfg.paging.task_size_max()
                ),
            ));
        };
        let mut g = self.lock();
        self.check_user_mm(&g, mm)?;
        let pgd = self.root(mm).ok_or_else(|| Error::Internal("live mm without PGD".into()))?;
        self.unmap_locked(&mut g, mm, pgd, addr, end)?;
        if populate {
            let mut a = addr;
            while a < end {
                if let Err(e) = self.set_leaf(&mut g, pgd, a, page_size, true) {
                    self.clear_user_range(&mut g, pgd, addr, end);
                    return Err(e);
                }
                a += page_size;
            }
        }
        let vmas = &mut g.mms[mm.0 as usize].as_mut().expect("checked").vmas;
        vmas.insert(addr, Mapping { start: addr, end, kind, page_size, populated: populate });
        Ok(())
    }

    /// `munmap(addr, length)`: `addr` page-aligned, `length` rounded up to pages. A hugetlb VMA
    /// may only be cut at its huge-page boundaries (else EINVAL, nothing changed); THP blocks
    /// the range cuts through are split first.
    pub fn munmap(&self, mm: MmId, addr: u64, length: u64) -> Result<()> {
        if !align_ok(addr, SIZE_4K) {
            return Err(Error::perf(Errno::EINVAL, format!("addr {addr:#x} is not page aligned")));
        }
        if length == 0 {
            return Err(Error::perf(Errno::EINVAL, "length 0"));
        }
        let end = addr
            .checked_add(length.div_ceil(SIZE_4K) * SIZE_4K)
            .filter(|&e| e <= self.cfg.paging.task_size_max())
            .ok_or_else(|| {
                Error::perf(Errno::EINVAL, format!("addr {addr:#x} + length {length:#x} passes TASK_SIZE_MAX"))
            })?;
        let mut g = self.lock();
        self.check_user_mm(&g, mm)?;
        let pgd = self.root(mm).ok_or_else(|| Error::Internal("live mm without PGD".into()))?;
        self.unmap_locked(&mut g, mm, pgd, addr, end)
    }

    fn unmap_locked(&self, g: &mut Inner, mm: MmId, pgd: u32, start: u64, end: u64) -> Result<()> {
        let mmst = g.mms[mm.0 as usize].as_ref().expect("checked");
        let hit: Vec<Mapping> =
            mmst.vmas.range(..end).rev().take_while(|(_, v)| v.end > start).map(|(_, v)| v.clone()).collect();
        if hit.is_empty() {
            return Ok(());
        }
        for v in &hit {
            if v.kind == MapKind::Hugetlb {
                for cut in [start, end] {
                    if cut > v.start && cut < v.end && !align_ok(cut, v.page_size) {
                        return Err(Error::perf(
                            Errno::EINVAL,
                            format!(
                                "{cut:#x} cuts a hugetlb page of size {:#x} (mapping {:#x}-{:#x})",
                                v.page_size, v.start, v.end
                            ),
                        ));
                    }
                }
            }
        }
        // Split THP blocks the range only partly covers.
        for cut in [start, end] {
            if !align_ok(cut, SIZE_2M) {
                self.split_locked(g, pgd, cut & !(SIZE_2M - 1))?;
            }
        }
        self.clear_user_range(g, pgd, start, end);
        let vmas = &mut g.mms[mm.0 as usize].as_mut().expect("checked").vmas;
        for v in hit {
            vmas.remove(&v.start);
            if v.start < start {
                vmas.insert(v.start, Mapping { end: start, ..v.clone() });
            }
            if v.end > end {
                vmas.insert(end, Mapping { start: end, ..v });
            }
        }
        Ok(())
    }

    /// THP collapse (`MADV_COLLAPSE` / khugepaged) over `[addr, addr+length)`: every 2 MiB
    /// aligned block wholly inside the range, inside one anon or file VMA and fully mapped by
    /// 4 KiB PTEs becomes one PMD leaf; its PTE table is freed after a grace period. Returns the
    /// number of blocks collapsed.
    pub fn collapse(&self, mm: MmId, addr: u64, length: u64) -> Result<u64> {
        let end = addr
            .checked_add(length)
            .ok_or_else(|| Error::perf(Errno::EINVAL, format!("addr {addr:#x} + length {length:#x} overflows")))?;
        let mut g = self.lock();
        self.check_user_mm(&g, mm)?;
        let pgd = self.root(mm).ok_or_else(|| Error::Internal("live mm without PGD".into()))?;
        let mut block = addr.div_ceil(SIZE_2M) * SIZE_2M;
        let mut n = 0;
        let mode = self.cfg.table_free;
        while block.checked_add(SIZE_2M).is_some_and(|e| e <= end) {
            let vmas = &g.mms[mm.0 as usize].as_ref().expect("checked").vmas;
            let ok = vmas
                .range(..=block)
                .next_back()
                .is_some_and(|(_, v)| v.kind != MapKind::Hugetlb && v.start <= block && v.end >= block + SIZE_2M);
            if ok {
                if let Some((t, idx, e)) = self.entry_at(pgd, block, Level::Pmd) {
                    if present(e) && !is_leaf(e) {
                        let pte = entry_table(e);
                        if self.tables.present_count(pte) == super::pgtable::PTRS_PER_TABLE {
                            self.tables.store(t, idx, leaf_entry(block >> 12, true, true));
                            g.alloc.free(&self.tables, pte, mode);
                            g.collapses += 1;
                            n += 1;
                        }
                    }
                }
            }
            block += SIZE_2M;
        }
        Ok(n)
    }

    /// THP split of the block containing `addr`: a PMD leaf of an anon/file VMA becomes a PTE
    /// table of 512 entries. Returns whether a split happened; a hugetlb page is EINVAL.
    pub fn split(&self, mm: MmId, addr: u64) -> Result<bool> {
        let mut g = self.lock();
        self.check_user_mm(&g, mm)?;
        let vmas = &g.mms[mm.0 as usize].as_ref().expect("checked").vmas;
        if let Some((_, v)) = vmas.range(..=addr).next_back() {
            if v.kind == MapKind::Hugetlb && addr < v.end {
                return Err(Error::perf(
                    Errno::EINVAL,
                    format!("{addr:#x} is in a hugetlb mapping, which cannot be split"),
                ));
            }
        }
        let pgd = self.root(mm).ok_or_else(|| Error::Internal("live mm without PGD".into()))?;
        self.split_locked(&mut g, pgd, addr & !(SIZE_2M - 1))
    }

    /// Split the PMD leaf at `block` (2 MiB aligned) if there is one. The new PTE table is
    /// filled before the PMD entry is switched to it (Release), so a concurrent walk sees
    /// either the 2 MiB leaf or the complete table.
    fn split_locked(&self, g: &mut Inner, pgd: u32, block: u64) -> Result<bool> {
        let Some((t, idx, e)) = self.entry_at(pgd, block, Level::Pmd) else {
            return Ok(false);
        };
        if !is_leaf(e) {
            return Ok(false);
        }
        let pte = g.alloc.alloc(&self.tables)?;
        for i in 0..super::pgtable::PTRS_PER_TABLE {
            let a = block + i as u64 * SIZE_4K;
            self.tables.store(pte, i, leaf_entry(a >> 12, false, true));
        }
        self.tables.store(t, idx, table_entry(pte, true));
        g.splits += 1;
        Ok(true)
    }

    /// The VMAs of `mm` in address order.
    pub fn mappings(&self, mm: MmId) -> Result<Vec<Mapping>> {
        let g = self.lock();
        if mm == super::spaces::INIT_MM {
            return Ok(Vec::new());
        }
        self.check_user_mm(&g, mm)?;
        Ok(g.mms[mm.0 as usize].as_ref().expect("checked").vmas.values().cloned().collect())
    }

    /// Start addresses of the 2 MiB blocks of `mm`'s user half that are mapped by a PMD leaf
    /// (THP or hugetlb 2M), in address order.
    pub fn huge_pmd_blocks(&self, mm: MmId) -> Result<Vec<u64>> {
        let maps = self.mappings(mm)?;
        let pgd = self.root(mm).ok_or_else(|| Error::NotFound(format!("no address space with id {}", mm.0)))?;
        let mut v = Vec::new();
        for m in maps {
            let mut b = m.start.div_ceil(SIZE_2M) * SIZE_2M;
            while b + SIZE_2M <= m.end {
                if let Some((_, _, e)) = self.entry_at(pgd, b, Level::Pmd) {
                    if is_leaf(e) {
                        v.push(b);
                    }
                }
                b += SIZE_2M;
            }
        }
        Ok(v)
    }
}
