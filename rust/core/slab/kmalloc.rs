//! The generic kmalloc caches and their alignment contract: the "before" of upstream commit
//! 217c2a633ebb ("perf/core: Use kmem_cache to allocate the PMU specific data"), where
//! `task_ctx_data` came from `kzalloc()`. Models `kmalloc()`, `kzalloc()`, `kfree()`,
//! `ksize()`, `kmalloc_index()` / the `size_index` table, `create_kmalloc_cache()` /
//! `create_boot_cache()` and `kmalloc_large()` (include/linux/slab.h, mm/slab_common.c).
//! Facts: spec/task-data-slab-page-size.md §B.2, §B.3.
//!
//! Three alignment rules are modelled, because the guarantee changed over time:
//! [`KmallocAlignRule::MinAlign`] (before 5.4: every kmalloc cache aligned only to
//! `ARCH_KMALLOC_MINALIGN` = 8), [`KmallocAlignRule::PowerOfTwo`] (5.4, `59bb47985c1d`:
//! power-of-two sizes naturally aligned) and [`KmallocAlignRule::LargestPow2Divisor`] (6.11,
//! `ad59baa31695`: the largest power-of-two divisor of the size, so kmalloc-96 is 32-aligned and
//! kmalloc-192 64-aligned; the 6.18 default). With debug red zoning (`slub_debug=Z`) every
//! object moves `red_left_pad = ALIGN(8, align)` bytes into its slot: under `MinAlign` that puts
//! kmalloc objects at 8 mod 64, which is what breaks an XSAVE buffer.

use super::cache::KmemCache;
use super::flags::SlabFlags;
use super::layout::{get_order, KMALLOC_MAX_SIZE, PAGE_SIZE};
use super::slabinfo::SlabInfo;
use super::xsave::{xsave_into, Misaligned, XsaveKind, XSAVE_FPSSE_SIZE};
use crate::{Errno, Error, Result};
use std::alloc::Layout;
use std::collections::BTreeMap;

/// `ARCH_KMALLOC_MINALIGN` on x86-64.
pub const ARCH_KMALLOC_MINALIGN: usize = 8;
/// `KMALLOC_MAX_CACHE_SIZE` = `1 << KMALLOC_SHIFT_HIGH` = 8 KiB: larger requests go to the
/// page allocator.
pub const KMALLOC_MAX_CACHE_SIZE: usize = 8192;
/// `ZERO_SIZE_PTR`: what `kmalloc(0)` returns; `kfree()` accepts it.
pub const ZERO_SIZE_PTR: usize = 16;
/// Object sizes of the generic caches on x86-64, kmalloc-8 ... kmalloc-8k.
pub const KMALLOC_SIZES: [usize; 13] = [8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192];

/// Which alignment contract the kmalloc caches follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KmallocAlignRule {
    /// Before 5.4: `ARCH_KMALLOC_MINALIGN` only.
    MinAlign,
    /// 5.4 to 6.10: power-of-two sizes aligned to their size.
    PowerOfTwo,
    /// 6.11 and later (6.18): aligned to the largest power-of-two divisor of the size.
    LargestPow2Divisor,
}

impl KmallocAlignRule {
    /// Parse `"minalign"`/`"5.3"`, `"pow2"`/`"5.4"`, `"6.11"`/`"6.18"`/`"divisor"`.
    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "minalign" | "5.3" => Ok(KmallocAlignRule::MinAlign),
            "pow2" | "power_of_two" | "5.4" => Ok(KmallocAlignRule::PowerOfTwo),
            "divisor" | "6.11" | "6.18" => Ok(KmallocAlignRule::LargestPow2Divisor),
            _ => Err(Error::Usage(format!(
                "kmalloc align_rule {s:?} is unknown (use \"minalign\", \"pow2\" or \"6.11\")"
            ))),
        }
    }

    /// Canonical name.
    pub fn name(self) -> &'static str {
        match self {
            KmallocAlignRule::MinAlign => "minalign",
            KmallocAlignRule::PowerOfTwo => "pow2",
            KmallocAlignRule::LargestPow2Divisor => "6.11",
        }
    }

    /// The alignment a caller may rely on for `kmalloc(size)` (the documented guarantee).
    pub fn guaranteed_align(self, size: usize) -> usize {
        let lowbit = if size == 0 { ARCH_KMALLOC_MINALIGN } else { 1 << size.trailing_zeros() };
        match self {
            KmallocAlignRule::MinAlign => ARCH_KMALLOC_MINALIGN,
            KmallocAlignRule::PowerOfTwo if size.is_power_of_two() => size.max(ARCH_KMALLOC_MINALIGN),
            KmallocAlignRule::PowerOfTwo => ARCH_KMALLOC_MINALIGN,
            KmallocAlignRule::LargestPow2Divisor => lowbit.max(ARCH_KMALLOC_MINALIGN),
        }
    }
}

