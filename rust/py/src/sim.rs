//! `perfcore.Machine` methods of the running machine: workloads, the run loop, samples, the
//! per-CPU LBRs and PMU task data. No logic: argument conversion and dicts.

use crate::guard::{detached, guard};
use crate::machine::{lock, PyMachine};
use crate::slab::info_dict;
use perfcore::sim::LoggedSample;
use perfcore::task_data::callstack::{CallScript, Op};
use perfcore::task_data::lbr::LbrEntry;
use perfcore::Error;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

/// Default `tchain_edit` timings (ns): main, f1, f2 work 20 us each, f3 (hot) 3 ms.
const TCHAIN: (u64, u64, u64, u64) = (20_000, 20_000, 20_000, 3_000_000);
/// Default work per function of the "noise" preset (ns).
const NOISE_NS: u64 = 37_000;

/// One op from Python: `("work", ns)`, `("call", name)`, `("ret",)` or `"ret"`.
fn parse_op(v: &Bound<'_, PyAny>, names: &mut Vec<String>, i: usize) -> PyResult<Op> {
    if let Ok(s) = v.extract::<String>() {
        return match s.as_str() {
            "ret" => Ok(Op::Ret),
            _ => Err(crate::errors::UsageError::new_err(format!("op {i}: {s:?} (a bare op must be \"ret\")"))),
        };
    }
    let t = v.cast::<PyTuple>().map_err(|_| {
        crate::errors::UsageError::new_err(format!("op {i}: expected (\"work\", ns), (\"call\", name) or \"ret\""))
    })?;
    let kind: String = t.get_item(0)?.extract()?;
    match (kind.as_str(), t.len()) {
        ("ret", 1) => Ok(Op::Ret),
        ("work", 2) => Ok(Op::Work(t.get_item(1)?.extract()?)),
        ("call", 2) => {
            let name: String = t.get_item(1)?.extract()?;
            let idx = match names.iter().position(|n| *n == name) {
                Some(i) => i,
                None => {
                    names.push(name);
                    names.len() - 1
                }
            };
            let idx = u16::try_from(idx)
                .map_err(|_| crate::errors::UsageError::new_err(format!("op {i}: more than 65535 functions")))?;
            Ok(Op::Call(idx))
        }
        _ => Err(crate::errors::UsageError::new_err(format!(
            "op {i}: {kind:?} with {} fields (expected (\"work\", ns), (\"call\", name) or (\"ret\",))",
            t.len()
        ))),
    }
}

/// A script from Python: a preset name or a list of ops with the root function `root`.
fn parse_script(script: &Bound<'_, PyAny>, root: &str) -> PyResult<CallScript> {
    if let Ok(name) = script.extract::<String>() {
        return guard(|| match name.as_str() {
            "tchain_edit" => CallScript::tchain_edit(TCHAIN.0, TCHAIN.1, TCHAIN.2, TCHAIN.3),
            "noise" => CallScript::noise(root, NOISE_NS),
            _ => Err(Error::Usage(format!("script preset {name:?} is unknown (use \"tchain_edit\" or \"noise\")"))),
        });
    }
    let list = script
        .cast::<PyList>()
        .map_err(|_| crate::errors::UsageError::new_err("script must be a preset name or a list of ops".to_string()))?;
    let mut names = vec![root.to_string()];
    let mut ops = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let op = parse_op(&v, &mut names, i)?;
        if op == Op::Call(0) {
            return Err(crate::errors::UsageError::new_err(format!(
                "op {i}: the root function {root:?} cannot be called"
            )));
        }
        ops.push(op);
    }
    guard(|| CallScript::new(names, ops))
}

fn entries(v: &[LbrEntry]) -> Vec<(u64, u64)> {
    v.iter().map(|e| (e.from, e.to)).collect()
}

