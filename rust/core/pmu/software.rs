//! The software PMUs: `software` (type 1: faults, context switches, migrations, dummy,
//! bpf-output, cgroup-switches), and the hrtimer-driven `cpu_clock` and `task_clock` PMUs, which
//! register with dynamic types (6 and 7 on a machine without a core PMU, as the running 6.18
//! kernel shows) and also answer `PERF_TYPE_SOFTWARE` with their own config. Models
//! `perf_swevent_init()`, `cpu_clock_event_init()` and `task_clock_event_init()`.

use super::{caps, Pmu, TaskCtxNr};
use crate::abi::attr::PerfEventAttr;
use crate::abi::names::SW_EVENT_NAMES;
use crate::abi::sample::PERF_SAMPLE_BRANCH_STACK;
use crate::abi::types::*;
use crate::{Errno, Error, Result};

fn no_branch_stack(pmu: &str, attr: &PerfEventAttr) -> Result<()> {
    if attr.sample_type & PERF_SAMPLE_BRANCH_STACK != 0 {
        return Err(Error::perf(
            Errno::EOPNOTSUPP,
            format!("attr.sample_type has PERF_SAMPLE_BRANCH_STACK, which the {pmu} PMU cannot sample"),
        ));
    }
    Ok(())
}

fn not_mine(pmu: &str, attr: &PerfEventAttr) -> Error {
    Error::perf(
        Errno::ENOENT,
        format!("attr.type = {}, attr.config = {:#x} is not a {pmu} event", attr.type_, attr.config),
    )
}

/// Name of a software config (`perf list` spelling), if it has one.
pub fn sw_event_name(config: u64) -> Option<&'static str> {
    SW_EVENT_NAMES.iter().find(|(_, c)| *c == config).map(|(n, _)| *n)
}

/// The `software` PMU (`perf_swevent`).
#[derive(Debug, Default)]
pub struct SoftwarePmu;

impl Pmu for SoftwarePmu {
    fn name(&self) -> &str {
        "software"
    }
    fn requested_type(&self) -> Option<u32> {
        Some(PERF_TYPE_SOFTWARE)
    }
    fn capabilities(&self) -> u32 {
        caps::NO_NMI
    }
    fn task_ctx_nr(&self) -> TaskCtxNr {
        TaskCtxNr::Software
    }
    fn event_init(&self, attr: &PerfEventAttr, _own_type: u32, _cpu: i32) -> Result<()> {
        if attr.type_ != PERF_TYPE_SOFTWARE {
            return Err(not_mine("software", attr));
        }
        no_branch_stack("software", attr)?;
        match attr.config {
            PERF_COUNT_SW_CPU_CLOCK | PERF_COUNT_SW_TASK_CLOCK => Err(not_mine("software", attr)),
            c if c >= PERF_COUNT_SW_MAX => Err(Error::perf(
                Errno::ENOENT,
                format!("attr.config = {c:#x} is not a software event (PERF_COUNT_SW_MAX is {PERF_COUNT_SW_MAX})"),
            )),
            _ => Ok(()),
        }
    }
}

/// The `cpu_clock` (config 0) or `task_clock` (config 1) hrtimer PMU.
#[derive(Debug)]
pub struct ClockPmu {
    name: &'static str,
    config: u64,
}

impl ClockPmu {
    /// `perf_cpu_clock`
    pub fn cpu_clock() -> Self {
        ClockPmu { name: "cpu_clock", config: PERF_COUNT_SW_CPU_CLOCK }
    }
    /// `perf_task_clock`
    pub fn task_clock() -> Self {
        ClockPmu { name: "task_clock", config: PERF_COUNT_SW_TASK_CLOCK }
    }
}

impl Pmu for ClockPmu {
    fn name(&self) -> &str {
        self.name
    }
    fn requested_type(&self) -> Option<u32> {
        None
    }
    fn capabilities(&self) -> u32 {
        caps::NO_NMI
    }
    fn task_ctx_nr(&self) -> TaskCtxNr {
        TaskCtxNr::Software
    }
    fn event_init(&self, attr: &PerfEventAttr, own_type: u32, _cpu: i32) -> Result<()> {
        if attr.type_ != own_type && attr.type_ != PERF_TYPE_SOFTWARE {
            return Err(not_mine(self.name, attr));
        }
        if attr.config != self.config {
            return Err(not_mine(self.name, attr));
        }
        no_branch_stack(self.name, attr)
    }
}
