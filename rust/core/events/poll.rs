//! `perf_poll()`: what poll(2) reports on an event fd (Linux 6.15+, after "Change to POLLERR for
//! pinned events with error"). An event without a ring buffer reports EPOLLHUP; a revoked or
//! dead event EPOLLERR; an exited event without children EPOLLHUP (`is_event_hup()`); a pinned
//! event in ERROR EPOLLERR; otherwise the ring's pending wakeup (EPOLLIN | EPOLLRDNORM), which
//! the poll consumes. Facts: spec/context-and-scheduling.md §0 (f4b07fd62d4d, 0db61388b389).

use super::{EventId, EventState};
use crate::abi::AttrFlag;
use crate::machine::Machine;
use crate::Result;

/// `EPOLLIN`
pub const EPOLLIN: u32 = 0x001;
/// `EPOLLERR`
pub const EPOLLERR: u32 = 0x008;
/// `EPOLLHUP`
pub const EPOLLHUP: u32 = 0x010;
/// `EPOLLRDNORM`
pub const EPOLLRDNORM: u32 = 0x040;

impl Machine {
    /// The poll mask of event `id`. `ring_wakeup` is the ring's pending wakeup (already
    /// consumed by the caller, like the kernel's `atomic_xchg(&rb->poll, 0)`); it is only
    /// looked at when the event has a mapped ring.
    pub fn perf_poll(&self, id: EventId, ring_wakeup: bool) -> Result<u32> {
        let ev = self.events.get(id)?;
        if ev.state <= EventState::Revoked {
            return Ok(EPOLLERR);
        }
        if ev.state <= EventState::Exit && self.event_children(id)? == 0 {
            // is_event_hup(): exited and no inherited children left
            return Ok(EPOLLHUP);
        }
        if ev.state == EventState::Error && ev.attr.flag(AttrFlag::Pinned) {
            return Ok(EPOLLERR);
        }
        if !self.has_ring_buffer(id) {
            return Ok(EPOLLHUP);
        }
        Ok(if ring_wakeup { EPOLLIN | EPOLLRDNORM } else { 0 })
    }
}
