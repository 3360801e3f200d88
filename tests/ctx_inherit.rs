//! Inheritance, exit, exec and the context switch on the Machine, rule by rule as the spec
//! states them (context-and-scheduling.md §6): which groups a fork copies, what the child
//! context records, how counts come back at exit, what exec does, when contexts stop being
//! clones, and that the optimised swap is a pure optimisation (a proptest runs random
//! schedules with the swap on and off and compares every parent read).

use perfcore::abi::attr::{AttrFlag, PerfEventAttr};
use perfcore::abi::record::*;
use perfcore::abi::sample::*;
use perfcore::abi::types::{PERF_TYPE_HARDWARE, PERF_TYPE_SOFTWARE};
use perfcore::ctx::CtxId;
use perfcore::events::poll::EPOLLHUP;
use perfcore::events::{EventId, EventState};
use perfcore::output::mmap_rules::MmapRequest;
use perfcore::{Machine, MachineConfig};
use proptest::prelude::*;

const MS: u64 = 1_000_000;
const TF: u64 = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
const CYCLES: u64 = 0;
const INSTRUCTIONS: u64 = 1;

fn machine_opt(nr_cpus: u32, optimized_switch: bool) -> Machine {
    Machine::new(MachineConfig { preset: "intel-icx".into(), nr_cpus, optimized_switch, ..Default::default() }).unwrap()
}

fn machine() -> Machine {
    machine_opt(2, true)
}

fn attr(config: u64, flags: &[AttrFlag]) -> PerfEventAttr {
    let mut a = PerfEventAttr::new();
    a.type_ = PERF_TYPE_HARDWARE;
    a.config = config;
    a.read_format = TF;
    for f in flags {
        a.set_flag(*f, true);
    }
    a
}

fn open(m: &mut Machine, a: &PerfEventAttr, pid: i32, group: Option<EventId>) -> EventId {
    m.perf_event_open(&mut a.to_bytes(136), pid, -1, group, 0).unwrap()
}

fn spawn(m: &mut Machine, comm: &str) -> i32 {
    let t = m.tasks.spawn(comm, 0, false);
    m.tasks.get(t).unwrap().pid
}

fn ctx_of(m: &Machine, pid: i32) -> Option<CtxId> {
    let t = m.task_by_pid(pid).unwrap();
    m.sched.task_ctx.get(&t.0).copied()
}

/// (count, enabled, running)
fn read(m: &mut Machine, e: EventId) -> (u64, u64, u64) {
    let v = m.read_event_value(e).unwrap().expect("not in ERROR");
    (v.members[0].value, v.time_enabled, v.time_running)
}

fn children(m: &Machine, e: EventId) -> Vec<u32> {
    m.sched.ev(e.0).unwrap().children.clone()
}

#[test]
fn inherit_zero_is_not_inherited_and_the_child_gets_no_context() {
    let mut m = machine();
    let p = spawn(&mut m, "app");
    let e = open(&mut m, &attr(CYCLES, &[]), p, None);
    let c = m.fork(p, false, None, false).unwrap();
    assert_eq!(ctx_of(&m, c), None);
    assert_eq!(m.event_children(e).unwrap(), 0);
}

#[test]
fn a_group_left_out_makes_the_child_context_not_a_clone() {
    let mut m = machine();
    let p = spawn(&mut m, "app");
    let e = open(&mut m, &attr(CYCLES, &[AttrFlag::Inherit]), p, None);
    open(&mut m, &attr(INSTRUCTIONS, &[]), p, None);
    let c = m.fork(p, false, None, false).unwrap();
    let cc = ctx_of(&m, c).expect("one group was inherited");
    assert_eq!(m.sched.ctxs[cc.0 as usize].nr_events, 1);
    assert_eq!(m.sched.ctxs[cc.0 as usize].parent_ctx, None, "inherited_all is false");
    assert_eq!(children(&m, e).len(), 1);
}