fn sample_dict<'py>(py: Python<'py>, s: &LoggedSample) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let x = &s.data;
    d.set_item("id", x.id)?;
    d.set_item("stream_id", x.stream_id)?;
    d.set_item("ip", x.ip)?;
    d.set_item("pid", x.pid)?;
    d.set_item("tid", x.tid)?;
    d.set_item("time", x.time)?;
    d.set_item("cpu", x.cpu)?;
    d.set_item("period", x.period)?;
    d.set_item("misc", x.misc)?;
    d.set_item("callchain", x.callchain.clone())?;
    let br: Option<Vec<(u64, u64)>> = x.branch.as_ref().map(|b| b.entries.iter().map(|e| (e.from, e.to)).collect());
    d.set_item("branch_stack", br)?;
    d.set_item("stack", s.stack.clone())?;
    Ok(d)
}

#[pymethods]
impl PyMachine {
    /// Give task `pid` a workload and make it runnable. `script` is a preset ("tchain_edit":
    /// main -> f1 -> f2 -> f3, 20 us of work in each of main/f1/f2 and 3 ms in f3; "noise":
    /// `root` -> g1 -> g2, 37 us in each) or a list of ops `("work", ns)`, `("call", name)`,
    /// `"ret"` run in a loop from the root function `root`. `cpus` restricts where it runs
    /// (default: every CPU); it joins the least loaded allowed CPU's queue.
    #[pyo3(signature = (pid, script, *, cpus = None, root = "main"))]
    fn set_workload(&self, pid: i32, script: &Bound<'_, PyAny>, cpus: Option<Vec<u32>>, root: &str) -> PyResult<()> {
        let s = parse_script(script, root)?;
        let mut m = lock(&self.inner)?;
        guard(|| m.set_workload(pid, s, cpus.as_deref()))
    }

    /// Machine time in ns.
    #[getter]
    fn now(&self) -> PyResult<u64> {
        Ok(lock(&self.inner)?.now())
    }

    /// pid of the task running on `cpu`, None when it is idle.
    fn running_pid(&self, cpu: u32) -> PyResult<Option<i32>> {
        let m = lock(&self.inner)?;
        guard(|| m.running(cpu)?.map(|t| Ok(m.tasks.get(t)?.pid)).transpose())
    }

    /// Set the round-robin time slice in ns (> 0; default 4 ms).
    fn set_slice_ns(&self, ns: u64) -> PyResult<()> {
        let mut m = lock(&self.inner)?;
        guard(|| m.set_slice_ns(ns))
    }

    /// The round-robin time slice in ns.
    #[getter]
    fn slice_ns(&self) -> PyResult<u64> {
        Ok(lock(&self.inner)?.slice_ns())
    }

    /// Run the machine for `ns` nanoseconds: tasks with workloads run round-robin on their
    /// CPUs, counts grow at their rates, sampling events overflow every `sample_period` counts
    /// and their samples go to the sample log (`take_samples()`). Events with `freq=1` are
    /// rejected (not modelled).
    fn run(&self, py: Python<'_>, ns: u64) -> PyResult<()> {
        let inner = self.inner.clone();
        detached(py, move || {
            let mut m =
                inner.m.lock().map_err(|_| Error::Internal("machine state poisoned by an earlier panic".into()))?;
            m.run(ns)
        })
    }

