//! The context structures after the 6.2 rewrite (bd2756811766): one [`EventContext`] per task
//! and one per CPU holding the events of **all** PMUs, one [`PmuContext`] ("epc") per
//! (context, PMU) and one [`CpuPmuContext`] ("cpc") per (PMU, CPU) that embeds the CPU
//! context's epc, points at the running task's epc and owns the multiplexing timer.
//!
//! Models `struct perf_event_context`, `struct perf_event_pmu_context`,
//! `struct perf_cpu_pmu_context` (include/linux/perf_event.h) and the context clock of
//! `__update_context_time()` (kernel/events/core.c). Spec: context-and-scheduling.md §1.2-1.5,
//! §5.1. Objects refer to each other by typed `u32` ids into the engine's arenas.

use super::groups::GroupTree;

/// Id of an [`EventContext`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CtxId(pub u32);
/// Id of a [`PmuContext`] (epc).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EpcId(pub u32);
/// Id of a [`CpuPmuContext`] (cpc).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CpcId(pub u32);

/// `EVENT_FLEXIBLE` (`enum event_type_t`).
pub const EVENT_FLEXIBLE: u8 = 0x01;
/// `EVENT_PINNED`.
pub const EVENT_PINNED: u8 = 0x02;
/// `EVENT_TIME`: the context clock runs.
pub const EVENT_TIME: u8 = 0x04;
/// `EVENT_ALL` = FLEXIBLE | PINNED.
pub const EVENT_ALL: u8 = EVENT_FLEXIBLE | EVENT_PINNED;

/// Whose context this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtxKind {
    /// A task's context (`ctx->task` = the task id).
    Task(u32),
    /// A CPU's context (`cpuctx->ctx`, `ctx->task == NULL`).
    Cpu(u32),
}

/// A context clock (`struct perf_time_ctx`): advances only while `EVENT_TIME` is set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CtxTime {
    /// Accumulated context time (ns).
    pub time: u64,
    /// Machine time of the last update (ns).
    pub stamp: u64,
}

impl CtxTime {
    /// `__update_context_time(ctx, adv)`: with `adv`, add the time since the last stamp;
    /// always re-stamp.
    #[inline]
    pub fn update(&mut self, now: u64, adv: bool) {
        if adv {
            self.time += now.saturating_sub(self.stamp);
        }
        self.stamp = now;
    }
}

/// `struct perf_event_context`. `E` identifies events (the engine's event id).
#[derive(Clone, Debug)]
pub struct EventContext<E> {
    /// Task or CPU context.
    pub kind: CtxKind,
    /// Bits of `EVENT_*` currently scheduled (`is_active`).
    pub is_active: u8,
    /// All events of the context, leaders and siblings.
    pub nr_events: u32,
    /// Pinned group leaders.
    pub pinned: GroupTree<E>,
    /// Flexible group leaders.
    pub flexible: GroupTree<E>,
    /// The context clock.
    pub time: CtxTime,
    /// The epcs of this context, sorted by PMU type (`pmu_ctx_list`).
    pub epcs: Vec<EpcId>,
    /// Bumped on every event add/remove (`ctx->generation`).
    pub generation: u64,
    /// Do not rotate (set while inheriting).
    pub rotate_disable: bool,
    /// Every event of the context in `list_add_event()` order (`event_list`), leaders and
    /// siblings: `perf_event_sync_stat()` pairs two clones' events by this order.
    pub event_list: Vec<E>,
    /// The context this one is a clone of (`parent_ctx`; flattened to the root, §6.4).
    pub parent_ctx: Option<CtxId>,
    /// `generation` of `parent_ctx` when this context was cloned from it (`parent_gen`).
    pub parent_gen: u64,
    /// Non-zero while fork/exit/exec/open hold the context: no swap (`pin_count`).
    pub pin_count: u32,
    /// Events with `attr.inherit_stat` (`nr_stat`).
    pub nr_stat: u32,
    /// Events forcing the slow context switch (`nr_no_switch_fast`): inherit with
    /// PERF_SAMPLE_READ, or a pending SIGTRAP.
    pub nr_no_switch_fast: u32,
    /// The task exited (`ctx->task == TASK_TOMBSTONE`): nothing is installed or scheduled.
    pub tombstone: bool,
}

impl<E: Copy + Default> EventContext<E> {
    /// An empty, inactive context.
    pub fn new(kind: CtxKind) -> Self {
        EventContext {
            kind,
            is_active: 0,
            nr_events: 0,
            pinned: GroupTree::new(),
            flexible: GroupTree::new(),
            time: CtxTime::default(),
            epcs: Vec::new(),
            generation: 0,
            rotate_disable: false,
            event_list: Vec::new(),
            parent_ctx: None,
            parent_gen: 0,
            pin_count: 0,
            nr_stat: 0,
            nr_no_switch_fast: 0,
            tombstone: false,
        }
    }

    /// True for a task context.
    pub fn is_task(&self) -> bool {
        matches!(self.kind, CtxKind::Task(_))
    }

