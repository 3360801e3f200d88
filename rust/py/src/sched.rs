//! Conversions for the scheduling step calls of `perfcore.Machine` (the methods themselves
//! are in `machine.rs`'s `#[pymethods]` block: the bindings crate does not enable pyo3's
//! `multiple-pymethods`). No logic: engine values to Python dicts.

use perfcore::ctx::read::ReadValue;
use perfcore::ctx::EngineStats;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// `stats()` as a dict of ints.
pub fn stats_dict<'py>(py: Python<'py>, s: &EngineStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("tree_visits", s.tree.visited)?;
    d.set_item("tree_probes", s.tree.probes)?;
    d.set_item("tree_lookups", s.tree.lookups)?;
    d.set_item("ctx_sched_in", s.ctx_sched_in)?;
    d.set_item("ctx_sched_out", s.ctx_sched_out)?;
    d.set_item("event_sched_in", s.event_sched_in)?;
    d.set_item("event_sched_out", s.event_sched_out)?;
    d.set_item("txn_failed", s.txn_failed)?;
    d.set_item("rotations", s.rotations)?;
    d.set_item("timer_fires", s.timer_fires)?;
    d.set_item("switch_swap", s.switch_swap)?;
    d.set_item("switch_slow", s.switch_slow)?;
    Ok(d)
}

/// `read()` decoded: `{"value", "time_enabled", "time_running", "id", "lost", "members"}`
/// where `members` is a list of `(value, id, lost)` (the leader first for group reads).
pub fn read_dict<'py>(py: Python<'py>, v: &ReadValue) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("value", v.members[0].value)?;
    d.set_item("time_enabled", v.time_enabled)?;
    d.set_item("time_running", v.time_running)?;
    d.set_item("id", v.members[0].id)?;
    d.set_item("lost", v.members[0].lost)?;
    let members: Vec<(u64, u64, u64)> = v.members.iter().map(|m| (m.value, m.id, m.lost)).collect();
    d.set_item("members", members)?;
    Ok(d)
}

/// Refuse an event handle of another machine.
pub fn same_machine(m: &crate::machine::Shared, e: &crate::machine::PyEvent) -> PyResult<()> {
    if std::sync::Arc::ptr_eq(m, &e.machine) {
        Ok(())
    } else {
        Err(crate::errors::UsageError::new_err("event belongs to another Machine"))
    }
}
