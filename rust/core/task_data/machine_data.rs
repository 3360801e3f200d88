//! PMU task data on the simulated machine: which design holds the LBR blob of each task, where
//! the blobs come from, and the event life-cycle hooks that create and drop them. Models
//! `attach_perf_ctx_data()` / `detach_perf_ctx_data()` (6.15+, called from `perf_event_alloc()`
//! and `__free_event()`), `find_get_pmu_context()`'s task-data allocation and `free_epc_rcu()`
//! (6.2-6.14), `perf_event_fork()`'s `perf_event_alloc_task_data()` and the detach at the end of
//! `perf_event_exit_task()`; facts: spec/task-data-slab-page-size.md A.2, A.4, A.6.
//!
//! The machine chooses the design ([`TaskDataDesign`]) and the blob backend (kmem_cache or
//! kzalloc); the blob layout follows the preset's LBR ([`crate::pmu::presets::lbr_format`]).
//! The 6.15+ protocol itself is [`TaskDataTable`] (used as is); the 6.2-6.14 one is
//! [`PmuContextData`]. The LBR side (per-CPU stacks, save/restore on context switch) is in
//! [`super::lbr_sched`].

use super::alloc::TaskDataAlloc;
use super::lbr::{BlobLayout, LbrBlob, LbrCpu, LbrEntry, LbrFormat};
use super::perf_ctx_data::{GlobalWalk, TaskDataTable};
use super::pmu_context_data::{CtxKind, PmuContextData};
use super::slab_alloc::{BlobBackend, SlabBlobAlloc};
use crate::abi::attr::PerfEventAttr;
use crate::abi::sample::*;
use crate::abi::AttrFlag;
use crate::events::EventId;
use crate::machine::Machine;
use crate::slab::{KmallocAlignRule, SlabInfo};
use crate::task::{TaskId, TaskTable};
use crate::{Errno, Error, Result};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// `PID_MAX_DEFAULT`: the task slots of the machine's `perf_ctx_data` table (a fork beyond it
/// fails with EAGAIN, as `alloc_pid()` does when pids run out).
pub const TASK_DATA_SLOTS: u32 = 32768;

/// Preset LBR depth (`lbr_nr` of Skylake/Ice Lake, and the usual Arch LBR depth).
pub const DEFAULT_LBR_DEPTH: u32 = 32;

/// Where PMU task data lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskDataDesign {
    /// 6.2-6.14: `perf_event_pmu_context::task_ctx_data`, task contexts only.
    PmuContext,
    /// 6.15+: `task_struct::perf_ctx_data`, also for CPU-wide users.
    TaskStruct,
}

impl TaskDataDesign {
    /// Parse `"pmu_context"` or `"task_struct"`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "pmu_context" => Ok(TaskDataDesign::PmuContext),
            "task_struct" => Ok(TaskDataDesign::TaskStruct),
            _ => Err(Error::Usage(format!("task_data {s:?} is unknown (use \"pmu_context\" or \"task_struct\")"))),
        }
    }
    /// Canonical name.
    pub fn name(self) -> &'static str {
        match self {
            TaskDataDesign::PmuContext => "pmu_context",
            TaskDataDesign::TaskStruct => "task_struct",
        }
    }
}

/// The task-data part of a task context's pmu context for the LBR PMU (6.2-6.14), with the
/// number of events holding the epc (it is freed with the last one).
pub(crate) struct EpcData {
    pub(crate) data: PmuContextData,
    nr_events: u32,
}

/// What an LBR call-stack event holds (`PERF_ATTACH_TASK_DATA` and friends).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LbrEvent {
    /// `event->hw.target`: the monitored task of a per-task event.
    pub(crate) task: Option<TaskId>,
    /// `branch_user_callstack()`: counted in `lbr_callstack_users` while on the PMU.
    pub(crate) user_callstack: bool,
    /// `PERF_ATTACH_GLOBAL_DATA`: holds a `global_ctx_data_ref` (6.15+ CPU-wide event).
    pub(crate) global: bool,
    /// The CPU whose LBR counts it (`intel_pmu_lbr_add()` ran there), if any.
    pub(crate) added_on: Option<u32>,
}

