//! A simulated machine: its CPUs, sysctls, the caller's credentials, PMUs, tasks and events.
//! This is the object every scenario starts from; the system calls it offers are modelled in
//! their own modules (`events::open` for `perf_event_open()`).

use crate::events::open::{perf_event_open, OpenArgs};
use crate::events::rb::PerfBuffer;
use crate::events::EventState;
use crate::events::{EventArena, EventId};
use crate::machine_settings::{Caller, Sysctls};
use crate::mm::{AddressSpaces, MapKind, MmConfig, MmId, TaskMmView};
use crate::output::mmap_rules::{
    perf_mmap, AuxView, MmapAccounting, MmapAction, MmapEventView, MmapOptions, MmapOutcome, MmapRequest, RbView,
};
use crate::output::{AuxConfig, RingBuffer, RingConfig};
use crate::pmu::caps;
use crate::pmu::software::{ClockPmu, SoftwarePmu};
use crate::pmu::PmuRegistry;
use crate::task::{TaskId, TaskTable};
use crate::{Error, Result};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// Names of the machine presets this build knows, with a one-line description.
pub const PRESETS: &[(&str, &str)] = &[
    ("software-only", "software PMUs only (software, cpu_clock, task_clock), like a KVM guest without a vPMU"),
    ("intel-icx", "software PMUs + Intel Ice Lake server core PMU `cpu` (8 GP + 4 fixed counters)"),
    ("intel-skl-ht", "software PMUs + Intel Skylake core PMU `cpu` with SMT on (4 GP + 3 fixed)"),
    ("amd-zen", "software PMUs + AMD Zen core PMU `cpu` (6 GP counters, no fixed)"),
    ("adl-hybrid", "software PMUs + Alder Lake `cpu_core` (CPUs 0-3, 8 GP + 4 fixed) and `cpu_atom` (CPUs 4-7, 6 + 3)"),
    ("arm-biglittle", "software PMUs + two ARM PMUv3 PMUs (cycle counter + 6 counters), CPUs 0-3 and 4-7"),
];

/// How to build a machine.
#[derive(Clone, Debug)]
pub struct MachineConfig {
    pub preset: String,
    pub nr_cpus: u32,
    pub sysctl: Sysctls,
    pub caller: Caller,
    /// Also register the simulated instruction-trace PMU "trace" (AUX area capable).
    pub trace_pmu: bool,
    /// Take the optimised context switch (swap of equivalent clones) as the kernel does;
    /// false runs every switch the slow way, to compare.
    pub optimized_switch: bool,
    /// Where PMU task data lives: 6.15+ `task_struct` (default) or 6.2-6.14 pmu context.
    pub task_data: crate::task_data::TaskDataDesign,
    /// Where the blobs come from: the per-PMU "x86_lbr" kmem_cache (default) or kzalloc.
    pub task_data_alloc: crate::task_data::BlobBackend,
    /// LBR depth (8..=64, a multiple of 8); None = the preset's (32).
    pub lbr_depth: Option<u32>,
}

impl Default for MachineConfig {
    fn default() -> Self {
        MachineConfig {
            preset: "software-only".into(),
            nr_cpus: 8,
            sysctl: Sysctls::default(),
            caller: Caller::root(),
            trace_pmu: false,
            optimized_switch: true,
            task_data: crate::task_data::TaskDataDesign::TaskStruct,
            task_data_alloc: crate::task_data::BlobBackend::KmemCache,
            lbr_depth: None,
        }
    }
}

/// The simulated machine.
#[derive(Debug)]
pub struct Machine {
    pub preset: String,
    nr_cpus: u32,
    online: Vec<bool>,
    pub sysctl: Sysctls,
    pub caller: Caller,
    pub pmus: PmuRegistry,
    pub tasks: TaskTable,
    pub events: EventArena,
    last_event_id: u64,
    /// Page tables of every task (built on first use: most scenarios never look at memory).
    address_spaces: OnceLock<Arc<AddressSpaces>>,
    /// The event scheduling engine (contexts, epcs, cpcs; `events::sched_glue`).
    pub sched: crate::ctx::Engine,
    /// The cgroup hierarchy and open cgroup directory fds.
    pub cgroups: crate::cgroup::CgroupFs,
    /// `task->mm` of user tasks by the task's address-space id (threads share one; kernel
    /// threads have none).
    task_mm: HashMap<u32, MmId>,
    /// Ring buffers and `event->rb` of every event (`events::rb`).
    pub(crate) buffers: crate::events::rb::EventBuffers,
    /// The caller's mlock accounting (`user->locked_vm`, `mm->pinned_vm`) for perf buffers.
    pub mlock: MmapAccounting,
    /// Lift the power-of-two check on AUX sizes (to study the 2^64 wrap corruption).
    pub allow_non_pow2_aux: bool,
    /// PMU task data and the per-CPU LBRs (`task_data::machine_data`).
    pub(crate) task_data: crate::task_data::MachineTaskData,
    /// Workloads, runqueues and sampling state of [`Machine::run`] (`sim`).
    pub(crate) sim: crate::sim::SimState,
}

