"""LBR call stacks and PMU task data on the real machine (Machine + perf_event_open + run).

The call-stack oracle is derived from the scenario's definition alone (the tchain_edit loop,
the round-robin slices and the sampling period) and the two LBR rules of spec A.3/A.5: with
task data the stack is saved and restored across switches; without it (a CPU-wide event
before 6.15) the LBR is emptied at every sched-in. The memory figures are the SLUB arithmetic
of spec B.1 re-derived in tests/test_task_data_slab.py."""

from __future__ import annotations

import errno
import importlib.util
import math
import pathlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perfcore import _core
from test_task_data_slab import PAGE, spec_order, stride

ROOT = pathlib.Path(__file__).resolve().parents[1]

SLICE, PERIOD, K = 4_000_000, 100_000, 3
MAIN, F1, F2, F3 = 20_000, 20_000, 20_000, 3_000_000
LOOP = MAIN + F1 + F2 + F3
CALLS = [MAIN, MAIN + F1, MAIN + F1 + F2]  # when f1, f2, f3 are called, from the loop start
NAMES = ["main", "f1", "f2", "f3"]
DURATION = 400_000_000


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def stack_at(own: int) -> tuple[int, int]:
    """(start of the current loop, frames above main) just before own time `own` (ops due at
    `own` itself are not applied yet: the sample describes the execution that led to it)."""
    start = (own - 1) // LOOP * LOOP
    r = own - start
    return start, sum(1 for c in CALLS if c < r)


def oracle(target: str, reset_on_sched_in: bool, duration: int = DURATION) -> list[tuple[int, str]]:
    """tchain_edit's samples as (time, shape). tchain_edit runs slices 0, K+1, 2(K+1), ...; a
    per-process event samples every PERIOD of its own time, a system-wide one every PERIOD of
    wall time (all tasks count cycles at the same rate)."""
    out = []
    if target == "per_process":
        own = PERIOD
        while True:
            q = (own - 1) // SLICE
            t = (K + 1) * q * SLICE + own - q * SLICE
            if t > duration:
                return out
            _, d = stack_at(own)
            out.append((t, "-".join(NAMES[: d + 1])))
            own += PERIOD
    for t in range(PERIOD, duration + 1, PERIOD):
        j = (t - 1) // SLICE
        if j % (K + 1):
            continue
        own0 = j // (K + 1) * SLICE
        own = own0 + t - j * SLICE
        start, d = stack_at(own)
        # frames whose call happened before this sched-in are lost when the LBR was reset
        lost = sum(1 for i in range(d) if start + CALLS[i] < own0) if reset_on_sched_in else 0
        out.append((t, "-".join(NAMES[lost : d + 1])))
    return out


def full_percent(samples: list[tuple[int, str]]) -> float:
    return 100.0 * sum(1 for _, s in samples if s.startswith("main")) / len(samples)


@pytest.fixture(scope="module")
def example():
    return load_example("lbr_callstack")


@pytest.mark.parametrize(
    "target,task_data,reset",
    [("per_process", "task_struct", False), ("per_process", "pmu_context", False),
     ("system_wide", "pmu_context", True), ("system_wide", "task_struct", False)],
)
def test_machine_call_stacks_match_the_oracle(example, target, task_data, reset):
    r = example.machine_run(target, task_data, DURATION)
    expected = oracle(target, reset)
    assert len(r["samples"]) == len(expected) == DURATION // (K + 1) // PERIOD
    assert r["samples"] == expected
    if reset:
        assert r["full_percent"] < 90.0
        assert r["shapes"].get("f3", 0) > 0, "stacks cut to the hot frame by the reset"
    else:
        assert r["full_percent"] >= 99.0


def test_example_prints_the_three_machine_runs(example, capsys):
    res = example.machine_results(200_000_000)
    labels = [label for _, _, label in example.MACHINE_RUNS]
    pp, old, new = (res[label] for label in labels)
    assert pp["full_percent"] >= 99.0 and new["full_percent"] >= 99.0
    assert old["full_percent"] == pytest.approx(full_percent(oracle("system_wide", True, 200_000_000)))
    assert old["full_percent"] < 90.0
    # 6.15+: every thread had data while the CPU-wide events existed; before: none at all.
    assert new["objects"] >= 5 and old["objects"] == 0 and pp["objects"] == 1
    assert new["tchain_task_data"]["global"] and new["tchain_task_data"]["lbr_callstack_users"] == 0
    # at 200 ms a noise task runs: tchain_edit's event is off the PMU (no user) and its stack
    # is saved in the blob (LBR_VALID)
    d = pp["tchain_task_data"]
    assert (d["refcount"], d["lbr_callstack_users"], d["lbr_stack_state"], len(d["saved"])) == (1, 0, 1, 3)
    assert old["tchain_task_data"] is None
    print(example.machine_table(res))
    assert "system-wide, task_data=pmu_context" in capsys.readouterr().out