#[test]
fn every_group_inherited_marks_the_child_a_clone_of_the_parent_generation() {
    let mut m = machine();
    let p = spawn(&mut m, "app");
    let l = open(&mut m, &attr(CYCLES, &[AttrFlag::Inherit]), p, None);
    let s = open(&mut m, &attr(INSTRUCTIONS, &[AttrFlag::Inherit]), p, Some(l));
    let c = m.fork(p, false, None, false).unwrap();
    let (pc, cc) = (ctx_of(&m, p).unwrap(), ctx_of(&m, c).unwrap());
    let child = &m.sched.ctxs[cc.0 as usize];
    assert_eq!(child.parent_ctx, Some(pc));
    assert_eq!(child.parent_gen, m.sched.ctxs[pc.0 as usize].generation);
    assert_eq!(child.nr_events, 2);
    // the child group mirrors the parent group; each child points at its own top-level parent
    let (cl, cs) = (children(&m, l)[0], children(&m, s)[0]);
    assert_eq!(m.sched.ev(cl).unwrap().siblings, vec![cs]);
    assert_eq!(m.sched.ev(cs).unwrap().leader, cl);
    assert_eq!(m.sched.ev(cl).unwrap().parent, Some(l.0));
    assert_eq!(m.sched.ev(cs).unwrap().parent, Some(s.0));
    assert!(m.sched.context_equiv(pc, cc));
}

#[test]
fn inherit_thread_only_follows_clone_thread() {
    let mut m = machine();
    let p = spawn(&mut m, "app");
    let e = open(&mut m, &attr(CYCLES, &[AttrFlag::Inherit, AttrFlag::InheritThread]), p, None);
    let proc_child = m.fork(p, false, None, false).unwrap();
    assert_eq!(ctx_of(&m, proc_child), None, "a new process does not get inherit_thread events");
    let thread = m.fork(p, true, None, false).unwrap();
    assert!(ctx_of(&m, thread).is_some());
    assert_eq!(m.event_children(e).unwrap(), 1);
    let t = m.task_by_pid(thread).unwrap();
    assert_eq!(m.tasks.get(t).unwrap().tgid, p);
}

#[test]
fn sigtrap_events_are_not_inherited_across_clear_sighand() {
    let mut m = machine();
    let p = spawn(&mut m, "app");
    let e = open(&mut m, &attr(CYCLES, &[AttrFlag::Inherit, AttrFlag::Sigtrap, AttrFlag::RemoveOnExec]), p, None);
    let c1 = m.fork(p, false, None, true).unwrap();
    assert_eq!(ctx_of(&m, c1), None);
    let c2 = m.fork(p, false, None, false).unwrap();
    assert!(ctx_of(&m, c2).is_some());
    assert_eq!(m.event_children(e).unwrap(), 1);
}

#[test]
fn pinned_groups_are_copied_before_flexible_ones() {
    let mut m = machine();
    let p = spawn(&mut m, "app");
    let flex = open(&mut m, &attr(CYCLES, &[AttrFlag::Inherit]), p, None);
    let pinned = open(&mut m, &attr(INSTRUCTIONS, &[AttrFlag::Inherit, AttrFlag::Pinned]), p, None);
    let c = m.fork(p, false, None, false).unwrap();
    let cc = ctx_of(&m, c).unwrap();
    let order: Vec<u32> = m.sched.ctxs[cc.0 as usize].event_list.clone();
    assert_eq!(order, vec![children(&m, pinned)[0], children(&m, flex)[0]]);
}

#[test]
fn child_state_follows_the_parent_state_not_attr_disabled() {
    let mut m = machine();
    let p = spawn(&mut m, "app");
    let a = open(&mut m, &attr(CYCLES, &[AttrFlag::Inherit, AttrFlag::Disabled]), p, None);
    let b = open(&mut m, &attr(INSTRUCTIONS, &[AttrFlag::Inherit]), p, None);
    m.enable_event(a).unwrap();
    m.disable_event(b).unwrap();
    m.fork(p, false, None, false).unwrap();
    assert_eq!(m.sched.ev(children(&m, a)[0]).unwrap().state, EventState::Inactive);
    assert_eq!(m.sched.ev(children(&m, b)[0]).unwrap().state, EventState::Off);
}

