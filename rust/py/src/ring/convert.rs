//! Conversions between Python values (dicts, ints, masks as strings) and the core's record
//! types, and the guard helper every binding body runs through.

use crate::errors::to_py;
use crate::guard;
use numpy::IntoPyArray;
use perfcore::abi::names::{parse_mask, BRANCH_SAMPLE_NAMES, READ_FORMAT_NAMES, SAMPLE_TYPE_NAMES};
use perfcore::abi::record::*;
use perfcore::abi::sample::*;
use perfcore::output::*;
use perfcore::Error;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

/// Run a whole binding body inside `guard::guard` (panics -> InternalError).
pub(crate) fn g<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    guard::guard(|| Ok(f()))?
}

pub(crate) fn usage(m: impl Into<String>) -> PyErr {
    to_py(Error::Usage(m.into()))
}

pub(crate) fn mask_arg(field: &str, table: &[(&str, u64)], v: &Bound<'_, PyAny>) -> PyResult<u64> {
    if let Ok(n) = v.extract::<u64>() {
        return Ok(n);
    }
    let s: String = v.extract().map_err(|_| usage(format!("{field} must be an int or a '|'-separated string")))?;
    parse_mask(field, table, &s).map_err(to_py)
}

pub(crate) fn u64_of(d: &Bound<'_, PyDict>, k: &str) -> PyResult<u64> {
    match d.get_item(k)? {
        Some(v) => v.extract::<u64>().map_err(|_| usage(format!("{k} must be an unsigned 64-bit int, got {v}"))),
        None => Ok(0),
    }
}
pub(crate) fn u32_of(d: &Bound<'_, PyDict>, k: &str) -> PyResult<u32> {
    match d.get_item(k)? {
        Some(v) => v.extract::<u32>().map_err(|_| usage(format!("{k} must be an unsigned 32-bit int, got {v}"))),
        None => Ok(0),
    }
}
pub(crate) fn str_of(d: &Bound<'_, PyDict>, k: &str) -> PyResult<String> {
    match d.get_item(k)? {
        Some(v) => v.extract::<String>().map_err(|_| usage(format!("{k} must be a str"))),
        None => Ok(String::new()),
    }
}
pub(crate) fn check_keys(d: &Bound<'_, PyDict>, what: &str, allowed: &[&str]) -> PyResult<()> {
    for k in d.keys() {
        let k: String = k.extract()?;
        if !allowed.contains(&k.as_str()) && !["type", "type_id", "size", "misc", "sample_id"].contains(&k.as_str()) {
            return Err(usage(format!("{what}: unknown field {k:?} (known: {})", allowed.join(", "))));
        }
    }
    Ok(())
}

pub(crate) const SAMPLE_KEYS: &[&str] = &[
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

pub(crate) fn read_from(v: &Bound<'_, PyAny>) -> PyResult<ReadValues> {
    let d = v
        .cast::<PyDict>()
        .map_err(|_| usage("read must be a dict {time_enabled, time_running, values: [{value, id, lost}]}"))?;
    let mut r = ReadValues {
        time_enabled: u64_of(d, "time_enabled")?,
        time_running: u64_of(d, "time_running")?,
        values: vec![],
    };
    if let Some(vals) = d.get_item("values")? {
        for item in vals.try_iter()? {
            let item = item?;
            let e = item.cast::<PyDict>().map_err(|_| usage("read.values items must be dicts {value, id, lost}"))?;
            r.values.push(ReadValue { value: u64_of(e, "value")?, id: u64_of(e, "id")?, lost: u64_of(e, "lost")? });
        }
    }
    Ok(r)
}

pub(crate) fn regs_from(v: &Bound<'_, PyAny>, k: &str) -> PyResult<Regs> {
    let d = v.cast::<PyDict>().map_err(|_| usage(format!("{k} must be a dict {{abi, regs}}")))?;
    let regs = match d.get_item("regs")? {
        Some(r) => r.extract::<Vec<u64>>()?,
        None => vec![],
    };
    Ok(Regs { abi: u64_of(d, "abi")?, regs })
}

/// A SampleData from keyword fields (unknown keys are an error naming the key).
pub(crate) fn sample_from(d: &Bound<'_, PyDict>) -> PyResult<SampleData> {
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
        s.raw = if v.is_none() { None } else { Some(v.extract::<Vec<u8>>()?) };
    }
    if let Some(v) = d.get_item("branch")? {
        if !v.is_none() {
            let b = v
                .cast::<PyDict>()
                .map_err(|_| usage("branch must be a dict {hw_idx, entries: [(from, to, flags)], counters}"))?;
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
                entries: entries.into_iter().map(|(from, to, flags)| BranchEntry { from, to, flags }).collect(),
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

pub(crate) fn ids_from(v: Option<&Bound<'_, PyAny>>) -> PyResult<SampleId> {
    let Some(v) = v else {
        return Ok(SampleId::default());
    };
    if v.is_none() {
        return Ok(SampleId::default());
    }
    let d = v.cast::<PyDict>().map_err(|_| usage("sample_id must be a dict {pid, tid, time, id, stream_id, cpu}"))?;
    check_keys(d, "sample_id", &["pid", "tid", "time", "id", "stream_id", "cpu"])?;
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
pub(crate) fn record_from(kind: &str, misc: u16, d: &Bound<'_, PyDict>) -> PyResult<Record> {
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
            RecordBody::Mmap {
                pid: u32_of(d, "pid")?,
                tid: u32_of(d, "tid")?,
                addr: u64_of(d, "addr")?,
                len: u64_of(d, "len")?,
                pgoff: u64_of(d, "pgoff")?,
                filename: str_of(d, "filename")?,
            }
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
            check_keys(
                d,
                kind,
                &[
                    "pid",
                    "tid",
                    "addr",
                    "len",
                    "pgoff",
                    "maj",
                    "min",
                    "ino",
                    "ino_generation",
                    "build_id",
                    "prot",
                    "flags",
                    "filename",
                ],
            )?;
            let file = match d.get_item("build_id")? {
                Some(b) if !b.is_none() => Mmap2File::BuildId(b.extract()?),
                _ => Mmap2File::Inode {
                    maj: u32_of(d, "maj")?,
                    min: u32_of(d, "min")?,
                    ino: u64_of(d, "ino")?,
                    ino_generation: u64_of(d, "ino_generation")?,
                },
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
            RecordBody::Aux {
                offset: u64_of(d, "aux_offset")?,
                size: u64_of(d, "aux_size")?,
                flags: u64_of(d, "flags")?,
            }
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
            RecordBody::SwitchCpuWide {
                next_prev_pid: u32_of(d, "next_prev_pid")?,
                next_prev_tid: u32_of(d, "next_prev_tid")?,
            }
        }
        other => {
            return Err(usage(format!(
            "unknown record kind {other:?} (known: sample, mmap, lost, comm, exit, throttle, unthrottle, fork, read, \
                 mmap2, aux, itrace_start, lost_samples, switch, switch_cpu_wide)"
        )))
        }
    };
    Ok(Record { misc, body, sample_id })
}

pub(crate) fn kind_name(type_: u32) -> &'static str {
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

pub(crate) fn read_to<'py>(py: Python<'py>, r: &ReadValues) -> PyResult<Bound<'py, PyDict>> {
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

pub(crate) fn regs_to<'py>(py: Python<'py>, r: &Regs) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("abi", r.abi)?;
    d.set_item("regs", r.regs.clone())?;
    Ok(d)
}

