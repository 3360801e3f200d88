//! The page-size walk against hand-built layouts: leaf sizes, the mm choice of
//! `perf_get_page_size()`, the shared kernel half, THP collapse/split, hugetlb rules, the grace
//! period and the context-switch window that rules out `active_mm`.

use perfcore::abi::sample::{PERF_SAMPLE_CODE_PAGE_SIZE, PERF_SAMPLE_DATA_PAGE_SIZE, PERF_SAMPLE_IP};
use perfcore::mm::lazy_tlb::{context_switch_states, SwitchStep, SwitchTask};
use perfcore::mm::{
    sample_page_sizes, AddressSpaces, MapKind, MmConfig, Paging, TableFree, TaskMmView, INIT_MM, SIZE_1G, SIZE_2M,
    SIZE_4K,
};
use perfcore::Errno;

fn spaces(paging: Paging) -> AddressSpaces {
    AddressSpaces::new(MmConfig { paging, ..MmConfig::default() }).unwrap()
}

const A: u64 = 0x4000_0000; // 1 GiB aligned user address

#[test]
fn leaf_sizes_4k_2m_1g_and_zero_for_holes() {
    for p in [Paging::FourLevel, Paging::FiveLevel] {
        let s = spaces(p);
        let mm = s.new_mm().unwrap();
        s.mmap(mm, A, 3 * SIZE_4K, SIZE_4K, MapKind::Anon, true).unwrap();
        s.mmap(mm, A + SIZE_1G, 2 * SIZE_2M, SIZE_2M, MapKind::Hugetlb, true).unwrap();
        s.mmap(mm, 2 * SIZE_1G + A, SIZE_1G, SIZE_1G, MapKind::Hugetlb, true).unwrap();
        let u = TaskMmView::user(mm);
        assert_eq!(s.perf_get_page_size(u, A), SIZE_4K);
        assert_eq!(s.perf_get_page_size(u, A + 3 * SIZE_4K - 1), SIZE_4K);
        assert_eq!(s.perf_get_page_size(u, A + 3 * SIZE_4K), 0, "just past the mapping");
        assert_eq!(s.perf_get_page_size(u, A + SIZE_1G + SIZE_2M + 5), SIZE_2M);
        assert_eq!(s.perf_get_page_size(u, 3 * SIZE_1G + 12345), SIZE_1G);
        assert_eq!(s.perf_get_page_size(u, 0), 0, "null address");
        assert_eq!(s.perf_get_page_size(u, 0x0000_8000_0000_0000 << (p.va_bits() - 48)), 0, "non-canonical");
        if p == Paging::FiveLevel {
            let high = 0x00f0_0000_0000_0000;
            s.mmap(mm, high, SIZE_4K, SIZE_4K, MapKind::File, true).unwrap();
            assert_eq!(s.perf_get_page_size(u, high), SIZE_4K, "above 47 bits with LA57");
        } else {
            let e = s.mmap(mm, 0x00f0_0000_0000_0000, SIZE_4K, SIZE_4K, MapKind::File, true).unwrap_err();
            assert_eq!(e.errno(), Some(Errno::ENOMEM));
        }
    }
}

#[test]
fn kernel_half_is_shared_and_kernel_threads_walk_init_mm() {
    for p in [Paging::FourLevel, Paging::FiveLevel] {
        let s = spaces(p);
        let mms = [s.new_mm().unwrap(), s.new_mm().unwrap()];
        s.mmap(mms[0], A, SIZE_4K, SIZE_4K, MapKind::Anon, true).unwrap();
        let kt = TaskMmView::kernel_thread(Some(mms[0]));
        let regions = s.kernel_regions().to_vec();
        assert!(regions.iter().any(|r| r.page_size == SIZE_1G));
        assert!(regions.iter().any(|r| r.page_size == SIZE_2M));
        assert!(regions.iter().any(|r| r.page_size == SIZE_4K));
        for r in regions {
            for a in [r.start, r.start + r.size / 2 + 7, r.start + r.size - 1] {
                assert_eq!(s.perf_get_page_size(kt, a), r.page_size, "{} {a:#x}", r.name);
                for mm in mms {
                    assert_eq!(s.perf_get_page_size(TaskMmView::user(mm), a), r.page_size);
                }
            }
        }
        for r in s.kernel_regions() {
            let end = r.start + r.size;
            if !s.kernel_regions().iter().any(|o| o.start == end) {
                assert_eq!(s.perf_get_page_size(kt, end), 0, "past {}", r.name);
            }
        }
        // A user address sampled while a kernel thread (borrowing mms[0]) runs: init_mm -> 0.
        assert_eq!(s.perf_get_page_size(kt, A), 0);
        assert_eq!(s.perf_get_page_size(TaskMmView::user(mms[0]), A), SIZE_4K);
        // The rejected active_mm rule would have found it.
        assert_eq!(s.perf_get_page_size_active_mm(kt, A), Ok(SIZE_4K));
        // The user address is private to its mm.
        assert_eq!(s.perf_get_page_size(TaskMmView::user(mms[1]), A), 0);
    }
}

