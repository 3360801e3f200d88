//! Bindings of the output side (`perfcore::output`): `RingBuffer` (producer + consumer API of
//! a standalone perf ring with its AUX area and trace PMU), `RecordFormat` (encode / decode
//! records), `PageView` (zero-copy read-only view of ring or AUX pages), `mmap_check()` and
//! `trace_bytes()`. Conversion only: every rule lives in the core.

use crate::errors::to_py;
use crate::guard;
use numpy::IntoPyArray;
use perfcore::abi::names::{parse_mask, BRANCH_SAMPLE_NAMES, READ_FORMAT_NAMES, SAMPLE_TYPE_NAMES};
use perfcore::abi::record::*;
use perfcore::abi::sample::*;
use perfcore::output::mmap_rules::{
    self, MmapAccounting, MmapAction, MmapEventView, MmapOptions, MmapRequest, RbView,
};
use perfcore::output::*;
use perfcore::{Errno, Error};
use pyo3::exceptions::PyBufferError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyMemoryView};
use std::collections::HashMap;
use std::ffi::c_int;
use std::sync::{Mutex, MutexGuard};

/// Run a whole binding body inside `guard::guard` (panics -> InternalError).
fn g<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    guard::guard(|| Ok(f()))?
}

fn usage(m: impl Into<String>) -> PyErr {
    to_py(Error::Usage(m.into()))
}

fn mask_arg(field: &str, table: &[(&str, u64)], v: &Bound<'_, PyAny>) -> PyResult<u64> {
    if let Ok(n) = v.extract::<u64>() {
        return Ok(n);
    }
    let s: String = v
        .extract()
        .map_err(|_| usage(format!("{field} must be an int or a '|'-separated string")))?;
    parse_mask(field, table, &s).map_err(to_py)
}

fn u64_of(d: &Bound<'_, PyDict>, k: &str) -> PyResult<u64> {
    match d.get_item(k)? {
        Some(v) => v
            .extract::<u64>()
            .map_err(|_| usage(format!("{k} must be an unsigned 64-bit int, got {v}"))),
        None => Ok(0),
    }
}
fn u32_of(d: &Bound<'_, PyDict>, k: &str) -> PyResult<u32> {
    match d.get_item(k)? {
        Some(v) => v
            .extract::<u32>()
            .map_err(|_| usage(format!("{k} must be an unsigned 32-bit int, got {v}"))),
        None => Ok(0),
    }
}
fn str_of(d: &Bound<'_, PyDict>, k: &str) -> PyResult<String> {
    match d.get_item(k)? {
        Some(v) => v
            .extract::<String>()
            .map_err(|_| usage(format!("{k} must be a str"))),
        None => Ok(String::new()),
    }
}
fn check_keys(d: &Bound<'_, PyDict>, what: &str, allowed: &[&str]) -> PyResult<()> {
    for k in d.keys() {
        let k: String = k.extract()?;
        if !allowed.contains(&k.as_str())
            && !["type", "type_id", "size", "misc", "sample_id"].contains(&k.as_str())
        {
            return Err(usage(format!(
                "{what}: unknown field {k:?} (known: {})",
                allowed.join(", ")
            )));
        }
    }
    Ok(())
}

const SAMPLE_KEYS: &[&str] = &[
    "ip",
    "pid",
    "tid",
    "time",
    "addr",
    "id",
    "stream_id",
    "cpu",
    "period",
    "read",
    "callchain",
    "raw",
    "branch",
    "regs_user",
    "stack_user",
    "stack_user_dyn_size",
    "weight",
    "data_src",
    "transaction",
    "regs_intr",
    "phys_addr",
    "cgroup",
    "data_page_size",
    "code_page_size",
    "aux",
];

fn read_from(v: &Bound<'_, PyAny>) -> PyResult<ReadValues> {
    let d = v.cast::<PyDict>().map_err(|_| {
        usage("read must be a dict {time_enabled, time_running, values: [{value, id, lost}]}")
    })?;
    let mut r = ReadValues {
        time_enabled: u64_of(d, "time_enabled")?,
        time_running: u64_of(d, "time_running")?,
        values: vec![],
    };
    if let Some(vals) = d.get_item("values")? {
        for item in vals.try_iter()? {
            let item = item?;
            let e = item
                .cast::<PyDict>()
                .map_err(|_| usage("read.values items must be dicts {value, id, lost}"))?;
            r.values.push(ReadValue {
                value: u64_of(e, "value")?,
                id: u64_of(e, "id")?,
                lost: u64_of(e, "lost")?,
            });
        }
    }
    Ok(r)
}

fn regs_from(v: &Bound<'_, PyAny>, k: &str) -> PyResult<Regs> {
    let d = v
        .cast::<PyDict>()
        .map_err(|_| usage(format!("{k} must be a dict {{abi, regs}}")))?;
    let regs = match d.get_item("regs")? {
        Some(r) => r.extract::<Vec<u64>>()?,
        None => vec![],
    };
    Ok(Regs {
        abi: u64_of(d, "abi")?,
        regs,
    })
}

