//! `Machine::run(ns)`: the run loop. Between two due instants nothing changes state, so the
//! loop jumps from one to the next: the end of a CPU's slice, the next call or return of a
//! running task, the next overflow of an ACTIVE sampling event, the next mux hrtimer expiry
//! (fired by the engine's `advance`). Context switches go through the machine's switch path
//! (`Machine::switch_in` / `switch_out`, i.e. `__perf_event_task_sched_out()` /
//! `__perf_event_task_sched_in()`), followed by the PMU's `sched_task` work
//! ([`Machine::pmu_sched_task`]). An overflow builds the sample as `perf_prepare_sample()`
//! would from the running task (ip, callchain, LBR branch stack) and hands it to
//! [`Machine::output_sample`].
//!
//! **Order at one instant** (the tests' oracles rely on it): first the samples of the events
//! that overflowed (they describe the execution that produced the counts, so the calls and
//! returns due at that instant are not yet applied), then slice ends (context switches), then
//! the calls and returns due (the incoming task's, after its LBR restore).

use super::sampling::{consume, ns_until_overflow};
use super::workload::Workload;
use crate::abi::record::PERF_RECORD_MISC_USER;
use crate::abi::sample::*;
use crate::abi::AttrFlag;
use crate::ctx::CtxKind;
use crate::events::{EventId, EventState};
use crate::machine::Machine;
use crate::output::sample::{BranchEntry, BranchStack, ReadValue, ReadValues, SampleData};
use crate::task::TaskId;
use crate::task_data::callstack::CallScript;
use crate::task_data::lbr::LbrCpu;
use crate::{Errno, Error, Result};

/// Most overflows one event may have in one step before `run()` gives up (the kernel would
/// throttle such an event; throttling is not modelled).
const MAX_OVERFLOWS_PER_STEP: u64 = 1000;

/// Counters of the run loop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Due instants visited.
    pub steps: u64,
    /// Context switches made by the run loop.
    pub switches: u64,
    /// Samples delivered.
    pub samples: u64,
}

/// An ACTIVE sampling event as the loop sees it during one step.
#[derive(Clone, Copy, Debug)]
struct Sampler {
    eid: EventId,
    period: u64,
    rate: f64,
    cpu: u32,
    task: Option<TaskId>,
}

/// Whether an event kind is a clock (cpu-clock, task-clock): it counts nanoseconds.
fn is_clock(kind: &str) -> bool {
    kind == "cpu-clock" || kind == "task-clock"
}

impl Machine {
    /// Machine time in ns (the engine clock `run()` and `advance()` move).
    pub fn now(&self) -> u64 {
        self.sched.now
    }

    /// The task running on `cpu` (None: idle).
    pub fn running(&self, cpu: u32) -> Result<Option<TaskId>> {
        if cpu >= self.nr_cpus() {
            return Err(Error::Usage(format!("cpu = {cpu} is not a CPU of this machine (0..{})", self.nr_cpus())));
        }
        Ok(self.sched.current[cpu as usize].map(TaskId))
    }

    /// The time slice of the run loop's round-robin.
    pub fn slice_ns(&self) -> u64 {
        self.sim.slice_ns
    }

    /// Set the time slice (> 0); running tasks keep their current slice end.
    pub fn set_slice_ns(&mut self, ns: u64) -> Result<()> {
        if ns == 0 {
            return Err(Error::Usage("slice_ns = 0: the time slice must be > 0".into()));
        }
        self.sim.slice_ns = ns;
        Ok(())
    }

    /// Counters of the run loop.
    pub fn run_stats(&self) -> super::RunStats {
        self.sim.stats
    }

    /// The workload of task `t`, if it has one.
    pub fn workload(&self, t: TaskId) -> Option<&Workload> {
        self.sim.workloads.get(&t)
    }

    fn ensure_rqs(&mut self) {
        let n = self.nr_cpus() as usize;
        if self.sim.rqs.len() != n {
            self.sim.rqs.resize_with(n, Default::default);
            self.sim.slice_end.resize(n, u64::MAX);
        }
    }

    fn running_on(&self, t: TaskId) -> Option<u32> {
        self.sched.current.iter().position(|c| *c == Some(t.0)).map(|c| c as u32)
    }

    /// Whether task `t` may run on `cpu` (its affinity).
    fn allowed(&self, t: TaskId, cpu: u32) -> bool {
        self.tasks.get(t).is_ok_and(|x| x.cpus_allowed.contains(&cpu))
    }

