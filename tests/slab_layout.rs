//! The SLUB arithmetic of spec/task-data-slab-page-size.md §B.3 (788-byte object aligned to 64)
//! and §B.4 (the real x86 LBR caches), and the kmalloc classes of §B.2. Expected values are the
//! spec's tables, written out literally.

use perfcore::slab::kmalloc::{class_name, KMALLOC_SIZES};
use perfcore::slab::layout::{calculate_alignment, SlabLayout};
use perfcore::slab::{KmallocAlignRule, KmallocModel, KmemCache, SlabFlags};

fn layout(size: usize, align: usize, cpus: usize) -> SlabLayout {
    SlabLayout::new(size, align, SlabFlags::empty(), cpus).unwrap()
}

#[test]
fn worked_example_788_align_64() {
    assert_eq!(calculate_alignment(SlabFlags::empty(), 64, 788), 64);
    let l = layout(788, 64, 8);
    assert_eq!(l.inuse, 792);
    assert_eq!(l.offset, 392);
    assert!(l.freeptr_inside);
    assert_eq!(l.size, 832);
    assert_eq!((l.min_order, l.min_objects), (0, 4));
    assert_eq!(l.min_partial, 5);
    // (present CPUs, order, objects, tail waste) from the §B.3 table.
    for (cpus, order, objs, tail) in [
        (1, 2, 19, 576),
        (2, 2, 19, 576),
        (4, 2, 19, 576),
        (8, 3, 39, 320),
        (16, 3, 39, 320),
        (64, 3, 39, 320),
        (256, 3, 39, 320),
    ] {
        let l = layout(788, 64, cpus);
        assert_eq!((l.order, l.objects, l.tail_waste()), (order, objs, tail), "{cpus} CPUs");
    }
}

#[test]
fn worked_example_788_align_0() {
    let l = layout(788, 0, 8);
    assert_eq!(l.align, 8);
    assert_eq!(l.size, 792);
    assert_eq!((l.order, l.objects, l.tail_waste()), (2, 20, 544));
    let l = layout(788, 0, 16);
    assert_eq!((l.order, l.objects, l.tail_waste()), (3, 41, 296));
}

#[test]
fn real_x86_lbr_caches() {
    // legacy HSW/SKL x86_lbr: 800 / 8
    let l = layout(800, 0, 8);
    assert_eq!((l.size, l.offset), (800, 400));
    assert_eq!((l.order, l.objects, l.tail_waste()), (2, 20, 384));
    let l = layout(800, 0, 16);
    assert_eq!((l.order, l.objects, l.tail_waste()), (3, 40, 768));
    // Arch LBR without XSAVE, lbr_nr 32: 784 / 8
    let l = layout(784, 0, 8);
    assert_eq!((l.size, l.order, l.objects), (784, 2, 20));
    let l = layout(784, 0, 16);
    assert_eq!((l.order, l.objects), (3, 41));
    // Arch LBR XSAVE, lbr_nr 32: 1512 / 64
    for cpus in [8, 16, 64] {
        let l = layout(1512, 64, cpus);
        assert_eq!((l.size, l.order, l.objects, l.tail_waste()), (1536, 3, 21, 512), "{cpus}");
    }
}

#[test]
fn kmalloc_classes_and_strides() {
    let m = KmallocModel::new(8, KmallocAlignRule::LargestPow2Divisor, false).unwrap();
    let names: Vec<&str> = m.caches().iter().map(|c| c.name()).collect();
    assert_eq!(
        names,
        [
            "kmalloc-8",
            "kmalloc-16",
            "kmalloc-32",
            "kmalloc-64",
            "kmalloc-96",
            "kmalloc-128",
            "kmalloc-192",
            "kmalloc-256",
            "kmalloc-512",
            "kmalloc-1k",
            "kmalloc-2k",
            "kmalloc-4k",
            "kmalloc-8k"
        ]
    );
    // Without debug the stride is the class size, including 96 and 192.
    for c in m.caches() {
        assert_eq!(c.layout().size, c.layout().object_size, "{}", c.name());
    }
    assert_eq!(m.caches()[4].layout().align, 32); // kmalloc-96
    assert_eq!(m.caches()[6].layout().align, 64); // kmalloc-192
    let k1 = m.cache_for(851).unwrap();
    assert_eq!(k1.name(), "kmalloc-1k");
    assert_eq!((k1.layout().order, k1.layout().objects, k1.layout().tail_waste()), (3, 32, 0));
    let k64 = m.cache_for(40).unwrap();
    assert_eq!((k64.name(), k64.layout().order, k64.layout().objects), ("kmalloc-64", 0, 64));
    assert_eq!(class_name(KMALLOC_SIZES[12]), "kmalloc-8k");
}

#[test]
fn debug_red_zone_moves_kmalloc_objects_off_64_under_minalign() {
    let mut m = KmallocModel::new(8, KmallocAlignRule::MinAlign, true).unwrap();
    // kmalloc-1k with red zone: 1024 + 8 (right) + 8 (pad) + 8 (left) = 1048, 31 per order-3 slab.
    assert_eq!(m.cache_for(788).unwrap().layout().size, 1048);
    assert_eq!(m.cache_for(788).unwrap().layout().objects, 31);
    let addrs: Vec<usize> = (0..31).map(|_| m.kmalloc(788, 0).unwrap()).collect();
    // Object i sits at slab + i * 1048 + 8 (red_left_pad = ALIGN(8, 8)).
    assert_eq!(addrs[0] % 64, 8);
    let off64: Vec<bool> = addrs.iter().map(|a| a % 64 != 0).collect();
    let expect: Vec<bool> = (0..31).map(|i| (i * 1048 + 8) % 64 != 0).collect();
    assert_eq!(off64, expect);
    assert_eq!(off64.iter().filter(|x| **x).count(), 27);
    // Since 5.4 the power-of-two classes keep their natural alignment even with red zones.
    let mut m = KmallocModel::new(8, KmallocAlignRule::PowerOfTwo, true).unwrap();
    let a = m.kmalloc(788, 0).unwrap();
    assert_eq!(a % 1024, 0);
    assert_eq!(m.cache_for(788).unwrap().layout().red_left_pad, 1024);
}

#[test]
fn aligned_cache_objects_are_all_aligned_with_and_without_red_zone() {
    for flags in [SlabFlags::empty(), SlabFlags::RED_ZONE] {
        let mut c = KmemCache::new("x86_lbr", 788, 64, flags, 8).unwrap();
        let per = c.layout().objects;
        let addrs: Vec<usize> = (0..3 * per).map(|i| c.alloc(i % 8).unwrap()).collect();
        assert!(addrs.iter().all(|a| a % 64 == 0), "{flags}");
        for (i, a) in addrs.into_iter().enumerate() {
            c.free(a, (i * 3) % 8).unwrap();
        }
    }
}