impl Machine {
    /// Build a machine from a preset.
    pub fn new(cfg: MachineConfig) -> Result<Self> {
        if cfg.nr_cpus == 0 || cfg.nr_cpus > 8192 {
            return Err(Error::Usage(format!("nr_cpus = {} must be in 1..=8192", cfg.nr_cpus)));
        }
        let mut pmus = PmuRegistry::new();
        match cfg.preset.as_str() {
            "software-only" => {
                pmus.register(Box::new(SoftwarePmu))?;
                pmus.register(Box::new(ClockPmu::cpu_clock()))?;
                pmus.register(Box::new(ClockPmu::task_clock()))?;
            }
            other if crate::pmu::presets::core_pmus(other).is_some() => {
                pmus.register(Box::new(SoftwarePmu))?;
                pmus.register(Box::new(ClockPmu::cpu_clock()))?;
                pmus.register(Box::new(ClockPmu::task_clock()))?;
                for d in crate::pmu::presets::core_pmus(other).unwrap_or_default() {
                    let lbr = crate::pmu::presets::lbr_format(other);
                    pmus.register(Box::new(crate::pmu::core_pmu::CorePmuDriver { desc: d, lbr }))?;
                }
            }
            other => {
                let known: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
                return Err(Error::Usage(format!("unknown machine preset {other:?} (known: {})", known.join(", "))));
            }
        }
        if cfg.trace_pmu {
            pmus.register(Box::new(crate::pmu::trace::TracePmuDriver))?;
        }
        let mut core = crate::pmu::presets::core_pmus(&cfg.preset).unwrap_or_default();
        for d in core.iter_mut().filter(|d| !d.hybrid) {
            d.cpus = (0..cfg.nr_cpus).collect();
        }
        let mut sched = crate::events::sched_glue::engine_for(&pmus, &core, cfg.nr_cpus);
        sched.optimized_switch = cfg.optimized_switch;
        let task_data = crate::task_data::MachineTaskData::new(
            cfg.task_data,
            cfg.task_data_alloc,
            crate::pmu::presets::lbr_format(&cfg.preset),
            cfg.lbr_depth,
            cfg.nr_cpus,
        )?;
        Ok(Machine {
            task_data,
            sim: crate::sim::SimState::default(),
            sched,
            cgroups: crate::cgroup::CgroupFs::new(),
            preset: cfg.preset,
            nr_cpus: cfg.nr_cpus,
            online: vec![true; cfg.nr_cpus as usize],
            tasks: TaskTable::with_cpus(cfg.caller.uid, cfg.nr_cpus),
            sysctl: cfg.sysctl,
            caller: cfg.caller,
            pmus,
            events: EventArena::default(),
            last_event_id: 0,
            address_spaces: OnceLock::new(),
            task_mm: HashMap::new(),
            buffers: Default::default(),
            mlock: MmapAccounting::default(),
            allow_non_pow2_aux: false,
        })
    }

    /// `nr_cpu_ids`.
    pub fn nr_cpus(&self) -> u32 {
        self.nr_cpus
    }

    /// Whether a CPU is online for perf (`perf_cpu_context::online`).
    pub fn cpu_online(&self, cpu: i32) -> bool {
        usize::try_from(cpu).ok().and_then(|c| self.online.get(c)).copied().unwrap_or(false)
    }

    /// Take a CPU offline or bring it back (CPU hotplug as perf sees it).
    pub fn set_cpu_online(&mut self, cpu: u32, online: bool) -> Result<()> {
        let slot = self
            .online
            .get_mut(cpu as usize)
            .ok_or_else(|| Error::Usage(format!("cpu = {cpu} is not a CPU of this machine (0..{})", self.nr_cpus)))?;
        *slot = online;
        Ok(())
    }

    /// The next `event->id` (machine-wide, from 1).
    pub(crate) fn next_event_id(&mut self) -> u64 {
        self.last_event_id += 1;
        self.last_event_id
    }