    /// The least loaded CPU task `t` may run on (lowest number on a tie).
    fn place(&self, t: TaskId) -> Result<u32> {
        let allowed = self.tasks.get(t)?.cpus_allowed.clone();
        allowed
            .into_iter()
            .filter(|&c| c < self.nr_cpus())
            .min_by_key(|&c| {
                (self.sim.rqs[c as usize].len() + usize::from(self.sched.current[c as usize].is_some()), c)
            })
            .ok_or_else(|| Error::Internal(format!("task {} is allowed on no CPU", t.0)))
    }

    /// Give task `pid` a workload and make it runnable. `cpus` (None: keep the task's affinity)
    /// sets its affinity first (`sched_setaffinity()`); it joins the queue of the least loaded
    /// allowed CPU. A task already running keeps its CPU and restarts the new script.
    pub fn set_workload(&mut self, pid: i32, script: CallScript, cpus: Option<&[u32]>) -> Result<()> {
        let t = self.task_by_pid(pid)?;
        if self.tasks.get(t)?.exited {
            return Err(Error::perf(Errno::ESRCH, format!("pid = {pid}: the task has exited")));
        }
        if let Some(list) = cpus {
            if list.is_empty() {
                return Err(Error::Usage("cpus = []: a task must be allowed on at least one CPU".into()));
            }
            if let Some(c) = list.iter().find(|&&c| c >= self.nr_cpus()) {
                return Err(Error::Usage(format!("cpus: {c} is not a CPU of this machine (0..{})", self.nr_cpus())));
            }
            self.set_affinity(pid, list)?;
        }
        self.ensure_rqs();
        self.sim.workloads.insert(t, Workload::new(script));
        if self.running_on(t).is_some() {
            return Ok(());
        }
        for rq in &mut self.sim.rqs {
            rq.remove(t);
        }
        let cpu = self.place(t)?;
        self.sim.rqs[cpu as usize].enqueue(t);
        Ok(())
    }

    /// Put every task with a workload where it may run: a task switched in by hand leaves every
    /// queue (a running task waits nowhere), a queued task outside its affinity moves to another
    /// queue, a runnable task on no queue and no CPU (switched out by hand or by an affinity
    /// change) joins one.
    fn sim_requeue(&mut self) -> Result<()> {
        let mut tasks: Vec<TaskId> = self.sim.workloads.keys().copied().collect();
        tasks.sort_unstable();
        for t in tasks {
            if self.running_on(t).is_some() {
                for rq in &mut self.sim.rqs {
                    rq.remove(t);
                }
                continue;
            }
            let queued = (0..self.nr_cpus()).find(|&c| self.sim.rqs[c as usize].contains(t));
            if queued.is_some_and(|c| self.allowed(t, c)) {
                continue;
            }
            if let Some(c) = queued {
                self.sim.rqs[c as usize].remove(t);
            }
            let cpu = self.place(t)?;
            self.sim.rqs[cpu as usize].enqueue(t);
        }
        Ok(())
    }

    /// The task leaves the run loop (it exits): off its queue, and off its CPU if running there
    /// (the next queued task, if any, takes the CPU).
    pub(crate) fn sim_task_exit(&mut self, t: TaskId) -> Result<()> {
        self.sim.workloads.remove(&t);
        for rq in &mut self.sim.rqs {
            rq.remove(t);
        }
        if let Some(c) = self.running_on(t) {
            self.ensure_rqs();
            let next = self.sim.rqs[c as usize].pick_next(None, false);
            self.sim_switch(c, next)?;
            self.sim.slice_end[c as usize] = if next.is_some() { self.sched.now + self.sim.slice_ns } else { u64::MAX };
        }
        Ok(())
    }

    /// One context switch on `cpu` to `next` (None: idle) through the machine's switch path
    /// (which also runs the PMU's `sched_task` work on its outcome).
    fn sim_switch(&mut self, cpu: u32, next: Option<TaskId>) -> Result<()> {
        match next {
            Some(n) => {
                let tid = self.tasks.get(n)?.tid;
                self.switch_in(cpu, tid)?;
            }
            None => {
                self.switch_out(cpu)?;
            }
        }
        self.sim.stats.switches += 1;
        Ok(())
    }

    /// Apply the calls and returns due now of every running task with a workload; they feed
    /// the LBR of the task's CPU.
    fn settle_running(&mut self) {
        let mut scratch = LbrCpu::new(8); // no LBR on this machine: records nothing (no users)
        for cpu in 0..self.sched.current.len() {
            let Some(t) = self.sched.current[cpu] else { continue };
            let Some(w) = self.sim.workloads.get_mut(&TaskId(t)) else { continue };
            let lbr = match self.task_data.lbr.as_mut() {
                Some(l) => &mut l.cpus[cpu],
                None => &mut scratch,
            };
            w.cursor.settle(&w.script, lbr);
        }
    }