#[test]
fn grandchildren_record_the_root_so_all_descendants_are_equivalent() {
    let mut m = machine();
    let p = spawn(&mut m, "app");
    let e = open(&mut m, &attr(CYCLES, &[AttrFlag::Inherit]), p, None);
    let c1 = m.fork(p, false, None, false).unwrap();
    let c2 = m.fork(p, false, None, false).unwrap();
    let g = m.fork(c1, false, None, false).unwrap();
    let (pc, c1c, c2c, gc) =
        (ctx_of(&m, p).unwrap(), ctx_of(&m, c1).unwrap(), ctx_of(&m, c2).unwrap(), ctx_of(&m, g).unwrap());
    let gctx = &m.sched.ctxs[gc.0 as usize];
    assert_eq!(gctx.parent_ctx, Some(pc), "flattened to the root");
    assert_eq!(gctx.parent_gen, m.sched.ctxs[c1c.0 as usize].parent_gen);
    assert!(m.sched.context_equiv(c1c, c2c));
    assert!(m.sched.context_equiv(gc, c2c));
    assert!(m.sched.context_equiv(gc, pc));
    // every copy points at the top-level event: no chains
    assert_eq!(children(&m, e).len(), 3);
    for c in children(&m, e) {
        assert_eq!(m.sched.ev(c).unwrap().parent, Some(e.0));
    }
}

#[test]
fn exit_folds_counts_and_times_into_the_parent() {
    let mut m = machine();
    let p = spawn(&mut m, "app");
    let e = open(&mut m, &attr(CYCLES, &[AttrFlag::Inherit]), p, None);
    let c = m.fork(p, false, None, false).unwrap();
    m.set_rate(p, "cycles", 1e9).unwrap(); // 1 per ns
    m.set_rate(c, "cycles", 2e9).unwrap();
    m.switch_in(0, p).unwrap();
    m.switch_in(1, c).unwrap();
    m.advance(3 * MS).unwrap();
    m.switch_out(0).unwrap();
    m.advance(2 * MS).unwrap();
    // parent ran 3 ms at 1/ns, child 5 ms at 2/ns
    assert_eq!(read(&mut m, e), (3 * MS + 10 * MS, 8 * MS, 8 * MS), "live child summed into the read");
    m.exit_task(c).unwrap();
    assert_eq!(m.event_children(e).unwrap(), 0);
    let folded = m.sched.ev(e.0).unwrap();
    assert_eq!((folded.child_count as u64, folded.child_total_time_enabled), (10 * MS, 5 * MS));
    assert_eq!(read(&mut m, e), (13 * MS, 8 * MS, 8 * MS), "exit keeps the child's share");
    m.advance(4 * MS).unwrap();
    assert_eq!(read(&mut m, e), (13 * MS, 8 * MS, 8 * MS), "nothing runs any more");
    let t = m.task_by_pid(c).unwrap();
    assert!(m.tasks.get(t).unwrap().exited);
    assert_eq!(m.sched.current[1], None, "the exiting task left its CPU");
}

#[test]
fn top_level_events_go_to_exit_and_stay_readable() {
    let mut m = machine();
    let p = spawn(&mut m, "app");
    let e = open(&mut m, &attr(CYCLES, &[AttrFlag::Inherit]), p, None);
    let s = open(&mut m, &attr(INSTRUCTIONS, &[AttrFlag::Inherit]), p, Some(e));
    let c = m.fork(p, false, None, false).unwrap();
    m.set_rate(p, "cycles", 1e9).unwrap();
    m.switch_in(0, p).unwrap();
    m.advance(MS).unwrap();
    let pc = ctx_of(&m, p).unwrap();
    m.exit_task(p).unwrap();
    assert_eq!(m.sched_state(e).unwrap(), EventState::Exit);
    assert_eq!(m.sched_state(s).unwrap(), EventState::Exit);
    assert_eq!(m.events.get(e).unwrap().state, EventState::Exit);
    assert!(m.sched.ctxs[pc.0 as usize].tombstone);
    assert_eq!(m.sched.ctxs[pc.0 as usize].nr_events, 0);
    assert_eq!(read(&mut m, e), (MS, MS, MS));
    assert_eq!(m.event_children(e).unwrap(), 1, "the child in the other process lives on");
    m.exit_task(c).unwrap();
    assert_eq!(m.perf_poll(e, false).unwrap(), EPOLLHUP);
    // opening on the dead task is ESRCH; closing the EXIT events works
    let err = m.perf_event_open(&mut attr(CYCLES, &[]).to_bytes(136), p, -1, None, 0).unwrap_err();
    assert!(err.to_string().contains("ESRCH"), "{err}");
    m.close(s).unwrap();
    m.close(e).unwrap();
    m.sched_check().unwrap();
}