/// A SampleData from keyword fields (unknown keys are an error naming the key).
fn sample_from(d: &Bound<'_, PyDict>) -> PyResult<SampleData> {
    check_keys(d, "sample", SAMPLE_KEYS)?;
    let mut s = SampleData {
        misc: u32_of(d, "misc")? as u16,
        ip: u64_of(d, "ip")?,
        pid: u32_of(d, "pid")?,
        tid: u32_of(d, "tid")?,
        time: u64_of(d, "time")?,
        addr: u64_of(d, "addr")?,
        id: u64_of(d, "id")?,
        stream_id: u64_of(d, "stream_id")?,
        cpu: u32_of(d, "cpu")?,
        period: u64_of(d, "period")?,
        stack_user_dyn_size: u64_of(d, "stack_user_dyn_size")?,
        weight: u64_of(d, "weight")?,
        data_src: u64_of(d, "data_src")?,
        transaction: u64_of(d, "transaction")?,
        phys_addr: u64_of(d, "phys_addr")?,
        cgroup: u64_of(d, "cgroup")?,
        data_page_size: u64_of(d, "data_page_size")?,
        code_page_size: u64_of(d, "code_page_size")?,
        ..Default::default()
    };
    if let Some(v) = d.get_item("read")? {
        s.read = read_from(&v)?;
    }
    if let Some(v) = d.get_item("callchain")? {
        s.callchain = v.extract()?;
    }
    if let Some(v) = d.get_item("raw")? {
        s.raw = if v.is_none() {
            None
        } else {
            Some(v.extract::<Vec<u8>>()?)
        };
    }
    if let Some(v) = d.get_item("branch")? {
        if !v.is_none() {
            let b = v.cast::<PyDict>().map_err(|_| {
                usage("branch must be a dict {hw_idx, entries: [(from, to, flags)], counters}")
            })?;
            let entries: Vec<(u64, u64, u64)> = match b.get_item("entries")? {
                Some(e) => e.extract()?,
                None => vec![],
            };
            let counters = match b.get_item("counters")? {
                Some(c) if !c.is_none() => Some(c.extract::<Vec<u64>>()?),
                _ => None,
            };
            s.branch = Some(BranchStack {
                hw_idx: u64_of(b, "hw_idx")?,
                entries: entries
                    .into_iter()
                    .map(|(from, to, flags)| BranchEntry { from, to, flags })
                    .collect(),
                counters,
            });
        }
    }
    if let Some(v) = d.get_item("regs_user")? {
        s.regs_user = regs_from(&v, "regs_user")?;
    }
    if let Some(v) = d.get_item("regs_intr")? {
        s.regs_intr = regs_from(&v, "regs_intr")?;
    }
    if let Some(v) = d.get_item("stack_user")? {
        s.stack_user = v.extract()?;
    }
    if let Some(v) = d.get_item("aux")? {
        s.aux = v.extract()?;
    }
    Ok(s)
}

fn ids_from(v: Option<&Bound<'_, PyAny>>) -> PyResult<SampleId> {
    let Some(v) = v else {
        return Ok(SampleId::default());
    };
    if v.is_none() {
        return Ok(SampleId::default());
    }
    let d = v
        .cast::<PyDict>()
        .map_err(|_| usage("sample_id must be a dict {pid, tid, time, id, stream_id, cpu}"))?;
    check_keys(
        d,
        "sample_id",
        &["pid", "tid", "time", "id", "stream_id", "cpu"],
    )?;
    Ok(SampleId {
        pid: u32_of(d, "pid")?,
        tid: u32_of(d, "tid")?,
        time: u64_of(d, "time")?,
        id: u64_of(d, "id")?,
        stream_id: u64_of(d, "stream_id")?,
        cpu: u32_of(d, "cpu")?,
    })
}

/// A Record from a kind name and keyword fields.
fn record_from(kind: &str, misc: u16, d: &Bound<'_, PyDict>) -> PyResult<Record> {
    let sample_id = ids_from(d.get_item("sample_id")?.as_ref())?;
    let task = |d: &Bound<'_, PyDict>| -> PyResult<TaskRecord> {
        check_keys(d, kind, &["pid", "ppid", "tid", "ptid", "time"])?;
        Ok(TaskRecord {
            pid: u32_of(d, "pid")?,
            ppid: u32_of(d, "ppid")?,
            tid: u32_of(d, "tid")?,
            ptid: u32_of(d, "ptid")?,
            time: u64_of(d, "time")?,
        })
    };
    let body = match kind {
        "sample" => RecordBody::Sample(Box::new(sample_from(d)?)),
        "mmap" => {
            check_keys(d, kind, &["pid", "tid", "addr", "len", "pgoff", "filename"])?;
            RecordBody::Mmap { pid: u32_of(d, "pid")?, tid: u32_of(d, "tid")?, addr: u64_of(d, "addr")?, len: u64_of(d, "len")?, pgoff: u64_of(d, "pgoff")?, filename: str_of(d, "filename")? }
        }
        "lost" => {
            check_keys(d, kind, &["id", "lost"])?;
            RecordBody::Lost { id: u64_of(d, "id")?, lost: u64_of(d, "lost")? }
        }
        "comm" => {
            check_keys(d, kind, &["pid", "tid", "comm"])?;
            RecordBody::Comm { pid: u32_of(d, "pid")?, tid: u32_of(d, "tid")?, comm: str_of(d, "comm")? }
        }
        "exit" => RecordBody::Exit(task(d)?),
        "fork" => RecordBody::Fork(task(d)?),
        "throttle" | "unthrottle" => {
            check_keys(d, kind, &["time", "id", "stream_id"])?;
            let (time, id, stream_id) = (u64_of(d, "time")?, u64_of(d, "id")?, u64_of(d, "stream_id")?);
            if kind == "throttle" {
                RecordBody::Throttle { time, id, stream_id }
            } else {
                RecordBody::Unthrottle { time, id, stream_id }
            }
        }
        "read" => {
            check_keys(d, kind, &["pid", "tid", "values"])?;
            let values = match d.get_item("values")? {
                Some(v) => read_from(&v)?,
                None => ReadValues::default(),
            };
            RecordBody::Read { pid: u32_of(d, "pid")?, tid: u32_of(d, "tid")?, values }
        }
        "mmap2" => {
            check_keys(d, kind, &["pid", "tid", "addr", "len", "pgoff", "maj", "min", "ino", "ino_generation", "build_id", "prot", "flags", "filename"])?;
            let file = match d.get_item("build_id")? {
                Some(b) if !b.is_none() => Mmap2File::BuildId(b.extract()?),
                _ => Mmap2File::Inode { maj: u32_of(d, "maj")?, min: u32_of(d, "min")?, ino: u64_of(d, "ino")?, ino_generation: u64_of(d, "ino_generation")? },
            };
            RecordBody::Mmap2 {
                pid: u32_of(d, "pid")?,
                tid: u32_of(d, "tid")?,
                addr: u64_of(d, "addr")?,
                len: u64_of(d, "len")?,
                pgoff: u64_of(d, "pgoff")?,
                file,
                prot: u32_of(d, "prot")?,
                flags: u32_of(d, "flags")?,
                filename: str_of(d, "filename")?,
            }
        }
        "aux" => {
            check_keys(d, kind, &["aux_offset", "aux_size", "flags"])?;
            RecordBody::Aux { offset: u64_of(d, "aux_offset")?, size: u64_of(d, "aux_size")?, flags: u64_of(d, "flags")? }
        }
        "itrace_start" => {
            check_keys(d, kind, &["pid", "tid"])?;
            RecordBody::ItraceStart { pid: u32_of(d, "pid")?, tid: u32_of(d, "tid")? }
        }
        "lost_samples" => {
            check_keys(d, kind, &["lost"])?;
            RecordBody::LostSamples { lost: u64_of(d, "lost")? }
        }
        "switch" => {
            check_keys(d, kind, &[])?;
            RecordBody::Switch
        }
        "switch_cpu_wide" => {
            check_keys(d, kind, &["next_prev_pid", "next_prev_tid"])?;
            RecordBody::SwitchCpuWide { next_prev_pid: u32_of(d, "next_prev_pid")?, next_prev_tid: u32_of(d, "next_prev_tid")? }
        }
        other => {
            return Err(usage(format!(
                "unknown record kind {other:?} (known: sample, mmap, lost, comm, exit, throttle, unthrottle, fork, read, \
                 mmap2, aux, itrace_start, lost_samples, switch, switch_cpu_wide)"
            )))
        }
    };
    Ok(Record {
        misc,
        body,
        sample_id,
    })
}

