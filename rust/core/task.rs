//! Tasks of a simulated machine as perf sees them: pid/tid, thread group (tgid), parent,
//! comm, owner uid, flags (`PF_KTHREAD`, `PF_EXITING`), CPU affinity, an address-space id,
//! and whether the task has exited (its tid stays as a zombie, so opening events on it gives
//! ESRCH rather than "no such pid").
//!
//! Models `find_lively_task_by_vpid()` for the pid argument, the task side of `copy_process()`
//! (`CLONE_THREAD`: same thread group, same address space, the thread's parent is the
//! process's parent; otherwise a new process whose parent is the forking process, with a copy
//! of the address space), `do_exit()` (`PF_EXITING`), `begin_new_exec()` (comm changes, a
//! fresh address space) and `sched_setaffinity()` (a non-empty mask of existing CPUs).

use crate::{Errno, Error, Result};

/// Index of a task in its machine's task table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub u32);

/// `PF_EXITING`: the task is in `do_exit()` (include/linux/sched.h).
pub const PF_EXITING: u32 = 0x0000_0004;
/// `PF_KTHREAD`: a kernel thread (include/linux/sched.h).
pub const PF_KTHREAD: u32 = 0x0020_0000;

/// One task (thread).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    /// Process id as user space sees it (= `tgid`).
    pub pid: i32,
    /// Thread id (the kernel's `pid`).
    pub tid: i32,
    /// Thread group id: the tid of the process's first thread.
    pub tgid: i32,
    /// Parent process id (`real_parent->tgid`; 0 for the first tasks).
    pub ppid: i32,
    /// `comm`.
    pub comm: String,
    /// Owner uid.
    pub uid: u32,
    /// A kernel thread (`PF_KTHREAD`): no user address space.
    pub kernel_thread: bool,
    /// `task->flags` bits this model keeps (`PF_EXITING`, `PF_KTHREAD`).
    pub flags: u32,
    /// CPUs the task may run on (`cpus_mask`).
    pub cpus_allowed: Vec<u32>,
    /// Address-space id: threads of one process share it; exec gives a new one; kernel
    /// threads have none.
    pub mm: Option<u32>,
    /// The task has exited; opening events on it gives ESRCH.
    pub exited: bool,
}

/// The machine's tasks; pid 0 in `perf_event_open` means [`TaskTable::current`].
#[derive(Clone, Debug)]
pub struct TaskTable {
    tasks: Vec<Task>,
    current: TaskId,
    next_pid: i32,
    next_mm: u32,
    nr_cpus: u32,
}

impl TaskTable {
    /// A table with `swapper`-less init (pid 1, root) and the caller's task (current), on a
    /// machine of 8 CPUs (see [`TaskTable::with_cpus`]).
    pub fn new(caller_uid: u32) -> Self {
        Self::with_cpus(caller_uid, 8)
    }

    /// As [`TaskTable::new`] for a machine of `nr_cpus` CPUs (new tasks may run on all).
    pub fn with_cpus(caller_uid: u32, nr_cpus: u32) -> Self {
        let mut t = TaskTable { tasks: Vec::new(), current: TaskId(0), next_pid: 1, next_mm: 1, nr_cpus };
        t.spawn("init", 0, false);
        t.spawn("kthreadd", 0, true);
        let me = t.spawn("perfcore", caller_uid, false);
        t.current = me;
        t
    }

    fn new_mm(&mut self, kernel_thread: bool) -> Option<u32> {
        if kernel_thread {
            return None;
        }
        self.next_mm += 1;
        Some(self.next_mm - 1)
    }

    /// Create a task (a new thread group leader, child of init) and return its id.
    pub fn spawn(&mut self, comm: &str, uid: u32, kernel_thread: bool) -> TaskId {
        let pid = self.next_pid;
        self.next_pid += 1;
        let mm = self.new_mm(kernel_thread);
        self.tasks.push(Task {
            pid,
            tid: pid,
            tgid: pid,
            ppid: if pid == 1 { 0 } else { 1 },
            comm: comm.to_string(),
            uid,
            kernel_thread,
            flags: if kernel_thread { PF_KTHREAD } else { 0 },
            cpus_allowed: (0..self.nr_cpus).collect(),
            mm,
            exited: false,
        });
        TaskId(self.tasks.len() as u32 - 1)
    }

