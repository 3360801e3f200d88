//! `KmemCache`: a SLUB-style object cache over real memory. Models `kmem_cache_create()`
//! (layout from [`SlabLayout`]), `slab_alloc_node()` / `___slab_alloc()` (per-CPU freelist,
//! `get_freelist()`, per-CPU partial slabs, `get_partial_node()`, `new_slab()`),
//! `do_slab_free()` / `__slab_free()` (`put_cpu_partial()`, `__put_partials()`, discarding
//! empty slabs beyond `min_partial`), `kmem_cache_zalloc()`, `kmem_cache_shrink()` and
//! `kmem_cache_destroy()` in mm/slub.c and mm/slab_common.c. Facts:
//! spec/task-data-slab-page-size.md §B.1-B.3.
//!
//! Slabs are blocks of `4 KiB << order` bytes obtained from the Rust global allocator with a
//! `Layout` aligned to the block size (the buddy allocator hands out naturally aligned blocks),
//! so an object's slab is `addr & !(slab_bytes - 1)`, as `virt_to_slab()` finds it. Freelists
//! are kept in metadata (object indices), so a program that scribbles over a free object can
//! never make the cache follow a wild pointer; the free pointer is still written into each free
//! object at `s->offset`, so non-zeroed allocations see it as they would in the kernel.
//!
//! Differences from the kernel, on purpose: the preferred order is always used (a failed
//! allocation is ENOMEM rather than a fallback to `s->min`); debug caches use the same per-CPU
//! path as other caches; one NUMA node. The API takes `&mut self`: the CPU doing the allocation
//! is an argument, the simulation is single-threaded, and callers that share a cache across
//! threads wrap it in a lock.

mod check;
mod lists;

use super::flags::SlabFlags;
use super::layout::SlabLayout;
use super::slabinfo::SlabInfo;
use crate::{Error, Result};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// No object / no slab.
const NONE: u32 = u32::MAX;
/// Metadata mark of an allocated object (free objects hold their freelist link instead).
const ALLOCATED: u32 = u32::MAX - 1;
/// Blocks a cache keeps for reuse after discarding slabs (the page allocator's per-CPU page
/// lists, which return freed pages without going back to the zone).
pub const PAGE_POOL_MAX: usize = 64;
/// `SLUB_RED_ACTIVE`: red zone bytes of an allocated object.
pub const SLUB_RED_ACTIVE: u8 = 0xcc;
/// `SLUB_RED_INACTIVE`: red zone bytes of a free object.
pub const SLUB_RED_INACTIVE: u8 = 0xbb;
/// How many addresses an error lists before it says "and N more".
const LIST_MAX: usize = 32;

/// Hasher for slab base addresses (multiplicative, folded): cheap and well spread.
#[derive(Default)]
struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_usize(&mut self, x: usize) {
        let h = (x as u64 >> 12).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = h ^ (h >> 29);
    }
}

type AddrMap = HashMap<usize, u32, BuildHasherDefault<AddrHasher>>;

/// Where a slab is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SlabState {
    /// The current slab of this CPU (`c->slab`, frozen).
    Cpu(u32),
    /// On this CPU's partial list.
    CpuPartial(u32),
    /// On the node partial list.
    NodePartial,
    /// No free object; on no list.
    Full,
}

/// One slab: its memory and its metadata (`struct slab`).
struct Slab {
    base: usize,
    /// `slab->inuse`: allocated objects (exact while the slab is not a CPU slab; recounted
    /// from `meta` when it stops being one).
    inuse: u32,
    /// `slab->freelist`: head of the free objects not on a CPU freelist.
    freelist: u32,
    state: SlabState,
    /// Node partial list links (slab ids).
    prev: u32,
    next: u32,
    /// By object index: the next free object (a freelist link, or `NONE` at the end) for a
    /// free object, `ALLOCATED` for an allocated one.
    meta: Box<[u32]>,
}

