//! PMUs as the core sees them: a registry keyed by `attr.type` (the kernel's `pmu_idr` plus the
//! `pmus` list) and the [`Pmu`] trait the core calls. Models `perf_pmu_register()` type
//! allocation, `perf_init_event()` (type resolution incl. the extended hardware type) and the
//! generic checks of `perf_try_init_event()`. Facts: spec/context-and-scheduling.md §1.4, §7.

pub mod core_pmu;
pub mod presets;
pub mod sched_ops;
pub mod software;
pub mod trace;
pub mod x86_sched;

use crate::abi::attr::PerfEventAttr;
use crate::abi::sample::PERF_REG_EXTENDED_MASK;
use crate::abi::types::*;
use crate::{Errno, Error, Result};

/// Index of a PMU in its machine's registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PmuId(pub u32);

/// `PERF_PMU_CAP_*` bits of `struct pmu::capabilities`.
pub mod caps {
    pub const NO_INTERRUPT: u32 = 0x0001;
    pub const NO_NMI: u32 = 0x0002;
    pub const AUX_NO_SG: u32 = 0x0004;
    pub const EXTENDED_REGS: u32 = 0x0008;
    pub const EXCLUSIVE: u32 = 0x0010;
    pub const ITRACE: u32 = 0x0020;
    pub const NO_EXCLUDE: u32 = 0x0040;
    pub const AUX_OUTPUT: u32 = 0x0080;
    pub const EXTENDED_HW_TYPE: u32 = 0x0100;
    pub const AUX_PAUSE: u32 = 0x0200;
}

/// `pmu->task_ctx_nr`: which events the PMU accepts in task contexts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskCtxNr {
    /// `perf_invalid_context`: CPU-wide events only (uncore-like PMUs).
    Invalid,
    /// `perf_hw_context`
    Hardware,
    /// `perf_sw_context`: never fails to schedule.
    Software,
}

/// What the core needs from a PMU driver at open time. Scheduling callbacks are added by the
/// event core.
pub trait Pmu: Send + Sync + std::fmt::Debug {
    /// sysfs name (`/sys/bus/event_source/devices/<name>`).
    fn name(&self) -> &str;
    /// The type this PMU asks for at registration; `None` = a dynamic type.
    fn requested_type(&self) -> Option<u32>;
    /// `PERF_PMU_CAP_*` bits.
    fn capabilities(&self) -> u32;
    /// `task_ctx_nr`.
    fn task_ctx_nr(&self) -> TaskCtxNr;
    /// `pmu->event_init()`: ENOENT means "not mine" (the core tries other PMUs), any other
    /// error is final. `own_type` is the type the registry gave this PMU.
    fn event_init(&self, attr: &PerfEventAttr, own_type: u32, cpu: i32) -> Result<()>;
}

/// `event_has_any_exclude_flag()`: exclude_user/kernel/hv/idle (bits 4-7) and
/// exclude_host/guest (bits 19-20) of the flag word.
const EXCLUDE_FLAGS: u64 = 0xf0 | (1 << 19) | (1 << 20);

/// A registered PMU with its assigned type.
#[derive(Debug)]
pub struct Registered {
    pub type_: u32,
    pub pmu: Box<dyn Pmu>,
}

/// The machine's PMUs in registration order (the kernel's `pmus` list) with their types.
#[derive(Debug, Default)]
pub struct PmuRegistry {
    pmus: Vec<Registered>,
}

/// Result of `perf_init_event()`: the PMU and the config it will see (the extended type bits are
/// stripped from HARDWARE/HW_CACHE configs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InitEvent {
    pub pmu: PmuId,
    pub config: u64,
}

