//! Scheduling: sched_in/out of contexts and groups, enable/disable, rotation and the mux
//! timer, time accounting and the counting model.
//!
//! Models, in kernel/events/core.c: `perf_event_sched_in()` (CPU pinned, task pinned, CPU
//! flexible, task flexible), `ctx_sched_in()` / `ctx_sched_out()` (is_active bits, only
//! newly-set / newly-cleared kinds are scheduled, the context clock starts / stops, the
//! `cpuctx->task_ctx` link), `__pmu_ctx_sched_out()`, `pmu_groups_sched_in()` with
//! `visit_groups_merge()` and `__link_epc()`, `merge_sched_in()` (filter match, `can_add_hw`
//! early stop, pinned failure -> ERROR, flexible failure -> `rotate_necessary` + timer start),
//! `group_can_go_on()`, `group_sched_in()` (all-or-nothing through PMU transactions),
//! `event_sched_in()` / `event_sched_out()` / `group_sched_out()`, `ctx_resched()`,
//! `_perf_event_enable()` / `__perf_event_disable()`, `perf_rotate_context()`,
//! `ctx_event_to_rotate()`, `rotate_ctx()`, `perf_mux_hrtimer_handler()`,
//! `__perf_update_times()` / `perf_event_set_state()` (enabled while the effective state is
//! at least INACTIVE, running while ACTIVE, lazily against the context clock) and the context-switch
//! hooks' building blocks (the switch itself is in [`super::switch`]).
//! Spec: context-and-scheduling.md §3, §4, §5.
//!
//! Counting model: an ACTIVE event's count grows at the rate the caller set for (task running
//! on its CPU, event kind), per second of machine time.

use super::context::{CtxId, CtxKind, EpcId, EVENT_ALL, EVENT_FLEXIBLE, EVENT_PINNED, EVENT_TIME};
use super::engine::Engine;
use super::groups::{cpu_heads, task_heads};
use crate::events::EventState;
use crate::{Error, Result};
use std::ops::ControlFlow;

impl Engine {
    #[inline]
    fn ctx_cpu_of(&self, ctx: CtxId) -> Option<u32> {
        match self.ctxs[ctx.0 as usize].kind {
            CtxKind::Cpu(c) => Some(c),
            CtxKind::Task(_) => self.cpu_task_ctx.iter().position(|t| *t == Some(ctx)).map(|c| c as u32),
        }
    }

    /// `update_context_time()` plus, for a CPU context, `update_cgrp_time_from_cpuctx()`.
    pub(crate) fn update_ctx_time(&mut self, ctx: CtxId) {
        let now = self.now;
        let c = &mut self.ctxs[ctx.0 as usize];
        if c.is_active & EVENT_TIME != 0 {
            c.time.update(now, true);
            if let CtxKind::Cpu(cpu) = c.kind {
                self.update_cgrp_time_from_cpuctx(cpu, false);
            }
        }
    }

    /// `perf_event_time()` "now": the cgroup clock of a cgroup event on its CPU, else the
    /// context clock.
    fn event_time_now(&self, id: u32) -> u64 {
        let e = self.e(id);
        match (e.spec.cgroup, self.ctxs[e.ctx.0 as usize].kind) {
            (Some(cg), CtxKind::Cpu(cpu)) => self.cgroup_time_now(cg, cpu),
            _ => self.ctxs[e.ctx.0 as usize].time_now(self.now),
        }
    }

    /// `perf_event_update_time()`: fold the time since `tstamp` into the totals by the
    /// effective state.
    pub(crate) fn update_event_time(&mut self, id: u32) {
        let (leader, state) = {
            let e = self.e(id);
            (e.leader, e.state)
        };
        let now = self.event_time_now(id);
        let lstate = self.e(leader).state;
        let eff = if leader != id && lstate <= EventState::Off { lstate } else { state };
        let e = self.em(id);
        let delta = now.saturating_sub(e.tstamp);
        if eff >= EventState::Inactive {
            e.total_time_enabled += delta;
        }
        if eff == EventState::Active {
            e.total_time_running += delta;
        }
        e.tstamp = now;
    }

