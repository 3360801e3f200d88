//! Bindings of the output side (`perfcore::output`): `RingBuffer` (producer + consumer API of
//! a standalone perf ring with its AUX area and trace PMU), `RecordFormat` (encode / decode
//! records), `PageView` (zero-copy read-only view of ring or AUX pages), `mmap_check()` and
//! `trace_bytes()`. Conversion only: every rule lives in the core.

mod convert;
mod format;

use crate::errors::to_py;
use crate::guard;
use crate::machine::Shared;
pub(crate) use convert::sample_from;
use convert::*;
use format::*;
use perfcore::events::EventId;
use perfcore::output::*;
use perfcore::Error;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyMemoryView};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

struct State {
    ev: OutputEvent,
    handles: HashMap<u64, Handle>,
    next_handle: u64,
    aux_handle: Option<AuxHandle>,
    trace: TracePmu,
}

/// Where the producer side of a ring lives.
enum Producer {
    /// A standalone ring made by the constructor.
    Own(Mutex<RingBuffer>),
    /// An event's ring, owned by the machine (`Machine::ring_buffer_mut(key)`).
    Machine(Shared, EventId),
}

/// A perf ring buffer: the kernel side (producer API) and the user side (consumer API) of
/// one mapping, with an optional AUX area and a simulated trace PMU. Standalone, or the ring
/// of an event mapped with `Event.mmap()` (then the machine owns the producer state and the
/// simulator's samples and side-band records land in it too).
#[pyclass(module = "perfcore._core", name = "RingBuffer", frozen)]
pub struct PyRingBuffer {
    producer: Producer,
    state: Mutex<State>,
    consumer: RingConsumer,
    fmt: OutputFormat,
}

impl PyRingBuffer {
    fn new_with(producer: Producer, consumer: RingConsumer, ev: OutputEvent) -> Self {
        PyRingBuffer {
            producer,
            state: Mutex::new(State {
                ev,
                handles: HashMap::new(),
                next_handle: 1,
                aux_handle: None,
                trace: TracePmu::default(),
            }),
            consumer,
            fmt: ev.format,
        }
    }

    /// The ring object of an event's ring owned by the machine (key: the event whose mmap()
    /// created it); writes from Python go out as `ev`'s records.
    pub(crate) fn machine_backed(cell: Shared, key: EventId, consumer: RingConsumer, ev: OutputEvent) -> Self {
        Self::new_with(Producer::Machine(cell, key), consumer, ev)
    }

