//! Slab lifecycle and lists of a [`KmemCache`]: `new_slab()` / `discard_slab()`, freezing a
//! slab as a CPU slab and unfreezing it, `get_partial_node()`, `put_cpu_partial()`,
//! `__put_partials()`, the node partial list and `kmem_cache_shrink()` in mm/slub.c. Facts:
//! spec/task-data-slab-page-size.md §B.1.

use super::{CpuCache, KmemCache, Slab, SlabState, ALLOCATED, NONE, PAGE_POOL_MAX, SLUB_RED_INACTIVE};
use crate::{Errno, Error, Result};
use std::alloc::Layout;

impl KmemCache {
    /// Install slab `id` as `cpu`'s slab, moving its freelist to the CPU.
    pub(super) fn make_cpu_slab(&mut self, cpu: usize, id: u32) {
        let s = &mut self.slabs[id as usize];
        s.state = SlabState::Cpu(cpu as u32);
        let c = &mut self.cpus[cpu];
        c.slab = id;
        c.obj0 = s.base + self.layout.red_left_pad;
        c.limit = self.layout.objects * self.layout.size;
        c.freelist = std::mem::replace(&mut s.freelist, NONE);
        c.meta = std::mem::take(&mut s.meta);
    }

    /// Give `cpu`'s slab its metadata back and detach it from the CPU (the caller decides
    /// its new state and what happens to the CPU freelist). Returns its id.
    pub(super) fn unfreeze(&mut self, cpu: usize) -> u32 {
        let c = &mut self.cpus[cpu];
        let id = c.slab;
        let s = &mut self.slabs[id as usize];
        s.meta = std::mem::take(&mut c.meta);
        s.inuse = s.meta.iter().filter(|&&m| m == ALLOCATED).count() as u32;
        s.state = SlabState::Full;
        c.slab = NONE;
        c.obj0 = 0;
        c.limit = 0;
        id
    }

    /// The metadata of slab `id`, wherever it currently is.
    pub(super) fn meta_of(&self, id: u32) -> &[u32] {
        match self.slabs[id as usize].state {
            SlabState::Cpu(o) => &self.cpus[o as usize].meta,
            _ => &self.slabs[id as usize].meta,
        }
    }

    /// `get_partial_node()`: the first node partial slab becomes the CPU slab; more go to the
    /// CPU partial list until it holds more than half its budget.
    pub(super) fn get_partial_node(&mut self, cpu: usize) {
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
    pub(super) fn new_slab(&mut self) -> Result<u32> {
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
    pub(super) fn discard_slab(&mut self, id: u32) {
        let base = self.slabs[id as usize].base;
        self.by_base.remove(&base);
        if self.memo.1 == id {
            self.memo = (0, NONE);
        }
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

    pub(super) fn node_push_tail(&mut self, id: u32) {
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

    pub(super) fn node_remove(&mut self, id: u32) {
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
    pub(super) fn put_cpu_partial(&mut self, cpu: usize, id: u32) {
        if self.cpus[cpu].partial.len() >= self.layout.cpu_partial_slabs {
            let old = std::mem::take(&mut self.cpus[cpu].partial);
            self.put_partials(old);
        }
        self.slabs[id as usize].state = SlabState::CpuPartial(cpu as u32);
        self.cpus[cpu].partial.push(id);
    }

    /// `__put_partials()`: empty slabs beyond `min_partial` are discarded, the rest go to the
    /// node list tail.
    pub(super) fn put_partials(&mut self, ids: Vec<u32>) {
        for id in ids {
            if self.slabs[id as usize].inuse == 0 && self.nr_partial >= self.layout.min_partial {
                self.discard_slab(id);
            } else {
                self.node_push_tail(id);
            }
        }
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

    pub(super) fn release_all(&mut self) {
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
}