LBR_ATTR = dict(type="hardware", config="cycles", sample_period=100_000,
                sample_type="ip|tid|callchain|branch_stack", branch_sample_type="user|call_stack",
                exclude_kernel=1)


@pytest.mark.parametrize("alloc,blob", [("kmem_cache", "legacy"), ("kzalloc", "legacy")])
def test_ten_thousand_threads_memory_equals_the_slub_arithmetic(alloc, blob):
    m = _core.Machine("intel-skl-ht", 8, task_data_alloc=alloc)
    assert m.current_pid == 3  # init, kthreadd, the caller
    for i in range(10_000):
        m.spawn(f"t{i}")
    threads = 3 + 10_000
    assert m.task_data_memory()["objects"] == 0, "nothing before the first LBR call-stack event"
    events = [m.perf_event_open(_core.Attr(**LBR_ATTR), pid=-1, cpu=c) for c in range(8)]
    mem = m.task_data_memory()
    order, per_slab = spec_order(stride(blob, alloc), 8)
    slabs = math.ceil(threads / per_slab)
    assert (mem["objects"], mem["published"], mem["global_ref"]) == (threads, threads, 8)
    assert mem["slabs"] == slabs and mem["bytes"] == slabs * (PAGE << order)
    assert mem["header_objects"] == threads and mem["header_slabs"] == math.ceil(threads / 64)
    assert 7.9 < mem["MB"] < 10.5  # "about 8 MB" for 800-byte blobs (kzalloc: 1 KiB objects)
    for e in events:
        e.close()
    after = m.task_data_memory()
    assert after["objects"] == threads and after["pending"] == threads, "RCU-deferred until a grace period"
    m.synchronize()
    after = m.task_data_memory()
    assert (after["objects"], after["header_objects"], after["pending"], after["global_ref"]) == (0, 0, 0, 0)
    assert m.task_data_shrink() == (0 if alloc == "kmem_cache" else None)


def test_fork_and_exit_while_a_cpu_wide_user_exists():
    m = _core.Machine("intel-icx", 2)
    a = m.spawn("a")
    ev = m.perf_event_open(_core.Attr(**LBR_ATTR), pid=-1, cpu=0)
    assert m.task_data(a)["global"] and m.task_data(a)["refcount"] == 1
    b = m.spawn("b")  # perf_event_fork(): allocated at fork while a global user exists
    assert m.task_data(b)["global"]
    n = m.task_data_memory()["published"]
    m.exit_task(b)
    assert m.task_data(b) is None and m.task_data_memory()["published"] == n - 1
    per_task = m.perf_event_open(_core.Attr(**LBR_ATTR), pid=a, cpu=-1)
    assert m.task_data(a)["refcount"] == 2
    ev.close()
    assert m.task_data(a)["refcount"] == 1
    assert not m.task_data(a)["global"]
    per_task.close()
    m.synchronize()
    assert m.task_data_memory()["objects"] == 0


def test_pmu_context_design_allocates_only_for_task_events():
    m = _core.Machine("adl-hybrid", task_data="pmu_context")
    a = m.spawn("a")
    cpu_wide = m.perf_event_open(_core.Attr(**LBR_ATTR), pid=-1, cpu=0)
    assert m.task_data_memory()["objects"] == 0
    ev = m.perf_event_open(_core.Attr(**LBR_ATTR), pid=a, cpu=-1)
    mem = m.task_data_memory()
    assert mem["objects"] == 1 and mem["blob_size"] == 1512 and mem["blob_align"] == 64
    d = m.task_data(a)
    assert d["refcount"] is None and d["blob_addr"] % 64 == 0
    ev.close()
    cpu_wide.close()
    assert m.task_data_memory()["objects"] == 0 and m.task_data(a) is None