fn kind_name(type_: u32) -> &'static str {
    match type_ {
        PERF_RECORD_MMAP => "mmap",
        PERF_RECORD_LOST => "lost",
        PERF_RECORD_COMM => "comm",
        PERF_RECORD_EXIT => "exit",
        PERF_RECORD_THROTTLE => "throttle",
        PERF_RECORD_UNTHROTTLE => "unthrottle",
        PERF_RECORD_FORK => "fork",
        PERF_RECORD_READ => "read",
        PERF_RECORD_SAMPLE => "sample",
        PERF_RECORD_MMAP2 => "mmap2",
        PERF_RECORD_AUX => "aux",
        PERF_RECORD_ITRACE_START => "itrace_start",
        PERF_RECORD_LOST_SAMPLES => "lost_samples",
        PERF_RECORD_SWITCH => "switch",
        PERF_RECORD_SWITCH_CPU_WIDE => "switch_cpu_wide",
        _ => "unknown",
    }
}

fn read_to<'py>(py: Python<'py>, r: &ReadValues) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("time_enabled", r.time_enabled)?;
    d.set_item("time_running", r.time_running)?;
    let vals = PyList::empty(py);
    for v in &r.values {
        let e = PyDict::new(py);
        e.set_item("value", v.value)?;
        e.set_item("id", v.id)?;
        e.set_item("lost", v.lost)?;
        vals.append(e)?;
    }
    d.set_item("values", vals)?;
    Ok(d)
}

fn regs_to<'py>(py: Python<'py>, r: &Regs) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("abi", r.abi)?;
    d.set_item("regs", r.regs.clone())?;
    Ok(d)
}

fn sample_to(py: Python<'_>, d: &Bound<'_, PyDict>, s: &SampleData, st: u64) -> PyResult<()> {
    let fixed: [(u64, &str, u64); 16] = [
        (PERF_SAMPLE_IP, "ip", s.ip),
        (PERF_SAMPLE_TIME, "time", s.time),
        (PERF_SAMPLE_ADDR, "addr", s.addr),
        (PERF_SAMPLE_ID | PERF_SAMPLE_IDENTIFIER, "id", s.id),
        (PERF_SAMPLE_STREAM_ID, "stream_id", s.stream_id),
        (PERF_SAMPLE_CPU, "cpu", u64::from(s.cpu)),
        (PERF_SAMPLE_PERIOD, "period", s.period),
        (PERF_SAMPLE_WEIGHT_TYPE, "weight", s.weight),
        (PERF_SAMPLE_DATA_SRC, "data_src", s.data_src),
        (PERF_SAMPLE_TRANSACTION, "transaction", s.transaction),
        (PERF_SAMPLE_PHYS_ADDR, "phys_addr", s.phys_addr),
        (PERF_SAMPLE_CGROUP, "cgroup", s.cgroup),
        (
            PERF_SAMPLE_DATA_PAGE_SIZE,
            "data_page_size",
            s.data_page_size,
        ),
        (
            PERF_SAMPLE_CODE_PAGE_SIZE,
            "code_page_size",
            s.code_page_size,
        ),
        (PERF_SAMPLE_TID, "pid", u64::from(s.pid)),
        (PERF_SAMPLE_TID, "tid", u64::from(s.tid)),
    ];
    for (bit, k, v) in fixed {
        if st & bit != 0 {
            d.set_item(k, v)?;
        }
    }
    if st & PERF_SAMPLE_READ != 0 {
        d.set_item("read", read_to(py, &s.read)?)?;
    }
    if st & PERF_SAMPLE_CALLCHAIN != 0 {
        d.set_item("callchain", s.callchain.clone())?;
    }
    if st & PERF_SAMPLE_RAW != 0 {
        match &s.raw {
            Some(r) => d.set_item("raw", PyBytes::new(py, r))?,
            None => d.set_item("raw", py.None())?,
        }
    }
    if st & PERF_SAMPLE_BRANCH_STACK != 0 {
        match &s.branch {
            Some(b) => {
                let bd = PyDict::new(py);
                bd.set_item("hw_idx", b.hw_idx)?;
                let e: Vec<(u64, u64, u64)> =
                    b.entries.iter().map(|e| (e.from, e.to, e.flags)).collect();
                bd.set_item("entries", e)?;
                bd.set_item("counters", b.counters.clone())?;
                d.set_item("branch", bd)?;
            }
            None => d.set_item("branch", py.None())?,
        }
    }
    if st & PERF_SAMPLE_REGS_USER != 0 {
        d.set_item("regs_user", regs_to(py, &s.regs_user)?)?;
    }
    if st & PERF_SAMPLE_STACK_USER != 0 {
        d.set_item("stack_user", PyBytes::new(py, &s.stack_user))?;
        d.set_item("stack_user_dyn_size", s.stack_user_dyn_size)?;
    }
    if st & PERF_SAMPLE_REGS_INTR != 0 {
        d.set_item("regs_intr", regs_to(py, &s.regs_intr)?)?;
    }
    if st & PERF_SAMPLE_AUX != 0 {
        d.set_item("aux", PyBytes::new(py, &s.aux))?;
    }
    Ok(())
}

