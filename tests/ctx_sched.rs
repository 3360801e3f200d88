//! Scheduling scenarios on the engine: round-robin fairness, pinned before flexible and
//! ERROR, hybrid PMUs, cgroup events, group all-or-nothing, open-time group rules, and a
//! model-based state machine checking the invariants after every step.

use perfcore::abi::sample::*;
use perfcore::ctx::{Engine, EventSpec};
use perfcore::events::EventState;
use perfcore::pmu::presets::core_pmus;
use perfcore::pmu::sched_ops::SoftwareSched;
use perfcore::Errno;
use proptest::prelude::*;

const MS: u64 = 1_000_000;
const TF: u64 = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;

fn engine(preset: &str) -> (Engine, Vec<u32>, u32) {
    let mut e = Engine::new(8);
    let sw = e.add_pmu(1, "software", Box::new(SoftwareSched));
    let core = e.add_core_pmus(core_pmus(preset).unwrap());
    (e, core, sw)
}

fn spec(e: &Engine, pmu: u32, kind: &str, task: Option<u32>, cpu: i32) -> EventSpec {
    let constraint = e.pmus[pmu as usize].core_desc().map(|d| d.event(kind).expect(kind).constraint);
    EventSpec {
        task,
        cpu,
        pmu,
        constraint,
        pinned: false,
        exclusive: false,
        disabled: false,
        group_leader: None,
        cgroup: None,
        kind: kind.into(),
        read_format: TF,
        id: 0,
        inherit: Default::default(),
    }
}

/// Open a group of `kinds` on `pmu`; returns the leader id. Ids are allocated from `next`.
fn group(e: &mut Engine, next: &mut u32, pmu: u32, kinds: &[&str], task: Option<u32>, cpu: i32, pinned: bool) -> u32 {
    let leader = *next;
    for (i, k) in kinds.iter().enumerate() {
        let mut s = spec(e, pmu, k, task, cpu);
        s.pinned = pinned && i == 0;
        s.group_leader = (i > 0).then_some(leader);
        s.id = u64::from(*next) + 1;
        e.install(*next, s).unwrap();
        *next += 1;
    }
    leader
}

fn times(e: &mut Engine, id: u32) -> (u64, u64) {
    let v = e.read(id).unwrap().expect("not in ERROR");
    (v.time_enabled, v.time_running)
}

#[test]
fn round_robin_gives_each_of_k_groups_one_kth_within_one_interval() {
    for k in 2..=5u32 {
        let (mut e, core, _) = engine("intel-skl-ht");
        let mut next = 0;
        // Each group fills all 4 GP counters: one group at a time fits.
        let leaders: Vec<u32> = (0..k)
            .map(|_| {
                group(
                    &mut e,
                    &mut next,
                    core[0],
                    &["branches", "branch-misses", "cache-misses", "cache-references"],
                    Some(100),
                    -1,
                    false,
                )
            })
            .collect();
        e.switch_in(0, 100).unwrap();
        for _ in 0..(7 * k) {
            e.advance(MS).unwrap();
            e.check_invariants().unwrap();
            e.advance(3 * MS).unwrap();
            e.check_invariants().unwrap();
        }
        let interval = 4 * MS;
        for &l in &leaders {
            let (en, run) = times(&mut e, l);
            assert_eq!(en, u64::from(7 * k) * interval);
            let fair = en / u64::from(k);
            assert!(run.abs_diff(fair) <= interval, "k={k}: running {run} vs fair share {fair}");
        }
        assert!(e.stats.rotations > 0);
    }
}

#[test]
fn two_cpu_groups_on_an_idle_cpu_share_50_50() {
    let (mut e, core, _) = engine("intel-skl-ht");
    let mut next = 0;
    let kinds = ["branches", "branch-misses", "cache-misses", "cache-references"];
    let a = group(&mut e, &mut next, core[0], &kinds, None, 1, false);
    let b = group(&mut e, &mut next, core[0], &kinds, None, 1, false);
    e.advance(1000 * MS).unwrap();
    let (ea, ra) = times(&mut e, a);
    let (eb, rb) = times(&mut e, b);
    assert_eq!((ea, eb), (1000 * MS, 1000 * MS));
    assert_eq!((ra, rb), (500 * MS, 500 * MS), "hrtimer rotation: exactly 50.00% / 50.00%");
}

