//! Loom shim for the task-data protocol: under `--cfg loom` the atomics and locks that carry the
//! `perf_ctx_data` protocol come from loom so its model checker explores their interleavings;
//! otherwise they are `std`'s. Only the protocol state goes through here; statistics counters
//! use plain `std` atomics (they are observations, not part of the protocol).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU32};
#[cfg(loom)]
pub(crate) use loom::sync::{Mutex, RwLock, RwLockReadGuard};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicPtr, AtomicU32};
#[cfg(not(loom))]
pub(crate) use std::sync::{Mutex, RwLock, RwLockReadGuard};

/// Lock a mutex, ignoring poisoning (a panicking holder leaves only plain data behind).
#[cfg(not(loom))]
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
/// Lock a mutex (loom variant).
#[cfg(loom)]
pub(crate) fn lock<T>(m: &Mutex<T>) -> loom::sync::MutexGuard<'_, T> {
    m.lock().unwrap()
}

/// Take a read lock, ignoring poisoning.
#[cfg(not(loom))]
pub(crate) fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}
/// Take a read lock (loom variant).
#[cfg(loom)]
pub(crate) fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap()
}

/// Take a write lock, ignoring poisoning.
#[cfg(not(loom))]
pub(crate) fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}
/// Take a write lock (loom variant).
#[cfg(loom)]
pub(crate) fn write<T>(l: &RwLock<T>) -> loom::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap()
}
