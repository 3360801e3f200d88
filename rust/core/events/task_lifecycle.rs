//! The machine's task life cycle as perf sees it: fork/clone, exit, exec and affinity.
//!
//! Models the perf steps of `copy_process()` (the task is created, then
//! `perf_event_init_task()` copies the parent's inheritable events), `do_exit()` ->
//! `perf_event_exit_task()`, `begin_new_exec()` -> `perf_event_exec()` and
//! `sched_setaffinity()` (a running task outside its new mask is moved off its CPU). The
//! engine side is in [`crate::ctx::inherit`]. Spec: context-and-scheduling.md §6.4-6.6.
//!
//! Side-band records (`events::output`): FORK after the child is set up, EXIT before the
//! task's context is torn down (its own events still see it), COMM with MISC_COMM_EXEC after
//! the exec. PMU task data follows fork (`task_data_fork`, as `perf_event_init_task()` ends
//! with `perf_event_alloc_task_data()`) and exit (`task_data_exit`), and an exiting task
//! leaves the run loop (`sim_task_exit`).

use crate::ctx::CloneFlags;
use crate::machine::Machine;
use crate::Result;

impl Machine {
    /// `fork()`/`clone()` of task `pid`: returns the child's tid. With `clone_thread` the child
    /// is a thread of the parent's process (`CLONE_THREAD`); `clear_sighand` is
    /// `CLONE_CLEAR_SIGHAND`; `comm` defaults to the parent's. The child joins the parent's
    /// cgroup and inherits its events (`perf_event_init_task()`), then PERF_RECORD_FORK is
    /// written (perf_event_fork()); PMU task data follow the returned child.
    pub fn fork(&mut self, pid: i32, clone_thread: bool, comm: Option<&str>, clear_sighand: bool) -> Result<i32> {
        let parent = self.task_by_pid(pid)?;
        let child = self.tasks.fork(parent, clone_thread, comm)?;
        let cg = self.sched.task_cgroup_of(parent.0);
        self.sched.set_task_cgroup(child.0, Some(cg));
        let flags = CloneFlags { thread: clone_thread, clear_sighand };
        self.sched.perf_event_init_task(parent.0, child.0, flags)?;
        self.events.reserve(self.sched.next_free_id());
        self.sync_states();
        self.task_data_fork(parent, child)?;
        self.perf_event_fork(parent, child)?;
        Ok(self.tasks.get(child)?.tid)
    }

    /// `do_exit()` of task `pid`: `PF_EXITING`, then `perf_event_exit_task()` (children's
    /// counts fold into their parents, the task's own events become EXIT); a running task
    /// leaves its CPU idle. PERF_RECORD_EXIT is written first, while the task's events are live.
    pub fn exit_task(&mut self, pid: i32) -> Result<()> {
        let t = self.task_by_pid(pid)?;
        if self.tasks.get(t)?.exited {
            return Ok(());
        }
        self.perf_event_exit_record(t)?;
        self.tasks.exit(t)?;
        self.sched.perf_event_exit_task(t.0)?;
        self.sync_states();
        self.task_data_exit(t)?;
        self.sim_task_exit(t)
    }

    /// `execve()` in task `pid`: new comm and address space, then `perf_event_exec()`
    /// (enable_on_exec, remove_on_exec). Returns whether the task's perf context changed (and
    /// was uncloned). PERF_RECORD_COMM with MISC_COMM_EXEC is written last (perf_event_comm()).
    pub fn exec(&mut self, pid: i32, comm: &str) -> Result<bool> {
        let t = self.task_by_pid(pid)?;
        self.tasks.exec(t, comm)?;
        let changed = self.sched.perf_event_exec(t.0)?;
        self.sync_states();
        self.perf_event_comm(t, true)?;
        Ok(changed)
    }

    /// `sched_setaffinity()` of task `pid` to `cpus` (EINVAL if it names no CPU of the
    /// machine). A task running on a CPU outside the new mask is switched out there.
    pub fn set_affinity(&mut self, pid: i32, cpus: &[u32]) -> Result<()> {
        let t = self.task_by_pid(pid)?;
        self.tasks.set_affinity(t, cpus)?;
        let allowed = self.tasks.get(t)?.cpus_allowed.clone();
        if let Some(cpu) = self.sched.current.iter().position(|c| *c == Some(t.0)) {
            if !allowed.contains(&(cpu as u32)) {
                self.switch_out(cpu as u32)?;
            }
        }
        Ok(())
    }

    /// Inherited children alive for event `eid` (its `child_list` length).
    pub fn event_children(&self, eid: crate::events::EventId) -> Result<usize> {
        self.events.get(eid)?;
        Ok(self.sched.ev(eid.0)?.children.len())
    }
}
