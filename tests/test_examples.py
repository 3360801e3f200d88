"""Each example is runnable and its claims hold."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

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
