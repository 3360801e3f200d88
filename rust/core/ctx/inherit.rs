//! Event inheritance across fork, and what exit and exec do to a task's context.
//!
//! Models, in kernel/events/core.c: `perf_event_init_task()` / `perf_event_init_context()`
//! (the parent context pinned, its pinned tree then its flexible tree walked in key order with
//! `rotate_disable` set), `inherit_task_group()` (the `inherit`, `inherit_thread` without
//! `CLONE_THREAD` and `sigtrap` with `CLONE_CLEAR_SIGHAND` rules, `inherited_all`),
//! `inherit_group()` / `inherit_event()` (a child points at the top-level parent, its state
//! follows the parent's current state, not `attr.disabled`), the clone marking with a
//! flattened `parent_ctx` / `parent_gen`; `perf_event_exit_task()` /
//! `perf_event_exit_task_context()` / `perf_event_exit_event()` / `sync_child_event()`
//! (children fold their count and times into the parent and are freed, top-level events
//! become EXIT and stay readable); `perf_event_exec()` with `perf_event_enable_on_exec()`
//! (one-shot, unclone + `ctx_resched()` when something was enabled) and
//! `perf_event_remove_on_exec()`. Spec: context-and-scheduling.md §6.4-6.6.

use super::cgroup::ROOT_CGROUP;
use super::context::{CtxId, EVENT_ALL, EVENT_TIME};
use super::engine::{Engine, SEvent};
use crate::events::EventState;
use crate::{Error, Result};

/// The `clone()` flags inheritance looks at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CloneFlags {
    /// `CLONE_THREAD`: the child is a thread of the parent's process.
    pub thread: bool,
    /// `CLONE_CLEAR_SIGHAND`: the child starts with default signal handlers.
    pub clear_sighand: bool,
}

impl Engine {
    /// `perf_event_init_task()`: give task `child`, forked from `parent` with `flags`, a copy of
    /// every inheritable group of the parent's context. Returns the child's context, if one
    /// was made (only when at least one group was inherited).
    pub fn perf_event_init_task(&mut self, parent: u32, child: u32, flags: CloneFlags) -> Result<Option<CtxId>> {
        if self.task_ctx.contains_key(&child) {
            return Err(Error::Usage(format!("task {child} already has a perf context: fork it only once")));
        }
        let Some(&pctx) = self.task_ctx.get(&parent) else { return Ok(None) };
        // perf_pin_task_context(): no swap may move the parent's context while we copy it.
        self.ctxs[pctx.0 as usize].pin_count += 1;
        let mut inherited_all = true;
        let mut child_ctx = None;
        for pinned in [true, false] {
            let leaders: Vec<u32> = self.ctxs[pctx.0 as usize].groups(pinned).iter().map(|(_, _, v)| v).collect();
            if !pinned {
                self.ctxs[pctx.0 as usize].rotate_disable = true;
            }
            for l in leaders {
                self.inherit_task_group(l, child, flags, &mut child_ctx, &mut inherited_all);
            }
        }
        let p = &mut self.ctxs[pctx.0 as usize];
        p.rotate_disable = false;
        p.pin_count -= 1;
        if let (Some(cc), true) = (child_ctx, inherited_all) {
            let p = &self.ctxs[pctx.0 as usize];
            let (root, gen) = match p.parent_ctx {
                Some(pp) => (pp, p.parent_gen),
                None => (pctx, p.generation),
            };
            let c = &mut self.ctxs[cc.0 as usize];
            c.parent_ctx = Some(root);
            c.parent_gen = gen;
        }
        Ok(child_ctx)
    }

