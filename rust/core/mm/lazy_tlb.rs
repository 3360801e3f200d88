//! The mm hand-over inside `context_switch()` (kernel/sched/core.c, Linux 6.18), step by
//! step, so the window 8d97e71811aa describes can be enumerated: when the previous task is a
//! kernel thread, `prev->active_mm` is cleared (its borrowed mm is handed to `next` or parked in
//! `rq->prev_mm`) before `switch_to()` makes `next` current. A PMI NMI landing in between sees
//! `current == prev` with `active_mm == NULL`. That is why `perf_get_page_size()` uses
//! `current->mm` (or `init_mm`) and never `current->active_mm`. Facts:
//! spec/task-data-slab-page-size.md §C.3.

use super::spaces::MmId;
use super::walk::TaskMmView;

/// The mm fields of one task in the switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwitchTask {
    /// `task->mm` (None for a kernel thread).
    pub mm: Option<MmId>,
    /// `task->active_mm`.
    pub active_mm: Option<MmId>,
}

impl SwitchTask {
    /// A user task running in `mm`.
    pub fn user(mm: MmId) -> Self {
        SwitchTask { mm: Some(mm), active_mm: Some(mm) }
    }

    /// A kernel thread; `active_mm` is what it borrows (Some while running or just ran, None
    /// when it is about to be switched to).
    pub fn kthread(active_mm: Option<MmId>) -> Self {
        SwitchTask { mm: None, active_mm }
    }

    fn view(self) -> TaskMmView {
        TaskMmView { mm: self.mm, active_mm: self.active_mm, is_kernel_thread: self.mm.is_none() }
    }
}

/// The statement of `context_switch()` just executed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwitchStep {
    /// Before `context_switch()` starts.
    Start,
    /// To a kernel thread: `enter_lazy_tlb()`, then `next->active_mm = prev->active_mm`.
    NextBorrowsActiveMm,
    /// To a user task: `switch_mm_irqs_off(prev->active_mm, next->mm, next)`.
    SwitchMm,
    /// From a kernel thread: `prev->active_mm = NULL` (the window opens).
    PrevActiveMmCleared,
    /// `switch_to()`: `current` is now `next`.
    SwitchTo,
    /// `finish_task_switch()`: `mmdrop_lazy_tlb(rq->prev_mm)`.
    Finish,
}

/// The state an NMI would observe after one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwitchState {
    /// The step just executed.
    pub step: SwitchStep,
    /// `prev`'s fields now.
    pub prev: SwitchTask,
    /// `next`'s fields now.
    pub next: SwitchTask,
    /// Whether `current` is already `next`.
    pub current_is_next: bool,
    /// The mm whose page tables the CPU has loaded (`cpu_tlbstate.loaded_mm`).
    pub loaded_mm: Option<MmId>,
    /// `rq->prev_mm`, dropped in `finish_task_switch()`.
    pub rq_prev_mm: Option<MmId>,
}

impl SwitchState {
    /// What `perf_get_page_size()` would see as `current` at this point.
    pub fn current(&self) -> TaskMmView {
        if self.current_is_next {
            self.next.view()
        } else {
            self.prev.view()
        }
    }
}

/// Every state of `context_switch(prev, next)` an NMI can observe, in order, including the
/// one before the switch starts and the one after it ends.
pub fn context_switch_states(prev: SwitchTask, next: SwitchTask) -> Vec<SwitchState> {
    let mut s = SwitchState {
        step: SwitchStep::Start,
        prev,
        next,
        current_is_next: false,
        loaded_mm: prev.active_mm,
        rq_prev_mm: None,
    };
    let mut out = vec![s];
    if next.mm.is_none() {
        s.next.active_mm = s.prev.active_mm;
        s.step = SwitchStep::NextBorrowsActiveMm;
        out.push(s);
        if s.prev.mm.is_none() {
            s.prev.active_mm = None;
            s.step = SwitchStep::PrevActiveMmCleared;
            out.push(s);
        }
    } else {
        s.loaded_mm = s.next.mm;
        s.step = SwitchStep::SwitchMm;
        out.push(s);
        if s.prev.mm.is_none() {
            s.rq_prev_mm = s.prev.active_mm;
            s.prev.active_mm = None;
            s.step = SwitchStep::PrevActiveMmCleared;
            out.push(s);
        }
    }
    s.current_is_next = true;
    s.step = SwitchStep::SwitchTo;
    out.push(s);
    s.rq_prev_mm = None;
    s.step = SwitchStep::Finish;
    out.push(s);
    out
}
