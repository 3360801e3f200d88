//! One CPU's round-robin runqueue: the runnable tasks waiting for that CPU, in order. The task
//! running on the CPU is not in the queue; at the end of its slice it goes to the back and the
//! head runs (a round-robin reading of `pick_next_task()`; no priorities, no migration).

use crate::task::TaskId;
use std::collections::VecDeque;

/// Runnable tasks waiting for one CPU.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunQueue {
    queue: VecDeque<TaskId>,
}

impl RunQueue {
    /// Add a runnable task at the back (no-op if already queued).
    pub fn enqueue(&mut self, t: TaskId) {
        if !self.queue.contains(&t) {
            self.queue.push_back(t);
        }
    }

    /// Take a task off the queue; whether it was queued.
    pub fn remove(&mut self, t: TaskId) -> bool {
        let before = self.queue.len();
        self.queue.retain(|x| *x != t);
        self.queue.len() != before
    }

    /// Number of waiting tasks.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether no task waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Whether `t` waits here.
    pub fn contains(&self, t: TaskId) -> bool {
        self.queue.contains(&t)
    }

    /// The waiting tasks, head first.
    pub fn tasks(&self) -> impl Iterator<Item = TaskId> + '_ {
        self.queue.iter().copied()
    }

    /// Slice end of `prev` (None: the CPU is idle): the next task to run, or None when nothing
    /// waits and `prev` keeps the CPU. `prev` goes to the back when it is still runnable here.
    pub fn pick_next(&mut self, prev: Option<TaskId>, prev_runnable: bool) -> Option<TaskId> {
        let next = self.queue.pop_front()?;
        if let (Some(p), true) = (prev, prev_runnable) {
            self.queue.push_back(p);
        }
        Some(next)
    }
}