/// LBR and task-data state of a machine whose core PMU has an LBR.
pub(crate) struct LbrState {
    pub(crate) format: LbrFormat,
    pub(crate) layout: BlobLayout,
    /// `cpu_hw_events` LBR fields, per CPU.
    pub(crate) cpus: Vec<LbrCpu>,
    /// `x86_pmu.lbr_callstack_users`.
    pub(crate) global_users: u64,
    pub(crate) alloc: Arc<SlabBlobAlloc>,
    pub(crate) cache: Arc<dyn TaskDataAlloc>,
    /// `task->perf_ctx_data` of every task (6.15+), made at the first LBR open.
    pub(crate) table: Option<TaskDataTable>,
    /// Task pmu contexts' data (6.2-6.14), by task.
    pub(crate) epcs: HashMap<TaskId, EpcData>,
    /// Open LBR call-stack events.
    pub(crate) events: BTreeMap<EventId, LbrEvent>,
}

/// PMU task data of a machine.
pub struct MachineTaskData {
    /// The design in force.
    pub design: TaskDataDesign,
    /// The blob backend.
    pub backend: BlobBackend,
    pub(crate) lbr: Option<LbrState>,
}

impl std::fmt::Debug for MachineTaskData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MachineTaskData")
            .field("design", &self.design)
            .field("backend", &self.backend)
            .field("lbr", &self.lbr.as_ref().map(|l| (l.format, l.layout.size, l.events.len())))
            .finish()
    }
}

/// Memory of PMU task data as slabinfo shows it, plus the protocol's counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachineTaskDataMemory {
    /// Row of the cache serving the blobs ("x86_lbr", or a kmalloc class with kzalloc).
    pub blob: SlabInfo,
    /// Row of kmalloc-64 (the 40-byte `perf_ctx_data` headers).
    pub header: SlabInfo,
    /// Blobs reachable from tasks (published `perf_ctx_data`, or task epcs with data).
    pub published: u64,
    /// Objects unpublished and waiting for a grace period.
    pub pending: u64,
    /// `global_ctx_data_ref`.
    pub global_ref: u32,
    /// `x86_pmu.lbr_callstack_users`.
    pub global_lbr_callstack_users: u64,
    /// Blob object size and alignment of the layout.
    pub blob_size: usize,
    /// Blob alignment the allocator guarantees.
    pub blob_align: usize,
}

/// One task's PMU data as the LBR code sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskDataView {
    /// `perf_ctx_data::refcount` (None in the pmu-context design).
    pub refcount: Option<u32>,
    /// `perf_ctx_data::global`.
    pub global: bool,
    /// Blob address.
    pub blob_addr: usize,
    /// `opt.lbr_callstack_users`.
    pub lbr_callstack_users: u32,
    /// `opt.lbr_stack_state` (LBR_NONE 0 / LBR_VALID 1).
    pub lbr_stack_state: u32,
    /// `opt.log_id`.
    pub log_id: u32,
    /// Saved LBR entries, oldest first.
    pub saved: Vec<LbrEntry>,
}

impl MachineTaskData {
    /// State for a machine: `lbr` None when the core PMU has no LBR (no task data ever).
    pub fn new(
        design: TaskDataDesign,
        backend: BlobBackend,
        lbr: Option<LbrFormat>,
        depth: Option<u32>,
        nr_cpus: u32,
    ) -> Result<Self> {
        let lbr = match lbr {
            None => {
                if let Some(d) = depth {
                    return Err(Error::Usage(format!("lbr_depth = {d} but this preset's core PMU has no LBR")));
                }
                None
            }
            Some(format) => {
                let d = depth.unwrap_or(DEFAULT_LBR_DEPTH);
                let layout = BlobLayout::new(format, d).map_err(|e| Error::Usage(format!("lbr_depth: {e}")))?;
                // create_lbr_kmem_cache(): legacy passes align 0, Arch LBR XSAVE 64.
                let align = if format == LbrFormat::Legacy { 0 } else { layout.align };
                let alloc = Arc::new(SlabBlobAlloc::new(
                    backend,
                    layout.size,
                    align,
                    nr_cpus as usize,
                    KmallocAlignRule::LargestPow2Divisor,
                    false,
                )?);
                let cache: Arc<dyn TaskDataAlloc> = alloc.clone();
                Some(LbrState {
                    format,
                    layout,
                    cpus: (0..nr_cpus).map(|_| LbrCpu::new(d)).collect(),
                    global_users: 0,
                    alloc,
                    cache,
                    table: None,
                    epcs: HashMap::new(),
                    events: BTreeMap::new(),
                })
            }
        };
        Ok(MachineTaskData { design, backend, lbr })
    }

