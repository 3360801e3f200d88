//! The context switch of a CPU: the optimised swap of two equivalent task contexts and the
//! slow path (full sched_out / sched_in).
//!
//! Models, in kernel/events/core.c: `__perf_event_task_sched_out()` /
//! `perf_event_context_sched_out()` (the swap preconditions: both tasks have contexts, one is
//! a clone, `context_equiv()`, no `nr_no_switch_fast`; the swap exchanges `ctx->task` and the
//! two tasks' context pointers without touching the PMU, then `perf_event_sync_stat()`;
//! otherwise `task_ctx_sched_out()`), `__perf_event_task_sched_in()` /
//! `perf_event_context_sched_in()` (nothing to do when `cpuctx->task_ctx` already is the
//! incoming task's context; else the CPU-flexible reschedule for a task with pinned groups,
//! then `perf_event_sched_in()`) and `perf_cgroup_switch()` at sched-out time.
//! The PMUs' `sched_task` callbacks and the SWITCH records are run by the machine from the
//! returned [`SwitchOutcome`]. Spec: context-and-scheduling.md §6.1-6.3, §6.5.

use super::cgroup::ROOT_CGROUP;
use super::context::{CtxId, EVENT_ALL, EVENT_FLEXIBLE};
use super::engine::Engine;
use crate::{Error, Result};

/// What one context switch on a CPU did (task ids are the engine's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwitchOutcome {
    /// The CPU.
    pub cpu: u32,
    /// The task switched out (None: the CPU was idle).
    pub prev: Option<u32>,
    /// The task switched in (None: the CPU goes idle).
    pub next: Option<u32>,
    /// The optimised path ran: the two task contexts were swapped, no event was scheduled.
    pub swapped: bool,
}

impl Engine {
    /// `context_equiv()`: two unpinned contexts are clones of one generation of the same
    /// context (one the parent of the other, or siblings with the same flattened parent).
    pub fn context_equiv(&self, a: CtxId, b: CtxId) -> bool {
        let (c1, c2) = (&self.ctxs[a.0 as usize], &self.ctxs[b.0 as usize]);
        if c1.pin_count > 0 || c2.pin_count > 0 {
            return false;
        }
        if c2.parent_ctx == Some(a) && c1.generation == c2.parent_gen {
            return true;
        }
        if c1.parent_ctx == Some(b) && c1.parent_gen == c2.generation {
            return true;
        }
        c1.parent_ctx.is_some() && c1.parent_ctx == c2.parent_ctx && c1.parent_gen == c2.parent_gen
    }

    /// Context switch: `task` starts running on `cpu`; the task running there (if any) is
    /// switched out first, by the optimised swap when the machine allows it and the two
    /// contexts are equivalent.
    pub fn switch_in(&mut self, cpu: u32, task: u32) -> Result<SwitchOutcome> {
        self.check_cpu(cpu)?;
        if let Some(c) = self.current.iter().position(|t| *t == Some(task)) {
            if c as u32 != cpu {
                return Err(Error::Usage(format!("task {task} is already running on cpu {c}")));
            }
        }
        let prev = self.current[cpu as usize];
        let swapped = match prev {
            Some(p) => self.perf_event_context_sched_out(cpu, p, Some(task)),
            None => false,
        };
        self.current[cpu as usize] = Some(task);
        let cg = self.task_cgroup_of(task);
        self.perf_cgroup_switch(cpu, cg);
        self.perf_event_context_sched_in(cpu, task);
        Ok(SwitchOutcome { cpu, prev, next: Some(task), swapped })
    }

    /// Context switch out of the task running on `cpu` to the idle task (no context, root
    /// cgroup): always the slow path.
    pub fn switch_out(&mut self, cpu: u32) -> Result<SwitchOutcome> {
        self.check_cpu(cpu)?;
        let prev = self.current[cpu as usize];
        if let Some(p) = prev {
            self.perf_event_context_sched_out(cpu, p, None);
        }
        self.current[cpu as usize] = None;
        self.perf_cgroup_switch(cpu, ROOT_CGROUP);
        Ok(SwitchOutcome { cpu, prev, next: None, swapped: false })
    }

