"""Running a checked scenario on a fresh Machine, and the report of what happened: reads with
perf stat's scaling, recorded results, model errors (expected or not) and failures."""

from __future__ import annotations

import errno as errno_mod
import json
from dataclasses import dataclass, field
from typing import Any

from perfcore import abi
from perfcore._core import Attr, Event, InternalError, Machine, NotFoundError, PerfError, UsageError
from perfcore.scenario.kinds import ERROR_CLASSES
from perfcore.scenario.plan import Scenario, Step
from perfcore.scenario.steps import STEPS, Param


@dataclass
class Report:
    """What a run did: reads, recorded results, model errors (expected or not), failures, stats.

    ``ok`` is True when no step failed (every error was expected and every expected error came).
    """

    source: str
    description: str
    machine: dict[str, Any]
    tasks: dict[str, int] = field(default_factory=dict)
    cgroups: dict[str, int] = field(default_factory=dict)
    reads: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)
    steps_run: int = 0
    time_ns: int = 0

    @property
    def ok(self) -> bool:
        """True when the run had no failure."""
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-able data."""
        return {
            "source": self.source, "description": self.description, "ok": self.ok, "machine": self.machine,
            "tasks": self.tasks, "cgroups": self.cgroups, "steps_run": self.steps_run, "time_ns": self.time_ns,
            "reads": self.reads, "results": self.results, "errors": self.errors, "failures": self.failures,
            "stats": self.stats,
        }

    def to_json(self) -> str:
        """The report as indented JSON."""
        return json.dumps(self.to_dict(), indent=2)

    def format(self) -> str:
        """The report as text: a perf-stat-like table of reads, then errors, results, stats."""
        m = self.machine
        lines = [f"{self.source}: {m['preset']}, {m['nr_cpus']} CPUs, {self.steps_run} steps, "
                 f"{self.time_ns / 1e6:.3f} ms simulated: {'OK' if self.ok else 'FAILED'}"]
        if self.description:
            lines.append(f"  {self.description}")
        if self.reads:
            lines.append(f"  {'step':<10} {'event':<20} {'count':>18} {'scaled':>18} {'running':>9}")
            for r in self.reads:
                name = r["event"] + (f" ({r['label']})" if r.get("label") else "")
                if r["value"] is None:
                    lines.append(f"  {r['step']:<10} {name:<20} {'<error state>':>18}")
                    continue
                scaled = "<not counted>" if r["scaled"] is None else f"{r['scaled']:,}"
                lines.append(f"  {r['step']:<10} {name:<20} {r['value']:>18,} {scaled:>18} "
                             f"{r['running_percent']:>8.2f}%")
        for e in self.errors:
            tag = "expected" if e["expected"] else "UNEXPECTED"
            lines.append(f"  {e['step']}: {e['action']}: {tag} {e['error']}: {e['message']}")
        for r in self.results:
            lines.append(f"  {r['step']}: {r['action']} -> {r['value']}")
        for f in self.failures:
            lines.append(f"  FAILED {f['step']}: {f['action']}: {f['message']}")
        if self.stats:
            lines.append("  stats: " + ", ".join(f"{k} {v}" for k, v in self.stats.items()))
        return "\n".join(lines)


class _StepFailed(Exception):
    """The run stops at this step."""


def _error_name(e: BaseException) -> str:
    for name, cls in ERROR_CLASSES.items():
        if isinstance(e, cls):
            return name
    return type(e).__name__


class Runner:
    """Executes a Scenario on a fresh Machine, one step at a time."""

    def __init__(self, sc: Scenario) -> None:
        self.sc = sc
        self.machine = Machine(**sc.machine)
        self.pids: dict[str, int] = {}
        self.cgroups: dict[str, int] = {}
        self.events: dict[str, Event] = {}
        self.report = Report(sc.source, sc.description, {"preset": self.machine.preset,
                                                         "nr_cpus": self.machine.nr_cpus})

    def run(self) -> Report:
        """Run the setup and the steps (each ``repeat`` times) until the end or the first failure,
        then check the scheduling invariants; returns the report."""
        try:
            for step in (*self.sc.setup, *self.sc.steps):
                for _ in range(step.repeat):
                    self.execute(step)
            self.machine.check_sched()
        except _StepFailed:
            pass
        except InternalError as e:
            self.report.failures.append({"step": "end", "action": "check_sched", "message": f"InternalError: {e}"})
        r = self.report
        r.stats = dict(self.machine.stats())
        return r

    def execute(self, step: Step) -> None:
        """One execution of a step: an error goes to :meth:`failed_with`, success against an
        expectation fails the run, otherwise the result binds names and is recorded."""
        self.report.steps_run += 1
        try:
            result = self.call(step)
        except (PerfError, UsageError, NotFoundError, InternalError, ValueError, KeyError, TypeError,
                OverflowError) as e:
            self.failed_with(step, e)
            return
        if step.expects_error:
            self.fail(step, f"expected {step.expectation}, but the step succeeded")
        self.bind(step, result)

    def failed_with(self, step: Step, e: BaseException) -> None:
        """Record a model error; it fails the run unless the step expects exactly it."""
        code = e.errno if isinstance(e, PerfError) else None
        name = errno_mod.errorcode.get(code, str(code)) if code is not None else None
        cls = _error_name(e)
        expected = not isinstance(e, InternalError) and (
            (step.expect_errno is not None and code == step.expect_errno)
            or (step.expect_errno is None and step.expect_error is not None
                and isinstance(e, ERROR_CLASSES[step.expect_error])))
        self.report.errors.append({"step": step.where, "action": step.action, "error": cls, "errno": name,
                                   "message": str(e), "expected": expected})
        if not expected:
            want = f"expected {step.expectation}, got " if step.expects_error else ""
            self.fail(step, f"{want}{cls}{' ' + name if name else ''}: {e}")

    def fail(self, step: Step, message: str) -> None:
        """Record a failure of the step and stop the run."""
        self.report.failures.append({"step": step.where, "action": step.action, "message": message})
        raise _StepFailed

    def bind(self, step: Step, result: Any) -> None:
        """After a successful step: bind new names to the result, forget closed ones, and record
        the result when the step table says so."""
        spec = STEPS[step.action]
        for p in spec.params:
            if p.name not in step.params:
                continue
            if p.kind.effect == "new":
                self.names(p.kind.ref)[step.params[p.name]] = result
                (self.report.tasks if p.kind.ref == "task" else self.report.cgroups)[step.params[p.name]] = result
            elif p.kind.effect == "close":
                del self.names(p.kind.ref)[step.params[p.name]]
        if spec.record:
            entry = {"step": step.where, "action": step.action, "params": dict(step.params), "value": result}
            if step.label:
                entry["label"] = step.label
            self.report.results.append(entry)

    def names(self, ns: str | None) -> dict[str, Any]:
        """The runtime objects of a namespace: task name -> pid, cgroup name -> id, event name -> Event."""
        spaces: dict[str, dict[str, Any]] = {"task": self.pids, "cgroup": self.cgroups, "event": self.events}
        return spaces[ns or ""]

    def resolve(self, p: Param, v: Any) -> Any:
        """A parameter's runtime value: a name becomes its pid, cgroup id or Event."""
        if p.kind.ref is None or p.kind.effect == "new":
            return v
        return self.names(p.kind.ref)[v]

    def call(self, step: Step) -> Any:
        """Make the step's call: a runner action, or the Machine/Event method with the parameters
        as keywords (names resolved to pids, cgroup ids and Events)."""
        spec = STEPS[step.action]
        owner, method = spec.call.split(".")
        if owner == "Scenario":
            return getattr(self, f"do_{method}")(step)
        kwargs = {p.keyword: self.resolve(p, step.params[p.name]) if p.name in step.params else None
                  for p in spec.params if p.keyword is not None and (p.name in step.params or p.none_if_omitted)}
        target: Any = self.machine if owner == "Machine" else self.events[step.params["event"]]
        result = getattr(target, method)(**kwargs)
        self.report.time_ns += sum(step.params[p.name] for p in spec.params
                                   if p.kind.budget == "time" and p.name in step.params)
        return result

    def do_open(self, step: Step) -> Event:
        """perf_event_open() of a declared event: task -> its pid, cgroup -> a cgroup fd with
        PERF_FLAG_PID_CGROUP, group -> the open leader."""
        d = self.sc.events[step.params["event"]]
        pid = -1 if d.pid is None else d.pid
        flags = d.flags
        if d.task is not None:
            pid = self.pids[d.task]
        elif d.cgroup is not None:
            pid = self.machine.cgroup_fd(self.cgroups[d.cgroup])
            flags |= abi.PERF_FLAG_PID_CGROUP
        group = self.events[d.group] if d.group is not None else None
        ev = self.machine.perf_event_open(Attr(**d.attr), pid=pid, cpu=d.cpu, group=group, flags=flags)
        self.events[d.name] = ev
        return ev

    def do_read(self, step: Step) -> None:
        """read() of the event into the report, with perf stat's scaling."""
        name = step.params["event"]
        r = self.machine.read(self.events[name])
        entry: dict[str, Any] = {"step": step.where, "event": name}
        if step.label:
            entry["label"] = step.label
        if r is None:
            entry.update(value=None, state="ERROR")
        else:
            value, enabled, running = int(r["value"]), int(r["time_enabled"]), int(r["time_running"])
            entry.update(
                value=value, time_enabled=enabled, time_running=running, id=int(r["id"]), lost=int(r["lost"]),
                scaled=round(value * enabled / running) if running else None,
                running_percent=round(100.0 * running / enabled, 2) if enabled else 0.0,
                members=[list(mem) for mem in r["members"]],
            )
        self.report.reads.append(entry)