/// `kmalloc_index()`: index into [`KMALLOC_SIZES`] of the cache serving `size`, or `None` for 0
/// and for sizes above `KMALLOC_MAX_CACHE_SIZE`. Sizes up to 192 go through the `size_index`
/// table (65..=96 to kmalloc-96, 129..=192 to kmalloc-192), larger ones to the next power of
/// two.
pub fn kmalloc_index(size: usize) -> Option<usize> {
    if size == 0 || size > KMALLOC_MAX_CACHE_SIZE {
        return None;
    }
    KMALLOC_SIZES.iter().position(|&s| s >= size)
}

/// The cache name of a class size (`kmalloc-96`, `kmalloc-1k`).
pub fn class_name(class_size: usize) -> String {
    if class_size >= 1024 {
        format!("kmalloc-{}k", class_size / 1024)
    } else {
        format!("kmalloc-{class_size}")
    }
}

/// The `align` argument `create_boot_cache()` uses for a kmalloc class under `rule`.
pub fn class_align(class_size: usize, rule: KmallocAlignRule) -> usize {
    match rule {
        KmallocAlignRule::MinAlign => ARCH_KMALLOC_MINALIGN,
        KmallocAlignRule::PowerOfTwo if class_size.is_power_of_two() => class_size,
        KmallocAlignRule::PowerOfTwo => ARCH_KMALLOC_MINALIGN,
        KmallocAlignRule::LargestPow2Divisor => ARCH_KMALLOC_MINALIGN.max(1 << class_size.trailing_zeros()),
    }
}

/// The generic kmalloc caches of one simulated machine, plus page-allocator ("large")
/// allocations above 8 KiB.
pub struct KmallocModel {
    rule: KmallocAlignRule,
    debug_redzone: bool,
    caches: Vec<KmemCache>,
    /// Large allocations: base address -> order.
    large: BTreeMap<usize, u32>,
}

impl std::fmt::Debug for KmallocModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmallocModel")
            .field("rule", &self.rule)
            .field("debug_redzone", &self.debug_redzone)
            .field("large", &self.large.len())
            .finish()
    }
}

impl KmallocModel {
    /// The kmalloc caches of a machine with `nr_cpus` CPUs under `rule`, with debug red zones
    /// (`slub_debug=Z`) or not.
    pub fn new(nr_cpus: usize, rule: KmallocAlignRule, debug_redzone: bool) -> Result<Self> {
        let mut flags = SlabFlags::KMALLOC;
        if debug_redzone {
            flags = flags | SlabFlags::RED_ZONE;
        }
        let caches = KMALLOC_SIZES
            .iter()
            .map(|&s| KmemCache::new(&class_name(s), s, class_align(s, rule), flags, nr_cpus))
            .collect::<Result<Vec<_>>>()?;
        Ok(KmallocModel { rule, debug_redzone, caches, large: BTreeMap::new() })
    }

    /// The alignment rule.
    pub fn rule(&self) -> KmallocAlignRule {
        self.rule
    }

    /// Whether red zoning is on.
    pub fn debug_redzone(&self) -> bool {
        self.debug_redzone
    }

    /// The 13 generic caches, smallest first.
    pub fn caches(&self) -> &[KmemCache] {
        &self.caches
    }

    /// The cache that serves `size`, if a slab cache does.
    pub fn cache_for(&self, size: usize) -> Option<&KmemCache> {
        kmalloc_index(size).map(|i| &self.caches[i])
    }

