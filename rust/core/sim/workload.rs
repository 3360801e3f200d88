//! A task's workload: the call script it executes, with its position and true call stack. The
//! calls and returns of a running task feed the LBR of its CPU. Where the task may run is its
//! affinity in the task table (`task_struct::cpus_mask`, `Machine::set_affinity`).

use crate::task_data::callstack::{CallScript, ScriptCursor};

/// One task's workload.
#[derive(Clone, Debug)]
pub struct Workload {
    /// What it executes, looping.
    pub script: CallScript,
    /// Where it is in the script.
    pub cursor: ScriptCursor,
}

impl Workload {
    /// A workload at the start of `script`.
    pub fn new(script: CallScript) -> Self {
        Workload { script, cursor: ScriptCursor::new() }
    }
}
