//! A core (CPU) hardware PMU with GP and fixed counters, per-event constraint masks, a CPU
//! mask (hybrid parts) and PMU transactions.
//!
//! Models, in arch/x86/events/core.c: `collect_events()` (at most `#GP + #fixed` events per
//! CPU, else -EINVAL), `x86_pmu_add()` (outside a transaction the schedulability test runs at
//! once; inside a `PERF_PMU_TXN_ADD` transaction it is deferred), `x86_pmu_del()` (inside a
//! transaction only the add is undone: the list is truncated by `cancel_txn`),
//! `x86_pmu_start_txn()` / `x86_pmu_commit_txn()` (runs `x86_schedule_events()` over all
//! events; on failure the transaction stays open and the caller cancels) /
//! `x86_pmu_cancel_txn()`, `x86_pmu_filter()` / `armpmu_filter()` (skip this PMU on CPUs
//! outside its mask) and `validate_group()` (a group that cannot be scheduled alone is refused).
//! ARM PMUs (drivers/perf/arm_pmu.c `armpmu_add()`, `armv8pmu_get_event_idx()`): `add()`
//! takes the cycle counter for cycles if free, else the first free event counter, and fails at
//! once when none is free; the core's default transactions do nothing more
//! (`perf_pmu_start_txn()` only disables the PMU).
//!
//! Counter indices follow x86 numbering for both: GP counters 0.., fixed counters from
//! [`IDX_FIXED`] (on ARM the cycle counter is "fixed" 32).

use super::x86_sched::{schedule_events, Constraint, SchedEvent, IDX_FIXED};
use crate::abi::types::{PERF_TYPE_HARDWARE, PERF_TYPE_HW_CACHE, PERF_TYPE_RAW};
use crate::error::{Errno, Error, Result};

/// How a PMU assigns counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CounterAlloc {
    /// x86: constraint scheduling over all events of the CPU, transactions deferred to commit.
    X86,
    /// ARM PMUv3: first free counter at `add()`, no deferred transactions.
    Arm,
}

/// One named event of a PMU's table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HwEventDesc {
    /// perf-style name (`cycles`, `inst_retired.prec_dist`, ...).
    pub name: &'static str,
    /// The `PERF_COUNT_HW_*` id this event implements, if it is a generic hardware event.
    pub hw_id: Option<u64>,
    /// Raw encoding (`attr.config` for `PERF_TYPE_RAW` / the PMU's own type).
    pub raw: u64,
    /// Counters it may use.
    pub constraint: Constraint,
}

/// The static description of a core PMU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorePmuDesc {
    /// PMU name as in sysfs (`cpu`, `cpu_core`, `cpu_atom`, `armv8_cortex_a76`).
    pub name: &'static str,
    /// `pmu->type` (`PERF_TYPE_RAW` for the main x86 PMU, dynamic types >= 6 otherwise).
    pub type_: u32,
    /// General-purpose counters.
    pub nr_gp: u32,
    /// Fixed counters (ARM: 1, the cycle counter).
    pub nr_fixed: u32,
    /// CPUs this PMU exists on (all CPUs for non-hybrid machines).
    pub cpus: Vec<u32>,
    /// Counter allocation flavour.
    pub alloc: CounterAlloc,
    /// Hybrid PMU: has a `filter` and refuses groups mixing PMUs.
    pub hybrid: bool,
    /// `PERF_PMU_CAP_EXTENDED_HW_TYPE`: hardware/cache events may name this PMU in
    /// `attr.config` bits 32-63.
    pub extended_hw_type: bool,
    /// The event table.
    pub events: Vec<HwEventDesc>,
}

impl CorePmuDesc {
    /// Mask of all GP counters.
    pub fn gp_mask(&self) -> u64 {
        if self.nr_gp >= 32 {
            u32::MAX as u64
        } else {
            (1u64 << self.nr_gp) - 1
        }
    }

    /// `max_count`: GP + fixed.
    pub fn max_count(&self) -> usize {
        (self.nr_gp + self.nr_fixed) as usize
    }

    /// The constraint of an event given its `attr.type` and `attr.config` (extended type bits
    /// already stripped). Generic hardware ids and known raw codes come from the table; other
    /// raw codes and cache events may use any GP counter. An id the PMU does not implement is
    /// -ENOENT (`x86_pmu_event_init()` / `armpmu_map_event()`).
    pub fn constraint_for(&self, attr_type: u32, config: u64) -> Result<Constraint> {
        let by_hw = |id: u64| self.events.iter().find(|e| e.hw_id == Some(id));
        if attr_type == PERF_TYPE_HARDWARE {
            return by_hw(config).map(|e| e.constraint).ok_or_else(|| {
                Error::perf(Errno::ENOENT, format!("attr.config {config} is not a hardware event of PMU {}", self.name))
            });
        }
        if attr_type == PERF_TYPE_HW_CACHE {
            return Ok(Constraint::new(self.gp_mask()));
        }
        if attr_type == PERF_TYPE_RAW || attr_type == self.type_ {
            if let Some(e) = self.events.iter().find(|e| e.raw == config) {
                return Ok(e.constraint);
            }
            return Ok(Constraint::new(self.gp_mask()));
        }
        Err(Error::perf(Errno::ENOENT, format!("attr.type {attr_type} does not belong to PMU {}", self.name)))
    }