#[test]
fn closing_a_parent_frees_its_children() {
    let mut m = machine();
    let p = spawn(&mut m, "app");
    let e = open(&mut m, &attr(CYCLES, &[AttrFlag::Inherit]), p, None);
    let c = m.fork(p, false, None, false).unwrap();
    let cc = ctx_of(&m, c).unwrap();
    m.switch_in(0, c).unwrap();
    let child = children(&m, e)[0];
    assert_eq!(m.sched.ev(child).unwrap().state, EventState::Active);
    let gen = m.sched.ctxs[cc.0 as usize].generation;
    m.close(e).unwrap();
    assert!(m.sched.ev(child).is_err());
    assert_eq!(m.sched.ctxs[cc.0 as usize].nr_events, 0);
    assert!(m.sched.ctxs[cc.0 as usize].generation > gen);
    m.sched_check().unwrap();
}

#[test]
fn enable_on_exec_enables_once_and_unclones() {
    let mut m = machine();
    let p = spawn(&mut m, "app");
    let e = open(&mut m, &attr(CYCLES, &[AttrFlag::Inherit, AttrFlag::Disabled, AttrFlag::EnableOnExec]), p, None);
    let c = m.fork(p, false, None, false).unwrap();
    let cc = ctx_of(&m, c).unwrap();
    let child = children(&m, e)[0];
    assert_eq!(m.sched.ev(child).unwrap().state, EventState::Off);
    let gen = m.sched.ctxs[cc.0 as usize].generation;
    m.set_rate(c, "cycles", 1e9).unwrap();
    m.switch_in(0, c).unwrap();
    assert!(m.exec(c, "newprog").unwrap(), "an event was enabled");
    assert_eq!(m.sched.ev(child).unwrap().state, EventState::Active, "rescheduled at once");
    assert_eq!(m.sched.ctxs[cc.0 as usize].parent_ctx, None);
    assert_eq!(m.sched.ctxs[cc.0 as usize].generation, gen + 1);
    let t = m.task_by_pid(c).unwrap();
    assert_eq!(m.tasks.get(t).unwrap().comm, "newprog");
    // one-shot: disable, exec again -> stays OFF, nothing changed
    m.disable_event(e).unwrap();
    assert!(!m.exec(c, "again").unwrap());
    assert_eq!(m.sched.ev(child).unwrap().state, EventState::Off);
    // the parent's own event was not touched by the child's exec
    assert_eq!(m.sched_state(e).unwrap(), EventState::Off);
}

#[test]
fn remove_on_exec_removes_and_unclones() {
    let mut m = machine();
    let p = spawn(&mut m, "app");
    let keep = open(&mut m, &attr(CYCLES, &[AttrFlag::Inherit]), p, None);
    let gone = open(&mut m, &attr(INSTRUCTIONS, &[AttrFlag::Inherit, AttrFlag::RemoveOnExec]), p, None);
    let c = m.fork(p, false, None, false).unwrap();
    let cc = ctx_of(&m, c).unwrap();
    m.set_rate(c, "instructions", 1e9).unwrap();
    m.switch_in(0, c).unwrap();
    m.advance(2 * MS).unwrap();
    assert!(m.exec(c, "prog").unwrap());
    assert_eq!(m.event_children(gone).unwrap(), 0, "the child copy was removed");
    assert_eq!(read(&mut m, gone).0, 2 * MS, "and folded into its parent");
    assert_eq!(m.event_children(keep).unwrap(), 1);
    assert_eq!(m.sched.ctxs[cc.0 as usize].parent_ctx, None);
    assert_eq!(m.sched.ctxs[cc.0 as usize].nr_events, 1);
    // the parent's own remove_on_exec event goes to EXIT at its exec
    m.exec(p, "prog").unwrap();
    assert_eq!(m.sched_state(gone).unwrap(), EventState::Exit);
    m.sched_check().unwrap();
}