impl PmuRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        PmuRegistry::default()
    }

    /// `perf_pmu_register()`: a fixed type, or the next dynamic type from `PERF_TYPE_MAX`.
    pub fn register(&mut self, pmu: Box<dyn Pmu>) -> Result<PmuId> {
        let type_ = match pmu.requested_type() {
            Some(t) => {
                if self.by_type(t).is_some() {
                    return Err(Error::Usage(format!("PMU type {t} is already registered")));
                }
                t
            }
            None => {
                let mut t = PERF_TYPE_MAX;
                while self.by_type(t).is_some() {
                    t += 1;
                }
                t
            }
        };
        self.pmus.push(Registered { type_, pmu });
        Ok(PmuId(self.pmus.len() as u32 - 1))
    }

    /// The PMU registered with `type_` (the `pmu_idr` lookup).
    pub fn by_type(&self, type_: u32) -> Option<PmuId> {
        self.pmus.iter().position(|r| r.type_ == type_).map(|i| PmuId(i as u32))
    }

    /// The PMU with this sysfs name.
    pub fn by_name(&self, name: &str) -> Option<PmuId> {
        self.pmus.iter().position(|r| r.pmu.name() == name).map(|i| PmuId(i as u32))
    }

    /// A registered PMU.
    pub fn get(&self, id: PmuId) -> &Registered {
        &self.pmus[id.0 as usize]
    }

    /// All PMUs in registration order.
    pub fn iter(&self) -> impl Iterator<Item = (PmuId, &Registered)> {
        self.pmus.iter().enumerate().map(|(i, r)| (PmuId(i as u32), r))
    }

    /// Number of registered PMUs.
    pub fn len(&self) -> usize {
        self.pmus.len()
    }

    /// Whether no PMU is registered.
    pub fn is_empty(&self) -> bool {
        self.pmus.is_empty()
    }

    /// `perf_try_init_event()`: the driver's `event_init` plus the generic capability checks.
    fn try_init(&self, id: PmuId, attr: &PerfEventAttr, cpu: i32) -> Result<()> {
        let r = self.get(id);
        r.pmu.event_init(attr, r.type_, cpu)?;
        let c = r.pmu.capabilities();
        let ext = (attr.sample_regs_user | attr.sample_regs_intr) & PERF_REG_EXTENDED_MASK;
        if c & caps::EXTENDED_REGS == 0 && ext != 0 {
            return Err(Error::perf(
                Errno::EOPNOTSUPP,
                format!(
                    "attr.sample_regs_user/intr select extended (XMM) register bit {} but PMU {} cannot sample them",
                    ext.trailing_zeros(),
                    r.pmu.name()
                ),
            ));
        }
        if c & caps::NO_EXCLUDE != 0 && attr.flags & EXCLUDE_FLAGS != 0 {
            return Err(Error::perf(
                Errno::EINVAL,
                format!("attr.exclude_* is set but PMU {} cannot exclude any mode", r.pmu.name()),
            ));
        }
        Ok(())
    }

    /// `perf_init_event()`: resolve `attr.type` (and the extended hardware type in
    /// `config[63:32]`) to a PMU that accepts the event.
    pub fn perf_init_event(&self, attr: &PerfEventAttr, cpu: i32) -> Result<InitEvent> {
        let mut attr = *attr;
        let mut type_ = attr.type_;
        let mut extended = false;
        if type_ == PERF_TYPE_HARDWARE || type_ == PERF_TYPE_HW_CACHE {
            let t = (attr.config >> PERF_PMU_TYPE_SHIFT) as u32;
            if t == 0 {
                type_ = PERF_TYPE_RAW;
            } else {
                type_ = t;
                extended = true;
                attr.config &= PERF_HW_EVENT_MASK;
            }
        }
        if let Some(id) = self.by_type(type_) {
            let r = self.get(id);
            if attr.type_ != type_ && type_ != PERF_TYPE_RAW && r.pmu.capabilities() & caps::EXTENDED_HW_TYPE == 0 {
                return Err(Error::perf(
                    Errno::ENOENT,
                    format!(
                        "attr.config = {:#x} names PMU type {type_} ({}) as an extended hardware type, which it does not support",
                        attr.config,
                        r.pmu.name()
                    ),
                ));
            }
            match self.try_init(id, &attr, cpu) {
                Ok(()) => return Ok(InitEvent { pmu: id, config: attr.config }),
                Err(e) if e.errno() == Some(Errno::ENOENT) && attr.type_ != type_ && !extended => {
                    // a generic HARDWARE/HW_CACHE event the raw PMU did not take: retry by type
                    if let Some(id2) = self.by_type(attr.type_) {
                        self.try_init(id2, &attr, cpu)?;
                        return Ok(InitEvent { pmu: id2, config: attr.config });
                    }
                }
                Err(e) if e.errno() == Some(Errno::ENOENT) => {}
                Err(e) => return Err(e),
            }
        }
        // every PMU in registration order; the first that does not say ENOENT decides
        for (id, _) in self.iter() {
            if Some(id) == self.by_type(type_) {
                continue;
            }
            match self.try_init(id, &attr, cpu) {
                Ok(()) => return Ok(InitEvent { pmu: id, config: attr.config }),
                Err(e) if e.errno() == Some(Errno::ENOENT) => {}
                Err(e) => return Err(e),
            }
        }
        Err(Error::perf(
            Errno::ENOENT,
            format!(
                "attr.type = {} with attr.config = {:#x}: no PMU of this machine provides it",
                attr.type_, attr.config
            ),
        ))
    }
}