    /// `perf_event_set_state()`.
    pub(crate) fn set_state(&mut self, id: u32, new: EventState) {
        let old = self.e(id).state;
        self.update_event_time(id);
        if self.e(id).leader == id && ((old > EventState::Off) != (new > EventState::Off)) {
            let sibs = self.e(id).siblings.clone();
            for s in sibs {
                self.update_event_time(s);
            }
        }
        self.em(id).state = new;
    }

    fn pmu_add(&mut self, id: u32, cpu: u32) -> bool {
        let (pmu, c) = {
            let e = self.e(id);
            (e.spec.pmu, e.spec.constraint)
        };
        self.pmus[pmu as usize].ops.add(cpu, id, c).is_ok()
    }

    fn pmu_del(&mut self, id: u32, cpu: u32) {
        let (pmu, c) = {
            let e = self.e(id);
            (e.spec.pmu, e.spec.constraint)
        };
        if c.is_some() {
            let _ = self.pmus[pmu as usize].ops.del(cpu, id);
        }
    }

    /// `event_sched_in()`: false when the PMU refused the event.
    fn event_sched_in(&mut self, id: u32, cpu: u32) -> bool {
        if self.e(id).state <= EventState::Off {
            return true;
        }
        self.em(id).oncpu = cpu as i32;
        self.set_state(id, EventState::Active);
        if !self.pmu_add(id, cpu) {
            self.set_state(id, EventState::Inactive);
            self.em(id).oncpu = -1;
            return false;
        }
        self.stats.event_sched_in += 1;
        if !self.e(id).is_software() {
            let (pmu, excl) = (self.e(id).spec.pmu, self.e(id).spec.exclusive);
            let i = self.cpc_index(pmu, cpu);
            self.cpcs[i].active_oncpu += 1;
            if excl {
                self.cpcs[i].exclusive = true;
            }
        }
        true
    }

    /// `event_sched_out()`.
    pub(crate) fn event_sched_out(&mut self, id: u32) {
        if self.e(id).state != EventState::Active {
            return;
        }
        let cpu = self.e(id).oncpu as u32;
        let (epc, pinned) = (self.e(id).epc, self.e(id).spec.pinned);
        self.epcs[epc.0 as usize].active_list(pinned).retain(|&x| x != id);
        self.pmu_del(id, cpu);
        self.em(id).oncpu = -1;
        self.set_state(id, EventState::Inactive);
        self.stats.event_sched_out += 1;
        if !self.e(id).is_software() {
            let (pmu, excl) = (self.e(id).spec.pmu, self.e(id).spec.exclusive);
            let i = self.cpc_index(pmu, cpu);
            let c = &mut self.cpcs[i];
            c.active_oncpu = c.active_oncpu.saturating_sub(1);
            if excl || c.active_oncpu == 0 {
                c.exclusive = false;
            }
        }
    }

    /// `group_sched_out()`.
    pub(crate) fn group_sched_out(&mut self, l: u32) {
        if self.e(l).state != EventState::Active {
            return;
        }
        self.event_sched_out(l);
        for i in 0..self.e(l).siblings.len() {
            let s = self.e(l).siblings[i];
            self.event_sched_out(s);
        }
    }

    fn txn(&mut self, pmu: u32, cpu: u32, op: u8) -> bool {
        let p = &mut self.pmus[pmu as usize].ops;
        match op {
            0 => p.start_txn(cpu).is_ok(),
            1 => p.commit_txn(cpu).is_ok(),
            _ => p.cancel_txn(cpu).is_ok(),
        }
    }

