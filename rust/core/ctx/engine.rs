//! The scheduling engine's state: PMUs as the scheduler sees them, contexts, epcs, cpcs and the
//! scheduling view of every event, plus event installation with the open-time group rules.
//!
//! Models, in kernel/events/core.c: `find_get_context()` (one context per task, one per CPU),
//! `find_get_pmu_context()` (task epcs kept sorted by PMU type; the CPU context uses the epc
//! embedded in the cpc), `list_add_event()` / `list_del_event()` (leaders into the group tree,
//! `nr_events`, `generation`, `tstamp`), `perf_event__state_init()`, the group checks of
//! `sys_perf_event_open()` (only a leader may be pinned/exclusive; a software event in a
//! hardware group lives in the leader's epc; a hardware event joining a software group moves
//! the group; mixing hardware PMUs is -EINVAL) and `validate_group()` (a group that cannot fit
//! alone is -EINVAL). The scheduling itself is in [`super::sched`]; reads in [`super::read`].
//! Spec: context-and-scheduling.md §1, §3.10, §7, §8.4.

use super::context::{CpuPmuContext, CtxId, CtxKind, EpcId, EventContext, PmuContext};
use super::groups::VisitStats;
use super::rbtree::NodeId;
use crate::events::EventState;
use crate::pmu::core_pmu::{CorePmu, CorePmuDesc};
use crate::pmu::sched_ops::PmuSchedOps;
use crate::pmu::x86_sched::Constraint;
use crate::{Errno, Error, Result};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Default `hrtimer_interval_ms`: `PERF_CPU_HRTIMER` = 1000 / HZ with HZ = 250.
pub const DEFAULT_MUX_INTERVAL_MS: u64 = 1000 / 250;

/// Hasher for task ids (Fibonacci multiplicative): the context switch looks tasks' contexts up
/// several times per switch, and SipHash would cost more than the swap itself.
#[derive(Clone, Copy, Debug, Default)]
pub struct TaskIdHasher(u64);

impl Hasher for TaskIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u32(&mut self, x: u32) {
        self.0 = (u64::from(x) ^ self.0).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// A map keyed by task id (`task_struct` pointer lookups of the kernel).
pub type TaskMap<V> = HashMap<u32, V, BuildHasherDefault<TaskIdHasher>>;

/// One PMU of the engine.
#[derive(Clone, Debug)]
pub struct SchedPmu {
    /// `pmu->type`.
    pub type_: u32,
    /// Name.
    pub name: String,
    /// The PMU's scheduling callbacks (software, a core PMU, or any [`PmuSchedOps`]).
    pub ops: Box<dyn PmuSchedOps>,
    /// `hrtimer_interval_ms`.
    pub hrtimer_interval_ms: u64,
}

impl SchedPmu {
    /// `pmu->filter(cpu)`: true = skip this PMU on `cpu`.
    pub fn filter(&self, cpu: u32) -> bool {
        self.ops.filter(cpu)
    }

    /// True for a software PMU.
    pub fn is_software(&self) -> bool {
        self.ops.is_software()
    }