    /// Look an event up by name.
    pub fn event(&self, name: &str) -> Option<&HwEventDesc> {
        self.events.iter().find(|e| e.name == name)
    }

    /// `pmu->filter(cpu)`: true means skip this PMU on `cpu`.
    pub fn filter(&self, cpu: u32) -> bool {
        !self.cpus.contains(&cpu)
    }

    /// `validate_group()`: can these constraints be scheduled on an empty CPU? A zero-weight
    /// constraint or an over-full group is -EINVAL.
    pub fn validate_group(&self, constraints: &[Constraint]) -> Result<()> {
        if let Some(c) = constraints.iter().find(|c| c.weight() == 0) {
            return Err(Error::perf(Errno::EINVAL, format!("event constraint {:#x} allows no counter", c.idxmsk)));
        }
        if constraints.len() > self.max_count() {
            return Err(Error::perf(
                Errno::EINVAL,
                format!(
                    "group of {} hardware events exceeds the {} counters of PMU {}",
                    constraints.len(),
                    self.max_count(),
                    self.name
                ),
            ));
        }
        let evs: Vec<SchedEvent> = constraints.iter().map(|&c| SchedEvent { constraint: c, prev_idx: None }).collect();
        match self.alloc {
            CounterAlloc::X86 => schedule_events(&evs, self.nr_gp).map(|_| ()).ok_or_else(|| {
                Error::perf(Errno::EINVAL, format!("group cannot be scheduled on PMU {} even alone", self.name))
            }),
            CounterAlloc::Arm => {
                let mut used = 0u64;
                for c in constraints {
                    match arm_pick(c.idxmsk, used) {
                        Some(i) => used |= 1 << i,
                        None => {
                            return Err(Error::perf(
                                Errno::EINVAL,
                                format!("group does not fit PMU {} even alone", self.name),
                            ))
                        }
                    }
                }
                Ok(())
            }
        }
    }
}

fn arm_pick(mask: u64, used: u64) -> Option<u32> {
    let fixed = mask & (!0u64 << IDX_FIXED) & !used;
    if fixed != 0 {
        return Some(fixed.trailing_zeros());
    }
    let gp = mask & ((1u64 << IDX_FIXED) - 1) & !used;
    (gp != 0).then(|| gp.trailing_zeros())
}

/// One event on a CPU's PMU (`cpuc->event_list[i]` with `hwc->idx`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HwSlot {
    /// Caller's tag for the event (an event id).
    pub tag: u32,
    /// Its constraint.
    pub constraint: Constraint,
    /// Counter index, once assigned.
    pub idx: Option<u32>,
}

/// Per-CPU PMU state (`struct cpu_hw_events`).
#[derive(Clone, Debug, Default)]
pub struct CpuHw {
    /// Events on this CPU, in add order.
    pub events: Vec<HwSlot>,
    /// Events added inside the open transaction (`n_txn`).
    pub n_txn: usize,
    /// A `PERF_PMU_TXN_ADD` transaction is open.
    pub in_txn: bool,
}

/// Counters of PMU operations (engine statistics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PmuOpStats {
    /// `add()` calls.
    pub adds: u64,
    /// `del()` calls.
    pub dels: u64,
    /// Transactions committed.
    pub txn_commits: u64,
    /// Transactions whose commit failed.
    pub txn_failed: u64,
    /// Assignments computed by the slow path.
    pub slow_path: u64,
}

/// A core PMU instance: its description and the per-CPU counter state.
#[derive(Clone, Debug)]
pub struct CorePmu {
    /// Static description.
    pub desc: CorePmuDesc,
    cpu_hw: Vec<CpuHw>,
    /// Operation counters.
    pub stats: PmuOpStats,
}

impl CorePmu {
    /// A PMU for a machine of `nr_cpus` CPUs.
    pub fn new(desc: CorePmuDesc, nr_cpus: u32) -> Self {
        CorePmu { desc, cpu_hw: vec![CpuHw::default(); nr_cpus as usize], stats: PmuOpStats::default() }
    }

