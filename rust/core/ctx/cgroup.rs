//! Cgroup events in the engine: the cgroup hierarchy as perf sees it, the CPU's current cgroup
//! (`cpuctx->cgrp`), per-cgroup per-CPU clocks and the cgroup switch.
//!
//! Models, in kernel/events/core.c: `struct perf_cgroup_info` (time, timestamp, active; one
//! per cgroup per CPU), `__update_cgrp_time()`, `update_cgrp_time_from_cpuctx()` (the CPU's
//! current cgroup and every ancestor advance together; "final" marks them inactive),
//! `update_cgrp_time_from_event()`, `perf_cgroup_set_timestamp()` (stamp and activate the
//! current cgroup path when the CPU context clock starts), `perf_cgroup_event_time_now()`,
//! `perf_cgroup_event_enable()` / `_disable()` (`nr_cgroups` of the epc and of the CPU
//! context), `perf_cgroup_match()` and `perf_cgroup_switch()` (schedule out the CPU context's
//! cgroup epcs, change `cpuctx->cgrp`, schedule them in; run at every context switch with the
//! incoming task's cgroup and by `__perf_cgroup_move()` when a running task changes cgroup).
//! Spec: context-and-scheduling.md §1.5 (`cgrp`), §2.1 (key), §2.4, §3.4, §5.1, §6.1.
//!
//! Modelling choices (docs/scheduling.md "Cgroup clocks"): the root cgroup has id
//! [`ROOT_CGROUP`] and the idle task belongs to it, so a CPU going idle switches to the root;
//! a cgroup clock advances only while active; `nr_cgroups` counts installed cgroup events (the
//! kernel counts enabled ones); and when the first cgroup event arrives on a CPU whose context
//! clock already runs, the model activates the current cgroup path at once (the kernel's
//! `perf_cgroup_event_enable()` only sets `cpuctx->cgrp`, leaving the clocks to start at the
//! next context-clock start or cgroup switch).

use super::context::{CtxId, EVENT_ALL, EVENT_TIME};
use super::engine::Engine;
use crate::{Error, Result};

/// Id of the root cgroup (cgroup v2's root has id 1).
pub const ROOT_CGROUP: u64 = 1;

/// `struct perf_cgroup_info`: one cgroup's clock on one CPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CgrpTime {
    /// Accumulated cgroup time on this CPU (ns).
    pub time: u64,
    /// Machine time of the last update (ns).
    pub stamp: u64,
    /// The clock runs (the cgroup or a descendant is current on this CPU).
    pub active: bool,
}

impl Engine {
    /// Put a task in a cgroup (`None` = the root). A task running on a CPU switches that CPU's
    /// cgroup at once (`perf_cgroup_attach()` -> `__perf_cgroup_move()` -> `perf_cgroup_switch()`).
    pub fn set_task_cgroup(&mut self, task: u32, cgroup: Option<u64>) {
        let cg = cgroup.unwrap_or(ROOT_CGROUP);
        if cg == ROOT_CGROUP {
            self.task_cgroup.remove(&task);
        } else {
            self.task_cgroup.insert(task, cg);
        }
        if let Some(cpu) = self.current.iter().position(|t| *t == Some(task)) {
            self.perf_cgroup_switch(cpu as u32, cg);
        }
    }

    /// The cgroup of a task (the root unless set).
    pub fn task_cgroup_of(&self, task: u32) -> u64 {
        self.task_cgroup.get(&task).copied().unwrap_or(ROOT_CGROUP)
    }

    /// Declare a cgroup and its parent (`None` = a child of the root).
    pub fn add_cgroup(&mut self, cgroup: u64, parent: Option<u64>) -> Result<()> {
        if cgroup == ROOT_CGROUP || cgroup == 0 {
            return Err(Error::Usage(format!("cgroup {cgroup} is the root (1) or invalid (0)")));
        }
        let p = parent.unwrap_or(ROOT_CGROUP);
        if p == cgroup || self.cgroup_path(p).contains(&cgroup) {
            return Err(Error::Usage(format!("cgroup {cgroup} cannot be its own ancestor")));
        }
        self.cgroup_parent.insert(cgroup, p);
        Ok(())
    }

    /// A cgroup and its ancestors, current first (the root last for declared cgroups).
    pub fn cgroup_path(&self, cg: u64) -> Vec<u64> {
        let mut v = vec![cg];
        let mut c = cg;
        while let Some(&p) = self.cgroup_parent.get(&c) {
            if v.contains(&p) {
                break;
            }
            v.push(p);
            c = p;
        }
        v
    }