    /// The core PMU description, if any.
    pub fn core_desc(&self) -> Option<&CorePmuDesc> {
        self.ops.core_desc()
    }
}

/// What the caller asks to install.
#[derive(Clone, Debug)]
pub struct EventSpec {
    /// The monitored task, None for a CPU-wide event.
    pub task: Option<u32>,
    /// `event->cpu` (-1 = any CPU; task events only).
    pub cpu: i32,
    /// Engine index of `event->pmu`.
    pub pmu: u32,
    /// The counter constraint (hardware events).
    pub constraint: Option<Constraint>,
    /// `attr.pinned`.
    pub pinned: bool,
    /// `attr.exclusive`.
    pub exclusive: bool,
    /// `attr.disabled`.
    pub disabled: bool,
    /// Leader of the group to join (engine event id), None to lead a new group.
    pub group_leader: Option<u32>,
    /// cgroup id for a cgroup event.
    pub cgroup: Option<u64>,
    /// Event kind name used for count rates (`cycles`, `instructions`, ...).
    pub kind: String,
    /// `attr.read_format`.
    pub read_format: u64,
    /// `event->id` reported by PERF_FORMAT_ID.
    pub id: u64,
    /// The inheritance and exec attr bits.
    pub inherit: InheritAttr,
}

/// The attr bits that decide what fork, exit and exec do with an event
/// (`attr.inherit`, `inherit_stat`, `inherit_thread`, `sigtrap`, `enable_on_exec`,
/// `remove_on_exec`; `sample_read` is PERF_SAMPLE_READ in `attr.sample_type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InheritAttr {
    /// `attr.inherit`: children of the monitored task get a copy at fork.
    pub inherit: bool,
    /// `attr.inherit_stat`: per-task counts follow the task on the optimised switch.
    pub inherit_stat: bool,
    /// `attr.inherit_thread`: only inherited by `CLONE_THREAD` children.
    pub inherit_thread: bool,
    /// `attr.sigtrap`: not inherited across `CLONE_CLEAR_SIGHAND`.
    pub sigtrap: bool,
    /// `attr.enable_on_exec` (one-shot: cleared at the exec that enables the event).
    pub enable_on_exec: bool,
    /// `attr.remove_on_exec`.
    pub remove_on_exec: bool,
    /// PERF_SAMPLE_READ in `attr.sample_type` (with `inherit`: no fast switch).
    pub sample_read: bool,
}

/// The scheduling view of one event.
#[derive(Clone, Debug)]
pub struct SEvent {
    /// The open-time request.
    pub spec: EventSpec,
    /// Its context.
    pub ctx: CtxId,
    /// Its epc (the leader's for a software event in a hardware group).
    pub epc: EpcId,
    /// Group leader (itself for a leader).
    pub leader: u32,
    /// Siblings in group order (leaders only).
    pub siblings: Vec<u32>,
    /// State.
    pub state: EventState,
    /// Group tree node (leaders only).
    pub node: NodeId,
    /// `group_index` (0 when not in a tree).
    pub group_index: u64,
    /// CPU it is ACTIVE on (-1 otherwise).
    pub oncpu: i32,
    /// Context time of the last time update.
    pub tstamp: u64,
    /// `total_time_enabled`.
    pub total_time_enabled: u64,
    /// `total_time_running`.
    pub total_time_running: u64,
    /// The count (fractional part kept for exact constant-rate scaling).
    pub count: f64,
    /// The top-level event this one was inherited from (`event->parent`), never a chain.
    pub parent: Option<u32>,
    /// Live inherited copies of this top-level event (`child_list`).
    pub children: Vec<u32>,
    /// Counts of exited children (`child_count`).
    pub child_count: f64,
    /// `child_total_time_enabled` folded in from exited children.
    pub child_total_time_enabled: u64,
    /// `child_total_time_running` folded in from exited children.
    pub child_total_time_running: u64,
}

impl SEvent {
    /// A new, unlinked event of `ctx`/`epc` in `state` (OFF or INACTIVE) whose times start at
    /// context time `tstamp`; `parent` is the top-level parent of an inherited copy
    /// (`perf_event_alloc()` + `perf_event__state_init()`).
    pub(crate) fn new(
        spec: EventSpec,
        ctx: CtxId,
        epc: EpcId,
        leader: u32,
        state: EventState,
        tstamp: u64,
        parent: Option<u32>,
    ) -> Self {
        SEvent {
            spec,
            ctx,
            epc,
            leader,
            siblings: Vec::new(),
            state,
            node: NodeId::NIL,
            group_index: 0,
            oncpu: -1,
            tstamp,
            total_time_enabled: 0,
            total_time_running: 0,
            count: 0.0,
            parent,
            children: Vec::new(),
            child_count: 0.0,
            child_total_time_enabled: 0,
            child_total_time_running: 0,
        }
    }

    /// A software event (no counter).
    pub fn is_software(&self) -> bool {
        self.spec.constraint.is_none()
    }
}

