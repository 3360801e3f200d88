//! Bindings of `perfcore::perfdata`: `read_perf_data()` -> `PerfData` (header, attrs, features,
//! records as dicts, or a lazy `PerfDataRecords` iterator for large files) and
//! `PerfDataWriter` (attrs, then records as dicts, samples or bytes; `finish()` renames the
//! file into place). Conversion only: the file rules live in the core.

use crate::attr::PyAttr;
use crate::errors::to_py;
use crate::ring::convert::{decoded_to, g, record_from, sample_from, samples_columns, usage};
use numpy::IntoPyArray;
use perfcore::abi::record::PERF_RECORD_SAMPLE;
use perfcore::output::{Record, RecordBody};
use perfcore::perfdata::header::feature_name;
use perfcore::perfdata::*;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use std::fs::File;
use std::io::BufReader;
use std::sync::{Arc, Mutex, MutexGuard};

/// One file record as a dict: what `RecordFormat.decode` gives, plus `offset` (file offset of
/// the header) and `attr` (index of its attr, None for tool records); records perfcore does not
/// decode carry `raw` bytes and their perf name in lower case (`finished_round`, `ksymbol`).
fn record_to<'py>(py: Python<'py>, r: &FileRecord, evlist: &EventList) -> PyResult<Bound<'py, PyDict>> {
    let fmt = r.attr.and_then(|i| evlist.format(i)).copied().unwrap_or_default();
    let d = decoded_to(py, &r.bytes, &r.decoded, &fmt)?;
    if r.decoded.record.is_none() {
        let name = record_type_name(r.decoded.type_).map_or("unknown".to_string(), |n| n.to_ascii_lowercase());
        d.set_item("type", name)?;
    }
    d.set_item("offset", r.offset)?;
    d.set_item("attr", r.attr)?;
    Ok(d)
}

fn attrs_to<'py>(py: Python<'py>, evlist: &EventList) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    for fa in evlist.attrs() {
        let d = PyDict::new(py);
        d.set_item("attr", PyAttr { inner: fa.attr })?;
        d.set_item("ids", fa.ids.clone())?;
        d.set_item("name", fa.name.clone())?;
        out.append(d)?;
    }
    Ok(out)
}

fn features_to<'py>(py: Python<'py>, f: &Features) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in [("hostname", &f.hostname), ("osrelease", &f.osrelease), ("version", &f.version), ("arch", &f.arch)] {
        if let Some(v) = v {
            d.set_item(k, v)?;
        }
    }
    if let Some((avail, online)) = f.nrcpus {
        let n = PyDict::new(py);
        n.set_item("available", avail)?;
        n.set_item("online", online)?;
        d.set_item("nrcpus", n)?;
    }
    if let Some(c) = &f.cmdline {
        d.set_item("cmdline", c.clone())?;
    }
    if let Some(descs) = &f.event_desc {
        let l = PyList::empty(py);
        for e in descs {
            let x = PyDict::new(py);
            x.set_item("name", &e.name)?;
            x.set_item("ids", e.ids.clone())?;
            x.set_item("attr", PyAttr { inner: e.attr })?;
            l.append(x)?;
        }
        d.set_item("event_desc", l)?;
    }
    if let Some(t) = f.sample_time {
        d.set_item("sample_time", t)?;
    }
    if !f.other.is_empty() {
        let o = PyDict::new(py);
        for (bit, p) in &f.other {
            o.set_item(feature_name(*bit), PyBytes::new(py, p))?;
        }
        d.set_item("other", o)?;
    }
    Ok(d)
}

/// A parsed perf.data file: header, attrs, features; records on demand.
#[pyclass(module = "perfcore._core", name = "PerfData", frozen)]
pub struct PyPerfData {
    reader: PerfDataReader,
}

#[pymethods]
impl PyPerfData {
    /// The file's path.
    #[getter]
    fn path(&self) -> String {
        self.reader.path().display().to_string()
    }