/// Per-CPU state (`struct kmem_cache_cpu`). The fields the fast paths touch come first and
/// fit one cache line.
#[derive(Clone, Debug)]
#[repr(C, align(64))]
struct CpuCache {
    /// `c->freelist`: lockless freelist of the CPU slab.
    freelist: u32,
    /// `c->slab`.
    slab: u32,
    /// Address of object 0 of `c->slab` (0 if none).
    obj0: usize,
    /// `objects * stride` of `c->slab` (0 if none): `addr - obj0` below this is in the slab.
    limit: usize,
    /// The CPU slab's metadata, moved here while it is frozen. Like SLUB, the frozen slab's
    /// in-use count is not maintained; it is recounted when the slab is unfrozen.
    meta: Box<[u32]>,
    /// Objects allocated / freed by this CPU (per-CPU like `CONFIG_SLUB_STATS`).
    allocs: u64,
    frees: u64,
    /// `c->partial`: per-CPU partial slabs, most recent last.
    partial: Vec<u32>,
}

impl CpuCache {
    fn empty() -> Self {
        CpuCache {
            freelist: NONE,
            slab: NONE,
            obj0: 0,
            limit: 0,
            partial: Vec::new(),
            meta: Box::new([]),
            allocs: 0,
            frees: 0,
        }
    }
}

/// Counters of what the cache did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheCounters {
    /// Objects allocated (total).
    pub allocs: u64,
    /// Objects freed (total).
    pub frees: u64,
    /// Allocations that took the slow path (`___slab_alloc()`); the others popped the CPU
    /// freelist.
    pub alloc_slowpath: u64,
    /// Frees that took the slow path (`__slab_free()` or a debug check); the others pushed on
    /// the CPU freelist.
    pub free_slowpath: u64,
    /// Slabs obtained from the page allocator.
    pub slabs_allocated: u64,
    /// Slabs given back to the page allocator.
    pub slabs_freed: u64,
}

/// Why an address is not a live object of this cache.
#[derive(Debug)]
#[allow(clippy::enum_variant_names)]
enum Bad {
    NotInCache,
    NotObjectStart { slab: usize, idx: usize, into: usize },
    NotLive { slab: usize, idx: usize },
}

/// A SLUB-style cache of equally sized objects (`struct kmem_cache`).
pub struct KmemCache {
    name: String,
    flags: SlabFlags,
    layout: SlabLayout,
    red_zone: bool,
    slab_bytes: usize,
    slab_mask: usize,
    /// `ceil(2^40 / stride)`: object index by multiply-shift (`obj_to_index()`'s reciprocal).
    recip: u64,
    slabs: Vec<Slab>,
    free_ids: Vec<u32>,
    by_base: AddrMap,
    cpus: Vec<CpuCache>,
    node_head: u32,
    node_tail: u32,
    nr_partial: usize,
    nr_slabs: usize,
    counters: CacheCounters,
    /// The slab the last slow-path free found: (base, id), (0, NONE) if none.
    memo: (usize, u32),
    /// Released slab blocks kept for reuse (base address, metadata).
    pool: Vec<(usize, Box<[u32]>)>,
    destroyed: bool,
}

impl std::fmt::Debug for KmemCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmemCache")
            .field("name", &self.name)
            .field("layout", &self.layout)
            .field("nr_slabs", &self.nr_slabs)
            .field("inuse", &self.inuse())
            .finish()
    }
}