/// Engine statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Group-tree visit counters.
    pub tree: VisitStats,
    /// `ctx_sched_in()` calls that did work.
    pub ctx_sched_in: u64,
    /// `ctx_sched_out()` calls that did work.
    pub ctx_sched_out: u64,
    /// `event_sched_in()` successes.
    pub event_sched_in: u64,
    /// `event_sched_out()` calls.
    pub event_sched_out: u64,
    /// `group_sched_in()` failures (transaction failed or an add failed).
    pub txn_failed: u64,
    /// `perf_rotate_context()` runs that rotated something.
    pub rotations: u64,
    /// Mux timer expiries.
    pub timer_fires: u64,
    /// Context switches that swapped two equivalent task contexts (the optimised path).
    pub switch_swap: u64,
    /// Context switches that scheduled a task context out the slow way.
    pub switch_slow: u64,
}

/// The engine: every context, epc, cpc and event of a machine, and the machine clock.
#[derive(Clone, Debug)]
pub struct Engine {
    /// PMUs by engine index.
    pub pmus: Vec<SchedPmu>,
    /// Number of CPUs.
    pub nr_cpus: u32,
    /// Contexts.
    pub ctxs: Vec<EventContext<u32>>,
    /// epcs.
    pub epcs: Vec<PmuContext<u32>>,
    /// cpcs, index `pmu * nr_cpus + cpu`, created with the PMU.
    pub cpcs: Vec<CpuPmuContext>,
    /// CPU context of each CPU.
    pub cpu_ctx: Vec<CtxId>,
    /// Each task's context (`task->perf_event_ctxp`; the swap exchanges two entries).
    pub task_ctx: TaskMap<CtxId>,
    /// `cpuctx->task_ctx` per CPU.
    pub cpu_task_ctx: Vec<Option<CtxId>>,
    /// Task running on each CPU.
    pub current: Vec<Option<u32>>,
    /// cgroup of the task running on each CPU (`cpuctx->cgrp`; the root while idle).
    pub cpu_cgrp: Vec<u64>,
    /// cgroup of each task not in the root.
    pub task_cgroup: HashMap<u32, u64>,
    /// Parent of each declared cgroup (the root has none).
    pub cgroup_parent: HashMap<u64, u64>,
    /// Cgroup clocks by (cgroup, cpu) (`perf_cgroup_info`).
    pub cgrp_time: HashMap<(u64, u32), super::cgroup::CgrpTime>,
    /// Cgroup events installed in each CPU context (`ctx->nr_cgroups`).
    pub cpu_nr_cgroups: Vec<u32>,
    /// Events by engine id.
    pub events: Vec<Option<SEvent>>,
    /// Machine time (ns).
    pub now: u64,
    /// Count rates per second by (task, event kind).
    pub rates: HashMap<(u32, String), f64>,
    /// Statistics.
    pub stats: EngineStats,
    /// Take the optimised context switch between equivalent clones (the kernel always
    /// does; off = every switch runs the full sched_out / sched_in, for comparison).
    pub optimized_switch: bool,
    pub(crate) scratch: Vec<u32>,
}

impl Engine {
    /// An engine for `nr_cpus` CPUs with no PMU.
    pub fn new(nr_cpus: u32) -> Self {
        let mut e = Engine {
            pmus: Vec::new(),
            nr_cpus,
            ctxs: Vec::new(),
            epcs: Vec::new(),
            cpcs: Vec::new(),
            cpu_ctx: Vec::new(),
            task_ctx: TaskMap::default(),
            cpu_task_ctx: vec![None; nr_cpus as usize],
            current: vec![None; nr_cpus as usize],
            cpu_cgrp: vec![super::cgroup::ROOT_CGROUP; nr_cpus as usize],
            task_cgroup: HashMap::new(),
            cgroup_parent: HashMap::new(),
            cgrp_time: HashMap::new(),
            cpu_nr_cgroups: vec![0; nr_cpus as usize],
            events: Vec::new(),
            now: 0,
            rates: HashMap::new(),
            stats: EngineStats::default(),
            optimized_switch: true,
            scratch: Vec::new(),
        };
        for c in 0..nr_cpus {
            e.ctxs.push(EventContext::new(CtxKind::Cpu(c)));
            e.cpu_ctx.push(CtxId(c));
        }
        e
    }