#[test]
fn mux_interval_is_settable_and_refuses_below_one() {
    let (mut e, core, _) = engine("intel-skl-ht");
    assert_eq!(e.set_mux_interval_ms(core[0], 0).unwrap_err().errno(), Some(Errno::EINVAL));
    e.set_mux_interval_ms(core[0], 10).unwrap();
    let mut next = 0;
    let kinds = ["branches", "branch-misses", "cache-misses", "cache-references"];
    let a = group(&mut e, &mut next, core[0], &kinds, None, 2, false);
    let _b = group(&mut e, &mut next, core[0], &kinds, None, 2, false);
    e.advance(9 * MS).unwrap();
    assert_eq!(times(&mut e, a).1, 9 * MS, "no rotation before 10 ms");
    e.advance(2 * MS).unwrap();
    assert_eq!(times(&mut e, a).1, 10 * MS);
}

#[test]
fn pinned_before_flexible_and_pinned_failure_is_error_until_reenabled() {
    let (mut e, core, _) = engine("intel-skl-ht");
    let p = core[0];
    let mut next = 0;
    let four = ["branches", "branch-misses", "cache-misses", "cache-references"];
    let cpu_flex = group(&mut e, &mut next, p, &four, None, 0, false);
    assert_eq!(e.ev(cpu_flex).unwrap().state, EventState::Active);
    let task_pinned = group(&mut e, &mut next, p, &four, Some(7), -1, true);
    e.switch_in(0, 7).unwrap();
    e.check_invariants().unwrap();
    assert_eq!(e.ev(task_pinned).unwrap().state, EventState::Active, "task pinned beats CPU flexible");
    assert_eq!(e.ev(cpu_flex).unwrap().state, EventState::Inactive);
    e.switch_out(0).unwrap();
    // The task's switch-out does not reschedule the CPU context; the mux timer armed by the
    // failed flexible group does, at its next expiry.
    assert_eq!(e.ev(cpu_flex).unwrap().state, EventState::Inactive);
    e.advance(4 * MS).unwrap();
    assert_eq!(e.ev(cpu_flex).unwrap().state, EventState::Active);

    // A CPU-pinned group takes 3 GP counters; the task's 4-GP pinned group cannot fit.
    let cpu_pinned = group(&mut e, &mut next, p, &["branches", "branch-misses", "cache-misses"], None, 0, true);
    e.switch_in(0, 7).unwrap();
    e.check_invariants().unwrap();
    assert_eq!(e.ev(task_pinned).unwrap().state, EventState::Error);
    assert!(e.read_bytes(task_pinned).unwrap().is_empty(), "read() of an ERROR event is EOF");
    // Not retried by the scheduler.
    e.switch_out(0).unwrap();
    e.switch_in(0, 7).unwrap();
    assert_eq!(e.ev(task_pinned).unwrap().state, EventState::Error);
    // Make room, re-enable: recovers.
    e.disable(cpu_pinned).unwrap();
    e.enable(task_pinned).unwrap();
    e.check_invariants().unwrap();
    assert_eq!(e.ev(task_pinned).unwrap().state, EventState::Active);
    assert_eq!(e.read_bytes(task_pinned).unwrap().len(), 24);
}

#[test]
fn group_members_have_equal_running_and_counts_follow_rates() {
    let (mut e, core, sw) = engine("intel-icx");
    let mut next = 0;
    e.set_rate(5, "cycles", 2e9).unwrap();
    e.set_rate(5, "instructions", 1e9).unwrap();
    let g = group(&mut e, &mut next, core[0], &["cycles", "instructions", "branches"], Some(5), -1, false);
    // a software sibling joins the hardware group: it lives in the leader's epc
    let mut s = spec(&e, sw, "task-clock", Some(5), -1);
    s.group_leader = Some(g);
    e.install(next, s).unwrap();
    assert_eq!(e.ev(next).unwrap().epc, e.ev(g).unwrap().epc);
    for _ in 0..10 {
        e.switch_in(3, 5).unwrap();
        e.advance(3 * MS).unwrap();
        e.switch_out(3).unwrap();
        e.advance(MS).unwrap();
    }
    let runs: Vec<u64> = (0..4).map(|i| e.ev(g + i).unwrap().total_time_running).collect();
    let v = e.read(g).unwrap().unwrap();
    assert_eq!(v.time_running, 30 * MS);
    assert_eq!(v.time_enabled, 30 * MS, "task time only accrues while the task runs");
    assert!(runs.iter().all(|&r| r == runs[0]), "{runs:?}");
    assert_eq!(v.members[0].value, 60_000_000);
    assert_eq!(e.read(g + 1).unwrap().unwrap().members[0].value, 30_000_000);
}

