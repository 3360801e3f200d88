//! The `perf_event_open()` system call: argument checks in the kernel's order. Models
//! `sys_perf_event_open()`, the checks of `perf_event_alloc()` that do not need a scheduler,
//! `perf_event_set_clock()`, `perf_check_permission()`, `find_get_context()`'s CPU-wide
//! permission, the group-leader rules and `perf_event_validate_size()`.
//! Facts: spec/ring-buffer-aux-records.md §7, spec/context-and-scheduling.md §7,
//! spec/anchors-performance-reliability.md §4.1 and §4.5.

use super::attr_copy::perf_copy_attr;
use super::event::{Event, EventId, EventState};
use crate::abi::attr::PerfEventAttr;
use crate::abi::sample::*;
use crate::abi::types::*;
use crate::abi::AttrFlag;
use crate::machine::Machine;
use crate::machine_settings::{perf_allow_cpu, perf_allow_kernel};
use crate::pmu::{caps, TaskCtxNr};
use crate::task::TaskId;
use crate::{Errno, Error, Result};

/// `clockid_t` values accepted by `perf_event_set_clock()` and whether each is NMI-safe.
const CLOCKS: [(i32, &str, bool); 5] = [
    (libc::CLOCK_MONOTONIC, "CLOCK_MONOTONIC", true),
    (libc::CLOCK_MONOTONIC_RAW, "CLOCK_MONOTONIC_RAW", true),
    (libc::CLOCK_REALTIME, "CLOCK_REALTIME", false),
    (libc::CLOCK_BOOTTIME, "CLOCK_BOOTTIME", false),
    (libc::CLOCK_TAI, "CLOCK_TAI", false),
];

/// Largest `read()` of one event or group (`perf_event_validate_size()`).
pub const MAX_READ_SIZE: u64 = 16 * 1024;

/// `__perf_event_read_size()`: bytes of a `read()` with `nr` members.
pub fn read_size(read_format: u64, nr: u64) -> u64 {
    let mut size = 0u64;
    let mut entry = 8u64;
    if read_format & PERF_FORMAT_TOTAL_TIME_ENABLED != 0 {
        size += 8;
    }
    if read_format & PERF_FORMAT_TOTAL_TIME_RUNNING != 0 {
        size += 8;
    }
    if read_format & PERF_FORMAT_ID != 0 {
        entry += 8;
    }
    if read_format & PERF_FORMAT_LOST != 0 {
        entry += 8;
    }
    let members = if read_format & PERF_FORMAT_GROUP != 0 {
        size += 8;
        nr
    } else {
        1
    };
    size + entry * members
}

fn einval(reason: impl Into<String>) -> Error {
    Error::perf(Errno::EINVAL, reason)
}

/// The arguments of one call.
#[derive(Clone, Copy, Debug)]
pub struct OpenArgs {
    pub pid: i32,
    pub cpu: i32,
    /// `group_fd`: None for -1.
    pub group: Option<EventId>,
    pub flags: u64,
}

