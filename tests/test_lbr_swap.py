"""The LBR call stack across the optimised context switch, in both task-data designs.

Two threads of one process carry inherited per-process LBR call-stack events and alternate on
CPU 0. Their task contexts are clones of the same parent context, so every thread-to-thread
switch takes the optimised path (the two contexts are swapped, no event is scheduled).

- 6.2-6.14 (`task_data="pmu_context"`): the blob lives in the context's epc and
  `perf_event_swap_task_ctx_data()` / Intel's `swap_task_ctx` trade the blobs back on the swap,
  so the data follows the task and `lbr_callstack_users` stays with the context. Oracle: the
  same schedule with the optimised switch disabled gives the very same samples, and every sample
  of the hot function shows the whole main-f1-f2-f3 chain.
- 6.15+ (`"task_struct"`): the blob lives in `task_struct` and is not swapped, but
  `intel_pmu_lbr_add()` counts a per-task event's user in the blob of `event->hw.target`
  (spec task-data A.5). After a swap the running thread's context holds the *other* thread's
  inherited event, which was added (and counted) for that other thread; the incoming thread's
  own blob has no user, so `__intel_pmu_lbr_restore()` resets the LBR. The model therefore
  predicts truncated stacks for the thread that is swapped in, while the first thread (whose
  events are the ones on the PMU) keeps whole stacks; the slow path keeps every stack whole.
  (No LBR in this VM: a prediction from the spec's rules, not a hardware measurement.)"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfcore import _core

LBR_ATTR = dict(type="hardware", config="cycles", sample_period=100_000, inherit=1,
                sample_type="ip|tid|callchain|branch_stack", branch_sample_type="user|call_stack",
                exclude_kernel=1)


def run_two_threads(task_data: str, optimized: bool, slice_ns: int = 1_000_000,
                    duration_ns: int = 60_000_000, threads: int = 2) -> tuple[list[tuple[int, int, str]], dict]:
    """(time, tid, stack) of every sample and the engine statistics."""
    m = _core.Machine("intel-skl-ht", 2, task_data=task_data, optimized_switch=optimized)
    proc = m.spawn("tchain_edit")
    ev = m.perf_event_open(_core.Attr(**LBR_ATTR), pid=proc, cpu=-1)
    tids = [m.fork(proc, clone_thread=True) for _ in range(threads)]
    assert ev.children == threads
    for t in tids:
        m.set_workload(t, "tchain_edit", cpus=[0])
        m.set_rate(t, "cycles", 1e9)
    m.set_slice_ns(slice_ns)
    m.run(duration_ns)
    samples = [(s["time"], s["tid"], "-".join(s["stack"])) for s in m.take_samples()]
    stats = m.stats()
    ev.close()
    return samples, stats


def test_every_thread_switch_is_a_swap_and_the_stack_survives_with_swap_task_ctx():
    fast, fstats = run_two_threads("pmu_context", optimized=True)
    slow, sstats = run_two_threads("pmu_context", optimized=False)
    # thread-to-thread switches take the swap path when allowed, never otherwise
    assert fstats["switch_swap"] >= 50 and fstats["switch_swap"] >= fstats["switch_slow"] * 10
    assert sstats["switch_swap"] == 0 and sstats["switch_slow"] >= 50
    # with a slice that is a multiple of the sample period every thread's period restarts at
    # its slice, so even the sample instants are those of the slow path
    assert fast == slow, "the swap must be a pure optimisation"
    hot = [s for s in fast if s[2].endswith("f3")]
    assert len(hot) > 0.9 * len(fast)
    assert all(s[2] == "main-f1-f2-f3" for s in hot), {s[2] for s in hot}


def test_task_struct_design_counts_users_by_target_so_a_swapped_in_thread_loses_its_stack():
    fast, fstats = run_two_threads("task_struct", optimized=True)
    slow, sstats = run_two_threads("task_struct", optimized=False)
    assert fstats["switch_swap"] >= 50 and sstats["switch_swap"] == 0
    full = lambda xs: 100.0 * sum(1 for x in xs if x[2].startswith("main")) / len(xs)  # noqa: E731
    hot_slow = [s for s in slow if s[2].endswith("f3")]
    assert all(s[2] == "main-f1-f2-f3" for s in hot_slow), "slow path: add/del follow the running thread"
    first, second = sorted({s[1] for s in fast})
    assert first == min(s[1] for s in fast[:1]), "the first thread to run owns the events on the PMU"
    assert full([s for s in fast if s[1] == first]) == 100.0
    assert full([s for s in fast if s[1] == second]) < 90.0
    # same sample instants and threads either way: only the stacks differ
    assert [(t, tid) for t, tid, _ in fast] == [(t, tid) for t, tid, _ in slow]


@given(slice_us=st.integers(50, 3_000), threads=st.integers(2, 4))
@settings(max_examples=12, deadline=None)
def test_swap_equals_slow_path_for_any_slice_with_swap_task_ctx(slice_us, threads):
    fast, fstats = run_two_threads("pmu_context", True, slice_us * 1_000, 20_000_000, threads)
    slow, _ = run_two_threads("pmu_context", False, slice_us * 1_000, 20_000_000, threads)
    # The swap changes which (inherited) event object counts which thread's cycles, so the
    # overflow instants may differ from the slow path's; the totals cannot.
    assert abs(len(fast) - len(slow)) <= threads
    assert fstats["switch_swap"] > 0
    # every sample of the hot function carries the whole chain: no stack was lost on a swap
    assert all(s[2] == "main-f1-f2-f3" for s in fast if s[2].endswith("f3"))


def test_example_prints_the_swap_table():
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "examples" / "lbr_callstack.py"
    spec = importlib.util.spec_from_file_location("lbr_callstack", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    old_fast, old_slow = mod.swap_run("pmu_context", True), mod.swap_run("pmu_context", False)
    new_fast, new_slow = mod.swap_run("task_struct", True), mod.swap_run("task_struct", False)
    for r in (old_fast, new_fast):
        assert r["swaps"] > 50 and r["slow"] == 0
    for r in (old_slow, new_slow):
        assert r["swaps"] == 0 and r["slow"] > 50
    # the swap costs no sample, and with swap_task_ctx (6.2-6.14) no stack
    assert old_fast["samples"] == old_slow["samples"] == new_fast["samples"] == new_slow["samples"]
    for r in (old_fast, old_slow, new_slow):
        assert all(p >= 99.0 for p in r["full_percent_by_tid"].values()), r
    first, second = sorted(new_fast["full_percent_by_tid"])
    assert new_fast["full_percent_by_tid"][first] >= 99.0 > 90.0 > new_fast["full_percent_by_tid"][second]
    assert "task_struct" in mod.swap_table()
