//! `event->rb`: the ring buffers (`struct perf_buffer`) of a machine's events, owned by the core
//! so the simulator and the side-band paths write into them directly. A buffer is created by
//! the first data mmap() of an event and keyed by that event; every event points at at most one
//! buffer (its own or, after `PERF_EVENT_IOC_SET_OUTPUT` / `PERF_FLAG_FD_OUTPUT`, another
//! event's). Models ring_buffer_attach(), ring_buffer_get() and the rb teardown of
//! perf_mmap_close() (the last unmap detaches every event) in kernel/events/core.c, plus the
//! per-event output fields `event->mmap_count`, `event->event_limit`, `event->pending_kill` and
//! `event->lost_samples`. Facts: spec/ring-buffer-aux-records.md §2, §3.1.

use super::EventId;
use crate::output::mmap_rules::RbView;
use crate::output::{OutputFormat, RingBuffer};

/// `POLL_IN`: si_code of the SIGIO an overflow queues (`event->pending_kill`).
pub const POLL_IN: i32 = 1;
/// `POLL_HUP`: si_code when the overflow used up `event_limit` (the event was disabled).
pub const POLL_HUP: i32 = 6;

/// One ring buffer: the mmap() geometry the mapping rules see and the ring itself.
#[derive(Debug)]
pub struct PerfBuffer {
    /// Data pages, `rb->mmap_count`, the AUX mapping and the user page's aux fields.
    pub view: RbView,
    /// The producer side and its memory.
    pub ring: RingBuffer,
}

/// The output-side fields of one event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventOutput {
    /// `event->mmap_count`: mappings made through this event.
    pub mmap_count: u32,
    /// `event->event_limit`: overflows left before the event disables itself (0: no limit),
    /// armed by `PERF_EVENT_IOC_REFRESH`.
    pub event_limit: i32,
    /// `event->pending_kill`: si_code of the SIGIO the last overflow queued (0: none).
    pub pending_kill: i32,
    /// `event->lost_samples`: records of this event dropped by its ring (cumulative).
    pub lost_samples: u64,
    /// The event's record layout (from its attr, computed on first output).
    pub format: Option<OutputFormat>,
}

/// Every ring buffer of a machine and which events write into which. Event ids are dense
/// arena slots, so both tables are vectors indexed by the id (the overflow path does two
/// array loads, no hashing).
#[derive(Debug, Default)]
pub struct EventBuffers {
    /// Ring buffers, at the slot of the event whose mmap() created them.
    rbs: Vec<Option<PerfBuffer>>,
    /// `event->rb` and the output fields, by event.
    out: Vec<(Option<EventId>, EventOutput)>,
}

impl EventBuffers {
    /// The key of the buffer `event` writes into (`event->rb`), if any.
    #[inline]
    pub fn rb_of(&self, event: EventId) -> Option<EventId> {
        self.out.get(event.0 as usize).and_then(|o| o.0)
    }

    /// The buffer `event` writes into.
    pub fn get(&self, event: EventId) -> Option<&PerfBuffer> {
        self.rb_of(event).and_then(|k| self.by_key(k))
    }

    /// The buffer `event` writes into, mutable.
    #[inline]
    pub fn get_mut(&mut self, event: EventId) -> Option<&mut PerfBuffer> {
        let k = self.rb_of(event)?;
        self.by_key_mut(k)
    }

    /// A buffer by its key.
    pub fn by_key(&self, key: EventId) -> Option<&PerfBuffer> {
        self.rbs.get(key.0 as usize).and_then(Option::as_ref)
    }

    /// A buffer by its key, mutable.
    #[inline]
    pub fn by_key_mut(&mut self, key: EventId) -> Option<&mut PerfBuffer> {
        self.rbs.get_mut(key.0 as usize).and_then(Option::as_mut)
    }

    fn slot(&mut self, event: EventId) -> &mut (Option<EventId>, EventOutput) {
        let i = event.0 as usize;
        if self.out.len() <= i {
            self.out.resize(i + 1, (None, EventOutput::default()));
        }
        &mut self.out[i]
    }

    /// A new buffer created by `owner`'s first mmap(); `owner` points at it.
    pub fn create(&mut self, owner: EventId, buf: PerfBuffer) {
        let i = owner.0 as usize;
        if self.rbs.len() <= i {
            self.rbs.resize_with(i + 1, || None);
        }
        self.rbs[i] = Some(buf);
        self.attach(owner, Some(owner));
    }

