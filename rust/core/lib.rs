//! perfcore: an executable model of the Linux perf_events core (`kernel/events/`), with Linux
//! 6.18 on x86-64 and 4 KiB pages as its reference semantics. This crate is the pure-Rust
//! engine; the Python bindings live in `rust/py`. Facts behind every module are in the
//! project's `spec/` notes; each module names the kernel functions it models.

pub mod abi;
pub mod cgroup;
pub mod ctx;
pub mod error;
pub mod events;
pub mod machine;
pub mod machine_settings;
pub mod mm;
pub mod output;
pub mod pmu;
pub mod sim;
pub mod slab;
pub mod sync;
pub mod task;
pub mod task_data;

pub use error::{Errno, Error, Result};
pub use machine::{Machine, MachineConfig};
