//! One page-size walk on a populated 4-level table (anchor: the kernel's software walk in
//! `perf_get_page_size()` costs ~30 ns, spec/anchors-performance-reliability.md §1.6; target
//! <= 20 ns). Measures `perf_get_page_size()` (IRQs-off section + walk) and the bare
//! `perf_get_pgtable_size()` for 4K, 2M and 1G leaves and an unmapped address, plus a 5-level
//! 4K walk and, as a peer, a BTreeMap range lookup (what a VMA-list answer would cost).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use perfcore::mm::{AddressSpaces, MapKind, MmConfig, Paging, TaskMmView, SIZE_1G, SIZE_2M, SIZE_4K};
use std::collections::BTreeMap;
use std::hint::black_box;

const A: u64 = 0x5555_0000_0000;

fn populated(paging: Paging) -> (AddressSpaces, perfcore::mm::MmId) {
    let s = AddressSpaces::new(MmConfig { paging, ..MmConfig::default() }).unwrap();
    let mm = s.new_mm().unwrap();
    s.mmap(mm, A, 64 * SIZE_2M, SIZE_4K, MapKind::Anon, true).unwrap();
    s.mmap(mm, A + SIZE_1G, 64 * SIZE_2M, SIZE_2M, MapKind::Hugetlb, true).unwrap();
    s.mmap(mm, A + 4 * SIZE_1G, 2 * SIZE_1G, SIZE_1G, MapKind::Hugetlb, true).unwrap();
    (s, mm)
}

fn bench(c: &mut Criterion) {
    let (s, mm) = populated(Paging::FourLevel);
    let u = TaskMmView::user(mm);
    let cases = [
        ("4K", A + 77 * SIZE_4K + 8),
        ("2M", A + SIZE_1G + 5 * SIZE_2M + 8),
        ("1G", A + 5 * SIZE_1G + 8),
        ("unmapped", A + 3 * SIZE_1G + 8),
    ];
    let mut g = c.benchmark_group("perf_get_page_size");
    for (name, addr) in cases {
        assert!(s.perf_get_page_size(u, addr) != 0 || name == "unmapped");
        g.bench_with_input(BenchmarkId::new("4-level", name), &addr, |b, &a| {
            b.iter(|| s.perf_get_page_size(black_box(u), black_box(a)))
        });
    }
    let (s5, mm5) = populated(Paging::FiveLevel);
    g.bench_function("5-level/4K", |b| {
        b.iter(|| s5.perf_get_page_size(black_box(TaskMmView::user(mm5)), black_box(A + 77 * SIZE_4K)))
    });
    g.finish();

    let mut g = c.benchmark_group("perf_get_pgtable_size");
    let irq = s.irq_off();
    for (name, addr) in cases {
        g.bench_with_input(BenchmarkId::new("4-level", name), &addr, |b, &a| {
            b.iter(|| s.perf_get_pgtable_size(&irq, black_box(mm), black_box(a)))
        });
    }
    g.finish();
    drop(irq);

    // Peer: a sorted-ranges answer (BTreeMap of 4K-page VMAs), as a tool might compute it.
    let mut ranges = BTreeMap::new();
    for i in 0..1000u64 {
        ranges.insert(A + i * 16 * SIZE_4K, (A + i * 16 * SIZE_4K + 8 * SIZE_4K, SIZE_4K));
    }
    let mut g = c.benchmark_group("peer");
    g.bench_function("btreemap_range_lookup_1000_vmas", |b| {
        b.iter(|| {
            let x = black_box(A + 500 * 16 * SIZE_4K + 8);
            ranges.range(..=x).next_back().map_or(0, |(_, &(end, ps))| if x < end { ps } else { 0 })
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