    /// `group_sched_in()`: all members or none.
    fn group_sched_in(&mut self, l: u32, cpu: u32) -> bool {
        if self.e(l).state == EventState::Off {
            return true;
        }
        let pmu = self.epcs[self.e(l).epc.0 as usize].pmu;
        self.txn(pmu, cpu, 0);
        if !self.event_sched_in(l, cpu) {
            self.txn(pmu, cpu, 2);
            self.stats.txn_failed += 1;
            return false;
        }
        let n = self.e(l).siblings.len();
        let mut failed_at = None;
        for i in 0..n {
            let s = self.e(l).siblings[i];
            if !self.event_sched_in(s, cpu) {
                failed_at = Some(i);
                break;
            }
        }
        if failed_at.is_none() && self.txn(pmu, cpu, 1) {
            return true;
        }
        let upto = failed_at.unwrap_or(n);
        for i in 0..upto {
            let s = self.e(l).siblings[i];
            self.event_sched_out(s);
        }
        self.event_sched_out(l);
        self.txn(pmu, cpu, 2);
        self.stats.txn_failed += 1;
        false
    }

    fn group_is_software(&self, l: u32) -> bool {
        self.e(l).is_software() && self.e(l).siblings.iter().all(|&s| self.e(s).is_software())
    }

    /// `group_can_go_on()`.
    fn group_can_go_on(&self, l: u32, cpu: u32, can_add_hw: bool) -> bool {
        if self.group_is_software(l) {
            return true;
        }
        let epc = &self.epcs[self.e(l).epc.0 as usize];
        if self.cpcs[self.cpc_index(epc.pmu, cpu)].exclusive {
            return false;
        }
        let pinned = self.e(l).spec.pinned;
        let list = if pinned { &epc.pinned_active } else { &epc.flexible_active };
        if self.e(l).spec.exclusive && !list.is_empty() {
            return false;
        }
        can_add_hw
    }

    fn cgroup_match(&self, l: u32, cpu: u32) -> bool {
        match self.e(l).spec.cgroup {
            None => true,
            Some(cg) => self.cgroup_is_descendant(self.cpu_cgroup(cpu), cg),
        }
    }

    /// `merge_sched_in()`.
    fn merge_sched_in(&mut self, l: u32, cpu: u32, can_add_hw: &mut bool) {
        if self.e(l).state <= EventState::Off {
            return;
        }
        let ecpu = self.e(l).spec.cpu;
        if !(ecpu == -1 || ecpu == cpu as i32) || !self.cgroup_match(l, cpu) {
            return;
        }
        if self.group_can_go_on(l, cpu, *can_add_hw) && self.group_sched_in(l, cpu) {
            let (epc, pinned) = (self.e(l).epc, self.e(l).spec.pinned);
            self.epcs[epc.0 as usize].active_list(pinned).push(l);
        }
        if self.e(l).state == EventState::Inactive {
            *can_add_hw = false;
            if self.e(l).spec.pinned {
                self.set_state(l, EventState::Error);
            } else {
                let epc = self.e(l).epc;
                self.epcs[epc.0 as usize].rotate_necessary = true;
                let i = self.cpc_index(self.epcs[epc.0 as usize].pmu, cpu);
                let now = self.now;
                self.cpcs[i].timer_restart(now);
            }
        }
    }

