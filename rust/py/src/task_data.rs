//! `perfcore._core.TaskDataTable`, `lbr_callstack_study()` and `task_data_memory()`: bindings of
//! `perfcore::task_data` (PMU task data designs and the LBR call-stack study). No logic here.

use crate::guard::{detached, guard};
use crate::slab::info_dict;
use perfcore::slab::KmallocAlignRule;
use perfcore::task_data::lbr::LbrFormat;
use perfcore::task_data::study::{lbr_callstack_study as study, StudyMode, StudyParams};
use perfcore::task_data::{
    global_attach_memory, slab_global_attach_memory, BlobBackend, GlobalWalk, LbrBlob, SlabBlobAlloc, StdBlobAlloc,
    TaskDataAlloc, TaskDataMemory, TaskDataTable,
};
use perfcore::Error;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::Arc;

fn parse_walk(s: &str) -> Result<GlobalWalk, Error> {
    match s {
        "restart" => Ok(GlobalWalk::Restart),
        "single_pass" => Ok(GlobalWalk::SinglePass),
        _ => Err(Error::Usage(format!("walk {s:?}: expected 'restart' or 'single_pass'"))),
    }
}

fn memory_dict<'py>(py: Python<'py>, m: &TaskDataMemory) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("headers", m.headers)?;
    d.set_item("header_bytes_requested", m.header_bytes_requested)?;
    d.set_item("header_bytes_kmalloc", m.header_bytes_kmalloc)?;
    d.set_item("blobs", m.published_blobs)?;
    d.set_item("blob_object_size", m.blob_object_size)?;
    d.set_item("blob_align", m.blob_align)?;
    d.set_item("blob_bytes", m.blob_bytes)?;
    d.set_item("deferred", m.deferred)?;
    d.set_item("total_bytes", m.total_bytes())?;
    Ok(d)
}

/// Per-task PMU data of the 6.15+ design (`task_struct::perf_ctx_data`) for `capacity` task
/// slots, with blobs of `blob_size` bytes aligned to `blob_align` from a std-backed allocator.
#[pyclass(module = "perfcore._core", name = "TaskDataTable")]
pub struct PyTaskDataTable {
    table: Arc<TaskDataTable>,
    alloc: Arc<StdBlobAlloc>,
    cache: Arc<dyn TaskDataAlloc>,
}

#[pymethods]
impl PyTaskDataTable {
    #[new]
    #[pyo3(signature = (capacity, *, blob_size = 1512, blob_align = 64, walk = "restart"))]
    fn new(capacity: u32, blob_size: usize, blob_align: usize, walk: &str) -> PyResult<Self> {
        guard(|| {
            let walk = parse_walk(walk)?;
            let alloc = Arc::new(StdBlobAlloc::checked(blob_size, blob_align)?);
            let cache: Arc<dyn TaskDataAlloc> = alloc.clone();
            Ok(PyTaskDataTable { table: Arc::new(TaskDataTable::with_walk(capacity, walk)), alloc, cache })
        })
    }

    /// Number of task slots.
    #[getter]
    fn capacity(&self) -> PyResult<u32> {
        guard(|| Ok(self.table.capacity()))
    }

    /// Make `task` a live thread without data.
    fn spawn(&self, task: u32) -> PyResult<()> {
        guard(|| self.table.spawn(task))
    }

    /// Fork `child` from `parent` (allocates for the child while a global user exists).
    fn fork(&self, parent: u32, child: u32) -> PyResult<()> {
        guard(|| self.table.fork(parent, child))
    }

    /// Task exit: PF_EXITING, then drop one reference.
    fn exit_task(&self, task: u32) -> PyResult<()> {
        guard(|| self.table.exit_task(task))
    }

    /// A per-task LBR call-stack event on `task` (`attach_task_ctx_data(global=false)`).
    fn attach_task(&self, task: u32) -> PyResult<()> {
        guard(|| self.table.attach_task_ctx_data(task, &self.cache, false))
    }

    /// The per-task event's free (`detach_task_ctx_data`).
    fn detach_task(&self, task: u32) -> PyResult<()> {
        guard(|| self.table.detach_task_ctx_data(task))
    }

