"""LBR call-stack completeness: per-process vs system-wide, before and after v6.15.

Before v6.15 a CPU-wide event had no PMU task data (it lived in the task's pmu context), so the
LBR was reset on every sched-in and system-wide `--call-graph lbr` stacks were truncated. Since
v6.15 every thread gets `task_struct::perf_ctx_data` while a CPU-wide user exists, and the stacks
are whole again. This replays the claim on one CPU: `tchain_edit` (main -> f1 -> f2 -> f3, hot in
f3) preempted round-robin by three noise tasks, sampled every 100 us.

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


def main() -> None:
    results = run()
    print(table(results))
    old = results["system_wide_pmu_context"]
    print(
        f"\nold system-wide: {old['full_percent']:.1f}% full stacks; "
        f"{old['lbr']['resets']} LBR resets over {old['switches']} switches"
    )


if __name__ == "__main__":
    main()