fn ids_to<'py>(py: Python<'py>, i: &SampleId) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("pid", i.pid)?;
    d.set_item("tid", i.tid)?;
    d.set_item("time", i.time)?;
    d.set_item("id", i.id)?;
    d.set_item("stream_id", i.stream_id)?;
    d.set_item("cpu", i.cpu)?;
    Ok(d)
}

/// One decoded record as a dict: type (kind name), type_id, misc, size, the fields, and
/// `sample_id` for non-sample records of a `sample_id_all` format.
fn decoded_to<'py>(
    py: Python<'py>,
    raw: &[u8],
    dr: &DecodedRecord,
    fmt: &OutputFormat,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("type", kind_name(dr.type_))?;
    d.set_item("type_id", dr.type_)?;
    d.set_item("misc", dr.misc)?;
    d.set_item("size", dr.size)?;
    let Some(r) = &dr.record else {
        d.set_item("raw", PyBytes::new(py, raw))?;
        return Ok(d);
    };
    match &r.body {
        RecordBody::Sample(s) => sample_to(py, &d, s, fmt.sample_type)?,
        RecordBody::Mmap {
            pid,
            tid,
            addr,
            len,
            pgoff,
            filename,
        } => {
            for (k, v) in [
                ("pid", u64::from(*pid)),
                ("tid", u64::from(*tid)),
                ("addr", *addr),
                ("len", *len),
                ("pgoff", *pgoff),
            ] {
                d.set_item(k, v)?;
            }
            d.set_item("filename", filename)?;
        }
        RecordBody::Lost { id, lost } => {
            d.set_item("id", id)?;
            d.set_item("lost", lost)?;
        }
        RecordBody::Comm { pid, tid, comm } => {
            d.set_item("pid", pid)?;
            d.set_item("tid", tid)?;
            d.set_item("comm", comm)?;
        }
        RecordBody::Exit(t) | RecordBody::Fork(t) => {
            for (k, v) in [
                ("pid", u64::from(t.pid)),
                ("ppid", u64::from(t.ppid)),
                ("tid", u64::from(t.tid)),
                ("ptid", u64::from(t.ptid)),
                ("time", t.time),
            ] {
                d.set_item(k, v)?;
            }
        }
        RecordBody::Throttle {
            time,
            id,
            stream_id,
        }
        | RecordBody::Unthrottle {
            time,
            id,
            stream_id,
        } => {
            d.set_item("time", time)?;
            d.set_item("id", id)?;
            d.set_item("stream_id", stream_id)?;
        }
        RecordBody::Read { pid, tid, values } => {
            d.set_item("pid", pid)?;
            d.set_item("tid", tid)?;
            d.set_item("values", read_to(py, values)?)?;
        }
        RecordBody::Mmap2 {
            pid,
            tid,
            addr,
            len,
            pgoff,
            file,
            prot,
            flags,
            filename,
        } => {
            for (k, v) in [
                ("pid", u64::from(*pid)),
                ("tid", u64::from(*tid)),
                ("addr", *addr),
                ("len", *len),
                ("pgoff", *pgoff),
                ("prot", u64::from(*prot)),
                ("flags", u64::from(*flags)),
            ] {
                d.set_item(k, v)?;
            }
            match file {
                Mmap2File::Inode {
                    maj,
                    min,
                    ino,
                    ino_generation,
                } => {
                    d.set_item("maj", maj)?;
                    d.set_item("min", min)?;
                    d.set_item("ino", ino)?;
                    d.set_item("ino_generation", ino_generation)?;
                }
                Mmap2File::BuildId(b) => d.set_item("build_id", PyBytes::new(py, b))?,
            }
            d.set_item("filename", filename)?;
        }
        RecordBody::Aux {
            offset,
            size,
            flags,
        } => {
            d.set_item("aux_offset", offset)?;
            d.set_item("aux_size", size)?;
            d.set_item("flags", flags)?;
        }
        RecordBody::ItraceStart { pid, tid } => {
            d.set_item("pid", pid)?;
            d.set_item("tid", tid)?;
        }
        RecordBody::LostSamples { lost } => d.set_item("lost", lost)?,
        RecordBody::Switch => {}
        RecordBody::SwitchCpuWide {
            next_prev_pid,
            next_prev_tid,
        } => {
            d.set_item("next_prev_pid", next_prev_pid)?;
            d.set_item("next_prev_tid", next_prev_tid)?;
        }
    }
    if dr.type_ != PERF_RECORD_SAMPLE && fmt.sample_id_all {
        d.set_item("sample_id", ids_to(py, &r.sample_id)?)?;
    }
    Ok(d)
}

fn decode_list<'py>(
    py: Python<'py>,
    recs: &[Vec<u8>],
    fmt: &OutputFormat,
) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    for r in recs {
        let dr = decode_record(r, fmt).map_err(to_py)?;
        out.append(decoded_to(py, r, &dr, fmt)?)?;
    }
    Ok(out)
}

