//! Deferred freeing of page-table pages and the read-side sections that make a lockless walk
//! safe. Models the protection `perf_get_page_size()` relies on (kernel/events/core.c): the
//! walk runs with local IRQs disabled, and page-table pages are freed either after an IPI that
//! must wait for IRQs-off sections (`tlb_remove_table_sync_one()`) or after an RCU grace period
//! (`tlb_remove_table_rcu()`, `pte_free_defer()` on THP collapse). Facts:
//! spec/task-data-slab-page-size.md §C.3 step 2.
//!
//! In the model a walker opens an [`IrqOff`] section (one atomic increment); a table that is
//! unlinked goes to the deferred list instead of the free list; `synchronize()` (the end of a
//! grace period) reclaims the deferred tables only when no section is open. A walker that read a
//! table index before the unlink therefore still reads the old, unchanged table.

use super::pgtable::TableArena;
use crate::{Error, Result};
use std::sync::atomic::{fence, AtomicU64, Ordering};

/// Read-side state: how many walkers are inside an IRQs-off section right now.
#[derive(Debug, Default)]
pub struct ReadSide {
    readers: AtomicU64,
}

impl ReadSide {
    /// Enter a section (`local_irq_save()`). SeqCst so that the increment is ordered before
    /// every entry load of the walk, against the writer's unlink + fence + reader check.
    #[inline]
    pub fn enter(&self) -> IrqOff<'_> {
        self.readers.fetch_add(1, Ordering::SeqCst);
        IrqOff { side: self }
    }

    /// Sections open right now.
    pub fn active(&self) -> u64 {
        self.readers.load(Ordering::SeqCst)
    }
}

/// Proof that the holder is inside an IRQs-off section: the walker functions require one, as
/// the kernel's walker requires its caller to have interrupts disabled. Dropping it ends the
/// section (`local_irq_restore()`).
#[derive(Debug)]
pub struct IrqOff<'a> {
    side: &'a ReadSide,
}

impl Drop for IrqOff<'_> {
    #[inline]
    fn drop(&mut self) {
        self.side.readers.fetch_sub(1, Ordering::Release);
    }
}

/// How unlinked page-table pages are returned for reuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TableFree {
    /// After a grace period (the kernel's rule): unlinked tables wait on the deferred list until
    /// `synchronize()` finds no walker inside a section.
    #[default]
    Deferred,
    /// Immediately zeroed and reused: the broken alternative, kept to show what a lockless walk
    /// would read without the grace period.
    Immediate,
}

/// Writer-side table allocator: bump index, free list, deferred list.
#[derive(Debug, Default)]
pub struct TableAllocator {
    next: u32,
    free: Vec<u32>,
    deferred: Vec<u32>,
    /// Tables handed out and not yet freed (deferred ones included).
    pub live: u64,
    /// Tables reclaimed by grace-period ends so far.
    pub reclaimed: u64,
    /// Grace periods completed.
    pub grace_periods: u64,
}

impl TableAllocator {
    /// Allocate a zeroed table (writer side, under the mmap lock).
    pub fn alloc(&mut self, arena: &TableArena) -> Result<u32> {
        let t = match self.free.pop() {
            Some(t) => t,
            None => {
                let t = self.next;
                if !arena.ensure(t) {
                    return Err(Error::perf(
                        crate::Errno::ENOMEM,
                        format!("page-table arena exhausted ({} tables)", super::pgtable::MAX_TABLES),
                    ));
                }
                self.next += 1;
                t
            }
        };
        self.live += 1;
        Ok(t)
    }

    /// Free a table that has just been unlinked from its parent.
    pub fn free(&mut self, arena: &TableArena, t: u32, mode: TableFree) {
        match mode {
            TableFree::Deferred => self.deferred.push(t),
            TableFree::Immediate => {
                arena.zero(t);
                self.free.push(t);
                self.live -= 1;
            }
        }
    }

    /// Tables waiting for a grace period.
    pub fn deferred(&self) -> usize {
        self.deferred.len()
    }

    /// End a grace period: if no walker is inside a section, zero and reclaim every deferred
    /// table and return how many; otherwise refuse (the kernel would wait here).
    pub fn synchronize(&mut self, arena: &TableArena, side: &ReadSide) -> Result<usize> {
        // Order the unlinks (already stored) before the reader check.
        fence(Ordering::SeqCst);
        let active = side.active();
        if active != 0 {
            return Err(Error::Usage(format!(
                "synchronize(): the grace period cannot end while {active} walker(s) are inside \
                 their IRQs-off section"
            )));
        }
        let n = self.deferred.len();
        for t in self.deferred.drain(..) {
            arena.zero(t);
            self.free.push(t);
        }
        self.live -= n as u64;
        self.reclaimed += n as u64;
        self.grace_periods += 1;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deferred_tables_wait_for_sections_to_close() {
        let arena = TableArena::new();
        let side = ReadSide::default();
        let mut a = TableAllocator::default();
        let t = a.alloc(&arena).unwrap();
        arena.store(t, 0, 1);
        a.free(&arena, t, TableFree::Deferred);
        let s = side.enter();
        assert!(a.synchronize(&arena, &side).is_err());
        assert_eq!(arena.load(t, 0), 1, "a deferred table keeps its contents");
        drop(s);
        assert_eq!(a.synchronize(&arena, &side).unwrap(), 1);
        assert_eq!(arena.load(t, 0), 0);
        assert_eq!(a.alloc(&arena).unwrap(), t, "reclaimed tables are reused");
    }

    #[test]
    fn immediate_free_reuses_at_once() {
        let arena = TableArena::new();
        let mut a = TableAllocator::default();
        let t = a.alloc(&arena).unwrap();
        a.free(&arena, t, TableFree::Immediate);
        assert_eq!(a.deferred(), 0);
        assert_eq!(a.alloc(&arena).unwrap(), t);
    }
}
