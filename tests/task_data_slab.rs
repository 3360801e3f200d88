//! Slab-backed PMU task data: memory figures equal to the SLUB arithmetic of the spec (B.1,
//! B.3, B.4), written out here independently of the slab model; release to zero objects;
//! XSAVE into kmem_cache(align 64) blobs; misaligned kzalloc blobs under debug red zones.

use perfcore::slab::KmallocAlignRule;
use perfcore::task_data::{slab_global_attach_memory, BlobBackend, LbrBlob, SlabBlobAlloc, TaskDataAlloc};
use std::sync::Arc;

const PAGE: usize = 4096;

fn align_up(x: usize, a: usize) -> usize {
    x.div_ceil(a) * a
}
fn fls(x: usize) -> usize {
    (usize::BITS - x.leading_zeros()) as usize
}
fn get_order(size: usize) -> usize {
    let mut o = 0;
    while (PAGE << o) < size {
        o += 1;
    }
    o
}
/// Spec B.1 calculate_order() with slub_max_order 3: (order, objects per slab).
fn spec_order(stride: usize, cpus: usize) -> (usize, usize) {
    let mut min_objects = 4 * (fls(cpus) + 1);
    let max_objects = ((PAGE << 3) / stride).max(1);
    min_objects = min_objects.min(max_objects);
    let min_order = get_order(min_objects * stride);
    for fraction in [16, 8, 4, 2] {
        for order in min_order..=3 {
            let bytes = PAGE << order;
            if bytes % stride <= bytes / fraction {
                return (order, bytes / stride);
            }
        }
    }
    let o = get_order(stride);
    (o, (PAGE << o) / stride)
}
/// Stride of an SLUB cache without debug: ALIGN(ALIGN(size, 8), max(align, 8)).
fn spec_stride(size: usize, align: usize) -> usize {
    align_up(align_up(size, 8), align.max(8))
}

fn check(backend: BlobBackend, blob: LbrBlob, cpus: usize, blob_stride: usize) {
    let threads = 10_000usize;
    let a = Arc::new(SlabBlobAlloc::lbr(backend, blob, cpus).unwrap());
    let m = slab_global_attach_memory(threads as u32, &a).unwrap();
    let (order, per) = spec_order(blob_stride, cpus);
    let slabs = threads.div_ceil(per);
    let b = &m.blob_attached;
    assert_eq!(b.objsize, blob_stride, "{blob:?} {backend:?}");
    assert_eq!(b.objperslab, per, "{blob:?} {backend:?} {cpus}");
    assert_eq!(b.pagesperslab, 1 << order);
    assert_eq!(b.inuse_objs, threads);
    assert_eq!(b.num_slabs, slabs, "{blob:?} {backend:?} {cpus}");
    assert_eq!(b.total_bytes, slabs * (PAGE << order));
    let (horder, hper) = spec_order(64, cpus);
    let h = &m.header_attached;
    assert_eq!(h.inuse_objs, threads);
    assert_eq!(h.objperslab, hper);
    assert_eq!(h.num_slabs, threads.div_ceil(hper));
    assert_eq!(h.total_bytes, threads.div_ceil(hper) * (PAGE << horder));
    // Released: no live object anywhere.
    assert_eq!(m.blob_released.inuse_objs, 0);
    assert_eq!(m.header_released.inuse_objs, 0);
    assert_eq!(m.live_after, 0);
    if backend == BlobBackend::KmemCache {
        assert_eq!(m.blob_slabs_after_shrink, Some(0), "every released slab is empty and shrinkable");
    } else {
        assert_eq!(m.blob_slabs_after_shrink, None);
    }
    let st = a.stats();
    assert_eq!((st.allocs, st.frees, st.live), (threads as u64, threads as u64, 0));
}

#[test]
fn claim_788_matches_spec_b3() {
    // Spec B.3 literally: 832-byte stride, 39 per order-3 slab, 257 slabs = 8,421,376 B.
    assert_eq!(spec_stride(788, 64), 832);
    assert_eq!(spec_order(832, 8), (3, 39));
    let a = Arc::new(SlabBlobAlloc::lbr(BlobBackend::KmemCache, LbrBlob::Claim788, 8).unwrap());
    let m = slab_global_attach_memory(10_000, &a).unwrap();
    assert_eq!(m.blob_attached.num_slabs, 257);
    assert_eq!(m.blob_attached.total_bytes, 257 * 32768);
    assert_eq!(m.header_attached.num_slabs, 157); // 64 per 4 KiB slab
    check(BlobBackend::KmemCache, LbrBlob::Claim788, 8, 832);
    check(BlobBackend::KmemCache, LbrBlob::Claim788, 2, 832);
}

