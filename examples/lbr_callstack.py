"""LBR call-stack completeness: per-process vs system-wide, before and after v6.15.

Before v6.15 a CPU-wide event had no PMU task data (it lived in the task's pmu context), so the
LBR was reset on every sched-in and system-wide `--call-graph lbr` stacks were truncated. Since
v6.15 every thread gets `task_struct::perf_ctx_data` while a CPU-wide user exists, and the stacks
are whole again.

The first table comes from the real machine model: a Machine with the Skylake preset, the
`tchain_edit` task (main -> f1 -> f2 -> f3, hot in f3) pinned to CPU 0 with three noise tasks
preempting it round-robin every 4 ms, a `cycles` LBR call-stack event sampling every 100,000
cycles (1 GHz), opened with perf_event_open() and driven by Machine.run(): a per-process event,
then `perf record -a`-style events on every CPU with `task_data="pmu_context"` (6.2-6.14) and
`task_data="task_struct"` (6.15+). A sample is complete when its stack reaches `main`.

The second table is the standalone one-CPU study (`lbr_callstack_study`), with wall-clock
sampling.

Run: python examples/lbr_callstack.py
"""

from __future__ import annotations

from typing import Any

from perfcore import _core

MODES = [
    ("per_process", "per-process event, task_struct data (6.15+)"),
    ("per_process_pmu_context", "per-process event, pmu-context data (6.2-6.14)"),
    ("system_wide_pmu_context", "system-wide event, pmu-context data (6.2-6.14)"),
    ("system_wide_task_struct", "system-wide event, task_struct data (6.15+)"),
]


def run(**params: Any) -> dict[str, dict[str, Any]]:
    """Run every mode with the same parameters; {mode: study result}."""
    return {mode: _core.lbr_callstack_study(mode, **params) for mode, _ in MODES}


def table(results: dict[str, dict[str, Any]]) -> str:
    """The distribution of sampled stacks per mode, as text."""
    shapes = sorted({s for r in results.values() for s in r["shapes"]}, key=lambda s: (-s.count("-"), s))
    lines = [f"{'mode':<50} {'samples':>8} {'full %':>7}  " + "  ".join(f"{s:>14}" for s in shapes)]
    for mode, label in MODES:
        r = results[mode]
        n = r["samples"]
        cells = "  ".join(f"{100.0 * r['shapes'].get(s, 0) / n:>13.1f}%" for s in shapes)
        lines.append(f"{label:<50} {n:>8} {r['full_percent']:>7.1f}  {cells}")
    return "\n".join(lines)


MACHINE_RUNS = [
    ("per_process", "task_struct", "per-process event (Machine)"),
    ("system_wide", "pmu_context", "system-wide, task_data=pmu_context (6.2-6.14)"),
    ("system_wide", "task_struct", "system-wide, task_data=task_struct (6.15+)"),
]

NOISE_TASKS = 3
SAMPLE_PERIOD = 100_000
CYCLES_PER_SEC = 1e9


def noise_ops(i: int) -> list[Any]:
    """Noise task i: root -> g1 -> g2, loops of a different length per task (phases drift)."""
    w = 37_000 + 1_000 * i
    return [("work", w), ("call", "g1"), ("work", w), ("call", "g2"), ("work", w), "ret", "ret"]


def machine_run(target: str, task_data: str, duration_ns: int = 2_000_000_000,
                preset: str = "intel-skl-ht") -> dict[str, Any]:
    """One run on the Machine; returns the tchain_edit samples as (time, shape) plus the
    distribution of shapes, the percentage of complete stacks and the PMU task data seen."""
    m = _core.Machine(preset, task_data=task_data)
    tchain = m.spawn("tchain_edit")
    m.set_workload(tchain, "tchain_edit", cpus=[0])
    pids = [tchain]
    for i in range(NOISE_TASKS):
        p = m.spawn(f"noise{i}")
        m.set_workload(p, noise_ops(i), cpus=[0], root=f"noise{i}")
        pids.append(p)
    for p in pids:
        m.set_rate(p, "cycles", CYCLES_PER_SEC)
    attr = _core.Attr(type="hardware", config="cycles", sample_period=SAMPLE_PERIOD,
                      sample_type="ip|tid|time|cpu|period|callchain|branch_stack",
                      branch_sample_type="user|call_stack", exclude_kernel=1)
    if target == "per_process":
        events = [m.perf_event_open(attr, pid=tchain, cpu=-1)]
    else:
        events = [m.perf_event_open(attr, pid=-1, cpu=c) for c in range(m.nr_cpus)]
    m.run(duration_ns)
    samples = [(s["time"], "-".join(s["stack"])) for s in m.take_samples() if s["pid"] == tchain]
    shapes: dict[str, int] = {}
    for _, shape in samples:
        shapes[shape] = shapes.get(shape, 0) + 1
    full = sum(n for shape, n in shapes.items() if shape.startswith("main"))
    memory = m.task_data_memory()
    data = m.task_data(tchain)
    for e in events:
        e.close()
    return {
        "samples": samples,
        "shapes": shapes,
        "full_percent": 100.0 * full / len(samples),
        "objects": memory["objects"] if memory else 0,
        "tchain_task_data": data,
        "lbr": m.lbr(0),
    }


