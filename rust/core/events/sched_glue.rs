//! The machine's side of event scheduling: events opened by `perf_event_open()` are installed
//! into the scheduling engine ([`crate::ctx::Engine`]: one task context per task, one CPU
//! context per CPU, epcs and cpcs), closed events leave it, and the step calls of a scenario
//! (context switches, time, rotation, rates, reads, statistics) drive it.
//!
//! Models `perf_install_in_context()` / `perf_remove_from_context()` as called from
//! `sys_perf_event_open()` and `perf_release()`, plus the scheduler hooks of §6.1 (slow path).
//! Spec: context-and-scheduling.md §1, §3, §6.

use crate::abi::attr::AttrFlag;
use crate::abi::sample::PERF_SAMPLE_READ;
use crate::abi::types::*;
use crate::ctx::{Engine, EngineStats, EventSpec, InheritAttr, SwitchOutcome};
use crate::events::{EventId, EventState};
use crate::machine::Machine;
use crate::pmu::core_pmu::CorePmuDesc;
use crate::pmu::software::sw_event_name;
use crate::task::TaskId;
use crate::{Error, Result};

/// Build the engine mirroring a machine's PMU registry (engine PMU index = `PmuId`).
pub fn engine_for(m_pmus: &crate::pmu::PmuRegistry, core: &[CorePmuDesc], nr_cpus: u32) -> Engine {
    let mut e = Engine::new(nr_cpus);
    for (_, r) in m_pmus.iter() {
        match core.iter().find(|d| d.name == r.pmu.name()) {
            Some(d) => {
                let p = crate::pmu::core_pmu::CorePmu::new(d.clone(), nr_cpus);
                e.add_pmu(r.type_, d.name, Box::new(p));
            }
            None => {
                e.add_pmu(r.type_, r.pmu.name(), Box::new(crate::pmu::sched_ops::SoftwareSched));
            }
        }
    }
    e
}

