//! Cgroup events on the Machine: per-cgroup clocks (enabled/running follow only the time the
//! cgroup or a descendant ran on the event's CPU), counts follow rates only then, moving a
//! running task, the open-path errnos of `perf_cgroup_connect()`, and a proptest of random
//! schedules against an oracle computed from the schedule alone.

use perfcore::abi::attr::PerfEventAttr;
use perfcore::abi::sample::{PERF_FORMAT_TOTAL_TIME_ENABLED, PERF_FORMAT_TOTAL_TIME_RUNNING};
use perfcore::abi::types::{PERF_FLAG_PID_CGROUP, PERF_TYPE_HARDWARE};
use perfcore::events::EventId;
use perfcore::{Errno, Machine, MachineConfig};
use proptest::prelude::*;

const MS: u64 = 1_000_000;
const ROOT: u64 = 1;

fn machine(nr_cpus: u32) -> Machine {
    Machine::new(MachineConfig { preset: "intel-icx".into(), nr_cpus, ..Default::default() }).unwrap()
}

fn cycles_attr() -> Vec<u8> {
    let mut a = PerfEventAttr::new();
    a.type_ = PERF_TYPE_HARDWARE;
    a.config = 0; // PERF_COUNT_HW_CPU_CYCLES
    a.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
    a.to_bytes(136)
}

fn open_cg(m: &mut Machine, cg: u64, cpu: i32, group: Option<EventId>) -> perfcore::Result<EventId> {
    let fd = m.cgroup_fd(cg)?;
    m.perf_event_open(&mut cycles_attr(), fd, cpu, group, PERF_FLAG_PID_CGROUP)
}

/// (count, enabled, running)
fn read(m: &mut Machine, e: EventId) -> (u64, u64, u64) {
    let v = m.read_event_value(e).unwrap().expect("not in ERROR");
    (v.members[0].value, v.time_enabled, v.time_running)
}

#[test]
fn enabled_and_running_follow_the_cgroup_and_its_descendants_only() {
    let mut m = machine(2);
    let a = m.cgroup_create("a", None).unwrap();
    let a1 = m.cgroup_create("a1", Some(a)).unwrap();
    let b = m.cgroup_create("b", None).unwrap();
    assert_eq!((a, a1, b), (2, 3, 4), "ids increase from the root's 1");
    let (pa, pb, pr) = (m.tasks.spawn("ta", 0, false), m.tasks.spawn("tb", 0, false), m.tasks.spawn("tr", 0, false));
    let pid = |m: &Machine, t| m.tasks.get(t).unwrap().pid;
    let (pa, pb, pr) = (pid(&m, pa), pid(&m, pb), pid(&m, pr));
    m.cgroup_attach(pa, a1).unwrap();
    m.cgroup_attach(pb, b).unwrap();
    assert_eq!(m.cgroup_of(pr).unwrap(), ROOT);
    for p in [pa, pb, pr] {
        m.set_rate(p, "cycles", 1e9).unwrap();
    }
    let ev: Vec<EventId> = [a, a1, b, ROOT].iter().map(|&cg| open_cg(&mut m, cg, 0, None).unwrap()).collect();
    assert_eq!(m.events.get(ev[0]).unwrap().cgroup, Some(a));
    m.switch_in(0, pa).unwrap();
    m.advance(3 * MS).unwrap();
    m.switch_in(0, pb).unwrap();
    m.advance(5 * MS).unwrap();
    m.switch_in(0, pr).unwrap();
    m.advance(7 * MS).unwrap();
    m.switch_out(0).unwrap(); // idle: the root cgroup, no count
    m.advance(2 * MS).unwrap();
    m.switch_in(0, pa).unwrap();
    m.advance(MS).unwrap();
    // a task of b on another CPU does not move CPU 0's clocks (ta, in a1, still runs there)
    m.switch_in(1, pb).unwrap();
    m.advance(MS).unwrap();
    m.sched_check().unwrap();
    let want = [(5, 5), (5, 5), (5, 5), (17, 19)]; // (running-task ms, enabled ms)
    for (e, (cnt_ms, en_ms)) in ev.iter().zip(want) {
        let (c, en, run) = read(&mut m, *e);
        assert_eq!(en, en_ms * MS, "enabled of event {}", e.0);
        assert_eq!(run, en, "all fit: running == enabled");
        assert_eq!(c, cnt_ms * MS, "count of event {}", e.0);
    }
    assert_eq!(m.cgroup_time(a, 0).unwrap(), 5 * MS);
    assert_eq!(m.cgroup_time(b, 1).unwrap(), 0, "no cgroup event on cpu 1: its clocks never ran");
}

