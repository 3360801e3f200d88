"""Scenario files: one TOML file describes one simulated machine, its named tasks, cgroups and
events, and a list of steps; ``perfcore run FILE`` runs it and prints a report
(format reference: docs/scenarios.md).

A scenario is parsed and checked completely before anything runs: unknown keys, wrong types,
unknown or not-yet-existing names, bad durations, negative numbers and exceeded limits all raise
:class:`perfcore.errors.ScenarioError` (a ``ValueError``) naming ``file:location: key``. While it
runs, an error of the model (``PerfError`` with the kernel's errno, ``UsageError``,
``NotFoundError``) fails the run at that step unless the step expects it (``expect_errno`` /
``expect_error``), in which case it is recorded and the run continues.

Every step is one entry of :data:`STEPS`: the step name, the Machine (or Event) method it calls
and the typed schema of its parameters.

Usage::

    from pathlib import Path
    from perfcore import scenario
    report = scenario.load(Path("examples/scenarios/multiplexing.toml")).run()
    print(report.format())
"""

from perfcore.errors import ScenarioError
from perfcore.scenario.kinds import Kind, parse_duration, parse_size
from perfcore.scenario.limits import (
    MAX_CGROUPS,
    MAX_EVENTS,
    MAX_EXECUTED_STEPS,
    MAX_FILE_BYTES,
    MAX_MAPPED_PAGES,
    MAX_NAME_LEN,
    MAX_NR_CPUS,
    MAX_REPEAT,
    MAX_RING_PAGES,
    MAX_SIM_NS,
    MAX_STEPS,
    MAX_TASKS,
    MAX_TOTAL_RING_PAGES,
)
from perfcore.scenario.parse import load, loads
from perfcore.scenario.plan import EventDecl, Scenario, Step
from perfcore.scenario.run import Report
from perfcore.scenario.steps import STEP_OPTIONS, STEPS, Param, StepSpec, reference

__all__ = [
    "MAX_CGROUPS",
    "MAX_EVENTS",
    "MAX_EXECUTED_STEPS",
    "MAX_FILE_BYTES",
    "MAX_MAPPED_PAGES",
    "MAX_NAME_LEN",
    "MAX_NR_CPUS",
    "MAX_REPEAT",
    "MAX_RING_PAGES",
    "MAX_SIM_NS",
    "MAX_STEPS",
    "MAX_TASKS",
    "MAX_TOTAL_RING_PAGES",
    "STEPS",
    "STEP_OPTIONS",
    "EventDecl",
    "Kind",
    "Param",
    "Report",
    "Scenario",
    "ScenarioError",
    "Step",
    "StepSpec",
    "load",
    "loads",
    "parse_duration",
    "parse_size",
    "reference",
]