#[test]
fn collapse_and_split_change_the_answer() {
    let s = spaces(Paging::FourLevel);
    let mm = s.new_mm().unwrap();
    let u = TaskMmView::user(mm);
    s.mmap(mm, A, 3 * SIZE_2M, SIZE_4K, MapKind::Anon, true).unwrap();
    let before = s.stats();
    assert_eq!(s.collapse(mm, A - SIZE_4K, 2 * SIZE_2M + SIZE_4K).unwrap(), 2);
    assert_eq!(s.perf_get_page_size(u, A + SIZE_2M + 99), SIZE_2M);
    assert_eq!(s.perf_get_page_size(u, A + 2 * SIZE_2M), SIZE_4K, "third block not in range");
    assert_eq!(s.stats().tables_deferred, before.tables_deferred + 2, "PTE tables freed via the grace period");
    assert!(s.split(mm, A + 5).unwrap());
    assert!(!s.split(mm, A + 5).unwrap(), "already split");
    assert_eq!(s.perf_get_page_size(u, A + 5), SIZE_4K);
    assert_eq!(s.huge_pmd_blocks(mm).unwrap(), vec![A + SIZE_2M]);
    // Partial munmap through a THP splits it and leaves the rest at 4K.
    s.munmap(mm, A + SIZE_2M + SIZE_4K, SIZE_4K).unwrap();
    assert_eq!(s.perf_get_page_size(u, A + SIZE_2M), SIZE_4K);
    assert_eq!(s.perf_get_page_size(u, A + SIZE_2M + SIZE_4K), 0);
    assert_eq!(s.perf_get_page_size(u, A + SIZE_2M + 2 * SIZE_4K), SIZE_4K);
    // A block with a hole cannot collapse.
    assert_eq!(s.collapse(mm, A + SIZE_2M, SIZE_2M).unwrap(), 0);
}

#[test]
fn hugetlb_rules() {
    let s = spaces(Paging::FourLevel);
    let mm = s.new_mm().unwrap();
    s.mmap(mm, A, 4 * SIZE_2M, SIZE_2M, MapKind::Hugetlb, true).unwrap();
    assert_eq!(s.munmap(mm, A + SIZE_4K, SIZE_4K).unwrap_err().errno(), Some(Errno::EINVAL));
    assert_eq!(s.perf_get_page_size(TaskMmView::user(mm), A + SIZE_4K), SIZE_2M, "failed munmap changed nothing");
    assert_eq!(s.split(mm, A).unwrap_err().errno(), Some(Errno::EINVAL));
    s.munmap(mm, A + SIZE_2M, SIZE_2M).unwrap();
    assert_eq!(s.perf_get_page_size(TaskMmView::user(mm), A + SIZE_2M), 0);
    assert_eq!(s.perf_get_page_size(TaskMmView::user(mm), A + 2 * SIZE_2M), SIZE_2M);
    assert_eq!(s.mmap(mm, A + 7, SIZE_2M, SIZE_2M, MapKind::Hugetlb, true).unwrap_err().errno(), Some(Errno::EINVAL));
    assert_eq!(s.mmap(mm, A, SIZE_2M, SIZE_2M, MapKind::Anon, true).unwrap_err().errno(), Some(Errno::EINVAL));
    assert_eq!(s.mmap(mm, 4096, SIZE_4K, SIZE_4K, MapKind::Anon, true).unwrap_err().errno(), Some(Errno::EPERM));
    let nogb = AddressSpaces::new(MmConfig { gbpages: false, ..MmConfig::default() }).unwrap();
    let m2 = nogb.new_mm().unwrap();
    assert!(nogb
        .mmap(m2, SIZE_1G, SIZE_1G, SIZE_1G, MapKind::Hugetlb, true)
        .unwrap_err()
        .to_string()
        .contains("GB pages"));
}