/// Columns of samples: one numpy array per fixed field present, plus callchain as
/// `callchain_nr` and the flat `callchain`.
fn samples_columns<'py>(
    py: Python<'py>,
    recs: &[Vec<u8>],
    fmt: &OutputFormat,
) -> PyResult<Bound<'py, PyDict>> {
    let st = fmt.sample_type;
    let cols: [(u64, &str); 16] = [
        (PERF_SAMPLE_IP, "ip"),
        (PERF_SAMPLE_TID, "pid"),
        (PERF_SAMPLE_TID, "tid"),
        (PERF_SAMPLE_TIME, "time"),
        (PERF_SAMPLE_ADDR, "addr"),
        (PERF_SAMPLE_ID | PERF_SAMPLE_IDENTIFIER, "id"),
        (PERF_SAMPLE_STREAM_ID, "stream_id"),
        (PERF_SAMPLE_CPU, "cpu"),
        (PERF_SAMPLE_PERIOD, "period"),
        (PERF_SAMPLE_WEIGHT_TYPE, "weight"),
        (PERF_SAMPLE_DATA_SRC, "data_src"),
        (PERF_SAMPLE_TRANSACTION, "transaction"),
        (PERF_SAMPLE_PHYS_ADDR, "phys_addr"),
        (PERF_SAMPLE_CGROUP, "cgroup"),
        (PERF_SAMPLE_DATA_PAGE_SIZE, "data_page_size"),
        (PERF_SAMPLE_CODE_PAGE_SIZE, "code_page_size"),
    ];
    let mut vals: Vec<Vec<u64>> = vec![Vec::new(); cols.len()];
    let mut misc = Vec::new();
    let (mut cc_nr, mut cc) = (Vec::new(), Vec::new());
    for r in recs {
        let dr = decode_record(r, fmt).map_err(to_py)?;
        let Some(Record {
            body: RecordBody::Sample(s),
            ..
        }) = dr.record
        else {
            continue;
        };
        let f = [
            s.ip,
            u64::from(s.pid),
            u64::from(s.tid),
            s.time,
            s.addr,
            s.id,
            s.stream_id,
            u64::from(s.cpu),
            s.period,
            s.weight,
            s.data_src,
            s.transaction,
            s.phys_addr,
            s.cgroup,
            s.data_page_size,
            s.code_page_size,
        ];
        for (i, v) in f.into_iter().enumerate() {
            vals[i].push(v);
        }
        misc.push(s.misc);
        cc_nr.push(s.callchain.len() as u64);
        cc.extend_from_slice(&s.callchain);
    }
    let d = PyDict::new(py);
    d.set_item("misc", misc.into_pyarray(py))?;
    for ((bit, name), v) in cols.iter().zip(vals) {
        if st & bit != 0 {
            if matches!(*name, "pid" | "tid" | "cpu") {
                d.set_item(
                    *name,
                    v.into_iter()
                        .map(|x| x as u32)
                        .collect::<Vec<u32>>()
                        .into_pyarray(py),
                )?;
            } else {
                d.set_item(*name, v.into_pyarray(py))?;
            }
        }
    }
    if st & PERF_SAMPLE_CALLCHAIN != 0 {
        d.set_item("callchain_nr", cc_nr.into_pyarray(py))?;
        d.set_item("callchain", cc.into_pyarray(py))?;
    }
    Ok(d)
}

fn format_from(
    sample_type: &Bound<'_, PyAny>,
    read_format: &Bound<'_, PyAny>,
    sample_id_all: bool,
    branch_sample_type: &Bound<'_, PyAny>,
    sample_regs_user: u64,
    sample_regs_intr: u64,
) -> PyResult<OutputFormat> {
    let st = mask_arg("sample_type", SAMPLE_TYPE_NAMES, sample_type)?;
    let rf = mask_arg("read_format", READ_FORMAT_NAMES, read_format)?;
    let bst = mask_arg(
        "branch_sample_type",
        BRANCH_SAMPLE_NAMES,
        branch_sample_type,
    )?;
    OutputFormat::new(
        st,
        rf,
        sample_id_all,
        bst,
        sample_regs_user,
        sample_regs_intr,
    )
    .map_err(to_py)
}

/// How records of one event look: encode and decode them.
#[pyclass(module = "perfcore._core", name = "RecordFormat", frozen)]
pub struct PyRecordFormat {
    fmt: OutputFormat,
}

#[pymethods]
impl PyRecordFormat {
    #[new]
    #[pyo3(signature = (sample_type=None, read_format=None, sample_id_all=false, branch_sample_type=None, sample_regs_user=0, sample_regs_intr=0))]
    fn new(
        py: Python<'_>,
        sample_type: Option<&Bound<'_, PyAny>>,
        read_format: Option<&Bound<'_, PyAny>>,
        sample_id_all: bool,
        branch_sample_type: Option<&Bound<'_, PyAny>>,
        sample_regs_user: u64,
        sample_regs_intr: u64,
    ) -> PyResult<Self> {
        g(|| {
            let zero = 0u64.into_pyobject(py)?.into_any();
            let fmt = format_from(
                sample_type.unwrap_or(&zero),
                read_format.unwrap_or(&zero),
                sample_id_all,
                branch_sample_type.unwrap_or(&zero),
                sample_regs_user,
                sample_regs_intr,
            )?;
            Ok(PyRecordFormat { fmt })
        })
    }

    /// `attr.sample_type`.
    #[getter]
    fn sample_type(&self) -> u64 {
        self.fmt.sample_type
    }
    /// `attr.read_format`.
    #[getter]
    fn read_format(&self) -> u64 {
        self.fmt.read_format
    }
    /// `attr.sample_id_all`.
    #[getter]
    fn sample_id_all(&self) -> bool {
        self.fmt.sample_id_all
    }
    /// Size of the sample_id fields (`id_header_size`).
    #[getter]
    fn id_header_size(&self) -> usize {
        self.fmt.id_header_size()
    }

    /// Encode a PERF_RECORD_SAMPLE from keyword fields.
    #[pyo3(signature = (**fields))]
    fn encode_sample<'py>(
        &self,
        py: Python<'py>,
        fields: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        g(|| {
            let empty = PyDict::new(py);
            let s = sample_from(fields.unwrap_or(&empty))?;
            let b = self.fmt.sample_bytes(&s).map_err(to_py)?;
            Ok(PyBytes::new(py, &b))
        })
    }

    /// Encode any record: `kind` ("comm", "mmap2", ...), `misc`, fields, `sample_id=`.
    #[pyo3(signature = (kind, misc=0, **fields))]
    fn encode_record<'py>(
        &self,
        py: Python<'py>,
        kind: &str,
        misc: u16,
        fields: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        g(|| {
            let empty = PyDict::new(py);
            let r = record_from(kind, misc, fields.unwrap_or(&empty))?;
            let b = r.to_bytes(&self.fmt).map_err(to_py)?;
            Ok(PyBytes::new(py, &b))
        })
    }

    /// Decode a contiguous record stream into a list of dicts.
    fn decode<'py>(&self, py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyList>> {
        g(|| {
            let spans = split_records(data).map_err(to_py)?;
            let recs: Vec<Vec<u8>> = spans
                .into_iter()
                .map(|(o, n)| data[o..o + n].to_vec())
                .collect();
            decode_list(py, &recs, &self.fmt)
        })
    }

    /// Decode the samples of a stream into a dict of numpy arrays (other records skipped).
    fn decode_samples<'py>(&self, py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyDict>> {
        g(|| {
            let spans = split_records(data).map_err(to_py)?;
            let recs: Vec<Vec<u8>> = spans
                .into_iter()
                .map(|(o, n)| data[o..o + n].to_vec())
                .collect();
            samples_columns(py, &recs, &self.fmt)
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "RecordFormat(sample_type={:#x}, read_format={:#x}, sample_id_all={})",
            self.fmt.sample_type, self.fmt.read_format, self.fmt.sample_id_all
        )
    }
}