#[test]
fn opening_on_a_clone_unclones_it_and_adding_to_the_parent_breaks_equivalence() {
    let mut m = machine();
    let p = spawn(&mut m, "app");
    open(&mut m, &attr(CYCLES, &[AttrFlag::Inherit]), p, None);
    let c1 = m.fork(p, false, None, false).unwrap();
    let c2 = m.fork(p, false, None, false).unwrap();
    let (pc, c1c, c2c) = (ctx_of(&m, p).unwrap(), ctx_of(&m, c1).unwrap(), ctx_of(&m, c2).unwrap());
    let g = m.sched.ctxs[c1c.0 as usize].generation;
    open(&mut m, &attr(INSTRUCTIONS, &[]), c1, None);
    assert_eq!(m.sched.ctxs[c1c.0 as usize].parent_ctx, None);
    assert_eq!(m.sched.ctxs[c1c.0 as usize].generation, g + 2, "unclone + list_add_event");
    assert!(!m.sched.context_equiv(c1c, c2c));
    assert!(m.sched.context_equiv(pc, c2c));
    let pg = m.sched.ctxs[pc.0 as usize].generation;
    let x = open(&mut m, &attr(INSTRUCTIONS, &[AttrFlag::Inherit]), p, None);
    assert_eq!(m.sched.ctxs[pc.0 as usize].generation, pg + 1);
    assert!(!m.sched.context_equiv(pc, c2c), "the parent moved on a generation");
    m.close(x).unwrap();
    assert_eq!(m.sched.ctxs[pc.0 as usize].generation, pg + 2, "list_del_event bumps too");
}

#[test]
fn enable_and_disable_reach_every_child() {
    let mut m = machine();
    let p = spawn(&mut m, "app");
    let e = open(&mut m, &attr(CYCLES, &[AttrFlag::Inherit]), p, None);
    let c = m.fork(p, false, None, false).unwrap();
    let cc = ctx_of(&m, c).unwrap();
    let child = children(&m, e)[0];
    m.disable_event(e).unwrap();
    assert_eq!(m.sched.ev(child).unwrap().state, EventState::Off);
    m.enable_event(e).unwrap();
    assert_eq!(m.sched.ev(child).unwrap().state, EventState::Inactive);
    assert!(m.sched.ctxs[cc.0 as usize].parent_ctx.is_some(), "ioctls do not unclone");
}

/// Two threads of one process with inherited events alternate on CPU 0 `rounds` times.
/// Returns the machine and the parent events.
fn alternate(optimized: bool, nr_events: usize, rounds: u32) -> (Machine, Vec<EventId>, i32, i32) {
    let mut m = machine_opt(2, optimized);
    let p = spawn(&mut m, "app");
    let evs: Vec<EventId> = (0..nr_events)
        .map(|i| open(&mut m, &attr(if i % 2 == 0 { CYCLES } else { INSTRUCTIONS }, &[AttrFlag::Inherit]), p, None))
        .collect();
    let t = m.fork(p, true, None, false).unwrap();
    m.set_rate(p, "cycles", 1e9).unwrap();
    m.set_rate(t, "cycles", 3e9).unwrap();
    m.set_rate(p, "instructions", 2e9).unwrap();
    for _ in 0..rounds {
        m.switch_in(0, p).unwrap();
        m.advance(MS).unwrap();
        m.switch_in(0, t).unwrap();
        m.advance(2 * MS).unwrap();
    }
    m.switch_out(0).unwrap();
    (m, evs, p, t)
}

#[test]
fn threads_alternating_take_the_swap_every_time_and_count_like_the_slow_path() {
    let rounds = 5;
    let (mut fast, fe, _, _) = alternate(true, 4, rounds);
    let (mut slow, se, _, _) = alternate(false, 4, rounds);
    let (fs, ss) = (fast.sched_stats(), slow.sched_stats());
    // 2*rounds - 1 switches between the two threads, then one to idle
    assert_eq!(fs.switch_swap, u64::from(2 * rounds - 1));
    assert_eq!(fs.switch_slow, 1);
    assert_eq!(ss.switch_swap, 0);
    assert_eq!(ss.switch_slow, u64::from(2 * rounds));
    for (a, b) in fe.iter().zip(&se) {
        assert_eq!(read(&mut fast, *a), read(&mut slow, *b));
    }
    // oracle from the schedule: p runs 1 ms per round, t 2 ms
    let r = u64::from(rounds);
    assert_eq!(read(&mut fast, fe[0]), (r * (MS + 6 * MS), 3 * r * MS, 3 * r * MS));
    assert_eq!(read(&mut fast, fe[1]).0, r * 2 * MS);
}