    fn hw(&mut self, cpu: u32) -> Result<&mut CpuHw> {
        if self.desc.filter(cpu) {
            return Err(Error::Internal(format!("PMU {} used on CPU {cpu} outside its mask", self.desc.name)));
        }
        self.cpu_hw.get_mut(cpu as usize).ok_or_else(|| Error::Usage(format!("cpu {cpu} out of range")))
    }

    /// The per-CPU state (for invariant checks).
    pub fn cpu_state(&self, cpu: u32) -> Option<&CpuHw> {
        self.cpu_hw.get(cpu as usize)
    }

    fn reschedule(&mut self, cpu: u32) -> bool {
        let gp = self.desc.nr_gp;
        let hw = &mut self.cpu_hw[cpu as usize];
        let evs: Vec<SchedEvent> =
            hw.events.iter().map(|s| SchedEvent { constraint: s.constraint, prev_idx: s.idx }).collect();
        match schedule_events(&evs, gp) {
            Some(s) => {
                if !s.fast_path {
                    self.stats.slow_path += 1;
                }
                for (slot, idx) in hw.events.iter_mut().zip(s.assign) {
                    slot.idx = Some(idx);
                }
                true
            }
            None => false,
        }
    }

    /// `pmu->add()`: put the event on `cpu`. Err(EAGAIN) when it does not fit (outside a
    /// transaction) or the CPU's event list is full.
    pub fn add(&mut self, cpu: u32, tag: u32, constraint: Constraint) -> Result<()> {
        self.stats.adds += 1;
        let max = self.desc.max_count();
        let alloc = self.desc.alloc;
        let hw = self.hw(cpu)?;
        if hw.events.len() >= max {
            return Err(Error::perf(Errno::EAGAIN, "all counters in use"));
        }
        match alloc {
            CounterAlloc::Arm => {
                let used = hw.events.iter().filter_map(|s| s.idx).fold(0u64, |m, i| m | (1 << i));
                let idx =
                    arm_pick(constraint.idxmsk, used).ok_or_else(|| Error::perf(Errno::EAGAIN, "no free counter"))?;
                hw.events.push(HwSlot { tag, constraint, idx: Some(idx) });
                Ok(())
            }
            CounterAlloc::X86 => {
                hw.events.push(HwSlot { tag, constraint, idx: None });
                if hw.in_txn {
                    hw.n_txn += 1;
                    return Ok(());
                }
                if self.reschedule(cpu) {
                    Ok(())
                } else {
                    self.cpu_hw[cpu as usize].events.pop();
                    Err(Error::perf(Errno::EAGAIN, "counter constraints cannot be met"))
                }
            }
        }
    }

    /// `pmu->del()`: remove the event. Inside an x86 transaction this is left to
    /// `cancel_txn`, as in the kernel.
    pub fn del(&mut self, cpu: u32, tag: u32) -> Result<()> {
        self.stats.dels += 1;
        let alloc = self.desc.alloc;
        let hw = self.hw(cpu)?;
        if alloc == CounterAlloc::X86 && hw.in_txn {
            return Ok(());
        }
        match hw.events.iter().position(|s| s.tag == tag) {
            Some(i) => {
                hw.events.remove(i);
                Ok(())
            }
            None => Err(Error::Internal(format!("del of event {tag} not on PMU {} cpu {cpu}", self.desc.name))),
        }
    }

    /// `pmu->start_txn(PERF_PMU_TXN_ADD)`.
    pub fn start_txn(&mut self, cpu: u32) -> Result<()> {
        let hw = self.hw(cpu)?;
        hw.in_txn = true;
        hw.n_txn = 0;
        Ok(())
    }

    /// `pmu->commit_txn()`: x86 schedules everything collected; failure leaves the
    /// transaction open (the caller cancels).
    pub fn commit_txn(&mut self, cpu: u32) -> Result<()> {
        let alloc = self.desc.alloc;
        self.hw(cpu)?;
        if alloc == CounterAlloc::X86 && !self.reschedule(cpu) {
            self.stats.txn_failed += 1;
            return Err(Error::perf(Errno::EAGAIN, "group does not fit the free counters"));
        }
        let hw = &mut self.cpu_hw[cpu as usize];
        hw.in_txn = false;
        hw.n_txn = 0;
        self.stats.txn_commits += 1;
        Ok(())
    }

    /// `pmu->cancel_txn()`: x86 drops the events added in the transaction.
    pub fn cancel_txn(&mut self, cpu: u32) -> Result<()> {
        let alloc = self.desc.alloc;
        let hw = self.hw(cpu)?;
        if alloc == CounterAlloc::X86 {
            let keep = hw.events.len() - hw.n_txn;
            hw.events.truncate(keep);
        }
        hw.in_txn = false;
        hw.n_txn = 0;
        Ok(())
    }

