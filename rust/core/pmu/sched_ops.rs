//! The scheduling callbacks of `struct pmu` that the core calls while it schedules groups:
//! `add()`/`del()` (which in the kernel also start and stop the counter, `PERF_EF_START` /
//! `PERF_EF_UPDATE`), the group transaction `start_txn()`/`commit_txn()`/`cancel_txn()`, and
//! `filter()` (skip this PMU on a CPU, for big.LITTLE / hybrid). Implement this trait to
//! prototype a PMU: the engine (`ctx::Engine`) drives every PMU only through it.
//! Facts: spec/context-and-scheduling.md §3, §7, §8.1.

use super::core_pmu::{CorePmu, CorePmuDesc};
use super::x86_sched::Constraint;
use crate::Result;
use std::fmt;

/// What the scheduler calls on a PMU, per CPU. `tag` identifies the event (the engine's event
/// index); `constraint` is the event's counter constraint (None for events without one, e.g.
/// a software event in a hardware group).
pub trait PmuSchedOps: Send + Sync + fmt::Debug {
    /// `pmu->add()`: put the event on a counter of `cpu` (inside a transaction the check may be
    /// deferred to `commit_txn`). An error means "does not fit now" (the group is not scheduled).
    fn add(&mut self, cpu: u32, tag: u32, constraint: Option<Constraint>) -> Result<()>;
    /// `pmu->del()`: take the event off `cpu`.
    fn del(&mut self, cpu: u32, tag: u32) -> Result<()>;
    /// `pmu->start_txn(PERF_PMU_TXN_ADD)`. PMUs without transactions keep the default, like
    /// the kernel's `perf_pmu_nop_txn`.
    fn start_txn(&mut self, _cpu: u32) -> Result<()> {
        Ok(())
    }
    /// `pmu->commit_txn()`: all adds since `start_txn` fit together, or an error (the caller
    /// then cancels).
    fn commit_txn(&mut self, _cpu: u32) -> Result<()> {
        Ok(())
    }
    /// `pmu->cancel_txn()`: undo the adds since `start_txn`.
    fn cancel_txn(&mut self, _cpu: u32) -> Result<()> {
        Ok(())
    }
    /// `pmu->filter(pmu, cpu)`: true = skip this PMU on `cpu` (no filter by default).
    fn filter(&self, _cpu: u32) -> bool {
        false
    }
    /// `task_ctx_nr == perf_sw_context`: events never fail to schedule.
    fn is_software(&self) -> bool;
    /// The core PMU description (counters, event table), for PMUs that have one.
    fn core_desc(&self) -> Option<&CorePmuDesc> {
        None
    }
    /// Internal consistency (counters never over-committed), for the model-based tests.
    fn check(&self) -> std::result::Result<(), String> {
        Ok(())
    }
    /// A boxed copy (engines are cloned by benches and tests).
    fn box_clone(&self) -> Box<dyn PmuSchedOps>;
}

impl Clone for Box<dyn PmuSchedOps> {
    fn clone(&self) -> Self {
        self.box_clone()
    }
}

/// A software PMU: `add()` never fails, there are no counters.
#[derive(Clone, Copy, Debug, Default)]
pub struct SoftwareSched;

impl PmuSchedOps for SoftwareSched {
    fn add(&mut self, _cpu: u32, _tag: u32, _c: Option<Constraint>) -> Result<()> {
        Ok(())
    }
    fn del(&mut self, _cpu: u32, _tag: u32) -> Result<()> {
        Ok(())
    }
    fn is_software(&self) -> bool {
        true
    }
    fn box_clone(&self) -> Box<dyn PmuSchedOps> {
        Box::new(*self)
    }
}

impl PmuSchedOps for CorePmu {
    fn add(&mut self, cpu: u32, tag: u32, constraint: Option<Constraint>) -> Result<()> {
        match constraint {
            Some(c) => CorePmu::add(self, cpu, tag, c),
            None => Ok(()),
        }
    }
    fn del(&mut self, cpu: u32, tag: u32) -> Result<()> {
        CorePmu::del(self, cpu, tag)
    }
    fn start_txn(&mut self, cpu: u32) -> Result<()> {
        CorePmu::start_txn(self, cpu)
    }
    fn commit_txn(&mut self, cpu: u32) -> Result<()> {
        CorePmu::commit_txn(self, cpu)
    }
    fn cancel_txn(&mut self, cpu: u32) -> Result<()> {
        CorePmu::cancel_txn(self, cpu)
    }
    fn filter(&self, cpu: u32) -> bool {
        self.desc.hybrid && self.desc.filter(cpu)
    }
    fn is_software(&self) -> bool {
        false
    }
    fn core_desc(&self) -> Option<&CorePmuDesc> {
        Some(&self.desc)
    }
    fn check(&self) -> std::result::Result<(), String> {
        CorePmu::check(self)
    }
    fn box_clone(&self) -> Box<dyn PmuSchedOps> {
        Box::new(self.clone())
    }
}
