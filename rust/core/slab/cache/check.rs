//! Validation of caller-supplied addresses and debug red zones for a [`KmemCache`]:
//! `virt_to_slab()` + `obj_to_index()` style lookup (with the checks SLUB leaves to
//! `CONFIG_SLUB_DEBUG`: not an object start, double free, another cache's pointer) and the red
//! zone part of `check_object()` in mm/slub.c. Facts: spec/task-data-slab-page-size.md §B.1.

use super::{Bad, KmemCache, ALLOCATED};
use crate::{Error, Result};

impl KmemCache {
    /// Locate `addr`: (slab id, object index) if it is an object start in one of our slabs.
    pub(super) fn locate(&self, addr: usize) -> std::result::Result<(u32, usize), Bad> {
        let base = addr & self.slab_mask;
        let hint = if base == self.memo.0 && base != 0 { Some(self.memo.1) } else { None };
        let Some(id) = hint.or_else(|| self.by_base.get(&base).copied()) else {
            return Err(Bad::NotInCache);
        };
        let rel = addr - base;
        let pad = self.layout.red_left_pad;
        let stride = self.layout.size;
        // Object index by the reciprocal: exact whenever `rel - pad` is a multiple of the
        // stride, which is all the fast answer needs.
        let guess = ((rel.wrapping_sub(pad) as u64).wrapping_mul(self.recip) >> 40) as usize;
        if guess < self.layout.objects && guess * stride + pad == rel {
            if self.meta_of(id)[guess] != ALLOCATED {
                return Err(Bad::NotLive { slab: base, idx: guess });
            }
            return Ok((id, guess));
        }
        // Slot of `addr` (exact division, for the error message).
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

    pub(super) fn bad_error(&self, what: &str, addr: usize, bad: Bad) -> Error {
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
    pub(super) fn paint(&self, addr: usize, byte: u8) {
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
    pub(super) fn check_paint(&self, addr: usize, byte: u8) -> Option<isize> {
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
}
