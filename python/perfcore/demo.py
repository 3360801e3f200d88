"""The built-in scenario behind ``perfcore demo``: what the model can do, shown on a machine.

Each capability adds a section; every figure printed is computed by the model at run time.
"""

from __future__ import annotations

import json
from typing import Any

import perfcore as pc


def _open_cases() -> list[tuple[str, pc.Attr, dict[str, Any]]]:
    sw = dict(type="software")
    return [
        ("task-clock, counting", pc.Attr(**sw, config="task-clock", disabled=True), dict(pid=0)),
        ("cpu-clock sampling, ip|tid|time", pc.Attr(**sw, config="cpu-clock", sample_period=100_000,
                                                     sample_type="ip|tid|time"), dict(pid=0)),
        ("page-faults, CPU-wide on cpu 0", pc.Attr(**sw, config="page-faults"), dict(pid=-1, cpu=0)),
        ("pid -1 and cpu -1", pc.Attr(**sw, config="cpu-clock"), dict(pid=-1, cpu=-1)),
        ("unknown sample_type bit 25", pc.Attr(**sw, config="cpu-clock", sample_type=1 << 25), dict(pid=0)),
        ("attr.size 63", pc.Attr(**sw, config="cpu-clock", size=63), dict(pid=0)),
        ("freq 200 kHz > max_sample_rate", pc.Attr(**sw, config="cpu-clock", freq=True, sample_freq=200_000),
         dict(pid=0)),
        ("branch stack on a software event", pc.Attr(**sw, config="cpu-clock", sample_type="branch_stack",
                                                      branch_sample_type="any"), dict(pid=0)),
        ("sigtrap without remove_on_exec", pc.Attr(**sw, config="dummy", sigtrap=True), dict(pid=0)),
        ("hardware cycles (no core PMU)", pc.Attr(type="hardware", config="cycles"), dict(pid=0)),
        ("sample_max_stack 200 > 127", pc.Attr(**sw, config="cpu-clock", sample_type="callchain",
                                                sample_max_stack=200), dict(pid=0)),
    ]


def report() -> dict[str, Any]:
    """Build the demo report as plain data."""
    m = pc.Machine("software-only", nr_cpus=8)
    opens = []
    for label, attr, kw in _open_cases():
        try:
            ev = m.perf_event_open(attr, **kw)
            opens.append({"case": label, "result": f"ok: event id {ev.id} on PMU {ev.pmu}, state {ev.state}"})
        except pc.PerfError as e:
            opens.append({"case": label, "result": str(e)})
    return {
        "machine": {"preset": m.preset, "nr_cpus": m.nr_cpus, "pmus": m.pmus(), "sysctl": m.sysctl()},
        "perf_event_open": opens,
        "attr_bytes_ver8": pc.Attr(type="software", config="cpu-clock").to_bytes().hex(),
    }


def run(json_output: bool = False) -> int:
    """Print the report; returns the exit code."""
    rep = report()
    if json_output:
        print(json.dumps(rep, indent=2))
        return 0
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # plain text without rich
        _print_plain(rep)
        return 0
    con = Console()
    mach = rep["machine"]
    con.print(f"[bold]perfcore {pc.__version__}[/bold]: model of the Linux 6.18 perf_events core")
    con.print(f"machine preset [cyan]{mach['preset']}[/cyan], {mach['nr_cpus']} CPUs, PMUs: "
              + ", ".join(f"{p['name']} (type {p['type']})" for p in mach["pmus"]))
    t = Table(title="perf_event_open(): the model's answers (errnos as Linux 6.18 gives them)")
    t.add_column("case")
    t.add_column("result")
    for row in rep["perf_event_open"]:
        t.add_row(row["case"], row["result"])
    con.print(t)
    return 0


def _print_plain(rep: dict[str, Any]) -> None:
    mach = rep["machine"]
    print(f"perfcore {pc.__version__}: preset {mach['preset']}, {mach['nr_cpus']} CPUs")
    for row in rep["perf_event_open"]:
        print(f"  {row['case']:<40} {row['result']}")