#[test]
fn read_format_layouts_are_exact() {
    let (mut e, core, _) = engine("intel-icx");
    let mut next = 0;
    e.set_rate(1, "cycles", 1e9).unwrap();
    let g = group(&mut e, &mut next, core[0], &["cycles", "instructions"], Some(1), -1, false);
    e.switch_in(0, 1).unwrap();
    e.advance(2 * MS).unwrap();
    let words = |b: Vec<u8>| -> Vec<u64> { b.chunks(8).map(|c| u64::from_ne_bytes(c.try_into().unwrap())).collect() };
    let all = TF | PERF_FORMAT_ID | PERF_FORMAT_LOST;
    e.events[g as usize].as_mut().unwrap().spec.read_format = all;
    assert_eq!(words(e.read_bytes(g).unwrap()), vec![2_000_000, 2 * MS, 2 * MS, 1, 0]);
    e.events[g as usize].as_mut().unwrap().spec.read_format = all | PERF_FORMAT_GROUP;
    assert_eq!(words(e.read_bytes(g).unwrap()), vec![2, 2 * MS, 2 * MS, 2_000_000, 1, 0, 0, 2, 0]);
    e.events[g as usize].as_mut().unwrap().spec.read_format = 0;
    assert_eq!(words(e.read_bytes(g).unwrap()), vec![2_000_000]);
}

#[test]
fn hybrid_event_does_not_run_on_the_other_core_type() {
    let (mut e, core, _) = engine("adl-hybrid");
    let (pcore, _atom) = (core[0], core[1]);
    let mut next = 0;
    e.set_rate(9, "cycles", 1e9).unwrap();
    let ev = group(&mut e, &mut next, pcore, &["cycles"], Some(9), -1, false);
    e.switch_in(5, 9).unwrap(); // an E-core
    e.advance(10 * MS).unwrap();
    let epc = e.ev(ev).unwrap().epc;
    assert_eq!(e.ev(ev).unwrap().state, EventState::Inactive);
    assert!(!e.epcs[epc.0 as usize].rotate_necessary, "filtered PMUs do not ask for rotation");
    let v = e.read(ev).unwrap().unwrap();
    assert_eq!((v.time_enabled, v.time_running, v.members[0].value), (10 * MS, 0, 0));
    e.switch_out(5).unwrap();
    e.switch_in(1, 9).unwrap(); // a P-core
    e.advance(10 * MS).unwrap();
    let v = e.read(ev).unwrap().unwrap();
    assert_eq!((v.time_enabled, v.time_running, v.members[0].value), (20 * MS, 10 * MS, 10_000_000));
    // a CPU-bound cpu_core event on an E-core is refused, as x86_pmu_event_init() does
    let s = spec(&e, pcore, "cycles", None, 6);
    assert_eq!(e.install(100, s).unwrap_err().errno(), Some(Errno::ENOENT));
}