    /// The header: attr_size, attrs / data / event_types sections as (offset, size),
    /// feature bit numbers, and the file size.
    #[getter]
    fn header<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        g(|| {
            let h = &self.reader.data().header;
            let d = PyDict::new(py);
            d.set_item("attr_size", h.attr_size)?;
            d.set_item("attrs", (h.attrs.offset, h.attrs.size))?;
            d.set_item("data", (h.data.offset, h.data.size))?;
            d.set_item("event_types", (h.event_types.offset, h.event_types.size))?;
            d.set_item("features", h.feature_bits())?;
            d.set_item("file_size", self.reader.data().file_len)?;
            Ok(d)
        })
    }

    /// The events: [{"attr": Attr, "ids": [int], "name": str | None}] in file order.
    #[getter]
    fn attrs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        g(|| attrs_to(py, &self.reader.data().evlist))
    }

    /// Decoded features by lower-case name; undecoded ones under "other" as raw bytes.
    #[getter]
    fn features<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        g(|| features_to(py, &self.reader.data().features))
    }

    /// Names of the features the header says are present (`HOSTNAME`, `EVENT_DESC`, ...).
    #[getter]
    fn feature_names(&self) -> Vec<String> {
        self.reader.data().header.feature_bits().into_iter().map(feature_name).collect()
    }

    /// Every record as a dict, in file order (raises PerfDataError at the first bad one).
    fn records<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        g(|| {
            let evlist = Arc::clone(&self.reader.data().evlist);
            let out = PyList::empty(py);
            for r in self.reader.records().map_err(to_py)? {
                out.append(record_to(py, &r.map_err(to_py)?, &evlist)?)?;
            }
            Ok(out)
        })
    }

    /// The samples as a dict of numpy arrays (one per sample field of the format, plus
    /// `misc` and `attr`, the attr index of each row), decoded in bulk. `attr` selects one
    /// event; without it every attr must have the same sample format.
    #[pyo3(signature = (attr=None))]
    fn samples<'py>(&self, py: Python<'py>, attr: Option<usize>) -> PyResult<Bound<'py, PyDict>> {
        g(|| {
            let evlist = &self.reader.data().evlist;
            let fmt = *evlist
                .format(attr.unwrap_or(0))
                .ok_or_else(|| usage(format!("attr {} does not exist ({} attrs)", attr.unwrap_or(0), evlist.len())))?;
            if attr.is_none() && (0..evlist.len()).any(|i| evlist.format(i) != Some(&fmt)) {
                return Err(usage("the attrs have different sample formats: pass attr= to choose one"));
            }
            let (mut recs, mut owners) = (Vec::new(), Vec::new());
            for r in self.reader.records().map_err(to_py)? {
                let r = r.map_err(to_py)?;
                if r.decoded.type_ == PERF_RECORD_SAMPLE && (attr.is_none() || r.attr == attr) {
                    owners.push(r.attr.unwrap_or(0) as u32);
                    recs.push(r.bytes);
                }
            }
            let d = samples_columns(py, &recs, &fmt)?;
            d.set_item("attr", owners.into_pyarray(py))?;
            Ok(d)
        })
    }

    /// A lazy iterator over the records (one record in memory at a time).
    fn iter_records(&self) -> PyResult<PyPerfDataRecords> {
        g(|| {
            Ok(PyPerfDataRecords {
                it: Mutex::new(self.reader.records().map_err(to_py)?),
                evlist: Arc::clone(&self.reader.data().evlist),
            })
        })
    }

    fn __repr__(&self) -> String {
        let d = self.reader.data();
        format!(
            "PerfData(path={:?}, attrs={}, data_size={}, features={:?})",
            self.reader.path().display().to_string(),
            d.evlist.len(),
            d.header.data.size,
            d.header.feature_bits().into_iter().map(feature_name).collect::<Vec<_>>()
        )
    }
}

/// Iterator over the records of a perf.data file (from `PerfData.iter_records()`).
#[pyclass(module = "perfcore._core", name = "PerfDataRecords", frozen)]
pub struct PyPerfDataRecords {
    it: Mutex<Records<BufReader<File>>>,
    evlist: Arc<EventList>,
}

#[pymethods]
impl PyPerfDataRecords {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// The next record as a dict.
    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        g(|| {
            let next = self.it.lock().unwrap_or_else(|p| p.into_inner()).next();
            match next {
                None => Ok(None),
                Some(r) => Ok(Some(record_to(py, &r.map_err(to_py)?, &self.evlist)?)),
            }
        })
    }
}

/// Open and parse a perf.data file (header, attrs, ids, features); PerfDataError if malformed.
#[pyfunction]
pub fn read_perf_data(py: Python<'_>, path: std::path::PathBuf) -> PyResult<PyPerfData> {
    let reader = crate::guard::detached(py, || PerfDataReader::open(&path))?;
    Ok(PyPerfData { reader })
}

/// Writes a perf.data file: `add_attr()` every event, then write records; `finish()` (or
/// leaving a `with` block normally) renames the file into place, `abort()` (or an exception in
/// the block) removes it.
#[pyclass(module = "perfcore._core", name = "PerfDataWriter", frozen)]
pub struct PyPerfDataWriter {
    w: Mutex<Option<PerfDataWriter>>,
}

impl PyPerfDataWriter {
    fn lock(&self) -> MutexGuard<'_, Option<PerfDataWriter>> {
        self.w.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Run `f` on the open writer (UsageError once finished or aborted).
    fn with<T>(&self, f: impl FnOnce(&mut PerfDataWriter) -> PyResult<T>) -> PyResult<T> {
        let mut w = self.lock();
        let w = w.as_mut().ok_or_else(|| usage("this PerfDataWriter is already finished or aborted"))?;
        f(w)
    }
}

/// The attr a record with sample id `id` is written for: `attr` if given, else the owner of
/// `id` (the only attr when there is one).
fn pick_attr(w: &PerfDataWriter, attr: Option<usize>, id: u64) -> PyResult<usize> {
    match attr {
        Some(a) => Ok(a),
        None => w.evlist().attr_for_id(id).ok_or_else(|| {
            usage(format!("no attr owns id {id}: give attr= (an index from add_attr) or an id from an attr's ids"))
        }),
    }
}

