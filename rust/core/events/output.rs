//! The event output paths of the core: an overflow's sample (`__perf_event_overflow()` with its
//! `event_limit` countdown, then `perf_event_output()` into `event->rb`, which SET_OUTPUT may
//! have redirected to another event's ring), any record (`perf_output_begin()` ..
//! `perf_output_end()`), and the side-band records of perf_iterate_sb(): FORK / EXIT
//! (perf_event_task()), COMM (perf_event_comm()) and SWITCH / SWITCH_CPU_WIDE
//! (perf_event_switch()), each written to every matching event with its `sample_id` trailer.
//! Models kernel/events/core.c; facts: spec/ring-buffer-aux-records.md §2.2, §2.6, §5.
//!
//! Which events see a side-band record (perf_iterate_sb() with no task context): first the
//! CPU-wide side-band events of the CPU doing the work (perf_iterate_sb_cpu(): `event->cpu` is
//! that CPU, the event is at least INACTIVE and its cgroup, if any, contains the CPU's current
//! cgroup), then the events of the current task's context that are at least INACTIVE and
//! whose `cpu` is -1 or that CPU (perf_iterate_ctx()). Both lists are walked newest event
//! first, as the kernel's `list_add_rcu()` at the head leaves them.

use super::rb::{POLL_HUP, POLL_IN};
use super::{Event, EventId, EventState};
use crate::abi::record::{
    PERF_RECORD_MISC_COMM_EXEC, PERF_RECORD_MISC_SWITCH_OUT, PERF_RECORD_MISC_SWITCH_OUT_PREEMPT,
};
use crate::abi::AttrFlag;
use crate::machine::Machine;
use crate::output::record::MAX_COMM_LEN;
use crate::output::{OutputEvent, OutputFormat, Record, RecordBody, SampleData, SampleId, TaskRecord};
use crate::task::TaskId;
use crate::Result;

/// Which side-band records an event asked for (the `perf_event_*_match()` helpers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SideBand {
    /// perf_event_task_match(): FORK and EXIT.
    Task,
    /// perf_event_comm_match(): COMM.
    Comm,
    /// perf_event_switch_match(): SWITCH / SWITCH_CPU_WIDE.
    Switch,
}

impl SideBand {
    fn matches(self, ev: &Event) -> bool {
        let f = |x| ev.attr.flag(x);
        match self {
            SideBand::Task => {
                f(AttrFlag::Comm)
                    || f(AttrFlag::Mmap)
                    || f(AttrFlag::Mmap2)
                    || f(AttrFlag::MmapData)
                    || f(AttrFlag::Task)
            }
            SideBand::Comm => f(AttrFlag::Comm),
            SideBand::Switch => f(AttrFlag::ContextSwitch),
        }
    }
}

/// `comm` as the kernel emits it: at most `TASK_COMM_LEN - 1` bytes.
fn comm_of(comm: &str) -> String {
    let mut end = comm.len().min(MAX_COMM_LEN);
    while !comm.is_char_boundary(end) {
        end -= 1;
    }
    comm[..end].to_string()
}

impl Machine {
    /// The record identity of `event`: its id and its record layout from the attr (cached).
    pub fn output_event(&mut self, event: EventId) -> Result<OutputEvent> {
        let ev = self.events.get(event)?;
        let id = ev.id;
        if let Some(format) = self.buffers.format_of(event) {
            return Ok(OutputEvent { id, format });
        }
        let format = OutputFormat::for_attr(&ev.attr)?;
        self.buffers.output_mut(event).format = Some(format);
        Ok(OutputEvent { id, format })
    }

    /// The event whose attr, ring and id the output of `event` uses: itself, or for an
    /// inherited child (an engine event without an arena entry) its top parent
    /// (perf_output_begin(): "inherited events send all output to the parent").
    pub fn output_parent(&self, event: EventId) -> Result<EventId> {
        let mut e = event;
        while !self.events.contains(e) {
            e = match self.sched.ev(e.0)?.parent {
                Some(p) => EventId(p),
                None => return Err(crate::Error::NotFound(format!("event {} does not exist", event.0))),
            };
        }
        Ok(e)
    }

    /// The `sample_id` trailer values of a record `event` writes while `current` runs on `cpu`
    /// (__perf_event_header__init_id(): pid/tid of current, the clock, `primary_event_id()` =
    /// the top parent's id, the emitting event's own id as stream id, the CPU). `None` is the
    /// idle task (pid 0).
    pub fn perf_sample_id(&self, event: EventId, current: Option<TaskId>, cpu: u32) -> Result<SampleId> {
        let id = self.events.get(self.output_parent(event)?)?.id;
        let stream_id = if self.events.contains(event) { id } else { self.sched.ev(event.0)?.spec.id };
        let (pid, tid) = self.task_pid_tid(current);
        Ok(SampleId { pid, tid, time: self.sched.now, id, stream_id, cpu })
    }

    fn task_pid_tid(&self, t: Option<TaskId>) -> (u32, u32) {
        t.and_then(|t| self.tasks.get(t).ok()).map_or((0, 0), |t| (t.pid as u32, t.tid as u32))
    }