    /// `pmu_groups_sched_in()` for one (ctx, kind, epc) walk.
    fn pmu_groups_sched_in(&mut self, ctx: CtxId, epc: EpcId, pinned: bool, cpu: u32) {
        let pmu = self.epcs[epc.0 as usize].pmu;
        let skip = self.pmus[pmu as usize].filter(cpu);
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        let c = &self.ctxs[ctx.0 as usize];
        let is_task = c.is_task();
        let tree = c.groups(pinned);
        let mut st = self.stats.tree;
        if is_task {
            let _ = tree.visit_merge::<(), _>(&task_heads(cpu as i32), pmu, skip, &mut st, |_, v| {
                buf.push(v);
                ControlFlow::Continue(())
            });
        } else {
            let path =
                if self.cpu_nr_cgroups[cpu as usize] > 0 { self.cgroup_path(self.cpu_cgroup(cpu)) } else { Vec::new() };
            let _ = tree.visit_merge::<(), _>(&cpu_heads(cpu as i32, &path), pmu, skip, &mut st, |_, v| {
                buf.push(v);
                ControlFlow::Continue(())
            });
        }
        self.stats.tree = st;
        if is_task && !buf.is_empty() {
            let i = self.cpc_index(pmu, cpu);
            self.cpcs[i].task_epc = Some(epc);
        }
        let mut can_add_hw = true;
        for &l in &buf {
            self.merge_sched_in(l, cpu, &mut can_add_hw);
        }
        self.scratch = buf;
    }

    /// `ctx_sched_in(ctx, event_type)` on `cpu`.
    pub fn ctx_sched_in(&mut self, ctx: CtxId, cpu: u32, event_type: u8) {
        self.ctx_sched_in_ex(ctx, cpu, event_type, false);
    }

    /// `ctx_sched_in()`; `cgroup_only` is `EVENT_CGROUP` (only epcs with cgroup events).
    pub(crate) fn ctx_sched_in_ex(&mut self, ctx: CtxId, cpu: u32, event_type: u8, cgroup_only: bool) {
        let now = self.now;
        let c = &mut self.ctxs[ctx.0 as usize];
        if c.nr_events == 0 {
            return;
        }
        if c.is_active & EVENT_TIME == 0 {
            c.time.update(now, false);
            if !c.is_task() {
                self.perf_cgroup_set_timestamp(cpu);
            }
        }
        let c = &mut self.ctxs[ctx.0 as usize];
        let old = c.is_active;
        c.is_active |= event_type | EVENT_TIME;
        let is_task = c.is_task();
        let changed = (old ^ c.is_active) & event_type;
        if is_task && old & EVENT_ALL == 0 {
            self.cpu_task_ctx[cpu as usize] = Some(ctx);
        }
        if changed == 0 {
            return;
        }
        self.stats.ctx_sched_in += 1;
        for kind in [EVENT_PINNED, EVENT_FLEXIBLE] {
            if changed & kind != 0 {
                for i in 0..self.ctxs[ctx.0 as usize].epcs.len() {
                    let epc = self.ctxs[ctx.0 as usize].epcs[i];
                    if cgroup_only && self.epcs[epc.0 as usize].nr_cgroups == 0 {
                        continue;
                    }
                    self.pmu_groups_sched_in(ctx, epc, kind == EVENT_PINNED, cpu);
                }
            }
        }
    }

    fn pmu_ctx_sched_out(&mut self, epc: EpcId, changed: u8, clear_task_epc: Option<u32>) {
        if let Some(cpu) = clear_task_epc {
            let i = self.cpc_index(self.epcs[epc.0 as usize].pmu, cpu);
            if self.cpcs[i].task_epc == Some(epc) {
                self.cpcs[i].task_epc = None;
            }
        }
        // Take each active list whole (every leader on it leaves), so each event_sched_out()
        // finds an empty list instead of searching it: O(n), not O(n^2).
        for pinned in [true, false] {
            if changed & (if pinned { EVENT_PINNED } else { EVENT_FLEXIBLE }) == 0 {
                continue;
            }
            let mut list = std::mem::take(self.epcs[epc.0 as usize].active_list(pinned));
            for &l in &list {
                self.group_sched_out(l);
            }
            list.clear();
            let slot = self.epcs[epc.0 as usize].active_list(pinned);
            if slot.is_empty() {
                *slot = list; // keep the capacity
            }
            if !pinned {
                self.epcs[epc.0 as usize].rotate_necessary = false;
            }
        }
    }

    /// `ctx_sched_out(ctx, event_type)`.
    pub fn ctx_sched_out(&mut self, ctx: CtxId, event_type: u8) {
        self.ctx_sched_out_ex(ctx, event_type, false);
    }