    /// `copy_process()`: a child of `parent`, a thread of its process with `clone_thread`,
    /// else a new process; `comm` defaults to the parent's. Affinity, uid and flags (less
    /// `PF_EXITING`) are copied.
    pub fn fork(&mut self, parent: TaskId, clone_thread: bool, comm: Option<&str>) -> Result<TaskId> {
        let p = self.get(parent)?.clone();
        if p.exited {
            return Err(Error::Usage(format!("pid {} has exited: it cannot fork", p.tid)));
        }
        let tid = self.next_pid;
        self.next_pid += 1;
        let (tgid, ppid, pid, mm) =
            if clone_thread { (p.tgid, p.ppid, p.pid, p.mm) } else { (tid, p.tgid, tid, self.new_mm(p.kernel_thread)) };
        self.tasks.push(Task {
            pid,
            tid,
            tgid,
            ppid,
            comm: comm.map_or(p.comm, str::to_string),
            uid: p.uid,
            kernel_thread: p.kernel_thread,
            flags: p.flags & !PF_EXITING,
            cpus_allowed: p.cpus_allowed,
            mm,
            exited: false,
        });
        Ok(TaskId(self.tasks.len() as u32 - 1))
    }

    /// `begin_new_exec()`: a new comm and a fresh address space.
    pub fn exec(&mut self, t: TaskId, comm: &str) -> Result<()> {
        let live = self.get(t).map(|x| (x.exited, x.kernel_thread, x.tid))?;
        if live.0 {
            return Err(Error::Usage(format!("pid {} has exited: it cannot exec", live.2)));
        }
        let mm = self.new_mm(live.1);
        let task = &mut self.tasks[t.0 as usize];
        task.comm = comm.to_string();
        task.mm = mm;
        Ok(())
    }

    /// `sched_setaffinity()`: the mask must name at least one CPU of the machine (EINVAL).
    pub fn set_affinity(&mut self, t: TaskId, cpus: &[u32]) -> Result<()> {
        self.get(t)?;
        let mut mask: Vec<u32> = cpus.iter().copied().filter(|&c| c < self.nr_cpus).collect();
        mask.sort_unstable();
        mask.dedup();
        if mask.is_empty() {
            return Err(Error::perf(
                Errno::EINVAL,
                format!("cpus = {cpus:?}: the affinity mask names no CPU of this machine (0..{})", self.nr_cpus),
            ));
        }
        self.tasks[t.0 as usize].cpus_allowed = mask;
        Ok(())
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

    /// `do_exit()`: `PF_EXITING` set and the task marked exited (kept as a zombie).
    pub fn exit(&mut self, t: TaskId) -> Result<()> {
        let task =
            self.tasks.get_mut(t.0 as usize).ok_or_else(|| Error::NotFound(format!("no task with id {}", t.0)))?;
        task.flags |= PF_EXITING;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_shares_process_and_mm_fork_does_not() {
        let mut t = TaskTable::with_cpus(0, 4);
        let p = t.spawn("app", 0, false);
        let th = t.fork(p, true, None).unwrap();
        let ch = t.fork(p, false, Some("child")).unwrap();
        let (pp, tt, cc) = (t.get(p).unwrap().clone(), t.get(th).unwrap().clone(), t.get(ch).unwrap().clone());
        assert_eq!((tt.tgid, tt.pid, tt.ppid, tt.mm), (pp.tgid, pp.pid, pp.ppid, pp.mm));
        assert_ne!(tt.tid, pp.tid);
        assert_eq!((cc.tgid, cc.pid, cc.ppid), (cc.tid, cc.tid, pp.tgid));
        assert_ne!(cc.mm, pp.mm);
        assert_eq!(cc.comm, "child");
        assert_eq!(tt.comm, "app");
    }

    #[test]
    fn exit_sets_pf_exiting_and_blocks_fork_and_exec() {
        let mut t = TaskTable::with_cpus(0, 2);
        let p = t.spawn("app", 0, false);
        t.exit(p).unwrap();
        assert_ne!(t.get(p).unwrap().flags & PF_EXITING, 0);
        assert!(t.fork(p, false, None).is_err());
        assert!(t.exec(p, "x").is_err());
        let k = t.spawn("kworker", 0, true);
        assert_eq!(t.get(k).unwrap().flags, PF_KTHREAD);
        assert_eq!(t.get(k).unwrap().mm, None);
    }

    #[test]
    fn affinity_must_name_a_cpu() {
        let mut t = TaskTable::with_cpus(0, 2);
        let p = t.spawn("app", 0, false);
        assert_eq!(t.get(p).unwrap().cpus_allowed, vec![0, 1]);
        let e = t.set_affinity(p, &[5]).unwrap_err();
        assert!(e.to_string().contains("EINVAL"), "{e}");
        t.set_affinity(p, &[1, 1, 7]).unwrap();
        assert_eq!(t.get(p).unwrap().cpus_allowed, vec![1]);
    }
}