    /// Register a PMU; creates its cpc (with embedded epc) on every CPU.
    pub fn add_pmu(&mut self, type_: u32, name: &str, ops: Box<dyn PmuSchedOps>) -> u32 {
        let idx = self.pmus.len() as u32;
        self.pmus.push(SchedPmu { type_, name: name.into(), ops, hrtimer_interval_ms: DEFAULT_MUX_INTERVAL_MS });
        for cpu in 0..self.nr_cpus {
            let epc = EpcId(self.epcs.len() as u32);
            self.epcs.push(PmuContext::new(idx, self.cpu_ctx[cpu as usize], true));
            self.cpcs.push(CpuPmuContext::new(idx, cpu, epc, DEFAULT_MUX_INTERVAL_MS * 1_000_000));
        }
        // cpcs are laid out pmu-major; rebuild order is already pmu-major since PMUs are appended.
        idx
    }

    /// Register the core PMUs of a preset (see [`crate::pmu::presets`]). Returns their indices.
    pub fn add_core_pmus(&mut self, descs: Vec<CorePmuDesc>) -> Vec<u32> {
        descs
            .into_iter()
            .map(|d| {
                let (t, n) = (d.type_, d.name);
                let p = CorePmu::new(d, self.nr_cpus);
                self.add_pmu(t, n, Box::new(p))
            })
            .collect()
    }

    /// The cpc of (pmu, cpu).
    #[inline]
    pub fn cpc_index(&self, pmu: u32, cpu: u32) -> usize {
        (pmu * self.nr_cpus + cpu) as usize
    }

    /// A live event.
    pub fn ev(&self, id: u32) -> Result<&SEvent> {
        self.events
            .get(id as usize)
            .and_then(Option::as_ref)
            .ok_or_else(|| Error::NotFound(format!("event {id} is not installed")))
    }

    #[inline]
    pub(crate) fn e(&self, id: u32) -> &SEvent {
        self.events[id as usize].as_ref().expect("live event")
    }

    #[inline]
    pub(crate) fn em(&mut self, id: u32) -> &mut SEvent {
        self.events[id as usize].as_mut().expect("live event")
    }

    /// Set `hrtimer_interval_ms` of a PMU (the sysfs `perf_event_mux_interval_ms` store):
    /// < 1 is -EINVAL.
    pub fn set_mux_interval_ms(&mut self, pmu: u32, ms: i64) -> Result<()> {
        if ms < 1 {
            return Err(Error::perf(Errno::EINVAL, format!("perf_event_mux_interval_ms = {ms} must be >= 1")));
        }
        let p = self.pmus.get_mut(pmu as usize).ok_or_else(|| Error::NotFound(format!("no PMU {pmu}")))?;
        p.hrtimer_interval_ms = ms as u64;
        for cpu in 0..self.nr_cpus {
            let i = self.cpc_index(pmu, cpu);
            self.cpcs[i].hrtimer_interval = ms as u64 * 1_000_000;
        }
        Ok(())
    }

    /// `find_get_context()`: the task's context (made on first use; an existing one is
    /// uncloned, since the new event makes it differ from its parent) or the CPU's.
    fn get_ctx(&mut self, task: Option<u32>, cpu: i32) -> Result<CtxId> {
        match task {
            Some(t) => {
                if let Some(&c) = self.task_ctx.get(&t) {
                    self.unclone_ctx(c);
                    return Ok(c);
                }
                Ok(self.alloc_task_ctx(t))
            }
            None => {
                if cpu < 0 || cpu as u32 >= self.nr_cpus {
                    return Err(Error::perf(Errno::EINVAL, format!("cpu = {cpu}: a CPU-wide event needs a CPU")));
                }
                Ok(self.cpu_ctx[cpu as usize])
            }
        }
    }

    /// `alloc_perf_context()` for task `t`, linked as its `perf_event_ctxp`.
    pub(crate) fn alloc_task_ctx(&mut self, t: u32) -> CtxId {
        self.ctxs.push(EventContext::new(CtxKind::Task(t)));
        let c = CtxId(self.ctxs.len() as u32 - 1);
        self.task_ctx.insert(t, c);
        c
    }

