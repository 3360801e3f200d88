//! Where samples go: [`crate::Machine::output_sample`] is the one delivery point of a sample:
//! the overflow path (`perf_event_overflow()` -> `perf_event_output()`, the event's ring
//! buffer) and a bounded per-machine log that Python drains with `Machine.take_samples()`. Each entry keeps the decoded [`SampleData`] and the sampled
//! call stack symbolised with the task's script.

use crate::events::EventId;
use crate::machine::Machine;
use crate::output::sample::SampleData;
use std::collections::VecDeque;

/// Most samples the log holds; later ones are counted as lost until it is drained.
pub const SAMPLE_LOG_CAPACITY: usize = 1 << 20;

/// One delivered sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedSample {
    /// The event that overflowed.
    pub event: EventId,
    /// The sample's fields.
    pub data: SampleData,
    /// The user call stack from the callchain, symbolised, outermost frame first
    /// ("main", "f1", ...; "[unknown]" for an address outside the task's script).
    pub stack: Vec<String>,
}

/// The bounded sample log.
#[derive(Clone, Debug, Default)]
pub struct SampleLog {
    entries: VecDeque<LoggedSample>,
    /// Samples dropped because the log was full.
    pub lost: u64,
}

impl SampleLog {
    /// Append, or count as lost when full.
    pub fn push(&mut self, s: LoggedSample) {
        if self.entries.len() >= SAMPLE_LOG_CAPACITY {
            self.lost += 1;
        } else {
            self.entries.push_back(s);
        }
    }

    /// Take every logged sample, oldest first.
    pub fn take(&mut self) -> Vec<LoggedSample> {
        self.entries.drain(..).collect()
    }

    /// Samples waiting.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no sample waits.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Machine {
    /// Delivery of one sample of `event`: `perf_event_overflow()` (SIGIO, the
    /// `PERF_EVENT_IOC_REFRESH` limit, and `perf_event_output()` into the event's ring buffer
    /// when one is mapped), then the machine's sample log, with the stack symbolised with the
    /// sampled task's script.
    pub(crate) fn output_sample(&mut self, event: EventId, s: SampleData) -> crate::Result<()> {
        self.perf_event_overflow(event, &s)?;
        let task = self.tasks.by_tid(s.tid as i32).filter(|_| s.tid != 0);
        let script = task.and_then(|t| self.sim.workloads.get(&t)).map(|w| &w.script);
        let mut stack: Vec<String> = s
            .callchain
            .iter()
            .filter(|&&a| a < crate::abi::sample::PERF_CONTEXT_MAX)
            .map(|&a| script.and_then(|sc| sc.symbolize(a)).unwrap_or("[unknown]").to_string())
            .collect();
        stack.reverse();
        self.sim.stats.samples += 1;
        self.sim.log.push(LoggedSample { event, data: s, stack });
        Ok(())
    }

    /// Drain the sample log, oldest first.
    pub fn take_samples(&mut self) -> Vec<LoggedSample> {
        self.sim.log.take()
    }

    /// Samples dropped because the log was full.
    pub fn samples_lost(&self) -> u64 {
        self.sim.log.lost
    }
}