enum ViewOwner {
    Ring(RingConsumer),
    Aux(AuxConsumer),
}

/// A read-only, zero-copy view of ring pages (user page + data pages) or of the AUX area,
/// for `memoryview()` / `numpy.frombuffer()`. The memory lives as long as this object.
#[pyclass(module = "perfcore._core", name = "PageView", frozen)]
pub struct PageView {
    owner: ViewOwner,
}

impl PageView {
    fn raw(&self) -> (*const u8, usize) {
        match &self.owner {
            ViewOwner::Ring(c) => c.raw_pages(),
            ViewOwner::Aux(a) => a.raw_pages(),
        }
    }
}

#[pymethods]
impl PageView {
    /// Number of bytes.
    fn __len__(&self) -> usize {
        self.raw().1
    }

    /// Export the bytes read-only (PEP 3118).
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut pyo3::ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        g(|| {
            if flags & pyo3::ffi::PyBUF_WRITABLE == pyo3::ffi::PyBUF_WRITABLE {
                return Err(PyBufferError::new_err(
                    "ring pages are read-only; use set_data_tail() / set_aux_tail()",
                ));
            }
            let (ptr, len) = slf.get().raw();
            // SAFETY: `ptr` points at `len` bytes of a boxed slice owned (through an Arc) by
            // `slf`, which the buffer keeps alive (view.obj) and which never moves or shrinks.
            // The export is read-only; writers update the words atomically, so readers see what
            // a process sees through its mapping.
            let rc = unsafe {
                pyo3::ffi::PyBuffer_FillInfo(
                    view,
                    slf.as_ptr(),
                    ptr as *mut std::ffi::c_void,
                    len as isize,
                    1,
                    flags,
                )
            };
            if rc == -1 {
                return Err(PyErr::fetch(slf.py()));
            }
            Ok(())
        })
    }

    unsafe fn __releasebuffer__(&self, _view: *mut pyo3::ffi::Py_buffer) {}
}

struct State {
    rb: RingBuffer,
    ev: OutputEvent,
    handles: HashMap<u64, Handle>,
    next_handle: u64,
    aux_handle: Option<AuxHandle>,
    trace: TracePmu,
}

/// A standalone perf ring buffer: the kernel side (producer API) and the user side
/// (consumer API) of one mapping, with an optional AUX area and a simulated trace PMU.
#[pyclass(module = "perfcore._core", name = "RingBuffer", frozen)]
pub struct PyRingBuffer {
    state: Mutex<State>,
    consumer: RingConsumer,
    fmt: OutputFormat,
}

