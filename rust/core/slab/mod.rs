//! Slab allocation: SLUB-style `kmem_cache`s over real memory, the generic kmalloc caches and
//! their alignment contract, `/proc/slabinfo` statistics, and a real `XSAVE` to prove the
//! 64-byte alignment that the Arch LBR task data needs. Models mm/slub.c and
//! mm/slab_common.c (Linux 6.18, x86-64, 4 KiB pages) as far as object layout, slab order,
//! per-CPU freelists and partial lists go; facts: spec/task-data-slab-page-size.md part B and
//! §A.2/§A.5 (why perf moved `task_ctx_data` from `kzalloc()` to a per-PMU `kmem_cache`).
//!
//! - [`layout`] models `calculate_alignment()`, `calculate_sizes()`, `calculate_order()`.
//! - [`cache`] models [`KmemCache`], alloc / zalloc / free / shrink / destroy.
//! - [`kmalloc`] models [`KmallocModel`], kmalloc-8 ... kmalloc-8k and large allocations.
//! - [`slabinfo`] models [`SlabInfo`], one `/proc/slabinfo` row.
//! - [`xsave`] models runtime-detected `XSAVE`/`XSAVEC` into objects and buffers.
//! - [`flags`] holds [`SlabFlags`], the creation flags.

pub mod cache;
pub mod flags;
pub mod kmalloc;
pub mod layout;
pub mod slabinfo;
pub mod xsave;

pub use cache::{CacheCounters, KmemCache};
pub use flags::SlabFlags;
pub use kmalloc::{KmallocAlignRule, KmallocModel};
pub use layout::SlabLayout;
pub use slabinfo::SlabInfo;
pub use xsave::{Misaligned, XsaveKind, XsaveSupport};