def machine_results(duration_ns: int = 2_000_000_000) -> dict[str, dict[str, Any]]:
    """The three machine runs, by label."""
    return {label: machine_run(target, td, duration_ns) for target, td, label in MACHINE_RUNS}


def machine_table(results: dict[str, dict[str, Any]]) -> str:
    """The distribution of sampled tchain_edit stacks per machine run, as text."""
    shapes = sorted({s for r in results.values() for s in r["shapes"]}, key=lambda s: (-s.count("-"), s))
    lines = [f"{'run':<50} {'samples':>8} {'full %':>7}  " + "  ".join(f"{s:>14}" for s in shapes)]
    for label, r in results.items():
        n = len(r["samples"])
        cells = "  ".join(f"{100.0 * r['shapes'].get(s, 0) / n:>13.1f}%" for s in shapes)
        lines.append(f"{label:<50} {n:>8} {r['full_percent']:>7.1f}  {cells}")
    return "\n".join(lines)


def swap_run(task_data: str, optimized: bool, threads: int = 2, slice_ns: int = 1_000_000,
             duration_ns: int = 60_000_000) -> dict[str, Any]:
    """Threads of one process with an inherited per-process LBR call-stack event alternate on
    CPU 0: with `optimized` every thread-to-thread switch swaps the two cloned contexts. Returns
    the switch counts and, per thread, the share of whole main-f1-f2-f3 stacks."""
    m = _core.Machine("intel-skl-ht", 2, task_data=task_data, optimized_switch=optimized)
    proc = m.spawn("tchain_edit")
    attr = _core.Attr(type="hardware", config="cycles", sample_period=SAMPLE_PERIOD, inherit=1,
                      sample_type="ip|tid|callchain|branch_stack", branch_sample_type="user|call_stack",
                      exclude_kernel=1)
    ev = m.perf_event_open(attr, pid=proc, cpu=-1)
    tids = [m.fork(proc, clone_thread=True) for _ in range(threads)]
    for t in tids:
        m.set_workload(t, "tchain_edit", cpus=[0])
        m.set_rate(t, "cycles", CYCLES_PER_SEC)
    m.set_slice_ns(slice_ns)
    m.run(duration_ns)
    samples = m.take_samples()
    stats = m.stats()
    ev.close()
    per_thread = {}
    for t in tids:
        mine = [s for s in samples if s["tid"] == t]
        whole = sum(1 for s in mine if s["stack"][:1] == ["main"])
        per_thread[t] = round(100.0 * whole / max(1, len(mine)), 1)
    return {"swaps": stats["switch_swap"], "slow": stats["switch_slow"], "samples": len(samples),
            "full_percent_by_tid": per_thread}


def swap_table() -> str:
    """The optimised swap against the slow path, per task-data design, as text."""
    lines = [f"{'design':<14} {'switch':<10} {'swaps':>6} {'slow':>6} {'samples':>8}  whole stacks per thread"]
    for td in ("pmu_context", "task_struct"):
        for optimized in (True, False):
            r = swap_run(td, optimized)
            per = ", ".join(f"tid {t}: {p:.1f}%" for t, p in r["full_percent_by_tid"].items())
            lines.append(f"{td:<14} {'swap' if optimized else 'slow path':<10} {r['swaps']:>6} {r['slow']:>6} "
                         f"{r['samples']:>8}  {per}")
    return "\n".join(lines)


def main() -> None:
    mres = machine_results()
    print(machine_table(mres))
    old_m = mres[MACHINE_RUNS[1][2]]
    print(f"\nMachine, old system-wide: {old_m['full_percent']:.1f}% complete stacks\n")
    print("Two threads with an inherited per-process event alternating on CPU 0 (1 ms slices, 60 ms):")
    print(swap_table() + "\n")
    results = run()
    print(table(results))
    old = results["system_wide_pmu_context"]
    print(
        f"\nold system-wide: {old['full_percent']:.1f}% full stacks; "
        f"{old['lbr']['resets']} LBR resets over {old['switches']} switches"
    )


if __name__ == "__main__":
    main()