    /// Counter of an event on `cpu`, if it is on the PMU and assigned.
    pub fn counter_of(&self, cpu: u32, tag: u32) -> Option<u32> {
        self.cpu_hw.get(cpu as usize)?.events.iter().find(|s| s.tag == tag)?.idx
    }

    /// Check the per-CPU state: outside transactions every event has a distinct counter its
    /// constraint allows and at most `max_count` events are present.
    pub fn check(&self) -> std::result::Result<(), String> {
        for (cpu, hw) in self.cpu_hw.iter().enumerate() {
            if hw.in_txn {
                continue;
            }
            if hw.events.len() > self.desc.max_count() {
                return Err(format!(
                    "{} cpu {cpu}: {} events > {} counters",
                    self.desc.name,
                    hw.events.len(),
                    self.desc.max_count()
                ));
            }
            let mut used = 0u64;
            for s in &hw.events {
                let Some(i) = s.idx else {
                    return Err(format!("{} cpu {cpu}: event {} without counter", self.desc.name, s.tag));
                };
                if used & (1 << i) != 0 || s.constraint.idxmsk & (1 << i) == 0 {
                    return Err(format!("{} cpu {cpu}: counter {i} over-committed or not allowed", self.desc.name));
                }
                used |= 1 << i;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pmu::presets;

    #[test]
    fn txn_commit_failure_then_cancel_restores_previous_events() {
        let desc = presets::core_pmus("intel-skl-ht").unwrap().remove(0);
        let mut p = CorePmu::new(desc, 8);
        let gp = Constraint::new(0xf);
        for t in 0..3 {
            p.add(0, t, gp).unwrap();
        }
        p.start_txn(0).unwrap();
        p.add(0, 10, gp).unwrap();
        p.add(0, 11, gp).unwrap(); // 5 GP-only events on 4 GP counters: deferred
        assert!(p.commit_txn(0).is_err());
        p.cancel_txn(0).unwrap();
        assert_eq!(p.cpu_state(0).unwrap().events.len(), 3);
        p.check().unwrap();
    }

    #[test]
    fn hybrid_pmu_filters_other_cpus() {
        let pmus = presets::core_pmus("adl-hybrid").unwrap();
        assert!(!pmus[0].filter(0));
        assert!(pmus[0].filter(7));
        assert!(pmus[1].filter(0));
    }
}

/// The open-time face of a core PMU for the machine's PMU registry: `x86_pmu_event_init()` /
/// `armpmu_event_init()` (an event the table does not know is -ENOENT; a CPU-bound event on a
/// CPU outside a hybrid PMU's mask is -ENOENT; a branch-stack event on a PMU without LBR is
/// -EOPNOTSUPP, as `amd_pmu_hw_config()` and `armpmu_event_init()` return).
#[derive(Clone, Debug)]
pub struct CorePmuDriver {
    /// The PMU's description.
    pub desc: CorePmuDesc,
    /// The LBR behind the PMU (None: no branch stack, `x86_pmu.lbr_nr == 0`).
    pub lbr: Option<crate::task_data::lbr::LbrFormat>,
}

impl super::Pmu for CorePmuDriver {
    fn name(&self) -> &str {
        self.desc.name
    }

    fn requested_type(&self) -> Option<u32> {
        Some(self.desc.type_)
    }

    fn capabilities(&self) -> u32 {
        if self.desc.extended_hw_type {
            super::caps::EXTENDED_HW_TYPE
        } else {
            0
        }
    }

    fn task_ctx_nr(&self) -> super::TaskCtxNr {
        super::TaskCtxNr::Hardware
    }

    fn event_init(&self, attr: &crate::abi::attr::PerfEventAttr, own_type: u32, cpu: i32) -> Result<()> {
        let t = attr.type_;
        if !(t == PERF_TYPE_HARDWARE || t == PERF_TYPE_HW_CACHE || t == own_type) {
            return Err(Error::perf(
                Errno::ENOENT,
                format!("attr.type = {t} is not an event type of PMU {}", self.desc.name),
            ));
        }
        if cpu >= 0 && self.desc.hybrid && self.desc.filter(cpu as u32) {
            return Err(Error::perf(Errno::ENOENT, format!("cpu = {cpu} is not a CPU of PMU {}", self.desc.name)));
        }
        if attr.sample_type & crate::abi::sample::PERF_SAMPLE_BRANCH_STACK != 0 && self.lbr.is_none() {
            return Err(Error::perf(
                Errno::EOPNOTSUPP,
                format!("attr.sample_type has PERF_SAMPLE_BRANCH_STACK but PMU {} has no LBR", self.desc.name),
            ));
        }
        self.desc.constraint_for(t, attr.config & crate::abi::types::PERF_HW_EVENT_MASK).map(|_| ())
    }
}