impl PyRingBuffer {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn aux_consumer(&self) -> PyResult<AuxConsumer> {
        self.consumer
            .aux()
            .ok_or_else(|| usage("this ring has no AUX area (aux_pages=0)"))
    }
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
                rb.set_aux_area(
                    (1 + u64::from(data_pages)) * page,
                    u64::from(aux_pages) * page,
                );
            }
            let consumer = rb.consumer();
            let ev = OutputEvent {
                id: event_id,
                format: fmt,
            };
            Ok(PyRingBuffer {
                state: Mutex::new(State {
                    rb,
                    ev,
                    handles: HashMap::new(),
                    next_handle: 1,
                    aux_handle: None,
                    trace: TracePmu::default(),
                }),
                consumer,
                fmt,
            })
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
            let mut st = self.lock();
            let ev = st.ev;
            st.rb.write_sample(&ev, &s).map_err(to_py)
        })
    }

    /// Output `n` samples whose fixed fields come from equal-length integer sequences (e.g.
    /// numpy arrays) or scalars; runs without the GIL. Returns how many were written.
    #[pyo3(signature = (n, **columns))]
    fn write_samples(
        &self,
        py: Python<'_>,
        n: usize,
        columns: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<usize> {
        let empty = PyDict::new(py);
        let cols = columns.unwrap_or(&empty);
        check_keys(cols, "write_samples", SAMPLE_KEYS)?;
        let mut data: Vec<(String, Vec<u64>)> = Vec::new();
        for (k, v) in cols.iter() {
            let k: String = k.extract()?;
            let col: Vec<u64> = if let Ok(x) = v.extract::<u64>() {
                vec![x; n]
            } else {
                v.extract()?
            };
            if col.len() != n {
                return Err(usage(format!(
                    "column {k} has {} values, expected {n}",
                    col.len()
                )));
            }
            data.push((k, col));
        }
        guard::detached(py, || {
            let mut st = self.lock();
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
                if st.rb.write_sample(&ev, &s)? {
                    written += 1;
                }
            }
            Ok(written)
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
            let mut st = self.lock();
            let ev = st.ev;
            st.rb.write_record(&ev, &r).map_err(to_py)
        })
    }

    /// Output an already-encoded record; `sample_id` serves a LOST record written first.
    #[pyo3(signature = (data, sample_id=None))]
    fn write_bytes(&self, data: &[u8], sample_id: Option<&Bound<'_, PyAny>>) -> PyResult<bool> {
        g(|| {
            let ids = ids_from(sample_id)?;
            let mut st = self.lock();
            let ev = st.ev;
            st.rb.write_bytes(&ev, data, &ids).map_err(to_py)
        })
    }

    /// PERF_RECORD_LOST_SAMPLES {lost} (PMU-side drops).
    #[pyo3(signature = (lost, sample_id=None))]
    fn write_lost_samples(
        &self,
        lost: u64,
        sample_id: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        g(|| {
            let r = Record {
                misc: 0,
                body: RecordBody::LostSamples { lost },
                sample_id: ids_from(sample_id)?,
            };
            let mut st = self.lock();
            let ev = st.ev;
            st.rb.write_record(&ev, &r).map_err(to_py)
        })
    }

    /// Reserve `size` bytes for a record written piecewise (an outer writer that a nested
    /// one may interrupt). Returns a handle id, or None when dropped.
    #[pyo3(signature = (size, sample_id=None))]
    fn begin(&self, size: usize, sample_id: Option<&Bound<'_, PyAny>>) -> PyResult<Option<u64>> {
        g(|| {
            let ids = ids_from(sample_id)?;
            let mut st = self.lock();
            let ev = st.ev;
            match st.rb.begin(&ev, size, &ids).map_err(to_py)? {
                Some(h) => {
                    let id = st.next_handle;
                    st.next_handle += 1;
                    st.handles.insert(id, h);
                    Ok(Some(id))
                }
                None => Ok(None),
            }
        })
    }

    /// Write bytes into an open reservation.
    fn put(&self, handle: u64, data: &[u8]) -> PyResult<()> {
        g(|| {
            let mut st = self.lock();
            let mut h = st
                .handles
                .remove(&handle)
                .ok_or_else(|| usage(format!("no open reservation {handle}")))?;
            let r = st.rb.put(&mut h, data);
            st.handles.insert(handle, h);
            r.map_err(to_py)
        })
    }

    /// Finish a reservation (the outermost end publishes data_head).
    fn end(&self, handle: u64) -> PyResult<()> {
        g(|| {
            let mut st = self.lock();
            let h = st
                .handles
                .remove(&handle)
                .ok_or_else(|| usage(format!("no open reservation {handle}")))?;
            st.rb.end(h).map_err(to_py)
        })
    }

    /// PERF_EVENT_IOC_PAUSE_OUTPUT (EINVAL on a ring without data pages).
    fn pause_output(&self, pause: bool) -> PyResult<()> {
        g(|| self.lock().rb.pause_output(pause).map_err(to_py))
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
            self.lock().rb.update_userpage(&UserPageCounters {
                index,
                offset,
                time_enabled,
                time_running,
                capabilities,
                pmc_width,
            });
            Ok(())
        })
    }

    /// perf_aux_output_begin(): True when the driver got a handle (then aux_write /
    /// aux_output_skip / aux_output_flag / aux_output_end).
    fn aux_output_begin(&self) -> PyResult<Option<(u64, u64)>> {
        g(|| {
            let mut st = self.lock();
            if st.aux_handle.is_some() {
                return Ok(None);
            }
            let h = st.rb.aux_output_begin();
            st.aux_handle = h;
            Ok(h.map(|h| (h.head, h.size)))
        })
    }

    /// Write trace bytes through the open AUX handle; returns how many were taken.
    fn aux_write(&self, data: &[u8]) -> PyResult<usize> {
        g(|| {
            let mut st = self.lock();
            let mut h = st
                .aux_handle
                .ok_or_else(|| usage("aux_write without aux_output_begin"))?;
            let n = st.rb.aux_write(&mut h, data).map_err(to_py)?;
            st.aux_handle = Some(h);
            Ok(n)
        })
    }

    /// perf_aux_output_skip().
    fn aux_output_skip(&self, size: u64) -> PyResult<()> {
        g(|| {
            let mut st = self.lock();
            let mut h = st
                .aux_handle
                .ok_or_else(|| usage("aux_output_skip without aux_output_begin"))?;
            let r = st.rb.aux_output_skip(&mut h, size);
            st.aux_handle = Some(h);
            r.map_err(to_py)
        })
    }

    /// perf_aux_output_flag().
    fn aux_output_flag(&self, flags: u64) -> PyResult<()> {
        g(|| {
            let mut st = self.lock();
            let mut h = st
                .aux_handle
                .ok_or_else(|| usage("aux_output_flag without aux_output_begin"))?;
            st.rb.aux_output_flag(&mut h, flags).map_err(to_py)?;
            st.aux_handle = Some(h);
            Ok(())
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
            let mut st = self.lock();
            let h = st
                .aux_handle
                .take()
                .ok_or_else(|| usage("aux_output_end without aux_output_begin"))?;
            let ev = st.ev;
            let e = st.rb.aux_output_end(h, size, &ev, &ids).map_err(to_py)?;
            aux_end_to(py, &e)
        })
    }

    /// Trace PMU: event sched-in (PERF_RECORD_ITRACE_START before the first start).
    #[pyo3(signature = (sample_id=None))]
    fn trace_sched_in(&self, sample_id: Option<&Bound<'_, PyAny>>) -> PyResult<bool> {
        g(|| {
            let ids = ids_from(sample_id)?;
            let mut st = self.lock();
            let (ev, mut t) = (st.ev, st.trace);
            let r = t.sched_in(&mut st.rb, &ev, &ids).map_err(to_py);
            st.trace = t;
            r
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
            let mut st = self.lock();
            let (ev, mut t) = (st.ev, st.trace);
            let r = t.run(&mut st.rb, &ev, &ids, nbytes, flags);
            st.trace = t;
            r
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
            let v = Bound::new(
                py,
                PageView {
                    owner: ViewOwner::Ring(self.consumer.clone()),
                },
            )?;
            PyMemoryView::from(v.as_any())
        })
    }

    /// Zero-copy read-only view of the AUX area.
    fn aux_pages<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyMemoryView>> {
        g(|| {
            let v = Bound::new(
                py,
                PageView {
                    owner: ViewOwner::Aux(self.aux_consumer()?),
                },
            )?;
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
    fn aux_copy<'py>(
        &self,
        py: Python<'py>,
        position: u64,
        length: usize,
    ) -> PyResult<Bound<'py, PyBytes>> {
        g(|| {
            let a = self.aux_consumer()?;
            if length as u64 > a.size() {
                return Err(usage(format!(
                    "length {length} exceeds aux_size {}",
                    a.size()
                )));
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
        g(|| Ok(self.lock().rb.poll()))
    }

    /// Counters: records, bytes, lost, lost_records, lost_reported, wakeups, pending_lost,
    /// aux_disable_requests.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        g(|| {
            let st = self.lock();
            let s = st.rb.stats();
            let d = PyDict::new(py);
            for (k, v) in [
                ("records", s.records),
                ("bytes", s.bytes),
                ("lost", s.lost),
                ("lost_records", s.lost_records),
                ("lost_reported", s.lost_reported),
                ("wakeups", s.wakeups),
                ("pending_lost", st.rb.pending_lost()),
                ("aux_disable_requests", st.rb.aux_disable_requests()),
            ] {
                d.set_item(k, v)?;
            }
            Ok(d)
        })
    }

    /// perf_output_wakeup() calls so far.
    #[getter]
    fn wakeups(&self) -> PyResult<u64> {
        g(|| Ok(self.lock().rb.stats().wakeups))
    }
    /// `rb->head` (kernel side).
    #[getter]
    fn head(&self) -> PyResult<u64> {
        g(|| Ok(self.lock().rb.head()))
    }
    /// `rb->nest`.
    #[getter]
    fn nest(&self) -> PyResult<u32> {
        g(|| Ok(self.lock().rb.nest()))
    }
    /// `rb->paused`.
    #[getter]
    fn paused(&self) -> PyResult<bool> {
        g(|| Ok(self.lock().rb.paused()))
    }
    /// Overwrite mode (read-only creating mapping).
    #[getter]
    fn overwrite(&self) -> PyResult<bool> {
        g(|| Ok(self.lock().rb.overwrite()))
    }
    /// `rb->watermark` in bytes.
    #[getter]
    fn watermark(&self) -> PyResult<u64> {
        g(|| Ok(self.lock().rb.watermark()))
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
#[pyfunction]
#[pyo3(name = "trace_bytes")]
fn py_trace_bytes<'py>(
    py: Python<'py>,
    start: u64,
    length: usize,
) -> PyResult<Bound<'py, PyBytes>> {
    g(|| {
        if length > 1 << 30 {
            return Err(usage(format!("length {length} is too large (max 1 GiB)")));
        }
        let mut v = vec![0u8; length];
        perfcore::output::trace_bytes(start, &mut v);
        Ok(PyBytes::new(py, &v))
    })
}