/// `perf_event_open(attr, pid, cpu, group_fd, flags)`. `user_attr` is the caller's attr memory:
/// on E2BIG the kernel writes its own size (136) into `attr.size` there, as here.
pub fn perf_event_open(m: &mut Machine, user_attr: &mut [u8], args: OpenArgs) -> Result<EventId> {
    if args.flags & !PERF_FLAG_ALL != 0 {
        return Err(einval(format!(
            "flags = {:#x} has unknown bit {}",
            args.flags,
            (args.flags & !PERF_FLAG_ALL).trailing_zeros()
        )));
    }
    let copied = perf_copy_attr(user_attr, &m.sysctl, &m.caller);
    if let Some(sz) = copied.size_written_back {
        if user_attr.len() >= 8 {
            user_attr[4..8].copy_from_slice(&sz.to_le_bytes());
        }
    }
    let attr = copied.result?;
    check_syscall_entry(m, &attr, &args)?;

    // group_fd and FD_OUTPUT / FD_NO_GROUP
    let mut leader = None;
    let mut output = None;
    if let Some(g) = args.group {
        if !m.events.contains(g) {
            return Err(Error::perf(Errno::EBADF, format!("group_fd = event {} is not an open perf event", g.0)));
        }
        leader = Some(g);
        if args.flags & PERF_FLAG_FD_OUTPUT != 0 {
            output = Some(g);
        }
        if args.flags & PERF_FLAG_FD_NO_GROUP != 0 {
            leader = None;
        }
    }
    let cgroup_mode = args.flags & PERF_FLAG_PID_CGROUP != 0;
    let task = if args.pid != -1 && !cgroup_mode { Some(m.tasks.find_lively_task_by_vpid(args.pid)?) } else { None };
    if let (Some(_), Some(l)) = (task, leader) {
        let l_inherit = m.events.get(l)?.attr.flag(AttrFlag::Inherit);
        if l_inherit != attr.flag(AttrFlag::Inherit) {
            return Err(einval(format!(
                "attr.inherit = {} differs from the group leader's inherit = {}",
                u8::from(attr.flag(AttrFlag::Inherit)),
                u8::from(l_inherit)
            )));
        }
    }
    let (pmu, config, cgroup) = perf_event_alloc_checks(m, &attr, args.cpu, task, cgroup_mode, args.pid, leader)?;
    let pmu_reg = m.pmus.get(pmu);
    if attr.sample_period != 0 && pmu_reg.pmu.capabilities() & caps::NO_INTERRUPT != 0 {
        return Err(Error::perf(
            Errno::EOPNOTSUPP,
            format!(
                "attr.sample_period = {} but PMU {} cannot interrupt (counting only)",
                attr.sample_period,
                pmu_reg.pmu.name()
            ),
        ));
    }
    let clock = if attr.flag(AttrFlag::UseClockid) {
        Some(perf_event_set_clock(attr.clockid, pmu_reg.pmu.capabilities(), pmu_reg.pmu.name())?)
    } else {
        None
    };
    let software = pmu_reg.pmu.task_ctx_nr() == TaskCtxNr::Software;
    if let Some(t) = task {
        check_task_permission(m, t)?;
    } else if !perf_allow_cpu(&m.sysctl, &m.caller) {
        return Err(Error::perf(
            Errno::EACCES,
            format!(
                "pid = -1 (CPU-wide event on cpu {}) needs perf_event_paranoid <= 0 or CAP_PERFMON (paranoid is {})",
                args.cpu, m.sysctl.perf_event_paranoid
            ),
        ));
    }
    if let Some(t) = task {
        if m.tasks.get(t)?.exited {
            return Err(Error::perf(Errno::ESRCH, format!("pid = {}: the task has exited", args.pid)));
        }
    } else if !m.cpu_online(args.cpu) {
        return Err(Error::perf(Errno::ENODEV, format!("cpu = {} is offline", args.cpu)));
    }
    if let Some(l) = leader {
        check_group(m, l, &attr, args.cpu, task, clock, software, pmu)?;
    }
    if let Some(o) = output {
        // perf_event_set_output() of the new event (nothing mapped yet) into group_fd's ring
        let me = crate::events::ioctl::OutputPeer {
            id: m.events.next_id(),
            cpu: args.cpu,
            task,
            clock,
            backward: attr.flag(AttrFlag::WriteBackward),
            has_aux: pmu_reg.pmu.capabilities() & caps::ITRACE != 0,
            pmu,
            state: EventState::Off,
        };
        let target = m.output_peer(o)?;
        crate::events::ioctl::set_output_rules(&me, false, Some((&target, m.rb_mapped(o))))?;
    }
    validate_size(m, &attr, leader)?;
    let need_aux = attr.flag(AttrFlag::AuxOutput) || attr.aux_sample_size != 0 || attr.aux_pause() || attr.aux_resume();
    if need_aux {
        // perf_get_aux_event(): needs a leader on an AUX (ITRACE) PMU
        let leader_is_aux = leader
            .and_then(|l| m.events.get(l).ok())
            .is_some_and(|l| m.pmus.get(l.pmu).pmu.capabilities() & caps::ITRACE != 0);
        if !leader_is_aux {
            return Err(einval(
                "attr.aux_output/aux_sample_size/aux_pause/aux_resume need a group leader on an AUX (instruction trace) PMU",
            ));
        }
    }

    // perf_event_alloc(): PERF_ATTACH_TASK_DATA events attach their PMU task data (after the
    // checks above, which the kernel also passes before anything can fail at install).
    let task_data = m.task_data_attach(&attr, pmu, task, args.cpu)?;
    let id = m.next_event_id();
    let eid = m.events.next_id();
    let mut stored = attr;
    stored.config = config;
    if stored.sample_type & PERF_SAMPLE_BRANCH_STACK == 0 {
        stored.branch_sample_type = 0;
    }
    // perf_swevent_init_hrtimer(): the hrtimer clocks turn a frequency into a fixed period
    let hrtimer_clock = matches!(m.pmus.get(pmu).pmu.name(), "cpu_clock" | "task_clock");
    if hrtimer_clock && stored.flag(AttrFlag::Freq) && stored.sample_period != 0 {
        stored.sample_period = 1_000_000_000 / stored.sample_period;
        stored.set_flag(AttrFlag::Freq, false);
    }
    let group_leader = leader.unwrap_or(eid);
    let ev = Event {
        id,
        attr: stored,
        pmu,
        cpu: args.cpu,
        task,
        group_leader,
        siblings: Vec::new(),
        state: if attr.flag(AttrFlag::Disabled) { EventState::Off } else { EventState::Inactive },
        clock,
        group_software: software,
        cgroup,
    };
    let eid = m.events.insert(ev);
    if let Some(l) = leader {
        let lev = m.events.get_mut(l)?;
        lev.siblings.push(eid);
        lev.group_software &= software;
    }
    if let Some(td) = task_data {
        m.task_data_register(eid, td);
    }
    if let Err(e) = m.sched_install(eid) {
        m.sched_install_failed(eid);
        m.task_data_detach_event(eid)?;
        return Err(e);
    }
    if let Some(o) = output {
        let key = m.buffers.rb_of(o);
        m.buffers.attach(eid, key);
    }
    Ok(eid)
}

