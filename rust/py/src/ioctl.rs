//! ioctl(2) on an event fd and the event's output side: `Event.ioctl(cmd, arg)` with the
//! convenience calls `reset()`, `refresh(n)`, `period(n)`, `set_output(other)`,
//! `pause_output(pause)`, the step call `overflow(**sample)` (one PMU overflow of a sampling
//! event) and `output_state()`. Conversion only: the rules are in `perfcore::events::ioctl`
//! and `perfcore::events::output`.

use crate::attr::PyAttr;
use crate::errors::UsageError;
use crate::guard::guard;
use crate::machine::{lock, PyEvent};
use perfcore::abi::ioctl::*;
use perfcore::events::ioctl::{ioctl_by_name, IoctlArg};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

impl PyEvent {
    fn do_ioctl(&self, cmd: u32, arg: IoctlArg) -> PyResult<u64> {
        let mut m = lock(&self.machine)?;
        guard(|| m.perf_ioctl(self.id, cmd, &arg))
    }

    fn event_arg(&self, other: &PyEvent) -> PyResult<IoctlArg> {
        crate::sched::same_machine(&self.machine, other)?;
        Ok(IoctlArg::Event(other.id))
    }
}

fn cmd_number(cmd: &Bound<'_, PyAny>) -> PyResult<u32> {
    if let Ok(n) = cmd.extract::<u32>() {
        return Ok(n);
    }
    let name: String = cmd.extract()?;
    ioctl_by_name(&name).ok_or_else(|| {
        UsageError::new_err(format!(
            "unknown ioctl {name:?} (known: enable, disable, refresh, reset, period, set_output, set_filter, id, \
             set_bpf, pause_output, query_bpf, modify_attributes)"
        ))
    })
}

#[pymethods]
impl PyEvent {
    /// `ioctl(fd, cmd, arg)`: `cmd` is a PERF_EVENT_IOC_* number or its name ("enable",
    /// "set_output", ...); `arg` is an int (flags, count, period, fd; -1 detaches SET_OUTPUT),
    /// another Event (SET_OUTPUT, SET_BPF), a filter string (SET_FILTER) or an Attr / attr bytes
    /// (MODIFY_ATTRIBUTES). Returns 0, or the id for PERF_EVENT_IOC_ID. Kernel refusals raise
    /// PerfError with the kernel's errno (unknown cmd: ENOTTY).
    #[pyo3(signature = (cmd, arg = None))]
    fn ioctl(&self, cmd: &Bound<'_, PyAny>, arg: Option<&Bound<'_, PyAny>>) -> PyResult<u64> {
        let cmd = cmd_number(cmd)?;
        let arg = match arg {
            None => IoctlArg::Value(0),
            Some(a) => {
                if let Ok(e) = a.extract::<PyRef<'_, PyEvent>>() {
                    self.event_arg(&e)?
                } else if let Ok(attr) = a.extract::<PyRef<'_, PyAttr>>() {
                    let n = if attr.inner.size == 0 { 136 } else { attr.inner.size as usize };
                    IoctlArg::Attr(attr.inner.to_bytes(n))
                } else if let Ok(b) = a.cast::<PyBytes>() {
                    IoctlArg::Attr(b.as_bytes().to_vec())
                } else if let Ok(s) = a.extract::<String>() {
                    IoctlArg::Filter(s)
                } else if let Ok(v) = a.extract::<i64>() {
                    IoctlArg::Value(v as u64)
                } else {
                    IoctlArg::Value(a.extract::<u64>()?)
                }
            }
        };
        self.do_ioctl(cmd, arg)
    }

    /// PERF_EVENT_IOC_RESET: zero the count (the whole group with `group=True`).
    #[pyo3(signature = (*, group = false))]
    fn reset(&self, group: bool) -> PyResult<()> {
        self.do_ioctl(PERF_EVENT_IOC_RESET, IoctlArg::Value(if group { PERF_IOC_FLAG_GROUP } else { 0 }))?;
        Ok(())
    }

    /// PERF_EVENT_IOC_REFRESH: allow `n` more overflows, then the event disables itself
    /// (POLL_HUP); enables the event. EINVAL for inherited or non-sampling events.
    fn refresh(&self, n: i32) -> PyResult<()> {
        self.do_ioctl(PERF_EVENT_IOC_REFRESH, IoctlArg::Value(n as i64 as u64))?;
        Ok(())
    }

    /// PERF_EVENT_IOC_PERIOD: a new sample period (sample frequency for `freq` events).
    fn period(&self, n: u64) -> PyResult<()> {
        self.do_ioctl(PERF_EVENT_IOC_PERIOD, IoctlArg::Value(n))?;
        Ok(())
    }

    /// PERF_EVENT_IOC_SET_OUTPUT: write this event's records into `other`'s ring (None
    /// detaches: the event then has no ring).
    fn set_output(&self, other: Option<PyRef<'_, PyEvent>>) -> PyResult<()> {
        let arg = match other {
            Some(o) => self.event_arg(&o)?,
            None => IoctlArg::Value(u64::MAX),
        };
        self.do_ioctl(PERF_EVENT_IOC_SET_OUTPUT, arg)?;
        Ok(())
    }

    /// PERF_EVENT_IOC_PAUSE_OUTPUT: pause (every record counted lost) or resume the ring.
    fn pause_output(&self, pause: bool) -> PyResult<()> {
        self.do_ioctl(PERF_EVENT_IOC_PAUSE_OUTPUT, IoctlArg::Value(u64::from(pause)))?;
        Ok(())
    }

    /// One PMU overflow of this event (`__perf_event_overflow()`), with the sample's fields as
    /// keywords (as `RingBuffer.write_sample`); `id`/`stream_id` default to this event's id.
    /// Returns True when the REFRESH limit ran out (the event is now disabled).
    #[pyo3(signature = (**fields))]
    fn overflow(&self, py: Python<'_>, fields: Option<&Bound<'_, PyDict>>) -> PyResult<bool> {
        let empty = PyDict::new(py);
        let d = fields.unwrap_or(&empty);
        let mut s = crate::ring::sample_from(d)?;
        let mut m = lock(&self.machine)?;
        guard(|| {
            let id = m.events.get(self.id)?.id;
            if !d.contains("id").unwrap_or(false) {
                s.id = id;
            }
            if !d.contains("stream_id").unwrap_or(false) {
                s.stream_id = id;
            }
            m.perf_event_overflow(self.id, &s)
        })
    }

    /// The output side of the event: `{"rb": handle of the event whose ring it writes into or
    /// None, "mmap_count", "event_limit", "pending_kill" (1 POLL_IN, 6 POLL_HUP, 0 none),
    /// "lost_samples"}`.
    fn output_state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let m = lock(&self.machine)?;
        let (limit, kill) = guard(|| m.event_limit(self.id))?;
        let lost = guard(|| m.lost_samples(self.id))?;
        let d = PyDict::new(py);
        d.set_item("rb", m.rb_key(self.id).map(|k| k.0))?;
        d.set_item("mmap_count", m.event_mmap_count(self.id))?;
        d.set_item("event_limit", limit)?;
        d.set_item("pending_kill", kill)?;
        d.set_item("lost_samples", lost)?;
        Ok(d)
    }
}