impl KmemCache {
    /// `kmem_cache_create(name, size, align, flags, NULL)` on a machine with `nr_cpus` present
    /// CPUs (which sets the slab order through `calculate_order()`).
    pub fn new(name: &str, size: usize, align: usize, flags: SlabFlags, nr_cpus: usize) -> Result<Self> {
        if name.is_empty() {
            return Err(Error::Usage("kmem_cache name is empty".into()));
        }
        let layout = SlabLayout::new(size, align, flags, nr_cpus)?;
        let slab_bytes = layout.slab_bytes();
        Ok(KmemCache {
            name: name.to_string(),
            flags,
            red_zone: flags.contains(SlabFlags::RED_ZONE),
            slab_bytes,
            slab_mask: !(slab_bytes - 1),
            recip: (1u64 << 40).div_ceil(layout.size as u64),
            layout,
            slabs: Vec::new(),
            free_ids: Vec::new(),
            by_base: AddrMap::default(),
            cpus: (0..nr_cpus).map(|_| CpuCache::empty()).collect(),
            node_head: NONE,
            node_tail: NONE,
            nr_partial: 0,
            nr_slabs: 0,
            counters: CacheCounters::default(),
            memo: (0, NONE),
            pool: Vec::new(),
            destroyed: false,
        })
    }

    /// Cache name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Creation flags.
    pub fn flags(&self) -> SlabFlags {
        self.flags
    }

    /// The computed layout (stride, alignment, order, objects per slab, ...).
    pub fn layout(&self) -> &SlabLayout {
        &self.layout
    }

    /// Simulated CPUs.
    pub fn nr_cpus(&self) -> usize {
        self.cpus.len()
    }

    /// Objects allocated right now.
    pub fn inuse(&self) -> usize {
        let k = self.counters();
        (k.allocs - k.frees) as usize
    }

    /// What the cache has done so far.
    pub fn counters(&self) -> CacheCounters {
        let mut k = self.counters;
        k.allocs = self.cpus.iter().map(|c| c.allocs).sum();
        k.frees = self.cpus.iter().map(|c| c.frees).sum();
        k
    }

    /// Whether [`KmemCache::destroy`] succeeded.
    pub fn is_destroyed(&self) -> bool {
        self.destroyed
    }

    /// Bytes of one slab.
    pub fn slab_bytes(&self) -> usize {
        self.slab_bytes
    }

    fn cpu_error(&self, cpu: usize) -> Error {
        if self.destroyed {
            return self.destroyed_error();
        }
        Error::Usage(format!(
            "kmem_cache {}: cpu {cpu} out of range (the cache was created for {} CPUs)",
            self.name,
            self.cpus.len()
        ))
    }

    fn destroyed_error(&self) -> Error {
        Error::Usage(format!("kmem_cache {} was destroyed", self.name))
    }

    /// `kmem_cache_alloc()` on `cpu`: the address of an object of `object_size` bytes,
    /// aligned to `align`. Its contents are whatever the slot held (zero for a fresh slab, the
    /// free pointer and old data otherwise).
    #[inline]
    pub fn alloc(&mut self, cpu: usize) -> Result<usize> {
        let Some(c) = self.cpus.get_mut(cpu) else {
            return Err(self.cpu_error(cpu));
        };
        let idx = c.freelist;
        if idx != NONE {
            let i = idx as usize;
            c.freelist = std::mem::replace(&mut c.meta[i], ALLOCATED);
            c.allocs += 1;
            let addr = c.obj0 + i * self.layout.size;
            if self.red_zone {
                self.paint(addr, SLUB_RED_ACTIVE);
            }
            return Ok(addr);
        }
        self.alloc_slow(cpu)
    }

    /// `kmem_cache_zalloc()`: [`KmemCache::alloc`] with `object_size` bytes zeroed.
    pub fn zalloc(&mut self, cpu: usize) -> Result<usize> {
        let addr = self.alloc(cpu)?;
        // SAFETY: `addr` was just handed out as a live object of this cache: it lies inside a
        // slab this cache owns, with at least `object_size` bytes before the slot ends.
        unsafe { std::ptr::write_bytes(addr as *mut u8, 0, self.layout.object_size) };
        Ok(addr)
    }