/// Checks at syscall entry, before any object exists.
fn check_syscall_entry(m: &Machine, attr: &PerfEventAttr, args: &OpenArgs) -> Result<()> {
    let (s, c) = (&m.sysctl, &m.caller);
    if !attr.flag(AttrFlag::ExcludeKernel) && !perf_allow_kernel(s, c) {
        return Err(Error::perf(
            Errno::EACCES,
            format!(
                "attr.exclude_kernel = 0 (kernel profiling) needs perf_event_paranoid <= 1 or CAP_PERFMON (paranoid is {})",
                s.perf_event_paranoid
            ),
        ));
    }
    if attr.flag(AttrFlag::Namespaces) && !c.cap_perfmon {
        return Err(Error::perf(Errno::EACCES, "attr.namespaces = 1 needs CAP_PERFMON"));
    }
    if attr.flag(AttrFlag::Freq) {
        if attr.sample_freq() > s.perf_event_max_sample_rate {
            return Err(einval(format!(
                "attr.sample_freq = {} exceeds kernel.perf_event_max_sample_rate = {}",
                attr.sample_freq(),
                s.perf_event_max_sample_rate
            )));
        }
    } else if attr.sample_period & (1 << 63) != 0 {
        return Err(einval(format!("attr.sample_period = {:#x} has bit 63 set", attr.sample_period)));
    }
    if attr.sample_type & PERF_SAMPLE_PHYS_ADDR != 0 && !perf_allow_kernel(s, c) {
        return Err(Error::perf(
            Errno::EACCES,
            "attr.sample_type has PERF_SAMPLE_PHYS_ADDR, which needs perf_event_paranoid <= 1 or CAP_PERFMON",
        ));
    }
    if attr.sample_type & PERF_SAMPLE_REGS_INTR != 0 && s.lockdown_perf {
        return Err(Error::perf(
            Errno::EPERM,
            "attr.sample_type has PERF_SAMPLE_REGS_INTR, forbidden by kernel lockdown",
        ));
    }
    if args.flags & PERF_FLAG_PID_CGROUP != 0 && (args.pid == -1 || args.cpu == -1) {
        return Err(einval(format!(
            "flags has PERF_FLAG_PID_CGROUP, which needs a cgroup fd in pid and a cpu (pid = {}, cpu = {})",
            args.pid, args.cpu
        )));
    }
    Ok(())
}

