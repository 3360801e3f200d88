//! `perfcore.Machine` and `perfcore.Event`: a simulated machine and handles of its events.

use crate::attr::PyAttr;
use crate::errors::UsageError;
use crate::guard::guard;
use crate::ring::PyRingBuffer;
use perfcore::abi::names;
use perfcore::events::EventId;
use perfcore::machine_settings::{Caller, Sysctls};
use perfcore::{Error, Machine, MachineConfig};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// The machine plus the Python objects that stand for its kernel objects (a ring buffer is one
/// object however often it is mapped; keyed like the machine's rings, by the creating event).
pub struct MachineCell {
    pub m: Mutex<Machine>,
    pub rings: Mutex<HashMap<EventId, Py<PyRingBuffer>>>,
}

/// Shared, thread-safe machine state (Python objects hold clones of the Arc).
pub type Shared = Arc<MachineCell>;

/// Lock the machine; a poisoned lock (a panic in another thread) is reported, not propagated.
pub fn lock(m: &Shared) -> PyResult<MutexGuard<'_, Machine>> {
    m.m.lock().map_err(|_| crate::errors::InternalError::new_err("machine state poisoned by an earlier panic"))
}

/// A simulated machine.
#[pyclass(module = "perfcore._core", name = "Machine")]
pub struct PyMachine {
    pub inner: Shared,
}

/// A handle of an open event (the model's fd).
#[pyclass(module = "perfcore._core", name = "Event")]
pub struct PyEvent {
    pub machine: Shared,
    pub id: EventId,
}

fn parse_flags(v: &Bound<'_, PyAny>) -> PyResult<u64> {
    if let Ok(i) = v.extract::<u64>() {
        return Ok(i);
    }
    let s: String = v.extract()?;
    guard(|| names::parse_mask("flags", names::OPEN_FLAG_NAMES, &s))
}