    /// `unclone_ctx()`: the context stops being a clone; `generation` moves on so no other
    /// clone compares equal to it any more.
    pub(crate) fn unclone_ctx(&mut self, ctx: CtxId) {
        let c = &mut self.ctxs[ctx.0 as usize];
        if c.parent_ctx.take().is_some() {
            c.generation += 1;
        }
    }

    /// A free engine id for an event the engine creates itself (an inherited child): ids
    /// at or above this one have never been used.
    pub fn next_free_id(&self) -> u32 {
        self.events.len() as u32
    }

    /// `find_get_pmu_context()`.
    pub(crate) fn get_epc(&mut self, ctx: CtxId, pmu: u32) -> EpcId {
        if let CtxKind::Cpu(cpu) = self.ctxs[ctx.0 as usize].kind {
            let epc = self.cpcs[self.cpc_index(pmu, cpu)].epc;
            if !self.ctxs[ctx.0 as usize].epcs.contains(&epc) {
                self.ctxs[ctx.0 as usize].epcs.insert(0, epc);
            }
            return epc;
        }
        if let Some(&e) = self.ctxs[ctx.0 as usize].epcs.iter().find(|e| self.epcs[e.0 as usize].pmu == pmu) {
            return e;
        }
        let id = EpcId(self.epcs.len() as u32);
        self.epcs.push(PmuContext::new(pmu, ctx, false));
        let ty = self.pmus[pmu as usize].type_;
        let pos = self.ctxs[ctx.0 as usize]
            .epcs
            .iter()
            .position(|e| self.pmus[self.epcs[e.0 as usize].pmu as usize].type_ > ty)
            .unwrap_or(self.ctxs[ctx.0 as usize].epcs.len());
        self.ctxs[ctx.0 as usize].epcs.insert(pos, id);
        id
    }

    /// Install an event under engine id `id` (`perf_install_in_context()` after the open-time
    /// group checks). A running context is rescheduled (`ctx_resched()`).
    pub fn install(&mut self, id: u32, spec: EventSpec) -> Result<()> {
        if self.events.get(id as usize).is_some_and(Option::is_some) {
            return Err(Error::Usage(format!("event {id} already installed")));
        }
        if spec.pmu as usize >= self.pmus.len() {
            return Err(Error::NotFound(format!("no PMU {}", spec.pmu)));
        }
        if spec.task.is_none() && spec.cpu < 0 {
            return Err(Error::perf(Errno::EINVAL, "pid = -1 and cpu = -1: an event needs a task or a CPU"));
        }
        if spec.cgroup.is_some() && spec.task.is_some() {
            return Err(Error::perf(Errno::EINVAL, "a cgroup event is a CPU event: it cannot name a task"));
        }
        if spec.cpu >= self.nr_cpus as i32 {
            return Err(Error::perf(Errno::ENODEV, format!("cpu = {} is not a CPU of this machine", spec.cpu)));
        }
        let sw = spec.constraint.is_none();
        // pmu_of an event for epc purposes
        let mut epc_pmu = spec.pmu;
        let ctx = self.get_ctx(spec.task, spec.cpu)?;
        let mut move_group = false;
        if let Some(l) = spec.group_leader {
            let leader = self.ev(l)?;
            if leader.leader != l {
                return Err(Error::perf(
                    Errno::EINVAL,
                    format!("group_fd names event {l}, which is not a group leader"),
                ));
            }
            if leader.ctx != ctx || leader.spec.cpu != spec.cpu {
                return Err(Error::perf(Errno::EINVAL, "group leader is in another context or on another cpu"));
            }
            if spec.pinned || spec.exclusive {
                return Err(Error::perf(
                    Errno::EINVAL,
                    "attr.pinned/attr.exclusive are only allowed on a group leader",
                ));
            }
            let leader_epc_pmu = self.epcs[leader.epc.0 as usize].pmu;
            let leader_group_sw = self.pmus[leader_epc_pmu as usize].is_software();
            if sw {
                epc_pmu = leader_epc_pmu;
            } else if leader_group_sw {
                move_group = true;
            } else if leader_epc_pmu != spec.pmu {
                return Err(Error::perf(
                    Errno::EINVAL,
                    format!(
                        "a {} event cannot join a group on PMU {}",
                        self.pmus[spec.pmu as usize].name, self.pmus[leader_epc_pmu as usize].name
                    ),
                ));
            }
            // validate_group(): the hardware members must fit alone
            if let (Some(c), Some(desc)) = (spec.constraint, self.pmus[spec.pmu as usize].core_desc()) {
                let mut cs: Vec<Constraint> = std::iter::once(l)
                    .chain(leader.siblings.iter().copied())
                    .filter_map(|m| self.e(m).spec.constraint)
                    .collect();
                cs.push(c);
                desc.validate_group(&cs)?;
            }
        } else if let (Some(c), Some(desc)) = (spec.constraint, self.pmus[spec.pmu as usize].core_desc()) {
            desc.validate_group(&[c])?;
        }
        if let (Some(desc), false) = (self.pmus[spec.pmu as usize].core_desc(), spec.cpu < 0) {
            if desc.hybrid && desc.filter(spec.cpu as u32) {
                return Err(Error::perf(
                    Errno::ENOENT,
                    format!("cpu = {} is not a CPU of PMU {}", spec.cpu, desc.name),
                ));
            }
        }
        if move_group {
            let l = spec.group_leader.unwrap_or(id);
            self.move_group(l, spec.pmu)?;
        }
        let epc = self.get_epc(ctx, epc_pmu);
        let leader = spec.group_leader.unwrap_or(id);
        let state = if spec.disabled { EventState::Off } else { EventState::Inactive };
        let tstamp = match (spec.cgroup, spec.task) {
            (Some(cg), None) => self.cgroup_time_now(cg, spec.cpu as u32),
            _ => self.ctxs[ctx.0 as usize].time_now(self.now),
        };
        let ev = SEvent::new(spec, ctx, epc, leader, state, tstamp, None);
        if self.events.len() <= id as usize {
            self.events.resize(id as usize + 1, None);
        }
        self.events[id as usize] = Some(ev);
        self.list_add_event(id);
        self.cgroup_event_added(id);
        if leader != id {
            self.em(leader).siblings.push(id);
        }
        if state == EventState::Inactive {
            self.resched_for(id);
        }
        Ok(())
    }

