//! Address spaces, x86-64 page tables and the page-size walk behind
//! `PERF_SAMPLE_DATA_PAGE_SIZE` / `PERF_SAMPLE_CODE_PAGE_SIZE`. Facts:
//! spec/task-data-slab-page-size.md part C; cost anchor: spec/anchors-performance-reliability.md
//! §1.6. Each submodule names the kernel functions it models.
//!
//! - [`pgtable`]: tables of 512 atomic entries in an arena, 4- or 5-level geometry, canonical
//!   addresses.
//! - [`spaces`]: [`AddressSpaces`], the arena of `mm_struct`s by [`MmId`], with `init_mm`.
//! - [`kernel`]: the kernel half shared by every mm (direct map, vmalloc, kernel text).
//! - [`mmap`]: user mappings: mmap, munmap, THP collapse and split.
//! - [`grace`]: IRQs-off read sections and grace-period freeing of page-table pages.
//! - [`walk`]: `perf_get_pgtable_size()`, `perf_get_page_size()`, the active_mm variant and
//!   [`sample_page_sizes`].
//! - [`lazy_tlb`]: the `context_switch()` window that rules out `active_mm`.
//! - [`smaps`]: building an mm from `/proc/PID/smaps`.
//! - [`zero_runs`]: the tool-side zero-run check and the page-size histogram.

pub mod grace;
pub mod kernel;
pub mod lazy_tlb;
pub mod mmap;
pub mod pgtable;
pub mod smaps;
pub mod spaces;
pub mod walk;
pub mod zero_runs;

pub use grace::{IrqOff, TableFree};
pub use kernel::{KernelLayout, KernelRegion};
pub use mmap::{MapKind, Mapping, MMAP_MIN_ADDR};
pub use pgtable::{Paging, SIZE_1G, SIZE_2M, SIZE_4K};
pub use smaps::{parse_smaps, SmapsBuild, SmapsRange};
pub use spaces::{AddressSpaces, MmConfig, MmId, MmStats, MmapWriteGuard, INIT_MM};
pub use walk::{page_size_name, sample_page_sizes, MissingMm, StepWalk, TaskMmView};
pub use zero_runs::{find_zero_runs, page_size_histogram, ZeroRun};

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn core_types_are_send_and_sync() {
        assert_send_sync::<AddressSpaces>();
        assert_send_sync::<MmId>();
        assert_send_sync::<TaskMmView>();
    }
}
