//! perfcore: an executable model of the Linux perf_events core (`kernel/events/`), with Linux
//! 6.18 on x86-64 and 4 KiB pages as its reference semantics. This crate is the pure-Rust
//! engine; the Python bindings live in `rust/py`. Facts behind every module are in the
//! project's `spec/` notes; each module names the kernel functions it models.

pub mod abi;
pub mod ctx;
pub mod error;
/// Core PMU models (phase-1 inline module; becomes `pmu/mod.rs` entries after the merge).
pub mod pmu {
    pub mod core_pmu;
    pub mod presets;
    pub mod x86_sched;
}

pub use error::{Errno, Error, Result};