    /// Run-loop counters: {"steps", "switches", "samples", "lost"}.
    fn run_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let m = lock(&self.inner)?;
        let s = m.run_stats();
        let d = PyDict::new(py);
        d.set_item("steps", s.steps)?;
        d.set_item("switches", s.switches)?;
        d.set_item("samples", s.samples)?;
        d.set_item("lost", m.samples_lost())?;
        Ok(d)
    }

    /// Drain the sample log: one dict per sample, oldest first, with `id`, `stream_id`, `ip`,
    /// `pid`, `tid`, `time`, `cpu`, `period`, `misc`, `callchain` (with the
    /// PERF_CONTEXT_USER marker), `branch_stack` (list of (from, to), newest first; None
    /// without PERF_SAMPLE_BRANCH_STACK) and `stack` (the callchain symbolised, outermost first).
    fn take_samples<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let samples = guard(|| Ok(lock(&self.inner).map_err(|e| Error::Internal(e.to_string()))?.take_samples()))?;
        samples.iter().map(|s| sample_dict(py, s)).collect()
    }

    /// The LBR of `cpu` in call-stack mode: (from, to) entries, newest first (empty on a
    /// machine without LBR).
    fn lbr(&self, cpu: u32) -> PyResult<Vec<(u64, u64)>> {
        let mut m = lock(&self.inner)?;
        guard(|| Ok(entries(&m.lbr_entries(cpu)?)))
    }

    /// Task `pid`'s PMU task data, None when it has none: {"refcount" (None in the
    /// pmu_context design), "global", "blob_addr", "lbr_callstack_users", "lbr_stack_state",
    /// "log_id", "saved" (the saved LBR entries, oldest first)}.
    fn task_data<'py>(&self, py: Python<'py>, pid: i32) -> PyResult<Option<Bound<'py, PyDict>>> {
        let mut m = lock(&self.inner)?;
        let v = guard(|| {
            let t = m.task_by_pid(pid)?;
            m.task_data_of(t)
        })?;
        v.map(|v| {
            let d = PyDict::new(py);
            d.set_item("refcount", v.refcount)?;
            d.set_item("global", v.global)?;
            d.set_item("blob_addr", v.blob_addr)?;
            d.set_item("lbr_callstack_users", v.lbr_callstack_users)?;
            d.set_item("lbr_stack_state", v.lbr_stack_state)?;
            d.set_item("log_id", v.log_id)?;
            d.set_item("saved", entries(&v.saved))?;
            Ok(d)
        })
        .transpose()
    }

    /// Memory of PMU task data from slabinfo (None on a machine without LBR): "objects",
    /// "slabs", "bytes", "MB" of the blob cache ("x86_lbr", or the kmalloc class with kzalloc),
    /// "header_objects", "header_slabs", "header_bytes" of kmalloc-64, "published" blobs,
    /// "pending" (waiting for a grace period), "global_ref", "global_lbr_callstack_users",
    /// "design", "allocator", "blob_size", "blob_align", and the full rows "blob"/"header".
    fn task_data_memory<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let m = lock(&self.inner)?;
        let Some(x) = m.task_data_memory() else { return Ok(None) };
        let d = PyDict::new(py);
        d.set_item("objects", x.blob.inuse_objs)?;
        d.set_item("slabs", x.blob.num_slabs)?;
        d.set_item("bytes", x.blob.total_bytes)?;
        d.set_item("MB", x.blob.total_bytes as f64 / 1e6)?;
        d.set_item("header_objects", x.header.inuse_objs)?;
        d.set_item("header_slabs", x.header.num_slabs)?;
        d.set_item("header_bytes", x.header.total_bytes)?;
        d.set_item("published", x.published)?;
        d.set_item("pending", x.pending)?;
        d.set_item("global_ref", x.global_ref)?;
        d.set_item("global_lbr_callstack_users", x.global_lbr_callstack_users)?;
        d.set_item("design", m.task_data_design().name())?;
        d.set_item("allocator", m.task_data_backend().name())?;
        d.set_item("blob_size", x.blob_size)?;
        d.set_item("blob_align", x.blob_align)?;
        d.set_item("blob", info_dict(py, &x.blob)?)?;
        d.set_item("header", info_dict(py, &x.header)?)?;
        Ok(Some(d))
    }

    /// A grace period: RCU-deferred frees of PMU task data complete.
    fn synchronize(&self) -> PyResult<()> {
        let mut m = lock(&self.inner)?;
        guard(|| {
            m.task_data_synchronize();
            Ok(())
        })
    }

    /// `kmem_cache_shrink()` of the "x86_lbr" cache: slabs left (None without LBR or with
    /// kzalloc blobs).
    fn task_data_shrink(&self) -> PyResult<Option<usize>> {
        let mut m = lock(&self.inner)?;
        guard(|| Ok(m.task_data_shrink()))
    }
}