    /// The CPU a task runs on (`task_cpu()`): where the scheduler has it now, else CPU 0.
    pub fn task_cpu(&self, t: TaskId) -> u32 {
        self.sched.current.iter().position(|c| *c == Some(t.0)).map_or(0, |c| c as u32)
    }

    /// `__perf_event_overflow()` for a sampling event: queue SIGIO with POLL_IN; if
    /// `PERF_EVENT_IOC_REFRESH` armed `event_limit` and this overflow uses it up, POLL_HUP and
    /// the event is disabled (after this last sample is written). Then `perf_event_output()`
    /// writes the sample into `event->rb`. A non-sampling event ignores the overflow. Returns
    /// whether the limit expired (the PMU stops the event).
    pub fn perf_event_overflow(&mut self, event: EventId, s: &SampleData) -> Result<bool> {
        let top = self.output_parent(event)?;
        if self.events.get(top)?.attr.sample_period == 0 {
            return Ok(false);
        }
        let o = self.buffers.output_mut(event);
        o.pending_kill = POLL_IN;
        let expired = o.event_limit != 0 && {
            o.event_limit = o.event_limit.wrapping_sub(1);
            o.event_limit == 0
        };
        if expired {
            o.pending_kill = POLL_HUP;
        }
        self.perf_event_output(event, s)?;
        if expired {
            self.sched.disable(event.0)?;
            self.sync_sched_states();
        }
        Ok(expired)
    }

    /// `perf_event_output()`: one sample into the ring `event` writes into (its own or the
    /// SET_OUTPUT target's; an inherited child's output goes to its parent), in that event's
    /// layout, a LOST record first when drops are pending. Without a ring nothing happens; a
    /// drop counts in the (parent) event's `lost_samples`. Returns whether the sample was
    /// written.
    pub fn perf_event_output(&mut self, event: EventId, s: &SampleData) -> Result<bool> {
        let top = self.output_parent(event)?;
        let oe = self.output_event(top)?;
        self.output_with(top, |rb| rb.write_sample(&oe, s))
    }

    /// `perf_output_begin()` .. `perf_output_end()` of one record of `event` (its trailer
    /// values from `r.sample_id`). Returns whether it was written (false: no ring, or dropped
    /// and counted lost).
    pub fn perf_output_record(&mut self, event: EventId, r: &Record) -> Result<bool> {
        let top = self.output_parent(event)?;
        let oe = self.output_event(top)?;
        self.output_with(top, |rb| rb.write_record(&oe, r))
    }

    /// Write through `event->rb`; a record a ring with data pages refuses is counted in
    /// `rb->lost` by the ring and in `event->lost_samples` here (a 0-page ring drops silently).
    #[inline]
    fn output_with(
        &mut self,
        event: EventId,
        write: impl FnOnce(&mut crate::output::RingBuffer) -> Result<bool>,
    ) -> Result<bool> {
        let Some(b) = self.buffers.get_mut(event) else {
            return Ok(false);
        };
        let wrote = write(&mut b.ring)?;
        if !wrote && b.ring.config().data_pages != 0 {
            self.buffers.output_mut(event).lost_samples += 1;
        }
        Ok(wrote)
    }

    /// `PERF_EVENT_IOC_REFRESH`'s counter and the last overflow's SIGIO code of `event`:
    /// `(event_limit, pending_kill)`.
    pub fn event_limit(&self, event: EventId) -> Result<(i32, i32)> {
        self.events.get(event)?;
        let o = self.buffers.output(event);
        Ok((o.event_limit, o.pending_kill))
    }

    /// `event->lost_samples`: records of `event` its ring dropped.
    pub fn lost_samples(&self, event: EventId) -> Result<u64> {
        self.events.get(event)?;
        Ok(self.buffers.output(event).lost_samples)
    }

    /// perf_iterate_sb() targets on `cpu` while `current` runs, for records of kind `sb`:
    /// CPU-wide events, then the task context's events (inherited children included, judged
    /// by their top parent's attr and their own state), each list newest first.
    fn sb_targets(&self, cpu: u32, current: Option<TaskId>, sb: SideBand) -> Vec<EventId> {
        let cpu_cgrp = self.sched.cpu_cgroup(cpu);
        let mut out: Vec<EventId> = self
            .events
            .iter()
            .filter(|(_, e)| {
                e.task.is_none()
                    && e.cpu == cpu as i32
                    && e.state >= EventState::Inactive
                    && sb.matches(e)
                    && e.cgroup.is_none_or(|cg| self.sched.cgroup_is_descendant(cpu_cgrp, cg))
            })
            .map(|(id, _)| id)
            .collect();
        out.reverse();
        if let Some(t) = current {
            let mut ctx: Vec<EventId> = self
                .sched
                .events
                .iter()
                .enumerate()
                .filter_map(|(i, se)| {
                    let se = se.as_ref()?;
                    let ok = se.spec.task == Some(t.0)
                        && (se.spec.cpu == -1 || se.spec.cpu == cpu as i32)
                        && se.state >= EventState::Inactive;
                    let id = EventId(i as u32);
                    let top = self.output_parent(id).ok()?;
                    (ok && sb.matches(self.events.get(top).ok()?)).then_some(id)
                })
                .collect();
            ctx.reverse();
            out.extend(ctx);
        }
        out
    }

