//! `RecordFormat` (encode / decode records), `PageView` (zero-copy read-only pages),
//! `trace_bytes()` and `mmap_check()`.

use super::convert::*;
use crate::errors::to_py;
use perfcore::output::mmap_rules::{self, MmapAccounting, MmapAction, MmapEventView, MmapOptions, MmapRequest, RbView};
use perfcore::output::*;
use perfcore::Errno;
use pyo3::exceptions::PyBufferError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use std::ffi::c_int;

/// How records of one event look: encode and decode them.
#[pyclass(module = "perfcore._core", name = "RecordFormat", frozen)]
pub struct PyRecordFormat {
    pub(crate) fmt: OutputFormat,
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
            let recs: Vec<Vec<u8>> = spans.into_iter().map(|(o, n)| data[o..o + n].to_vec()).collect();
            decode_list(py, &recs, &self.fmt)
        })
    }

    /// Decode the samples of a stream into a dict of numpy arrays (other records skipped).
    fn decode_samples<'py>(&self, py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyDict>> {
        g(|| {
            let spans = split_records(data).map_err(to_py)?;
            let recs: Vec<Vec<u8>> = spans.into_iter().map(|(o, n)| data[o..o + n].to_vec()).collect();
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

pub(crate) enum ViewOwner {
    Ring(RingConsumer),
    Aux(AuxConsumer),
}

/// A read-only, zero-copy view of ring pages (user page + data pages) or of the AUX area,
/// for `memoryview()` / `numpy.frombuffer()`. The memory lives as long as this object.
#[pyclass(module = "perfcore._core", name = "PageView", frozen)]
pub struct PageView {
    pub(crate) owner: ViewOwner,
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
    unsafe fn __getbuffer__(slf: Bound<'_, Self>, view: *mut pyo3::ffi::Py_buffer, flags: c_int) -> PyResult<()> {
        g(|| {
            if flags & pyo3::ffi::PyBUF_WRITABLE == pyo3::ffi::PyBUF_WRITABLE {
                return Err(PyBufferError::new_err("ring pages are read-only; use set_data_tail() / set_aux_tail()"));
            }
            let (ptr, len) = slf.get().raw();
            // SAFETY: `ptr` points at `len` bytes of a boxed slice owned (through an Arc) by
            // `slf`, which the buffer keeps alive (view.obj) and which never moves or shrinks.
            // The export is read-only; writers update the words atomically, so readers see what
            // a process sees through its mapping.
            let rc = unsafe {
                pyo3::ffi::PyBuffer_FillInfo(view, slf.as_ptr(), ptr as *mut std::ffi::c_void, len as isize, 1, flags)
            };
            if rc == -1 {
                return Err(PyErr::fetch(slf.py()));
            }
            Ok(())
        })
    }

    unsafe fn __releasebuffer__(&self, _view: *mut pyo3::ffi::Py_buffer) {}
}

#[pyfunction]
#[pyo3(name = "trace_bytes")]
pub(crate) fn py_trace_bytes<'py>(py: Python<'py>, start: u64, length: usize) -> PyResult<Bound<'py, PyBytes>> {
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
pub(crate) fn mmap_check<'py>(
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
        let ev = MmapEventView { cpu, inherit, revoked, pmu_has_aux, write_backward, rb };
        let req = MmapRequest { len: length, pgoff, shared, prot_write };
        let acct = MmapAccounting {
            perf_event_mlock_kb,
            nr_online_cpus,
            user_locked_vm,
            pinned_vm,
            rlimit_memlock,
            cap_ipc_lock,
            perf_event_paranoid,
        };
        let lsm_denies = match lsm_errno {
            Some(c) => Some(
                Errno::from_code(c).ok_or_else(|| usage(format!("lsm_errno {c} is not an errno the model knows")))?,
            ),
            None => None,
        };
        let o =
            mmap_rules::perf_mmap(&ev, &req, &acct, &MmapOptions { aux_require_pow2: !allow_non_pow2_aux, lsm_denies })
                .map_err(to_py)?;
        let d = PyDict::new(py);
        match o.action {
            MmapAction::CreateRb { data_pages, overwrite, backward } => {
                d.set_item("action", "create_rb")?;
                d.set_item("data_pages", data_pages)?;
                d.set_item("overwrite", overwrite)?;
                d.set_item("backward", backward)?;
            }
            MmapAction::ShareRb => d.set_item("action", "share_rb")?,
            MmapAction::CreateAux { nr_pages, pgoff, overwrite } => {
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