    /// Whether an event has a ring buffer (`event->rb`: its own or, after SET_OUTPUT,
    /// another event's).
    pub fn has_ring_buffer(&self, event: EventId) -> bool {
        self.buffers.rb_of(event).is_some()
    }

    /// The mmap() view of the ring buffer `event` writes into.
    pub fn ring_view(&self, event: EventId) -> Option<RbView> {
        self.buffers.get(event).map(|b| b.view)
    }

    /// `mmap()` of an event fd: the data ring (`pgoff == 0`) or, after the user wrote
    /// `aux_offset`/`aux_size` into the user page (`user_aux`), the AUX area. Applies the
    /// kernel's checks in order with this machine's sysctls and the caller's mlock accounting,
    /// then creates or shares the ring buffer (perf_mmap_rb() / perf_mmap_aux(): the ring is
    /// laid out from the event's attr and owned by the machine). Returns what the kernel did.
    pub fn perf_mmap(&mut self, event: EventId, req: MmapRequest, user_aux: Option<(u64, u64)>) -> Result<MmapOutcome> {
        let ev = self.events.get(event)?;
        let reg = self.pmus.get(ev.pmu);
        let mut rb = self.ring_view(event);
        if let (Some(r), Some((off, size))) = (rb.as_mut(), user_aux) {
            r.user_aux_offset = off;
            r.user_aux_size = size;
        }
        let view = MmapEventView {
            cpu: ev.cpu,
            inherit: ev.attr.flag(crate::abi::AttrFlag::Inherit),
            revoked: ev.state == EventState::Revoked,
            pmu_has_aux: reg.pmu.capabilities() & caps::ITRACE != 0,
            write_backward: ev.attr.flag(crate::abi::AttrFlag::WriteBackward),
            rb,
        };
        let mut acct = self.mlock;
        acct.perf_event_mlock_kb = self.sysctl.perf_event_mlock_kb;
        acct.perf_event_paranoid = self.sysctl.perf_event_paranoid;
        acct.cap_ipc_lock = self.caller.cap_ipc_lock;
        acct.rlimit_memlock = self.caller.rlimit_memlock;
        acct.nr_online_cpus = self.online.iter().filter(|o| **o).count() as u32;
        let opts = MmapOptions { aux_require_pow2: !self.allow_non_pow2_aux, lsm_denies: None };
        let out = perf_mmap(&view, &req, &acct, &opts)?;
        let page = crate::abi::PAGE_SIZE as u64;
        match out.action {
            MmapAction::CreateRb { data_pages, overwrite, backward } => {
                let ring = self.rb_alloc(event, data_pages, overwrite, backward)?;
                let view = RbView { data_pages, mmap_count: 1, aux: None, user_aux_offset: 0, user_aux_size: 0 };
                self.buffers.create(event, PerfBuffer { view, ring });
            }
            MmapAction::ShareRb => {
                if let Some(b) = self.buffers.get_mut(event) {
                    b.view.mmap_count += 1;
                }
            }
            MmapAction::CreateAux { nr_pages, pgoff, overwrite } => {
                let aux_watermark = self.events.get(event)?.attr.aux_watermark;
                let require_pow2 = !self.allow_non_pow2_aux;
                let b = self
                    .buffers
                    .get_mut(event)
                    .ok_or_else(|| Error::Internal(format!("AUX mapped on event {} without a ring", event.0)))?;
                let cfg = AuxConfig {
                    nr_pages: u32::try_from(nr_pages)
                        .map_err(|_| Error::perf(crate::Errno::ENOMEM, format!("AUX nr_pages {nr_pages} too large")))?,
                    writable: !overwrite,
                    aux_watermark,
                    require_pow2,
                    pgoff,
                    start: 0,
                };
                b.ring.map_aux(cfg)?;
                b.ring.set_aux_area(pgoff * page, nr_pages * page);
                b.view.aux = Some(AuxView { pgoff, nr_pages });
                b.view.user_aux_offset = pgoff * page;
                b.view.user_aux_size = nr_pages * page;
            }
            MmapAction::ShareAux => {}
        }
        if matches!(out.action, MmapAction::CreateRb { .. } | MmapAction::ShareRb) {
            self.buffers.output_mut(event).mmap_count += 1;
        }
        self.mlock.account(&out);
        Ok(out)
    }