    /// `perf_event_context_sched_out(prev, next)`: swap the two contexts if equivalent,
    /// else schedule `prev`'s context out. Returns whether it swapped.
    fn perf_event_context_sched_out(&mut self, cpu: u32, prev: u32, next: Option<u32>) -> bool {
        let Some(ctx) = self.cpu_task_ctx[cpu as usize] else { return false };
        let next_ctx = next.filter(|&n| n != prev).and_then(|n| self.task_ctx.get(&n).copied());
        if let (Some(nc), Some(n), true) = (next_ctx, next, self.optimized_switch) {
            let (c1, c2) = (&self.ctxs[ctx.0 as usize], &self.ctxs[nc.0 as usize]);
            let maybe_clones = c1.parent_ctx.is_some() || c2.parent_ctx.is_some();
            if maybe_clones && self.context_equiv(ctx, nc) && c1.nr_no_switch_fast == 0 && c2.nr_no_switch_fast == 0 {
                self.swap_task_contexts(ctx, prev, nc, n);
                self.perf_event_sync_stat(ctx, nc);
                self.stats.switch_swap += 1;
                return true;
            }
        }
        self.ctx_sched_out(ctx, EVENT_ALL);
        self.stats.switch_slow += 1;
        false
    }

    /// The swap: `ctx->task` exchanged and the two tasks' `perf_event_ctxp` exchanged; the
    /// running context stays on the PMU (`cpuctx->task_ctx` unchanged), now owned by `next`.
    fn swap_task_contexts(&mut self, ctx: CtxId, prev: u32, next_ctx: CtxId, next: u32) {
        self.ctxs[ctx.0 as usize].kind = super::context::CtxKind::Task(next);
        self.ctxs[next_ctx.0 as usize].kind = super::context::CtxKind::Task(prev);
        self.task_ctx.insert(prev, next_ctx);
        self.task_ctx.insert(next, ctx);
    }

    /// `perf_event_sync_stat()`: with `inherit_stat` events, the paired events of the two
    /// clones (same `event_list` order) exchange count and times, so per-task figures follow
    /// the task rather than the context object.
    fn perf_event_sync_stat(&mut self, ctx: CtxId, next_ctx: CtxId) {
        if self.ctxs[ctx.0 as usize].nr_stat == 0 {
            return;
        }
        self.update_ctx_time(ctx);
        let pairs: Vec<(u32, u32)> = self.ctxs[ctx.0 as usize]
            .event_list
            .iter()
            .rev()
            .copied()
            .zip(self.ctxs[next_ctx.0 as usize].event_list.iter().rev().copied())
            .collect();
        for (a, b) in pairs {
            if !self.e(a).spec.inherit.inherit_stat {
                continue;
            }
            self.update_event_time(a);
            self.update_event_time(b);
            let (ea, eb) = (self.e(a), self.e(b));
            let (ca, ta, ra) = (ea.count, ea.total_time_enabled, ea.total_time_running);
            let (cb, tb, rb) = (eb.count, eb.total_time_enabled, eb.total_time_running);
            let x = self.em(a);
            (x.count, x.total_time_enabled, x.total_time_running) = (cb, tb, rb);
            let y = self.em(b);
            (y.count, y.total_time_enabled, y.total_time_running) = (ca, ta, ra);
        }
    }

    /// `perf_event_context_sched_in(task)`: nothing if the swap left the task's context on
    /// this CPU; else (after the CPU-flexible reschedule for a task with pinned groups)
    /// `perf_event_sched_in()`.
    fn perf_event_context_sched_in(&mut self, cpu: u32, task: u32) {
        let ctx = self.task_ctx.get(&task).copied();
        if ctx.is_some() && self.cpu_task_ctx[cpu as usize] == ctx {
            return;
        }
        if let Some(t) = ctx {
            let c = &self.ctxs[t.0 as usize];
            if c.nr_events > 0 && !c.pinned.is_empty() {
                let cctx = self.cpu_ctx[cpu as usize];
                self.ctx_sched_out(cctx, EVENT_FLEXIBLE);
            }
        }
        self.perf_event_sched_in(cpu);
    }

    /// The task whose context `ctx` is now (`ctx->task`), None for a CPU or dead context.
    pub fn ctx_task(&self, ctx: CtxId) -> Option<u32> {
        let c = self.ctxs.get(ctx.0 as usize)?;
        match c.kind {
            super::context::CtxKind::Task(t) if !c.tombstone => Some(t),
            _ => None,
        }
    }
}
