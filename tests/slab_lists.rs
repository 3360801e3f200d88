//! SLUB's list movements, hand-traced from the rules in spec §B.1 (`__slab_free()`,
//! `put_cpu_partial()`, `__put_partials()`, `get_freelist()`, `min_partial`) for the x86_lbr
//! cache (832-byte stride, 39 objects per slab, 8 CPUs: cpu_partial 52 objects ->
//! DIV_ROUND_UP(104, 39) = 3 slabs, min_partial = max(5, ilog2(832) / 2) = 5).

use perfcore::slab::{KmemCache, SlabFlags};

#[test]
fn remote_frees_walk_the_partial_lists() {
    let mut c = KmemCache::new("x86_lbr", 788, 64, SlabFlags::empty(), 8).unwrap();
    assert_eq!((c.layout().objects, c.layout().cpu_partial_slabs, c.layout().min_partial), (39, 3, 5));
    // Ten slabs' worth on CPU 0: S0..S8 end up full and off every list, S9 is CPU 0's slab.
    let addrs: Vec<usize> = (0..390).map(|_| c.alloc(0).unwrap()).collect();
    let s = c.slabinfo();
    assert_eq!((s.num_slabs, s.cpu_slabs, s.full_slabs), (10, 1, 9));
    // Free everything from CPU 1, slab by slab in allocation order:
    // S0, S1, S2: full -> CPU 1's partial list [S0 S1 S2].
    // S3: the list holds 3 = budget -> __put_partials(S0 S1 S2): all empty, node has < 5 -> kept
    //     on the node (nr_partial 3); list = [S3]. S4, S5 -> [S3 S4 S5].
    // S6: flush S3 (nr 4), S4 (nr 5), S5 (nr_partial 5 >= min_partial 5 -> discarded); [S6].
    // S7, S8 -> [S6 S7 S8]. S9 is CPU 0's slab: its objects go to the slab freelist.
    for a in &addrs {
        c.free(*a, 1).unwrap();
    }
    let s = c.slabinfo();
    assert_eq!((s.num_slabs, s.node_partial_slabs, s.cpu_partial_slabs, s.cpu_slabs, s.full_slabs), (9, 5, 3, 1, 0));
    assert_eq!(c.counters().slabs_freed, 1);
    // /proc/slabinfo counts only the node partial list's free objects as free.
    assert_eq!((s.num_objs, s.active_objs, s.inuse_objs), (9 * 39, 9 * 39 - 5 * 39, 0));
    // CPU 0's freelist is empty; get_freelist() takes the 39 remote frees of S9.
    let a = c.alloc(0).unwrap();
    assert!(addrs[351..].contains(&a), "served from CPU 0's own slab S9");
    assert_eq!(c.counters().slabs_allocated, 10);
    // Shrink: every slab but S9 (one live object) is empty and goes.
    c.shrink();
    let s = c.slabinfo();
    assert_eq!((s.num_slabs, s.node_partial_slabs, s.inuse_objs), (1, 1, 1));
    c.free(a, 0).unwrap();
    c.destroy().unwrap();
}

#[test]
fn debug_caches_have_no_cpu_partial_lists() {
    let mut c = KmemCache::new("rz", 788, 64, SlabFlags::RED_ZONE, 8).unwrap();
    assert_eq!(c.layout().cpu_partial_slabs, 0);
    let per = c.layout().objects;
    let addrs: Vec<usize> = (0..3 * per).map(|_| c.alloc(0).unwrap()).collect();
    for a in &addrs[..2 * per] {
        c.free(*a, 1).unwrap();
    }
    // The two full slabs went to the node list directly (fewer than min_partial there).
    let s = c.slabinfo();
    assert_eq!((s.cpu_partial_slabs, s.node_partial_slabs), (0, 2));
    for a in &addrs[2 * per..] {
        c.free(*a, 1).unwrap();
    }
}
