//! kmem_cache fast path against the userspace peers of spec anchors §2.2, in the same run:
//! perfcore's `KmemCache` (832-byte objects aligned to 64), `std::alloc::alloc` with a
//! 64-byte-aligned `Layout` (the System allocator: glibc `posix_memalign`), and
//! `mimalloc::MiMalloc` used directly as a `GlobalAlloc` value.
//! Pair: one alloc then one free (hot LIFO reuse). Batch: 1000 allocs, then 1000 frees.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mimalloc::MiMalloc;
use perfcore::slab::{KmemCache, SlabFlags};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;

const SIZE: usize = 832;
const ALIGN: usize = 64;
const BATCH: usize = 1000;

fn pair(c: &mut Criterion) {
    let mut g = c.benchmark_group("slab_pair_832_a64");
    g.throughput(Throughput::Elements(1));
    let mut cache = KmemCache::new("bench", SIZE, ALIGN, SlabFlags::empty(), 8).unwrap();
    g.bench_function("perfcore_kmem_cache", |b| {
        b.iter(|| {
            let a = cache.alloc(black_box(0)).unwrap();
            cache.free(black_box(a), 0).unwrap();
        })
    });
    let lay = Layout::from_size_align(SIZE, ALIGN).unwrap();
    g.bench_function("std_alloc_glibc_posix_memalign", |b| {
        b.iter(|| {
            // SAFETY: nonzero layout; the block is freed with the same layout.
            unsafe {
                let p = System.alloc(black_box(lay));
                System.dealloc(black_box(p), lay);
            }
        })
    });
    let mi = MiMalloc;
    g.bench_function("mimalloc", |b| {
        b.iter(|| {
            // SAFETY: as above, with mimalloc's allocator.
            unsafe {
                let p = mi.alloc(black_box(lay));
                mi.dealloc(black_box(p), lay);
            }
        })
    });
    g.finish();
}

fn batch(c: &mut Criterion) {
    let mut g = c.benchmark_group("slab_batch_832_a64");
    g.throughput(Throughput::Elements(BATCH as u64));
    let mut cache = KmemCache::new("bench", SIZE, ALIGN, SlabFlags::empty(), 8).unwrap();
    let mut v = Vec::with_capacity(BATCH);
    g.bench_function("perfcore_kmem_cache", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                v.push(cache.alloc(0).unwrap());
            }
            for a in v.drain(..) {
                cache.free(a, 0).unwrap();
            }
        })
    });
    let lay = Layout::from_size_align(SIZE, ALIGN).unwrap();
    let mut p: Vec<*mut u8> = Vec::with_capacity(BATCH);
    g.bench_function("std_alloc_glibc_posix_memalign", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                // SAFETY: nonzero layout.
                p.push(unsafe { System.alloc(lay) });
            }
            for q in p.drain(..) {
                // SAFETY: allocated just above with the same layout.
                unsafe { System.dealloc(black_box(q), lay) };
            }
        })
    });
    let mi = MiMalloc;
    g.bench_function("mimalloc", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                // SAFETY: nonzero layout.
                p.push(unsafe { mi.alloc(lay) });
            }
            for q in p.drain(..) {
                // SAFETY: allocated just above with the same layout.
                unsafe { mi.dealloc(black_box(q), lay) };
            }
        })
    });
    g.finish();
}

criterion_group!(benches, pair, batch);
criterion_main!(benches);
