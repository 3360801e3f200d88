//! A task's workload: the call script it executes (its position and true call stack) and the
//! CPUs it may run on (`task_struct::cpus_mask` as `sched_setaffinity()` sets it). The calls and
//! returns of a running task feed the LBR of its CPU.

use crate::task_data::callstack::{CallScript, ScriptCursor};
use crate::{Error, Result};

/// One task's workload.
#[derive(Clone, Debug)]
pub struct Workload {
    /// What it executes, looping.
    pub script: CallScript,
    /// Where it is in the script.
    pub cursor: ScriptCursor,
    /// `cpus_allowed`, one flag per CPU.
    pub cpus_allowed: Vec<bool>,
}

impl Workload {
    /// A workload at the start of `script`, allowed on `cpus` (None: every CPU of `nr_cpus`).
    pub fn new(script: CallScript, cpus: Option<&[u32]>, nr_cpus: u32) -> Result<Self> {
        let mut allowed = vec![cpus.is_none(); nr_cpus as usize];
        if let Some(list) = cpus {
            if list.is_empty() {
                return Err(Error::Usage("cpus = []: a task must be allowed on at least one CPU".into()));
            }
            for &c in list {
                let slot = allowed
                    .get_mut(c as usize)
                    .ok_or_else(|| Error::Usage(format!("cpus: {c} is not a CPU of this machine (0..{nr_cpus})")))?;
                *slot = true;
            }
        }
        Ok(Workload { script, cursor: ScriptCursor::new(), cpus_allowed: allowed })
    }

    /// Whether the task may run on `cpu`.
    pub fn allowed(&self, cpu: u32) -> bool {
        self.cpus_allowed.get(cpu as usize).copied().unwrap_or(false)
    }
}
