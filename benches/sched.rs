//! Event-core benchmarks. Part 1: the group tree (arena red-black tree) against
//! `std::collections::BTreeMap` keyed the same way, in the same run: insert, delete (by node
//! handle for the tree, by key for the map — each structure's natural removal; the tree's
//! arena is sized up front, as a context's arena is warm in steady state) and
//! first(cpu, pmu, cgroup) + iterate that subtree, at 16, 1024 and 16384 groups.
//! Keys as in spec anchors §2.1: cpu random in {0, 1}, cgroup in 0..7, one PMU.
//!
//! Part 2: a full context switch on the engine — `switch_in(cpu 0, A)` then
//! `switch_in(cpu 0, B)`, each doing `ctx_sched_out` of the previous task's context and
//! `ctx_sched_in` of the next one — with 1, 4, 16, 64 events per task (independent software
//! events, and one group), as in spec anchors §1.3 (the kernel pays ~63 ns per event per
//! switch independent, ~48 ns grouped). Reported per switch; divide by the event count.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use perfcore::ctx::groups::{GroupKey, GroupTree};
use std::collections::BTreeMap;
use std::hint::black_box;

fn keys(n: usize) -> Vec<(i32, u32, Option<u64>)> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let cg = (x >> 8) % 8;
            ((x & 1) as i32, 4, if cg == 0 { None } else { Some(cg) })
        })
        .collect()
}

fn build_tree(k: &[(i32, u32, Option<u64>)]) -> (GroupTree<u32>, Vec<perfcore::ctx::rbtree::NodeId>) {
    let mut t = GroupTree::new();
    let h = k.iter().enumerate().map(|(i, &(c, p, g))| t.insert(c, p, g, i as u32).0).collect();
    (t, h)
}

fn build_map(k: &[(i32, u32, Option<u64>)]) -> (BTreeMap<GroupKey, u32>, Vec<GroupKey>) {
    let mut m = BTreeMap::new();
    let mut ks = Vec::with_capacity(k.len());
    for (i, &(cpu, pmu, cgroup)) in k.iter().enumerate() {
        let key = GroupKey { cpu, pmu, cgroup, group_index: i as u64 + 1 };
        m.insert(key, i as u32);
        ks.push(key);
    }
    (m, ks)
}

fn group_tree(c: &mut Criterion) {
    for n in [16usize, 1024, 16384] {
        let k = keys(n);
        let mut g = c.benchmark_group(format!("group_tree/{n}"));
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function("rbtree_insert", |b| {
            b.iter_batched_ref(
                || GroupTree::<u32>::with_capacity(n),
                |t| {
                    for (i, &(cpu, p, cg)) in k.iter().enumerate() {
                        black_box(t.insert(cpu, p, cg, i as u32));
                    }
                },
                BatchSize::SmallInput,
            )
        });
        g.bench_function("btreemap_insert", |b| {
            b.iter_batched_ref(
                BTreeMap::<GroupKey, u32>::new,
                |m| {
                    for (i, &(cpu, pmu, cgroup)) in k.iter().enumerate() {
                        m.insert(GroupKey { cpu, pmu, cgroup, group_index: i as u64 + 1 }, i as u32);
                    }
                },
                BatchSize::SmallInput,
            )
        });
        g.bench_function("rbtree_delete", |b| {
            b.iter_batched_ref(
                || build_tree(&k),
                |(t, h)| {
                    for &n in h.iter() {
                        black_box(t.delete(n));
                    }
                },
                BatchSize::SmallInput,
            )
        });
        g.bench_function("btreemap_delete", |b| {
            b.iter_batched_ref(
                || build_map(&k),
                |(m, ks)| {
                    for key in ks.iter() {
                        black_box(m.remove(key));
                    }
                },
                BatchSize::SmallInput,
            )
        });
        // first(cpu=1, pmu, cgroup c) + iterate, over all 8 cgroup subtrees: n/2 elements.
        let (t, _) = build_tree(&k);
        let (m, _) = build_map(&k);
        g.throughput(Throughput::Elements(k.iter().filter(|x| x.0 == 1).count() as u64));
        g.bench_function("rbtree_first_iterate", |b| {
            b.iter(|| {
                let mut s = 0u64;
                for cg in 0..8u64 {
                    let cg = if cg == 0 { None } else { Some(cg) };
                    let mut n = t.first(1, Some(4), cg);
                    while !n.is_nil() {
                        s += u64::from(t.val(n));
                        n = t.next(n, Some(4));
                    }
                }
                black_box(s)
            })
        });
        g.bench_function("btreemap_first_iterate", |b| {
            b.iter(|| {
                let mut s = 0u64;
                for cg in 0..8u64 {
                    let cg = if cg == 0 { None } else { Some(cg) };
                    let lo = GroupKey { cpu: 1, pmu: 4, cgroup: cg, group_index: 0 };
                    let hi = GroupKey { cpu: 1, pmu: 4, cgroup: cg, group_index: u64::MAX };
                    for (_, v) in m.range(lo..=hi) {
                        s += u64::from(*v);
                    }
                }
                black_box(s)
            })
        });
        g.finish();
    }
}

fn context_switch(c: &mut Criterion) {
    use perfcore::ctx::{Engine, EventSpec};
    use perfcore::pmu::sched_ops::SoftwareSched;
    let mut g = c.benchmark_group("ctx_switch");
    for grouped in [false, true] {
        for n in [1u32, 4, 16, 64] {
            let mut e = Engine::new(2);
            let sw = e.add_pmu(1, "software", Box::new(SoftwareSched));
            let mut id = 0;
            for task in [1u32, 2] {
                let leader = id;
                for i in 0..n {
                    let spec = EventSpec {
                        task: Some(task),
                        cpu: -1,
                        pmu: sw,
                        constraint: None,
                        pinned: false,
                        exclusive: false,
                        disabled: false,
                        group_leader: (grouped && i > 0).then_some(leader),
                        cgroup: None,
                        kind: "task-clock".into(),
                        read_format: 0,
                        id: u64::from(id),
                        inherit: Default::default(),
                    };
                    e.install(id, spec).unwrap();
                    id += 1;
                }
            }
            g.throughput(Throughput::Elements(2));
            let name = if grouped { "group" } else { "independent" };
            g.bench_function(format!("{name}/{n}_events"), |b| {
                b.iter(|| {
                    e.switch_in(0, 1).unwrap();
                    e.switch_in(0, 2).unwrap();
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, group_tree, context_switch);
criterion_main!(benches);