    /// A CPU-wide LBR call-stack event (`attach_global_ctx_data`); GIL released.
    fn attach_global(&self, py: Python<'_>) -> PyResult<()> {
        let (t, c) = (self.table.clone(), self.cache.clone());
        detached(py, move || t.attach_global_ctx_data(&c))
    }

    /// The CPU-wide event's free (`detach_global_ctx_data`); GIL released.
    fn detach_global(&self, py: Python<'_>) -> PyResult<()> {
        let t = self.table.clone();
        detached(py, move || t.detach_global_ctx_data())
    }

    /// An RCU grace period: free every unpublished object.
    fn synchronize(&self, py: Python<'_>) -> PyResult<()> {
        let t = self.table.clone();
        detached(py, move || {
            t.synchronize();
            Ok(())
        })
    }

    /// `(refcount, global)` of the task's object, or None.
    fn info(&self, task: u32) -> PyResult<Option<(u32, bool)>> {
        guard(|| self.table.task_info(task))
    }

    /// Make the n-th next blob allocation fail with ENOMEM (a negative n disables).
    fn fail_nth(&self, n: i64) -> PyResult<()> {
        guard(|| {
            self.alloc.fail_nth(u64::try_from(n).unwrap_or(u64::MAX));
            Ok(())
        })
    }

    /// Protocol and allocator counters.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let (s, a) = guard(|| Ok((self.table.stats(), self.alloc.stats())))?;
        let d = PyDict::new(py);
        d.set_item("headers_allocated", s.headers_allocated)?;
        d.set_item("headers_freed", s.headers_freed)?;
        d.set_item("headers_live", s.headers_live)?;
        d.set_item("deferred_pending", s.deferred_pending)?;
        d.set_item("direct_frees", s.direct_frees)?;
        d.set_item("rcu_frees", s.rcu_frees)?;
        d.set_item("grace_periods", s.grace_periods)?;
        d.set_item("refcount_underflows", s.refcount_underflows)?;
        d.set_item("walk_visits", s.walk_visits)?;
        d.set_item("global_ref", s.global_ref)?;
        d.set_item("blobs_allocated", a.allocs)?;
        d.set_item("blobs_freed", a.frees)?;
        d.set_item("blobs_live", a.live)?;
        d.set_item("blob_failures", a.failures)?;
        d.set_item("published", self.table.nr_published())?;
        Ok(d)
    }

    /// Memory held right now (objects and bytes).
    fn memory<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let m = guard(|| Ok(self.table.memory()))?;
        memory_dict(py, &m)
    }
}

/// `threads` live threads, one global attach: memory after the attach and after detach + a
/// grace period. `allocator="std"` (default): `{"attached": {...}, "released": {...}}` of the
/// table's object counts. `allocator="kmem_cache"|"kzalloc"`: the slab model's slabinfo rows of
/// the blob cache and kmalloc-64 at both points, `{"attached": {"blob": row, "header": row},
/// "released": {...}, "live_after": n, ...}`; `blob` ("legacy"|"arch_xsave"|"788") then sets
/// size/align, and `nr_cpus` the slab orders.
#[pyfunction]
#[pyo3(signature = (threads, *, blob_size = 1512, blob_align = 64, walk = "single_pass",
                    allocator = "std", blob = None, nr_cpus = 8))]