impl Machine {
    /// Install an event just stored by `perf_event_open()` into the scheduling engine.
    pub(crate) fn sched_install(&mut self, eid: EventId) -> Result<()> {
        let ev = self.events.get(eid)?;
        let pmu = ev.pmu.0;
        let (constraint, kind) = match self.sched.pmus[pmu as usize].core_desc() {
            Some(d) => {
                let t = ev.attr.type_;
                let config = ev.attr.config & PERF_HW_EVENT_MASK;
                let c = d.constraint_for(t, config)?;
                let name = d
                    .events
                    .iter()
                    .find(|x| {
                        if t == PERF_TYPE_HARDWARE {
                            x.hw_id == Some(config)
                        } else {
                            t != PERF_TYPE_HW_CACHE && x.raw == config
                        }
                    })
                    .map(|x| x.name.to_string())
                    .unwrap_or_else(|| format!("raw:{config:#x}"));
                (Some(c), name)
            }
            None => {
                let name = self.pmus.get(ev.pmu).pmu.name();
                let kind = if name == "software" {
                    sw_event_name(ev.attr.config)
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("sw:{}", ev.attr.config))
                } else {
                    name.replace('_', "-")
                };
                (None, kind)
            }
        };
        let spec = EventSpec {
            task: ev.task.map(|t| t.0),
            cpu: ev.cpu,
            pmu,
            constraint,
            pinned: ev.attr.flag(AttrFlag::Pinned),
            exclusive: ev.attr.flag(AttrFlag::Exclusive),
            disabled: ev.attr.flag(AttrFlag::Disabled),
            group_leader: (ev.group_leader != eid).then_some(ev.group_leader.0),
            cgroup: ev.cgroup,
            kind,
            read_format: ev.attr.read_format,
            id: ev.id,
            inherit: InheritAttr {
                inherit: ev.attr.flag(AttrFlag::Inherit),
                inherit_stat: ev.attr.flag(AttrFlag::InheritStat),
                inherit_thread: ev.attr.flag(AttrFlag::InheritThread),
                sigtrap: ev.attr.flag(AttrFlag::Sigtrap),
                enable_on_exec: ev.attr.flag(AttrFlag::EnableOnExec),
                remove_on_exec: ev.attr.flag(AttrFlag::RemoveOnExec),
                sample_read: ev.attr.sample_type & PERF_SAMPLE_READ != 0,
            },
        };
        self.sched.install(eid.0, spec)?;
        self.sync_states();
        Ok(())
    }

    /// Undo the arena side of an open whose install failed.
    pub(crate) fn sched_install_failed(&mut self, eid: EventId) {
        if let Ok(ev) = self.events.remove(eid) {
            if ev.group_leader != eid {
                if let Ok(l) = self.events.get_mut(ev.group_leader) {
                    l.siblings.retain(|s| *s != eid);
                }
            }
        }
    }

    /// Copy the engine's event states into the event arena.
    pub(crate) fn sync_sched_states(&mut self) {
        self.sync_states();
    }

    /// Copy the engine's event states into the event arena.
    pub(crate) fn sync_states(&mut self) {
        for (i, slot) in self.sched.events.iter().enumerate() {
            if let Some(se) = slot {
                if let Ok(ev) = self.events.get_mut(EventId(i as u32)) {
                    ev.state = se.state;
                }
            }
        }
    }

    fn pid_task(&self, pid: i32) -> Result<u32> {
        Ok(self.task_by_pid(pid)?.0)
    }

    /// The task `pid` starts running on `cpu` (context switch in; the previous task, if any,
    /// is switched out first, by the optimised swap when the two contexts are equivalent).
    /// An exited task, or a CPU outside the task's affinity, is a usage error. The outcome
    /// (engine task ids = `TaskId.0`) drives the PMUs' `sched_task` work (LBR save/restore,
    /// `swap_task_ctx` on the optimised path: `task_data::lbr_sched`).
    /// Side-band (`__perf_event_task_sched_out` / `_in` order): PERF_RECORD_SWITCH(_CPU_WIDE)
    /// out of the previous task (preempted: it stays runnable) before its context leaves,
    /// and into the new one after its context is in (`events::output`).
    pub fn switch_in(&mut self, cpu: u32, pid: i32) -> Result<SwitchOutcome> {
        let t = self.task_by_pid(pid)?;
        let task = self.tasks.get(t)?;
        if task.exited {
            return Err(Error::Usage(format!("pid {pid} has exited: it cannot run")));
        }
        if !task.cpus_allowed.contains(&cpu) && cpu < self.nr_cpus() {
            return Err(Error::Usage(format!(
                "cpu {cpu} is not in the affinity of pid {pid} ({:?})",
                task.cpus_allowed
            )));
        }
        let prev = self.sched.current.get(cpu as usize).copied().flatten().map(TaskId);
        let elsewhere = self.sched.current.iter().position(|c| *c == Some(t.0)).is_some_and(|c| c as u32 != cpu);
        if cpu < self.nr_cpus() && !elsewhere {
            self.perf_event_switch(cpu, prev, Some(t), false, true)?;
        }
        let out = self.sched.switch_in(cpu, t.0)?;
        self.sync_states();
        self.pmu_sched_task(out.cpu, out.prev.map(TaskId), out.next.map(TaskId), out.swapped)?;
        self.perf_event_switch(cpu, prev, Some(t), true, false)?;
        Ok(out)
    }

    /// The task running on `cpu` is switched out; the CPU goes idle.
    /// Side-band: PERF_RECORD_SWITCH(_CPU_WIDE) out of the task (it blocks: not preempted)
    /// and the idle task's sched-in.
    pub fn switch_out(&mut self, cpu: u32) -> Result<SwitchOutcome> {
        let prev = self.sched.current.get(cpu as usize).copied().flatten().map(TaskId);
        if cpu < self.nr_cpus() {
            self.perf_event_switch(cpu, prev, None, false, false)?;
        }
        let out = self.sched.switch_out(cpu)?;
        self.sync_states();
        self.pmu_sched_task(out.cpu, out.prev.map(TaskId), out.next.map(TaskId), out.swapped)?;
        self.perf_event_switch(cpu, prev, None, true, false)?;
        Ok(out)
    }

    /// Advance machine time by `ns` (mux timers fire at their expiries).
    pub fn advance(&mut self, ns: u64) -> Result<()> {
        self.sched.advance(ns)?;
        self.sync_states();
        Ok(())
    }

    /// Run `perf_rotate_context()` for PMU `pmu` (by name) on `cpu`; true if it rotated.
    pub fn rotate(&mut self, cpu: u32, pmu: &str) -> Result<bool> {
        let p = self.pmus.by_name(pmu).ok_or_else(|| Error::NotFound(format!("no PMU named {pmu:?}")))?;
        let r = self.sched.rotate(cpu, p.0)?;
        self.sync_states();
        Ok(r)
    }

    /// Count rate of `event_kind` (`cycles`, `instructions`, `task-clock`, ...) while task
    /// `pid` runs, per second.
    pub fn set_rate(&mut self, pid: i32, event_kind: &str, per_sec: f64) -> Result<()> {
        let t = self.pid_task(pid)?;
        self.sched.set_rate(t, event_kind, per_sec)
    }

    /// `read()` of an event: the exact read_format bytes (empty for an event in ERROR).
    pub fn read_event(&mut self, eid: EventId) -> Result<Vec<u8>> {
        self.events.get(eid)?;
        self.sched.read_bytes(eid.0)
    }

    /// `read()` decoded: None for an event in ERROR.
    pub fn read_event_value(&mut self, eid: EventId) -> Result<Option<crate::ctx::read::ReadValue>> {
        self.events.get(eid)?;
        self.sched.read(eid.0)
    }

    /// `PERF_EVENT_IOC_ENABLE`.
    pub fn enable_event(&mut self, eid: EventId) -> Result<()> {
        self.events.get(eid)?;
        self.sched.enable(eid.0)?;
        self.sync_states();
        Ok(())
    }

    /// `PERF_EVENT_IOC_DISABLE`.
    pub fn disable_event(&mut self, eid: EventId) -> Result<()> {
        self.events.get(eid)?;
        self.sched.disable(eid.0)?;
        self.sync_states();
        Ok(())
    }

    /// Set a PMU's `perf_event_mux_interval_ms` (< 1 is EINVAL).
    pub fn set_mux_interval_ms(&mut self, pmu: &str, ms: i64) -> Result<()> {
        let p = self.pmus.by_name(pmu).ok_or_else(|| Error::NotFound(format!("no PMU named {pmu:?}")))?;
        self.sched.set_mux_interval_ms(p.0, ms)
    }

    /// Engine statistics.
    pub fn sched_stats(&self) -> EngineStats {
        self.sched.stats
    }

    /// Scheduling state of an event (engine view).
    pub fn sched_state(&self, eid: EventId) -> Result<EventState> {
        Ok(self.sched.ev(eid.0)?.state)
    }

    /// Check the scheduling invariants (counters never over-committed, groups all-or-nothing,
    /// running <= enabled, active lists consistent); a violation is an internal error.
    pub fn sched_check(&self) -> Result<()> {
        self.sched.check_invariants().map_err(Error::Internal)
    }
}