    /// The LBR blob layout, if the machine has an LBR.
    pub fn layout(&self) -> Option<BlobLayout> {
        self.lbr.as_ref().map(|l| l.layout)
    }
}

/// `branch_sample_call_stack()`: the event asks for LBR call-stack mode.
pub fn branch_sample_call_stack(attr: &PerfEventAttr) -> bool {
    attr.sample_type & PERF_SAMPLE_BRANCH_STACK != 0 && attr.branch_sample_type & PERF_SAMPLE_BRANCH_CALL_STACK != 0
}

/// `branch_user_callstack()`: call-stack mode on user branches (an empty privilege mask takes
/// the event's exclude bits, as `perf_copy_attr()` fills it).
fn branch_user_callstack(attr: &PerfEventAttr) -> bool {
    let plm = attr.branch_sample_type & PERF_SAMPLE_BRANCH_PLM_ALL;
    let user = if plm == 0 { !attr.flag(AttrFlag::ExcludeUser) } else { plm & PERF_SAMPLE_BRANCH_USER != 0 };
    branch_sample_call_stack(attr) && user
}

/// The table of `task->perf_ctx_data`, made on first use with every live task spawned in it.
fn table_for<'a>(table: &'a mut Option<TaskDataTable>, tasks: &TaskTable) -> Result<&'a TaskDataTable> {
    if table.is_none() {
        let t = TaskDataTable::with_walk(TASK_DATA_SLOTS, GlobalWalk::Restart);
        for (id, task) in tasks.iter() {
            if !task.exited && id.0 < TASK_DATA_SLOTS {
                t.spawn(id.0)?;
            }
        }
        *table = Some(t);
    }
    table.as_ref().ok_or_else(|| Error::Internal("task data table vanished".into()))
}

