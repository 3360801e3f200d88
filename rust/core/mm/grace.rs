//! Deferred freeing of page-table pages and the read-side sections that make a lockless walk
//! safe. Models the protection `perf_get_page_size()` relies on (kernel/events/core.c): the
//! walk runs with local IRQs disabled, and page-table pages are freed either after an IPI that
//! must wait for IRQs-off sections (`tlb_remove_table_sync_one()`) or after an RCU grace period
//! (`tlb_remove_table_rcu()`, `pte_free_defer()` on THP collapse). Facts:
//! spec/task-data-slab-page-size.md §C.3 step 2.
//!
//! In the model a walker opens an [`IrqOff`] section (one atomic exchange on its thread's own
//! slot); a table that is unlinked goes to the deferred list instead of the free list;
//! `synchronize()` (the end of a grace period) reclaims the deferred tables only when no
//! section is open. A walker that read a table index before the unlink therefore still reads
//! the old table, never a reused one.

use super::pgtable::TableArena;
use crate::{Error, Result};
use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering};

/// Reader slots with their own cache line: one per thread (the model's CPU), so entering a
/// section is one atomic exchange on a line no other thread writes and leaving it is a plain
/// store. Threads beyond [`READER_SLOTS`] share one counter.
pub const READER_SLOTS: usize = 128;

#[repr(align(64))]
#[derive(Debug, Default)]
struct Slot(AtomicU64);

static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD_SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
}

#[inline(always)]
fn thread_slot() -> usize {
    THREAD_SLOT.with(|c| {
        let v = c.get();
        if v != usize::MAX {
            return v;
        }
        let n = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
        c.set(n);
        n
    })
}

/// Read-side state: which walkers are inside an IRQs-off section right now.
#[derive(Debug)]
pub struct ReadSide {
    slots: Box<[Slot]>,
    shared: Slot,
}

impl Default for ReadSide {
    fn default() -> Self {
        ReadSide { slots: (0..READER_SLOTS).map(|_| Slot::default()).collect(), shared: Slot::default() }
    }
}

impl ReadSide {
    /// Enter a section (`local_irq_save()`). The exchange is SeqCst so that it is ordered
    /// before every entry load of the walk, against the writer's unlink + fence + reader check
    /// in [`TableAllocator::synchronize`].
    #[inline]
    pub fn enter(&self) -> IrqOff<'_> {
        let i = thread_slot();
        match self.slots.get(i) {
            Some(slot) => {
                // Only this thread writes its slot: read the nesting depth, publish depth + 1.
                let depth = slot.0.load(Ordering::Relaxed);
                slot.0.swap(depth + 1, Ordering::SeqCst);
                IrqOff { slot: &slot.0, restore: Some(depth), _not_send: PhantomData }
            }
            None => {
                self.shared.0.fetch_add(1, Ordering::SeqCst);
                IrqOff { slot: &self.shared.0, restore: None, _not_send: PhantomData }
            }
        }
    }

    /// Sections open right now (all threads).
    pub fn active(&self) -> u64 {
        self.slots.iter().chain(std::iter::once(&self.shared)).map(|s| s.0.load(Ordering::SeqCst)).sum()
    }
}

/// Proof that the holder is inside an IRQs-off section: the walker functions require one, as
/// the kernel's walker requires its caller to have interrupts disabled. Dropping it ends the
/// section (`local_irq_restore()`). Like an IRQs-off region it belongs to one CPU (thread), so
/// it is neither `Send` nor `Sync`.
#[derive(Debug)]
pub struct IrqOff<'a> {
    slot: &'a AtomicU64,
    restore: Option<u64>,
    _not_send: PhantomData<*const ()>,
}

impl Drop for IrqOff<'_> {
    #[inline]
    fn drop(&mut self) {
        match self.restore {
            Some(depth) => self.slot.store(depth, Ordering::Release),
            None => {
                self.slot.fetch_sub(1, Ordering::Release);
            }
        }
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
                        format!(
                            "page-table arena exhausted: all {} tables in use (raise MmConfig::max_tables)",
                            arena.capacity()
                        ),
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
        let arena = TableArena::with_capacity(16);
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
    fn sections_nest_and_count_across_threads() {
        let side = ReadSide::default();
        let a = side.enter();
        let b = side.enter();
        assert_eq!(side.active(), 2);
        std::thread::scope(|s| {
            s.spawn(|| {
                let _c = side.enter();
                assert_eq!(side.active(), 3);
            });
        });
        assert_eq!(side.active(), 2);
        drop(b);
        assert_eq!(side.active(), 1);
        drop(a);
        assert_eq!(side.active(), 0);
    }

    #[test]
    fn many_threads_overflow_into_the_shared_counter() {
        let side = ReadSide::default();
        let barrier = std::sync::Barrier::new(READER_SLOTS + 9);
        std::thread::scope(|s| {
            for _ in 0..READER_SLOTS + 8 {
                s.spawn(|| {
                    let g = side.enter();
                    barrier.wait(); // all inside
                    barrier.wait(); // counted
                    drop(g);
                });
            }
            barrier.wait();
            assert_eq!(side.active(), READER_SLOTS as u64 + 8);
            barrier.wait();
        });
        assert_eq!(side.active(), 0);
    }

    #[test]
    fn immediate_free_reuses_at_once() {
        let arena = TableArena::with_capacity(16);
        let mut a = TableAllocator::default();
        let t = a.alloc(&arena).unwrap();
        a.free(&arena, t, TableFree::Immediate);
        assert_eq!(a.deferred(), 0);
        assert_eq!(a.alloc(&arena).unwrap(), t);
    }
}