    /// `kmem_cache_free()` on `cpu`. A pointer that is not a live object of this cache (another
    /// cache's, an interior pointer, a double free) is an `Error::Usage` naming the cache, the
    /// address and the reason; the cache is unchanged then.
    #[inline]
    pub fn free(&mut self, addr: usize, cpu: usize) -> Result<()> {
        let Some(c) = self.cpus.get_mut(cpu) else {
            return Err(self.cpu_error(cpu));
        };
        // do_slab_free()'s fast path: the object belongs to this CPU's slab.
        let off = addr.wrapping_sub(c.obj0);
        let idx = ((off as u64).wrapping_mul(self.recip) >> 40) as usize;
        if off < c.limit && idx * self.layout.size == off && !self.red_zone && c.meta.get(idx) == Some(&ALLOCATED) {
            c.frees += 1;
            let next = c.freelist;
            c.meta[idx] = next;
            let next_addr = if next == NONE { 0 } else { c.obj0 + next as usize * self.layout.size };
            // SAFETY: `addr` is a live object of this CPU's slab (checked above) and
            // `offset + 8 <= inuse <= stride`, so the word is inside its slot.
            unsafe { std::ptr::write_unaligned((addr + self.layout.offset) as *mut usize, next_addr) };
            c.freelist = idx as u32;
            return Ok(());
        }
        self.free_slow(addr, cpu)
    }

    #[cold]
    fn alloc_slow(&mut self, cpu: usize) -> Result<usize> {
        if self.destroyed {
            return Err(self.destroyed_error());
        }
        loop {
            let c = &mut self.cpus[cpu];
            if c.freelist != NONE {
                break;
            }
            if c.slab != NONE {
                // get_freelist(): take the objects other CPUs freed to our slab.
                let s = &mut self.slabs[c.slab as usize];
                if s.freelist != NONE {
                    c.freelist = std::mem::replace(&mut s.freelist, NONE);
                    break;
                }
                // The CPU slab is exhausted: it becomes full and leaves the CPU.
                let id = self.unfreeze(cpu);
                self.slabs[id as usize].state = SlabState::Full;
            }
            if let Some(id) = self.cpus[cpu].partial.pop() {
                self.make_cpu_slab(cpu, id);
                continue;
            }
            if self.node_head != NONE {
                self.get_partial_node(cpu);
                continue;
            }
            let id = self.new_slab()?;
            self.make_cpu_slab(cpu, id);
        }
        self.counters.alloc_slowpath += 1;
        self.alloc(cpu)
    }

    #[cold]
    fn free_slow(&mut self, addr: usize, cpu: usize) -> Result<()> {
        if self.destroyed {
            return Err(self.destroyed_error());
        }
        let (id, idx) = self.locate(addr).map_err(|b| self.bad_error("kmem_cache_free", addr, b))?;
        self.memo = (self.slabs[id as usize].base, id);
        if self.red_zone {
            if let Some(at) = self.check_paint(addr, SLUB_RED_ACTIVE) {
                return Err(Error::Usage(format!(
                    "kmem_cache_free({}): 0x{addr:x}: red zone overwritten at offset {at} of the object (object_size {}); the object was not freed",
                    self.name, self.layout.object_size
                )));
            }
            self.paint(addr, SLUB_RED_INACTIVE);
        }
        let base = self.slabs[id as usize].base;
        self.cpus[cpu].frees += 1;
        self.counters.free_slowpath += 1;
        let state = self.slabs[id as usize].state;
        let own = state == SlabState::Cpu(cpu as u32);
        let prior = if own { self.cpus[cpu].freelist } else { self.slabs[id as usize].freelist };
        let empty = match state {
            // A frozen slab's count is recounted when it is unfrozen.
            SlabState::Cpu(o) => {
                self.cpus[o as usize].meta[idx] = prior;
                false
            }
            _ => {
                let s = &mut self.slabs[id as usize];
                s.meta[idx] = prior;
                s.inuse -= 1;
                s.inuse == 0
            }
        };
        if own {
            self.cpus[cpu].freelist = idx as u32;
        } else {
            self.slabs[id as usize].freelist = idx as u32;
        }
        let next_addr =
            if prior == NONE { 0 } else { base + prior as usize * self.layout.size + self.layout.red_left_pad };
        // SAFETY: `addr` is an object of the slab at `base` (located above); the free pointer
        // word at `offset` lies inside its slot.
        unsafe { std::ptr::write_unaligned((addr + self.layout.offset) as *mut usize, next_addr) };
        if own {
            return Ok(());
        }
        // __slab_free(): the slab is not this CPU's.
        match state {
            SlabState::Cpu(_) | SlabState::CpuPartial(_) => {}
            SlabState::Full => {
                if self.layout.cpu_partial_slabs > 0 {
                    self.put_cpu_partial(cpu, id);
                } else {
                    self.node_push_tail(id);
                    if empty && self.nr_partial >= self.layout.min_partial {
                        self.node_remove(id);
                        self.discard_slab(id);
                    }
                }
            }
            SlabState::NodePartial => {
                if empty && self.nr_partial >= self.layout.min_partial {
                    self.node_remove(id);
                    self.discard_slab(id);
                }
            }
        }
        Ok(())
    }