    /// `ring_buffer_attach(event, rb)`: point `event` at the buffer keyed `key` (None
    /// detaches). A buffer no event points at and no mapping holds is freed.
    pub fn attach(&mut self, event: EventId, key: Option<EventId>) {
        let old = std::mem::replace(&mut self.slot(event).0, key);
        if let Some(o) = old.filter(|o| Some(*o) != key) {
            self.free_if_unused(o);
        }
    }

    fn free_if_unused(&mut self, key: EventId) {
        let mapped = self.by_key(key).is_some_and(|b| b.view.mmap_count > 0);
        if !mapped && !self.out.iter().any(|o| o.0 == Some(key)) {
            if let Some(b) = self.rbs.get_mut(key.0 as usize) {
                *b = None;
            }
        }
    }

    /// The last unmap of a buffer (perf_mmap_close()): every event is detached and the
    /// buffer freed.
    pub fn teardown(&mut self, key: EventId) {
        for o in self.out.iter_mut().filter(|o| o.0 == Some(key)) {
            o.0 = None;
        }
        if let Some(b) = self.rbs.get_mut(key.0 as usize) {
            *b = None;
        }
    }

    /// The output fields of `event`.
    #[inline]
    pub fn output(&self, event: EventId) -> EventOutput {
        self.out.get(event.0 as usize).map(|o| o.1).unwrap_or_default()
    }

    /// The cached record layout of `event`.
    #[inline]
    pub fn format_of(&self, event: EventId) -> Option<OutputFormat> {
        self.out.get(event.0 as usize).and_then(|o| o.1.format)
    }

    /// The output fields of `event`, mutable.
    #[inline]
    pub fn output_mut(&mut self, event: EventId) -> &mut EventOutput {
        &mut self.slot(event).1
    }

    /// Forget a closed event: detach it from its buffer and drop its fields.
    pub fn forget(&mut self, event: EventId) {
        *self.output_mut(event) = EventOutput::default();
        self.attach(event, None);
    }

    /// Keys of every live buffer, sorted.
    pub fn keys(&self) -> Vec<EventId> {
        (0..self.rbs.len()).filter(|i| self.rbs[*i].is_some()).map(|i| EventId(i as u32)).collect()
    }
}

impl crate::machine::Machine {
    /// The key of the ring `event` writes into (`event->rb`): the event whose mmap() made it.
    pub fn rb_key(&self, event: EventId) -> Option<EventId> {
        self.buffers.rb_of(event)
    }

    /// A live ring buffer by its key.
    pub fn ring_buffer(&self, key: EventId) -> Option<&RingBuffer> {
        self.buffers.by_key(key).map(|b| &b.ring)
    }

    /// A live ring buffer by its key, mutable (the producer side).
    pub fn ring_buffer_mut(&mut self, key: EventId) -> Option<&mut RingBuffer> {
        self.buffers.by_key_mut(key).map(|b| &mut b.ring)
    }

    /// `event->mmap_count`: mappings made through `event`.
    pub fn event_mmap_count(&self, event: EventId) -> u32 {
        self.buffers.output(event).mmap_count
    }

    /// perf_poll()'s `atomic_xchg(&rb->poll, 0)`: the pending wakeup of the ring `event`
    /// writes into, consumed (false without a ring).
    pub fn rb_poll(&mut self, event: EventId) -> bool {
        self.buffers.get_mut(event).is_some_and(|b| b.ring.poll())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::RingConfig;

    fn buf(mmaps: u32) -> PerfBuffer {
        PerfBuffer {
            view: RbView { data_pages: 1, mmap_count: mmaps, aux: None, user_aux_offset: 0, user_aux_size: 0 },
            ring: RingBuffer::new(RingConfig::default()).unwrap(),
        }
    }

    #[test]
    fn a_buffer_lives_while_mapped_or_pointed_at() {
        let mut b = EventBuffers::default();
        let (a, c) = (EventId(1), EventId(2));
        b.create(a, buf(1));
        b.attach(c, Some(a));
        b.forget(a);
        assert!(b.get(c).is_some(), "still mapped and pointed at by c");
        b.by_key_mut(a).unwrap().view.mmap_count = 0;
        b.attach(c, None);
        assert!(b.keys().is_empty(), "unmapped and no event points at it: freed");
    }

    #[test]
    fn teardown_detaches_every_event() {
        let mut b = EventBuffers::default();
        let (a, c) = (EventId(1), EventId(2));
        b.create(a, buf(1));
        b.attach(c, Some(a));
        b.teardown(a);
        assert_eq!((b.rb_of(a), b.rb_of(c)), (None, None));
    }
}
