//! The running machine: per-task workloads, per-CPU round-robin runqueues, a time slice, and
//! [`crate::Machine::run`], which advances machine time from one due instant to the next (slice
//! end, a running task's next call or return, a sampling event's overflow, a mux timer),
//! switching tasks through the machine's context-switch path and delivering samples.
//!
//! - [`workload`]: what a task does (a [`crate::task_data::callstack::CallScript`]); where it
//!   may run is its affinity in the task table;
//! - [`runqueue`]: one CPU's round-robin queue;
//! - [`sampling`]: `hwc->period_left` arithmetic of a sampling event;
//! - [`sample_log`]: `output_sample()` and the bounded log it fills;
//! - [`run`]: the run loop.
//!
//! Facts: spec/context-and-scheduling.md §6.1-6.3 (switch order), spec/ring-buffer-aux-records.md
//! §6.2/6.4/6.5 (sample fields, callchain markers, branch entries). docs/simulation.md describes
//! the conventions and limits.

pub mod run;
pub mod runqueue;
pub mod sample_log;
pub mod sampling;
pub mod workload;

pub use run::RunStats;
pub use runqueue::RunQueue;
pub use sample_log::{LoggedSample, SampleLog, SAMPLE_LOG_CAPACITY};
pub use workload::Workload;

use crate::events::EventId;
use crate::task::TaskId;
use std::collections::HashMap;

/// Default time slice: 4 ms (one tick at CONFIG_HZ=250).
pub const DEFAULT_SLICE_NS: u64 = 4_000_000;

/// Simulation state of a machine.
#[derive(Debug)]
pub struct SimState {
    /// Workloads by task.
    pub(crate) workloads: HashMap<TaskId, Workload>,
    /// Runqueues by CPU (made on the first workload).
    pub(crate) rqs: Vec<RunQueue>,
    /// When the running task's slice ends, by CPU (`u64::MAX`: nothing running).
    pub(crate) slice_end: Vec<u64>,
    /// Time slice.
    pub(crate) slice_ns: u64,
    /// `hwc->period_left` of sampling events, in counts.
    pub(crate) period_left: HashMap<EventId, f64>,
    /// Samples delivered by `output_sample()`.
    pub(crate) log: SampleLog,
    /// Counters.
    pub(crate) stats: RunStats,
}

impl Default for SimState {
    fn default() -> Self {
        SimState {
            workloads: HashMap::new(),
            rqs: Vec::new(),
            slice_end: Vec::new(),
            slice_ns: DEFAULT_SLICE_NS,
            period_left: HashMap::new(),
            log: SampleLog::default(),
            stats: RunStats::default(),
        }
    }
}
