//! A PMU written against `pmu::sched_ops::PmuSchedOps` alone is scheduled by the engine like a
//! kernel PMU: a one-counter PMU with two flexible events multiplexes them 50/50, and its
//! transaction hooks see every group attempt.

use perfcore::abi::sample::{PERF_FORMAT_TOTAL_TIME_ENABLED, PERF_FORMAT_TOTAL_TIME_RUNNING};
use perfcore::ctx::{Engine, EventSpec};
use perfcore::pmu::sched_ops::PmuSchedOps;
use perfcore::pmu::x86_sched::Constraint;
use perfcore::{Errno, Error, Result};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const MS: u64 = 1_000_000;

/// One counter per CPU; `add` fails when it is taken.
#[derive(Clone, Debug)]
struct OneCounter {
    owner: Vec<Option<u32>>,
    commits: Arc<AtomicU64>,
}

impl PmuSchedOps for OneCounter {
    fn add(&mut self, cpu: u32, tag: u32, _c: Option<Constraint>) -> Result<()> {
        let slot = &mut self.owner[cpu as usize];
        if slot.is_some() {
            return Err(Error::perf(Errno::EAGAIN, "the counter is taken"));
        }
        *slot = Some(tag);
        Ok(())
    }
    fn del(&mut self, cpu: u32, tag: u32) -> Result<()> {
        if self.owner[cpu as usize] == Some(tag) {
            self.owner[cpu as usize] = None;
        }
        Ok(())
    }
    fn commit_txn(&mut self, _cpu: u32) -> Result<()> {
        self.commits.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
    fn is_software(&self) -> bool {
        false
    }
    fn box_clone(&self) -> Box<dyn PmuSchedOps> {
        Box::new(self.clone())
    }
}

fn spec(pmu: u32, cpu: i32, id: u64) -> EventSpec {
    EventSpec {
        task: None,
        cpu,
        pmu,
        constraint: Some(Constraint::new(1)),
        pinned: false,
        exclusive: false,
        disabled: false,
        group_leader: None,
        cgroup: None,
        kind: "toy".into(),
        read_format: PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING,
        id,
        inherit: Default::default(),
    }
}

#[test]
fn a_user_written_pmu_multiplexes_through_the_trait() {
    let commits = Arc::new(AtomicU64::new(0));
    let mut e = Engine::new(2);
    let toy = e.add_pmu(42, "toy", Box::new(OneCounter { owner: vec![None; 2], commits: commits.clone() }));
    e.install(0, spec(toy, 1, 1)).unwrap();
    e.install(1, spec(toy, 1, 2)).unwrap();
    for _ in 0..100 {
        e.advance(4 * MS).unwrap();
        e.check_invariants().unwrap();
    }
    let a = e.read(0).unwrap().unwrap();
    let b = e.read(1).unwrap().unwrap();
    assert_eq!(a.time_enabled, 400 * MS);
    assert_eq!(a.time_running + b.time_running, 400 * MS, "exactly one event on the counter at a time");
    assert!(a.time_running.abs_diff(b.time_running) <= 4 * MS, "{} vs {}", a.time_running, b.time_running);
    assert!(commits.load(Ordering::Relaxed) > 0, "groups are added inside transactions");
}