    /// Move a software group onto a hardware PMU's epc (`move_group`).
    fn move_group(&mut self, l: u32, pmu: u32) -> Result<()> {
        let ctx = self.e(l).ctx;
        let members: Vec<u32> = std::iter::once(l).chain(self.e(l).siblings.iter().copied()).collect();
        let was_active = self.e(l).state == EventState::Active;
        if was_active {
            self.group_sched_out(l);
        }
        self.list_del_leader(l);
        let new_epc = self.get_epc(ctx, pmu);
        for m in members {
            let old = self.e(m).epc;
            let cg = u32::from(self.e(m).spec.cgroup.is_some());
            self.epcs[old.0 as usize].nr_events -= 1;
            self.epcs[new_epc.0 as usize].nr_events += 1;
            self.epcs[old.0 as usize].nr_cgroups -= cg;
            self.epcs[new_epc.0 as usize].nr_cgroups += cg;
            self.em(m).epc = new_epc;
        }
        self.list_add_leader(l);
        Ok(())
    }

    pub(crate) fn list_add_leader(&mut self, id: u32) {
        let (ctx, cpu, pinned, cg, epc) = {
            let e = self.e(id);
            (e.ctx, e.spec.cpu, e.spec.pinned, e.spec.cgroup, e.epc)
        };
        let pmu = self.epcs[epc.0 as usize].pmu;
        let (node, key) = self.ctxs[ctx.0 as usize].groups_mut(pinned).insert(cpu, pmu, cg, id);
        let e = self.em(id);
        e.node = node;
        e.group_index = key.group_index;
    }

    pub(crate) fn list_del_leader(&mut self, id: u32) {
        let (ctx, pinned, node) = {
            let e = self.e(id);
            (e.ctx, e.spec.pinned, e.node)
        };
        if !node.is_nil() {
            self.ctxs[ctx.0 as usize].groups_mut(pinned).delete(node);
        }
        let e = self.em(id);
        e.node = NodeId::NIL;
        e.group_index = 0;
    }