#[test]
fn open_time_group_rules() {
    let (mut e, core, sw) = engine("adl-hybrid");
    let mut next = 0;
    let g = group(&mut e, &mut next, core[0], &["cycles"], Some(1), -1, false);
    // mixing hybrid PMUs
    let mut s = spec(&e, core[1], "cycles", Some(1), -1);
    s.group_leader = Some(g);
    assert_eq!(e.install(50, s).unwrap_err().errno(), Some(Errno::EINVAL));
    // a group that cannot fit alone: 5 ref-cycles-only events on one fixed counter
    let mut s = spec(&e, core[0], "ref-cycles", Some(1), -1);
    s.group_leader = Some(g);
    e.install(51, s.clone()).unwrap();
    assert_eq!(e.install(52, s).unwrap_err().errno(), Some(Errno::EINVAL));
    // only the leader may be pinned
    let mut s = spec(&e, core[0], "branches", Some(1), -1);
    s.group_leader = Some(g);
    s.pinned = true;
    assert_eq!(e.install(53, s).unwrap_err().errno(), Some(Errno::EINVAL));
    // hardware event joining a software group moves the group to the hardware epc
    let l = 60;
    e.install(l, spec(&e, sw, "task-clock", Some(1), -1)).unwrap();
    let mut s = spec(&e, core[0], "instructions", Some(1), -1);
    s.group_leader = Some(l);
    e.install(61, s).unwrap();
    let epc = e.ev(l).unwrap().epc;
    assert_eq!(e.epcs[epc.0 as usize].pmu, core[0]);
    assert_eq!(e.ev(61).unwrap().epc, epc);
}

#[test]
fn cgroup_events_count_only_in_their_hierarchy_and_idle_cgroups_cost_nothing() {
    let run = |idle: usize| {
        let (mut e, core, _) = engine("intel-icx");
        e.add_cgroup(10, None).unwrap();
        e.add_cgroup(11, Some(10)).unwrap();
        e.set_task_cgroup(1, Some(11));
        e.set_task_cgroup(2, None);
        e.set_rate(1, "cycles", 1e9).unwrap();
        e.set_rate(2, "cycles", 1e9).unwrap();
        let mut next = 0;
        let mut s = spec(&e, core[0], "cycles", None, 0);
        s.cgroup = Some(10);
        e.install(next, s).unwrap();
        let cg = next;
        next += 1;
        for i in 0..idle {
            let mut s = spec(&e, core[0], "branches", None, (i % 2) as i32 + if i % 3 == 0 { 0 } else { 1 });
            s.cgroup = Some(100 + i as u64);
            e.install(next, s).unwrap();
            next += 1;
        }
        for i in 0..idle {
            let s = spec(&e, core[0], "branches", None, 1 + (i % 7) as i32);
            e.install(next, s).unwrap();
            next += 1;
        }
        let before = e.stats.tree.visited;
        for _ in 0..5 {
            e.switch_in(0, 1).unwrap();
            e.advance(2 * MS).unwrap();
            e.switch_in(0, 2).unwrap();
            e.advance(2 * MS).unwrap();
            e.check_invariants().unwrap();
        }
        let visited = e.stats.tree.visited - before;
        let v = e.read(cg).unwrap().unwrap();
        (v.members[0].value, v.time_running, visited)
    };
    let (count, running, visits0) = run(0);
    assert_eq!(count, 10_000_000, "counts only while the cgroup-11 task runs");
    assert_eq!(running, 10 * MS);
    let (count2, _, visits_many) = run(40);
    assert_eq!(count2, count);
    assert_eq!(visits_many, visits0, "events of idle cgroups and other CPUs are never visited");
}

#[test]
fn exclusive_group_runs_alone() {
    let (mut e, core, _) = engine("intel-icx");
    let mut next = 0;
    let a = group(&mut e, &mut next, core[0], &["branches"], None, 0, false);
    let mut s = spec(&e, core[0], "cycles", None, 0);
    s.exclusive = true;
    e.install(next, s).unwrap();
    let x = next;
    e.check_invariants().unwrap();
    assert_eq!(e.ev(a).unwrap().state, EventState::Active);
    assert_eq!(e.ev(x).unwrap().state, EventState::Inactive, "flexible list not empty: exclusive waits");
    e.advance(4 * MS).unwrap();
    assert_eq!(e.ev(x).unwrap().state, EventState::Active, "after rotation the exclusive group runs");
    assert_eq!(e.ev(a).unwrap().state, EventState::Inactive);
}

#[derive(Clone, Debug)]
enum Op {
    Open { task: Option<u32>, cpu: i32, kinds: Vec<u8>, pinned: bool },
    Close(u32),
    SwitchIn(u32, u32),
    SwitchOut(u32),
    Advance(u64),
    Rotate(u32),
    Enable(u32),
    Disable(u32),
}