    /// `kmalloc(size)` on `cpu`. 0 gives `ZERO_SIZE_PTR`; above 8 KiB the page allocator
    /// serves the request (page-aligned); above `KMALLOC_MAX_SIZE` it fails with ENOMEM.
    pub fn kmalloc(&mut self, size: usize, cpu: usize) -> Result<usize> {
        if size == 0 {
            return Ok(ZERO_SIZE_PTR);
        }
        match kmalloc_index(size) {
            Some(i) => self.caches[i].alloc(cpu),
            None => self.kmalloc_large(size, cpu),
        }
    }

    /// `kzalloc(size)`: `kmalloc()` with the object zeroed (the whole `object_size` of the
    /// cache, as `__GFP_ZERO` does).
    pub fn kzalloc(&mut self, size: usize, cpu: usize) -> Result<usize> {
        if size == 0 {
            return Ok(ZERO_SIZE_PTR);
        }
        match kmalloc_index(size) {
            Some(i) => self.caches[i].zalloc(cpu),
            None => self.kmalloc_large(size, cpu), // large blocks come zeroed
        }
    }

    fn kmalloc_large(&mut self, size: usize, cpu: usize) -> Result<usize> {
        if cpu >= self.caches[0].nr_cpus() {
            return Err(Error::Usage(format!(
                "kmalloc: cpu {cpu} out of range (the model was created for {} CPUs)",
                self.caches[0].nr_cpus()
            )));
        }
        if size > KMALLOC_MAX_SIZE {
            return Err(Error::perf(
                Errno::ENOMEM,
                format!("kmalloc size {size} exceeds KMALLOC_MAX_SIZE {KMALLOC_MAX_SIZE}"),
            ));
        }
        let order = get_order(size);
        let bytes = PAGE_SIZE << order;
        let lay = Layout::from_size_align(bytes, bytes).map_err(|e| Error::Internal(e.to_string()))?;
        // SAFETY: nonzero size.
        let p = unsafe { std::alloc::alloc_zeroed(lay) };
        if p.is_null() {
            return Err(Error::perf(Errno::ENOMEM, format!("kmalloc_large: no memory for order {order}")));
        }
        self.large.insert(p as usize, order);
        Ok(p as usize)
    }

    /// `kfree(addr)` on `cpu`. NULL and `ZERO_SIZE_PTR` are accepted and ignored; anything
    /// that is not a live kmalloc object is an `Error::Usage` naming the address and reason.
    pub fn kfree(&mut self, addr: usize, cpu: usize) -> Result<()> {
        if addr == 0 || addr == ZERO_SIZE_PTR {
            return Ok(());
        }
        if let Some(c) = self.caches.iter_mut().find(|c| c.owns(addr)) {
            return c.free(addr, cpu);
        }
        if let Some((&base, &order)) = self.large.range(..=addr).next_back() {
            if addr < base + (PAGE_SIZE << order) {
                if addr != base {
                    return Err(Error::Usage(format!(
                        "kfree(0x{addr:x}): not an object start: it lies {} bytes into the large allocation at 0x{base:x}",
                        addr - base
                    )));
                }
                self.large.remove(&base);
                let bytes = PAGE_SIZE << order;
                // SAFETY: `base` was allocated in `kmalloc_large` with this layout and is freed
                // once (it was just removed from `large`).
                unsafe { std::alloc::dealloc(base as *mut u8, Layout::from_size_align_unchecked(bytes, bytes)) };
                return Ok(());
            }
        }
        Err(Error::Usage(format!(
            "kfree(0x{addr:x}): not allocated by kmalloc (no kmalloc slab or large allocation contains it; double free of a large block?)"
        )))
    }

    /// `ksize(addr)`: usable bytes of the live object at `addr`.
    pub fn ksize(&self, addr: usize) -> Result<usize> {
        if let Some(c) = self.caches.iter().find(|c| c.owns(addr)) {
            c.check_live(addr)?;
            return Ok(c.layout().object_size);
        }
        match self.large.get(&addr) {
            Some(&order) => Ok(PAGE_SIZE << order),
            None => Err(Error::Usage(format!("ksize(0x{addr:x}): not a live kmalloc object"))),
        }
    }

    /// The bytes of the live kmalloc object at `addr` (the cache's `object_size`, or the whole
    /// block of a large allocation).
    pub fn object_bytes(&self, addr: usize) -> Result<&[u8]> {
        if let Some(c) = self.caches.iter().find(|c| c.owns(addr)) {
            return c.object_bytes(addr);
        }
        match self.large.get(&addr) {
            // SAFETY: `addr` is a live large allocation of this many bytes owned by this model;
            // `&self` keeps it from being freed while the slice lives.
            Some(&order) => Ok(unsafe { std::slice::from_raw_parts(addr as *const u8, PAGE_SIZE << order) }),
            None => Err(Error::Usage(format!("kmalloc object 0x{addr:x}: not a live kmalloc object"))),
        }
    }

