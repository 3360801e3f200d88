//! Object layout and slab geometry of one cache. Models `calculate_alignment()` in
//! mm/slab_common.c and `calculate_sizes()`, `calculate_order()`, `calc_slab_order()`,
//! `order_objects()`, `set_min_partial()` and `set_cpu_partial()` in mm/slub.c (Linux 6.18,
//! 4 KiB pages, no KASAN, `CONFIG_SLAB_FREELIST_RANDOM` off). Facts:
//! spec/task-data-slab-page-size.md §B.1 and the worked example §B.3.

use super::flags::SlabFlags;
use crate::{Error, Result};

/// `PAGE_SIZE` on x86-64.
pub const PAGE_SIZE: usize = 4096;
/// `PAGE_SHIFT` on x86-64.
pub const PAGE_SHIFT: u32 = 12;
/// `cache_line_size()` on x86-64, the start of the `SLAB_HWCACHE_ALIGN` search.
pub const CACHE_LINE_SIZE: usize = 64;
/// `ARCH_SLAB_MINALIGN` = `__alignof__(unsigned long long)`.
pub const ARCH_SLAB_MINALIGN: usize = 8;
/// `sizeof(void *)` on LP64: the word every size is rounded to.
pub const WORD: usize = 8;
/// `slub_max_order` = `PAGE_ALLOC_COSTLY_ORDER`.
pub const SLUB_MAX_ORDER: u32 = 3;
/// `slub_min_order` (boot default).
pub const SLUB_MIN_ORDER: u32 = 0;
/// `MAX_PAGE_ORDER` (x86-64 default): the largest buddy allocation.
pub const MAX_PAGE_ORDER: u32 = 10;
/// `MAX_OBJS_PER_PAGE`: the objects field of `struct slab` is 15 bits.
pub const MAX_OBJS_PER_PAGE: usize = 32767;
/// `MIN_PARTIAL`: empty slabs a node keeps at least.
pub const MIN_PARTIAL: usize = 5;
/// `MAX_PARTIAL`: cap of the `min_partial` computation.
pub const MAX_PARTIAL: usize = 10;
/// `KMALLOC_MAX_SIZE` with `MAX_PAGE_ORDER` 10: the largest object a cache may have here.
pub const KMALLOC_MAX_SIZE: usize = PAGE_SIZE << MAX_PAGE_ORDER;

/// `ALIGN(x, a)` for a power-of-two `a`.
#[inline]
pub const fn align_up(x: usize, a: usize) -> usize {
    (x + a - 1) & !(a - 1)
}

/// `ALIGN_DOWN(x, a)` for a power-of-two `a`.
#[inline]
pub const fn align_down(x: usize, a: usize) -> usize {
    x & !(a - 1)
}

/// `fls()`: position of the most significant set bit, 1-based; 0 for 0.
pub const fn fls(x: usize) -> u32 {
    usize::BITS - x.leading_zeros()
}

/// `get_order(size)`: the smallest order whose block (`PAGE_SIZE << order`) holds `size` bytes.
/// `get_order(0)` is undefined in the kernel; here it is 0.
pub fn get_order(size: usize) -> u32 {
    if size <= PAGE_SIZE {
        return 0;
    }
    fls((size - 1) >> PAGE_SHIFT)
}

/// `order_objects(order, size)`: objects of `size` bytes in a slab of `PAGE_SIZE << order`.
pub fn order_objects(order: u32, size: usize) -> usize {
    (PAGE_SIZE << order) / size
}

/// `calculate_alignment(flags, align, size)`: the cache's alignment. With
/// `SLAB_HWCACHE_ALIGN` it starts from the cache line and halves it while the object fits in
/// half; then at least `ARCH_SLAB_MINALIGN`, rounded to a word.
pub fn calculate_alignment(flags: SlabFlags, align: usize, size: usize) -> usize {
    let mut align = align;
    if flags.contains(SlabFlags::HWCACHE_ALIGN) {
        let mut ralign = CACHE_LINE_SIZE;
        while size <= ralign / 2 {
            ralign /= 2;
        }
        align = align.max(ralign);
    }
    align = align.max(ARCH_SLAB_MINALIGN);
    align_up(align, WORD)
}

/// `calc_slab_order()`: the first order in `min_order..=max_order` whose leftover
/// (`slab_bytes % size`) is at most `slab_bytes / fract_leftover`; `max_order + 1` if none.
pub fn calc_slab_order(size: usize, min_order: u32, max_order: u32, fract_leftover: usize) -> u32 {
    let mut order = min_order;
    while order <= max_order {
        let slab_bytes = PAGE_SIZE << order;
        if slab_bytes % size <= slab_bytes / fract_leftover {
            return order;
        }
        order += 1;
    }
    order
}

