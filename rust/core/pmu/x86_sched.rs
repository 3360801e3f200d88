//! x86 counter assignment: which hardware counter each event of a CPU gets.
//!
//! Models, in arch/x86/events/core.c: `x86_schedule_events()` (fast path that keeps every
//! event's previous counter while its constraint still allows it and it is free, stopping at
//! the first event that cannot be kept; otherwise the slow path recomputes everything) and
//! `perf_assign_events()` with `perf_sched_init()`, `__perf_sched_find_counter()`,
//! `perf_sched_find_counter()`, `perf_sched_save_state()` / `perf_sched_restore_state()` and
//! `perf_sched_next_event()`: events are taken by increasing constraint weight (list order
//! within a weight); an event allowed on a fixed counter takes the first free fixed counter
//! first; otherwise the first free allowed GP counter at or after the current position,
//! counting GP uses against `gpmax`; an event whose constraint has the `overlap` flag saves
//! the state (at most [`SCHED_STATES_MAX`] = 2 saved states) so a later failure can retry it
//! on its next allowed counter. Spec: context-and-scheduling.md §8.
//!
//! # Where the greedy fails although an assignment exists
//!
//! [`brute_force_assign`] is an exhaustive search used as the oracle. The greedy is exact when
//! the constraint masks form a *laminar* family (any two masks are disjoint or one contains the
//! other): then most-constrained-first with any free counter is optimal. It can fail on a
//! feasible set when two masks overlap without nesting:
//!
//! 1. **Overlap without the `overlap` flag.** Masks `0x09` (counters 0, 3; weight 2) and three
//!    times `0x07` (counters 0-2; weight 3): the greedy gives counter 0 to the `0x09` event and
//!    then runs out for the third `0x07` event; brute force puts `0x09` on counter 3. The
//!    kernel marks such constraints (AMD family 15h) with `overlap` so the state is saved.
//! 2. **More than two overlapping decisions** to undo: only two states are saved, so a set that
//!    needs a third backtrack fails.
//! 3. **`nr_gp` after a restore.** A restored state keeps the GP count that included the
//!    undone choice, so with `gpmax` equal to the number of GP counters a retry can be refused
//!    although a counter is free (the kernel's bookkeeping; modelled as is).
//!
//! `tests/ctx_assign_props.rs` checks: every greedy success is a valid assignment; brute-force
//! infeasible implies greedy failure; on laminar sets the greedy succeeds exactly when brute
//! force does; and case 1 fails in the model as it does in the kernel.

/// First fixed-counter index (`INTEL_PMC_IDX_FIXED`).
pub const IDX_FIXED: u32 = 32;
/// Highest counter index + 1 (`X86_PMC_IDX_MAX`).
pub const IDX_MAX: u32 = 64;
/// Saved states for overlapping constraints (`SCHED_STATES_MAX`).
pub const SCHED_STATES_MAX: usize = 2;

/// An event constraint (`struct event_constraint`): the counters an event may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Constraint {
    /// Allowed counters: bits 0..31 GP counters, bits 32.. fixed counters.
    pub idxmsk: u64,
    /// The mask overlaps others without nesting; save state to allow one retry.
    pub overlap: bool,
}

impl Constraint {
    /// A constraint allowing exactly `idxmsk`.
    pub const fn new(idxmsk: u64) -> Self {
        Constraint { idxmsk, overlap: false }
    }

    /// Same, with the `overlap` flag.
    pub const fn overlapping(idxmsk: u64) -> Self {
        Constraint { idxmsk, overlap: true }
    }

    /// Number of allowed counters (`weight`).
    pub fn weight(&self) -> u32 {
        self.idxmsk.count_ones()
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct SchedState {
    weight: u32,
    event: usize,
    counter: u32,
    unassigned: usize,
    nr_gp: u32,
    used: u64,
}

struct PerfSched<'a> {
    max_weight: u32,
    max_gp: u32,
    saved: [SchedState; SCHED_STATES_MAX],
    saved_states: usize,
    c: &'a [Constraint],
    state: SchedState,
}

impl<'a> PerfSched<'a> {
    fn new(c: &'a [Constraint], wmin: u32, wmax: u32, gpmax: u32) -> Self {
        let idx = c.iter().position(|x| x.weight() == wmin).unwrap_or(c.len());
        PerfSched {
            max_weight: wmax,
            max_gp: gpmax,
            saved: [SchedState::default(); SCHED_STATES_MAX],
            saved_states: 0,
            c,
            state: SchedState { weight: wmin, event: idx, unassigned: c.len(), ..Default::default() },
        }
    }

