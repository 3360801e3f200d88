"""examples/lbr_callstack.py reproduces the upstream claim: per-process and 6.15+ system-wide
LBR call stacks are (almost) all complete, pre-6.15 system-wide ones are clearly truncated."""

from __future__ import annotations

import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def load_example():
    spec = importlib.util.spec_from_file_location("lbr_callstack", ROOT / "examples" / "lbr_callstack.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def expected_old_full_percent(k=3, slice_ns=4_000_000, period=100_000, duration=2_000_000_000,
                              main=20_000, f1=20_000, f2=20_000, f3=3_000_000):
    """From the scenario's definition: the LBR is emptied at each sched-in of tchain_edit, so a
    sample is complete iff the current loop iteration called f1 after that sched-in (or the task
    is in main, or it is the first slice, which starts from an empty stack)."""
    loop = main + f1 + f2 + f3
    samples = full = 0
    t = period
    while t <= duration:
        s = t // slice_ns
        if s % (k + 1) == 0:
            own0 = s // (k + 1) * slice_ns
            own = own0 + (t - s * slice_ns)
            r = own % loop
            samples += 1
            if r < main or own - r + main >= own0 or own0 == 0:
                full += 1
        t += period
    return samples, 100.0 * full / samples


def test_example_prints_the_table_and_the_claim_holds(capsys):
    ex = load_example()
    ex.main()
    out = capsys.readouterr().out
    assert "system-wide event, pmu-context data" in out
    assert "main-f1-f2-f3" in out

    res = ex.run()
    for mode in ("per_process", "per_process_pmu_context", "system_wide_task_struct"):
        assert res[mode]["full_percent"] >= 99.0, (mode, res[mode])
    old = res["system_wide_pmu_context"]
    samples, pct = expected_old_full_percent()
    assert old["samples"] == samples
    assert abs(old["full_percent"] - pct) < 1e-9
    assert old["full_percent"] < 90.0
    # Truncated shapes are the suffixes of the full stack.
    assert set(old["shapes"]) <= {"main", "main-f1", "main-f1-f2", "main-f1-f2-f3", "f1", "f1-f2", "f1-f2-f3",
                                  "f2", "f2-f3", "f3"}
    assert old["shapes"].get("f3", 0) > 0
    assert res["system_wide_pmu_context"]["blobs"] == 0
    assert res["system_wide_task_struct"]["blobs"] == 4