    /// `inherit_task_group()`: the rules that keep a group out of the child, then
    /// `inherit_group()`.
    fn inherit_task_group(
        &mut self,
        leader: u32,
        child: u32,
        flags: CloneFlags,
        child_ctx: &mut Option<CtxId>,
        inherited_all: &mut bool,
    ) {
        let ia = self.e(leader).spec.inherit;
        if !ia.inherit || (ia.inherit_thread && !flags.thread) || (ia.sigtrap && flags.clear_sighand) {
            *inherited_all = false;
            return;
        }
        let cc = *child_ctx.get_or_insert_with(|| self.alloc_task_ctx(child));
        // inherit_group(): the leader, then each sibling under the new leader.
        let Some(cl) = self.inherit_event(leader, cc, None) else { return };
        for i in 0..self.e(leader).siblings.len() {
            let s = self.e(leader).siblings[i];
            self.inherit_event(s, cc, Some(cl));
        }
    }

    /// `inherit_event()`: a copy of `parent_event` in `child_ctx` under `group_leader` (None:
    /// it leads). Returns the child's engine id. Only a DEAD (`is_orphaned_event()`) or REVOKED
    /// top-level parent gives no copy; a top-level event in EXIT (its task exited) is still
    /// copied, in the state of the immediate parent (`parent_state` is read before the walk to
    /// the top), so cloned contexts keep identical events.
    fn inherit_event(&mut self, parent_event: u32, child_ctx: CtxId, group_leader: Option<u32>) -> Option<u32> {
        let top = self.e(parent_event).parent.unwrap_or(parent_event);
        if self.e(top).state <= EventState::Revoked {
            return None;
        }
        let pe = self.e(parent_event);
        let state = if pe.state >= EventState::Inactive { EventState::Inactive } else { EventState::Off };
        let mut spec = pe.spec.clone();
        spec.task = match self.ctxs[child_ctx.0 as usize].kind {
            super::context::CtxKind::Task(t) => Some(t),
            super::context::CtxKind::Cpu(_) => None,
        };
        spec.group_leader = group_leader;
        let epc_pmu = self.epcs[pe.epc.0 as usize].pmu;
        let epc = self.get_epc(child_ctx, epc_pmu);
        let id = self.next_free_id();
        let tstamp = self.ctxs[child_ctx.0 as usize].time_now(self.now);
        let leader = group_leader.unwrap_or(id);
        self.events.push(Some(SEvent::new(spec, child_ctx, epc, leader, state, tstamp, Some(top))));
        self.list_add_event(id);
        if let Some(l) = group_leader {
            self.em(l).siblings.push(id);
        }
        self.em(top).children.push(id);
        Some(id)
    }

    /// `perf_event_exit_task()`: task `task` exits. Its context is scheduled out and
    /// uncloned and becomes `TASK_TOMBSTONE`; inherited events fold into their parents and
    /// are freed; top-level events become EXIT (still readable). The task stops running.
    pub fn perf_event_exit_task(&mut self, task: u32) -> Result<()> {
        self.perf_event_exit_task_context(task)?;
        // The dead task's last schedule(): its CPU goes idle (root cgroup).
        if let Some(cpu) = self.current.iter().position(|t| *t == Some(task)) {
            self.current[cpu] = None;
            self.perf_cgroup_switch(cpu as u32, ROOT_CGROUP);
        }
        Ok(())
    }

    /// `perf_event_exit_task_context()`.
    fn perf_event_exit_task_context(&mut self, task: u32) -> Result<()> {
        let Some(ctx) = self.task_ctx.remove(&task) else { return Ok(()) };
        self.ctxs[ctx.0 as usize].pin_count += 1;
        if let Some(cpu) = self.cpu_task_ctx.iter().position(|c| *c == Some(ctx)) {
            self.ctx_sched_out(ctx, EVENT_ALL);
            self.cpu_task_ctx[cpu] = None;
        }
        self.ctxs[ctx.0 as usize].tombstone = true;
        self.unclone_ctx(ctx);
        for id in self.ctxs[ctx.0 as usize].event_list.clone() {
            self.perf_event_exit_event(id)?;
        }
        self.ctxs[ctx.0 as usize].pin_count -= 1;
        Ok(())
    }