#[test]
fn lbr_caches_match_spec_b4() {
    assert_eq!(spec_order(800, 8), (2, 20));
    assert_eq!(spec_order(800, 16), (3, 40));
    assert_eq!(spec_order(1536, 8), (3, 21));
    check(BlobBackend::KmemCache, LbrBlob::Legacy, 8, 800);
    check(BlobBackend::KmemCache, LbrBlob::Legacy, 16, 800);
    check(BlobBackend::KmemCache, LbrBlob::ArchXsave, 8, 1536);
}

#[test]
fn kzalloc_uses_kmalloc_classes() {
    // 788 -> kmalloc-1k (spec B.3: 313 slabs at 8 CPUs), 800 -> kmalloc-1k, 1512 -> kmalloc-2k.
    assert_eq!(spec_order(1024, 8), (3, 32));
    assert_eq!(10_000usize.div_ceil(32), 313);
    check(BlobBackend::Kzalloc, LbrBlob::Claim788, 8, 1024);
    check(BlobBackend::Kzalloc, LbrBlob::Legacy, 4, 1024);
    check(BlobBackend::Kzalloc, LbrBlob::ArchXsave, 8, 2048);
}

#[test]
fn kmem_cache_blobs_all_take_xsave() {
    let a = SlabBlobAlloc::lbr(BlobBackend::KmemCache, LbrBlob::ArchXsave, 4).unwrap();
    let ps: Vec<_> = (0..100).map(|i| a.alloc_zeroed(i % 4).unwrap()).collect();
    if perfcore::slab::xsave::xsave_support().xsave {
        let r = a.xsave_live().unwrap();
        assert_eq!((r.blobs, r.saved, r.misaligned), (100, 100, 0));
    }
    assert!(ps.iter().all(|p| p.addr() % 64 == 0));
    for (i, p) in ps.into_iter().enumerate() {
        // SAFETY: from `a`, freed once, on its allocation CPU.
        unsafe { a.free(p, (i % 4) as u32) };
    }
    assert_eq!(a.inuse(), (0, 0));
}

#[test]
fn kzalloc_with_redzone_before_5_4_misaligns_blobs() {
    // Debug red zone: left pad of one word (ALIGN(8, 8)) shifts objects off 64-byte boundaries
    // when the class is only 8-aligned (pre-5.4 rule).
    let a = SlabBlobAlloc::new(BlobBackend::Kzalloc, 1512, 64, 2, KmallocAlignRule::MinAlign, true).unwrap();
    let ps: Vec<_> = (0..64).map(|_| a.alloc_zeroed(0).unwrap()).collect();
    let expected_mis = ps.iter().filter(|p| p.addr() % 64 != 0).count() as u64;
    assert!(expected_mis > 0, "red-zoned 8-aligned kmalloc-2k must misalign some blobs");
    if perfcore::slab::xsave::xsave_support().xsave {
        let r = a.xsave_live().unwrap();
        assert_eq!(r.blobs, 64);
        assert_eq!(r.misaligned, expected_mis);
        assert_eq!(r.saved, 64 - expected_mis);
    }
    for p in ps {
        // SAFETY: from `a`, freed once.
        unsafe { a.free(p, 0) };
    }
    assert_eq!(a.inuse().1, 0);
}

#[test]
fn bad_settings_are_errors() {
    assert!(BlobBackend::parse("slab").is_err());
    assert!(LbrBlob::parse("huge").is_err());
    assert!(SlabBlobAlloc::lbr(BlobBackend::KmemCache, LbrBlob::Legacy, 0).is_err());
    assert!(SlabBlobAlloc::new(BlobBackend::Kzalloc, 9000, 8, 2, KmallocAlignRule::MinAlign, false).is_err());
    let a = SlabBlobAlloc::lbr(BlobBackend::KmemCache, LbrBlob::Legacy, 2).unwrap();
    assert!(a.alloc_zeroed(7).is_err(), "cpu outside the model");
    assert_eq!(a.stats().live, 0);
}

#[test]
fn frees_go_back_to_the_allocating_cpu() {
    // The table records the allocation CPU in the header and frees there, so every free of an
    // object of the CPU's current slab takes SLUB's fast path (push on that CPU's freelist).
    let a = SlabBlobAlloc::lbr(BlobBackend::KmemCache, LbrBlob::Legacy, 4).unwrap();
    let p1 = a.alloc_zeroed(1).unwrap();
    let p3 = a.alloc_zeroed(3).unwrap();
    // SAFETY: each from `a`, freed once on its allocation CPU.
    unsafe {
        a.free(p1, 1);
        a.free(p3, 3);
    }
    let c = a.blob_counters();
    assert_eq!((c.allocs, c.frees, c.free_slowpath), (2, 2, 0));
    // Reallocating on CPU 1 reuses the object just freed there (LIFO freelist).
    let again = a.alloc_zeroed(1).unwrap();
    assert_eq!(again.addr(), p1.addr());
    // A CPU outside the model is folded onto CPU 0 (documented): accepted, counted.
    // SAFETY: from `a`, freed once.
    unsafe { a.free(again, 99) };
    assert_eq!(a.inuse(), (0, 0));
}
