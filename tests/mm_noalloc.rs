//! The page-size walk never allocates: this test binary installs a counting global allocator
//! and checks that many walks (every leaf size, holes, kernel addresses, kernel threads, the
//! step walker) allocate nothing. The walk takes no lock either: it only loads atomics (the
//! writer mutex is held by a second thread for the whole measurement, and walks still finish).
//! Allocations are counted per thread, so the lock-holding thread's own do not count.

use perfcore::mm::{AddressSpaces, MapKind, MmConfig, Paging, TaskMmView, SIZE_1G, SIZE_2M, SIZE_4K};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Allocations made by this thread (const-initialised, no destructor: safe inside alloc).
    static MINE: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    ALLOCS.fetch_add(1, Ordering::Relaxed);
    let _ = MINE.try_with(|c| c.set(c.get() + 1));
}

fn mine() -> u64 {
    MINE.with(|c| c.get())
}

// SAFETY: forwards every call unchanged to the system allocator; only counts allocations.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn many_walks_allocate_nothing_even_with_the_mmap_lock_held() {
    for paging in [Paging::FourLevel, Paging::FiveLevel] {
        let s = AddressSpaces::new(MmConfig { paging, ..MmConfig::default() }).unwrap();
        let mm = s.new_mm().unwrap();
        let a = 0x4000_0000u64;
        s.mmap(mm, a, 4 * SIZE_2M, SIZE_4K, MapKind::Anon, true).unwrap();
        s.collapse(mm, a + SIZE_2M, SIZE_2M).unwrap();
        s.mmap(mm, 4 * SIZE_1G, SIZE_1G, SIZE_1G, MapKind::Hugetlb, true).unwrap();
        let kernel: Vec<u64> = s.kernel_regions().iter().map(|r| r.start + 4096).collect();
        let mut addrs: Vec<u64> = (0..4096u64).map(|i| a + i * 1999).collect();
        addrs.extend([4 * SIZE_1G + 77, 0, 0x10, 0x0000_7fff_ffff_0000, 0x8000_0000_0000_0000]);
        addrs.extend(&kernel);
        let user = TaskMmView::user(mm);
        let kt = TaskMmView::kernel_thread(Some(mm));
        let mut out = vec![0u64; addrs.len()];

        // Hold the writer lock on another thread for the whole measurement.
        let (locked_tx, locked_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        std::thread::scope(|sc| {
            let s = &s;
            sc.spawn(move || {
                let g = s.mmap_write_lock();
                locked_tx.send(()).unwrap();
                done_rx.recv().unwrap();
                drop(g);
            });
            locked_rx.recv().unwrap();
            let before = mine();
            let mut sum = 0u64;
            for _ in 0..50 {
                for &x in &addrs {
                    sum = sum.wrapping_add(s.perf_get_page_size(user, x));
                    sum = sum.wrapping_add(s.perf_get_page_size(kt, x));
                }
                s.page_sizes_into(user, &addrs, &mut out);
                {
                    let irq = s.irq_off();
                    sum = sum.wrapping_add(s.perf_get_pgtable_size(&irq, mm, a));
                    sum = sum.wrapping_add(s.begin_walk(&irq, mm, a + SIZE_2M).finish());
                }
            }
            let after = mine();
            done_tx.send(()).unwrap();
            assert_eq!(after - before, 0, "walks allocated {} times", after - before);
            assert!(sum > 0);
        });
        assert_eq!(out[0], SIZE_4K);
        assert!(out.contains(&SIZE_2M) && out.contains(&0));
        assert_eq!(s.perf_get_page_size(user, 4 * SIZE_1G + 77), SIZE_1G);
        // Sanity: the counter does see allocations.
        let (before, total) = (mine(), ALLOCS.load(Ordering::SeqCst));
        let v: Vec<u64> = std::hint::black_box(vec![1, 2, 3]);
        assert!(mine() > before && ALLOCS.load(Ordering::SeqCst) > total && v.len() == 3);
    }
}
