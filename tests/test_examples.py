"""Each example is runnable and its claims hold."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

from perfcore import scenario

EXAMPLES = Path(__file__).parent.parent / "examples"


def load(name: str) -> dict[str, object]:
    sys.path.insert(0, str(EXAMPLES))
    try:
        return runpy.run_path(str(EXAMPLES / name))
    finally:
        sys.path.remove(str(EXAMPLES))


def test_mux_interval_scaled_counts_track_the_phases() -> None:
    ex = load("mux_interval.py")
    # the truth is the phase schedule itself: 30 busy and 30 quiet 7 ms phases
    assert ex["true_misses"]() == 30 * 5.0e7 * 0.007 + 30 * 1.0e6 * 0.007  # type: ignore[operator]
    for ms in (1, 4, 10, 25):
        r = ex["run"](ms)  # type: ignore[operator]
        assert 45 < r["running_percent"] < 60  # 8 events on 4 GP counters: about half the time
        assert abs(r["error_percent"]) < 25
    fine, coarse = ex["run"](1), ex["run"](25)  # type: ignore[operator]
    assert abs(fine["error_percent"]) <= abs(coarse["error_percent"])


SCENARIOS = sorted((EXAMPLES / "scenarios").glob("*.toml"))


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_every_scenario_file_runs(path: Path) -> None:
    report = scenario.load(path).run()
    assert report.ok, report.failures
    assert report.reads and report.description


def test_scenario_multiplexing_scaled_counts_are_true() -> None:
    report = scenario.load(EXAMPLES / "scenarios" / "multiplexing.toml").run()
    reads = {r["event"]: r for r in report.reads}
    # 6 groups of 2 on 5 usable counters: 2 groups at a time, a third of the time each
    for i in range(6):
        r = reads[f"cycles{i}"]
        assert 30 <= r["running_percent"] <= 36
        assert r["scaled"] == 3e9 * 0.4  # constant rate: scaling recovers the true count
    assert reads["branches0"]["scaled"] == 9e8 * 0.4
    assert report.stats["rotations"] == 400 // 4


def test_scenario_cgroup_counts_only_its_tasks() -> None:
    report = scenario.load(EXAMPLES / "scenarios" / "cgroup.toml").run()
    reads = {r["event"]: r for r in report.reads}
    web_ms, batch_ms = 30 + 20, 50  # from the file's schedule
    assert reads["web-cycles"]["value"] == 2e9 * web_ms / 1e3
    assert reads["web-cycles"]["time_enabled"] == web_ms * 1_000_000
    assert reads["cpu0-cycles"]["value"] == 2e9 * web_ms / 1e3 + 1e9 * batch_ms / 1e3


def test_scenario_pinned_group_too_big_is_einval() -> None:
    report = scenario.load(EXAMPLES / "scenarios" / "pinned_group_too_big.toml").run()
    assert [(e["step"], e["errno"], e["expected"]) for e in report.errors] == [("step[0]", "EINVAL", True)]
    leader = report.reads[0]
    # the 9-event group that fits (fixed cycles + 8 GP) stays pinned and counts all the time
    assert leader["running_percent"] == 100 and leader["value"] == 1e9 * 0.01


def test_scenario_inherit_counts_the_child() -> None:
    report = scenario.load(EXAMPLES / "scenarios" / "inherit.toml").run()
    reads = {r["event"]: r["value"] for r in report.reads}
    parent_ms, child_ms = 10 + 10, 30  # from the file's schedule, at 1e9 task-clock ns per second
    assert reads == {"clock": (parent_ms + child_ms) * 1_000_000, "clock-parent-only": parent_ms * 1_000_000}
    assert set(report.tasks) == {"make", "cc1"}