/// perf_mmap() checks: returns {action, ..., user_extra, extra} or raises PerfError with the
/// kernel's errno.
#[pyfunction]
#[pyo3(signature = (length, pgoff=0, shared=true, prot_write=true, cpu=0, inherit=false, revoked=false,
    pmu_has_aux=false, write_backward=false, rb_data_pages=None, rb_mmap_count=1, aux_pgoff=None,
    aux_nr_pages=None, user_aux_offset=0, user_aux_size=0, perf_event_mlock_kb=516, nr_online_cpus=2,
    user_locked_vm=0, pinned_vm=0, rlimit_memlock=8388608, cap_ipc_lock=false, perf_event_paranoid=2,
    allow_non_pow2_aux=false, lsm_errno=None))]
#[allow(clippy::too_many_arguments)]
fn mmap_check<'py>(
    py: Python<'py>,
    length: u64,
    pgoff: u64,
    shared: bool,
    prot_write: bool,
    cpu: i32,
    inherit: bool,
    revoked: bool,
    pmu_has_aux: bool,
    write_backward: bool,
    rb_data_pages: Option<u64>,
    rb_mmap_count: u32,
    aux_pgoff: Option<u64>,
    aux_nr_pages: Option<u64>,
    user_aux_offset: u64,
    user_aux_size: u64,
    perf_event_mlock_kb: u64,
    nr_online_cpus: u32,
    user_locked_vm: u64,
    pinned_vm: u64,
    rlimit_memlock: u64,
    cap_ipc_lock: bool,
    perf_event_paranoid: i32,
    allow_non_pow2_aux: bool,
    lsm_errno: Option<i32>,
) -> PyResult<Bound<'py, PyDict>> {
    g(|| {
        let aux = match (aux_pgoff, aux_nr_pages) {
            (Some(pgoff), Some(nr_pages)) => Some(mmap_rules::AuxView { pgoff, nr_pages }),
            (None, None) => None,
            _ => return Err(usage("aux_pgoff and aux_nr_pages go together")),
        };
        let rb = rb_data_pages.map(|data_pages| RbView {
            data_pages,
            mmap_count: rb_mmap_count,
            aux,
            user_aux_offset,
            user_aux_size,
        });
        let ev = MmapEventView {
            cpu,
            inherit,
            revoked,
            pmu_has_aux,
            write_backward,
            rb,
        };
        let req = MmapRequest {
            len: length,
            pgoff,
            shared,
            prot_write,
        };
        let acct = MmapAccounting {
            perf_event_mlock_kb,
            nr_online_cpus,
            user_locked_vm,
            pinned_vm,
            rlimit_memlock,
            cap_ipc_lock,
            perf_event_paranoid,
        };
        let lsm_denies =
            match lsm_errno {
                Some(c) => Some(Errno::from_code(c).ok_or_else(|| {
                    usage(format!("lsm_errno {c} is not an errno the model knows"))
                })?),
                None => None,
            };
        let o = mmap_rules::perf_mmap(
            &ev,
            &req,
            &acct,
            &MmapOptions {
                aux_require_pow2: !allow_non_pow2_aux,
                lsm_denies,
            },
        )
        .map_err(to_py)?;
        let d = PyDict::new(py);
        match o.action {
            MmapAction::CreateRb {
                data_pages,
                overwrite,
                backward,
            } => {
                d.set_item("action", "create_rb")?;
                d.set_item("data_pages", data_pages)?;
                d.set_item("overwrite", overwrite)?;
                d.set_item("backward", backward)?;
            }
            MmapAction::ShareRb => d.set_item("action", "share_rb")?,
            MmapAction::CreateAux {
                nr_pages,
                pgoff,
                overwrite,
            } => {
                d.set_item("action", "create_aux")?;
                d.set_item("nr_pages", nr_pages)?;
                d.set_item("pgoff", pgoff)?;
                d.set_item("overwrite", overwrite)?;
            }
            MmapAction::ShareAux => d.set_item("action", "share_aux")?,
        }
        d.set_item("user_extra", o.user_extra)?;
        d.set_item("extra", o.extra)?;
        Ok(d)
    })
}

/// Register the classes and functions.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRingBuffer>()?;
    m.add_class::<PyRecordFormat>()?;
    m.add_class::<PageView>()?;
    m.add_function(wrap_pyfunction!(py_trace_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(mmap_check, m)?)?;
    Ok(())
}