#[test]
fn bad_handles_are_errors_not_panics() {
    let s = spaces(Paging::FourLevel);
    assert!(s.mmap(INIT_MM, A, SIZE_4K, SIZE_4K, MapKind::Anon, true).is_err());
    assert!(s.mmap(perfcore::mm::MmId(77), A, SIZE_4K, SIZE_4K, MapKind::Anon, true).is_err());
    assert_eq!(s.perf_get_page_size(TaskMmView::user(perfcore::mm::MmId(77)), A), 0);
    assert_eq!(s.perf_get_page_size(TaskMmView::user(perfcore::mm::MmId(u32::MAX)), A), 0);
    let mm = s.new_mm().unwrap();
    s.mmap(mm, A, SIZE_4K, SIZE_4K, MapKind::Anon, true).unwrap();
    s.drop_mm(mm).unwrap();
    assert_eq!(s.perf_get_page_size(TaskMmView::user(mm), A), 0);
    assert!(s.drop_mm(mm).is_err());
    assert!(s.drop_mm(INIT_MM).is_err());
}

#[test]
fn unmapping_frees_tables_through_the_grace_period() {
    let s = spaces(Paging::FourLevel);
    let base = s.stats().tables_live;
    let mm = s.new_mm().unwrap();
    s.mmap(mm, A, 4 * SIZE_2M, SIZE_4K, MapKind::Anon, true).unwrap();
    // PGD + PUD + PMD + 4 PTE tables.
    assert_eq!(s.stats().tables_live, base + 7);
    s.munmap(mm, A, 4 * SIZE_2M).unwrap();
    assert_eq!(s.stats().tables_deferred, 6, "PUD, PMD and 4 PTE tables wait; the PGD stays");
    assert_eq!(s.synchronize().unwrap(), 6);
    assert_eq!(s.stats().tables_live, base + 1);
    s.drop_mm(mm).unwrap();
    s.synchronize().unwrap();
    assert_eq!(s.stats().tables_live, base);
}

#[test]
fn a_walk_that_started_before_a_collapse_still_reads_the_old_pte_table() {
    let s = spaces(Paging::FourLevel);
    let mm = s.new_mm().unwrap();
    s.mmap(mm, A, SIZE_2M, SIZE_4K, MapKind::Anon, true).unwrap();
    let irq = s.irq_off();
    let mut w = s.begin_walk(&irq, mm, A + 8 * SIZE_4K);
    assert_eq!((w.step(), w.step(), w.step()), (None, None, None)); // PGD, PUD, PMD: holds the PTE table
                                                                    // Another CPU collapses the block: the PMD becomes a 2M leaf, the PTE table is deferred.
    assert_eq!(s.collapse(mm, A, SIZE_2M).unwrap(), 1);
    s.mmap(mm, 2 * SIZE_1G, 4 * SIZE_2M, SIZE_4K, MapKind::Anon, true).unwrap();
    assert!(s.synchronize().is_err(), "the grace period cannot end while the walk is in its section");
    assert_eq!(w.finish(), SIZE_4K, "the walk reads the PTE table as it was: the pre-collapse answer");
    drop(irq);
    assert_eq!(s.synchronize().unwrap(), 1);
    assert_eq!(s.perf_get_page_size(TaskMmView::user(mm), A + 8 * SIZE_4K), SIZE_2M);
}

#[test]
fn a_walk_across_munmap_answers_before_or_after_never_garbage() {
    let s = spaces(Paging::FourLevel);
    let mm = s.new_mm().unwrap();
    s.mmap(mm, A, SIZE_2M, SIZE_4K, MapKind::Anon, true).unwrap();
    let irq = s.irq_off();
    let mut w = s.begin_walk(&irq, mm, A);
    w.step();
    w.step(); // holds the PMD table index now
    s.munmap(mm, A, SIZE_2M).unwrap();
    s.mmap(mm, 3 * SIZE_1G, SIZE_2M, SIZE_2M, MapKind::Hugetlb, true).unwrap();
    assert_eq!(w.finish(), 0, "the unlinked PMD table is intact and its entry already cleared");
    drop(irq);
    assert!(s.synchronize().unwrap() > 0);
}

