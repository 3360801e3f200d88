//! `Event.mmap()` / `Event.mmap_aux()`: the mmap() rules run in the core Machine; on success the
//! event's `RingBuffer` object is built from its attr (sample format, watermark, direction) and
//! kept with the machine so a second mapping of the same size returns the same ring.

use crate::errors::to_py;
use crate::guard::guard;
use crate::machine::{lock, Shared};
use crate::ring::PyRingBuffer;
use perfcore::abi::AttrFlag;
use perfcore::events::EventId;
use perfcore::output::mmap_rules::{MmapAction, MmapRequest};
use perfcore::output::{AuxConfig, OutputEvent, OutputFormat, RingBuffer, RingConfig};
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
    let (out, attr, ev_id) = {
        let mut m = lock(cell)?;
        let out = guard(|| m.perf_mmap(id, MmapRequest { len, pgoff: 0, shared, prot_write: writable }, None))?;
        let ev = guard(|| m.events.get(id).cloned())?;
        (out, ev.attr, ev.id)
    };
    let mut rings = cell.rings.lock().unwrap_or_else(|p| p.into_inner());
    match out.action {
        MmapAction::CreateRb { data_pages, overwrite, backward } => {
            let fmt = OutputFormat::new(
                attr.sample_type,
                attr.read_format,
                attr.flag(AttrFlag::SampleIdAll),
                attr.branch_sample_type,
                attr.sample_regs_user,
                attr.sample_regs_intr,
            )
            .map_err(to_py)?;
            let watermark = attr.flag(AttrFlag::Watermark);
            let rb = RingBuffer::new(RingConfig {
                data_pages: u32::try_from(data_pages).unwrap_or(u32::MAX),
                page_size: PAGE as usize,
                writable: !overwrite,
                backward,
                watermark,
                wakeup_watermark: if watermark { attr.wakeup_events } else { 0 },
                wakeup_events: if watermark { 0 } else { attr.wakeup_events },
                start: 0,
            })
            .map_err(to_py)?;
            let obj = Py::new(py, PyRingBuffer::from_parts(rb, OutputEvent { id: ev_id, format: fmt }))?;
            rings.insert(id, obj.clone_ref(py));
            Ok(obj)
        }
        _ => rings
            .get(&id)
            .map(|r| r.clone_ref(py))
            .ok_or_else(|| crate::errors::InternalError::new_err("a shared ring has no ring object")),
    }
}

/// Map the AUX area of `id` (the data ring must be mapped first); the event's ring object
/// gets the AUX pages.
pub fn mmap_aux(cell: &Shared, id: EventId, aux_pages: u64, writable: bool, aux_offset: Option<u64>) -> PyResult<()> {
    let (out, aux_watermark, require_pow2) = {
        let mut m = lock(cell)?;
        let out = guard(|| {
            let rb = m.ring_view(id);
            let off = aux_offset.unwrap_or_else(|| rb.map_or(0, |r| (1 + r.data_pages) * PAGE));
            let size = aux_pages.saturating_mul(PAGE);
            let req = MmapRequest { len: size, pgoff: off / PAGE, shared: true, prot_write: writable };
            m.perf_mmap(id, req, Some((off, size)))
        })?;
        let wm = guard(|| Ok(m.events.get(id)?.attr.aux_watermark))?;
        (out, wm, !m.allow_non_pow2_aux)
    };
    if let MmapAction::CreateAux { nr_pages, pgoff, overwrite } = out.action {
        let rings = cell.rings.lock().unwrap_or_else(|p| p.into_inner());
        let ring = rings.get(&id).ok_or_else(|| crate::errors::InternalError::new_err("AUX mapped without a ring"))?;
        let cfg = AuxConfig {
            nr_pages: u32::try_from(nr_pages).unwrap_or(u32::MAX),
            writable: !overwrite,
            aux_watermark,
            require_pow2,
            pgoff,
            start: 0,
        };
        guard(|| ring.get().attach_aux(cfg))?;
    }
    Ok(())
}

/// Drop the ring object of a closed event.
pub fn forget(cell: &Shared, id: EventId) {
    cell.rings.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
}