#[test]
fn the_swap_schedules_no_event_so_its_cost_does_not_grow_with_events() {
    for n in [1usize, 8] {
        let (m1, _, _, _) = alternate(true, n, 1);
        let (m9, _, _, _) = alternate(true, n, 9);
        let (s1, s9) = (m1.sched_stats(), m9.sched_stats());
        assert_eq!(s9.switch_swap - s1.switch_swap, 16);
        // the 16 extra swaps scheduled nothing in or out
        assert_eq!(s9.event_sched_in, s1.event_sched_in, "n = {n}");
        assert_eq!(s9.event_sched_out, s1.event_sched_out, "n = {n}");
        assert_eq!(s9.ctx_sched_in, s1.ctx_sched_in, "n = {n}");
    }
}

#[test]
fn inherit_with_sample_read_forces_the_slow_path() {
    let mut m = machine();
    let p = spawn(&mut m, "app");
    let mut a = attr(CYCLES, &[AttrFlag::Inherit]);
    a.sample_type = PERF_SAMPLE_READ | PERF_SAMPLE_TID;
    open(&mut m, &a, p, None);
    let t = m.fork(p, true, None, false).unwrap();
    m.switch_in(0, p).unwrap();
    let out = m.switch_in(0, t).unwrap();
    assert!(!out.swapped);
    assert_eq!(m.sched_stats().switch_swap, 0);
    assert_eq!(m.sched.ctxs[ctx_of(&m, t).unwrap().0 as usize].nr_no_switch_fast, 1);
}

#[test]
fn inherit_stat_counts_follow_the_task_across_swaps() {
    let mut m = machine();
    let p = spawn(&mut m, "app");
    let e = open(&mut m, &attr(CYCLES, &[AttrFlag::Inherit, AttrFlag::InheritStat]), p, None);
    let t = m.fork(p, true, None, false).unwrap();
    m.set_rate(p, "cycles", 1e9).unwrap();
    m.set_rate(t, "cycles", 5e9).unwrap();
    m.switch_in(0, p).unwrap();
    m.advance(MS).unwrap();
    assert!(m.switch_in(0, t).unwrap().swapped);
    m.advance(MS).unwrap();
    assert!(m.switch_in(0, p).unwrap().swapped);
    m.switch_out(0).unwrap();
    // the top-level event holds p's own count, its child t's, whatever context ran them
    let child = children(&m, e)[0];
    assert_eq!(m.sched.ev(e.0).unwrap().count as u64, MS);
    assert_eq!(m.sched.ev(child).unwrap().count as u64, 5 * MS);
    assert_eq!(read(&mut m, e).0, 6 * MS);
}

#[test]
fn without_inherit_stat_the_counts_stay_with_the_context_object() {
    let mut m = machine();
    let p = spawn(&mut m, "app");
    let e = open(&mut m, &attr(CYCLES, &[AttrFlag::Inherit]), p, None);
    let t = m.fork(p, true, None, false).unwrap();
    m.set_rate(p, "cycles", 1e9).unwrap();
    m.set_rate(t, "cycles", 5e9).unwrap();
    m.switch_in(0, p).unwrap();
    m.advance(MS).unwrap();
    assert!(m.switch_in(0, t).unwrap().swapped);
    m.advance(MS).unwrap();
    m.switch_out(0).unwrap();
    // the parent's context object ran both tasks; the sum is still right
    assert_eq!(m.sched.ev(e.0).unwrap().count as u64, 6 * MS);
    assert_eq!(read(&mut m, e).0, 6 * MS);
}

#[test]
fn affinity_is_enforced_and_a_running_task_leaves_a_cpu_it_may_not_use() {
    let mut m = machine();
    let p = spawn(&mut m, "app");
    m.switch_in(1, p).unwrap();
    m.set_affinity(p, &[0]).unwrap();
    assert_eq!(m.sched.current[1], None);
    assert!(m.switch_in(1, p).is_err());
    m.switch_in(0, p).unwrap();
    let c = m.fork(p, false, None, false).unwrap();
    let t = m.task_by_pid(c).unwrap();
    assert_eq!(m.tasks.get(t).unwrap().cpus_allowed, vec![0], "affinity is inherited");
}

#[test]
fn children_join_the_parents_cgroup_and_an_exiting_task_leaves_the_cpu_in_the_root() {
    let mut m = machine();
    let cg = m.cgroup_create("app", None).unwrap();
    let p = spawn(&mut m, "app");
    m.cgroup_attach(p, cg).unwrap();
    let c = m.fork(p, false, None, false).unwrap();
    assert_eq!(m.cgroup_of(c).unwrap(), cg);
    m.switch_in(0, c).unwrap();
    assert_eq!(m.sched.cpu_cgrp[0], cg);
    m.exit_task(c).unwrap();
    assert_eq!(m.sched.cpu_cgrp[0], 1, "the idle task is in the root cgroup");
}