    /// rb_alloc() + ring_buffer_init() for `event`'s first data mmap: the ring's wakeup
    /// settings come from the attr (`watermark`/`wakeup_watermark`, else `wakeup_events`).
    fn rb_alloc(&self, event: EventId, data_pages: u64, overwrite: bool, backward: bool) -> Result<RingBuffer> {
        let attr = &self.events.get(event)?.attr;
        let watermark = attr.flag(crate::abi::AttrFlag::Watermark);
        RingBuffer::new(RingConfig {
            data_pages: u32::try_from(data_pages)
                .map_err(|_| Error::perf(crate::Errno::ENOMEM, format!("data_pages {data_pages} too large")))?,
            page_size: crate::abi::PAGE_SIZE,
            writable: !overwrite,
            backward,
            watermark,
            wakeup_watermark: if watermark { attr.wakeup_events } else { 0 },
            wakeup_events: if watermark { 0 } else { attr.wakeup_events },
            start: 0,
        })
    }

    /// `munmap()` of a whole ring mapping made by [`Machine::perf_mmap`] through `event`: the
    /// last unmap of the data ring detaches every event from it and frees it, and uncharges its
    /// pages (`perf_mmap_close()`).
    pub fn perf_munmap(&mut self, event: EventId, outcome: &MmapOutcome) -> Result<()> {
        let key = self.buffers.rb_of(event);
        let b = key
            .and_then(|k| self.buffers.by_key_mut(k))
            .ok_or_else(|| Error::Usage(format!("event {} has no mapped ring buffer", event.0)))?;
        match outcome.action {
            MmapAction::CreateRb { .. } | MmapAction::ShareRb => {
                b.view.mmap_count = b.view.mmap_count.saturating_sub(1);
                let last = b.view.mmap_count == 0;
                let o = self.buffers.output_mut(event);
                o.mmap_count = o.mmap_count.saturating_sub(1);
                if let (true, Some(k)) = (last, key) {
                    self.buffers.teardown(k);
                }
            }
            MmapAction::CreateAux { .. } | MmapAction::ShareAux => b.view.aux = None,
        }
        self.mlock.unaccount(outcome);
        Ok(())
    }

    /// Whether `fd` names an open cgroup directory.
    pub fn cgroup_fd_valid(&self, fd: i32) -> bool {
        self.cgroups.by_fd(fd).is_some()
    }

    /// The cgroup an fd names (`css_tryget_online_from_dir()`), None if it is not an open
    /// cgroup directory.
    pub fn cgroup_by_fd(&self, fd: i32) -> Option<u64> {
        self.cgroups.by_fd(fd)
    }

    /// `mkdir` of a cgroup under `parent` (the root, id 1, if None); returns its id.
    pub fn cgroup_create(&mut self, name: &str, parent: Option<u64>) -> Result<u64> {
        let id = self.cgroups.create(name, parent)?;
        self.sched.add_cgroup(id, parent)?;
        Ok(id)
    }

    /// Move task `pid` into cgroup `cgroup` (writing its pid to `cgroup.procs`). A task running
    /// on a CPU switches that CPU's cgroup at once, as `perf_cgroup_attach()` does.
    pub fn cgroup_attach(&mut self, pid: i32, cgroup: u64) -> Result<()> {
        let t = self.task_by_pid(pid)?;
        self.cgroups.get(cgroup)?;
        self.sched.set_task_cgroup(t.0, Some(cgroup));
        self.sync_sched_states();
        Ok(())
    }

    /// The cgroup of task `pid`.
    pub fn cgroup_of(&self, pid: i32) -> Result<u64> {
        let t = self.task_by_pid(pid)?;
        Ok(self.sched.task_cgroup_of(t.0))
    }

    /// `open()` of a cgroup directory: an fd to pass as `pid` with `PERF_FLAG_PID_CGROUP`.
    pub fn cgroup_fd(&mut self, cgroup: u64) -> Result<i32> {
        self.cgroups.open_fd(cgroup)
    }

    /// The cgroup clock (`perf_cgroup_info` time) of `cgroup` on `cpu`, ns.
    pub fn cgroup_time(&self, cgroup: u64, cpu: u32) -> Result<u64> {
        self.cgroups.get(cgroup)?;
        if cpu >= self.nr_cpus {
            return Err(Error::Usage(format!("cpu = {cpu} is not a CPU of this machine (0..{})", self.nr_cpus)));
        }
        Ok(self.sched.cgroup_time_now(cgroup, cpu))
    }

    /// `perf_event_open()` with the attr as user memory (see [`perf_event_open`]).
    pub fn perf_event_open(
        &mut self,
        user_attr: &mut [u8],
        pid: i32,
        cpu: i32,
        group: Option<EventId>,
        flags: u64,
    ) -> Result<EventId> {
        perf_event_open(self, user_attr, OpenArgs { pid, cpu, group, flags })
    }

