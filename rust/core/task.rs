//! Tasks of a simulated machine as perf_event_open sees them: pid/tid, comm, owner uid, kernel
//! thread or user task, and whether it has exited (`TASK_TOMBSTONE` contexts). Models
//! `find_lively_task_by_vpid()` for the pid argument.

use crate::{Errno, Error, Result};

/// Index of a task in its machine's task table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub u32);

/// One task (thread).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    pub pid: i32,
    pub tid: i32,
    pub comm: String,
    pub uid: u32,
    /// A kernel thread (`PF_KTHREAD`): no user address space.
    pub kernel_thread: bool,
    /// The task has exited; opening events on it gives ESRCH.
    pub exited: bool,
}

/// The machine's tasks; pid 0 in `perf_event_open` means [`TaskTable::current`].
#[derive(Clone, Debug)]
pub struct TaskTable {
    tasks: Vec<Task>,
    current: TaskId,
    next_pid: i32,
}

impl TaskTable {
    /// A table with `swapper`-less init (pid 1, root) and the caller's task (current).
    pub fn new(caller_uid: u32) -> Self {
        let mut t = TaskTable { tasks: Vec::new(), current: TaskId(0), next_pid: 1 };
        t.spawn("init", 0, false);
        t.spawn("kthreadd", 0, true);
        let me = t.spawn("perfcore", caller_uid, false);
        t.current = me;
        t
    }

    /// Create a task (a new thread group leader) and return its id.
    pub fn spawn(&mut self, comm: &str, uid: u32, kernel_thread: bool) -> TaskId {
        let pid = self.next_pid;
        self.next_pid += 1;
        self.tasks.push(Task { pid, tid: pid, comm: comm.to_string(), uid, kernel_thread, exited: false });
        TaskId(self.tasks.len() as u32 - 1)
    }

    /// The task that is calling (pid 0).
    pub fn current(&self) -> TaskId {
        self.current
    }

    /// Make another task the caller.
    pub fn set_current(&mut self, t: TaskId) -> Result<()> {
        self.get(t)?;
        self.current = t;
        Ok(())
    }

    /// A task by id.
    pub fn get(&self, t: TaskId) -> Result<&Task> {
        self.tasks.get(t.0 as usize).ok_or_else(|| Error::NotFound(format!("no task with id {}", t.0)))
    }

    /// Mark a task exited.
    pub fn exit(&mut self, t: TaskId) -> Result<()> {
        let task =
            self.tasks.get_mut(t.0 as usize).ok_or_else(|| Error::NotFound(format!("no task with id {}", t.0)))?;
        task.exited = true;
        Ok(())
    }

    /// A task by tid, exited or not.
    pub fn by_tid(&self, tid: i32) -> Option<TaskId> {
        self.tasks.iter().position(|t| t.tid == tid).map(|i| TaskId(i as u32))
    }

    /// `find_lively_task_by_vpid()`: 0 is current; an unknown pid is ESRCH. (An exited task is
    /// still found here; the open fails later with ESRCH on its dead context.)
    pub fn find_lively_task_by_vpid(&self, pid: i32) -> Result<TaskId> {
        if pid == 0 {
            return Ok(self.current);
        }
        self.by_tid(pid).ok_or_else(|| Error::perf(Errno::ESRCH, format!("pid = {pid}: no such task")))
    }

    /// All tasks.
    pub fn iter(&self) -> impl Iterator<Item = (TaskId, &Task)> {
        self.tasks.iter().enumerate().map(|(i, t)| (TaskId(i as u32), t))
    }
}