    /// `cgroup_is_descendant(cg, ancestor)`.
    pub fn cgroup_is_descendant(&self, cg: u64, ancestor: u64) -> bool {
        self.cgroup_path(cg).contains(&ancestor)
    }

    /// The current cgroup of a CPU (`cpuctx->cgrp`; the root while idle).
    pub fn cpu_cgroup(&self, cpu: u32) -> u64 {
        self.cpu_cgrp.get(cpu as usize).copied().unwrap_or(ROOT_CGROUP)
    }

    /// `perf_cgroup_event_time_now()`: the clock of `cg` on `cpu` now.
    pub fn cgroup_time_now(&self, cg: u64, cpu: u32) -> u64 {
        match self.cgrp_time.get(&(cg, cpu)) {
            Some(t) if t.active => t.time + self.now.saturating_sub(t.stamp),
            Some(t) => t.time,
            None => 0,
        }
    }

    /// `update_cgrp_time_from_cpuctx(cpuctx, final)`.
    pub(crate) fn update_cgrp_time_from_cpuctx(&mut self, cpu: u32, final_: bool) {
        if self.cpu_nr_cgroups[cpu as usize] == 0 {
            return;
        }
        let now = self.now;
        for cg in self.cgroup_path(self.cpu_cgroup(cpu)) {
            let t = self.cgrp_time.entry((cg, cpu)).or_default();
            if t.active {
                t.time += now.saturating_sub(t.stamp);
            }
            t.stamp = now;
            if final_ {
                t.active = false;
            }
        }
    }

    /// `perf_cgroup_set_timestamp(cpuctx)`: the CPU context clock starts.
    pub(crate) fn perf_cgroup_set_timestamp(&mut self, cpu: u32) {
        if self.cpu_nr_cgroups[cpu as usize] == 0 {
            return;
        }
        let now = self.now;
        for cg in self.cgroup_path(self.cpu_cgroup(cpu)) {
            let t = self.cgrp_time.entry((cg, cpu)).or_default();
            t.stamp = now;
            t.active = true;
        }
    }

    /// `perf_cgroup_event_enable()` at install (see the module notes).
    pub(crate) fn cgroup_event_added(&mut self, id: u32) {
        let (cg, ctx, epc) = {
            let e = self.e(id);
            (e.spec.cgroup, e.ctx, e.epc)
        };
        let (Some(_), Some(cpu)) = (cg, self.cpu_of_cpu_ctx(ctx)) else { return };
        self.epcs[epc.0 as usize].nr_cgroups += 1;
        self.cpu_nr_cgroups[cpu as usize] += 1;
        if self.cpu_nr_cgroups[cpu as usize] == 1 && self.ctxs[ctx.0 as usize].is_active & EVENT_TIME != 0 {
            self.perf_cgroup_set_timestamp(cpu);
        }
    }

    /// `perf_cgroup_event_disable()` at removal.
    pub(crate) fn cgroup_event_removed(&mut self, id: u32) {
        let (cg, ctx, epc) = {
            let e = self.e(id);
            (e.spec.cgroup, e.ctx, e.epc)
        };
        let (Some(_), Some(cpu)) = (cg, self.cpu_of_cpu_ctx(ctx)) else { return };
        if self.cpu_nr_cgroups[cpu as usize] == 1 {
            self.update_cgrp_time_from_cpuctx(cpu, true);
        }
        let n = &mut self.epcs[epc.0 as usize].nr_cgroups;
        *n = n.saturating_sub(1);
        let n = &mut self.cpu_nr_cgroups[cpu as usize];
        *n = n.saturating_sub(1);
    }

    fn cpu_of_cpu_ctx(&self, ctx: CtxId) -> Option<u32> {
        match self.ctxs[ctx.0 as usize].kind {
            super::context::CtxKind::Cpu(c) => Some(c),
            super::context::CtxKind::Task(_) => None,
        }
    }

    /// `perf_cgroup_switch()`: the CPU's cgroup becomes `cg`. With cgroup events on the CPU,
    /// the epcs holding them are scheduled out (cgroup clocks updated and stopped), the cgroup
    /// changes, and they are scheduled in (the new path's clocks start).
    pub(crate) fn perf_cgroup_switch(&mut self, cpu: u32, cg: u64) {
        if self.cpu_cgrp[cpu as usize] == cg {
            return;
        }
        if self.cpu_nr_cgroups[cpu as usize] == 0 {
            self.cpu_cgrp[cpu as usize] = cg;
            return;
        }
        let cctx = self.cpu_ctx[cpu as usize];
        self.ctx_sched_out_ex(cctx, EVENT_ALL, true);
        self.cpu_cgrp[cpu as usize] = cg;
        self.ctx_sched_in_ex(cctx, cpu, EVENT_ALL, true);
    }
}