/// Run `f` on `task`'s LBR blob in `design` (None when the task has none) and the blob's owner
/// key (its address: `cpuc->last_task_ctx`).
pub(crate) fn with_task_blob<R>(
    design: TaskDataDesign,
    table: &Option<TaskDataTable>,
    epcs: &mut HashMap<TaskId, EpcData>,
    layout: BlobLayout,
    task: TaskId,
    f: impl FnOnce(Option<(&mut LbrBlob<'_>, usize)>) -> R,
) -> Result<R> {
    match design {
        TaskDataDesign::TaskStruct => {
            let Some(t) = table.as_ref() else { return Ok(f(None)) };
            let g = t.rcu_read_lock();
            match t.ctx_data(&g, task.0) {
                Some(cd) => {
                    let owner = cd.blob().addr();
                    // SAFETY: the machine is `&mut` (one thread), so this CPU's switch path is
                    // the only code touching the blob, and `g` outlives the slice.
                    let mut b = LbrBlob::new(unsafe { cd.blob_mut() }, layout)?;
                    Ok(f(Some((&mut b, owner))))
                }
                None => Ok(f(None)),
            }
        }
        TaskDataDesign::PmuContext => match epcs.get_mut(&task).and_then(|e| e.data.data_mut()) {
            Some(d) => {
                let owner = d.addr();
                let mut b = LbrBlob::new(d.bytes_mut(), layout)?;
                Ok(f(Some((&mut b, owner))))
            }
            None => Ok(f(None)),
        },
    }
}

impl Machine {
    /// `attach_perf_ctx_data()` (6.15+) or `find_get_pmu_context()`'s allocation (6.2-6.14) for
    /// an event being opened on PMU `pmu`: an LBR call-stack event (`PERF_ATTACH_TASK_DATA`, set
    /// by `x86_pmu_hw_config()`) attaches the target task's data, or the global data for a
    /// CPU-wide event in the 6.15+ design. Returns what the event holds, None for other events.
    /// An allocation failure fails the open (ENOMEM).
    pub(crate) fn task_data_attach(
        &mut self,
        attr: &PerfEventAttr,
        pmu: crate::pmu::PmuId,
        task: Option<TaskId>,
        cpu: i32,
    ) -> Result<Option<LbrEvent>> {
        let design = self.task_data.design;
        let Some(l) = self.task_data.lbr.as_mut() else { return Ok(None) };
        if !branch_sample_call_stack(attr) || self.sched.pmus[pmu.0 as usize].core_desc().is_none() {
            return Ok(None);
        }
        let mut ev = LbrEvent { task, user_callstack: branch_user_callstack(attr), global: false, added_on: None };
        match (design, task) {
            (TaskDataDesign::TaskStruct, Some(t)) => {
                table_for(&mut l.table, &self.tasks)?.attach_task_ctx_data(t.0, &l.cache, false)?;
            }
            (TaskDataDesign::TaskStruct, None) => {
                table_for(&mut l.table, &self.tasks)?.attach_global_ctx_data(&l.cache)?;
                ev.global = true;
            }
            (TaskDataDesign::PmuContext, Some(t)) => {
                let e = l
                    .epcs
                    .entry(t)
                    .or_insert_with(|| EpcData { data: PmuContextData::new(CtxKind::Task), nr_events: 0 });
                let alloc_cpu = u32::try_from(cpu).unwrap_or(0);
                if let Err(err) = e.data.attach_event(true, &l.cache, alloc_cpu) {
                    if e.nr_events == 0 {
                        l.epcs.remove(&t);
                    }
                    return Err(err);
                }
                e.nr_events += 1;
            }
            // A CPU context carries no task data before 6.15.
            (TaskDataDesign::PmuContext, None) => {}
        }
        Ok(Some(ev))
    }

    /// Record what an opened event holds (after [`Machine::task_data_attach`] succeeded and the
    /// event got its id).
    pub(crate) fn task_data_register(&mut self, eid: EventId, ev: LbrEvent) {
        if let Some(l) = self.task_data.lbr.as_mut() {
            l.events.insert(eid, ev);
        }
    }

    /// `detach_perf_ctx_data()` / `free_epc_rcu()` at the free of an event (a no-op for events
    /// that hold no task data). An event still counted on a CPU's LBR is taken off it first
    /// (`intel_pmu_lbr_del()`).
    pub(crate) fn task_data_detach_event(&mut self, eid: EventId) -> Result<()> {
        let design = self.task_data.design;
        let Some(l) = self.task_data.lbr.as_mut() else { return Ok(()) };
        let Some(ev) = l.events.get(&eid).copied() else { return Ok(()) };
        if ev.added_on.is_some() {
            super::lbr_sched::lbr_event_del(design, l, eid)?;
        }
        l.events.remove(&eid);
        match (design, ev.task) {
            (TaskDataDesign::TaskStruct, Some(t)) => {
                if let Some(tb) = l.table.as_ref() {
                    tb.detach_task_ctx_data(t.0)?;
                }
            }
            (TaskDataDesign::TaskStruct, None) => {
                if let (true, Some(tb)) = (ev.global, l.table.as_ref()) {
                    tb.detach_global_ctx_data()?;
                }
            }
            (TaskDataDesign::PmuContext, Some(t)) => {
                if let Some(e) = l.epcs.get_mut(&t) {
                    e.nr_events = e.nr_events.saturating_sub(1);
                    if e.nr_events == 0 {
                        l.epcs.remove(&t); // free_epc_rcu(): the blob goes with the epc
                    }
                }
            }
            (TaskDataDesign::PmuContext, None) => {}
        }
        Ok(())
    }

    /// `perf_event_init_task()` + `perf_event_fork()`'s `perf_event_alloc_task_data(child,
    /// parent)`: the child starts without data and gets an object holding the global reference
    /// while a CPU-wide LBR user exists (6.15+; the pmu-context design has nothing per task).
    pub(crate) fn task_data_fork(&mut self, parent: TaskId, child: TaskId) -> Result<()> {
        let Some(tb) = self.task_data.lbr.as_ref().and_then(|l| l.table.as_ref()) else { return Ok(()) };
        if child.0 >= TASK_DATA_SLOTS {
            return Err(Error::perf(
                Errno::EAGAIN,
                format!("fork: task index {} is beyond pid_max {TASK_DATA_SLOTS}", child.0),
            ));
        }
        if parent.0 < TASK_DATA_SLOTS && tb.is_alive(parent.0) {
            tb.fork(parent.0, child.0)
        } else {
            tb.spawn(child.0)
        }
    }

    /// The end of `perf_event_exit_task()`: `PF_EXITING`, then drop one reference "for the
    /// system-wide event" (6.15+). In the pmu-context design the task's epc data goes when its
    /// events are freed, not at exit.
    pub(crate) fn task_data_exit(&mut self, task: TaskId) -> Result<()> {
        let Some(tb) = self.task_data.lbr.as_ref().and_then(|l| l.table.as_ref()) else { return Ok(()) };
        if task.0 < TASK_DATA_SLOTS && tb.is_alive(task.0) {
            tb.exit_task(task.0)?;
        }
        Ok(())
    }

    /// Where this machine keeps PMU task data.
    pub fn task_data_design(&self) -> TaskDataDesign {
        self.task_data.design
    }

    /// Where this machine's task-data blobs come from.
    pub fn task_data_backend(&self) -> BlobBackend {
        self.task_data.backend
    }

    /// A grace period (`synchronize_rcu()`): RCU-deferred `perf_ctx_data` frees complete.
    pub fn task_data_synchronize(&mut self) {
        if let Some(tb) = self.task_data.lbr.as_ref().and_then(|l| l.table.as_ref()) {
            tb.synchronize();
        }
    }

    /// `kmem_cache_shrink()` of the "x86_lbr" cache; returns the slabs left (None without an
    /// LBR or with the kzalloc backend, whose kmalloc caches are shared).
    pub fn task_data_shrink(&mut self) -> Option<usize> {
        self.task_data.lbr.as_ref().and_then(|l| l.alloc.shrink())
    }

    /// Memory of PMU task data (None when the machine has no LBR).
    pub fn task_data_memory(&self) -> Option<MachineTaskDataMemory> {
        let l = self.task_data.lbr.as_ref()?;
        let (blob, header) = l.alloc.slabinfo();
        let (published, pending, global_ref) = match (self.task_data.design, l.table.as_ref()) {
            (TaskDataDesign::TaskStruct, Some(t)) => {
                let s = t.stats();
                (t.nr_published(), s.deferred_pending, s.global_ref)
            }
            (TaskDataDesign::TaskStruct, None) => (0, 0, 0),
            (TaskDataDesign::PmuContext, _) => (l.epcs.values().filter(|e| e.data.has_data()).count() as u64, 0, 0),
        };
        Some(MachineTaskDataMemory {
            blob,
            header,
            published,
            pending,
            global_ref,
            global_lbr_callstack_users: l.global_users,
            blob_size: l.layout.size,
            blob_align: TaskDataAlloc::align(&*l.alloc),
        })
    }

    /// Task `t`'s PMU data (None when it has none).
    pub fn task_data_of(&mut self, t: TaskId) -> Result<Option<TaskDataView>> {
        self.tasks.get(t)?;
        let design = self.task_data.design;
        let Some(l) = self.task_data.lbr.as_mut() else { return Ok(None) };
        let info = match (design, l.table.as_ref()) {
            (TaskDataDesign::TaskStruct, Some(tb)) if t.0 < TASK_DATA_SLOTS => tb.task_info(t.0)?,
            _ => None,
        };
        with_task_blob(design, &l.table, &mut l.epcs, l.layout, t, |b| {
            b.map(|(b, owner)| TaskDataView {
                refcount: info.map(|i| i.0),
                global: info.is_some_and(|i| i.1),
                blob_addr: owner,
                lbr_callstack_users: b.users(),
                lbr_stack_state: b.state(),
                log_id: b.log_id(),
                saved: b.entries(),
            })
        })
    }
}