#[pymethods]
impl PyMachine {
    /// A machine from a preset. Sysctls default to the kernel's; `privileged=True` models a
    /// root caller (CAP_PERFMON, CAP_SYS_PTRACE, CAP_IPC_LOCK), False an ordinary user.
    /// `trace_pmu=True` adds the AUX-capable "trace" PMU; `allow_non_pow2_aux=True` lifts the
    /// power-of-two rule on AUX sizes (to study the 2^64 wrap). `optimized_switch=False`
    /// runs every context switch the slow way (no swap of equivalent clones), to compare.
    /// `task_data` picks where PMU task data lives ("task_struct" = 6.15+, "pmu_context" =
    /// 6.2-6.14), `task_data_alloc` where its blobs come from ("kmem_cache" or "kzalloc"),
    /// `lbr_depth` the LBR depth (8..64, a multiple of 8; None = 32; only on presets with an LBR).
    #[new]
    #[pyo3(signature = (preset = "software-only", nr_cpus = 8, *, privileged = true, perf_event_paranoid = 2,
                        perf_event_max_sample_rate = 100_000, perf_event_max_stack = 127,
                        perf_event_mlock_kb = 516, trace_pmu = false, allow_non_pow2_aux = false,
                        optimized_switch = true, task_data = "task_struct", task_data_alloc = "kmem_cache",
                        lbr_depth = None))]
    #[allow(clippy::too_many_arguments)] // the Python keyword signature is the API
    fn new(
        preset: &str,
        nr_cpus: u32,
        privileged: bool,
        perf_event_paranoid: i32,
        perf_event_max_sample_rate: u64,
        perf_event_max_stack: u32,
        perf_event_mlock_kb: u64,
        trace_pmu: bool,
        allow_non_pow2_aux: bool,
        optimized_switch: bool,
        task_data: &str,
        task_data_alloc: &str,
        lbr_depth: Option<u32>,
    ) -> PyResult<Self> {
        let design = guard(|| perfcore::task_data::TaskDataDesign::parse(task_data))?;
        let backend = guard(|| perfcore::task_data::BlobBackend::parse(task_data_alloc))?;
        let cfg = MachineConfig {
            preset: preset.to_string(),
            nr_cpus,
            sysctl: Sysctls {
                perf_event_paranoid,
                perf_event_max_sample_rate,
                perf_event_max_stack,
                perf_event_mlock_kb,
                ..Sysctls::default()
            },
            caller: if privileged { Caller::root() } else { Caller::unprivileged() },
            trace_pmu,
            optimized_switch,
            task_data: design,
            task_data_alloc: backend,
            lbr_depth,
        };
        let mut m = guard(|| Machine::new(cfg))?;
        m.allow_non_pow2_aux = allow_non_pow2_aux;
        Ok(PyMachine { inner: Arc::new(MachineCell { m: Mutex::new(m), rings: Mutex::new(HashMap::new()) }) })
    }

    /// The machine presets this build knows: {name: description}.
    #[staticmethod]
    fn presets() -> Vec<(&'static str, &'static str)> {
        perfcore::machine::PRESETS.to_vec()
    }

    /// Preset name.
    #[getter]
    fn preset(&self) -> PyResult<String> {
        Ok(lock(&self.inner)?.preset.clone())
    }

    /// Number of CPUs (`nr_cpu_ids`).
    #[getter]
    fn nr_cpus(&self) -> PyResult<u32> {
        Ok(lock(&self.inner)?.nr_cpus())
    }

    /// The sysctls as a dict.
    fn sysctl<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let m = lock(&self.inner)?;
        let s = &m.sysctl;
        let d = PyDict::new(py);
        d.set_item("perf_event_paranoid", s.perf_event_paranoid)?;
        d.set_item("perf_event_max_sample_rate", s.perf_event_max_sample_rate)?;
        d.set_item("perf_event_max_stack", s.perf_event_max_stack)?;
        d.set_item("perf_event_max_contexts_per_stack", s.perf_event_max_contexts_per_stack)?;
        d.set_item("perf_event_mlock_kb", s.perf_event_mlock_kb)?;
        d.set_item("perf_cpu_time_max_percent", s.perf_cpu_time_max_percent)?;
        d.set_item("lockdown_perf", s.lockdown_perf)?;
        Ok(d)
    }

    /// Set one sysctl by name (as `sysctl -w kernel.<name>=<value>` would).
    fn set_sysctl(&self, name: &str, value: i64) -> PyResult<()> {
        let mut m = lock(&self.inner)?;
        guard(|| {
            let s = &mut m.sysctl;
            let u = |v: i64| -> perfcore::Result<u64> {
                u64::try_from(v).map_err(|_| Error::Usage(format!("kernel.{name} = {v} must not be negative")))
            };
            match name {
                "perf_event_paranoid" => {
                    s.perf_event_paranoid = i32::try_from(value)
                        .map_err(|_| Error::Usage(format!("kernel.{name} = {value} does not fit an int")))?
                }
                "perf_event_max_sample_rate" => s.perf_event_max_sample_rate = u(value)?,
                "perf_event_max_stack" => s.perf_event_max_stack = u(value)? as u32,
                "perf_event_max_contexts_per_stack" => s.perf_event_max_contexts_per_stack = u(value)? as u32,
                "perf_event_mlock_kb" => s.perf_event_mlock_kb = u(value)?,
                "perf_cpu_time_max_percent" => s.perf_cpu_time_max_percent = u(value)?.min(100) as u32,
                "lockdown_perf" => s.lockdown_perf = value != 0,
                _ => return Err(Error::Usage(format!("unknown sysctl {name:?}"))),
            }
            Ok(())
        })
    }

    /// The PMUs in registration order: [{"name", "type", "capabilities"}].
    fn pmus<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let m = lock(&self.inner)?;
        m.pmus
            .iter()
            .map(|(_, r)| {
                let d = PyDict::new(py);
                d.set_item("name", r.pmu.name())?;
                d.set_item("type", r.type_)?;
                d.set_item("capabilities", r.pmu.capabilities())?;
                Ok(d)
            })
            .collect()
    }

    /// Create a task; returns its pid.
    #[pyo3(signature = (comm, *, uid = None, kernel_thread = false))]
    fn spawn(&self, comm: &str, uid: Option<u32>, kernel_thread: bool) -> PyResult<i32> {
        let mut m = lock(&self.inner)?;
        let uid = uid.unwrap_or(m.caller.uid);
        guard(|| {
            let t = m.spawn(comm, uid, kernel_thread)?;
            Ok(m.tasks.get(t)?.pid)
        })
    }

    /// The task with this pid exits (`perf_event_exit_task()`): inherited counts fold into
    /// their parents, its own events become EXIT, a running task leaves its CPU idle.
    fn exit_task(&self, pid: i32) -> PyResult<()> {
        let mut m = lock(&self.inner)?;
        guard(|| m.exit_task(pid))
    }

    /// pid of the calling task (what pid=0 means).
    #[getter]
    fn current_pid(&self) -> PyResult<i32> {
        let m = lock(&self.inner)?;
        guard(|| Ok(m.tasks.get(m.tasks.current())?.pid))
    }

    /// `task->mm` id of a user task (made on first use), None for a kernel thread.
    fn task_mm(&self, pid: i32) -> PyResult<Option<u32>> {
        let mut m = lock(&self.inner)?;
        guard(|| {
            let t = m.task_by_pid(pid)?;
            Ok(m.task_mm(t)?.map(|mm| mm.0))
        })
    }

    /// `mmap()` in the task's address space: `kind` is "anon", "file" or "hugetlb"; `page_size`
    /// 4096, 2 MiB or 1 GiB (huge sizes need hugetlb); `populate` faults every page in.
    #[pyo3(signature = (pid, addr, length, page_size = 4096, kind = "anon", populate = true))]
    fn mmap(&self, pid: i32, addr: u64, length: u64, page_size: u64, kind: &str, populate: bool) -> PyResult<()> {
        let mut m = lock(&self.inner)?;
        guard(|| {
            let t = m.task_by_pid(pid)?;
            m.mmap(t, addr, length, page_size, perfcore::mm::MapKind::parse(kind)?, populate)
        })
    }

    /// `munmap()` of a whole or partial range.
    fn munmap(&self, pid: i32, addr: u64, length: u64) -> PyResult<()> {
        let mut m = lock(&self.inner)?;
        guard(|| {
            let t = m.task_by_pid(pid)?;
            m.munmap(t, addr, length)
        })
    }

    /// THP collapse (4 KiB -> 2 MiB) of a range; returns the number of 2 MiB blocks made.
    fn collapse(&self, pid: i32, addr: u64, length: u64) -> PyResult<u64> {
        let mut m = lock(&self.inner)?;
        guard(|| {
            let t = m.task_by_pid(pid)?;
            m.collapse(t, addr, length)
        })
    }

    /// THP split of the 2 MiB leaf holding `addr`; returns whether one was split.
    fn split(&self, pid: i32, addr: u64) -> PyResult<bool> {
        let mut m = lock(&self.inner)?;
        guard(|| {
            let t = m.task_by_pid(pid)?;
            m.split(t, addr)
        })
    }

    /// What PERF_SAMPLE_DATA_PAGE_SIZE would report for `addr` in a sample of this task:
    /// 4096, 2 MiB, 1 GiB, or 0 when nothing is mapped (kernel threads walk init_mm).
    fn page_size(&self, pid: i32, addr: u64) -> PyResult<u64> {
        let mut m = lock(&self.inner)?;
        guard(|| {
            let t = m.task_by_pid(pid)?;
            m.page_size(t, addr)
        })
    }

    /// Take a CPU offline (or online again).
    fn set_cpu_online(&self, cpu: u32, online: bool) -> PyResult<()> {
        let mut m = lock(&self.inner)?;
        guard(|| m.set_cpu_online(cpu, online))
    }

    /// `perf_event_open(attr, pid, cpu, group_fd, flags)`. `attr` is an `Attr`, `bytes` or a
    /// `bytearray` (which, like user memory, receives the kernel's size on E2BIG). Raises
    /// `PerfError` with the kernel's errno.
    #[pyo3(signature = (attr, pid = -1, cpu = -1, group = None, flags = None),
           text_signature = "(self, /, attr, pid=-1, cpu=-1, group=None, flags=None)")]
    fn perf_event_open(
        &self,
        attr: &Bound<'_, PyAny>,
        pid: i32,
        cpu: i32,
        group: Option<PyRef<'_, PyEvent>>,
        flags: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyEvent> {
        let flags = flags.map(parse_flags).transpose()?.unwrap_or(0);
        let group = match group {
            Some(g) => {
                if !Arc::ptr_eq(&g.machine, &self.inner) {
                    return Err(UsageError::new_err("group event belongs to another Machine"));
                }
                Some(g.id)
            }
            None => None,
        };
        let mut user: Vec<u8>;
        let target: Option<Bound<'_, PyByteArray>>;
        if let Ok(a) = attr.extract::<PyRef<'_, PyAttr>>() {
            let size = if a.inner.size == 0 { 64 } else { a.inner.size as usize };
            user = a.inner.to_bytes(size.clamp(8, 1 << 16));
            target = None;
        } else if let Ok(b) = attr.cast::<PyByteArray>() {
            user = b.to_vec();
            target = Some(b.clone());
        } else if let Ok(b) = attr.cast::<PyBytes>() {
            user = b.as_bytes().to_vec();
            target = None;
        } else {
            return Err(pyo3::exceptions::PyTypeError::new_err("attr must be an Attr, bytes or bytearray"));
        }
        let r = {
            let mut m = lock(&self.inner)?;
            guard(|| m.perf_event_open(&mut user, pid, cpu, group, flags))
        };
        if let Some(t) = target {
            if t.len() >= 8 {
                // SAFETY-free path: copy the (possibly written-back) size field into the caller's bytearray
                let size_bytes = &user[4..8];
                for (i, b) in size_bytes.iter().enumerate() {
                    t.set_item(4 + i, *b)?;
                }
            }
        }
        let id = r?;
        Ok(PyEvent { machine: self.inner.clone(), id })
    }

    /// The open events, in open order.
    fn events(&self) -> PyResult<Vec<PyEvent>> {
        let m = lock(&self.inner)?;
        Ok(m.events.iter().map(|(id, _)| PyEvent { machine: self.inner.clone(), id }).collect())
    }

    // --- event core: scheduling step calls (conversions in sched.rs) ---

    /// Context switch: task `pid` starts running on `cpu` (the previous task is switched out,
    /// by the optimised swap when both contexts are equivalent clones; `stats()` counts
    /// `switch_swap` and `switch_slow`).
    fn switch_in(&self, cpu: u32, pid: i32) -> PyResult<()> {
        let mut m = lock(&self.inner)?;
        guard(|| m.switch_in(cpu, pid).map(drop))
    }

    /// The task running on `cpu` is switched out; the CPU goes idle.
    fn switch_out(&self, cpu: u32) -> PyResult<()> {
        let mut m = lock(&self.inner)?;
        guard(|| m.switch_out(cpu).map(drop))
    }

    /// Advance machine time by `ns`; multiplexing timers fire at their expiries.
    fn advance(&self, ns: u64) -> PyResult<()> {
        let mut m = lock(&self.inner)?;
        guard(|| m.advance(ns))
    }

    /// Run the rotation of PMU `pmu` (a name) on `cpu` now; True if something rotated.
    fn rotate(&self, cpu: u32, pmu: &str) -> PyResult<bool> {
        let mut m = lock(&self.inner)?;
        guard(|| m.rotate(cpu, pmu))
    }

    /// Count rate of `event_name` (`cycles`, `instructions`, `task-clock`, ...) while task `pid`
    /// runs, per second.
    fn set_rate(&self, pid: i32, event_name: &str, per_sec: f64) -> PyResult<()> {
        let mut m = lock(&self.inner)?;
        guard(|| m.set_rate(pid, event_name, per_sec))
    }

    /// `read()` decoded as a dict, or None when the event is in ERROR (read returns 0 bytes).
    fn read<'py>(&self, py: Python<'py>, event: PyRef<'_, PyEvent>) -> PyResult<Option<Bound<'py, PyDict>>> {
        crate::sched::same_machine(&self.inner, &event)?;
        let v = {
            let mut m = lock(&self.inner)?;
            guard(|| m.read_event_value(event.id))?
        };
        v.map(|v| crate::sched::read_dict(py, &v)).transpose()
    }

    /// `read()` as the exact read_format bytes (empty for an event in ERROR).
    fn read_bytes<'py>(&self, py: Python<'py>, event: PyRef<'_, PyEvent>) -> PyResult<Bound<'py, PyBytes>> {
        crate::sched::same_machine(&self.inner, &event)?;
        let b = {
            let mut m = lock(&self.inner)?;
            guard(|| m.read_event(event.id))?
        };
        Ok(PyBytes::new(py, &b))
    }

    /// `PERF_EVENT_IOC_ENABLE`.
    fn enable(&self, event: PyRef<'_, PyEvent>) -> PyResult<()> {
        crate::sched::same_machine(&self.inner, &event)?;
        let mut m = lock(&self.inner)?;
        guard(|| m.enable_event(event.id))
    }

    /// `PERF_EVENT_IOC_DISABLE`.
    fn disable(&self, event: PyRef<'_, PyEvent>) -> PyResult<()> {
        crate::sched::same_machine(&self.inner, &event)?;
        let mut m = lock(&self.inner)?;
        guard(|| m.disable_event(event.id))
    }

    /// Write a PMU's `perf_event_mux_interval_ms` (< 1 raises PerfError EINVAL).
    fn set_mux_interval_ms(&self, pmu: &str, ms: i64) -> PyResult<()> {
        let mut m = lock(&self.inner)?;
        guard(|| m.set_mux_interval_ms(pmu, ms))
    }

    /// Check the scheduling invariants; raises InternalError on a violation.
    fn check_sched(&self) -> PyResult<()> {
        let m = lock(&self.inner)?;
        guard(|| m.sched_check())
    }

    /// Engine statistics (tree visits, sched_in/out calls, failed transactions, rotations).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = lock(&self.inner)?.sched_stats();
        crate::sched::stats_dict(py, &s)
    }

    // --- cgroups ---

    /// `mkdir` of a cgroup under `parent` (default: the root, id 1); returns its id (ids
    /// increase monotonically).
    #[pyo3(signature = (name, parent = None))]
    fn cgroup_create(&self, name: &str, parent: Option<u64>) -> PyResult<u64> {
        let mut m = lock(&self.inner)?;
        guard(|| m.cgroup_create(name, parent))
    }

    /// Move task `pid` into `cgroup`; a running task switches its CPU's cgroup at once.
    fn cgroup_attach(&self, pid: i32, cgroup: u64) -> PyResult<()> {
        let mut m = lock(&self.inner)?;
        guard(|| m.cgroup_attach(pid, cgroup))
    }

    /// The cgroup id of task `pid` (1 = the root).
    fn cgroup_of(&self, pid: i32) -> PyResult<u64> {
        let m = lock(&self.inner)?;
        guard(|| m.cgroup_of(pid))
    }

    /// Open the cgroup's directory: an fd (in its own namespace, >= 2**20) to pass as `pid`
    /// with `flags="pid_cgroup"`.
    fn cgroup_fd(&self, cgroup: u64) -> PyResult<i32> {
        let mut m = lock(&self.inner)?;
        guard(|| m.cgroup_fd(cgroup))
    }

    /// The cgroup's path from the root ("/" for the root).
    fn cgroup_path(&self, cgroup: u64) -> PyResult<String> {
        let m = lock(&self.inner)?;
        guard(|| m.cgroups.path(cgroup))
    }

    /// The cgroup clock of `cgroup` on `cpu` now (ns): the time its tasks (or descendants')
    /// ran there while the CPU had cgroup events.
    fn cgroup_time(&self, cgroup: u64, cpu: u32) -> PyResult<u64> {
        let m = lock(&self.inner)?;
        guard(|| m.cgroup_time(cgroup, cpu))
    }

    fn __repr__(&self) -> PyResult<String> {
        let m = lock(&self.inner)?;
        Ok(format!("Machine(preset={:?}, nr_cpus={}, events={})", m.preset, m.nr_cpus(), m.events.len()))
    }
}