const KINDS: [&str; 6] = ["cycles", "instructions", "ref-cycles", "branches", "cache-misses", "l1d_pend_miss.pending"];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (prop::option::of(0u32..4), -1i32..3, prop::collection::vec(0u8..6, 1..4), any::<bool>())
            .prop_map(|(task, cpu, kinds, pinned)| Op::Open { task, cpu: if task.is_none() && cpu < 0 { 0 } else { cpu }, kinds, pinned }),
        1 => (0u32..40).prop_map(Op::Close),
        3 => (0u32..3, 0u32..4).prop_map(|(c, t)| Op::SwitchIn(c, t)),
        1 => (0u32..3).prop_map(Op::SwitchOut),
        2 => (1u64..10_000_000).prop_map(Op::Advance),
        1 => (0u32..3).prop_map(Op::Rotate),
        1 => (0u32..40).prop_map(Op::Enable),
        1 => (0u32..40).prop_map(Op::Disable),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Invariants after every step: counters never over-committed, groups never partially
    /// on the PMU, running <= enabled, active lists consistent; equal running inside groups
    /// created whole.
    #[test]
    fn state_machine_keeps_invariants(ops in prop::collection::vec(op(), 1..60), preset in prop::sample::select(vec!["intel-skl-ht", "amd-zen", "intel-icx"])) {
        let (mut e, core, _) = engine(preset);
        let p = core[0];
        let mut next = 0u32;
        for o in ops {
            match o {
                Op::Open { task, cpu, kinds, pinned } => {
                    let names: Vec<&str> = kinds.iter().map(|&k| KINDS[k as usize]).filter(|k| e.pmus[p as usize].core_desc().unwrap().event(k).is_some()).collect();
                    if names.is_empty() { continue; }
                    let leader = next;
                    for (i, k) in names.iter().enumerate() {
                        let mut s = spec(&e, p, k, task, cpu);
                        s.pinned = pinned && i == 0;
                        s.group_leader = (i > 0).then_some(leader);
                        match e.install(next, s) {
                            Ok(()) => next += 1,
                            Err(err) => { prop_assert!(err.errno().is_some(), "{err}"); if i == 0 { break; } }
                        }
                    }
                }
                Op::Close(i) => { let _ = e.remove(i); }
                Op::SwitchIn(c, t) => { let _ = e.switch_in(c, t); }
                Op::SwitchOut(c) => { e.switch_out(c).unwrap(); }
                Op::Advance(ns) => { e.advance(ns).unwrap(); }
                Op::Rotate(c) => { e.rotate(c, p).unwrap(); }
                Op::Enable(i) => { let _ = e.enable(i); }
                Op::Disable(i) => { let _ = e.disable(i); }
            }
            if let Err(msg) = e.check_invariants() {
                prop_assert!(false, "{}", msg);
            }
        }
    }
}

#[test]
fn invariant_check_catches_unbalanced_counts_and_broken_links() {
    let (mut e, core, _) = engine("intel-icx");
    let mut next = 0;
    let l = group(&mut e, &mut next, core[0], &["cycles", "instructions"], Some(7), -1, false);
    e.switch_in(0, 7).unwrap();
    e.check_invariants().unwrap();
    let ctx = e.ev(l).unwrap().ctx;
    let epc = e.ev(l).unwrap().epc;
    // every corruption below is one the reference-count check must name
    let mut bad = e.clone();
    bad.ctxs[ctx.0 as usize].nr_events += 1;
    assert!(bad.check_invariants().unwrap_err().contains("nr_events"));
    let mut bad = e.clone();
    bad.epcs[epc.0 as usize].nr_events -= 1;
    assert!(bad.check_invariants().unwrap_err().contains("epc"));
    let mut bad = e.clone();
    bad.ctxs[ctx.0 as usize].event_list.pop();
    assert!(bad.check_invariants().is_err());
    let mut bad = e.clone();
    bad.events[l as usize].as_mut().unwrap().children.push(l);
    assert!(bad.check_invariants().unwrap_err().contains("child"));
}
