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

use super::flags::SlabFlags;
use super::layout::SlabLayout;
use super::slabinfo::SlabInfo;
use crate::{Errno, Error, Result};
use std::alloc::Layout;
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
    /// `slab->inuse`: allocated objects (exact). While the slab is a CPU slab this and `meta`
    /// live in the `CpuCache` (the fast path touches nothing else).
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

/// Per-CPU state (`struct kmem_cache_cpu`).
#[derive(Clone, Debug)]
struct CpuCache {
    /// `c->freelist`: lockless freelist of the CPU slab.
    freelist: u32,
    /// `c->slab`.
    slab: u32,
    /// Base address of `c->slab` (0 if none), for the free fast path.
    base: usize,
    /// `c->partial`: per-CPU partial slabs, most recent last.
    partial: Vec<u32>,
    /// The CPU slab's metadata and in-use count, moved here while it is frozen.
    meta: Box<[u32]>,
    inuse: u32,
}

impl CpuCache {
    fn empty() -> Self {
        CpuCache { freelist: NONE, slab: NONE, base: 0, partial: Vec::new(), meta: Box::new([]), inuse: 0 }
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
        (self.counters.allocs - self.counters.frees) as usize
    }

    /// What the cache has done so far.
    pub fn counters(&self) -> CacheCounters {
        self.counters
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
            c.inuse += 1;
            self.counters.allocs += 1;
            let addr = c.base + i * self.layout.size + self.layout.red_left_pad;
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
        let base = addr & self.slab_mask;
        if base == c.base && c.slab != NONE && !self.red_zone {
            let off = addr.wrapping_sub(base + self.layout.red_left_pad);
            let idx = ((off as u64 * self.recip) >> 40) as usize;
            if off < self.slab_bytes
                && idx < self.layout.objects
                && idx * self.layout.size == off
                && c.meta[idx] == ALLOCATED
            {
                {
                    c.inuse -= 1;
                    self.counters.frees += 1;
                    let next = c.freelist;
                    c.meta[idx] = next;
                    let next_addr = if next == NONE {
                        0
                    } else {
                        base + next as usize * self.layout.size + self.layout.red_left_pad
                    };
                    // SAFETY: `addr` is a live object of this cache's slab at `base` (checked
                    // above) and `offset + 8 <= inuse <= stride`, so the word is inside the slot.
                    unsafe { std::ptr::write_unaligned((addr + self.layout.offset) as *mut usize, next_addr) };
                    c.freelist = idx as u32;
                    return Ok(());
                }
            }
        }
        self.free_slow(addr, cpu)
    }

    /// Locate `addr`: (slab id, object index) if it is an object start in one of our slabs.
    fn locate(&self, addr: usize) -> std::result::Result<(u32, usize), Bad> {
        let base = addr & self.slab_mask;
        let Some(&id) = self.by_base.get(&base) else {
            return Err(Bad::NotInCache);
        };
        let rel = addr - base;
        let pad = self.layout.red_left_pad;
        let stride = self.layout.size;
        // Slot of `addr`: objects start `pad` bytes into their slot.
        let slot = rel / stride;
        let start = slot * stride + pad;
        if slot >= self.layout.objects || rel != start {
            let (idx, into) = if slot < self.layout.objects && rel >= start {
                (slot, rel - start)
            } else if rel < start && slot > 0 {
                (slot - 1, rel + stride - start)
            } else {
                (slot, rel.wrapping_sub(start))
            };
            return Err(Bad::NotObjectStart { slab: base, idx, into });
        }
        if self.meta_of(id)[slot] != ALLOCATED {
            return Err(Bad::NotLive { slab: base, idx: slot });
        }
        Ok((id, slot))
    }

    fn bad_error(&self, what: &str, addr: usize, bad: Bad) -> Error {
        let reason = match bad {
            Bad::NotInCache => "it is not in any slab of this cache (a pointer from another cache or allocator?)".to_string(),
            Bad::NotObjectStart { slab, idx, into } if idx < self.layout.objects && into < self.layout.size => format!(
                "it is not an object start: it lies {into} bytes past the start of object {idx} (0x{:x}) of the slab at 0x{slab:x} (stride {})",
                slab + idx * self.layout.size + self.layout.red_left_pad,
                self.layout.size
            ),
            Bad::NotObjectStart { slab, .. } => format!(
                "it is not an object start: it lies in the unused tail or red zone of the slab at 0x{slab:x}"
            ),
            Bad::NotLive { slab, idx } => format!(
                "double free or never allocated: object {idx} of the slab at 0x{slab:x} is already free"
            ),
        };
        Error::Usage(format!("{what}({}): 0x{addr:x}: {reason}", self.name))
    }