/// The checks of `perf_event_alloc()` in order; returns the PMU and the config it sees.
fn perf_event_alloc_checks(
    m: &Machine,
    attr: &PerfEventAttr,
    cpu: i32,
    task: Option<TaskId>,
    cgroup_mode: bool,
    pid: i32,
    leader: Option<EventId>,
) -> Result<(crate::pmu::PmuId, u64, Option<u64>)> {
    if (cpu < 0 || cpu as u32 >= m.nr_cpus()) && (task.is_none() || cpu != -1) {
        return Err(einval(format!(
            "cpu = {cpu} is not a CPU of this machine (0..{}){}",
            m.nr_cpus(),
            if task.is_none() && cpu == -1 { ", and pid = -1 with cpu = -1 names no target" } else { "" }
        )));
    }
    if attr.flag(AttrFlag::Sigtrap) && task.is_none() {
        return Err(einval("attr.sigtrap = 1 needs a task (pid != -1)"));
    }
    if attr.flag(AttrFlag::Inherit)
        && attr.sample_type & PERF_SAMPLE_READ != 0
        && attr.sample_type & PERF_SAMPLE_TID == 0
    {
        return Err(einval("attr.inherit = 1 with PERF_SAMPLE_READ needs PERF_SAMPLE_TID in attr.sample_type"));
    }
    let init = m.pmus.perf_init_event(attr, cpu)?;
    let reg = m.pmus.get(init.pmu);
    let pcaps = reg.pmu.capabilities();
    if reg.pmu.task_ctx_nr() == TaskCtxNr::Invalid && (task.is_some() || cgroup_mode) {
        return Err(einval(format!("PMU {} only counts CPU-wide (no task or cgroup events)", reg.pmu.name())));
    }
    if attr.flag(AttrFlag::AuxOutput) && (pcaps & caps::AUX_OUTPUT == 0 || attr.aux_pause() || attr.aux_resume()) {
        return Err(Error::perf(
            Errno::EOPNOTSUPP,
            format!("attr.aux_output = 1 but PMU {} cannot write into an AUX event's buffer", reg.pmu.name()),
        ));
    }
    if attr.aux_pause() && attr.aux_resume() {
        return Err(einval("attr.aux_pause and attr.aux_resume are both set"));
    }
    if attr.aux_start_paused() && pcaps & caps::AUX_PAUSE == 0 {
        return Err(Error::perf(
            Errno::EOPNOTSUPP,
            format!("attr.aux_start_paused = 1 but PMU {} cannot pause AUX output", reg.pmu.name()),
        ));
    }
    let cgroup = if cgroup_mode { Some(perf_cgroup_connect(m, pid, leader)?) } else { None };
    if attr.sample_type & PERF_SAMPLE_CALLCHAIN != 0 && u32::from(attr.sample_max_stack) > m.sysctl.perf_event_max_stack
    {
        return Err(Error::perf(
            Errno::EOVERFLOW,
            format!(
                "attr.sample_max_stack = {} exceeds kernel.perf_event_max_stack = {}",
                attr.sample_max_stack, m.sysctl.perf_event_max_stack
            ),
        ));
    }
    Ok((init.pmu, init.config, cgroup))
}

/// `perf_cgroup_connect()`: the fd in `pid` must be an open cgroup directory (EBADF), and a
/// group leader must monitor the same cgroup (EINVAL: all events of a group are scheduled by
/// the leader's cgroup match).
fn perf_cgroup_connect(m: &Machine, fd: i32, leader: Option<EventId>) -> Result<u64> {
    let cg = m.cgroup_by_fd(fd).ok_or_else(|| {
        Error::perf(Errno::EBADF, format!("pid = {fd} is not a cgroup directory fd (PERF_FLAG_PID_CGROUP)"))
    })?;
    if let Some(l) = leader {
        let lcg = m.events.get(l)?.cgroup;
        if lcg != Some(cg) {
            return Err(einval(format!(
                "pid = cgroup fd {fd} names cgroup {cg} but the group leader monitors {}: all cgroups in a group must match",
                lcg.map_or_else(|| "no cgroup".to_string(), |c| format!("cgroup {c}"))
            )));
        }
    }
    Ok(cg)
}

/// `perf_event_set_clock()`.
fn perf_event_set_clock(clockid: i32, pmu_caps: u32, pmu_name: &str) -> Result<i32> {
    let Some((id, name, nmi_safe)) = CLOCKS.iter().find(|(id, _, _)| *id == clockid) else {
        return Err(einval(format!("attr.clockid = {clockid} is not a clock perf can use")));
    };
    if !nmi_safe && pmu_caps & caps::NO_NMI == 0 {
        return Err(einval(format!("attr.clockid = {name} is not NMI-safe and PMU {pmu_name} samples in NMI")));
    }
    Ok(*id)
}

