//! PMU task data benches: global attach over 1K / 10K threads (6.15 restart walk vs a single
//! pass), global detach + grace period, and LBR save+restore per context switch through the
//! task's perf_ctx_data (with a 1512-byte memcpy pair as the floor).
//!
//! `cargo bench --bench task_data -- --warm-up-time 1 --measurement-time 2`

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use perfcore::task_data::lbr::{BlobLayout, LbrBlob, LbrCpu, LbrFormat};
use perfcore::task_data::{GlobalWalk, StdBlobAlloc, TaskDataAlloc, TaskDataTable};
use std::hint::black_box;
use std::sync::Arc;

fn cache() -> Arc<dyn TaskDataAlloc> {
    Arc::new(StdBlobAlloc::new(1512, 64).unwrap())
}

fn table(n: u32, walk: GlobalWalk) -> TaskDataTable {
    let t = TaskDataTable::with_walk(n, walk);
    for i in 0..n {
        t.spawn(i).unwrap();
    }
    t
}

fn global(c: &mut Criterion) {
    let cache = cache();
    let mut g = c.benchmark_group("task_data_global");
    g.sample_size(10);
    for n in [1_000u32, 10_000] {
        for (name, walk) in [("restart", GlobalWalk::Restart), ("single_pass", GlobalWalk::SinglePass)] {
            g.bench_with_input(BenchmarkId::new(format!("attach_{name}"), n), &n, |b, &n| {
                b.iter_batched(
                    || table(n, walk),
                    |t| {
                        t.attach_global_ctx_data(&cache).unwrap();
                        t
                    },
                    BatchSize::PerIteration,
                )
            });
        }
        g.bench_with_input(BenchmarkId::new("detach_and_grace_period", n), &n, |b, &n| {
            b.iter_batched(
                || {
                    let t = table(n, GlobalWalk::SinglePass);
                    t.attach_global_ctx_data(&cache).unwrap();
                    t
                },
                |t| {
                    t.detach_global_ctx_data().unwrap();
                    t.synchronize();
                    t
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

fn lbr_switch(c: &mut Criterion) {
    let l = BlobLayout::new(LbrFormat::ArchXsave, 32).unwrap();
    let cache: Arc<dyn TaskDataAlloc> = Arc::new(StdBlobAlloc::new(l.size, l.align).unwrap());
    let t = table(2, GlobalWalk::SinglePass);
    t.attach_global_ctx_data(&cache).unwrap();
    let mut cpu = LbrCpu::new(32);
    cpu.lbr_users = 1;
    for i in 0..16 {
        cpu.call(i, i + 100);
    }
    let mut g = c.benchmark_group("task_data_lbr");
    let mut cur = 0u32;
    g.bench_function("save_restore_per_switch", |b| {
        b.iter(|| {
            let next = cur ^ 1;
            let rg = t.rcu_read_lock();
            for (task, sched_in) in [(cur, false), (next, true)] {
                let cd = t.ctx_data(&rg, task).unwrap();
                let owner = cd.blob().addr();
                // SAFETY: single-threaded bench; this is the only code touching the blob.
                let mut blob = LbrBlob::new(unsafe { cd.blob_mut() }, l).unwrap();
                cpu.sched_task(Some((&mut blob, owner)), sched_in, 1);
            }
            cur = next;
            black_box(cpu.len())
        })
    });
    let src = vec![1u8; l.size];
    let mut dst = vec![0u8; l.size];
    g.bench_function("memcpy_1512_pair_floor", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&src));
            black_box(&mut dst)[0] ^= 1;
            let mut back = [0u8; 1512];
            back.copy_from_slice(black_box(&dst));
            black_box(back[7])
        })
    });
    g.finish();
}

criterion_group!(benches, global, lbr_switch);
criterion_main!(benches);