    /// `ctx_sched_out()`; `cgroup_only` is `EVENT_CGROUP` (only epcs with cgroup events). The
    /// cgroup clocks of a CPU context stop ("final") when its clock stops.
    pub(crate) fn ctx_sched_out_ex(&mut self, ctx: CtxId, event_type: u8, cgroup_only: bool) {
        if self.ctxs[ctx.0 as usize].nr_events == 0 {
            return;
        }
        let cpu = self.ctx_cpu_of(ctx);
        self.update_ctx_time(ctx);
        let c = &mut self.ctxs[ctx.0 as usize];
        let old = c.is_active;
        c.is_active &= !event_type;
        if c.is_active & EVENT_ALL == 0 {
            c.is_active = 0;
            if let (CtxKind::Cpu(cpu), true) = (c.kind, old & EVENT_TIME != 0) {
                self.update_cgrp_time_from_cpuctx(cpu, true);
            }
        }
        let c = &mut self.ctxs[ctx.0 as usize];
        let now_inactive = c.is_active == 0;
        let is_task = c.is_task();
        let changed = old ^ c.is_active;
        if is_task && now_inactive {
            if let Some(cpu) = cpu {
                self.cpu_task_ctx[cpu as usize] = None;
            }
        }
        if changed & EVENT_ALL == 0 {
            return;
        }
        self.stats.ctx_sched_out += 1;
        let clear = if is_task && now_inactive { cpu } else { None };
        for i in 0..self.ctxs[ctx.0 as usize].epcs.len() {
            let epc = self.ctxs[ctx.0 as usize].epcs[i];
            if cgroup_only && self.epcs[epc.0 as usize].nr_cgroups == 0 {
                continue;
            }
            self.pmu_ctx_sched_out(epc, changed, clear);
        }
    }

    /// `perf_event_sched_in()`: CPU pinned, task pinned, CPU flexible, task flexible.
    pub fn perf_event_sched_in(&mut self, cpu: u32) {
        let cctx = self.cpu_ctx[cpu as usize];
        let tctx = self.cpu_task_ctx[cpu as usize].or_else(|| self.current_task_ctx(cpu));
        self.ctx_sched_in(cctx, cpu, EVENT_PINNED);
        if let Some(t) = tctx {
            self.ctx_sched_in(t, cpu, EVENT_PINNED);
        }
        self.ctx_sched_in(cctx, cpu, EVENT_FLEXIBLE);
        if let Some(t) = tctx {
            self.ctx_sched_in(t, cpu, EVENT_FLEXIBLE);
        }
    }

    pub(crate) fn current_task_ctx(&self, cpu: u32) -> Option<CtxId> {
        self.current[cpu as usize].and_then(|t| self.task_ctx.get(&t).copied())
    }

    /// `ctx_resched()` after installing or enabling `id`.
    pub(crate) fn resched_for(&mut self, id: u32) {
        let l = self.e(id).leader;
        let (ctx, pinned) = (self.e(id).ctx, self.e(l).spec.pinned);
        let Some(cpu) = self.ctx_cpu_of(ctx) else { return };
        let ty = if pinned { EVENT_ALL } else { EVENT_FLEXIBLE };
        let is_cpu_ctx = !self.ctxs[ctx.0 as usize].is_task();
        if let Some(t) = self.cpu_task_ctx[cpu as usize] {
            self.ctx_sched_out(t, ty);
        }
        let cctx = self.cpu_ctx[cpu as usize];
        if is_cpu_ctx {
            self.ctx_sched_out(cctx, ty);
        } else if pinned {
            self.ctx_sched_out(cctx, EVENT_FLEXIBLE);
        }
        self.perf_event_sched_in(cpu);
    }