    /// `list_add_event()`: leaders into the tree, `event_list`, `nr_events`, `nr_stat`,
    /// `nr_no_switch_fast` (inherit + PERF_SAMPLE_READ), `generation++`.
    pub(crate) fn list_add_event(&mut self, id: u32) {
        let (ctx, epc, leader, ia) = {
            let e = self.e(id);
            (e.ctx, e.epc, e.leader, e.spec.inherit)
        };
        if leader == id {
            self.list_add_leader(id);
        }
        let c = &mut self.ctxs[ctx.0 as usize];
        c.nr_events += 1;
        c.generation += 1;
        c.event_list.push(id);
        c.nr_stat += u32::from(ia.inherit_stat);
        c.nr_no_switch_fast += u32::from(ia.inherit && ia.sample_read);
        self.epcs[epc.0 as usize].nr_events += 1;
    }

    /// `list_del_event()` bookkeeping: the counters of `list_add_event()` undone.
    pub(crate) fn list_del_event(&mut self, id: u32) {
        let (ctx, epc, ia) = {
            let e = self.e(id);
            (e.ctx, e.epc, e.spec.inherit)
        };
        let c = &mut self.ctxs[ctx.0 as usize];
        c.nr_events -= 1;
        c.generation += 1;
        c.event_list.retain(|&x| x != id);
        c.nr_stat -= u32::from(ia.inherit_stat);
        c.nr_no_switch_fast -= u32::from(ia.inherit && ia.sample_read);
        self.epcs[epc.0 as usize].nr_events -= 1;
    }

    /// Remove an event (`perf_event_release_kernel()`: its inherited children are removed
    /// and freed first; then `perf_remove_from_context()` with `DETACH_GROUP`): scheduled out,
    /// unlinked; a leader's siblings become singleton groups (`perf_group_detach()`). An
    /// event already detached by its task's exit (EXIT) only leaves its group.
    pub fn remove(&mut self, id: u32) -> Result<()> {
        self.ev(id)?;
        for c in std::mem::take(&mut self.em(id).children) {
            self.remove(c)?;
        }
        if let Some(p) = self.e(id).parent {
            if let Some(Some(pe)) = self.events.get_mut(p as usize) {
                pe.children.retain(|&c| c != id);
            }
        }
        if self.e(id).state == EventState::Exit {
            self.detach_exited(id);
            self.events[id as usize] = None;
            return Ok(());
        }
        let leader = self.e(id).leader;
        if self.e(id).state == EventState::Active {
            if leader == id {
                self.group_sched_out(id);
            } else {
                self.event_sched_out(id);
            }
        }
        self.update_event_time(id);
        self.cgroup_event_removed(id);
        if leader == id {
            self.list_del_leader(id);
            let sibs = std::mem::take(&mut self.em(id).siblings);
            for s in sibs {
                self.em(s).leader = s;
                self.list_add_leader(s);
                if self.e(s).state == EventState::Active {
                    let pinned = self.e(s).spec.pinned;
                    let epc = self.e(s).epc;
                    self.epcs[epc.0 as usize].active_list(pinned).push(s);
                }
            }
        } else {
            self.em(leader).siblings.retain(|&s| s != id);
        }
        self.list_del_event(id);
        self.events[id as usize] = None;
        Ok(())
    }

    /// Group detach of an event its task's exit already took out of the context (state
    /// EXIT, off every list): siblings become leaders of nothing, a sibling leaves.
    fn detach_exited(&mut self, id: u32) {
        let leader = self.e(id).leader;
        if leader == id {
            for s in std::mem::take(&mut self.em(id).siblings) {
                self.em(s).leader = s;
            }
        } else if let Some(Some(l)) = self.events.get_mut(leader as usize) {
            l.siblings.retain(|&s| s != id);
        }
    }

    /// Set a count rate for (task, event kind), per second of running time.
    pub fn set_rate(&mut self, task: u32, kind: &str, per_sec: f64) -> Result<()> {
        if !per_sec.is_finite() || per_sec < 0.0 {
            return Err(Error::Usage(format!("rate {per_sec} must be a finite number >= 0")));
        }
        self.rates.insert((task, kind.to_string()), per_sec);
        Ok(())
    }
}