#[pymethods]
impl PyPerfDataWriter {
    #[new]
    #[pyo3(signature = (path, *, attr_size=128, hostname=None, osrelease=None, version=None, arch=None,
        nrcpus=None, cmdline=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        path: std::path::PathBuf,
        attr_size: u32,
        hostname: Option<String>,
        osrelease: Option<String>,
        version: Option<String>,
        arch: Option<String>,
        nrcpus: Option<(u32, u32)>,
        cmdline: Option<Vec<String>>,
    ) -> PyResult<Self> {
        g(|| {
            let features = Features { hostname, osrelease, version, arch, nrcpus, cmdline, ..Default::default() };
            let w = PerfDataWriter::create(&path, WriterOptions { attr_size, features }).map_err(to_py)?;
            Ok(PyPerfDataWriter { w: Mutex::new(Some(w)) })
        })
    }

    /// Add an event before the first record; returns its index. `name` goes to EVENT_DESC
    /// (perf shows it; it needs at least one id to be matched to the attr).
    #[pyo3(signature = (attr, ids=Vec::new(), name=None))]
    fn add_attr(&self, attr: PyAttr, ids: Vec<u64>, name: Option<String>) -> PyResult<usize> {
        g(|| self.with(|w| w.add_attr(FileAttr { attr: attr.inner, ids, name }).map_err(to_py)))
    }

    /// Append a SAMPLE from keyword fields (as `RecordFormat.encode_sample`); `attr` defaults to
    /// the owner of `id`.
    #[pyo3(signature = (attr=None, **fields))]
    fn write_sample(&self, py: Python<'_>, attr: Option<usize>, fields: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
        g(|| {
            let empty = PyDict::new(py);
            let s = sample_from(fields.unwrap_or(&empty))?;
            self.with(|w| {
                let a = pick_attr(w, attr, s.id)?;
                w.append_sample(a, &s).map_err(to_py)
            })
        })
    }

    /// Append any record by kind (as `RecordFormat.encode_record`: "comm", "mmap2", ...);
    /// `attr` defaults to the owner of `sample_id["id"]` (of `id` for a sample).
    #[pyo3(signature = (kind, misc=0, attr=None, **fields))]
    fn write_record(
        &self,
        py: Python<'_>,
        kind: &str,
        misc: u16,
        attr: Option<usize>,
        fields: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        g(|| {
            let empty = PyDict::new(py);
            let r: Record = record_from(kind, misc, fields.unwrap_or(&empty))?;
            let id = match &r.body {
                RecordBody::Sample(s) => s.id,
                _ => r.sample_id.id,
            };
            self.with(|w| {
                let a = pick_attr(w, attr, id)?;
                w.append_record(a, &r).map_err(to_py)
            })
        })
    }

    /// Append one already-encoded record (kernel or tool type); it must decode with its attr.
    #[pyo3(signature = (data, attr=None))]
    fn write_bytes(&self, data: &[u8], attr: Option<usize>) -> PyResult<()> {
        g(|| self.with(|w| w.append_bytes(data, attr).map_err(to_py)))
    }

    /// Append the kernel-text MMAP perf record synthesizes (pid -1, `[kernel.kallsyms]_text`)
    /// for attr 0; without it `perf report` warns that kernel address maps were restricted.
    #[pyo3(signature = (start=perfcore::perfdata::writer::KERNEL_TEXT_START, length=1 << 24))]
    fn write_kernel_mmap(&self, start: u64, length: u64) -> PyResult<()> {
        g(|| self.with(|w| w.append_kernel_mmap(start, length).map_err(to_py)))
    }

    /// Records written so far.
    #[getter]
    fn records(&self) -> PyResult<u64> {
        g(|| self.with(|w| Ok(w.records())))
    }

    /// Write features and header and rename the file into place; returns the path.
    fn finish(&self) -> PyResult<String> {
        g(|| {
            let w = self.lock().take().ok_or_else(|| usage("this PerfDataWriter is already finished or aborted"))?;
            Ok(w.finish().map_err(to_py)?.display().to_string())
        })
    }

    /// Drop the file being written (nothing appears at the path).
    fn abort(&self) {
        self.lock().take();
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// Finish on a normal exit, abort when the block raised.
    #[pyo3(signature = (exc_type=None, _exc=None, _tb=None))]
    fn __exit__(
        &self,
        exc_type: Option<&Bound<'_, PyAny>>,
        _exc: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        match exc_type {
            Some(t) if !t.is_none() => {
                self.abort();
            }
            _ => {
                if self.lock().is_some() {
                    self.finish()?;
                }
            }
        }
        Ok(false)
    }
}

/// Register the classes and functions.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyPerfData>()?;
    m.add_class::<PyPerfDataRecords>()?;
    m.add_class::<PyPerfDataWriter>()?;
    m.add_function(wrap_pyfunction!(read_perf_data, m)?)?;
    Ok(())
}