    pub(crate) fn check_cpu(&self, cpu: u32) -> Result<()> {
        if cpu >= self.nr_cpus {
            return Err(Error::Usage(format!("cpu = {cpu} is not a CPU of this machine (0..{})", self.nr_cpus)));
        }
        Ok(())
    }

    /// `PERF_EVENT_IOC_ENABLE` on the event and every inherited child
    /// (`perf_event_for_each_child()`), so clones stay equivalent.
    pub fn enable(&mut self, id: u32) -> Result<()> {
        self.ev(id)?;
        for e in std::iter::once(id).chain(self.e(id).children.clone()) {
            self.enable_one(e);
        }
        Ok(())
    }

    /// `PERF_EVENT_IOC_DISABLE` on the event and every inherited child
    /// (`perf_event_for_each_child()`).
    pub fn disable(&mut self, id: u32) -> Result<()> {
        self.ev(id)?;
        for e in std::iter::once(id).chain(self.e(id).children.clone()) {
            self.disable_one(e);
        }
        Ok(())
    }

    /// `_perf_event_enable()`: ERROR -> OFF -> INACTIVE, then reschedule if the context runs.
    fn enable_one(&mut self, id: u32) {
        let st = self.e(id).state;
        if st >= EventState::Inactive || st < EventState::Error {
            return;
        }
        if st == EventState::Error {
            self.em(id).state = EventState::Off;
        }
        self.set_state(id, EventState::Inactive);
        let l = self.e(id).leader;
        let ctx = self.e(id).ctx;
        if self.ctxs[ctx.0 as usize].is_active != 0 && (l == id || self.e(l).state == EventState::Active) {
            self.resched_for(id);
        }
    }

    /// `__perf_event_disable()`: a leader takes its group off the PMU; only the target event
    /// becomes OFF.
    fn disable_one(&mut self, id: u32) {
        if self.e(id).state < EventState::Inactive {
            return;
        }
        self.update_ctx_time(self.e(id).ctx);
        if self.e(id).leader == id {
            self.group_sched_out(id);
        } else {
            self.event_sched_out(id);
        }
        self.set_state(id, EventState::Off);
    }

    /// `ctx_event_to_rotate()`.
    fn ctx_event_to_rotate(&mut self, epc: EpcId, cpu: u32) -> Option<u32> {
        let e = &self.epcs[epc.0 as usize];
        let (pmu, ctx) = (e.pmu, e.ctx);
        let mut pick = e.flexible_active.first().copied();
        if pick.is_none() {
            let c = &self.ctxs[ctx.0 as usize];
            let mut n = if c.is_task() { c.flexible.first_ignore_cgroup(-1, pmu) } else { Default::default() };
            if n.is_nil() {
                n = c.flexible.first_ignore_cgroup(cpu as i32, pmu);
            }
            if !n.is_nil() {
                pick = Some(c.flexible.val(n));
            }
        }
        self.epcs[epc.0 as usize].rotate_necessary = false;
        pick
    }

    fn rotate_ctx(&mut self, l: u32) {
        let ctx = self.e(l).ctx;
        if self.ctxs[ctx.0 as usize].rotate_disable {
            return;
        }
        self.list_del_leader(l);
        self.list_add_leader(l);
    }

