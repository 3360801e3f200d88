//! Context switch between two threads of one process whose contexts are clones (every event
//! opened with `attr.inherit` on the first thread, the second made by `perf_event_init_task()`
//! with CLONE_THREAD): the optimised swap (`perf_event_context_sched_out()` finds the two
//! contexts `context_equiv()` and exchanges them) against the slow path (the same schedule
//! with the swap disabled: full `ctx_sched_out()` + `ctx_sched_in()`), at 1, 4, 16 and 64
//! independent software events per task. Each iteration is two switches (A -> B, B -> A);
//! criterion's element throughput is per switch. Anchors: spec anchors §1.3 (kernel swap
//! ~100 ns flat in the event count; slow path ~63 ns per event per switch).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use perfcore::ctx::{CloneFlags, Engine, EventSpec, InheritAttr};
use perfcore::pmu::sched_ops::SoftwareSched;
use std::hint::black_box;

/// Engine with task 1 monitored by `n` inherited events and task 2 its cloned thread.
fn cloned_threads(n: u32, optimized: bool) -> Engine {
    let mut e = Engine::new(2);
    let sw = e.add_pmu(1, "software", Box::new(SoftwareSched));
    e.optimized_switch = optimized;
    for id in 0..n {
        let spec = EventSpec {
            task: Some(1),
            cpu: -1,
            pmu: sw,
            constraint: None,
            pinned: false,
            exclusive: false,
            disabled: false,
            group_leader: None,
            cgroup: None,
            kind: "task-clock".into(),
            read_format: 0,
            id: u64::from(id),
            inherit: InheritAttr { inherit: true, ..Default::default() },
        };
        e.install(id, spec).unwrap();
    }
    e.perf_event_init_task(1, 2, CloneFlags { thread: true, clear_sighand: false }).unwrap();
    e
}

fn switch(c: &mut Criterion) {
    let mut g = c.benchmark_group("switch");
    g.throughput(Throughput::Elements(2));
    for (name, optimized) in [("swap", true), ("slow", false)] {
        for n in [1u32, 4, 16, 64] {
            let mut e = cloned_threads(n, optimized);
            e.switch_in(0, 1).unwrap();
            let before = e.stats;
            e.switch_in(0, 2).unwrap();
            e.switch_in(0, 1).unwrap();
            // the benchmark measures the path it is named after
            assert_eq!(e.stats.switch_swap - before.switch_swap, if optimized { 2 } else { 0 }, "{name}/{n}");
            g.bench_function(format!("{name}/{n}_events"), |b| {
                b.iter(|| {
                    black_box(e.switch_in(0, 2).unwrap());
                    black_box(e.switch_in(0, 1).unwrap());
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, switch);
criterion_main!(benches);
