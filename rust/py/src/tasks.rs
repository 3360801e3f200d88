//! Task life-cycle calls of `perfcore.Machine` (fork, exec, affinity, task info) and the
//! inherited-children count of `perfcore.Event`. No logic: arguments to the core's
//! `Machine::fork/exec/set_affinity`, tasks to dicts.

use crate::guard::guard;
use crate::machine::{lock, PyEvent, PyMachine};
use pyo3::prelude::*;
use pyo3::types::PyDict;

#[pymethods]
impl PyMachine {
    /// `fork()`/`clone()` of task `pid`; returns the child's pid (tid). `clone_thread=True`
    /// makes a thread of the same process (CLONE_THREAD); `clear_sighand` is
    /// CLONE_CLEAR_SIGHAND; `comm` defaults to the parent's. The child inherits the parent's
    /// `attr.inherit` events (`perf_event_init_task()`).
    #[pyo3(signature = (pid, *, clone_thread = false, comm = None, clear_sighand = false))]
    fn fork(&self, pid: i32, clone_thread: bool, comm: Option<&str>, clear_sighand: bool) -> PyResult<i32> {
        let mut m = lock(&self.inner)?;
        guard(|| m.fork(pid, clone_thread, comm, clear_sighand))
    }

    /// `execve()` in task `pid` with the new `comm`: enable_on_exec events are enabled,
    /// remove_on_exec events removed. Returns True if the task's perf context changed.
    fn exec(&self, pid: i32, comm: &str) -> PyResult<bool> {
        let mut m = lock(&self.inner)?;
        guard(|| m.exec(pid, comm))
    }

    /// `sched_setaffinity()`: task `pid` may run only on `cpus` (PerfError EINVAL if none of
    /// them exists). A task running elsewhere is switched out.
    fn set_affinity(&self, pid: i32, cpus: Vec<u32>) -> PyResult<()> {
        let mut m = lock(&self.inner)?;
        guard(|| m.set_affinity(pid, &cpus))
    }

    /// The task as a dict: pid, tid, tgid, ppid, comm, uid, flags (PF_* bits), cpus (allowed),
    /// mm (address-space id or None), exited.
    fn task<'py>(&self, py: Python<'py>, pid: i32) -> PyResult<Bound<'py, PyDict>> {
        let t = {
            let m = lock(&self.inner)?;
            guard(|| {
                let id = m.task_by_pid(pid)?;
                Ok(m.tasks.get(id)?.clone())
            })?
        };
        let d = PyDict::new(py);
        d.set_item("pid", t.pid)?;
        d.set_item("tid", t.tid)?;
        d.set_item("tgid", t.tgid)?;
        d.set_item("ppid", t.ppid)?;
        d.set_item("comm", t.comm)?;
        d.set_item("uid", t.uid)?;
        d.set_item("flags", t.flags)?;
        d.set_item("cpus", t.cpus_allowed)?;
        d.set_item("mm", t.mm)?;
        d.set_item("exited", t.exited)?;
        Ok(d)
    }
}

#[pymethods]
impl PyEvent {
    /// Inherited copies of this event alive in other tasks (its child list).
    #[getter]
    fn children(&self) -> PyResult<usize> {
        let m = lock(&self.machine)?;
        guard(|| m.event_children(self.id))
    }
}