@pytest.mark.parametrize("preset", ["amd-zen", "arm-biglittle", "software-only"])
def test_presets_without_lbr_refuse_branch_stacks_like_the_kernel(preset):
    m = _core.Machine(preset)
    attr = _core.Attr(**LBR_ATTR)
    if preset == "software-only":  # no hardware PMU at all: a software event asks for the stack
        attr = attr.replace(type="software", config="cpu-clock")
    with pytest.raises(_core.PerfError) as e:
        m.perf_event_open(attr, pid=-1, cpu=0)
    assert e.value.errno == errno.EOPNOTSUPP
    assert m.task_data_memory() is None


def test_bad_settings_and_calls_are_clear_errors():
    with pytest.raises(_core.UsageError, match="task_data"):
        _core.Machine("intel-icx", task_data="vmalloc")
    with pytest.raises(_core.UsageError, match="allocator"):
        _core.Machine("intel-icx", task_data_alloc="slab")
    with pytest.raises(_core.UsageError, match="lbr_depth"):
        _core.Machine("intel-icx", lbr_depth=12)
    with pytest.raises(_core.UsageError, match="no LBR"):
        _core.Machine("amd-zen", lbr_depth=16)
    m = _core.Machine("intel-icx", 2)
    p = m.spawn("w")
    with pytest.raises(_core.UsageError, match="preset"):
        m.set_workload(p, "fibonacci")
    with pytest.raises(_core.UsageError):
        m.set_workload(p, [("call", "f"), ("work", 5)])  # never returns to the root
    with pytest.raises(_core.UsageError, match="cpus"):
        m.set_workload(p, "tchain_edit", cpus=[7])
    with pytest.raises(_core.UsageError, match="slice"):
        m.set_slice_ns(0)
    # (a clock event's freq becomes a fixed period at open, as perf_swevent_init_hrtimer() does;
    # a hardware one keeps freq)
    m.perf_event_open(_core.Attr(type="hardware", config="cycles", freq=1, sample_freq=1000), pid=p, cpu=-1)
    with pytest.raises(_core.UsageError, match="freq"):
        m.run(1000)


def test_lbr_depth_bounds_the_stack():
    m = _core.Machine("adl-hybrid", 1, lbr_depth=8)
    p = m.spawn("deep")
    ops = [("work", 10)] + [("call", f"f{i}") for i in range(12)] + [("work", 1_000_000)] + ["ret"] * 12
    m.set_workload(p, ops)
    m.perf_event_open(_core.Attr(**LBR_ATTR), pid=p, cpu=-1)
    m.set_rate(p, "cycles", 1e9)
    m.run(500_000)
    lbr = m.lbr(0)
    assert len(lbr) == 8
    s = m.take_samples()[-1]
    assert s["stack"] == [f"f{i}" for i in range(3, 12)]  # 8 call sites (f3..f10), then the ip in f11
    assert s["callchain"][0] == 0xFFFFFFFFFFFFFE00  # PERF_CONTEXT_USER
    assert len(s["branch_stack"]) == 8


# --- run loop properties -------------------------------------------------------------------

tasks_st = st.lists(st.sets(st.integers(0, 3), min_size=1, max_size=4), min_size=1, max_size=6)


@given(allowed=tasks_st, slice_ns=st.integers(50_000, 3_000_000),
       chunks=st.lists(st.integers(0, 2_000_000), min_size=1, max_size=6))