pub(crate) fn sample_to(py: Python<'_>, d: &Bound<'_, PyDict>, s: &SampleData, st: u64) -> PyResult<()> {
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
        (PERF_SAMPLE_DATA_PAGE_SIZE, "data_page_size", s.data_page_size),
        (PERF_SAMPLE_CODE_PAGE_SIZE, "code_page_size", s.code_page_size),
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
                let e: Vec<(u64, u64, u64)> = b.entries.iter().map(|e| (e.from, e.to, e.flags)).collect();
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

pub(crate) fn ids_to<'py>(py: Python<'py>, i: &SampleId) -> PyResult<Bound<'py, PyDict>> {
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
pub(crate) fn decoded_to<'py>(
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
        RecordBody::Mmap { pid, tid, addr, len, pgoff, filename } => {
            for (k, v) in
                [("pid", u64::from(*pid)), ("tid", u64::from(*tid)), ("addr", *addr), ("len", *len), ("pgoff", *pgoff)]
            {
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
        RecordBody::Throttle { time, id, stream_id } | RecordBody::Unthrottle { time, id, stream_id } => {
            d.set_item("time", time)?;
            d.set_item("id", id)?;
            d.set_item("stream_id", stream_id)?;
        }
        RecordBody::Read { pid, tid, values } => {
            d.set_item("pid", pid)?;
            d.set_item("tid", tid)?;
            d.set_item("values", read_to(py, values)?)?;
        }
        RecordBody::Mmap2 { pid, tid, addr, len, pgoff, file, prot, flags, filename } => {
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
                Mmap2File::Inode { maj, min, ino, ino_generation } => {
                    d.set_item("maj", maj)?;
                    d.set_item("min", min)?;
                    d.set_item("ino", ino)?;
                    d.set_item("ino_generation", ino_generation)?;
                }
                Mmap2File::BuildId(b) => d.set_item("build_id", PyBytes::new(py, b))?,
            }
            d.set_item("filename", filename)?;
        }
        RecordBody::Aux { offset, size, flags } => {
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
        RecordBody::SwitchCpuWide { next_prev_pid, next_prev_tid } => {
            d.set_item("next_prev_pid", next_prev_pid)?;
            d.set_item("next_prev_tid", next_prev_tid)?;
        }
    }
    if dr.type_ != PERF_RECORD_SAMPLE && fmt.sample_id_all {
        d.set_item("sample_id", ids_to(py, &r.sample_id)?)?;
    }
    Ok(d)
}

pub(crate) fn decode_list<'py>(py: Python<'py>, recs: &[Vec<u8>], fmt: &OutputFormat) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    for r in recs {
        let dr = decode_record(r, fmt).map_err(to_py)?;
        out.append(decoded_to(py, r, &dr, fmt)?)?;
    }
    Ok(out)
}

/// Columns of samples: one numpy array per fixed field present, plus callchain as
/// `callchain_nr` and the flat `callchain`.
pub(crate) fn samples_columns<'py>(
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
        let Some(Record { body: RecordBody::Sample(s), .. }) = dr.record else {
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
                d.set_item(*name, v.into_iter().map(|x| x as u32).collect::<Vec<u32>>().into_pyarray(py))?;
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

pub(crate) fn format_from(
    sample_type: &Bound<'_, PyAny>,
    read_format: &Bound<'_, PyAny>,
    sample_id_all: bool,
    branch_sample_type: &Bound<'_, PyAny>,
    sample_regs_user: u64,
    sample_regs_intr: u64,
) -> PyResult<OutputFormat> {
    let st = mask_arg("sample_type", SAMPLE_TYPE_NAMES, sample_type)?;
    let rf = mask_arg("read_format", READ_FORMAT_NAMES, read_format)?;
    let bst = mask_arg("branch_sample_type", BRANCH_SAMPLE_NAMES, branch_sample_type)?;
    OutputFormat::new(st, rf, sample_id_all, bst, sample_regs_user, sample_regs_intr).map_err(to_py)
}