    /// Addresses of all allocated objects, in address order within each slab.
    pub fn live_objects(&self) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.inuse());
        let mut bases: Vec<(usize, u32)> = self.by_base.iter().map(|(b, i)| (*b, *i)).collect();
        bases.sort_unstable();
        for (base, id) in bases {
            for (i, m) in self.meta_of(id).iter().enumerate() {
                if *m == ALLOCATED {
                    out.push(base + i * self.layout.size + self.layout.red_left_pad);
                }
            }
        }
        out
    }

    /// `kmem_cache_destroy()`. With objects still allocated this is an error listing their
    /// count and addresses, and the cache is left exactly as it was (every object stays valid,
    /// no memory is released: the kernel also keeps such a cache). Otherwise every slab is
    /// released and further use of the cache is an error.
    pub fn destroy(&mut self) -> Result<()> {
        if self.destroyed {
            return Err(self.destroyed_error());
        }
        if self.inuse() > 0 {
            let live = self.live_objects();
            let mut list: Vec<String> = live.iter().take(LIST_MAX).map(|a| format!("0x{a:x}")).collect();
            if live.len() > LIST_MAX {
                list.push(format!("... and {} more", live.len() - LIST_MAX));
            }
            return Err(Error::Usage(format!(
                "kmem_cache_destroy({}): {} objects still allocated: {}; the cache was not destroyed",
                self.name,
                live.len(),
                list.join(", ")
            )));
        }
        self.shrink();
        self.release_all();
        self.destroyed = true;
        Ok(())
    }

    /// Whether `addr` lies in one of this cache's slabs (any byte of it).
    pub fn owns(&self, addr: usize) -> bool {
        self.by_base.contains_key(&(addr & self.slab_mask))
    }

    /// `/proc/slabinfo` row of this cache, with the exact and waste columns.
    pub fn slabinfo(&self) -> SlabInfo {
        let l = &self.layout;
        let num_objs = self.nr_slabs * l.objects;
        let mut node_free = 0;
        let mut id = self.node_head;
        while id != NONE {
            let s = &self.slabs[id as usize];
            node_free += l.objects - s.inuse as usize;
            id = s.next;
        }
        let cpu_slabs = self.cpus.iter().filter(|c| c.slab != NONE).count();
        let cpu_partial_slabs: usize = self.cpus.iter().map(|c| c.partial.len()).sum();
        SlabInfo {
            name: self.name.clone(),
            active_objs: num_objs - node_free,
            num_objs,
            objsize: l.size,
            objperslab: l.objects,
            pagesperslab: 1 << l.order,
            active_slabs: self.nr_slabs,
            num_slabs: self.nr_slabs,
            inuse_objs: self.inuse(),
            object_size: l.object_size,
            padding_bytes: num_objs * (l.size - l.object_size),
            tail_waste_bytes: self.nr_slabs * l.tail_waste(),
            total_bytes: self.nr_slabs * self.slab_bytes,
            cpu_slabs,
            cpu_partial_slabs,
            node_partial_slabs: self.nr_partial,
            full_slabs: self.nr_slabs - cpu_slabs - cpu_partial_slabs - self.nr_partial,
        }
    }
}

