//! Side-band record step calls of `perfcore.Machine`: emit the PERF_RECORD_FORK / EXIT / COMM
//! records the kernel writes when a task forks, exits or execs (perf_event_fork(),
//! perf_event_exit_task(), perf_event_comm()) into every matching event's ring, without
//! changing the task table. Context switches emit SWITCH records through `switch_in` /
//! `switch_out`. Conversion only: the rules are in `perfcore::events::output`.

use crate::guard::guard;
use crate::machine::{lock, PyMachine};
use pyo3::prelude::*;

#[pymethods]
impl PyMachine {
    /// PERF_RECORD_FORK of task `child` forked by `parent` (pids), to the parent's context
    /// events and the CPU's side-band events (attr.comm/mmap/mmap2/mmap_data/task).
    fn emit_fork(&self, parent: i32, child: i32) -> PyResult<()> {
        let mut m = lock(&self.inner)?;
        guard(|| {
            let (p, c) = (m.task_by_pid(parent)?, m.task_by_pid(child)?);
            m.perf_event_fork(p, c)
        })
    }

    /// PERF_RECORD_EXIT of task `pid` (its real parent `parent`), to its own context events
    /// and the CPU's side-band events.
    fn emit_exit(&self, pid: i32, parent: i32) -> PyResult<()> {
        let mut m = lock(&self.inner)?;
        guard(|| {
            let (t, p) = (m.task_by_pid(pid)?, m.task_by_pid(parent)?);
            m.perf_event_exit_record(t, p)
        })
    }

    /// PERF_RECORD_COMM of task `pid` (its current comm) to events with attr.comm; `exec=True`
    /// sets PERF_RECORD_MISC_COMM_EXEC.
    #[pyo3(signature = (pid, exec = false))]
    fn emit_comm(&self, pid: i32, exec: bool) -> PyResult<()> {
        let mut m = lock(&self.inner)?;
        guard(|| {
            let t = m.task_by_pid(pid)?;
            m.perf_event_comm(t, exec)
        })
    }
}