    /// Count rate of an ACTIVE event (per second): the rate set for the task it counts, clocks
    /// at 1e9/s unless set.
    fn event_rate(&self, kind: &str, task: Option<TaskId>) -> f64 {
        let set = task.and_then(|t| self.sched.rates.get(&(t.0, kind.to_string())).copied());
        match set {
            Some(r) => r,
            None if is_clock(kind) && (task.is_some() || kind == "cpu-clock") => 1e9,
            None => 0.0,
        }
    }

    fn active_samplers(&self) -> Vec<Sampler> {
        let mut v = Vec::new();
        // Every event on a PMU, inherited copies included: a copy samples with its top
        // parent's attr (`inherit_event()` copies it) into the parent's buffer.
        for (i, se) in self.sched.events.iter().enumerate() {
            let Some(se) = se else { continue };
            if se.state != EventState::Active {
                continue;
            }
            let eid = EventId(i as u32);
            let Ok(ev) = self.events.get(EventId(se.parent.unwrap_or(eid.0))) else { continue };
            if ev.attr.sample_period == 0 || ev.attr.flag(AttrFlag::Freq) {
                continue;
            }
            let Ok(cpu) = u32::try_from(se.oncpu) else { continue };
            let task = match self.sched.ctxs[se.ctx.0 as usize].kind {
                CtxKind::Task(t) => Some(TaskId(t)),
                CtxKind::Cpu(_) => self.sched.current.get(cpu as usize).copied().flatten().map(TaskId),
            };
            let rate = self.event_rate(&se.spec.kind, task);
            v.push(Sampler { eid, period: ev.attr.sample_period, rate, cpu, task });
        }
        v
    }

    /// Run the machine for `ns` nanoseconds (see the module docs). Events with `attr.freq`
    /// are not modelled here (EINVAL-free usage error).
    pub fn run(&mut self, ns: u64) -> Result<()> {
        if let Some((eid, ev)) =
            self.events.iter().find(|(_, e)| e.attr.flag(AttrFlag::Freq) && e.attr.sample_freq() != 0)
        {
            return Err(Error::Usage(format!(
                "event {}: attr.freq = 1 (sample_freq = {}) is not modelled by run(); use a fixed sample_period",
                eid.0,
                ev.attr.sample_freq()
            )));
        }
        let target =
            self.sched.now.checked_add(ns).ok_or_else(|| Error::Usage(format!("run({ns}) overflows the clock")))?;
        self.ensure_rqs();
        self.sim_requeue()?;
        let dead: Vec<EventId> = self.sim.period_left.keys().copied().filter(|e| self.sched.ev(e.0).is_err()).collect();
        for e in dead {
            self.sim.period_left.remove(&e);
        }
        let nr = self.nr_cpus();
        loop {
            let now = self.sched.now;
            for cpu in 0..nr {
                let c = cpu as usize;
                if !self.cpu_online(cpu as i32) {
                    continue;
                }
                if self.sched.current[c].is_none() {
                    if let Some(n) = self.sim.rqs[c].pick_next(None, false) {
                        self.sim_switch(cpu, Some(n))?;
                        self.sim.slice_end[c] = now + self.sim.slice_ns;
                    }
                } else if self.sim.slice_end[c] == u64::MAX {
                    self.sim.slice_end[c] = now + self.sim.slice_ns; // switched in by hand
                }
            }
            self.lbr_sync_users()?;
            self.settle_running();
            if now >= target {
                break;
            }
            let mut t_next = target;
            for c in 0..nr as usize {
                let Some(t) = self.sched.current[c] else { continue };
                t_next = t_next.min(self.sim.slice_end[c]);
                if let Some(w) = self.sim.workloads.get(&TaskId(t)) {
                    t_next = t_next.min(now.saturating_add(w.cursor.until_next_op().max(1)));
                }
            }
            let samplers = self.active_samplers();
            for s in &samplers {
                let left = *self.sim.period_left.entry(s.eid).or_insert(s.period as f64);
                if let Some(d) = ns_until_overflow(left, s.rate) {
                    t_next = t_next.min(now.saturating_add(d));
                }
            }
            for c in &self.sched.cpcs {
                if c.hrtimer_active && c.hrtimer_expires > now {
                    t_next = t_next.min(c.hrtimer_expires);
                }
            }
            let dt = t_next - now;
            for c in 0..nr as usize {
                if let Some(w) = self.sched.current[c].and_then(|t| self.sim.workloads.get_mut(&TaskId(t))) {
                    w.cursor.advance(dt);
                }
            }
            let mut overflows = Vec::new();
            for s in &samplers {
                let left = self.sim.period_left.entry(s.eid).or_insert(s.period as f64);
                let n = consume(left, s.period, s.rate, dt);
                if n > MAX_OVERFLOWS_PER_STEP {
                    return Err(Error::Usage(format!(
                        "event {}: sample_period = {} at {} counts/s overflows {n} times in {dt} ns (throttling is not modelled)",
                        s.eid.0, s.period, s.rate
                    )));
                }
                if n > 0 {
                    overflows.push((*s, n));
                }
            }
            self.advance(dt)?;
            self.sim.stats.steps += 1;
            let now = self.sched.now;
            for (s, n) in overflows {
                for _ in 0..n {
                    self.take_sample(s)?;
                }
            }
            for cpu in 0..nr {
                let c = cpu as usize;
                if self.sched.current[c].is_none() || self.sim.slice_end[c] > now {
                    continue;
                }
                let prev = self.sched.current[c].map(TaskId);
                let prev_runnable = prev.is_some_and(|p| self.sim.workloads.contains_key(&p) && self.allowed(p, cpu));
                if let Some(n) = self.sim.rqs[c].pick_next(prev, prev_runnable) {
                    self.sim_switch(cpu, Some(n))?;
                }
                self.sim.slice_end[c] = now + self.sim.slice_ns;
            }
        }
        Ok(())
    }