impl PyEvent {
    fn with<T>(&self, f: impl FnOnce(&Machine, &perfcore::events::Event) -> T) -> PyResult<T> {
        let m = lock(&self.machine)?;
        let ev = guard(|| m.events.get(self.id).cloned())?;
        Ok(f(&m, &ev))
    }
}

#[pymethods]
impl PyEvent {
    /// `event->id` (the value PERF_FORMAT_ID and PERF_SAMPLE_ID report).
    #[getter]
    fn id(&self) -> PyResult<u64> {
        self.with(|_, e| e.id)
    }

    /// Handle number of this event in its machine (plays the fd's role).
    #[getter]
    fn handle(&self) -> u32 {
        self.id.0
    }

    /// The attr as the kernel holds it after the copy-in.
    #[getter]
    fn attr(&self) -> PyResult<PyAttr> {
        self.with(|_, e| PyAttr { inner: e.attr })
    }

    /// Name of the PMU that took the event.
    #[getter]
    fn pmu(&self) -> PyResult<String> {
        self.with(|m, e| m.pmus.get(e.pmu).pmu.name().to_string())
    }

    /// `event->cpu` (-1: any CPU).
    #[getter]
    fn cpu(&self) -> PyResult<i32> {
        self.with(|_, e| e.cpu)
    }

