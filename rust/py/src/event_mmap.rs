//! `Event.mmap()` / `Event.mmap_aux()`: the mmap() rules run in the core Machine, which creates
//! and owns the ring (laid out from the event's attr); the Python `RingBuffer` object returned
//! reads the ring's shared memory and sends producer calls through the machine lock. One object
//! per ring, kept with the machine, so mapping the same ring again returns the same object.

use crate::errors::{to_py, InternalError};
use crate::guard::guard;
use crate::machine::{lock, Shared};
use crate::ring::PyRingBuffer;
use perfcore::events::EventId;
use perfcore::output::mmap_rules::{MmapAction, MmapRequest};
use pyo3::prelude::*;

const PAGE: u64 = perfcore::abi::PAGE_SIZE as u64;

/// Map the data ring of `id` (1 + `data_pages` pages).
pub fn mmap_data(
    py: Python<'_>,
    cell: &Shared,
    id: EventId,
    data_pages: u64,
    writable: bool,
    shared: bool,
) -> PyResult<Py<PyRingBuffer>> {
    let len = (data_pages + 1).saturating_mul(PAGE);
    let (out, key, made) = {
        let mut m = lock(cell)?;
        let out = guard(|| m.perf_mmap(id, MmapRequest { len, pgoff: 0, shared, prot_write: writable }, None))?;
        let key = m.rb_key(id).ok_or_else(|| InternalError::new_err("mmap succeeded without a ring"))?;
        // A new ring gets its object; so does a shared one whose object went with a closed
        // owner (the core keeps a ring while it is mapped, e.g. through SET_OUTPUT).
        let known = cell.rings.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&key);
        let made = if matches!(out.action, MmapAction::CreateRb { .. }) || !known {
            let ev = m.output_event(id).map_err(to_py)?;
            let consumer = m.ring_buffer(key).ok_or_else(|| InternalError::new_err("new ring not found"))?.consumer();
            Some(PyRingBuffer::machine_backed(cell.clone(), key, consumer, ev))
        } else {
            None
        };
        (out, key, made)
    };
    let mut rings = cell.rings.lock().unwrap_or_else(|p| p.into_inner());
    match made {
        Some(obj) => {
            let obj = Py::new(py, obj)?;
            rings.insert(key, obj.clone_ref(py));
            Ok(obj)
        }
        None => rings
            .get(&key)
            .map(|r| r.clone_ref(py))
            .ok_or_else(|| InternalError::new_err(format!("shared ring ({:?}) has no ring object", out.action))),
    }
}

/// Map the AUX area of `id` (the data ring must be mapped first); the machine gives the
/// event's ring its AUX pages.
pub fn mmap_aux(cell: &Shared, id: EventId, aux_pages: u64, writable: bool, aux_offset: Option<u64>) -> PyResult<()> {
    let mut m = lock(cell)?;
    guard(|| {
        let rb = m.ring_view(id);
        let off = aux_offset.unwrap_or_else(|| rb.map_or(0, |r| (1 + r.data_pages) * PAGE));
        let size = aux_pages.saturating_mul(PAGE);
        let req = MmapRequest { len: size, pgoff: off / PAGE, shared: true, prot_write: writable };
        m.perf_mmap(id, req, Some((off, size)))
    })?;
    Ok(())
}

/// Drop the ring object of a closed event's own ring.
pub fn forget(cell: &Shared, id: EventId) {
    cell.rings.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
}