impl Drop for KmemCache {
    fn drop(&mut self) {
        // Live objects or not, the memory is owned here and goes back with the cache.
        self.release_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(size: usize, align: usize, flags: SlabFlags, cpus: usize) -> KmemCache {
        KmemCache::new("t", size, align, flags, cpus).unwrap()
    }

    #[test]
    fn cache_types_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<KmemCache>();
        check::<crate::slab::KmallocModel>();
    }

    #[test]
    fn objects_fill_one_slab_then_a_second() {
        let mut c = cache(788, 64, SlabFlags::empty(), 8);
        let addrs: Vec<usize> = (0..40).map(|_| c.alloc(0).unwrap()).collect();
        let base = addrs[0] & !(c.slab_bytes() - 1);
        for (i, a) in addrs.iter().take(39).enumerate() {
            assert_eq!(*a, base + i * 832);
        }
        assert_ne!(addrs[39] & !(c.slab_bytes() - 1), base);
        let si = c.slabinfo();
        assert_eq!((si.num_slabs, si.inuse_objs, si.num_objs), (2, 40, 78));
        for a in addrs {
            c.free(a, 0).unwrap();
        }
        assert_eq!(c.inuse(), 0);
        c.destroy().unwrap();
    }

    #[test]
    fn free_pointer_is_written_at_offset() {
        let mut c = cache(788, 64, SlabFlags::empty(), 8);
        let a = c.alloc(0).unwrap();
        let b = c.alloc(0).unwrap();
        c.free(a, 0).unwrap();
        c.free(b, 0).unwrap();
        // b is now the head, its free pointer points at a.
        let b2 = c.alloc(0).unwrap();
        assert_eq!(b2, b);
        let fp = usize::from_ne_bytes(c.object_bytes(b).unwrap()[392..400].try_into().unwrap());
        assert_eq!(fp, a);
        let z = c.zalloc(0).unwrap();
        assert_eq!(z, a);
        assert!(c.object_bytes(z).unwrap().iter().all(|&x| x == 0));
    }

    #[test]
    fn misuse_is_reported_and_changes_nothing() {
        let mut c = cache(100, 0, SlabFlags::empty(), 2);
        let a = c.alloc(0).unwrap();
        let e = c.free(a + 8, 0).unwrap_err().to_string();
        assert!(e.contains("not an object start") && e.contains("kmem_cache_free(t)"), "{e}");
        c.free(a, 1).unwrap();
        let e = c.free(a, 1).unwrap_err().to_string();
        assert!(e.contains("double free"), "{e}");
        let e = c.free(0x1000, 0).unwrap_err().to_string();
        assert!(e.contains("not in any slab"), "{e}");
        assert!(c.alloc(2).unwrap_err().to_string().contains("cpu 2 out of range"));
        assert_eq!(c.inuse(), 0);
    }

    #[test]
    fn red_zone_overwrite_is_caught() {
        let mut c = cache(788, 64, SlabFlags::RED_ZONE, 8);
        let a = c.alloc(0).unwrap();
        assert_eq!(a % 64, 0);
        // SAFETY: the byte just before the object is its left red zone, inside our slab.
        unsafe { *((a - 1) as *mut u8) = 0 };
        let e = c.free(a, 0).unwrap_err().to_string();
        assert!(e.contains("red zone overwritten at offset -1"), "{e}");
        // SAFETY: as above.
        unsafe { *((a - 1) as *mut u8) = SLUB_RED_ACTIVE };
        c.free(a, 0).unwrap();
    }
}