#[allow(clippy::too_many_arguments)]
fn task_data_memory<'py>(
    py: Python<'py>,
    threads: u32,
    blob_size: usize,
    blob_align: usize,
    walk: &str,
    allocator: &str,
    blob: Option<&str>,
    nr_cpus: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let walk = guard(|| parse_walk(walk))?;
    if allocator == "std" {
        if blob.is_some() {
            return guard(|| Err(Error::Usage("blob= needs allocator='kmem_cache' or 'kzalloc'".into())));
        }
        let (on, off) = detached(py, move || {
            let cache: Arc<dyn TaskDataAlloc> = Arc::new(StdBlobAlloc::new(blob_size, blob_align)?);
            global_attach_memory(threads, &cache, walk)
        })?;
        let d = PyDict::new(py);
        d.set_item("attached", memory_dict(py, &on)?)?;
        d.set_item("released", memory_dict(py, &off)?)?;
        return Ok(d);
    }
    let backend = guard(|| BlobBackend::parse(allocator))?;
    let lbr = match blob {
        Some(b) => Some(guard(|| LbrBlob::parse(b))?),
        None => None,
    };
    let m = detached(py, move || {
        let a = match lbr {
            Some(b) => SlabBlobAlloc::lbr(backend, b, nr_cpus)?,
            None => SlabBlobAlloc::new(
                backend,
                blob_size,
                blob_align,
                nr_cpus,
                KmallocAlignRule::LargestPow2Divisor,
                false,
            )?,
        };
        slab_global_attach_memory(threads, &Arc::new(a))
    })?;
    let d = PyDict::new(py);
    d.set_item("allocator", backend.name())?;
    d.set_item("blob", lbr.map(|b| b.name()))?;
    d.set_item("nr_cpus", nr_cpus)?;
    let on = PyDict::new(py);
    on.set_item("blob", info_dict(py, &m.blob_attached)?)?;
    on.set_item("header", info_dict(py, &m.header_attached)?)?;
    let off = PyDict::new(py);
    off.set_item("blob", info_dict(py, &m.blob_released)?)?;
    off.set_item("header", info_dict(py, &m.header_released)?)?;
    d.set_item("attached", on)?;
    d.set_item("released", off)?;
    d.set_item("live_after", m.live_after)?;
    d.set_item("blob_slabs_after_shrink", m.blob_slabs_after_shrink)?;
    Ok(d)
}

/// The LBR call-stack completeness study (see `perfcore::task_data::study`).
#[pyfunction]
#[pyo3(signature = (mode, *, noise_tasks = 3, slice_ns = 4_000_000, sample_period_ns = 100_000,
                    duration_ns = 2_000_000_000, main_ns = 20_000, f1_ns = 20_000, f2_ns = 20_000,
                    f3_ns = 3_000_000, lbr_depth = 32, lbr_format = "arch_xsave"))]
#[allow(clippy::too_many_arguments)]
fn lbr_callstack_study<'py>(
    py: Python<'py>,
    mode: &str,
    noise_tasks: u32,
    slice_ns: u64,
    sample_period_ns: u64,
    duration_ns: u64,
    main_ns: u64,
    f1_ns: u64,
    f2_ns: u64,
    f3_ns: u64,
    lbr_depth: u32,
    lbr_format: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let p = guard(|| {
        Ok(StudyParams {
            mode: StudyMode::parse(mode)?,
            noise_tasks,
            slice_ns,
            sample_period_ns,
            duration_ns,
            main_ns,
            f1_ns,
            f2_ns,
            f3_ns,
            lbr_depth,
            lbr_format: LbrFormat::parse(lbr_format)?,
        })
    })?;
    let r = detached(py, move || study(&p))?;
    let d = PyDict::new(py);
    d.set_item("mode", mode)?;
    d.set_item("samples", r.samples)?;
    d.set_item("full", r.full)?;
    d.set_item("full_percent", if r.samples == 0 { 0.0 } else { 100.0 * r.full as f64 / r.samples as f64 })?;
    d.set_item("f3_samples", r.f3_samples)?;
    d.set_item("f3_full", r.f3_full)?;
    let shapes = PyDict::new(py);
    for (k, v) in &r.shapes {
        shapes.set_item(k, v)?;
    }
    d.set_item("shapes", shapes)?;
    d.set_item("switches", r.switches)?;
    d.set_item("blobs", r.blobs)?;
    let lbr = PyDict::new(py);
    lbr.set_item("saves", r.lbr.saves)?;
    lbr.set_item("restores", r.lbr.restores)?;
    lbr.set_item("restore_skips", r.lbr.restore_skips)?;
    lbr.set_item("resets", r.lbr.resets)?;
    d.set_item("lbr", lbr)?;
    Ok(d)
}

/// Register the task-data classes and functions.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyTaskDataTable>()?;
    m.add_function(wrap_pyfunction!(lbr_callstack_study, m)?)?;
    m.add_function(wrap_pyfunction!(task_data_memory, m)?)?;
    Ok(())
}
