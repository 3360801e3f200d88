//! PMU-specific task data (perfcore issue 5): where the per-task blob of a PMU (the Intel LBR
//! call-stack state) lives and how long. Two designs are modelled side by side:
//!
//! - [`pmu_context_data`]: 6.2-6.14, the blob hangs off the task's pmu context, task contexts
//!   only, swapped on the optimised context switch (CPU-wide events get none);
//! - [`perf_ctx_data`] + [`global`]: 6.15+, `task_struct::perf_ctx_data`, refcounted, published
//!   lock-free, RCU-freed, and attached to every thread while a CPU-wide user exists.
//!
//! [`lbr`] models the LBR call-stack consumer, [`callstack`] the task scripts that drive it and
//! [`study`] the completeness scenario. On a [`crate::Machine`], [`machine_data`] holds each
//! task's data in the machine's design and [`lbr_sched`] runs the per-CPU LBRs and the PMU's
//! context-switch work. Blobs come from a [`alloc::TaskDataAlloc`] (the slab
//! `KmemCache` plugs in there; [`alloc::StdBlobAlloc`] stands in for tests and benches). Facts:
//! spec/task-data-slab-page-size.md part A, spec/context-and-scheduling.md §6.

pub mod alloc;
pub mod callstack;
pub mod global;
pub mod lbr;
pub mod lbr_sched;
pub mod machine_data;
pub mod perf_ctx_data;
pub mod pmu_context_data;
pub mod slab_alloc;
pub mod study;
mod sync;

pub use alloc::{AllocStats, BlobPtr, StdBlobAlloc, TaskDataAlloc};
pub use global::{global_attach_memory, TaskDataMemory};
pub use machine_data::{MachineTaskData, MachineTaskDataMemory, TaskDataDesign, TaskDataView};
pub use perf_ctx_data::{
    GlobalWalk, PerfCtxData, RcuReadGuard, TaskDataStats, TaskDataTable, PERF_CTX_DATA_KMALLOC, PERF_CTX_DATA_SIZE,
};
pub use slab_alloc::{slab_global_attach_memory, BlobBackend, LbrBlob, SlabBlobAlloc, SlabTaskDataMemory, XsaveReport};