#[test]
fn attaching_a_running_task_switches_the_cpu_cgroup_at_once() {
    let mut m = machine(1);
    let a = m.cgroup_create("a", None).unwrap();
    let b = m.cgroup_create("b", None).unwrap();
    let t = m.tasks.spawn("t", 0, false);
    let p = m.tasks.get(t).unwrap().pid;
    m.set_rate(p, "cycles", 1e9).unwrap();
    m.cgroup_attach(p, a).unwrap();
    let ea = open_cg(&mut m, a, 0, None).unwrap();
    let eb = open_cg(&mut m, b, 0, None).unwrap();
    m.switch_in(0, p).unwrap();
    m.advance(2 * MS).unwrap();
    m.cgroup_attach(p, b).unwrap();
    assert_eq!(m.sched.cpu_cgroup(0), b);
    m.advance(3 * MS).unwrap();
    assert_eq!(read(&mut m, ea), (2 * MS, 2 * MS, 2 * MS));
    assert_eq!(read(&mut m, eb), (3 * MS, 3 * MS, 3 * MS));
    m.sched_check().unwrap();
}

#[test]
fn open_path_errnos_match_perf_cgroup_connect() {
    let mut m = machine(2);
    let a = m.cgroup_create("a", None).unwrap();
    let b = m.cgroup_create("b", None).unwrap();
    let fa = m.cgroup_fd(a).unwrap();
    let fb = m.cgroup_fd(b).unwrap();
    let errno = |r: perfcore::Result<EventId>| r.unwrap_err().errno();
    let plain = m.perf_event_open(&mut cycles_attr(), -1, 0, None, 0).unwrap();
    // not a cgroup directory: fd 0, an event handle, an unopened fd
    for fd in [0, plain.0 as i32, fb + 100, 4194311] {
        assert_eq!(errno(m.perf_event_open(&mut cycles_attr(), fd, 0, None, PERF_FLAG_PID_CGROUP)), Some(Errno::EBADF));
    }
    // cgroup events need a CPU and a cgroup fd
    assert_eq!(errno(m.perf_event_open(&mut cycles_attr(), fa, -1, None, PERF_FLAG_PID_CGROUP)), Some(Errno::EINVAL));
    assert_eq!(errno(m.perf_event_open(&mut cycles_attr(), -1, 0, None, PERF_FLAG_PID_CGROUP)), Some(Errno::EINVAL));
    // all cgroups in a group must match
    let la = open_cg(&mut m, a, 0, None).unwrap();
    assert_eq!(errno(open_cg(&mut m, b, 0, Some(la))), Some(Errno::EINVAL));
    assert_eq!(errno(open_cg(&mut m, a, 0, Some(plain))), Some(Errno::EINVAL), "leader without cgroup");
    let sib = open_cg(&mut m, a, 0, Some(la)).unwrap();
    assert_eq!(m.events.get(sib).unwrap().group_leader, la);
    // a second fd of the same directory names the same cgroup
    let fa2 = m.cgroup_fd(a).unwrap();
    assert_ne!(fa2, fa);
    assert!(m.perf_event_open(&mut cycles_attr(), fa2, 0, Some(la), PERF_FLAG_PID_CGROUP).is_ok());
    // an unknown cgroup has no fd
    assert!(m.cgroup_fd(99).is_err());
}

