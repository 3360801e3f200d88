//! A simulated AUX-capable PMU ("trace", `PERF_PMU_CAP_ITRACE`): while its event is active it
//! emits a deterministic byte stream into the AUX area, so AUX traffic can be generated,
//! truncated, snapshotted and checked byte for byte. The byte at free-running AUX position `p`
//! is [`trace_byte`]`(p)`, so any reader can check any byte without knowing the history.
//! Models what an itrace driver (Intel PT's pt_event_start()/pt_event_stop()) does with the
//! core's AUX API, and perf_log_itrace_start() / perf_event_itrace_started() in
//! kernel/events/core.c; facts: spec/ring-buffer-aux-records.md §4.

use super::aux::AuxEnd;
use super::record::{Record, RecordBody};
use super::ring::{OutputEvent, RingBuffer};
use super::sample::SampleId;
use crate::abi::record::PERF_AUX_FLAG_TRUNCATED;
use crate::error::Result;

/// The trace byte at free-running AUX position `pos` (a multiplicative hash of the position:
/// no short period, so a byte written at the wrong offset is detected).
#[inline]
pub fn trace_byte(pos: u64) -> u8 {
    (pos.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8
}

/// Fill `out` with the trace bytes of positions `start..start + out.len()`.
pub fn trace_bytes(start: u64, out: &mut [u8]) {
    for (i, b) in out.iter_mut().enumerate() {
        *b = trace_byte(start.wrapping_add(i as u64));
    }
}

/// What one active period of the trace PMU did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TraceRun {
    /// The PMU had been disabled (by a full buffer or a truncation) and produced nothing.
    pub was_disabled: bool,
    /// aux_output_begin() failed.
    pub no_handle: bool,
    /// Bytes the hardware produced.
    pub produced: u64,
    /// Bytes that landed in the AUX area.
    pub written: u64,
    /// The outcome of perf_aux_output_end().
    pub end: AuxEnd,
}

/// State of one trace event's PMU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TracePmu {
    /// `PERF_ATTACH_ITRACE`: set once the driver started; ITRACE_START is emitted only before.
    pub itrace_started: bool,
    /// The event was disabled by the AUX core (full buffer or TRUNCATED).
    pub disabled: bool,
    /// Bytes produced in total.
    pub produced: u64,
}

impl TracePmu {
    /// event_sched_in() for an ITRACE PMU: PERF_RECORD_ITRACE_START `{pid, tid}` (+ trailer)
    /// while the event has not started tracing yet. Returns whether a record was emitted.
    pub fn sched_in(&mut self, rb: &mut RingBuffer, ev: &OutputEvent, ids: &SampleId) -> Result<bool> {
        if self.itrace_started {
            return Ok(false);
        }
        let r = Record { misc: 0, body: RecordBody::ItraceStart { pid: ids.pid, tid: ids.tid }, sample_id: *ids };
        rb.write_record(ev, &r)
    }

    /// Re-enable after the tool consumed the buffer (PERF_EVENT_IOC_ENABLE).
    pub fn enable(&mut self) {
        self.disabled = false;
    }

    /// One active period (pmu start .. stop): begin, write `nbytes` of trace (or what fits;
    /// the rest is TRUNCATED), OR in `extra_flags` (PARTIAL, COLLISION, format bits), end.
    pub fn run(
        &mut self,
        rb: &mut RingBuffer,
        ev: &OutputEvent,
        ids: &SampleId,
        nbytes: u64,
        extra_flags: u64,
    ) -> Result<TraceRun> {
        let mut out = TraceRun::default();
        if self.disabled {
            out.was_disabled = true;
            return Ok(out);
        }
        let Some(mut h) = rb.aux_output_begin() else {
            out.no_handle = true;
            if rb.aux_info().is_some() {
                self.disabled = true;
            }
            return Ok(out);
        };
        self.itrace_started = true;
        let overwrite = rb.aux_info().is_some_and(|(_, _, o, _)| o);
        let take = if overwrite { nbytes } else { nbytes.min(h.size) };
        let mut buf = vec![0u8; 64 * 1024];
        let mut done = 0u64;
        while done < take {
            let n = (take - done).min(buf.len() as u64) as usize;
            let pos = if overwrite { h.head } else { h.head.wrapping_add(h.written) };
            trace_bytes(pos, &mut buf[..n]);
            rb.aux_write(&mut h, &buf[..n])?;
            done += n as u64;
        }
        if take < nbytes {
            rb.aux_output_flag(&mut h, PERF_AUX_FLAG_TRUNCATED)?;
        }
        if extra_flags != 0 {
            rb.aux_output_flag(&mut h, extra_flags & !crate::abi::record::PERF_AUX_FLAG_OVERWRITE)?;
        }
        let size = if overwrite {
            let aux_size = rb.consumer().aux().map_or(0, |a| a.size());
            take.min(aux_size)
        } else {
            take
        };
        out.end = rb.aux_output_end(h, size, ev, ids)?;
        if out.end.disable {
            self.disabled = true;
        }
        out.produced = nbytes;
        out.written = take;
        self.produced += nbytes;
        Ok(out)
    }
}