    /// pid of the monitored task, or -1 for a CPU-wide event.
    #[getter]
    fn pid(&self) -> PyResult<i32> {
        self.with(|m, e| e.task.and_then(|t| m.tasks.get(t).ok()).map_or(-1, |t| t.tid))
    }

    /// `event->cgrp`: the cgroup id of a cgroup event, else None.
    #[getter]
    fn cgroup(&self) -> PyResult<Option<u64>> {
        self.with(|_, e| e.cgroup)
    }

    /// State name: OFF, INACTIVE, ACTIVE, ERROR, EXIT, REVOKED or DEAD.
    #[getter]
    fn state(&self) -> PyResult<&'static str> {
        self.with(|_, e| e.state.name())
    }

    /// The group leader (itself for a leader).
    #[getter]
    fn group_leader(&self) -> PyResult<PyEvent> {
        self.with(|_, e| PyEvent { machine: self.machine.clone(), id: e.group_leader })
    }

    /// Siblings in group order (empty for a sibling).
    #[getter]
    fn siblings(&self) -> PyResult<Vec<PyEvent>> {
        self.with(|_, e| e.siblings.iter().map(|s| PyEvent { machine: self.machine.clone(), id: *s }).collect())
    }

    /// Whether the handle still names an open event.
    #[getter]
    fn is_open(&self) -> PyResult<bool> {
        Ok(lock(&self.machine)?.events.contains(self.id))
    }

    /// `close(fd)`.
    fn close(&self) -> PyResult<()> {
        let mut m = lock(&self.machine)?;
        guard(|| m.close(self.id))?;
        // A ring still mapped outlives its owner's close (other events may write to it through
        // SET_OUTPUT): its RingBuffer object stays with the machine until the last unmap.
        if m.ring_buffer(self.id).is_none() {
            crate::event_mmap::forget(&self.machine, self.id);
        }
        Ok(())
    }

    /// poll(2) on the event fd: the revents mask (EPOLLIN|EPOLLRDNORM 0x41 for a ring wakeup,
    /// EPOLLHUP 0x10 without a ring or after exit, EPOLLERR 0x8 for a pinned event in ERROR).
    /// Like the kernel, a pending ring wakeup is consumed.
    fn poll(&self) -> PyResult<u32> {
        let mut m = lock(&self.machine)?;
        let wakeup = m.rb_poll(self.id);
        guard(|| m.perf_poll(self.id, wakeup))
    }

    /// `mmap()` of the data ring: 1 user page + `data_pages` (0 or a power of two).
    /// `writable=False` maps PROT_READ only (overwrite mode). Returns the event's `RingBuffer`;
    /// mapping again with the same size returns the same ring, a different size is EINVAL.
    /// With `aux_pages > 0` the AUX area is mapped right after the data ring too (as
    /// `mmap_aux(aux_pages, writable=aux_writable)`).
    #[pyo3(signature = (data_pages, *, writable = true, shared = true, aux_pages = 0, aux_writable = true))]
    fn mmap(
        &self,
        py: Python<'_>,
        data_pages: u64,
        writable: bool,
        shared: bool,
        aux_pages: u64,
        aux_writable: bool,
    ) -> PyResult<Py<PyRingBuffer>> {
        let rb = crate::event_mmap::mmap_data(py, &self.machine, self.id, data_pages, writable, shared)?;
        if aux_pages > 0 {
            crate::event_mmap::mmap_aux(&self.machine, self.id, aux_pages, aux_writable, None)?;
        }
        Ok(rb)
    }

    /// `mmap()` of the AUX area after the data ring: `aux_pages` at `aux_offset` (default: right
    /// after the data ring), as a user writes aux_offset/aux_size into the user page first.
    /// PMUs without an AUX area answer EOPNOTSUPP, as the kernel does.
    #[pyo3(signature = (aux_pages, *, writable = true, aux_offset = None))]
    fn mmap_aux(&self, aux_pages: u64, writable: bool, aux_offset: Option<u64>) -> PyResult<()> {
        crate::event_mmap::mmap_aux(&self.machine, self.id, aux_pages, writable, aux_offset)
    }

    /// `munmap()` of this event's most recent data-ring mapping (`aux=False`) or of its AUX
    /// area (`aux=True`): the last unmap of the data ring frees it and uncharges its pages
    /// (`perf_mmap_close()`); a RingBuffer object already obtained keeps its pages readable.
    #[pyo3(signature = (*, aux = false))]
    fn munmap(&self, aux: bool) -> PyResult<()> {
        let mut m = lock(&self.machine)?;
        let key = m.rb_key(self.id);
        guard(|| m.munmap_event(self.id, aux))?;
        if let Some(k) = key.filter(|k| m.ring_buffer(*k).is_none()) {
            crate::event_mmap::forget(&self.machine, k); // the last unmap freed the ring
        }
        Ok(())
    }

    fn __eq__(&self, other: PyRef<'_, PyEvent>) -> bool {
        Arc::ptr_eq(&self.machine, &other.machine) && self.id == other.id
    }

    fn __hash__(&self) -> u64 {
        u64::from(self.id.0)
    }

    fn __repr__(&self) -> PyResult<String> {
        let m = lock(&self.machine)?;
        Ok(match m.events.get(self.id) {
            Ok(e) => format!(
                "Event(handle={}, id={}, pmu={:?}, config={:#x}, cpu={}, state={})",
                self.id.0,
                e.id,
                m.pmus.get(e.pmu).pmu.name(),
                e.attr.config,
                e.cpu,
                e.state.name()
            ),
            Err(_) => format!("Event(handle={}, closed)", self.id.0),
        })
    }
}