    /// Check that `addr` is a live object of this cache (for callers that write into it).
    pub fn check_live(&self, addr: usize) -> Result<()> {
        if self.destroyed {
            return Err(self.destroyed_error());
        }
        self.locate(addr).map(|_| ()).map_err(|b| self.bad_error("kmem_cache_check", addr, b))
    }

    /// The `object_size` bytes of the live object at `addr`.
    pub fn object_bytes(&self, addr: usize) -> Result<&[u8]> {
        self.check_live(addr)?;
        // SAFETY: `addr` is a live object (checked): `object_size` bytes inside a slab this
        // cache owns, which stays allocated while `&self` is borrowed.
        Ok(unsafe { std::slice::from_raw_parts(addr as *const u8, self.layout.object_size) })
    }

    /// The `object_size` bytes of the live object at `addr`, writable.
    pub fn object_bytes_mut(&mut self, addr: usize) -> Result<&mut [u8]> {
        self.check_live(addr)?;
        // SAFETY: as in `object_bytes`; `&mut self` keeps the cache from handing out the same
        // slot or freeing the slab while the slice lives.
        Ok(unsafe { std::slice::from_raw_parts_mut(addr as *mut u8, self.layout.object_size) })
    }

    /// Write the red zones of the object at `addr` with `byte`.
    fn paint(&self, addr: usize, byte: u8) {
        let l = &self.layout;
        // SAFETY: called only for an object of this cache: its left red zone
        // (`red_left_pad` bytes before it) and right red zone (`object_size..inuse`) are inside
        // its slot, which lies in a slab this cache owns.
        unsafe {
            std::ptr::write_bytes((addr - l.red_left_pad) as *mut u8, byte, l.red_left_pad);
            std::ptr::write_bytes((addr + l.object_size) as *mut u8, byte, l.inuse - l.object_size);
        }
    }