    /// Run `f` on the producer side (machine lock first, then this object's state).
    fn with<T>(&self, f: impl FnOnce(&mut RingBuffer, &mut State) -> perfcore::Result<T>) -> perfcore::Result<T> {
        match &self.producer {
            Producer::Own(rb) => {
                let mut rb = rb.lock().unwrap_or_else(|p| p.into_inner());
                f(&mut rb, &mut self.lock())
            }
            Producer::Machine(cell, key) => {
                let mut m =
                    cell.m.lock().map_err(|_| Error::Internal("machine state poisoned by an earlier panic".into()))?;
                let rb = m.ring_buffer_mut(*key).ok_or_else(|| {
                    Error::Usage(format!("the ring buffer of event {} was unmapped and freed", key.0))
                })?;
                f(rb, &mut self.lock())
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn aux_consumer(&self) -> PyResult<AuxConsumer> {
        self.consumer.aux().ok_or_else(|| usage("this ring has no AUX area (aux_pages=0)"))
    }
}

fn no_reservation(handle: u64) -> Error {
    Error::Usage(format!("no open reservation {handle}"))
}

fn no_aux_handle(call: &str) -> Error {
    Error::Usage(format!("{call} without aux_output_begin"))
}

fn aux_end_to<'py>(py: Python<'py>, e: &AuxEnd) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("record_written", e.record_written)?;
    d.set_item("record_attempted", e.record_attempted)?;
    d.set_item("aux_offset", e.offset)?;
    d.set_item("flags", e.flags)?;
    d.set_item("disable", e.disable)?;
    d.set_item("wakeup", e.wakeup)?;
    Ok(d)
}

#[pymethods]
impl PyRingBuffer {
    #[new]
    #[pyo3(signature = (data_pages=1, writable=true, backward=false, watermark=0, wakeup_events=0,
        sample_type=None, read_format=None, sample_id_all=false, branch_sample_type=None,
        sample_regs_user=0, sample_regs_intr=0, event_id=1, aux_pages=0, aux_writable=true,
        aux_watermark=0, allow_non_pow2_aux=false, start=0, aux_start=0, page_size=4096))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        data_pages: u32,
        writable: bool,
        backward: bool,
        watermark: u32,
        wakeup_events: u32,
        sample_type: Option<&Bound<'_, PyAny>>,
        read_format: Option<&Bound<'_, PyAny>>,
        sample_id_all: bool,
        branch_sample_type: Option<&Bound<'_, PyAny>>,
        sample_regs_user: u64,
        sample_regs_intr: u64,
        event_id: u64,
        aux_pages: u32,
        aux_writable: bool,
        aux_watermark: u32,
        allow_non_pow2_aux: bool,
        start: u64,
        aux_start: u64,
        page_size: usize,
    ) -> PyResult<Self> {
        g(|| {
            let default_st = "ip|tid|time".into_pyobject(py)?.into_any();
            let zero = 0u64.into_pyobject(py)?.into_any();
            let fmt = format_from(
                sample_type.unwrap_or(&default_st),
                read_format.unwrap_or(&zero),
                sample_id_all,
                branch_sample_type.unwrap_or(&zero),
                sample_regs_user,
                sample_regs_intr,
            )?;
            let mut rb = RingBuffer::new(RingConfig {
                data_pages,
                page_size,
                writable,
                backward,
                watermark: watermark != 0,
                wakeup_watermark: watermark,
                wakeup_events,
                start,
            })
            .map_err(to_py)?;
            if aux_pages != 0 {
                rb.map_aux(AuxConfig {
                    nr_pages: aux_pages,
                    writable: aux_writable,
                    aux_watermark,
                    require_pow2: !allow_non_pow2_aux,
                    pgoff: 1 + u64::from(data_pages),
                    start: aux_start,
                })
                .map_err(to_py)?;
                let page = perfcore::abi::PAGE_SIZE as u64;
                rb.set_aux_area((1 + u64::from(data_pages)) * page, u64::from(aux_pages) * page);
            }
            let consumer = rb.consumer();
            Ok(PyRingBuffer::new_with(
                Producer::Own(Mutex::new(rb)),
                consumer,
                OutputEvent { id: event_id, format: fmt },
            ))
        })
    }

    /// The record format of this ring's event.
    #[getter]
    fn format(&self) -> PyRecordFormat {
        PyRecordFormat { fmt: self.fmt }
    }

    // ---- producer ----

    /// Output one sample (keyword fields as in `RecordFormat.encode_sample`). False: dropped
    /// (no space or paused) and counted lost.
    #[pyo3(signature = (**fields))]
    fn write_sample(&self, py: Python<'_>, fields: Option<&Bound<'_, PyDict>>) -> PyResult<bool> {
        g(|| {
            let empty = PyDict::new(py);
            let s = sample_from(fields.unwrap_or(&empty))?;
            self.with(|rb, st| rb.write_sample(&st.ev, &s)).map_err(to_py)
        })
    }

    /// Output `n` samples whose fixed fields come from equal-length integer sequences (e.g.
    /// numpy arrays) or scalars; runs without the GIL. Returns how many were written.
    #[pyo3(signature = (n, **columns))]
    fn write_samples(&self, py: Python<'_>, n: usize, columns: Option<&Bound<'_, PyDict>>) -> PyResult<usize> {
        let empty = PyDict::new(py);
        let cols = columns.unwrap_or(&empty);
        check_keys(cols, "write_samples", SAMPLE_KEYS)?;
        let mut data: Vec<(String, Vec<u64>)> = Vec::new();
        for (k, v) in cols.iter() {
            let k: String = k.extract()?;
            let col: Vec<u64> = if let Ok(x) = v.extract::<u64>() { vec![x; n] } else { v.extract()? };
            if col.len() != n {
                return Err(usage(format!("column {k} has {} values, expected {n}", col.len())));
            }
            data.push((k, col));
        }
        guard::detached(py, || {
            self.with(|rb, st| {
                let ev = st.ev;
                let mut written = 0;
                for i in 0..n {
                    let mut s = SampleData::default();
                    for (k, col) in &data {
                        let v = col[i];
                        match k.as_str() {
                            "ip" => s.ip = v,
                            "pid" => s.pid = v as u32,
                            "tid" => s.tid = v as u32,
                            "time" => s.time = v,
                            "addr" => s.addr = v,
                            "id" => s.id = v,
                            "stream_id" => s.stream_id = v,
                            "cpu" => s.cpu = v as u32,
                            "period" => s.period = v,
                            "weight" => s.weight = v,
                            "data_src" => s.data_src = v,
                            "transaction" => s.transaction = v,
                            "phys_addr" => s.phys_addr = v,
                            "cgroup" => s.cgroup = v,
                            "data_page_size" => s.data_page_size = v,
                            "code_page_size" => s.code_page_size = v,
                            "misc" => s.misc = v as u16,
                            other => {
                                return Err(Error::Usage(format!(
                                    "write_samples: column {other:?} is not a fixed field"
                                )))
                            }
                        }
                    }
                    if rb.write_sample(&ev, &s)? {
                        written += 1;
                    }
                }
                Ok(written)
            })
        })
    }

    /// Output any record: `kind`, `misc`, fields, `sample_id={...}` (trailer values).
    #[pyo3(signature = (kind, misc=0, **fields))]
    fn write_record(
        &self,
        py: Python<'_>,
        kind: &str,
        misc: u16,
        fields: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<bool> {
        g(|| {
            let empty = PyDict::new(py);
            let r = record_from(kind, misc, fields.unwrap_or(&empty))?;
            self.with(|rb, st| rb.write_record(&st.ev, &r)).map_err(to_py)
        })
    }

    /// Output an already-encoded record; `sample_id` serves a LOST record written first.
    #[pyo3(signature = (data, sample_id=None))]
    fn write_bytes(&self, data: &[u8], sample_id: Option<&Bound<'_, PyAny>>) -> PyResult<bool> {
        g(|| {
            let ids = ids_from(sample_id)?;
            self.with(|rb, st| rb.write_bytes(&st.ev, data, &ids)).map_err(to_py)
        })
    }

    /// PERF_RECORD_LOST_SAMPLES {lost} (PMU-side drops).
    #[pyo3(signature = (lost, sample_id=None))]
    fn write_lost_samples(&self, lost: u64, sample_id: Option<&Bound<'_, PyAny>>) -> PyResult<bool> {
        g(|| {
            let r = Record { misc: 0, body: RecordBody::LostSamples { lost }, sample_id: ids_from(sample_id)? };
            self.with(|rb, st| rb.write_record(&st.ev, &r)).map_err(to_py)
        })
    }

    /// Reserve `size` bytes for a record written piecewise (an outer writer that a nested
    /// one may interrupt). Returns a handle id, or None when dropped.
    #[pyo3(signature = (size, sample_id=None))]
    fn begin(&self, size: usize, sample_id: Option<&Bound<'_, PyAny>>) -> PyResult<Option<u64>> {
        g(|| {
            let ids = ids_from(sample_id)?;
            self.with(|rb, st| {
                Ok(match rb.begin(&st.ev, size, &ids)? {
                    Some(h) => {
                        let id = st.next_handle;
                        st.next_handle += 1;
                        st.handles.insert(id, h);
                        Some(id)
                    }
                    None => None,
                })
            })
            .map_err(to_py)
        })
    }

    /// Write bytes into an open reservation.
    fn put(&self, handle: u64, data: &[u8]) -> PyResult<()> {
        g(|| {
            self.with(|rb, st| {
                let mut h = st.handles.remove(&handle).ok_or_else(|| no_reservation(handle))?;
                let r = rb.put(&mut h, data);
                st.handles.insert(handle, h);
                r
            })
            .map_err(to_py)
        })
    }

    /// Finish a reservation (the outermost end publishes data_head).
    fn end(&self, handle: u64) -> PyResult<()> {
        g(|| {
            self.with(|rb, st| rb.end(st.handles.remove(&handle).ok_or_else(|| no_reservation(handle))?)).map_err(to_py)
        })
    }

    /// PERF_EVENT_IOC_PAUSE_OUTPUT (EINVAL on a ring without data pages).
    fn pause_output(&self, pause: bool) -> PyResult<()> {
        g(|| self.with(|rb, _| rb.pause_output(pause)).map_err(to_py))
    }

    /// Rewrite the user page's counter block under the lock seqcount.
    #[pyo3(signature = (index=0, offset=0, time_enabled=0, time_running=0, capabilities=0, pmc_width=0))]
    fn update_userpage(
        &self,
        index: u32,
        offset: i64,
        time_enabled: u64,
        time_running: u64,
        capabilities: u64,
        pmc_width: u16,
    ) -> PyResult<()> {
        g(|| {
            let c = UserPageCounters { index, offset, time_enabled, time_running, capabilities, pmc_width };
            self.with(|rb, _| {
                rb.update_userpage(&c);
                Ok(())
            })
            .map_err(to_py)
        })
    }

    /// perf_aux_output_begin(): True when the driver got a handle (then aux_write /
    /// aux_output_skip / aux_output_flag / aux_output_end).
    fn aux_output_begin(&self) -> PyResult<Option<(u64, u64)>> {
        g(|| {
            self.with(|rb, st| {
                if st.aux_handle.is_some() {
                    return Ok(None);
                }
                let h = rb.aux_output_begin();
                st.aux_handle = h;
                Ok(h.map(|h| (h.head, h.size)))
            })
            .map_err(to_py)
        })
    }

    /// Write trace bytes through the open AUX handle; returns how many were taken.
    fn aux_write(&self, data: &[u8]) -> PyResult<usize> {
        g(|| {
            self.with(|rb, st| {
                let mut h = st.aux_handle.ok_or_else(|| no_aux_handle("aux_write"))?;
                let n = rb.aux_write(&mut h, data)?;
                st.aux_handle = Some(h);
                Ok(n)
            })
            .map_err(to_py)
        })
    }

    /// perf_aux_output_skip().
    fn aux_output_skip(&self, size: u64) -> PyResult<()> {
        g(|| {
            self.with(|rb, st| {
                let mut h = st.aux_handle.ok_or_else(|| no_aux_handle("aux_output_skip"))?;
                let r = rb.aux_output_skip(&mut h, size);
                st.aux_handle = Some(h);
                r
            })
            .map_err(to_py)
        })
    }

    /// perf_aux_output_flag().
    fn aux_output_flag(&self, flags: u64) -> PyResult<()> {
        g(|| {
            self.with(|rb, st| {
                let mut h = st.aux_handle.ok_or_else(|| no_aux_handle("aux_output_flag"))?;
                rb.aux_output_flag(&mut h, flags)?;
                st.aux_handle = Some(h);
                Ok(())
            })
            .map_err(to_py)
        })
    }

    /// perf_aux_output_end(size): emits PERF_RECORD_AUX; returns what happened.
    #[pyo3(signature = (size, sample_id=None))]
    fn aux_output_end<'py>(
        &self,
        py: Python<'py>,
        size: u64,
        sample_id: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        g(|| {
            let ids = ids_from(sample_id)?;
            let e = self
                .with(|rb, st| {
                    let h = st.aux_handle.take().ok_or_else(|| no_aux_handle("aux_output_end"))?;
                    rb.aux_output_end(h, size, &st.ev, &ids)
                })
                .map_err(to_py)?;
            aux_end_to(py, &e)
        })
    }

    /// Trace PMU: event sched-in (PERF_RECORD_ITRACE_START before the first start).
    #[pyo3(signature = (sample_id=None))]
    fn trace_sched_in(&self, sample_id: Option<&Bound<'_, PyAny>>) -> PyResult<bool> {
        g(|| {
            let ids = ids_from(sample_id)?;
            self.with(|rb, st| {
                let (ev, mut t) = (st.ev, st.trace);
                let r = t.sched_in(rb, &ev, &ids);
                st.trace = t;
                r
            })
            .map_err(to_py)
        })
    }

    /// Trace PMU: one active period producing `nbytes` of trace (byte at AUX position p is
    /// `trace_bytes(p, 1)`); `flags` adds PARTIAL / COLLISION / format bits. Runs without
    /// the GIL.
    #[pyo3(signature = (nbytes, flags=0, sample_id=None))]
    fn trace_run<'py>(
        &self,
        py: Python<'py>,
        nbytes: u64,
        flags: u64,
        sample_id: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let ids = ids_from(sample_id)?;
        let run = guard::detached(py, || {
            self.with(|rb, st| {
                let (ev, mut t) = (st.ev, st.trace);
                let r = t.run(rb, &ev, &ids, nbytes, flags);
                st.trace = t;
                r
            })
        })?;
        g(|| {
            let d = aux_end_to(py, &run.end)?;
            d.set_item("was_disabled", run.was_disabled)?;
            d.set_item("no_handle", run.no_handle)?;
            d.set_item("produced", run.produced)?;
            d.set_item("written", run.written)?;
            Ok(d)
        })
    }

    /// Trace PMU: re-enable after a truncation / full buffer disabled the event.
    fn trace_enable(&self) -> PyResult<()> {
        g(|| {
            self.lock().trace.enable();
            Ok(())
        })
    }

    /// Trace PMU state: the event was disabled by the AUX core.
    #[getter]
    fn trace_disabled(&self) -> PyResult<bool> {
        g(|| Ok(self.lock().trace.disabled))
    }

    // ---- consumer ----

    /// Consume every readable record (oldest first), advancing data_tail; list of dicts.
    fn read_records<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        g(|| {
            let recs = self.consumer.read_records().map_err(to_py)?;
            decode_list(py, &recs, &self.fmt)
        })
    }

    /// Consume every readable record and return their raw bytes (oldest first).
    fn read_raw<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        g(|| {
            let recs = self.consumer.read_records().map_err(to_py)?;
            Ok(recs.iter().map(|r| PyBytes::new(py, r)).collect())
        })
    }

    /// Consume every readable record; the samples as a dict of numpy arrays (other records,
    /// LOST included, are consumed and skipped: use read_records() to see them).
    fn read_samples<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        g(|| {
            let recs = self.consumer.read_records().map_err(to_py)?;
            samples_columns(py, &recs, &self.fmt)
        })
    }

    /// Zero-copy read-only view of the mapping (user page + data pages).
    fn pages<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyMemoryView>> {
        g(|| {
            let v = Bound::new(py, PageView { owner: ViewOwner::Ring(self.consumer.clone()) })?;
            PyMemoryView::from(v.as_any())
        })
    }

    /// Zero-copy read-only view of the AUX area.
    fn aux_pages<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyMemoryView>> {
        g(|| {
            let v = Bound::new(py, PageView { owner: ViewOwner::Aux(self.aux_consumer()?) })?;
            PyMemoryView::from(v.as_any())
        })
    }

    /// Copy of the mapping's bytes.
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        g(|| Ok(PyBytes::new(py, &self.consumer.snapshot())))
    }

    /// The user page's fields by name.
    fn user_page<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        g(|| {
            let d = PyDict::new(py);
            for (k, v) in self.consumer.user_page() {
                d.set_item(k, v)?;
            }
            Ok(d)
        })
    }

    /// `data_head` (acquire).
    #[getter]
    fn data_head(&self) -> u64 {
        self.consumer.data_head()
    }
    /// `data_tail`.
    #[getter]
    fn data_tail(&self) -> u64 {
        self.consumer.data_tail()
    }
    /// Store `data_tail` (release).
    fn set_data_tail(&self, value: u64) {
        self.consumer.set_data_tail(value)
    }
    /// `data_size` in bytes.
    #[getter]
    fn data_size(&self) -> u64 {
        self.consumer.data_size()
    }

    /// Consume `[aux_tail, aux_head)` (at most aux_size bytes); returns (start position, bytes).
    fn aux_read<'py>(&self, py: Python<'py>) -> PyResult<(u64, Bound<'py, PyBytes>)> {
        g(|| {
            let (start, b) = self.aux_consumer()?.read();
            Ok((start, PyBytes::new(py, &b)))
        })
    }
    /// Copy AUX stream bytes from a free-running position without consuming.
    fn aux_copy<'py>(&self, py: Python<'py>, position: u64, length: usize) -> PyResult<Bound<'py, PyBytes>> {
        g(|| {
            let a = self.aux_consumer()?;
            if length as u64 > a.size() {
                return Err(usage(format!("length {length} exceeds aux_size {}", a.size())));
            }
            Ok(PyBytes::new(py, &a.copy_stream(position, length)))
        })
    }
    /// The AUX buffer as laid out in memory.
    fn aux_snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        g(|| Ok(PyBytes::new(py, &self.aux_consumer()?.snapshot())))
    }
    /// `aux_head` (None without AUX).
    #[getter]
    fn aux_head(&self) -> Option<u64> {
        self.consumer.aux().map(|a| a.aux_head())
    }
    /// `aux_tail` (None without AUX).
    #[getter]
    fn aux_tail(&self) -> Option<u64> {
        self.consumer.aux().map(|a| a.aux_tail())
    }
    /// Store `aux_tail`.
    fn set_aux_tail(&self, value: u64) -> PyResult<()> {
        g(|| {
            self.aux_consumer()?.set_aux_tail(value);
            Ok(())
        })
    }

    // ---- state ----

    /// Poll: True (and cleared) if a wakeup was delivered since the last poll.
    fn poll(&self) -> PyResult<bool> {
        g(|| self.with(|rb, _| Ok(rb.poll())).map_err(to_py))
    }

    /// Counters: records, bytes, lost, lost_records, lost_reported, wakeups, pending_lost,
    /// aux_disable_requests.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        g(|| {
            let (s, pending, aux_dis) =
                self.with(|rb, _| Ok((rb.stats(), rb.pending_lost(), rb.aux_disable_requests()))).map_err(to_py)?;
            let d = PyDict::new(py);
            for (k, v) in [
                ("records", s.records),
                ("bytes", s.bytes),
                ("lost", s.lost),
                ("lost_records", s.lost_records),
                ("lost_reported", s.lost_reported),
                ("wakeups", s.wakeups),
                ("pending_lost", pending),
                ("aux_disable_requests", aux_dis),
            ] {
                d.set_item(k, v)?;
            }
            Ok(d)
        })
    }

    /// perf_output_wakeup() calls so far.
    #[getter]
    fn wakeups(&self) -> PyResult<u64> {
        g(|| self.with(|rb, _| Ok(rb.stats().wakeups)).map_err(to_py))
    }
    /// `rb->head` (kernel side).
    #[getter]
    fn head(&self) -> PyResult<u64> {
        g(|| self.with(|rb, _| Ok(rb.head())).map_err(to_py))
    }
    /// `rb->nest`.
    #[getter]
    fn nest(&self) -> PyResult<u32> {
        g(|| self.with(|rb, _| Ok(rb.nest())).map_err(to_py))
    }
    /// `rb->paused`.
    #[getter]
    fn paused(&self) -> PyResult<bool> {
        g(|| self.with(|rb, _| Ok(rb.paused())).map_err(to_py))
    }
    /// Overwrite mode (read-only creating mapping).
    #[getter]
    fn overwrite(&self) -> PyResult<bool> {
        g(|| self.with(|rb, _| Ok(rb.overwrite())).map_err(to_py))
    }
    /// `rb->watermark` in bytes.
    #[getter]
    fn watermark(&self) -> PyResult<u64> {
        g(|| self.with(|rb, _| Ok(rb.watermark())).map_err(to_py))
    }

    fn __repr__(&self) -> String {
        format!(
            "RingBuffer(data_size={}, data_head={}, data_tail={})",
            self.consumer.data_size(),
            self.consumer.data_head(),
            self.consumer.data_tail()
        )
    }
}

/// The trace PMU's bytes for AUX positions `start .. start + length`.
/// Register the classes and functions.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRingBuffer>()?;
    m.add_class::<PyRecordFormat>()?;
    m.add_class::<PageView>()?;
    m.add_function(wrap_pyfunction!(py_trace_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(mmap_check, m)?)?;
    Ok(())
}