/// `min_objects` of `calculate_order()` with `slub_min_objects` unset:
/// `4 * (fls(nr_cpus) + 1)`, where `nr_cpus` is the number of present CPUs (`nr_cpu_ids` when
/// that is at most 1; the model uses the same number for both).
pub fn auto_min_objects(nr_cpus: usize) -> usize {
    4 * (fls(nr_cpus) as usize + 1)
}

/// `calculate_order(size)` (v6.7+ form) for a machine with `nr_cpus` present CPUs and the
/// default `slub_min_order` 0 / `slub_max_order` 3 / automatic `slub_min_objects`.
/// Returns `Err` (the kernel's -ENOSYS) only for sizes beyond `MAX_PAGE_ORDER`.
pub fn calculate_order(size: usize, nr_cpus: usize) -> Result<u32> {
    let min_objects = auto_min_objects(nr_cpus);
    let max_objects = order_objects(SLUB_MAX_ORDER, size).max(1);
    let min_objects = min_objects.min(max_objects);
    // max(slub_min_order, ...) with slub_min_order at its default 0.
    let min_order = get_order(min_objects * size);
    if order_objects(min_order, size) > MAX_OBJS_PER_PAGE {
        return Ok(get_order(size * MAX_OBJS_PER_PAGE) - 1);
    }
    let mut fraction = 16;
    while fraction > 1 {
        let order = calc_slab_order(size, min_order, SLUB_MAX_ORDER, fraction);
        if order <= SLUB_MAX_ORDER {
            return Ok(order);
        }
        fraction /= 2;
    }
    let order = get_order(size);
    if order <= MAX_PAGE_ORDER {
        Ok(order)
    } else {
        Err(Error::Usage(format!(
            "object stride {size} needs order {order} > MAX_PAGE_ORDER {MAX_PAGE_ORDER} (ENOSYS)"
        )))
    }
}

/// Everything `calculate_sizes()` and `kmem_cache_open()` decide about one cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlabLayout {
    /// `s->object_size`: the size the caller asked for.
    pub object_size: usize,
    /// `s->align`: from [`calculate_alignment`].
    pub align: usize,
    /// `s->inuse`: word-rounded object plus the right red zone word, if any.
    pub inuse: usize,
    /// `s->offset`: where the free pointer lives, relative to the object start.
    pub offset: usize,
    /// Whether the free pointer is inside the object (true without debug, ctor or RCU).
    pub freeptr_inside: bool,
    /// `s->red_left_pad`: left red zone before each object (0 without `SLAB_RED_ZONE`).
    pub red_left_pad: usize,
    /// `s->size`: the object stride in the slab.
    pub size: usize,
    /// `oo_order(s->oo)`: preferred slab order.
    pub order: u32,
    /// `oo_objects(s->oo)`: objects per slab at the preferred order.
    pub objects: usize,
    /// `oo_order(s->min)`: fallback order when the preferred allocation fails.
    pub min_order: u32,
    /// `oo_objects(s->min)`.
    pub min_objects: usize,
    /// `s->min_partial`: empty slabs a node keeps before releasing them.
    pub min_partial: usize,
    /// `s->cpu_partial`: per-CPU partial budget in objects (0 for debug caches).
    pub cpu_partial: usize,
    /// `s->cpu_partial_slabs`: the same budget in slabs.
    pub cpu_partial_slabs: usize,
    /// The CPU count `calculate_order()` used.
    pub nr_cpus: usize,
}