/// Record types in a ring, in order.
fn record_types(m: &Machine, e: EventId) -> Vec<(u32, u16, u32)> {
    let key = m.rb_key(e).expect("event has a ring");
    let recs = m.ring_buffer(key).unwrap().consumer().read_records().unwrap();
    recs.iter()
        .map(|r| {
            let ty = u32::from_ne_bytes(r[0..4].try_into().unwrap());
            let misc = u16::from_ne_bytes(r[4..6].try_into().unwrap());
            let pid = u32::from_ne_bytes(r[8..12].try_into().unwrap());
            (ty, misc, pid)
        })
        .collect()
}

fn mmap_one_page(m: &mut Machine, e: EventId) {
    let req = MmapRequest { len: 2 * 4096, pgoff: 0, shared: true, prot_write: true };
    m.perf_mmap(e, req, None).unwrap();
}

#[test]
fn fork_exec_exit_write_their_side_band_records_in_the_kernels_order() {
    let mut m = machine();
    let p = spawn(&mut m, "app");
    let mut sb = PerfEventAttr::new();
    sb.type_ = PERF_TYPE_SOFTWARE;
    sb.config = 9; // PERF_COUNT_SW_DUMMY
    for f in [AttrFlag::Task, AttrFlag::Comm] {
        sb.set_flag(f, true);
    }
    let cpu_wide = m.perf_event_open(&mut sb.to_bytes(136), -1, 0, None, 0).unwrap();
    mmap_one_page(&mut m, cpu_wide);
    // an inherited enable_on_exec event of the task sees its own exec's COMM: perf_event_exec()
    // enables it before __set_task_comm() writes the record
    let mut own = sb;
    for f in [AttrFlag::Inherit, AttrFlag::Disabled, AttrFlag::EnableOnExec] {
        own.set_flag(f, true);
    }
    own.set_flag(AttrFlag::Task, false);
    // (per CPU: an inherited per-task event with cpu -1 cannot be mmapped)
    let mine = m.perf_event_open(&mut own.to_bytes(136), p, 0, None, 0).unwrap();
    mmap_one_page(&mut m, mine);
    // (p is not running when c runs: no swap moves p's context to c)
    let c = m.fork(p, false, None, false).unwrap();
    m.switch_in(0, c).unwrap();
    m.exec(c, "prog").unwrap();
    m.exit_task(c).unwrap();
    let (cu, pu) = (c as u32, p as u32);
    let got: Vec<(u32, u16, u32)> =
        record_types(&m, cpu_wide).into_iter().filter(|r| r.0 != PERF_RECORD_SWITCH_CPU_WIDE).collect();
    assert_eq!(
        got,
        vec![(PERF_RECORD_FORK, 0, cu), (PERF_RECORD_COMM, PERF_RECORD_MISC_COMM_EXEC, cu), (PERF_RECORD_EXIT, 0, cu)]
    );
    assert!(record_types(&m, mine).is_empty(), "the parent's own event stays OFF: only the child exec'd");
    m.exec(p, "prog").unwrap();
    assert_eq!(record_types(&m, mine), vec![(PERF_RECORD_COMM, PERF_RECORD_MISC_COMM_EXEC, pu)]);
}

#[derive(Clone, Debug)]
enum Step {
    Run { cpu: u32, thread: usize },
    Idle { cpu: u32 },
    Advance { us: u64 },
}

fn steps(nr_threads: usize, nr_cpus: u32) -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        4 => (0..nr_cpus, 0..nr_threads).prop_map(|(cpu, thread)| Step::Run { cpu, thread }),
        1 => (0..nr_cpus).prop_map(|cpu| Step::Idle { cpu }),
        3 => (1u64..3000).prop_map(|us| Step::Advance { us }),
    ];
    prop::collection::vec(step, 1..40)
}

struct Outcome {
    reads: Vec<(u64, u64, u64)>,
    swaps: u64,
    equivalent_switches: u64,
}