/// `perf_check_permission()`: attaching to another user's task needs CAP_SYS_PTRACE.
fn check_task_permission(m: &Machine, t: TaskId) -> Result<()> {
    let task = m.tasks.get(t)?;
    if task.uid != m.caller.uid && !m.caller.cap_sys_ptrace {
        return Err(Error::perf(
            Errno::EACCES,
            format!(
                "pid = {}: task belongs to uid {}, caller is uid {} without CAP_SYS_PTRACE",
                task.pid, task.uid, m.caller.uid
            ),
        ));
    }
    Ok(())
}

/// The group-leader rules of `sys_perf_event_open()` (all EINVAL).
#[allow(clippy::too_many_arguments)]
fn check_group(
    m: &Machine,
    l: EventId,
    attr: &PerfEventAttr,
    cpu: i32,
    task: Option<TaskId>,
    clock: Option<i32>,
    software: bool,
    pmu: crate::pmu::PmuId,
) -> Result<()> {
    let lev = m.events.get(l)?;
    if lev.group_leader != l {
        return Err(einval(format!("group_fd = event {} is itself a group member, not a leader", l.0)));
    }
    if lev.clock != clock {
        return Err(einval("attr.use_clockid/clockid differs from the group leader's clock"));
    }
    if lev.cpu != cpu {
        return Err(einval(format!("cpu = {cpu} differs from the group leader's cpu = {}", lev.cpu)));
    }
    if lev.task != task {
        return Err(einval("pid names a different context (task or CPU) than the group leader's"));
    }
    if attr.flag(AttrFlag::Exclusive) || attr.flag(AttrFlag::Pinned) {
        return Err(einval("attr.pinned/attr.exclusive are only allowed on a group leader"));
    }
    let leader_sw = m.pmus.get(lev.pmu).pmu.task_ctx_nr() == TaskCtxNr::Software;
    let in_sw_group = leader_sw && lev.group_software;
    if !software && !in_sw_group && lev.pmu != pmu {
        return Err(einval(format!(
            "a {} event cannot join a group led by a {} event (hardware events of different PMUs)",
            m.pmus.get(pmu).pmu.name(),
            m.pmus.get(lev.pmu).pmu.name()
        )));
    }
    Ok(())
}

/// `perf_event_validate_size()`: every member's read() of the grown group must fit 16 KiB.
fn validate_size(m: &Machine, attr: &PerfEventAttr, leader: Option<EventId>) -> Result<()> {
    let Some(l) = leader else {
        return check_read_size("attr.read_format", attr.read_format, 1);
    };
    let lev = m.events.get(l)?;
    let nr = lev.siblings.len() as u64 + 2;
    check_read_size("attr.read_format", attr.read_format, nr)?;
    check_read_size("the group leader's read_format", lev.attr.read_format, nr)?;
    for s in &lev.siblings {
        check_read_size("a sibling's read_format", m.events.get(*s)?.attr.read_format, nr)?;
    }
    Ok(())
}

fn check_read_size(what: &str, read_format: u64, nr: u64) -> Result<()> {
    let size = read_size(read_format, nr);
    if size > MAX_READ_SIZE {
        return Err(Error::perf(
            Errno::E2BIG,
            format!("{what} = {read_format:#x} with {nr} group members needs a {size}-byte read, over {MAX_READ_SIZE}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_size_formula() {
        assert_eq!(read_size(0, 1), 8);
        assert_eq!(read_size(PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING, 1), 24);
        let all = PERF_FORMAT_GROUP
            | PERF_FORMAT_ID
            | PERF_FORMAT_TOTAL_TIME_ENABLED
            | PERF_FORMAT_TOTAL_TIME_RUNNING
            | PERF_FORMAT_LOST;
        // nr + 2 times + nr*(value, id, lost): the 681st member crosses 16 KiB (anchors §4.5)
        assert!(read_size(all, 681) <= MAX_READ_SIZE);
        assert!(read_size(all, 682) > MAX_READ_SIZE);
    }
}