    /// `XSAVE`/`XSAVEC` into the live kmalloc object at `addr` (see [`KmemCache::xsave`]).
    pub fn xsave(&mut self, addr: usize, kind: XsaveKind, misaligned: Misaligned) -> Result<()> {
        if let Some(c) = self.caches.iter_mut().find(|c| c.owns(addr)) {
            return c.xsave(addr, kind, misaligned);
        }
        match self.large.get(&addr) {
            Some(&order) => {
                let bytes = PAGE_SIZE << order;
                // SAFETY: `addr` is a live large allocation of `bytes` bytes owned by this model,
                // borrowed mutably through `&mut self` for the duration of the call.
                let buf = unsafe { std::slice::from_raw_parts_mut(addr as *mut u8, bytes) };
                debug_assert!(bytes >= XSAVE_FPSSE_SIZE);
                xsave_into(buf, 0, kind, misaligned)
            }
            None => Err(Error::Usage(format!("xsave(0x{addr:x}): not a live kmalloc object"))),
        }
    }

    /// Objects allocated in all caches plus large blocks.
    pub fn inuse(&self) -> usize {
        self.caches.iter().map(|c| c.inuse()).sum::<usize>() + self.large.len()
    }

    /// `/proc/slabinfo` rows of the 13 caches.
    pub fn slabinfo(&self) -> Vec<SlabInfo> {
        self.caches.iter().map(|c| c.slabinfo()).collect()
    }
}

impl Drop for KmallocModel {
    fn drop(&mut self) {
        for (&base, &order) in &self.large {
            let bytes = PAGE_SIZE << order;
            // SAFETY: every entry of `large` is a live block allocated with this layout.
            unsafe { std::alloc::dealloc(base as *mut u8, Layout::from_size_align_unchecked(bytes, bytes)) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_index_table() {
        let expect = |s: usize| kmalloc_index(s).map(|i| KMALLOC_SIZES[i]);
        assert_eq!(expect(1), Some(8));
        assert_eq!(expect(40), Some(64));
        assert_eq!(expect(65), Some(96));
        assert_eq!(expect(97), Some(128));
        assert_eq!(expect(129), Some(192));
        assert_eq!(expect(193), Some(256));
        assert_eq!(expect(788), Some(1024));
        assert_eq!(expect(851), Some(1024));
        assert_eq!(expect(8193), None);
        assert_eq!(class_name(1024), "kmalloc-1k");
        assert_eq!(class_name(96), "kmalloc-96");
    }

    #[test]
    fn guarantees_by_rule() {
        use KmallocAlignRule::*;
        assert_eq!(LargestPow2Divisor.guaranteed_align(788), 8);
        assert_eq!(LargestPow2Divisor.guaranteed_align(96), 32);
        assert_eq!(LargestPow2Divisor.guaranteed_align(192), 64);
        assert_eq!(PowerOfTwo.guaranteed_align(1024), 1024);
        assert_eq!(PowerOfTwo.guaranteed_align(96), 8);
        assert_eq!(MinAlign.guaranteed_align(1024), 8);
    }

    #[test]
    fn large_and_zero_size() {
        let mut m = KmallocModel::new(2, KmallocAlignRule::LargestPow2Divisor, false).unwrap();
        assert_eq!(m.kmalloc(0, 0).unwrap(), ZERO_SIZE_PTR);
        m.kfree(ZERO_SIZE_PTR, 0).unwrap();
        let a = m.kmalloc(10_000, 0).unwrap();
        assert_eq!(a % 16384, 0);
        assert_eq!(m.ksize(a).unwrap(), 16384);
        assert!(m.kfree(a + 8, 0).unwrap_err().to_string().contains("not an object start"));
        m.kfree(a, 0).unwrap();
        assert!(m.kfree(a, 0).is_err());
        assert!(m.kmalloc(KMALLOC_MAX_SIZE + 1, 0).unwrap_err().errno() == Some(Errno::ENOMEM));
    }
}
