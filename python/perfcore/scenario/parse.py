"""Loading a scenario: size cap, UTF-8, TOML, then every table checked (types, ranges, known
keys) and the steps walked in order with the names alive at each one, all before anything runs.
Every problem is a ScenarioError naming ``file:location: key``."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from perfcore import abi
from perfcore._core import Attr, Machine, PerfError
from perfcore.errors import ScenarioError
from perfcore.scenario.kinds import (
    BOOL,
    CGROUP,
    EVENT,
    I32_MAX,
    NEW_CGROUP,
    NEW_TASK,
    RATE,
    TASK,
    TEXT,
    U64_MAX,
    Bad,
    Ctx,
    Kind,
    check_int,
    choice_kind,
    int_kind,
    quote,
    show,
)
from perfcore.scenario.limits import (
    MAX_CGROUPS,
    MAX_EVENTS,
    MAX_EXECUTED_STEPS,
    MAX_FILE_BYTES,
    MAX_MAPPED_PAGES,
    MAX_NR_CPUS,
    MAX_SIM_NS,
    MAX_STEPS,
    MAX_TASKS,
    MAX_TOTAL_RING_PAGES,
)
from perfcore.scenario.plan import EventDecl, Scenario, Step
from perfcore.scenario.steps import STEP_OPTIONS, STEPS


class _Parser:
    """Checks a decoded TOML document and builds the Scenario (all checks before any run)."""

    def __init__(self, source: str, doc: dict[str, Any]) -> None:
        self.source = source
        self.doc = doc

    def bad(self, where: str, key: str, reason: str) -> ScenarioError:
        """The error for a problem at ``where``/``key`` of this file."""
        return ScenarioError(self.source, where, key, reason)

    def table(self, v: Any, where: str, key: str, allowed: Mapping[str, Any]) -> dict[str, Any]:
        """``v`` must be a table whose keys are all in ``allowed``."""
        if not isinstance(v, dict):
            raise self.bad(where, key, f"must be a table, not {type(v).__name__}")
        for k in v:
            if k not in allowed:
                raise self.bad(where, f"{key}.{quote(k)}" if key else quote(k),
                               f"unknown key (allowed: {', '.join(allowed) or 'none'})")
        return v

    def tables(self, key: str, cap: int) -> list[dict[str, Any]]:
        """The top-level array of tables ``[[key]]`` (empty when absent), at most ``cap`` long."""
        v = self.doc.get(key, [])
        if not isinstance(v, list):
            raise self.bad("", key, f"must be an array of tables ([[{key}]])")
        if len(v) > cap:
            raise self.bad("", key, f"{len(v)} tables exceed the limit of {cap}")
        for i, t in enumerate(v):
            if not isinstance(t, dict):
                raise self.bad(f"{key}[{i}]", "", f"must be a table, not {show(t)}")
        return v

    def value(self, kind: Kind, v: Any, ctx: Ctx, where: str, key: str) -> Any:
        """``v`` checked and normalised by its kind."""
        try:
            return kind.check(v, ctx)
        except Bad as e:
            raise self.bad(where, key, str(e)) from None

    def parse(self) -> Scenario:
        """Check every table, build the setup and the steps, then walk them with :class:`_Checker`."""
        self.table(self.doc, "", "", {"description": 1, "machine": 1, "task": 1, "cgroup": 1, "event": 1, "step": 1})
        description = self.doc.get("description", "")
        if not isinstance(description, str) or len(description) > 4096:
            raise self.bad("", "description", "must be a string of at most 4096 characters")
        kwargs, ctx = self.machine()
        setup: list[Step] = []
        for i, t in enumerate(self.tables("cgroup", MAX_CGROUPS)):
            setup.append(self.cgroup(t, f"cgroup[{i}]", ctx))
        for i, t in enumerate(self.tables("task", MAX_TASKS)):
            setup.extend(self.task(t, f"task[{i}]", ctx))
        events: dict[str, EventDecl] = {}
        for i, t in enumerate(self.tables("event", MAX_EVENTS)):
            decl = self.event(t, f"event[{i}]")
            if decl.name in events:
                raise self.bad(f"event[{i}]", "name", f"event {decl.name!r} is declared twice")
            events[decl.name] = decl
            if decl.at_start:
                setup.append(Step(f"event[{i}]", "open", {"event": decl.name}, keys={"event": "name"}))
        raw_steps = self.tables("step", MAX_STEPS)
        steps = tuple(self.step(t, f"step[{i}]", ctx) for i, t in enumerate(raw_steps))
        scenario = Scenario(self.source, description, kwargs, events, tuple(setup), steps)
        _Checker(scenario).check()
        return scenario

    def machine(self) -> tuple[dict[str, Any], Ctx]:
        """The ``[machine]`` table: checked arguments, and a probe Machine built from them (no
        run) for the values later checks need: CPU count, PMU names, sysctl names."""
        kinds: dict[str, Kind] = {
            "preset": choice_kind("preset", lambda _c: frozenset(n for n, _ in Machine.presets()), "a preset"),
            "nr_cpus": int_kind(1, MAX_NR_CPUS), "privileged": BOOL, "perf_event_paranoid": int_kind(-1, I32_MAX),
            "perf_event_max_sample_rate": int_kind(0, I32_MAX), "perf_event_max_stack": int_kind(0, I32_MAX),
            "perf_event_mlock_kb": int_kind(0, I32_MAX), "trace_pmu": BOOL, "allow_non_pow2_aux": BOOL,
            "optimized_switch": BOOL,
        }
        t = self.table(self.doc.get("machine", {}), "", "machine", kinds)
        probe_ctx = Ctx(1, frozenset(), frozenset())
        kwargs = {k: self.value(kinds[k], v, probe_ctx, "machine", k) for k, v in t.items()}
        try:
            probe = Machine(**kwargs)
        except (PerfError, ValueError, KeyError, TypeError, OverflowError) as e:
            raise self.bad("machine", "", f"the model rejects it: {e}") from None
        ctx = Ctx(probe.nr_cpus, frozenset(str(p["name"]) for p in probe.pmus()), frozenset(probe.sysctl()))
        return kwargs, ctx

    def cgroup(self, t: dict[str, Any], where: str, ctx: Ctx) -> Step:
        """A ``[[cgroup]]`` table: a cgroup_create setup step."""
        self.table(t, where, "", {"name": 1, "parent": 1})
        if "name" not in t:
            raise self.bad(where, "name", "missing")
        params = {"cgroup": self.value(NEW_CGROUP, t["name"], ctx, where, "name")}
        if "parent" in t:
            params["parent"] = self.value(CGROUP, t["parent"], ctx, where, "parent")
        return Step(where, "cgroup_create", params, keys={"cgroup": "name", "parent": "parent"})

    def task(self, t: dict[str, Any], where: str, ctx: Ctx) -> list[Step]:
        """A ``[[task]]`` table: spawn, cgroup_attach and set_rate setup steps."""
        self.table(t, where, "", {"name": 1, "comm": 1, "uid": 1, "kernel_thread": 1, "cgroup": 1, "rates": 1})
        if "name" not in t:
            raise self.bad(where, "name", "missing")
        name = self.value(NEW_TASK, t["name"], ctx, where, "name")
        spawn = {p.name: self.value(p.kind, t[p.name], ctx, where, p.name)
                 for p in STEPS["spawn"].params if p.name != "task" and p.name in t}
        out = [Step(where, "spawn", {"task": name, "comm": name, **spawn}, keys={"task": "name", "comm": "comm"})]
        if "cgroup" in t:
            out.append(Step(where, "cgroup_attach", {"task": name,
                                                    "cgroup": self.value(CGROUP, t["cgroup"], ctx, where, "cgroup")},
                            keys={"task": "name", "cgroup": "cgroup"}))
        rates = t.get("rates", {})
        if not isinstance(rates, dict):
            raise self.bad(where, "rates", 'must be a table of event kind = events per second ({ cycles = 3e9 })')
        for kind, per_sec in rates.items():
            key = f"rates.{quote(kind)}"
            out.append(Step(where, "set_rate", {"task": name, "event_name": self.value(TEXT, kind, ctx, where, key),
                                                "per_sec": self.value(RATE, per_sec, ctx, where, key)},
                            keys={"task": "name"}))
        return out

    def event(self, t: dict[str, Any], where: str) -> EventDecl:
        """An ``[[event]]`` table; its attr is built once here so a bad field fails at load."""
        keys = {"name": 1, "attr": 1, "task": 1, "pid": 1, "cgroup": 1, "cpu": 1, "group": 1, "flags": 1, "at_start": 1}
        self.table(t, where, "", keys)
        ctx = Ctx(1, frozenset(), frozenset())
        if "name" not in t:
            raise self.bad(where, "name", "missing")
        name = self.value(EVENT, t["name"], ctx, where, "name")
        targets = [k for k in ("task", "pid", "cgroup") if k in t]
        if len(targets) > 1:
            raise self.bad(where, targets[1], f"give one of task, pid or cgroup, not {' and '.join(targets)}")
        attr = t.get("attr", {})
        if not isinstance(attr, dict):
            raise self.bad(where, "attr", "must be a table of perf_event_attr fields ({ type = \"software\", ... })")
        for k, v in attr.items():
            if isinstance(v, bool) or isinstance(v, int | str):
                continue
            raise self.bad(where, f"attr.{quote(k)}", f"{show(v)} is not an integer, boolean or string")
        try:
            Attr(**attr)
        except (ValueError, TypeError, OverflowError, KeyError) as e:
            raise self.bad(where, "attr", str(e)) from None
        flags = t.get("flags", 0)
        try:
            flags = self.open_flags(flags)
        except Bad as e:
            raise self.bad(where, "flags", str(e)) from None
        return EventDecl(
            name=name,
            attr=dict(attr),
            task=self.value(TASK, t["task"], ctx, where, "task") if "task" in t else None,
            pid=self.value(int_kind(-1, I32_MAX), t["pid"], ctx, where, "pid") if "pid" in t else None,
            cgroup=self.value(CGROUP, t["cgroup"], ctx, where, "cgroup") if "cgroup" in t else None,
            cpu=self.value(int_kind(-1, I32_MAX), t.get("cpu", -1), ctx, where, "cpu"),
            group=self.value(EVENT, t["group"], ctx, where, "group") if "group" in t else None,
            flags=flags,
            at_start=self.value(BOOL, t.get("at_start", True), ctx, where, "at_start"),
        )

    @staticmethod
    def open_flags(v: Any) -> int:
        """perf_event_open() flags from an integer or names joined by ``|``."""
        if isinstance(v, str):
            names = abi.NAMES["open_flags"]
            bits = 0
            for part in filter(None, (p.strip() for p in v.split("|"))):
                if part not in names:
                    raise Bad(f"unknown flag {part!r} (known: {', '.join(names)})")
                bits |= names[part]
            return bits
        return check_int(v, 0, U64_MAX)

    def step(self, t: dict[str, Any], where: str, ctx: Ctx) -> Step:
        """A ``[[step]]`` table: exactly one action plus options."""
        actions = [k for k in t if k in STEPS]
        unknown = [k for k in t if k not in STEPS and k not in STEP_OPTIONS]
        if unknown:
            raise self.bad(where, quote(unknown[0]), f"unknown step or option (steps: {', '.join(STEPS)}; "
                                              f"options: {', '.join(STEP_OPTIONS)})")
        if len(actions) != 1:
            raise self.bad(where, "", f"a step has exactly one action, found {len(actions)}: {', '.join(actions)}"
                           if actions else f"a step has exactly one action ({', '.join(STEPS)})")
        action = actions[0]
        opts = {k: self.value(STEP_OPTIONS[k][0], v, ctx, where, k) for k, v in t.items() if k != action}
        if opts.get("expect_errno") is not None and opts.get("expect_error", "PerfError") != "PerfError":
            raise self.bad(where, "expect_error", "an expected errno is a PerfError")
        step = self.step_from(where, action, t[action], ctx)
        expects = "expect_errno" in opts or "expect_error" in opts
        if opts.get("repeat", 1) > 1:
            if expects:
                raise self.bad(where, "repeat", "cannot be combined with expect_errno or expect_error")
            if any(p.kind.effect for p in STEPS[action].params):
                raise self.bad(where, "repeat", f"{action} changes names (it cannot run twice)")
        return Step(where, action, step.params, opts.get("expect_errno"), opts.get("expect_error"),
                    opts.get("repeat", 1), opts.get("label"))

    def step_from(self, where: str, action: str, v: Any, ctx: Ctx) -> Step:
        """An action's value (a parameter table, or the shorthand's scalar) checked against the
        step table."""
        spec = STEPS[action]
        if not isinstance(v, dict):
            if spec.shorthand is not None:
                v = {spec.shorthand: v}
            elif not spec.params and v is True:
                v = {}
            else:
                raise self.bad(where, action, "must be a table of parameters"
                               + (" (or true)" if not spec.params else ""))
        allowed = {p.name: p for p in spec.params}
        self.table(v, where, action, allowed)
        params: dict[str, Any] = {}
        for p in spec.params:
            if p.name in v:
                params[p.name] = self.value(p.kind, v[p.name], ctx, where, f"{action}.{p.name}")
            elif p.required:
                raise self.bad(where, f"{action}.{p.name}", f"missing ({p.kind.doc})")
        for p in spec.params:
            if p.default_from is not None and p.name not in params:
                params[p.name] = params[p.default_from]
        return Step(where, action, params)


_BUDGETS = {"time": (MAX_SIM_NS, "advance more than {} ns in total"),
            "ring_pages": (MAX_TOTAL_RING_PAGES, "map more than {} ring-buffer pages in total")}
"""Kind.budget -> (limit of the run's total, what exceeding it means)."""


class _Checker:
    """Walks setup and steps in order with the names that exist at each step, so a reference
    to a task, cgroup or event that does not exist (yet, or any more) is found before running,
    and adds up the resources the run will use against the limits."""

    def __init__(self, sc: Scenario) -> None:
        self.sc = sc
        self.live: dict[str, set[str]] = {"task": set(), "cgroup": set(), "event": set()}
        self.ever: dict[str, set[str]] = {"task": set(), "cgroup": set(), "event": set(sc.events)}
        self.totals = dict.fromkeys(_BUDGETS, 0)
        self.mapped_pages = 0
        self.executed = 0

    def bad(self, step: Step, key: str, reason: str) -> ScenarioError:
        """The error for a problem with ``key`` of this step."""
        return ScenarioError(self.sc.source, step.where, key, reason)

    def check(self) -> None:
        """Walk the setup then the steps; then an ``[[event]]`` that never opens must still name
        a task, cgroup and leader that the scenario has somewhere."""
        for step in (*self.sc.setup, *self.sc.steps):
            self.check_step(step)
        for i, decl in enumerate(self.sc.events.values()):
            for key, ns, name in (("task", "task", decl.task), ("cgroup", "cgroup", decl.cgroup),
                                  ("group", "event", decl.group)):
                if name is not None and name not in self.ever[ns]:
                    raise ScenarioError(self.sc.source, f"event[{i}]", key, f"no {ns} {name!r} in the scenario")

    def need(self, step: Step, key: str, ns: str, name: str) -> None:
        """The name must be alive at this step."""
        if name in self.live[ns]:
            return
        if ns == "event" and name in self.sc.events:
            raise self.bad(step, key, f"event {name!r} is not open at this step")
        raise self.bad(step, key, f"no {ns} {name!r} exists at this step")

    def check_step(self, step: Step) -> None:
        """Names the step uses must be alive (new ones must not); then apply its effects on the
        names, unless it expects an error (then it is assumed not to take effect)."""
        spec = STEPS[step.action]
        for p in spec.params:
            if p.kind.ref is None or p.name not in step.params:
                continue
            ns, name, k = p.kind.ref, step.params[p.name], step.key(p.name)
            if p.kind.effect == "new":
                if name in self.live[ns]:
                    raise self.bad(step, k, f"{ns} {name!r} already exists")
            elif p.kind.effect == "open":
                decl = self.sc.events.get(name)
                if decl is None:
                    raise self.bad(step, k, f"no [[event]] named {name!r}")
                if name in self.live["event"]:
                    raise self.bad(step, k, f"event {name!r} is already open")
                self.check_open(step, decl)
            else:
                self.need(step, k, ns, name)
        self.check_budget(step)
        if step.expects_error:
            return
        for p in spec.params:
            if p.kind.effect is not None and p.kind.ref is not None and p.name in step.params:
                names = self.live[p.kind.ref]
                (names.discard if p.kind.effect == "close" else names.add)(step.params[p.name])
                self.ever[p.kind.ref].add(step.params[p.name])
        if len(self.live["task"]) > MAX_TASKS or len(self.live["cgroup"]) > MAX_CGROUPS:
            raise self.bad(step, "", f"more than {MAX_TASKS} tasks or {MAX_CGROUPS} cgroups")

    def check_open(self, step: Step, decl: EventDecl) -> None:
        """The task, cgroup and group leader an event declaration names must exist when it opens."""
        for key, ns, name in (("task", "task", decl.task), ("cgroup", "cgroup", decl.cgroup),
                              ("group", "event", decl.group)):
            if name is not None and name not in self.live[ns]:
                state = "is not open" if ns == "event" else "does not exist"
                raise self.bad(step, key if step.keys else step.key("event"),
                               f"{key} {name!r} of event {decl.name!r} {state} at this step")

    def check_budget(self, step: Step) -> None:
        """Add the step's executions, simulated time and memory to the run's totals; a total over
        its limit is an error of the step that crosses it."""
        n, p = step.repeat, step.params
        self.executed += n
        if self.executed > MAX_EXECUTED_STEPS:
            raise self.bad(step, "repeat", f"the run would execute more than {MAX_EXECUTED_STEPS} steps")
        for param in STEPS[step.action].params:
            if param.kind.budget is None or param.name not in p:
                continue
            total = self.totals[param.kind.budget] = self.totals[param.kind.budget] + n * p[param.name]
            limit, what = _BUDGETS[param.kind.budget]
            if total > limit:
                raise self.bad(step, step.key(param.name), "the run would " + what.format(limit))
        if step.action == "mmap" and p.get("populate", True):  # page tables for every page faulted in
            self.mapped_pages += n * -(-p["length"] // p.get("page_size", 4096))
            if self.mapped_pages > MAX_MAPPED_PAGES:
                raise self.bad(step, "mmap.length", f"the run would populate more than {MAX_MAPPED_PAGES} pages")


def load(source: str | bytes | os.PathLike[str]) -> Scenario:
    """Parse and check a scenario: a path (``pathlib.Path``/``os.PathLike``) is read as a file,
    ``bytes`` are the file's content and a ``str`` is TOML text. Raises ScenarioError on any
    problem (including files over :data:`MAX_FILE_BYTES`, bad UTF-8 and bad TOML)."""
    if isinstance(source, os.PathLike):
        path = Path(source)
        name = os.fspath(path)
        try:
            with path.open("rb") as f:
                data: bytes | str = f.read(MAX_FILE_BYTES + 1)
        except OSError as e:
            raise ScenarioError(name, "", "", f"cannot read the file: {e.strerror or e}") from None
    elif isinstance(source, bytes | str):
        name, data = "<text>", source
    else:
        raise TypeError(f"load() takes a path, bytes or TOML text, not {type(source).__name__}")
    return loads(data, name=name)


def loads(data: str | bytes, *, name: str = "<text>") -> Scenario:
    """Parse and check scenario TOML given as text or bytes; ``name`` is used in error messages."""
    # (text is measured in its UTF-8 bytes, like the file it stands for; no text of more
    # characters than the limit is encoded to find out)
    if len(data) > MAX_FILE_BYTES or (
            isinstance(data, str) and len(data.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES):
        raise ScenarioError(name, "", "", f"larger than the limit of {MAX_FILE_BYTES} bytes")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ScenarioError(name, "", "", f"not UTF-8 text (byte {e.start})") from None
    try:
        doc = tomllib.loads(data)
    except ValueError as e:  # TOMLDecodeError, or an integer too long to convert
        raise ScenarioError(name, "", "", f"not valid TOML: {e}") from None
    except RecursionError:
        raise ScenarioError(name, "", "", "not valid TOML: nested too deeply") from None
    return _Parser(name, doc).parse()