impl SlabLayout {
    /// Compute the layout of `kmem_cache_create(name, object_size, align, flags)` on a machine
    /// with `nr_cpus` present CPUs. Errors name the bad argument.
    pub fn new(object_size: usize, align: usize, flags: SlabFlags, nr_cpus: usize) -> Result<Self> {
        if object_size == 0 {
            return Err(Error::Usage("kmem_cache size 0: objects must be at least 1 byte".into()));
        }
        if object_size > KMALLOC_MAX_SIZE {
            return Err(Error::Usage(format!(
                "kmem_cache size {object_size} exceeds KMALLOC_MAX_SIZE {KMALLOC_MAX_SIZE}"
            )));
        }
        if align != 0 && !align.is_power_of_two() {
            return Err(Error::Usage(format!("kmem_cache align {align} is not a power of two")));
        }
        if align > KMALLOC_MAX_SIZE {
            return Err(Error::Usage(format!(
                "kmem_cache align {align} exceeds the largest slab ({KMALLOC_MAX_SIZE} bytes)"
            )));
        }
        if nr_cpus == 0 || nr_cpus > 8192 {
            return Err(Error::Usage(format!("nr_cpus {nr_cpus} must be in 1..=8192")));
        }
        let align = calculate_alignment(flags, align, object_size);
        let red_zone = flags.contains(SlabFlags::RED_ZONE);

        let mut size = align_up(object_size, WORD);
        if red_zone && size == object_size {
            // No slack after the object: add a word so there is a right red zone.
            size += WORD;
        }
        let inuse = size;
        let freeptr_inside = !(red_zone && object_size < WORD);
        let offset = if freeptr_inside {
            align_down(object_size / 2, WORD)
        } else {
            let o = size;
            size += WORD;
            o
        };
        let mut red_left_pad = 0;
        if red_zone {
            // Padding word after the metadata, then the left red zone, kept aligned.
            size += WORD;
            red_left_pad = align_up(WORD, align);
            size += red_left_pad;
        }
        let size = align_up(size, align);
        let order = calculate_order(size, nr_cpus)?;
        let objects = order_objects(order, size);
        let min_order = get_order(size);
        let min_objects = order_objects(min_order, size);
        let min_partial = ((fls(size) as usize - 1) / 2).clamp(MIN_PARTIAL, MAX_PARTIAL);
        let cpu_partial: usize = if red_zone {
            0 // debug caches have no per-CPU partial lists
        } else if size >= PAGE_SIZE {
            6
        } else if size >= 1024 {
            24
        } else if size >= 256 {
            52
        } else {
            120
        };
        let cpu_partial_slabs = (cpu_partial * 2).div_ceil(objects);
        Ok(SlabLayout {
            object_size,
            align,
            inuse,
            offset,
            freeptr_inside,
            red_left_pad,
            size,
            order,
            objects,
            min_order,
            min_objects,
            min_partial,
            cpu_partial,
            cpu_partial_slabs,
            nr_cpus,
        })
    }

    /// Bytes of one slab at the preferred order.
    pub fn slab_bytes(&self) -> usize {
        PAGE_SIZE << self.order
    }

    /// Unused bytes at the end of a slab at the preferred order.
    pub fn tail_waste(&self) -> usize {
        self.slab_bytes() - self.objects * self.size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_order_matches_definition() {
        for size in 1..200_000usize {
            let o = get_order(size);
            assert!(PAGE_SIZE << o >= size, "{size}");
            assert!(o == 0 || PAGE_SIZE << (o - 1) < size, "{size}");
        }
    }

    #[test]
    fn hwcache_align_halves_for_small_objects() {
        let f = SlabFlags::HWCACHE_ALIGN;
        assert_eq!(calculate_alignment(f, 0, 20), 32);
        assert_eq!(calculate_alignment(f, 0, 33), 64);
        assert_eq!(calculate_alignment(f, 0, 8), 8);
        assert_eq!(calculate_alignment(f, 0, 3), 8);
        assert_eq!(calculate_alignment(SlabFlags::empty(), 0, 3), 8);
        assert_eq!(calculate_alignment(SlabFlags::empty(), 64, 788), 64);
    }

    #[test]
    fn red_zone_left_pad_is_align_8_to_align() {
        let l = SlabLayout::new(788, 64, SlabFlags::RED_ZONE, 8).unwrap();
        assert_eq!(l.red_left_pad, 64);
        // 788 -> 792 (slack exists, no extra word), +8 pad word, +64 left pad = 864 -> 896.
        assert_eq!(l.size, 896);
        let l = SlabLayout::new(1024, 8, SlabFlags::RED_ZONE, 8).unwrap();
        // 1024 + 8 (right zone) + 8 (pad) + 8 (left) = 1048
        assert_eq!((l.red_left_pad, l.inuse, l.size), (8, 1032, 1048));
    }

    #[test]
    fn bad_arguments_are_errors() {
        assert!(SlabLayout::new(0, 0, SlabFlags::empty(), 1).is_err());
        assert!(SlabLayout::new(8, 48, SlabFlags::empty(), 1).is_err());
        assert!(SlabLayout::new(8, 0, SlabFlags::empty(), 0).is_err());
        assert!(SlabLayout::new(KMALLOC_MAX_SIZE + 1, 0, SlabFlags::empty(), 1).is_err());
    }
}