#[test]
fn without_the_grace_period_a_walk_reads_reused_tables() {
    let s = AddressSpaces::new(MmConfig { table_free: TableFree::Immediate, ..MmConfig::default() }).unwrap();
    let mm = s.new_mm().unwrap();
    s.mmap(mm, A, SIZE_2M, SIZE_4K, MapKind::Anon, true).unwrap();
    let irq = s.irq_off();
    let mut w = s.begin_walk(&irq, mm, A);
    w.step();
    w.step(); // holds the PMD table index now
    s.munmap(mm, A, SIZE_2M).unwrap();
    // The freed PMD table is reused at once for an unrelated mapping in another PUD slot; its
    // entry 0 now maps a hugetlb 2M page.
    s.mmap(mm, 3 * SIZE_1G, SIZE_2M, SIZE_2M, MapKind::Hugetlb, true).unwrap();
    assert_eq!(s.perf_get_page_size(TaskMmView::user(mm), A), 0, "A is unmapped");
    assert_eq!(w.finish(), SIZE_2M, "the stale walk reports a page size A never had");
}

#[test]
fn sample_fields_follow_sample_type_and_use_the_implicit_address() {
    let s = spaces(Paging::FourLevel);
    let mm = s.new_mm().unwrap();
    s.mmap(mm, A, SIZE_2M, SIZE_2M, MapKind::Hugetlb, true).unwrap();
    let u = TaskMmView::user(mm);
    let text = s.kernel_regions().iter().find(|r| r.name == "kernel text").unwrap().start;
    let st = PERF_SAMPLE_DATA_PAGE_SIZE | PERF_SAMPLE_CODE_PAGE_SIZE; // no ADDR, no IP
    assert_eq!(sample_page_sizes(&s, u, st, text + 64, A + 8), (Some(SIZE_2M), Some(SIZE_2M)));
    assert_eq!(sample_page_sizes(&s, u, PERF_SAMPLE_DATA_PAGE_SIZE, text, 0), (Some(0), None), "no data address");
    assert_eq!(sample_page_sizes(&s, u, PERF_SAMPLE_IP, text, A), (None, None));
    let kt = TaskMmView::kernel_thread(None);
    assert_eq!(sample_page_sizes(&s, kt, st, text, A), (Some(0), Some(SIZE_2M)));
}

#[test]
fn active_mm_variant_hits_the_context_switch_window_and_the_real_rule_never_does() {
    let s = spaces(Paging::FourLevel);
    let (m1, m2) = (s.new_mm().unwrap(), s.new_mm().unwrap());
    s.mmap(m1, A, SIZE_4K, SIZE_4K, MapKind::Anon, true).unwrap();
    let kaddr = s.kernel_regions()[0].start + 5;
    let kernel_size = s.kernel_regions()[0].page_size;
    let cases = [
        (SwitchTask::user(m1), SwitchTask::user(m2)),
        (SwitchTask::user(m1), SwitchTask::kthread(None)),
        (SwitchTask::kthread(Some(m1)), SwitchTask::user(m2)),
        (SwitchTask::kthread(Some(m1)), SwitchTask::kthread(None)),
    ];
    let mut window_hits = 0;
    for (prev, next) in cases {
        let states = context_switch_states(prev, next);
        assert_eq!(states.first().unwrap().step, SwitchStep::Start);
        assert_eq!(states.last().unwrap().step, SwitchStep::Finish);
        for st in &states {
            let cur = st.current();
            // The kernel's rule: always answers, never needs active_mm.
            assert_eq!(s.perf_get_page_size(cur, kaddr), kernel_size, "{st:?}");
            let expect_user = if cur.mm == Some(m1) { SIZE_4K } else { 0 };
            assert_eq!(s.perf_get_page_size(cur, A), expect_user, "{st:?}");
            // The rejected rule.
            match s.perf_get_page_size_active_mm(cur, kaddr) {
                Ok(v) => assert_eq!(v, kernel_size),
                Err(_) => {
                    window_hits += 1;
                    assert_eq!(st.step, SwitchStep::PrevActiveMmCleared, "{st:?}");
                    assert!(!st.current_is_next && prev.mm.is_none(), "only a kernel-thread prev: {st:?}");
                }
            }
        }
        let window = states.iter().any(|st| st.step == SwitchStep::PrevActiveMmCleared);
        assert_eq!(window, prev.mm.is_none(), "the window exists exactly when prev is a kernel thread");
    }
    assert_eq!(window_hits, 2, "one window per kernel-thread prev");
}

