//! Atomics shim: `std` atomics normally, loom's model-checked ones under `--cfg loom`, so the
//! ring buffer's head/tail protocol (spec/ring-buffer-aux-records.md §2.1) can be checked by
//! `tests/loom_ring.rs` with the same code that runs in production.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::*;
#[cfg(loom)]
pub(crate) use loom::sync::Arc;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::*;
#[cfg(not(loom))]
pub(crate) use std::sync::Arc;