    /// `perf_prepare_sample()` for one overflow of `s` on its CPU, then `output_sample()`.
    fn take_sample(&mut self, s: Sampler) -> Result<()> {
        let top = self.sched.ev(s.eid.0)?.parent.map_or(s.eid, EventId);
        let ev = self.events.get(top)?;
        let (sample_type, id) = (ev.attr.sample_type, ev.id);
        let max_stack = match ev.attr.sample_max_stack {
            0 => self.sysctl.perf_event_max_stack,
            n => u32::from(n),
        } as usize;
        let (pid, tid) = match s.task {
            Some(t) => {
                let task = self.tasks.get(t)?;
                (task.pid as u32, task.tid as u32)
            }
            None => (0, 0),
        };
        let w = s.task.and_then(|t| self.sim.workloads.get(&t));
        let ip = w.map_or(0, |w| w.cursor.ip());
        let lbr_event = self.task_data.lbr.as_ref().is_some_and(|l| l.events.contains_key(&s.eid));
        let lbr = self.lbr_cpu(s.cpu).filter(|_| lbr_event);
        let mut callchain = Vec::new();
        if sample_type & PERF_SAMPLE_CALLCHAIN != 0 && w.is_some() {
            let ips: Vec<u64> = match (lbr, w) {
                (Some(l), _) => l.callchain(ip),
                (None, Some(w)) => {
                    // Frame-pointer unwind of the true stack: ip, then each caller's call site.
                    let st = w.cursor.stack();
                    std::iter::once(ip)
                        .chain(st[..st.len().saturating_sub(1)].iter().rev().map(|&f| CallScript::entry(f) + 0x40))
                        .collect()
                }
                (None, None) => Vec::new(),
            };
            callchain.push(PERF_CONTEXT_USER);
            callchain.extend(ips.into_iter().take(max_stack));
        }
        let branch = if sample_type & PERF_SAMPLE_BRANCH_STACK != 0 {
            lbr.map(|l| BranchStack {
                hw_idx: 0,
                entries: l.branch_stack().iter().map(|e| BranchEntry { from: e.from, to: e.to, flags: 0 }).collect(),
                counters: None,
            })
        } else {
            None
        };
        // PERF_SAMPLE_READ: the event's read() values at the overflow (perf_output_read()). A copy reads its own values.
        let read = match (sample_type & PERF_SAMPLE_READ != 0).then(|| self.sched.read(s.eid.0)).transpose()? {
            Some(Some(v)) => ReadValues {
                time_enabled: v.time_enabled,
                time_running: v.time_running,
                values: v.members.iter().map(|x| ReadValue { value: x.value, id: x.id, lost: x.lost }).collect(),
            },
            _ => ReadValues::default(),
        };
        let data = SampleData {
            misc: PERF_RECORD_MISC_USER,
            ip,
            pid,
            tid,
            time: self.sched.now,
            id,
            stream_id: id,
            cpu: s.cpu,
            period: s.period,
            read,
            callchain,
            branch,
            ..Default::default()
        };
        self.output_sample(s.eid, data)
    }
}