    /// `check_object()`'s red zone part: the first offset (relative to the object) whose red
    /// zone byte is not `byte`.
    fn check_paint(&self, addr: usize, byte: u8) -> Option<isize> {
        let l = &self.layout;
        // SAFETY: as in `paint`.
        let left = unsafe { std::slice::from_raw_parts((addr - l.red_left_pad) as *const u8, l.red_left_pad) };
        // SAFETY: as in `paint`.
        let right = unsafe { std::slice::from_raw_parts((addr + l.object_size) as *const u8, l.inuse - l.object_size) };
        if let Some(p) = left.iter().position(|&b| b != byte) {
            return Some(p as isize - l.red_left_pad as isize);
        }
        right.iter().position(|&b| b != byte).map(|p| (l.object_size + p) as isize)
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

    /// Install slab `id` as `cpu`'s slab, moving its freelist to the CPU.
    fn make_cpu_slab(&mut self, cpu: usize, id: u32) {
        let s = &mut self.slabs[id as usize];
        s.state = SlabState::Cpu(cpu as u32);
        let c = &mut self.cpus[cpu];
        c.slab = id;
        c.base = s.base;
        c.freelist = std::mem::replace(&mut s.freelist, NONE);
        c.meta = std::mem::take(&mut s.meta);
        c.inuse = s.inuse;
    }

    /// Give `cpu`'s slab its metadata back and detach it from the CPU (the caller decides
    /// its new state and what happens to the CPU freelist). Returns its id.
    fn unfreeze(&mut self, cpu: usize) -> u32 {
        let c = &mut self.cpus[cpu];
        let id = c.slab;
        let s = &mut self.slabs[id as usize];
        s.meta = std::mem::take(&mut c.meta);
        s.inuse = c.inuse;
        s.state = SlabState::Full;
        c.slab = NONE;
        c.base = 0;
        id
    }

    /// The metadata of slab `id`, wherever it currently is.
    fn meta_of(&self, id: u32) -> &[u32] {
        match self.slabs[id as usize].state {
            SlabState::Cpu(o) => &self.cpus[o as usize].meta,
            _ => &self.slabs[id as usize].meta,
        }
    }

    /// `get_partial_node()`: the first node partial slab becomes the CPU slab; more go to the
    /// CPU partial list until it holds more than half its budget.
    fn get_partial_node(&mut self, cpu: usize) {
        let first = self.node_head;
        self.node_remove(first);
        self.make_cpu_slab(cpu, first);
        let mut taken = 0;
        while self.layout.cpu_partial_slabs > 0 && taken <= self.layout.cpu_partial_slabs / 2 {
            let id = self.node_head;
            if id == NONE {
                break;
            }
            self.node_remove(id);
            self.put_cpu_partial(cpu, id);
            taken += 1;
        }
    }

    /// `new_slab()`: a zeroed, naturally aligned block from the page allocator, with all its
    /// objects on the slab freelist in address order.
    fn new_slab(&mut self) -> Result<u32> {
        let n = self.layout.objects;
        let (base, mut meta) = match self.pool.pop() {
            Some(b) => b,
            None => {
                let lay = Layout::from_size_align(self.slab_bytes, self.slab_bytes)
                    .map_err(|e| Error::Internal(format!("slab layout: {e}")))?;
                // SAFETY: `lay` has a nonzero size (at least one page). Zeroed, so every byte a
                // caller can read through `object_bytes` is initialised.
                let mem = unsafe { std::alloc::alloc_zeroed(lay) };
                if mem.is_null() {
                    return Err(Error::perf(
                        Errno::ENOMEM,
                        format!("kmem_cache {}: no memory for an order-{} slab", self.name, self.layout.order),
                    ));
                }
                (mem as usize, vec![0u32; n].into_boxed_slice())
            }
        };
        for (i, m) in meta.iter_mut().enumerate() {
            *m = i as u32 + 1;
        }
        meta[n - 1] = NONE;
        let slab = Slab { base, inuse: 0, freelist: 0, state: SlabState::Full, prev: NONE, next: NONE, meta };
        let id = match self.free_ids.pop() {
            Some(id) => {
                self.slabs[id as usize] = slab;
                id
            }
            None => {
                self.slabs.push(slab);
                (self.slabs.len() - 1) as u32
            }
        };
        self.by_base.insert(base, id);
        self.nr_slabs += 1;
        self.counters.slabs_allocated += 1;
        let (stride, pad, off) = (self.layout.size, self.layout.red_left_pad, self.layout.offset);
        for i in 0..n {
            let obj = base + i * stride + pad;
            let next = if i + 1 < n { obj + stride } else { 0 };
            // SAFETY: object `i` lies inside the block just allocated; `off + 8 <= stride`.
            unsafe { std::ptr::write_unaligned((obj + off) as *mut usize, next) };
            if self.red_zone {
                self.paint(obj, SLUB_RED_INACTIVE);
            }
        }
        Ok(id)
    }

    /// `discard_slab()`: give the block back.
    fn discard_slab(&mut self, id: u32) {
        let base = self.slabs[id as usize].base;
        self.by_base.remove(&base);
        let s = &mut self.slabs[id as usize];
        s.base = 0;
        let meta = std::mem::take(&mut s.meta);
        self.free_ids.push(id);
        self.nr_slabs -= 1;
        self.counters.slabs_freed += 1;
        if self.pool.len() < PAGE_POOL_MAX && !self.destroyed {
            self.pool.push((base, meta));
            return;
        }
        // SAFETY: `base` came from `alloc_zeroed` with this exact layout in `new_slab` and is
        // released once: its id is now free and its base is gone from `by_base`.
        unsafe {
            std::alloc::dealloc(base as *mut u8, Layout::from_size_align_unchecked(self.slab_bytes, self.slab_bytes))
        };
    }

    fn node_push_tail(&mut self, id: u32) {
        let tail = self.node_tail;
        {
            let s = &mut self.slabs[id as usize];
            s.state = SlabState::NodePartial;
            s.prev = tail;
            s.next = NONE;
        }
        if tail == NONE {
            self.node_head = id;
        } else {
            self.slabs[tail as usize].next = id;
        }
        self.node_tail = id;
        self.nr_partial += 1;
    }

    fn node_remove(&mut self, id: u32) {
        let (prev, next) = {
            let s = &mut self.slabs[id as usize];
            let pn = (s.prev, s.next);
            s.prev = NONE;
            s.next = NONE;
            s.state = SlabState::Full;
            pn
        };
        if prev == NONE {
            self.node_head = next;
        } else {
            self.slabs[prev as usize].next = next;
        }
        if next == NONE {
            self.node_tail = prev;
        } else {
            self.slabs[next as usize].prev = prev;
        }
        self.nr_partial -= 1;
    }

    /// `put_cpu_partial()`: push onto `cpu`'s partial list, first draining a full budget to the
    /// node (`__put_partials()`).
    fn put_cpu_partial(&mut self, cpu: usize, id: u32) {
        if self.cpus[cpu].partial.len() >= self.layout.cpu_partial_slabs {
            let old = std::mem::take(&mut self.cpus[cpu].partial);
            self.put_partials(old);
        }
        self.slabs[id as usize].state = SlabState::CpuPartial(cpu as u32);
        self.cpus[cpu].partial.push(id);
    }

    /// `__put_partials()`: empty slabs beyond `min_partial` are discarded, the rest go to the
    /// node list tail.
    fn put_partials(&mut self, ids: Vec<u32>) {
        for id in ids {
            if self.slabs[id as usize].inuse == 0 && self.nr_partial >= self.layout.min_partial {
                self.discard_slab(id);
            } else {
                self.node_push_tail(id);
            }
        }
    }

    #[cold]
    fn free_slow(&mut self, addr: usize, cpu: usize) -> Result<()> {
        if self.destroyed {
            return Err(self.destroyed_error());
        }
        let (id, idx) = self.locate(addr).map_err(|b| self.bad_error("kmem_cache_free", addr, b))?;
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
        self.counters.frees += 1;
        self.counters.free_slowpath += 1;
        let state = self.slabs[id as usize].state;
        let own = state == SlabState::Cpu(cpu as u32);
        let prior = if own { self.cpus[cpu].freelist } else { self.slabs[id as usize].freelist };
        let empty = {
            let (meta, inuse) = match state {
                SlabState::Cpu(o) => {
                    let c = &mut self.cpus[o as usize];
                    (&mut c.meta, &mut c.inuse)
                }
                _ => {
                    let s = &mut self.slabs[id as usize];
                    (&mut s.meta, &mut s.inuse)
                }
            };
            meta[idx] = prior;
            *inuse -= 1;
            *inuse == 0
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

    /// `deactivate_slab()` of every CPU slab and `__put_partials()` of every CPU partial list
    /// (what `flush_all()` does), then `kmem_cache_shrink()`: discard every empty slab.
    pub fn shrink(&mut self) {
        for cpu in 0..self.cpus.len() {
            if self.cpus[cpu].slab != NONE {
                // Objects on the CPU freelist go back to the slab freelist.
                let cf = std::mem::replace(&mut self.cpus[cpu].freelist, NONE);
                let id = self.unfreeze(cpu);
                let s = &mut self.slabs[id as usize];
                let mut i = cf;
                while i != NONE {
                    let nx = s.meta[i as usize];
                    s.meta[i as usize] = s.freelist;
                    s.freelist = i;
                    i = nx;
                }
                s.state = SlabState::Full;
                if s.inuse as usize != self.layout.objects {
                    self.node_push_tail(id);
                }
            }
            let partial = std::mem::take(&mut self.cpus[cpu].partial);
            for id in partial {
                self.node_push_tail(id);
            }
        }
        let mut id = self.node_head;
        while id != NONE {
            let next = self.slabs[id as usize].next;
            if self.slabs[id as usize].inuse == 0 {
                self.node_remove(id);
                self.discard_slab(id);
            }
            id = next;
        }
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

    fn release_all(&mut self) {
        for cpu in 0..self.cpus.len() {
            if self.cpus[cpu].slab != NONE {
                self.unfreeze(cpu);
            }
        }
        let ids: Vec<u32> = self.by_base.values().copied().collect();
        for id in ids {
            self.discard_slab(id);
        }
        for (base, _) in std::mem::take(&mut self.pool) {
            // SAFETY: pooled blocks came from `alloc_zeroed` with this layout in `new_slab` and
            // left the pool just now, so each is released once.
            unsafe {
                std::alloc::dealloc(
                    base as *mut u8,
                    Layout::from_size_align_unchecked(self.slab_bytes, self.slab_bytes),
                )
            };
        }
        self.node_head = NONE;
        self.node_tail = NONE;
        self.nr_partial = 0;
        for c in &mut self.cpus {
            *c = CpuCache::empty();
        }
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