#[test]
fn sched_in_visits_do_not_grow_with_events_of_idle_cgroups() {
    let run = |idle: u64| {
        let mut m = machine(2);
        let a = m.cgroup_create("a", None).unwrap();
        let t = m.tasks.spawn("t", 0, false);
        let p = m.tasks.get(t).unwrap().pid;
        let u = m.tasks.spawn("u", 0, false);
        let q = m.tasks.get(u).unwrap().pid;
        m.cgroup_attach(p, a).unwrap();
        open_cg(&mut m, a, 0, None).unwrap();
        for i in 0..idle {
            let cg = m.cgroup_create(&format!("idle{i}"), None).unwrap();
            open_cg(&mut m, cg, (i % 2) as i32, None).unwrap();
        }
        let before = m.sched_stats().tree.visited;
        for _ in 0..5 {
            m.switch_in(0, p).unwrap();
            m.advance(MS).unwrap();
            m.switch_in(0, q).unwrap();
            m.advance(MS).unwrap();
        }
        m.sched_stats().tree.visited - before
    };
    assert_eq!(run(30), run(0));
}

#[derive(Clone, Debug)]
enum Op {
    In(u32, usize),
    Out(u32),
    Advance(u64),
    Attach(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u32..2, 0usize..4).prop_map(|(c, t)| Op::In(c, t)),
        1 => (0u32..2).prop_map(Op::Out),
        4 => (0u64..5 * MS).prop_map(Op::Advance),
        1 => (0usize..4, 0usize..4).prop_map(|(t, g)| Op::Attach(t, g)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    /// Random switches, moves and time on 2 CPUs; one event per cgroup per CPU (all fit).
    /// Oracle: an event on (cpu, cg) is enabled (and running) for every ns during which the
    /// cgroup of the task on that CPU (the root while idle) is cg or below it, and counts
    /// rate(task) per ns of that time.
    #[test]
    fn cgroup_times_and_counts_match_the_schedule(init in prop::collection::vec(0usize..4, 4), ops in prop::collection::vec(op(), 1..40)) {
        let mut m = machine(2);
        let a = m.cgroup_create("a", None).unwrap();
        let a1 = m.cgroup_create("a1", Some(a)).unwrap();
        let b = m.cgroup_create("b", None).unwrap();
        let cgs = [ROOT, a, a1, b];
        let parent = |c: u64| match c { x if x == a1 => Some(a), x if x == ROOT => None, _ => Some(ROOT) };
        let under = |mut c: u64, anc: u64| loop {
            if c == anc { return true; }
            match parent(c) { Some(p) => c = p, None => return false }
        };
        let pids: Vec<i32> = (0..4).map(|i| { let t = m.tasks.spawn(&format!("t{i}"), 0, false); m.tasks.get(t).unwrap().pid }).collect();
        let mut cg_of = [ROOT; 4];
        for (i, &g) in init.iter().enumerate() {
            m.cgroup_attach(pids[i], cgs[g]).unwrap();
            cg_of[i] = cgs[g];
            m.set_rate(pids[i], "cycles", (i as f64 + 1.0) * 1e9).unwrap();
        }
        let mut evs = Vec::new();
        for cpu in 0..2u32 {
            for &cg in &cgs {
                evs.push((cpu, cg, open_cg(&mut m, cg, cpu as i32, None).unwrap()));
            }
        }
        let mut cur: [Option<usize>; 2] = [None, None];
        let mut want = vec![(0u64, 0u64); evs.len()]; // (count, enabled)
        let mut steps = 0u64; // counts are f64 rate * seconds: allow 1 of rounding per advance
        for o in ops {
            match o {
                Op::In(c, t) => {
                    let r = m.switch_in(c, pids[t]);
                    if cur.iter().enumerate().any(|(oc, x)| *x == Some(t) && oc as u32 != c) {
                        prop_assert!(r.is_err());
                    } else {
                        r.unwrap();
                        cur[c as usize] = Some(t);
                    }
                }
                Op::Out(c) => { m.switch_out(c).unwrap(); cur[c as usize] = None; }
                Op::Attach(t, g) => { m.cgroup_attach(pids[t], cgs[g]).unwrap(); cg_of[t] = cgs[g]; }
                Op::Advance(dt) => {
                    m.advance(dt).unwrap();
                    steps += 1;
                    for (i, (cpu, cg, _)) in evs.iter().enumerate() {
                        let task = cur[*cpu as usize];
                        let now_cg = task.map_or(ROOT, |t| cg_of[t]);
                        if under(now_cg, *cg) {
                            want[i].1 += dt;
                            want[i].0 += task.map_or(0, |t| (t as u64 + 1) * dt);
                        }
                    }
                }
            }
            m.sched_check().unwrap();
        }
        for (i, (cpu, cg, e)) in evs.iter().enumerate() {
            let (c, en, run) = read(&mut m, *e);
            prop_assert_eq!(en, want[i].1, "enabled, cpu {} cgroup {}", cpu, cg);
            prop_assert_eq!(run, en);
            prop_assert!(c.abs_diff(want[i].0) <= steps, "count {} want {}, cpu {} cgroup {}", c, want[i].0, cpu, cg);
        }
    }
}

fn branches_attr() -> Vec<u8> {
    let mut a = PerfEventAttr::new();
    a.type_ = PERF_TYPE_HARDWARE;
    a.config = 4; // PERF_COUNT_HW_BRANCH_INSTRUCTIONS
    a.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
    a.to_bytes(136)
}

#[test]
fn multiplexed_cgroup_events_share_the_counters_only_while_their_cgroup_runs() {
    let mut m = machine(1);
    let a = m.cgroup_create("a", None).unwrap();
    let b = m.cgroup_create("b", None).unwrap();
    let ta = m.tasks.spawn("ta", 0, false);
    let tb = m.tasks.spawn("tb", 0, false);
    let (pa, pb) = (m.tasks.get(ta).unwrap().pid, m.tasks.get(tb).unwrap().pid);
    m.cgroup_attach(pa, a).unwrap();
    m.cgroup_attach(pb, b).unwrap();
    let fd = m.cgroup_fd(a).unwrap();
    // 12 GP-only events for 8 GP counters: rotation while a runs
    let evs: Vec<EventId> =
        (0..12).map(|_| m.perf_event_open(&mut branches_attr(), fd, 0, None, PERF_FLAG_PID_CGROUP).unwrap()).collect();
    for _ in 0..5 {
        m.switch_in(0, pa).unwrap();
        m.advance(8 * MS).unwrap();
        m.switch_in(0, pb).unwrap();
        m.advance(8 * MS).unwrap();
        m.sched_check().unwrap();
    }
    let mut sum_running = 0;
    for e in &evs {
        let (_, en, run) = read(&mut m, *e);
        assert_eq!(en, 40 * MS, "enabled = the time cgroup a ran");
        assert!(run < en && run > 0, "multiplexed: 0 < running {run} < enabled {en}");
        sum_running += run;
    }
    assert_eq!(sum_running, 8 * 40 * MS, "8 counters busy exactly while a runs");
}

#[test]
fn a_plain_sibling_of_a_cgroup_leader_runs_with_the_group_but_keeps_the_cpu_clock() {
    // The kernel checks cgroups only for cgroup events (perf_cgroup_connect()), so a non-cgroup
    // event may join a cgroup leader's group; the group goes on by the leader's cgroup match,
    // and the sibling's own times use its (CPU) context clock (perf_event_time()).
    let mut m = machine(1);
    let a = m.cgroup_create("a", None).unwrap();
    let ta = m.tasks.spawn("ta", 0, false);
    let tb = m.tasks.spawn("tb", 0, false);
    let (pa, pb) = (m.tasks.get(ta).unwrap().pid, m.tasks.get(tb).unwrap().pid);
    m.cgroup_attach(pa, a).unwrap();
    m.set_rate(pa, "branches", 1e9).unwrap();
    m.set_rate(pb, "branches", 1e9).unwrap();
    let l = open_cg(&mut m, a, 0, None).unwrap();
    let s = m.perf_event_open(&mut branches_attr(), -1, 0, Some(l), 0).unwrap();
    m.switch_in(0, pa).unwrap();
    m.advance(3 * MS).unwrap();
    m.switch_in(0, pb).unwrap();
    m.advance(5 * MS).unwrap();
    let (c, en, run) = read(&mut m, s);
    assert_eq!((en, run), (8 * MS, 3 * MS));
    assert!(c.abs_diff(3 * MS) <= 2, "counts only while the group is on: {c}");
    assert_eq!(read(&mut m, l).1, 3 * MS, "the leader's enabled follows cgroup a");
}