#[test]
fn walks_race_with_writers_without_wrong_sizes() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let s = spaces(Paging::FourLevel);
    let mm = s.new_mm().unwrap();
    let stop = AtomicBool::new(false);
    std::thread::scope(|sc| {
        sc.spawn(|| {
            for i in 0..300u64 {
                let b = A + (i % 4) * SIZE_2M;
                s.mmap(mm, b, SIZE_2M, SIZE_4K, MapKind::Anon, true).unwrap();
                s.collapse(mm, b, SIZE_2M).unwrap();
                s.split(mm, b).unwrap();
                s.munmap(mm, b, SIZE_2M).unwrap();
                let _ = s.synchronize();
            }
            stop.store(true, Ordering::Release);
        });
        let u = TaskMmView::user(mm);
        let mut seen = [0u64; 3];
        while !stop.load(Ordering::Acquire) {
            for k in 0..4 {
                let v = s.perf_get_page_size(u, A + k * SIZE_2M + 4 * SIZE_4K);
                match v {
                    0 => seen[0] += 1,
                    SIZE_4K => seen[1] += 1,
                    SIZE_2M => seen[2] += 1,
                    other => panic!("impossible page size {other:#x}"),
                }
            }
        }
        assert!(seen.iter().sum::<u64>() > 0);
    });
    assert_eq!(s.stats().readers, 0);
}

#[test]
fn a_full_table_arena_is_enomem_and_leaves_no_half_mapping() {
    let s = AddressSpaces::new(MmConfig { max_tables: 40, ..MmConfig::default() }).unwrap();
    let mm = s.new_mm().unwrap();
    let live = s.stats().tables_live;
    // 64 MiB of 4K pages needs 32 PTE tables + PUD + PMD: more than the arena has left.
    let e = s.mmap(mm, A, 64 << 20, SIZE_4K, MapKind::Anon, true).unwrap_err();
    assert_eq!(e.errno(), Some(Errno::ENOMEM), "{e}");
    assert!(e.to_string().contains("max_tables"), "{e}");
    assert_eq!(s.perf_get_page_size(TaskMmView::user(mm), A), 0);
    assert!(s.mappings(mm).unwrap().is_empty());
    s.synchronize().unwrap();
    assert_eq!(s.stats().tables_live, live, "tables of the failed mmap were returned");
    s.mmap(mm, A, 8 << 20, SIZE_4K, MapKind::Anon, true).unwrap();
    assert_eq!(s.perf_get_page_size(TaskMmView::user(mm), A + (8 << 20) - 1), SIZE_4K);
}

#[test]
fn an_mm_built_from_this_process_smaps_resolves_live_memory() {
    let local = 0u64;
    let heap = Box::new([7u8; 64]); // allocated before smaps is read, so its range is listed
    let text = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let ranges = perfcore::mm::parse_smaps(&text).unwrap();
    assert!(ranges.len() > 5);
    let s = spaces(Paging::FourLevel);
    let b = s.mm_from_smaps(&ranges).unwrap();
    let mm = b.mm.unwrap();
    assert!(b.mapped > 5);
    let code = an_mm_built_from_this_process_smaps_resolves_live_memory as fn() as usize as u64;
    for a in [&local as *const u64 as u64, heap.as_ptr() as u64, code] {
        let v = s.perf_get_page_size(TaskMmView::user(mm), a);
        assert!(v == SIZE_4K || v == SIZE_2M, "{a:#x} -> {v}");
    }
    // [vsyscall], if present, is in the kernel half: reported as skipped, not mapped.
    if text.contains("[vsyscall]") {
        assert!(b.skipped.iter().any(|(_, why)| why.contains("[vsyscall]")));
    }
}