    /// Write one side-band record to every target, each with its own trailer.
    fn sb_output(
        &mut self,
        cpu: u32,
        current: Option<TaskId>,
        sb: SideBand,
        mut record: impl FnMut(&Event) -> (u16, RecordBody),
    ) -> Result<()> {
        for e in self.sb_targets(cpu, current, sb) {
            let (misc, body) = record(self.events.get(self.output_parent(e)?)?);
            let sample_id = self.perf_sample_id(e, current, cpu)?;
            self.perf_output_record(e, &Record { misc, body, sample_id })?;
        }
        Ok(())
    }

    /// `perf_event_fork()` -> perf_event_task(): PERF_RECORD_FORK `{pid, ppid, tid, ptid,
    /// time}` with the child's pid/tid and the forking task's (`current` = `parent`) pid/tid,
    /// to the parent's context events and the CPU's side-band events.
    pub fn perf_event_fork(&mut self, parent: TaskId, child: TaskId) -> Result<()> {
        let cpu = self.task_cpu(parent);
        let (pid, tid) = self.task_pid_tid(Some(child));
        let (ppid, ptid) = self.task_pid_tid(Some(parent));
        let time = self.sched.now;
        self.sb_output(cpu, Some(parent), SideBand::Task, |_| {
            (0, RecordBody::Fork(TaskRecord { pid, ppid, tid, ptid, time }))
        })
    }

    /// perf_event_exit_task() -> perf_event_task(): PERF_RECORD_EXIT of `task` to its own
    /// context events and the CPU's side-band events; `ppid` and (a kernel quirk) `ptid` are
    /// both the pid of `real_parent`.
    pub fn perf_event_exit_record(&mut self, task: TaskId) -> Result<()> {
        let cpu = self.task_cpu(task);
        let (pid, tid) = self.task_pid_tid(Some(task));
        let ppid = self.tasks.get(task)?.ppid as u32;
        let time = self.sched.now;
        self.sb_output(cpu, Some(task), SideBand::Task, |_| {
            (0, RecordBody::Exit(TaskRecord { pid, ppid, tid, ptid: ppid, time }))
        })
    }

    /// `perf_event_comm()`: PERF_RECORD_COMM `{pid, tid, comm}` of `task` (its comm cut to 15
    /// bytes) to the events with `attr.comm`; `exec` sets PERF_RECORD_MISC_COMM_EXEC.
    pub fn perf_event_comm(&mut self, task: TaskId, exec: bool) -> Result<()> {
        let cpu = self.task_cpu(task);
        let (pid, tid) = self.task_pid_tid(Some(task));
        let comm = comm_of(&self.tasks.get(task)?.comm);
        let misc = if exec { PERF_RECORD_MISC_COMM_EXEC } else { 0 };
        self.sb_output(cpu, Some(task), SideBand::Comm, |_| (misc, RecordBody::Comm { pid, tid, comm: comm.clone() }))
    }

    /// `perf_event_switch()` on `cpu`: at sched-out (`sched_in == false`) the task is `prev`
    /// and the record carries PERF_RECORD_MISC_SWITCH_OUT (+ `_PREEMPT` when `preempt`: the
    /// task is still runnable); at sched-in the task is `next`. Events of a task context get
    /// PERF_RECORD_SWITCH, CPU-wide events PERF_RECORD_SWITCH_CPU_WIDE with the other task's
    /// pid/tid. `None` is the idle task (pid 0).
    pub fn perf_event_switch(
        &mut self,
        cpu: u32,
        prev: Option<TaskId>,
        next: Option<TaskId>,
        sched_in: bool,
        preempt: bool,
    ) -> Result<()> {
        let (task, other) = if sched_in { (next, prev) } else { (prev, next) };
        let misc = match (sched_in, preempt) {
            (true, _) => 0,
            (false, false) => PERF_RECORD_MISC_SWITCH_OUT,
            (false, true) => PERF_RECORD_MISC_SWITCH_OUT | PERF_RECORD_MISC_SWITCH_OUT_PREEMPT,
        };
        let (next_prev_pid, next_prev_tid) = self.task_pid_tid(other);
        self.sb_output(cpu, task, SideBand::Switch, |e| {
            let body = if e.task.is_some() {
                RecordBody::Switch
            } else {
                RecordBody::SwitchCpuWide { next_prev_pid, next_prev_tid }
            };
            (misc, body)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comm_is_cut_to_fifteen_bytes_on_a_char_boundary() {
        assert_eq!(comm_of("a_very_long_command_name"), "a_very_long_com");
        assert_eq!(comm_of("short"), "short");
        assert_eq!(comm_of("ééééééééé"), "ééééééé"); // 2-byte chars: 14 bytes fit
    }
}