    /// The group tree of a kind (`get_event_groups()`).
    pub fn groups(&self, pinned: bool) -> &GroupTree<E> {
        if pinned {
            &self.pinned
        } else {
            &self.flexible
        }
    }

    /// Mutable group tree of a kind.
    pub fn groups_mut(&mut self, pinned: bool) -> &mut GroupTree<E> {
        if pinned {
            &mut self.pinned
        } else {
            &mut self.flexible
        }
    }

    /// Context time "now" (`perf_event_time_now()`): advancing if the clock runs.
    pub fn time_now(&self, now: u64) -> u64 {
        if self.is_active & EVENT_TIME != 0 {
            self.time.time + now.saturating_sub(self.time.stamp)
        } else {
            self.time.time
        }
    }
}

/// `struct perf_event_pmu_context` (epc).
#[derive(Clone, Debug)]
pub struct PmuContext<E> {
    /// Engine index of the PMU.
    pub pmu: u32,
    /// The owning context.
    pub ctx: CtxId,
    /// ACTIVE pinned leaders in the order they went on.
    pub pinned_active: Vec<E>,
    /// ACTIVE flexible leaders in the order they went on.
    pub flexible_active: Vec<E>,
    /// Embedded in a cpc (CPU context epc).
    pub embedded: bool,
    /// Events (leaders + siblings) of the context on this PMU.
    pub nr_events: u32,
    /// Enabled cgroup events.
    pub nr_cgroups: u32,
    /// A flexible group of this epc could not go on (`rotate_necessary`).
    pub rotate_necessary: bool,
}

impl<E> PmuContext<E> {
    /// An empty epc.
    pub fn new(pmu: u32, ctx: CtxId, embedded: bool) -> Self {
        PmuContext {
            pmu,
            ctx,
            pinned_active: Vec::new(),
            flexible_active: Vec::new(),
            embedded,
            nr_events: 0,
            nr_cgroups: 0,
            rotate_necessary: false,
        }
    }

    /// `perf_pmu_ctx_is_active()`.
    pub fn is_active(&self) -> bool {
        !self.pinned_active.is_empty() || !self.flexible_active.is_empty()
    }

    /// The active list of a kind (`get_event_list()`).
    pub fn active_list(&mut self, pinned: bool) -> &mut Vec<E> {
        if pinned {
            &mut self.pinned_active
        } else {
            &mut self.flexible_active
        }
    }
}

/// `struct perf_cpu_pmu_context` (cpc), one per (PMU, CPU).
#[derive(Clone, Debug)]
pub struct CpuPmuContext {
    /// Engine index of the PMU.
    pub pmu: u32,
    /// The CPU.
    pub cpu: u32,
    /// The embedded epc used by the CPU context.
    pub epc: EpcId,
    /// The epc of the task context scheduled on this CPU for this PMU.
    pub task_epc: Option<EpcId>,
    /// ACTIVE non-software events of this PMU on this CPU.
    pub active_oncpu: u32,
    /// An `attr.exclusive` event is ACTIVE here.
    pub exclusive: bool,
    /// Multiplexing interval (ns), from `hrtimer_interval_ms`.
    pub hrtimer_interval: u64,
    /// The mux timer is armed.
    pub hrtimer_active: bool,
    /// Machine time of the next expiry while armed.
    pub hrtimer_expires: u64,
}

impl CpuPmuContext {
    /// A cpc with the given interval (ns) and embedded epc.
    pub fn new(pmu: u32, cpu: u32, epc: EpcId, interval_ns: u64) -> Self {
        CpuPmuContext {
            pmu,
            cpu,
            epc,
            task_epc: None,
            active_oncpu: 0,
            exclusive: false,
            hrtimer_interval: interval_ns,
            hrtimer_active: false,
            hrtimer_expires: 0,
        }
    }

    /// `perf_mux_hrtimer_restart()`: arm the timer one interval from `now` unless armed.
    pub fn timer_restart(&mut self, now: u64) -> bool {
        if self.hrtimer_active {
            return false;
        }
        self.hrtimer_active = true;
        self.hrtimer_expires = now + self.hrtimer_interval;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_only_advances_when_asked() {
        let mut t = CtxTime::default();
        t.update(100, false);
        t.update(250, true);
        assert_eq!(t.time, 150);
        t.update(400, false);
        assert_eq!(t.time, 150);
        let mut ctx: EventContext<u32> = EventContext::new(CtxKind::Cpu(0));
        ctx.time = t;
        assert_eq!(ctx.time_now(500), 150, "stopped clock");
        ctx.is_active = EVENT_TIME;
        assert_eq!(ctx.time_now(500), 250);
    }

    #[test]
    fn timer_restart_arms_once() {
        let mut c = CpuPmuContext::new(0, 0, EpcId(0), 4_000_000);
        assert!(c.timer_restart(10));
        assert_eq!(c.hrtimer_expires, 4_000_010);
        assert!(!c.timer_restart(20));
        assert_eq!(c.hrtimer_expires, 4_000_010);
    }
}
