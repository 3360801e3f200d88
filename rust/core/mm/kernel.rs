//! The kernel half of every address space: `init_mm`'s upper 256 PGD entries, built once and
//! shared by every mm (copied into each new PGD as `pgd_alloc()` / `clone_pgd_range()` do on
//! x86-64, where the top-level kernel entries are preallocated at boot so they never need
//! syncing). Regions follow Documentation/arch/x86/x86_64/mm.rst: the direct map with 1 GiB and
//! 2 MiB leaves (`kernel_physical_mapping_init()`), vmalloc with 4 KiB pages, kernel text with
//! 2 MiB pages. Facts: spec/task-data-slab-page-size.md §C.6 (KASLR off).

use super::pgtable::{Paging, SIZE_1G, SIZE_2M, SIZE_4K};

/// Sizes of the kernel regions the model maps at boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelLayout {
    /// Bytes of RAM the direct map covers with 1 GiB leaves (2 MiB leaves without GB pages).
    pub direct_map_1g_bytes: u64,
    /// Further direct-map bytes (the tail of RAM that is not a whole GiB) with 2 MiB leaves.
    pub direct_map_2m_bytes: u64,
    /// Bytes of vmalloc space mapped with 4 KiB pages at the start of the vmalloc area.
    pub vmalloc_bytes: u64,
    /// Bytes of kernel text mapped with 2 MiB pages from `0xffffffff81000000`.
    pub text_bytes: u64,
}

impl Default for KernelLayout {
    fn default() -> Self {
        KernelLayout {
            direct_map_1g_bytes: 4 * SIZE_1G,
            direct_map_2m_bytes: 64 << 20,
            vmalloc_bytes: 256 << 10,
            text_bytes: 32 << 20,
        }
    }
}

/// One region of the kernel half, mapped with one leaf size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelRegion {
    /// Region name: "direct map", "vmalloc" or "kernel text".
    pub name: &'static str,
    /// First address.
    pub start: u64,
    /// Length in bytes (a multiple of `page_size`).
    pub size: u64,
    /// Leaf size the region is mapped with.
    pub page_size: u64,
}

/// `PAGE_OFFSET`: base of the direct map (KASLR off).
pub fn page_offset(paging: Paging) -> u64 {
    match paging {
        Paging::FourLevel => 0xffff_8880_0000_0000,
        Paging::FiveLevel => 0xff11_0000_0000_0000,
    }
}

/// `VMALLOC_START` (KASLR off).
pub fn vmalloc_start(paging: Paging) -> u64 {
    match paging {
        Paging::FourLevel => 0xffff_c900_0000_0000,
        Paging::FiveLevel => 0xffa0_0000_0000_0000,
    }
}

/// Where kernel text starts (`__START_KERNEL` with the default `CONFIG_PHYSICAL_START`).
pub const KERNEL_TEXT_START: u64 = 0xffff_ffff_8100_0000;

fn round_up(x: u64, to: u64) -> u64 {
    x.div_ceil(to) * to
}

impl KernelLayout {
    /// The regions this layout maps, in address order. Sizes are rounded up to their page
    /// size; without GB pages the 1 GiB part of the direct map uses 2 MiB leaves.
    pub fn regions(&self, paging: Paging, gbpages: bool) -> Vec<KernelRegion> {
        let mut v = Vec::new();
        let dm = page_offset(paging);
        let big = round_up(self.direct_map_1g_bytes, SIZE_1G);
        if big > 0 {
            v.push(KernelRegion {
                name: "direct map",
                start: dm,
                size: big,
                page_size: if gbpages { SIZE_1G } else { SIZE_2M },
            });
        }
        let tail = round_up(self.direct_map_2m_bytes, SIZE_2M);
        if tail > 0 {
            v.push(KernelRegion { name: "direct map", start: dm + big, size: tail, page_size: SIZE_2M });
        }
        let vm = round_up(self.vmalloc_bytes, SIZE_4K);
        if vm > 0 {
            v.push(KernelRegion { name: "vmalloc", start: vmalloc_start(paging), size: vm, page_size: SIZE_4K });
        }
        let text = round_up(self.text_bytes, SIZE_2M);
        if text > 0 {
            v.push(KernelRegion { name: "kernel text", start: KERNEL_TEXT_START, size: text, page_size: SIZE_2M });
        }
        v
    }

    /// Check the layout fits its areas (the direct map must end below vmalloc, text below the
    /// modules area at `0xffffffffa0000000` as in mm.rst's 512 MiB text mapping).
    pub fn validate(&self, paging: Paging) -> crate::Result<()> {
        let dm_end = page_offset(paging)
            .checked_add(round_up(self.direct_map_1g_bytes, SIZE_1G))
            .and_then(|x| x.checked_add(round_up(self.direct_map_2m_bytes, SIZE_2M)));
        match dm_end {
            Some(e) if e <= vmalloc_start(paging) => {}
            _ => {
                return Err(crate::Error::Usage(format!(
                    "kernel layout: direct map of {} + {} bytes overruns the vmalloc area",
                    self.direct_map_1g_bytes, self.direct_map_2m_bytes
                )))
            }
        }
        if self.vmalloc_bytes > (1u64 << 40) {
            return Err(crate::Error::Usage(format!(
                "kernel layout: vmalloc_bytes {} is larger than the model maps (1 TiB)",
                self.vmalloc_bytes
            )));
        }
        if round_up(self.text_bytes, SIZE_2M) > 0xffff_ffff_a000_0000 - KERNEL_TEXT_START {
            return Err(crate::Error::Usage(format!(
                "kernel layout: text_bytes {} overruns the kernel text mapping (ends at \
                 0xffffffffa0000000)",
                self.text_bytes
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_regions_are_canonical_kernel_addresses() {
        for p in [Paging::FourLevel, Paging::FiveLevel] {
            let l = KernelLayout::default();
            l.validate(p).unwrap();
            for r in l.regions(p, true) {
                assert!(r.start >= p.kernel_start(), "{r:?}");
                assert!(p.is_canonical(r.start) && p.is_canonical(r.start + r.size - 1), "{r:?}");
                assert_eq!(r.start % r.page_size, 0);
                assert_eq!(r.size % r.page_size, 0);
            }
        }
    }

    #[test]
    fn no_gbpages_means_2m_direct_map() {
        let r = KernelLayout::default().regions(Paging::FourLevel, false);
        assert!(r.iter().all(|r| r.page_size != SIZE_1G));
    }

    #[test]
    fn oversized_layout_is_refused_with_the_field() {
        let l = KernelLayout { text_bytes: 1 << 40, ..KernelLayout::default() };
        let e = l.validate(Paging::FourLevel).unwrap_err().to_string();
        assert!(e.contains("text_bytes"), "{e}");
    }
}