    /// `perf_rotate_context()` for the cpc of (`pmu`, `cpu`). Returns whether it rotated
    /// (the timer keeps running).
    pub fn rotate(&mut self, cpu: u32, pmu: u32) -> Result<bool> {
        self.check_cpu(cpu)?;
        if pmu as usize >= self.pmus.len() {
            return Err(Error::NotFound(format!("no PMU {pmu}")));
        }
        let i = self.cpc_index(pmu, cpu);
        let cpu_epc = self.cpcs[i].epc;
        let task_epc = self.cpcs[i].task_epc;
        let cpu_rotate = self.epcs[cpu_epc.0 as usize].rotate_necessary;
        let task_rotate = task_epc.is_some_and(|e| self.epcs[e.0 as usize].rotate_necessary);
        if !cpu_rotate && !task_rotate {
            return Ok(false);
        }
        let task_event = if task_rotate { task_epc.and_then(|e| self.ctx_event_to_rotate(e, cpu)) } else { None };
        let cpu_event = if cpu_rotate { self.ctx_event_to_rotate(cpu_epc, cpu) } else { None };
        let task_out = task_event.is_some() || (task_epc.is_some() && cpu_event.is_some());
        if task_out {
            let te = task_epc.expect("task epc");
            self.update_ctx_time(self.epcs[te.0 as usize].ctx);
            self.pmu_ctx_sched_out(te, EVENT_FLEXIBLE, None);
        }
        if let Some(ce) = cpu_event {
            let cctx = self.cpu_ctx[cpu as usize];
            self.update_ctx_time(cctx);
            self.pmu_ctx_sched_out(cpu_epc, EVENT_FLEXIBLE, None);
            self.rotate_ctx(ce);
            if self.ctxs[cctx.0 as usize].is_active & EVENT_FLEXIBLE != 0 {
                self.pmu_groups_sched_in(cctx, cpu_epc, false, cpu);
            }
        }
        if let Some(te) = task_event {
            self.rotate_ctx(te);
        }
        if task_out {
            let te = task_epc.expect("task epc");
            let tctx = self.epcs[te.0 as usize].ctx;
            if self.ctxs[tctx.0 as usize].is_active & EVENT_FLEXIBLE != 0 {
                self.pmu_groups_sched_in(tctx, te, false, cpu);
            }
        }
        self.stats.rotations += 1;
        Ok(true)
    }

    fn step_counts(&mut self, dt: u64) {
        if dt == 0 {
            return;
        }
        let secs = dt as f64 / 1e9;
        for slot in 0..self.events.len() {
            let Some(e) = self.events[slot].as_ref() else { continue };
            if e.state != EventState::Active {
                continue;
            }
            let task = match self.ctxs[e.ctx.0 as usize].kind {
                CtxKind::Task(t) => Some(t),
                CtxKind::Cpu(_) => self.current[e.oncpu as usize],
            };
            let rate = task.and_then(|t| self.rates.get(&(t, e.spec.kind.clone()))).copied().unwrap_or(0.0);
            if rate > 0.0 {
                self.events[slot].as_mut().expect("live").count += rate * secs;
            }
        }
    }

    /// Advance machine time by `ns`, firing mux timers (`perf_mux_hrtimer_handler()`) at
    /// their expiry times in order.
    pub fn advance(&mut self, ns: u64) -> Result<()> {
        let target =
            self.now.checked_add(ns).ok_or_else(|| Error::Usage(format!("advance({ns}) overflows the clock")))?;
        loop {
            let next = self
                .cpcs
                .iter()
                .enumerate()
                .filter(|(_, c)| c.hrtimer_active && c.hrtimer_expires <= target)
                .min_by_key(|(i, c)| (c.hrtimer_expires, *i))
                .map(|(i, c)| (i, c.hrtimer_expires));
            let Some((i, at)) = next else { break };
            self.step_counts(at.saturating_sub(self.now));
            self.now = self.now.max(at);
            self.stats.timer_fires += 1;
            let (pmu, cpu) = (self.cpcs[i].pmu, self.cpcs[i].cpu);
            if self.rotate(cpu, pmu)? {
                let c = &mut self.cpcs[i];
                c.hrtimer_expires = at + c.hrtimer_interval;
            } else {
                self.cpcs[i].hrtimer_active = false;
            }
        }
        self.step_counts(target - self.now);
        self.now = target;
        Ok(())
    }