    fn save(&mut self) {
        if self.saved_states >= SCHED_STATES_MAX {
            return;
        }
        self.saved[self.saved_states] = self.state;
        self.saved_states += 1;
    }

    fn restore(&mut self) -> bool {
        if self.saved_states == 0 {
            return false;
        }
        self.saved_states -= 1;
        self.state = self.saved[self.saved_states];
        // The choice that state made did not work out: free it and try the next counter.
        if self.state.counter < 64 {
            self.state.used &= !(1u64 << self.state.counter);
        }
        self.state.counter += 1;
        true
    }

    fn find_counter_once(&mut self) -> bool {
        if self.state.event >= self.c.len() {
            return false;
        }
        let c = self.c[self.state.event];
        let mut chosen = None;
        // Prefer fixed-purpose counters.
        // (A restored state resumes after the counter it had; the kernel starts the fixed
        // scan at the first fixed counter, which could re-pick the same counter forever if a
        // fixed-capable constraint carried `overlap` — no kernel table does that.)
        let fixed = c.idxmsk & (!0u64 << IDX_FIXED.max(self.state.counter.min(63)));
        if fixed != 0 {
            let free = fixed & !self.state.used;
            if free != 0 {
                chosen = Some(free.trailing_zeros());
            }
        }
        if chosen.is_none() {
            let start = self.state.counter;
            if start < IDX_FIXED {
                let gp = c.idxmsk & ((1u64 << IDX_FIXED) - 1) & (!0u64 << start);
                let free = gp & !self.state.used;
                if free != 0 {
                    if self.state.nr_gp >= self.max_gp {
                        self.state.nr_gp += 1;
                        return false;
                    }
                    self.state.nr_gp += 1;
                    chosen = Some(free.trailing_zeros());
                }
            }
        }
        match chosen {
            None => false,
            Some(idx) => {
                self.state.used |= 1u64 << idx;
                self.state.counter = idx;
                if c.overlap {
                    self.save();
                }
                true
            }
        }
    }

    fn find_counter(&mut self) -> bool {
        while !self.find_counter_once() {
            if !self.restore() {
                return false;
            }
        }
        true
    }

    fn next_event(&mut self) -> bool {
        if self.state.unassigned == 0 {
            return false;
        }
        self.state.unassigned -= 1;
        if self.state.unassigned == 0 {
            return false;
        }
        loop {
            self.state.event += 1;
            if self.state.event >= self.c.len() {
                self.state.event = 0;
                self.state.weight += 1;
                if self.state.weight > self.max_weight {
                    return false;
                }
            }
            if self.c[self.state.event].weight() == self.state.weight {
                break;
            }
        }
        self.state.counter = 0;
        true
    }
}

/// `perf_assign_events()`: greedy assignment of `c` (list order) into `assign` (one counter
/// index per event). Returns the number of events left unassigned (0 = success).
pub fn perf_assign_events(c: &[Constraint], wmin: u32, wmax: u32, gpmax: u32, assign: &mut [u32]) -> usize {
    if c.is_empty() {
        return 0;
    }
    let mut s = PerfSched::new(c, wmin, wmax, gpmax);
    loop {
        if !s.find_counter() {
            break;
        }
        assign[s.state.event] = s.state.counter;
        if !s.next_event() {
            break;
        }
    }
    s.state.unassigned
}

/// One event as `x86_schedule_events()` sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SchedEvent {
    /// Its constraint.
    pub constraint: Constraint,
    /// The counter it had (`hwc->idx`), if it was assigned before.
    pub prev_idx: Option<u32>,
}

/// Outcome of [`schedule_events`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// Counter per event, in the input order.
    pub assign: Vec<u32>,
    /// True when the fast path kept every previous counter.
    pub fast_path: bool,
}

/// `x86_schedule_events()`: the fast path, else the greedy over all events. `gpmax` is the
/// number of usable GP counters. Returns `None` when some event cannot be placed (-EINVAL in
/// the kernel).
pub fn schedule_events(events: &[SchedEvent], gpmax: u32) -> Option<Schedule> {
    let n = events.len();
    let mut assign = vec![0u32; n];
    let mut used = 0u64;
    let mut i = 0;
    while i < n {
        let e = &events[i];
        let Some(idx) = e.prev_idx else { break };
        if idx >= IDX_MAX || e.constraint.idxmsk & (1u64 << idx) == 0 {
            break;
        }
        let mask = 1u64 << idx;
        if used & mask != 0 {
            break;
        }
        used |= mask;
        assign[i] = idx;
        i += 1;
    }
    if i == n {
        return Some(Schedule { assign, fast_path: true });
    }
    let cons: Vec<Constraint> = events.iter().map(|e| e.constraint).collect();
    let wmin = cons.iter().map(|c| c.weight()).min().unwrap_or(0);
    let wmax = cons.iter().map(|c| c.weight()).max().unwrap_or(0);
    if perf_assign_events(&cons, wmin, wmax, gpmax, &mut assign) == 0 {
        Some(Schedule { assign, fast_path: false })
    } else {
        None
    }
}

