//! The run loop: 200 ms of simulated time of the LBR call-stack scenario (tchain_edit and three
//! noise tasks pinned to CPU 0, 4 ms slices, a cycles LBR call-stack event sampling every
//! 100,000 cycles at 1 GHz) per-process and system-wide in both task-data designs.
//!
//! `cargo bench --bench sim -- --warm-up-time 1 --measurement-time 3`

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use perfcore::abi::attr::PerfEventAttr;
use perfcore::abi::sample::*;
use perfcore::abi::types::PERF_TYPE_HARDWARE;
use perfcore::abi::AttrFlag;
use perfcore::task_data::callstack::{CallScript, Op};
use perfcore::task_data::TaskDataDesign;
use perfcore::{Machine, MachineConfig};

fn scenario(design: TaskDataDesign, system_wide: bool) -> Machine {
    let cfg = MachineConfig { preset: "intel-skl-ht".into(), task_data: design, ..Default::default() };
    let mut m = Machine::new(cfg).unwrap();
    let uid = m.caller.uid;
    let t = m.spawn("tchain_edit", uid, false).unwrap();
    let pid = m.tasks.get(t).unwrap().pid;
    m.set_workload(pid, CallScript::tchain_edit(20_000, 20_000, 20_000, 3_000_000).unwrap(), Some(&[0])).unwrap();
    m.set_rate(pid, "cycles", 1e9).unwrap();
    for i in 0..3u64 {
        let n = m.spawn("noise", uid, false).unwrap();
        let np = m.tasks.get(n).unwrap().pid;
        let w = 37_000 + 1_000 * i;
        let names = vec!["noise".to_string(), "g1".into(), "g2".into()];
        let ops = vec![Op::Work(w), Op::Call(1), Op::Work(w), Op::Call(2), Op::Work(w), Op::Ret, Op::Ret];
        m.set_workload(np, CallScript::new(names, ops).unwrap(), Some(&[0])).unwrap();
        m.set_rate(np, "cycles", 1e9).unwrap();
    }
    let mut a = PerfEventAttr::new();
    a.type_ = PERF_TYPE_HARDWARE;
    a.sample_period = 100_000;
    a.sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_CALLCHAIN | PERF_SAMPLE_BRANCH_STACK;
    a.branch_sample_type = PERF_SAMPLE_BRANCH_USER | PERF_SAMPLE_BRANCH_CALL_STACK;
    a.set_flag(AttrFlag::ExcludeKernel, true);
    if system_wide {
        for c in 0..m.nr_cpus() as i32 {
            m.perf_event_open(&mut a.to_bytes(136), -1, c, None, 0).unwrap();
        }
    } else {
        m.perf_event_open(&mut a.to_bytes(136), pid, -1, None, 0).unwrap();
    }
    m
}

fn run(c: &mut Criterion) {
    let mut g = c.benchmark_group("machine_run_200ms");
    g.sample_size(10);
    for (name, design, sw) in [
        ("per_process", TaskDataDesign::TaskStruct, false),
        ("system_wide_pmu_context", TaskDataDesign::PmuContext, true),
        ("system_wide_task_struct", TaskDataDesign::TaskStruct, true),
    ] {
        g.bench_function(name, |b| {
            b.iter_batched(
                || scenario(design, sw),
                |mut m| {
                    m.run(200_000_000).unwrap();
                    m.take_samples().len()
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, run);
criterion_main!(benches);