    /// `perf_event_exit_event()`: a child folds into its parent (`sync_child_event()`) and is
    /// freed; a top-level event leaves the context (`DETACH_EXIT`) and becomes EXIT.
    fn perf_event_exit_event(&mut self, id: u32) -> Result<()> {
        if self.events.get(id as usize).is_none_or(Option::is_none) {
            return Ok(());
        }
        if let Some(parent) = self.e(id).parent {
            self.update_event_time(id);
            let c = self.e(id);
            let (n, en, run) = (
                c.count + c.child_count,
                c.total_time_enabled + c.child_total_time_enabled,
                c.total_time_running + c.child_total_time_running,
            );
            let p = self.em(parent);
            p.child_count += n;
            p.child_total_time_enabled += en;
            p.child_total_time_running += run;
            return self.remove(id);
        }
        if self.e(id).state == EventState::Active {
            let l = self.e(id).leader;
            if l == id {
                self.group_sched_out(id);
            } else {
                self.event_sched_out(id);
            }
        }
        self.set_state(id, EventState::Exit);
        if self.e(id).leader == id {
            self.list_del_leader(id);
        }
        self.list_del_event(id);
        Ok(())
    }

    /// `perf_event_exec()` for task `task`: `perf_event_enable_on_exec()` then
    /// `perf_event_remove_on_exec()` on its context. Returns whether the context changed
    /// (and was therefore uncloned).
    pub fn perf_event_exec(&mut self, task: u32) -> Result<bool> {
        let Some(&ctx) = self.task_ctx.get(&task) else { return Ok(false) };
        self.ctxs[ctx.0 as usize].pin_count += 1;
        let enabled = self.perf_event_enable_on_exec(ctx);
        let removed = self.perf_event_remove_on_exec(ctx)?;
        self.ctxs[ctx.0 as usize].pin_count -= 1;
        Ok(enabled || removed)
    }

    /// `perf_event_enable_on_exec()`: OFF events with `enable_on_exec` become INACTIVE (the
    /// bit is cleared: one-shot); if any did, unclone and `ctx_resched()`.
    fn perf_event_enable_on_exec(&mut self, ctx: CtxId) -> bool {
        if self.ctxs[ctx.0 as usize].nr_events == 0 {
            return false;
        }
        // The event whose kind decides the reschedule (`get_event_type()`): pinned wins.
        let mut resched: Option<u32> = None;
        self.update_ctx_time(ctx);
        for id in self.ctxs[ctx.0 as usize].event_list.clone() {
            if !self.e(id).spec.inherit.enable_on_exec {
                continue;
            }
            self.em(id).spec.inherit.enable_on_exec = false;
            if self.e(id).state >= EventState::Inactive {
                continue;
            }
            self.set_state(id, EventState::Inactive);
            let pinned = self.e(self.e(id).leader).spec.pinned;
            if resched.is_none_or(|r| pinned && !self.e(self.e(r).leader).spec.pinned) {
                resched = Some(id);
            }
        }
        let Some(ev) = resched else { return false };
        self.unclone_ctx(ctx);
        if self.ctxs[ctx.0 as usize].is_active & EVENT_TIME != 0 {
            self.resched_for(ev);
        }
        true
    }

    /// `perf_event_remove_on_exec()`: events with `remove_on_exec` leave as at exit; unclone
    /// if any did.
    fn perf_event_remove_on_exec(&mut self, ctx: CtxId) -> Result<bool> {
        let mut modified = false;
        for id in self.ctxs[ctx.0 as usize].event_list.clone() {
            if self.events.get(id as usize).is_none_or(Option::is_none) || !self.e(id).spec.inherit.remove_on_exec {
                continue;
            }
            self.update_ctx_time(ctx);
            self.perf_event_exit_event(id)?;
            modified = true;
        }
        if modified {
            self.unclone_ctx(ctx);
        }
        Ok(modified)
    }
}