    /// Invariants checked by the model-based tests: PMU counters never over-committed, groups
    /// never partially on the PMU, epc active lists = ACTIVE leaders, `time_running <=
    /// time_enabled`, ACTIVE only on the event's CPU and within the PMU's CPU mask; the group
    /// trees ordered and red-black with exactly the linked leaders of their kind; the
    /// reference counts balanced (`ctx->nr_events`, `epc->nr_events` = the events that point at
    /// them; every inherited copy on its top parent's `child_list` and nothing else there).
    pub fn check_invariants(&self) -> std::result::Result<(), String> {
        for p in &self.pmus {
            p.ops.check()?;
        }
        // Attached events are those on their context's event_list (list_add_event() ..
        // list_del_event()); an EXIT or remove_on_exec'ed event keeps `ctx` but is off the list.
        let mut epc_events = vec![0u32; self.epcs.len()];
        for (i, c) in self.ctxs.iter().enumerate() {
            if c.nr_events as usize != c.event_list.len() {
                return Err(format!("context {i}: nr_events {} but {} on event_list", c.nr_events, c.event_list.len()));
            }
            let mut leaders = [0usize; 2];
            for &id in &c.event_list {
                let e = self.events.get(id as usize).and_then(Option::as_ref);
                let Some(e) = e.filter(|e| e.ctx.0 as usize == i) else {
                    return Err(format!("context {i}: event_list names {id}, not an event of this context"));
                };
                epc_events[e.epc.0 as usize] += 1;
                if !e.node.is_nil() {
                    leaders[usize::from(e.spec.pinned)] += 1;
                }
            }
            for (kind, tree) in [(0, &c.flexible), (1, &c.pinned)] {
                tree.check().map_err(|e| format!("context {i}: group tree: {e}"))?;
                if tree.len() != leaders[kind] {
                    return Err(format!(
                        "context {i}: tree holds {} groups, {} leaders linked",
                        tree.len(),
                        leaders[kind]
                    ));
                }
            }
        }
        for (i, e) in self.epcs.iter().enumerate() {
            if e.nr_events != epc_events[i] {
                return Err(format!("epc {i}: nr_events {} but {} attached events use it", e.nr_events, epc_events[i]));
            }
        }
        for (id, e) in self.events.iter().enumerate() {
            let Some(e) = e else { continue };
            if let Some(p) = e.parent {
                match self.events.get(p as usize).and_then(Option::as_ref) {
                    Some(pe) if pe.children.contains(&(id as u32)) => {}
                    _ => return Err(format!("event {id}: not on its parent {p}'s child list")),
                }
            }
            for &c in &e.children {
                if self.events.get(c as usize).and_then(Option::as_ref).and_then(|x| x.parent) != Some(id as u32) {
                    return Err(format!("event {id}: child {c} does not name it as parent"));
                }
            }
        }
        for (id, e) in self.events.iter().enumerate() {
            let Some(e) = e else { continue };
            let id = id as u32;
            if e.total_time_running > e.total_time_enabled {
                return Err(format!("event {id}: running {} > enabled {}", e.total_time_running, e.total_time_enabled));
            }
            if e.state == EventState::Active {
                let cpu = e.oncpu as u32;
                if e.spec.cpu >= 0 && e.spec.cpu as u32 != cpu {
                    return Err(format!("event {id} active on cpu {cpu}, bound to {}", e.spec.cpu));
                }
                if self.pmus[e.spec.pmu as usize].filter(cpu) {
                    return Err(format!("event {id} active on cpu {cpu} outside its PMU"));
                }
            }
            if e.leader == id {
                let on = e.state == EventState::Active;
                for &s in &e.siblings {
                    let se = self.e(s);
                    let s_on = se.state == EventState::Active;
                    if se.state >= EventState::Inactive && s_on != on {
                        return Err(format!("group {id} partially on the PMU (sibling {s} {:?})", se.state));
                    }
                }
                let epc = &self.epcs[e.epc.0 as usize];
                let listed = epc.pinned_active.contains(&id) || epc.flexible_active.contains(&id);
                if listed != on {
                    return Err(format!("leader {id}: active list membership {listed} but state {:?}", e.state));
                }
            }
        }
        Ok(())
    }
}