def test_time_advances_exactly_and_pinned_tasks_stay_on_their_cpus(allowed, slice_ns, chunks):
    m = _core.Machine("intel-icx", 4)
    m.set_slice_ns(slice_ns)
    pids = {}
    for i, cpus in enumerate(allowed):
        p = m.spawn(f"t{i}")
        m.set_workload(p, "noise" if i % 2 else "tchain_edit", cpus=sorted(cpus), root=f"t{i}")
        pids[p] = cpus
    clock = dict(type="software", config="cpu-clock", sample_period=37_000, sample_type="tid|cpu|time")
    for c in range(4):
        m.perf_event_open(_core.Attr(**clock), pid=-1, cpu=c)
    start = m.now
    for ns in chunks:
        m.run(ns)
        for c in range(4):
            p = m.running_pid(c)
            assert p is None or c in pids[p]
    assert m.now == start + sum(chunks)
    samples = m.take_samples()
    assert len(samples) == 4 * (sum(chunks) // 37_000)  # cpu-clock counts 1e9/s on every CPU
    for s in samples:
        assert s["pid"] == 0 or s["cpu"] in pids[s["pid"]], s
        assert start < s["time"] <= m.now


@given(rates=st.lists(st.tuples(st.integers(1, 4).map(lambda x: x * 5e8), st.integers(10_000, 500_000)),
                      min_size=1, max_size=4),
       slice_ns=st.integers(100_000, 2_000_000), duration=st.integers(0, 20_000_000))
def test_sample_count_is_running_time_times_rate_over_period(rates, slice_ns, duration):
    m = _core.Machine("intel-icx", 2)
    m.set_slice_ns(slice_ns)
    evs = []
    for i, (rate, period) in enumerate(rates):
        p = m.spawn(f"t{i}")
        m.set_workload(p, "tchain_edit", cpus=[i % 2])
        m.set_rate(p, "cycles", rate)
        e = m.perf_event_open(_core.Attr(type="hardware", config="cycles", sample_period=period,
                                         read_format="total_time_running", exclude_kernel=1), pid=p, cpu=-1)
        evs.append((e, rate, period))
    m.run(duration)
    by_id: dict[int, int] = {}
    for s in m.take_samples():
        by_id[s["id"]] = by_id.get(s["id"], 0) + 1
    for e, rate, period in evs:
        running = m.read(e)["time_running"]
        expected = running * rate / 1e9 // period
        assert abs(by_id.get(e.id, 0) - expected) <= 1, (running, rate, period)


def test_memory_example_on_the_machine_matches_the_arithmetic():
    ex = load_example("lbr_task_data_memory")
    r = ex.machine_memory("adl-hybrid", "kmem_cache", 8)
    threads = 10_003
    order, per_slab = spec_order(stride("arch_xsave", "kmem_cache"), 8)
    a = r["attached"]
    assert (a["objects"], a["blob_size"], a["blob_align"]) == (threads, 1512, 64)
    assert a["slabs"] == math.ceil(threads / per_slab) and a["bytes"] == a["slabs"] * (PAGE << order)
    assert r["closed"]["objects"] == threads and r["closed"]["pending"] == threads
    assert r["released"]["objects"] == 0 and r["released"]["header_objects"] == 0
    assert r["slabs_after_shrink"] == 0


def test_affinity_change_moves_a_workload_and_exit_leaves_the_run_loop():
    m = _core.Machine("intel-icx", 2)
    p = m.spawn("w")
    m.set_workload(p, "noise", cpus=[0], root="w")
    m.run(1_000_000)
    assert (m.running_pid(0), m.running_pid(1)) == (p, None)
    m.set_affinity(p, [1])  # sched_setaffinity(): off CPU 0 at once
    m.run(1_000_000)
    assert (m.running_pid(0), m.running_pid(1)) == (None, p)
    m.exit_task(p)
    m.run(1_000_000)
    assert (m.running_pid(0), m.running_pid(1)) == (None, None)


def test_samples_reach_the_event_ring_in_the_kernel_layout():
    m = _core.Machine("intel-skl-ht", 2)
    p = m.spawn("t")
    m.set_workload(p, "tchain_edit", cpus=[0])
    m.set_rate(p, "cycles", 1e9)
    ev = m.perf_event_open(_core.Attr(
        type="hardware", config="cycles", sample_period=100_000,
        sample_type="ip|tid|time|cpu|period|callchain|branch_stack|read|id",
        read_format="total_time_enabled|total_time_running|id",
        branch_sample_type="user|call_stack", exclude_kernel=1), pid=p, cpu=-1)
    rb = ev.mmap(8)
    m.run(5_000_000)
    recs = [r for r in rb.read_records() if r["type"] == "sample"]
    logged = m.take_samples()
    assert len(recs) == len(logged) == 50
    for k, (r, s) in enumerate(zip(recs, logged), start=1):
        assert (r["ip"], r["pid"], r["time"], r["callchain"]) == (s["ip"], p, s["time"], s["callchain"])
        assert [(f, t) for f, t, _ in r["branch"]["entries"]] == s["branch_stack"]
        # PERF_SAMPLE_READ: the count at the k-th overflow is k periods (1 GHz for 100 us each)
        assert r["read"]["values"][0]["value"] == k * 100_000 == r["read"]["time_running"]
