//! The machine's per-CPU LBRs in call-stack mode: user counting as LBR events go on and off the
//! PMU and the PMU's context-switch work. Models `intel_pmu_lbr_add()` / `intel_pmu_lbr_del()`
//! (run from `x86_pmu_add()` / `x86_pmu_del()`), `perf_pmu_sched_task()` /
//! `perf_ctx_sched_task_cb()` calling `intel_pmu_lbr_sched_task()`, and (6.2-6.14) the
//! optimised switch's `perf_event_swap_task_ctx_data()` with Intel's `swap_task_ctx`; facts:
//! spec/task-data-slab-page-size.md A.2, A.3, A.5 and spec/context-and-scheduling.md §6.1-6.3.
//!
//! The event states come from the scheduling engine: an LBR event counts on the LBR of the CPU
//! it is ACTIVE on. The counts are brought up to date by [`Machine::lbr_sync_users`], which
//! [`Machine::pmu_sched_task`] runs between the sched-out save (the outgoing events are still
//! counted, as they are when the kernel's sched-out callback runs before `ctx_sched_out()`) and
//! the sched-in restore (the incoming events already added).

use super::lbr::{lbr_add, lbr_del, LbrCpu, LbrEntry};
use super::machine_data::{with_task_blob, LbrState, TaskDataDesign};
use super::pmu_context_data::swap_task_ctx;
use crate::events::{EventId, EventState};
use crate::machine::Machine;
use crate::task::TaskId;
use crate::{Error, Result};

/// `intel_pmu_lbr_add()` or `_del()` of one event on `cpu`: per-task call-stack users count in
/// the target task's blob, CPU-wide ones in `x86_pmu.lbr_callstack_users`; the CPU gains or
/// loses a user either way.
fn lbr_count(design: TaskDataDesign, l: &mut LbrState, eid: EventId, cpu: u32, add: bool) -> Result<()> {
    let ev = *l.events.get(&eid).ok_or_else(|| Error::Internal(format!("event {} is not an LBR event", eid.0)))?;
    let LbrState { cpus, global_users, table, epcs, layout, .. } = l;
    let c = cpus.get_mut(cpu as usize).ok_or_else(|| Error::Internal(format!("cpu {cpu} has no LBR")))?;
    let op = if add { lbr_add } else { lbr_del };
    match (ev.user_callstack, ev.task) {
        (false, _) => plain_count(c, add),
        (true, None) => op(c, None, global_users),
        (true, Some(t)) => with_task_blob(design, table, epcs, *layout, t, |b| match b {
            Some((b, _)) => op(c, Some(b), global_users),
            // The target's data is gone (it exited): only the CPU's count moves.
            None => plain_count(c, add),
        })?,
    }
    if let Some(e) = l.events.get_mut(&eid) {
        e.added_on = add.then_some(cpu);
    }
    Ok(())
}

fn plain_count(c: &mut LbrCpu, add: bool) {
    c.lbr_users = if add { c.lbr_users.saturating_add(1) } else { c.lbr_users.saturating_sub(1) };
}

/// `intel_pmu_lbr_del()` of an event counted on a CPU (at close or when it left the PMU).
pub(crate) fn lbr_event_del(design: TaskDataDesign, l: &mut LbrState, eid: EventId) -> Result<()> {
    match l.events.get(&eid).and_then(|e| e.added_on) {
        Some(cpu) => lbr_count(design, l, eid, cpu, false),
        None => Ok(()),
    }
}

impl Machine {
    /// Bring the LBR user counts in line with the engine: every LBR event ACTIVE on a CPU is
    /// added there, every other one deleted (`intel_pmu_lbr_add()` / `_del()`).
    pub(crate) fn lbr_sync_users(&mut self) -> Result<()> {
        let design = self.task_data.design;
        let Some(l) = self.task_data.lbr.as_mut() else { return Ok(()) };
        let mut changes = Vec::new();
        for (eid, ev) in &l.events {
            let want = match self.sched.ev(eid.0) {
                Ok(se) if se.state == EventState::Active => u32::try_from(se.oncpu).ok(),
                _ => None,
            };
            if want != ev.added_on {
                changes.push((*eid, ev.added_on, want));
            }
        }
        for (eid, have, want) in changes {
            if let Some(c) = have {
                lbr_count(design, l, eid, c, false)?;
            }
            if let Some(c) = want {
                lbr_count(design, l, eid, c, true)?;
            }
        }
        Ok(())
    }

    /// The PMU's context-switch work on `cpu` after the engine switched from `prev` to `next`
    /// (`perf_event_context_sched_out()` / `perf_event_context_sched_in()` run their
    /// `sched_task` callbacks; `perf_pmu_sched_task()` covers CPU-wide users): save the LBR into
    /// `prev`'s blob, swap the two task contexts' data when the optimised switch ran
    /// (`swapped`, 6.2-6.14 only: `swap_task_ctx` keeps each context's `lbr_callstack_users`),
    /// update the user counts, then restore `next`'s blob, or reset the LBR when `next` has
    /// none (`intel_pmu_lbr_sched_task()`).
    pub(crate) fn pmu_sched_task(
        &mut self,
        cpu: u32,
        prev: Option<TaskId>,
        next: Option<TaskId>,
        swapped: bool,
    ) -> Result<()> {
        let design = self.task_data.design;
        let Some(l) = self.task_data.lbr.as_mut() else { return Ok(()) };
        if cpu as usize >= l.cpus.len() {
            return Err(Error::Usage(format!("cpu = {cpu} is not a CPU of this machine (0..{})", l.cpus.len())));
        }
        if let Some(p) = prev {
            let LbrState { cpus, global_users, table, epcs, layout, .. } = l;
            let c = &mut cpus[cpu as usize];
            with_task_blob(design, table, epcs, *layout, p, |b| c.sched_task(b, false, *global_users))?;
        }
        if let (true, TaskDataDesign::PmuContext, Some(p), Some(n)) = (swapped, design, prev, next) {
            if let (Some(mut a), Some(mut b)) = (l.epcs.remove(&p), l.epcs.remove(&n)) {
                let r = swap_task_ctx(&mut a.data, &mut b.data, Some(l.layout));
                l.epcs.insert(p, a);
                l.epcs.insert(n, b);
                r?;
            }
        }
        self.lbr_sync_users()?;
        if let (Some(n), Some(l)) = (next, self.task_data.lbr.as_mut()) {
            let LbrState { cpus, global_users, table, epcs, layout, .. } = l;
            let c = &mut cpus[cpu as usize];
            with_task_blob(design, table, epcs, *layout, n, |b| c.sched_task(b, true, *global_users))?;
        }
        Ok(())
    }

    /// The LBR of `cpu` (None when the machine has no LBR).
    pub fn lbr_cpu(&self, cpu: u32) -> Option<&LbrCpu> {
        self.task_data.lbr.as_ref().and_then(|l| l.cpus.get(cpu as usize))
    }

    /// The entries of `cpu`'s LBR, newest first, after bringing its user count up to date.
    pub fn lbr_entries(&mut self, cpu: u32) -> Result<Vec<LbrEntry>> {
        if cpu >= self.nr_cpus() {
            return Err(Error::Usage(format!("cpu = {cpu} is not a CPU of this machine (0..{})", self.nr_cpus())));
        }
        self.lbr_sync_users()?;
        Ok(self.lbr_cpu(cpu).map(|c| c.branch_stack()).unwrap_or_default())
    }
}
