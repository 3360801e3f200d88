//! The user-space ABI of perf_events, as `include/uapi/linux/perf_event.h` (Linux 6.18) defines
//! it: constants, `struct perf_event_attr`, and the name tables used to parse flag strings.
//! Facts: spec/ring-buffer-aux-records.md §1, §5-§7.

pub mod attr;
pub mod ioctl;
pub mod names;
pub mod record;
pub mod sample;
pub mod types;

pub use attr::{AttrFlag, PerfEventAttr};

/// Page size of the reference machine (x86-64, 4 KiB pages).
pub const PAGE_SIZE: usize = 4096;
/// log2 of [`PAGE_SIZE`].
pub const PAGE_SHIFT: u32 = 12;