    /// The machine's address spaces (`init_mm` plus one mm per user task), created on first use.
    pub fn address_spaces(&self) -> Result<&Arc<AddressSpaces>> {
        if let Some(a) = self.address_spaces.get() {
            return Ok(a);
        }
        let a = Arc::new(AddressSpaces::new(MmConfig::default())?);
        Ok(self.address_spaces.get_or_init(|| a))
    }

    /// The task with this pid (0 = the caller).
    pub fn task_by_pid(&self, pid: i32) -> Result<TaskId> {
        if pid == 0 {
            return Ok(self.tasks.current());
        }
        self.tasks.by_tid(pid).ok_or_else(|| Error::NotFound(format!("no task with pid {pid}")))
    }

    /// Create a task forked from the caller's task (a new thread group leader): its PMU task
    /// data is set up as `perf_event_init_task()` + `perf_event_fork()` do. Returns its id.
    pub fn spawn(&mut self, comm: &str, uid: u32, kernel_thread: bool) -> Result<TaskId> {
        let parent = self.tasks.current();
        let t = self.tasks.spawn(comm, uid, kernel_thread);
        self.task_data_fork(parent, t)?;
        Ok(t)
    }

    /// `task->mm`: a user task's address space (made on first use), None for a kernel thread.
    pub fn task_mm(&mut self, t: TaskId) -> Result<Option<MmId>> {
        let Some(key) = self.tasks.get(t)?.mm else { return Ok(None) };
        if let Some(mm) = self.task_mm.get(&key) {
            return Ok(Some(*mm));
        }
        let mm = self.address_spaces()?.new_mm()?;
        self.task_mm.insert(key, mm);
        Ok(Some(mm))
    }

    /// What the page-size walk sees when `t` is current (`current->mm`, kernel-thread flag).
    pub fn task_mm_view(&mut self, t: TaskId) -> Result<TaskMmView> {
        Ok(match self.task_mm(t)? {
            Some(mm) => TaskMmView::user(mm),
            None => TaskMmView::kernel_thread(None),
        })
    }

    /// `mmap()` in a user task's address space.
    pub fn mmap(
        &mut self,
        t: TaskId,
        addr: u64,
        length: u64,
        page_size: u64,
        kind: MapKind,
        populate: bool,
    ) -> Result<()> {
        let mm = self.user_mm(t)?;
        self.address_spaces()?.mmap(mm, addr, length, page_size, kind, populate)
    }

    /// `munmap()` (whole or partial) in a user task's address space.
    pub fn munmap(&mut self, t: TaskId, addr: u64, length: u64) -> Result<()> {
        let mm = self.user_mm(t)?;
        self.address_spaces()?.munmap(mm, addr, length)
    }

    /// THP collapse of 4 KiB pages into 2 MiB leaves; returns the number of 2 MiB blocks made.
    pub fn collapse(&mut self, t: TaskId, addr: u64, length: u64) -> Result<u64> {
        let mm = self.user_mm(t)?;
        self.address_spaces()?.collapse(mm, addr, length)
    }

    /// THP split of the 2 MiB leaf holding `addr`; returns whether one was split.
    pub fn split(&mut self, t: TaskId, addr: u64) -> Result<bool> {
        let mm = self.user_mm(t)?;
        self.address_spaces()?.split(mm, addr)
    }

    /// `perf_get_page_size()` for a sample taken while `t` runs: 4K/2M/1G, or 0 when unmapped.
    pub fn page_size(&mut self, t: TaskId, addr: u64) -> Result<u64> {
        let view = self.task_mm_view(t)?;
        Ok(self.address_spaces()?.perf_get_page_size(view, addr))
    }

    fn user_mm(&mut self, t: TaskId) -> Result<MmId> {
        self.task_mm(t)?.ok_or_else(|| {
            let pid = self.tasks.get(t).map(|x| x.pid).unwrap_or(-1);
            Error::Usage(format!("pid {pid} is a kernel thread: it has no user address space"))
        })
    }

    /// `close()` of an event fd: a leader's siblings become singleton groups
    /// (`perf_group_detach()`), a sibling leaves its group.
    pub fn close(&mut self, id: EventId) -> Result<()> {
        let ev = self.events.remove(id)?;
        self.buffers.forget(id);
        let _ = self.sched.remove(id.0);
        if ev.group_leader == id {
            for s in ev.siblings {
                if let Ok(sev) = self.events.get_mut(s) {
                    sev.group_leader = s;
                }
            }
        } else if let Ok(l) = self.events.get_mut(ev.group_leader) {
            l.siblings.retain(|s| *s != id);
        }
        self.task_data_detach_event(id)
    }
}