/// Is `assign` a valid placement of `c`: every counter allowed, no counter twice, at most
/// `gpmax` GP counters.
pub fn is_valid_assignment(c: &[Constraint], assign: &[u32], gpmax: u32) -> bool {
    if c.len() != assign.len() {
        return false;
    }
    let mut used = 0u64;
    let mut gp = 0;
    for (k, &idx) in c.iter().zip(assign) {
        if idx >= IDX_MAX || k.idxmsk & (1u64 << idx) == 0 || used & (1u64 << idx) != 0 {
            return false;
        }
        used |= 1u64 << idx;
        if idx < IDX_FIXED {
            gp += 1;
        }
    }
    gp <= gpmax
}

/// Exhaustive search (the oracle): some valid assignment of `c` with at most `gpmax` GP
/// counters, or `None` if none exists. Complete depth-first search over every counter of every
/// event, memoising dead `(event, used counters)` states (the GP count follows from the used
/// mask), so infeasible sets cost O(n * 2^counters) instead of O(counters^n).
pub fn brute_force_assign(c: &[Constraint], gpmax: u32) -> Option<Vec<u32>> {
    use std::collections::HashSet;
    fn go(
        c: &[Constraint],
        i: usize,
        used: u64,
        gpmax: u32,
        out: &mut Vec<u32>,
        dead: &mut HashSet<(usize, u64)>,
    ) -> bool {
        if i == c.len() {
            return true;
        }
        if dead.contains(&(i, used)) {
            return false;
        }
        let gp = (used & ((1u64 << IDX_FIXED) - 1)).count_ones();
        let mut m = c[i].idxmsk & !used;
        while m != 0 {
            let idx = m.trailing_zeros();
            m &= m - 1;
            if idx < IDX_FIXED && gp >= gpmax {
                continue;
            }
            out.push(idx);
            if go(c, i + 1, used | (1u64 << idx), gpmax, out, dead) {
                return true;
            }
            out.pop();
        }
        dead.insert((i, used));
        false
    }
    let mut out = Vec::with_capacity(c.len());
    let mut dead = HashSet::new();
    go(c, 0, 0, gpmax, &mut out, &mut dead).then_some(out)
}

/// True when the masks form a laminar family (any two are disjoint or nested): the class
/// where the greedy is exact (see the module doc).
pub fn is_laminar(c: &[Constraint]) -> bool {
    for (i, a) in c.iter().enumerate() {
        for b in &c[i + 1..] {
            let x = a.idxmsk & b.idxmsk;
            if x != 0 && x != a.idxmsk && x != b.idxmsk {
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_counter_preferred_then_gp_fallback() {
        let instr = Constraint::new((1 << IDX_FIXED) | 0xff);
        let s = schedule_events(
            &[SchedEvent { constraint: instr, prev_idx: None }, SchedEvent { constraint: instr, prev_idx: None }],
            8,
        )
        .unwrap();
        assert_eq!(s.assign, vec![IDX_FIXED, 0]);
    }

    #[test]
    fn fast_path_keeps_previous_counters() {
        let gp = Constraint::new(0xf);
        let evs = [SchedEvent { constraint: gp, prev_idx: Some(3) }, SchedEvent { constraint: gp, prev_idx: Some(1) }];
        let s = schedule_events(&evs, 4).unwrap();
        assert!(s.fast_path);
        assert_eq!(s.assign, vec![3, 1]);
    }

    #[test]
    fn overlap_flag_rescues_the_amd_case() {
        let plain = [Constraint::new(0x09), Constraint::new(0x07), Constraint::new(0x07), Constraint::new(0x07)];
        let mut a = [0u32; 4];
        assert_eq!(perf_assign_events(&plain, 2, 3, 6, &mut a), 1, "greedy without overlap fails");
        assert!(brute_force_assign(&plain, 6).is_some(), "but an assignment exists");
        let flagged =
            [Constraint::overlapping(0x09), Constraint::new(0x07), Constraint::new(0x07), Constraint::new(0x07)];
        assert_eq!(perf_assign_events(&flagged, 2, 3, 6, &mut a), 0);
        assert!(is_valid_assignment(&flagged, &a, 6));
        assert_eq!(a[0], 3);
    }
}