/// Run one schedule; `stat` adds inherit_stat, `exit_at` exits thread 1 after that step.
fn run_schedule(
    optimized: bool,
    nr_cpus: u32,
    nr_threads: usize,
    rates: &[u32],
    stat: bool,
    exit_at: Option<usize>,
    schedule: &[Step],
) -> Outcome {
    let mut m = machine_opt(nr_cpus, optimized);
    let p = spawn(&mut m, "app");
    let mut flags = vec![AttrFlag::Inherit];
    if stat {
        flags.push(AttrFlag::InheritStat);
    }
    let l = open(&mut m, &attr(CYCLES, &flags), p, None);
    let s = open(&mut m, &attr(INSTRUCTIONS, &flags), p, Some(l));
    let x = open(&mut m, &attr(INSTRUCTIONS, &flags), p, None);
    let mut threads = vec![p];
    for _ in 1..nr_threads {
        threads.push(m.fork(p, true, None, false).unwrap());
    }
    for (i, &t) in threads.iter().enumerate() {
        m.set_rate(t, "cycles", f64::from(rates[i]) * 1e6).unwrap();
        m.set_rate(t, "instructions", f64::from(rates[(i + 1) % rates.len()]) * 1e6).unwrap();
    }
    let mut equivalent = 0;
    let mut exited = vec![false; nr_threads];
    for (k, st) in schedule.iter().enumerate() {
        match *st {
            Step::Run { cpu, thread } => {
                let pid = threads[thread];
                if exited[thread]
                    || m.sched
                        .current
                        .iter()
                        .enumerate()
                        .any(|(c, t)| c as u32 != cpu && *t == Some(m.task_by_pid(pid).unwrap().0))
                {
                    continue;
                }
                let before = m.sched.current[cpu as usize];
                let next = m.task_by_pid(pid).unwrap().0;
                if let (Some(prev), true) = (before, before != Some(next)) {
                    let (a, b) = (m.sched.task_ctx.get(&prev).copied(), m.sched.task_ctx.get(&next).copied());
                    if let (Some(a), Some(b)) = (a, b) {
                        if m.sched.context_equiv(a, b) {
                            equivalent += 1;
                        }
                    }
                }
                m.switch_in(cpu, pid).unwrap();
            }
            Step::Idle { cpu } => {
                m.switch_out(cpu).unwrap();
            }
            Step::Advance { us } => m.advance(us * 1000).unwrap(),
        }
        if exit_at == Some(k) && nr_threads > 1 && !exited[1] {
            m.exit_task(threads[1]).unwrap();
            exited[1] = true;
        }
        m.sched_check().unwrap();
    }
    let reads = [l, s, x].iter().map(|&e| read(&mut m, e)).collect();
    Outcome { reads, swaps: m.sched_stats().switch_swap, equivalent_switches: equivalent }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// The swap is a pure optimisation: with it on or off, the same schedule gives the same
    /// parent reads (count, enabled, running), and with it on every switch between
    /// equivalent contexts is a swap.
    #[test]
    fn swap_and_slow_path_agree(
        nr_cpus in 1u32..=2,
        nr_threads in 2usize..=3,
        rates in prop::collection::vec(1u32..1000, 3),
        stat in any::<bool>(),
        exit_at in prop::option::of(0usize..40),
        schedule in steps(3, 2),
    ) {
        let schedule: Vec<Step> = schedule
            .into_iter()
            .map(|s| match s {
                Step::Run { cpu, thread } => Step::Run { cpu: cpu % nr_cpus, thread: thread % nr_threads },
                Step::Idle { cpu } => Step::Idle { cpu: cpu % nr_cpus },
                a => a,
            })
            .collect();
        let fast = run_schedule(true, nr_cpus, nr_threads, &rates, stat, exit_at, &schedule);
        let slow = run_schedule(false, nr_cpus, nr_threads, &rates, stat, exit_at, &schedule);
        // times are integers and must match exactly; counts are sums of f64 rate * time
        // taken in a different order by the two paths, so they may differ by the last unit
        for (f, s) in fast.reads.iter().zip(&slow.reads) {
            prop_assert_eq!((f.1, f.2), (s.1, s.2));
            prop_assert!(f.0.abs_diff(s.0) <= 1, "counts {} vs {}", f.0, s.0);
        }
        prop_assert_eq!(fast.swaps, fast.equivalent_switches);
        prop_assert_eq!(slow.swaps, 0);
    }
}
