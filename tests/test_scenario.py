"""Scenario files (perfcore.scenario, ``perfcore run``).

- Round trip: hypothesis generates valid scenarios over the step table; each step is also done
  directly on a second Machine through the Python API (the oracle, written here independently
  of the scenario code), errors the oracle meets become the step's ``expect_errno`` /
  ``expect_error``, and the scenario's report must agree with the oracle in reads, recorded
  results, errors and engine statistics.
- Bad input: random bytes, random TOML documents and valid scenarios with one field mutated
  give ScenarioError (or, when still valid, a run that does not raise) and nothing else.
- Limits, messages (file:location: key: reason), the CLI's exit codes and JSON report.
"""

from __future__ import annotations

import errno
import json
import math
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import perfcore as pc
from perfcore import scenario
from perfcore.scenario import STEPS, ScenarioError

ROOT = Path(__file__).parent.parent
MODEL_ERRORS = (pc.PerfError, pc.UsageError, pc.NotFoundError)
TE_TR = "total_time_enabled|total_time_running"


# --- a TOML writer (tests only; values are what tomllib gives back) ---


def toml_key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    assert isinstance(v, dict)
    return "{" + ", ".join(f"{toml_key(k)} = {toml_value(x)}" for k, x in v.items()) + "}"


def toml_doc(doc: dict[str, Any]) -> str:
    """Top-level scalars and inline tables first, then arrays of tables as [[name]] sections."""
    out = []
    for k, v in doc.items():
        if not (isinstance(v, list) and v and all(isinstance(t, dict) for t in v)):
            out.append(f"{toml_key(k)} = {toml_value(v)}")
    for k, v in doc.items():
        if isinstance(v, list) and v and all(isinstance(t, dict) for t in v):
            for t in v:
                out.append(f"[[{toml_key(k)}]]")
                out += [f"{toml_key(kk)} = {toml_value(vv)}" for kk, vv in t.items()]
    return "\n".join(out) + "\n"


# --- the oracle: the same scenario driven through the Python API directly ---


@dataclass
class Oracle:
    """A Machine driven step by step with hand-written API calls, recording what a report holds."""

    m: pc.Machine
    decls: dict[str, dict[str, Any]]
    pids: dict[str, int] = field(default_factory=dict)  # every task named, exited ones too
    alive: set[str] = field(default_factory=set)
    cgroups: dict[str, int] = field(default_factory=dict)
    events: dict[str, pc.Event] = field(default_factory=dict)
    reads: list[tuple[str, int | None, int | None, int | None]] = field(default_factory=list)
    results: list[tuple[str, Any]] = field(default_factory=list)
    time_ns: int = 0

    def open(self, name: str) -> None:
        d = self.decls[name]
        pid, flags = d.get("pid", -1), 0
        if "task" in d:
            pid = self.pids[d["task"]]
        if "cgroup" in d:
            pid, flags = self.m.cgroup_fd(self.cgroups[d["cgroup"]]), pc.abi.PERF_FLAG_PID_CGROUP
        group = self.events[d["group"]] if "group" in d else None
        self.events[name] = self.m.perf_event_open(pc.Attr(**d["attr"]), pid=pid, cpu=d.get("cpu", -1),
                                                   group=group, flags=flags)

    def read(self, name: str) -> None:
        r = self.m.read(self.events[name])
        self.reads.append((name, None, None, None) if r is None
                          else (name, r["value"], r["time_enabled"], r["time_running"]))

    def do(self, action: str, p: dict[str, Any]) -> None:
        """One step through the API; ``p`` holds plain values (ns, bytes), names for references."""
        m, pid = self.m, self.pids.get(p.get("task", ""), -12345)
        ev = self.events.get(p.get("event", ""))
        if action == "spawn":
            kw = {k: p[k] for k in ("uid", "kernel_thread") if k in p}
            self.pids[p["task"]] = m.spawn(p.get("comm", p["task"]), **kw)
            self.alive.add(p["task"])
        elif action == "fork":
            kw = {k: p[k] for k in ("clone_thread", "comm", "clear_sighand") if k in p}
            self.pids[p["child"]] = m.fork(pid, **kw)
            self.alive.add(p["child"])
        elif action == "exit_task":
            m.exit_task(pid)
            self.alive.discard(p["task"])
        elif action == "exec":
            self.results.append((action, m.exec(pid, p["comm"])))
        elif action == "set_affinity":
            m.set_affinity(pid, p["cpus"])
        elif action == "reset":
            assert ev is not None
            ev.reset(group=p.get("group", False))
        elif action == "refresh":
            assert ev is not None
            ev.refresh(p["n"])
        elif action == "period":
            assert ev is not None
            ev.period(p["n"])
        elif action == "set_output":
            assert ev is not None
            ev.set_output(self.events[p["output"]] if "output" in p else None)
        elif action == "pause_output":
            assert ev is not None
            ev.pause_output(p["pause"])
        elif action == "open":
            self.open(p["event"])
        elif action == "close":
            assert ev is not None
            ev.close()
            del self.events[p["event"]]
        elif action == "enable":
            assert ev is not None
            m.enable(ev)
        elif action == "disable":
            assert ev is not None
            m.disable(ev)
        elif action == "read":
            self.read(p["event"])
        elif action == "poll":
            assert ev is not None
            self.results.append((action, ev.poll()))
        elif action == "mmap_ring":
            assert ev is not None
            ev.mmap(p["data_pages"], aux_pages=p.get("aux_pages", 0), writable=p.get("writable", True),
                    aux_writable=p.get("aux_writable", True))
        elif action == "switch_in":
            m.switch_in(p["cpu"], pid)
        elif action == "switch_out":
            m.switch_out(p["cpu"])
        elif action == "advance":
            m.advance(p["duration"])
            self.time_ns += p["duration"]
        elif action == "run":
            m.run(p["duration"])
            self.time_ns += p["duration"]
        elif action == "rotate":
            self.results.append((action, m.rotate(p["cpu"], p["pmu"])))
        elif action == "set_rate":
            m.set_rate(pid, p["event_name"], p["per_sec"])
        elif action == "set_mux_interval_ms":
            m.set_mux_interval_ms(p["pmu"], p["ms"])
        elif action == "set_sysctl":
            m.set_sysctl(p["name"], p["value"])
        elif action == "set_cpu_online":
            m.set_cpu_online(p["cpu"], p["online"])
        elif action == "cgroup_create":
            parent = self.cgroups[p["parent"]] if "parent" in p else None
            self.cgroups[p["cgroup"]] = m.cgroup_create(p["cgroup"], parent)
        elif action == "cgroup_attach":
            m.cgroup_attach(pid, self.cgroups[p["cgroup"]])
        elif action == "mmap":
            m.mmap(pid, p["addr"], p["length"], page_size=p.get("page_size", 4096), kind=p.get("kind", "anon"),
                   populate=p.get("populate", True))
        elif action == "munmap":
            m.munmap(pid, p["addr"], p["length"])
        elif action == "collapse":
            self.results.append((action, m.collapse(pid, p["addr"], p["length"])))
        elif action == "split":
            self.results.append((action, m.split(pid, p["addr"])))
        elif action == "page_size":
            self.results.append((action, m.page_size(pid, p["addr"])))
        elif action == "check_sched":
            m.check_sched()
        else:
            raise AssertionError(f"no oracle for step {action!r}")


ORACLE_STEPS = {"spawn", "fork", "exit_task", "exec", "set_affinity", "reset", "refresh", "period", "set_output",
                "pause_output", "open", "close", "enable", "disable", "read", "poll", "mmap_ring", "switch_in",
                "switch_out",
                "advance", "run", "rotate", "set_rate", "set_mux_interval_ms", "set_sysctl", "set_cpu_online",
                "cgroup_create", "cgroup_attach", "mmap", "munmap", "collapse", "split", "page_size", "check_sched"}


def test_every_step_has_an_oracle() -> None:
    """A step added to the table must be added to the round-trip oracle above too."""
    assert set(STEPS) == ORACLE_STEPS


# --- generating valid scenarios together with the oracle's run ---

HW = ["cycles", "instructions", "branches", "cache-misses"]
SW = ["cpu-clock", "task-clock"]
ADDR = 0x7F00_0000_0000


def unit_form(draw: st.DrawFn, n: int, units: dict[str, int]) -> int | str:
    """n as an integer or, when a unit divides it, as a string with that unit (the oracle keeps n)."""
    fitting = [u for u, f in units.items() if n % f == 0]
    if fitting and draw(st.booleans()):
        u = draw(st.sampled_from(fitting))
        return f"{n // units[u]}{u}"
    return n


DURATION_UNITS = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9}
SIZE_UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


@dataclass
class Gen:
    """The generated document and the oracle that ran it."""

    doc: dict[str, Any]
    oracle: Oracle
    errors: list[tuple[str, str]]


def event_decls(draw: st.DrawFn, preset: str, nr_cpus: int, tasks: list[str],
                cgroups: list[str], crowded: bool) -> list[dict[str, Any]]:
    """Event tables; ``crowded`` puts 6 to 12 hardware events on the first task, more than the
    counters, so reads are multiplexed (time_running < time_enabled)."""
    decls: list[dict[str, Any]] = []
    has_core = preset != "software-only"
    for i in range(draw(st.integers(6, 12) if crowded else st.integers(1, 12))):
        kind = "hw" if crowded else draw(st.sampled_from(["hw", "sw"] if has_core else ["sw"]))
        attr: dict[str, Any] = {"type": "hardware" if kind == "hw" else "software",
                                "config": draw(st.sampled_from(HW if kind == "hw" else SW)), "read_format": TE_TR}
        if draw(st.integers(0, 4)) == 0:
            attr["pinned"] = True
        if draw(st.integers(0, 9)) == 0:
            attr["disabled"] = True
        d: dict[str, Any] = {"name": f"e{i}", "attr": attr}
        leaders = [x for x in decls if "group" not in x]
        if leaders and draw(st.integers(0, 3)) == 0:
            lead = draw(st.sampled_from(leaders))
            d.update({k: lead[k] for k in ("task", "cpu", "cgroup", "pid") if k in lead}, group=lead["name"])
            d["attr"].pop("pinned", None)
        else:
            target = "task" if crowded else draw(
                st.sampled_from(["task"] * 4 + ["cpu"] + (["cgroup"] if cgroups and has_core else [])))
            if target == "task":
                d["task"] = tasks[0] if crowded else draw(st.sampled_from(tasks))
            else:
                d["cpu"] = draw(st.integers(0, nr_cpus - 1))
                if target == "cgroup":
                    d["cgroup"] = draw(st.sampled_from(cgroups))
        d["at_start"] = draw(st.booleans())
        decls.append(d)
    return decls


def draw_params(draw: st.DrawFn, action: str, o: Oracle, closed: list[str], pmus: list[str],
                sysctls: list[str], nr_cpus: int) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(TOML parameters, oracle parameters) for one step, or None when the step has nothing to act
    on now. Generated per parameter kind of the step table."""
    toml: dict[str, Any] = {}
    plain: dict[str, Any] = {}
    spec = STEPS[action]
    for p in spec.params:
        if not p.required and draw(st.booleans()):
            continue
        k = p.kind.name
        if k in ("task", "task to exit"):
            if not o.alive:
                return None
            v = plain_v = draw(st.sampled_from(sorted(o.alive)))
        elif k == "new task":
            v = plain_v = f"t{len(o.pids)}"
        elif k == "cgroup":
            if not o.cgroups:
                return None
            v = plain_v = draw(st.sampled_from(sorted(o.cgroups)))
        elif k == "new cgroup":
            v = plain_v = f"g{len(o.cgroups)}"
        elif k in ("event", "event to close"):
            if not o.events:
                return None
            v = plain_v = draw(st.sampled_from(sorted(o.events)))
        elif k == "closed event":
            if not closed:
                return None
            v = plain_v = draw(st.sampled_from(closed))
        elif k == "cpu":
            v = plain_v = draw(st.integers(0, nr_cpus - 1))
        elif k == "cpu list":
            v = plain_v = draw(st.lists(st.integers(0, nr_cpus - 1), min_size=1, max_size=nr_cpus))
        elif k == "duration":
            plain_v = draw(st.sampled_from([0, 1, 999, 10**6, 4 * 10**6, 25 * 10**6, 10**9]))
            v = unit_form(draw, plain_v, DURATION_UNITS)
        elif k == "u64":
            if p.name == "addr":
                plain_v = draw(st.sampled_from([ADDR, ADDR + 4096, ADDR + (2 << 20), 0, 0xFFFF_FFFF_8100_0000]))
                v = draw(st.sampled_from([plain_v, hex(plain_v)]))
            else:
                plain_v = draw(st.sampled_from([0, 4096, 2 << 20, 8 << 20]))
                v = unit_form(draw, plain_v, SIZE_UNITS)
        elif k == "page size":
            plain_v = draw(st.sampled_from([4096, 2 << 20]))
            v = unit_form(draw, plain_v, SIZE_UNITS)
        elif k == "mapping kind":
            v = plain_v = draw(st.sampled_from(["anon", "file", "hugetlb"]))
        elif k == "PMU":
            v = plain_v = draw(st.sampled_from(pmus))
        elif k == "sysctl":
            v = plain_v = draw(st.sampled_from(sysctls))
        elif k == "rate":
            v = plain_v = draw(st.sampled_from([0, 1e6, 2.5e9, 3000000000]))
        elif k == "bool":
            v = plain_v = draw(st.booleans())
        elif k == "string":  # comm, event_name
            v = plain_v = draw(st.sampled_from(HW + SW))
        elif k.startswith("int "):
            lo, hi = map(int, k[4:].split(".."))
            v = plain_v = draw(st.sampled_from([x for x in (lo, 0, 1, 2, 3, 4, 8, 1000, hi) if lo <= x <= hi]))
        else:
            raise AssertionError(f"no strategy for parameter kind {k!r}")
        toml[p.name] = v
        plain[p.name] = plain_v
    return toml, plain


@st.composite
def scenarios(draw: st.DrawFn) -> Gen:
    presets = [n for n, _ in pc.Machine.presets()]
    crowded = draw(st.integers(0, 3)) == 0
    preset = "intel-skl-ht" if crowded else draw(st.sampled_from(presets))
    nr_cpus = draw(st.integers(1, 3))
    machine = {"preset": preset, "nr_cpus": nr_cpus}
    tasks = [f"t{i}" for i in range(draw(st.integers(1, 3)))]
    cgroups = [f"g{i}" for i in range(draw(st.integers(0, 2)))]
    task_tables: list[dict[str, Any]] = []
    for t in tasks:
        tt: dict[str, Any] = {"name": t, "rates": {"cycles": 3e9, "task-clock": 1e9}}
        if cgroups and draw(st.booleans()):
            tt["cgroup"] = draw(st.sampled_from(cgroups))
        task_tables.append(tt)
    decls = event_decls(draw, preset, nr_cpus, tasks, cgroups, crowded)

    def setup(o: Oracle, opens: list[dict[str, Any]]) -> list[str]:
        for g in cgroups:
            o.do("cgroup_create", {"cgroup": g})
        for tt in task_tables:
            o.do("spawn", {"task": tt["name"]})
            if "cgroup" in tt:
                o.do("cgroup_attach", {"task": tt["name"], "cgroup": tt["cgroup"]})
            for kind, rate in tt["rates"].items():
                o.do("set_rate", {"task": tt["name"], "event_name": kind, "per_sec": rate})
        failed = []
        for d in opens:
            if "group" in d and d["group"] not in o.events:
                failed.append(d["name"])
                continue
            try:
                o.open(d["name"])
            except MODEL_ERRORS:
                failed.append(d["name"])
        return failed

    # a dry run finds the at-start opens the model refuses: those become deferred events
    by_name = {d["name"]: {k: v for k, v in d.items() if k not in ("name", "at_start")} for d in decls}
    dry = Oracle(pc.Machine(preset, nr_cpus), by_name)
    for name in setup(dry, [d for d in decls if d["at_start"]]):
        next(d for d in decls if d["name"] == name)["at_start"] = False
    o = Oracle(pc.Machine(preset, nr_cpus), by_name)
    assert setup(o, [d for d in decls if d["at_start"]]) == []

    pmus = [p["name"] for p in o.m.pmus()]
    sysctls = ["perf_event_paranoid", "perf_event_max_sample_rate", "perf_event_mlock_kb"]
    steps: list[dict[str, Any]] = []
    errors: list[tuple[str, str]] = []

    def add(action: str, step: dict[str, Any], plain: dict[str, Any], repeat: int = 1) -> None:
        """Do the step on the oracle; an error it meets becomes the step's expectation."""
        where = f"step[{len(steps)}]"
        try:
            for _ in range(repeat):
                o.do(action, plain)
        except pc.PerfError as e:
            assert repeat == 1
            step["expect_errno"] = errno.errorcode[e.errno]
            errors.append((where, errno.errorcode[e.errno]))
        except (pc.UsageError, pc.NotFoundError) as e:
            step["expect_error"] = type(e).__name__
            errors.append((where, type(e).__name__))
        steps.append(step)

    # every step of the table can come; the ones that make counts move come more often
    actions = sorted(STEPS) + ["advance"] * 8 + ["switch_in"] * 5 + ["read", "enable", "open"] * 3
    first = tasks[0] if crowded else draw(st.sampled_from(tasks))  # something runs from the start
    add("switch_in", {"switch_in": {"cpu": 0, "task": first}}, {"cpu": 0, "task": first})
    for _ in range(draw(st.integers(3, 30))):
        action = draw(st.sampled_from(actions))
        closed = [d["name"] for d in decls if d["name"] not in o.events and d.get("group", "") in ("", *o.events)
                  and d.get("task", "") in ("", *o.alive)]
        drawn = draw_params(draw, action, o, closed, pmus, sysctls, nr_cpus)
        if drawn is None:
            continue
        toml, plain = drawn
        spec = STEPS[action]
        step: dict[str, Any] = {action: toml}
        if spec.shorthand is not None and list(toml) == [spec.shorthand] and draw(st.booleans()):
            step[action] = toml[spec.shorthand]
        repeat = 1
        if action == "advance" and draw(st.integers(0, 3)) == 0:
            repeat = step["repeat"] = draw(st.integers(2, 5))
        add(action, step, plain, repeat)
    add("advance", {"advance": "10ms"}, {"duration": 10**7})
    for name in sorted(o.events):  # the scenario ends by reading every open event
        add("read", {"read": name}, {"event": name})
    doc: dict[str, Any] = {"description": "generated", "machine": machine, "cgroup": [{"name": g} for g in cgroups],
                           "task": task_tables, "event": decls, "step": steps}
    return Gen({k: v for k, v in doc.items() if v != []}, o, errors)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(gen=scenarios())
def test_generated_scenarios_agree_with_the_direct_api(gen: Gen) -> None:
    text = toml_doc(gen.doc)
    assert tomllib.loads(text) == gen.doc  # the writer is faithful
    report = scenario.loads(text, name="gen.toml").run()
    assert report.ok, (report.failures, text)
    o = gen.oracle
    got_reads = [(r["event"], r["value"], r.get("time_enabled"), r.get("time_running")) for r in report.reads]
    assert got_reads == o.reads
    assert [(r["action"], r["value"]) for r in report.results] == o.results
    assert [(e["step"], e["errno"] or e["error"]) for e in report.errors] == gen.errors
    assert all(e["expected"] for e in report.errors)
    assert report.stats == o.m.stats()
    assert report.tasks == o.pids and report.cgroups == o.cgroups  # exited tasks included
    assert report.time_ns == o.time_ns
    for r in report.reads:  # perf stat's scaling, from the raw fields
        if r["value"] is not None and r["time_running"]:
            assert r["scaled"] == round(r["value"] * r["time_enabled"] / r["time_running"])


# --- bad input ---


def must_not_crash(data: str | bytes) -> None:
    """Loading gives a Scenario or a ScenarioError; a Scenario runs to a Report without raising."""
    try:
        sc = scenario.loads(data)
    except ScenarioError as e:
        assert str(e).startswith("<text>"), e
        return
    report = sc.run()
    assert all(f["message"] and not f["message"].startswith("InternalError") for f in report.failures), report.failures


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=400))
def test_random_bytes(data: bytes) -> None:
    must_not_crash(data)


SCALARS = st.one_of(st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(), st.text(max_size=12),
                    st.sampled_from(["10ms", "cycles", "t0", "e0", "EINVAL", "0x1000", "2M", "-1", ""]))
KEYS = st.one_of(st.sampled_from(["machine", "task", "event", "step", "cgroup", "name", "attr", "preset", "nr_cpus",
                                  "advance", "read", "open", "switch_in", "cpu", "expect_errno", "repeat", "rates"]),
                 st.text(max_size=6))
TOML_TREES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                           st.dictionaries(KEYS, inner, max_size=4)), max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(doc=st.dictionaries(KEYS, TOML_TREES, max_size=6))
def test_random_toml_documents(doc: dict[str, Any]) -> None:
    must_not_crash(toml_doc(doc))


def valid_docs() -> list[dict[str, Any]]:
    return [tomllib.loads(p.read_text()) for p in sorted((ROOT / "examples" / "scenarios").glob("*.toml"))]


def leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    """Every (path, value) in a decoded document, tables and arrays included."""
    out = [(path, node)] if path else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += leaves(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += leaves(v, (*path, i))
    return out


def replaced(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(doc, dict):
        return {**doc, head: replaced(doc[head], rest, value)}
    return [replaced(x, rest, value) if i == head else x for i, x in enumerate(doc)]


REF_KEYS = {(p.name, STEPS[a].call) for a in STEPS for p in STEPS[a].params
            if p.kind.ref is not None and p.kind.effect != "new"}


def is_reference(path: tuple[Any, ...]) -> bool:
    """A leaf naming an existing task, cgroup or event (not a new name)."""
    if len(path) == 3 and path[0] in ("event", "task", "cgroup") and path[2] in ("task", "cgroup", "group", "parent"):
        return True
    if len(path) >= 3 and path[0] == "step" and path[2] in STEPS:
        spec = STEPS[path[2]]
        pname = path[3] if len(path) == 4 else spec.shorthand
        return any(p.name == pname and p.kind.ref is not None and p.kind.effect != "new" for p in spec.params)
    return False


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, tuple[Any, ...], str]:
    """A valid example scenario with one field made wrong in a way no schema accepts."""
    doc = draw(st.one_of(st.sampled_from(valid_docs()), scenarios().map(lambda g: g.doc)))
    all_leaves = leaves(doc)
    how = draw(st.sampled_from(["unknown_key", "list", "negative", "unknown_name", "not_a_table"]))
    if how == "unknown_key":
        tables = [p for p, v in all_leaves if isinstance(v, dict) and p[-1] != "rates"]
        path = draw(st.sampled_from([(), *tables]))
        target = doc
        for k in path:
            target = target[k]
        return toml_doc(replaced(doc, path, {**target, "zz_unknown": 1}) if path else {**doc, "zz_unknown": 1}), \
            path, how
    if how == "list":
        cands = [p for p, v in all_leaves if not isinstance(v, dict | list)]
        value: Any = [1, "x"]
    elif how == "negative":
        cands = [p for p, v in all_leaves if isinstance(v, int | float) and not isinstance(v, bool)]
        value = -5
    elif how == "unknown_name":
        cands = [p for p, v in all_leaves if isinstance(v, str) and is_reference(p)]
        value = "no_such_name"
    else:
        # (a step's parameter table is left out: `check_sched = true` is valid)
        cands = [p for p, v in all_leaves if isinstance(v, dict) and not (len(p) == 3 and p[0] == "step")]
        value = True
    assume(cands)
    path = draw(st.sampled_from(cands))
    return toml_doc(replaced(doc, path, value)), path, how


@settings(max_examples=200, deadline=None)
@given(case=mutated())
def test_one_wrong_field_is_a_scenario_error(case: tuple[str, tuple[Any, ...], str]) -> None:
    text, path, how = case
    with pytest.raises(ScenarioError) as ei:
        scenario.loads(text, name="m.toml")
    e = ei.value
    assert isinstance(e, ValueError) and str(e).startswith("m.toml"), e
    # (a wrong name in an [[event]] shows where the event opens, which may be a step)
    if len(path) >= 2 and path[0] in ("step", "event", "task", "cgroup") and how != "unknown_key" \
            and not (path[0] == "event" and how == "unknown_name"):
        assert e.location == f"{path[0]}[{path[1]}]", (e, path)


def test_messages_name_file_location_and_key() -> None:
    base = ('[[task]]\nname = "w"\n[[event]]\nname = "c"\nattr = { type = "software", config = "cpu-clock" }\n'
            'task = "w"\n')
    cases = {
        '[[step]]\nadvance = "10 parsecs"': ("step[0]", "advance.duration", "not a duration"),
        '[[step]]\nadvance = "1ms"\n[[step]]\nswitch_in = { cpu = 8, task = "w" }': ("step[1]", "switch_in.cpu",
                                                                                       "out of range 0..7"),
        '[[step]]\nread = "nope"': ("step[0]", "read.event", "no event 'nope'"),
        '[[step]]\nclose = "c"\n[[step]]\nread = "c"': ("step[1]", "read.event", "not open"),
        '[[step]]\nswitch_in = { cpu = 0, task = "w", bogus = 1 }': ("step[0]", "switch_in.bogus", "unknown key"),
        '[[step]]\nset_rate = { task = "w", event_name = "cycles", per_sec = -1 }': ("step[0]", "set_rate.per_sec",
                                                                                      "finite number"),
        '[[step]]\nread = "c"\nexpect_errno = "ENOPE"': ("step[0]", "expect_errno", "not an errno"),
        '[[step]]\nmmap = { task = "w", addr = 0, length = -4096 }': ("step[0]", "mmap.length", "out of range"),
        '[machine]\nnr_cpus = 0': ("machine", "nr_cpus", "out of range"),
        '[[event]]\nname = "d"\nattr = { type = "software", config = 1.5 }': ("event[1]", "attr.config", "1.5"),
        '[[event]]\nname = "d"\ngroup = "x"': ("event[1]", "group", "'x'"),
        '[[task]]\nname = "w"': ("task[1]", "name", "already exists"),
    }
    for tail, (loc, key, words) in cases.items():
        with pytest.raises(ScenarioError) as ei:
            scenario.loads(base + tail, name="s.toml")
        e = ei.value
        assert (e.source, e.location, e.key) == ("s.toml", loc, key), (tail, str(e))
        assert words in e.reason, (tail, str(e))
        assert str(e) == f"s.toml:{loc}: {key}: {e.reason}"


def test_limits() -> None:
    with pytest.raises(ScenarioError, match="larger than the limit"):
        scenario.loads("#" * (scenario.MAX_FILE_BYTES + 1))
    with pytest.raises(ScenarioError, match="larger than the limit"):  # counted in UTF-8 bytes
        scenario.loads("#" + "é" * (scenario.MAX_FILE_BYTES // 2))
    with pytest.raises(ScenarioError, match="exceed the limit"):
        scenario.loads("[[step]]\ncheck_sched = true\n" * (scenario.MAX_STEPS + 1))
    with pytest.raises(ScenarioError, match="more than 100000 steps"):
        scenario.loads('[[step]]\nadvance = "1ns"\nrepeat = 60000\n' * 2)
    ring = ('[[task]]\nname = "w"\n[[event]]\nname = "c"\nattr = { type = "software", config = "dummy" }\n'
            'task = "w"\n[[step]]\nmmap_ring = { event = "c", data_pages = 1024 }\nrepeat = ')
    scenario.loads(ring + "16")
    with pytest.raises(ScenarioError, match="more than 16384 ring-buffer pages"):
        scenario.loads(ring + "17")
    with pytest.raises(ScenarioError, match="more than 3600000000000 ns"):
        scenario.loads('[[step]]\nadvance = "1800s"\nrepeat = 3\n')
    with pytest.raises(ScenarioError, match="nested too deeply"):
        scenario.loads("a = " + "[" * 5000 + "]" * 5000)
    with pytest.raises(ScenarioError, match="populate more than"):
        scenario.loads('[[task]]\nname = "t"\n[[step]]\nmmap = { task = "t", addr = 0, length = "8G" }')
    # an unpopulated mapping costs no page tables, so its length is not counted
    scenario.loads('[[task]]\nname = "t"\n[[step]]\nmmap = { task = "t", addr = 0, length = "8G", populate = false }')


def test_file_too_big_and_unreadable(tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * (scenario.MAX_FILE_BYTES + 10))
    with pytest.raises(ScenarioError, match="big.toml: larger than the limit"):
        scenario.load(big)
    with pytest.raises(ScenarioError, match="cannot read"):
        scenario.load(tmp_path / "missing.toml")
    with pytest.raises(ScenarioError, match="cannot read"):
        scenario.load(tmp_path)
    with pytest.raises(ScenarioError, match="not UTF-8"):
        scenario.loads(b"description = \"\xff\"")


@pytest.mark.parametrize(("text", "want"), [
    ("10ms", 10_000_000), ("1.5s", 1_500_000_000), ("250us", 250_000), ("40ns", 40), (" 2 ms ", 2_000_000), (7, 7),
])
def test_durations(text: str | int, want: int) -> None:
    assert scenario.parse_duration(text) == want


@pytest.mark.parametrize(("text", "want"), [
    ("4K", 4096), ("2M", 2 << 20), ("1GiB", 1 << 30), ("0x7f00_0000_0000", 0x7F00_0000_0000), ("4096", 4096),
    ("0xffffffff81000000", 0xFFFF_FFFF_8100_0000), (12, 12),
])
def test_sizes(text: str | int, want: int) -> None:
    assert scenario.parse_size(text) == want


def test_expectations_decide_ok_and_the_run_stops_at_a_failure() -> None:
    base = ('[machine]\npreset = "software-only"\n[[task]]\nname = "w"\n[[event]]\nname = "c"\n'
            'attr = { type = "software", config = "cpu-clock" }\ntask = "w"\n')
    # mmap of 3 data pages: EINVAL (not a power of two), as the real kernel answers
    ok = scenario.loads(base + '[[step]]\nmmap_ring = { event = "c", data_pages = 3 }\nexpect_errno = "EINVAL"\n'
                        '[[step]]\nread = "c"').run()
    assert ok.ok and [e["errno"] for e in ok.errors] == ["EINVAL"] and len(ok.reads) == 1
    wrong = scenario.loads(base + '[[step]]\nmmap_ring = { event = "c", data_pages = 3 }\nexpect_errno = "EBUSY"\n'
                           '[[step]]\nread = "c"').run()
    assert not wrong.ok and wrong.reads == [] and "expected EBUSY" in wrong.failures[0]["message"]
    missing = scenario.loads(base + '[[step]]\nmmap_ring = { event = "c", data_pages = 4 }\n'
                             'expect_error = "PerfError"').run()
    assert not missing.ok and "succeeded" in missing.failures[0]["message"]
    unexpected = scenario.loads(base + '[[step]]\nmmap_ring = { event = "c", data_pages = 3 }').run()
    assert not unexpected.ok and unexpected.errors[0]["expected"] is False
    assert unexpected.failures[0]["step"] == "step[0]"


# --- CLI ---


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "perfcore.cli", "run", *args], capture_output=True, text=True,
                          cwd=ROOT)


def test_cli_exit_codes_and_json(tmp_path: Path) -> None:
    r = cli("examples/scenarios/multiplexing.toml", "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert set(rep) == {"source", "description", "ok", "machine", "tasks", "cgroups", "steps_run", "time_ns", "reads",
                        "results", "errors", "failures", "stats"}
    assert rep["ok"] is True and rep["machine"] == {"preset": "intel-skl-ht", "nr_cpus": 4}
    read_keys = {"step", "event", "value", "time_enabled", "time_running", "scaled", "running_percent"}
    assert read_keys <= set(rep["reads"][0])
    text = cli("examples/scenarios/multiplexing.toml")
    assert text.returncode == 0 and "cycles0" in text.stdout and "%" in text.stdout

    failing = tmp_path / "fail.toml"
    failing.write_text('[[task]]\nname = "w"\n[[step]]\nswitch_in = { cpu = 0, task = "w" }\nexpect_errno = "EINVAL"\n')
    r = cli(str(failing), "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["failures"][0]["step"] == "step[0]"

    bad = tmp_path / "bad.toml"
    bad.write_text('[[step]]\nadvance = "soon"\n')
    r = cli(str(bad))
    assert r.returncode == 2 and r.stdout == ""
    assert f"{bad}:step[0]: advance.duration:" in r.stderr and "Traceback" not in r.stderr
    garbage = tmp_path / "garbage.toml"
    garbage.write_bytes(bytes(range(256)) * 8)
    r = cli(str(garbage))
    assert r.returncode == 2 and "Traceback" not in r.stderr


# --- docs cannot drift from the step table ---


def test_reference_doc_is_the_step_table() -> None:
    doc = (ROOT / "docs" / "scenarios.md").read_text()
    m = re.search(r"<!-- BEGIN STEP REFERENCE[^\n]*-->\n(.*?)<!-- END STEP REFERENCE -->", doc, re.S)
    assert m, "docs/scenarios.md lost its generated step reference"
    assert m.group(1) == scenario.reference(), "regenerate it with scenario.reference() (see docs/scenarios.md)"
    for name, spec in STEPS.items():
        assert f"| `{name}` | `{spec.call}` |" in doc
        for p in spec.params:
            assert f"`{p.name}`" in m.group(1)


def test_readme_has_the_scenario_section() -> None:
    readme = (ROOT / "README.md").read_text()
    m = re.search(r"## Write your own scenario\n(.*?)\n## ", readme, re.S)
    assert m and "perfcore run" in m.group(1)
    toml_block = re.search(r"```toml\n(.*?)```", m.group(1), re.S)
    assert toml_block
    report = scenario.loads(toml_block.group(1), name="README.md").run()
    assert report.ok
    for r in report.reads:  # the claims of the README's text: 5 events on 4 counters, 5e7/s for 0.4 s
        assert r["running_percent"] == 100 * 4 / 5 and r["scaled"] == 5e7 * 0.4


def test_docs_example_runs() -> None:
    doc = (ROOT / "docs" / "scenarios.md").read_text()
    block = re.search(r"```toml\n(.*?)```", doc, re.S)
    assert block
    report = scenario.loads(block.group(1), name="scenarios.md").run()
    assert report.ok and [r["label"] for r in report.reads] == ["after 400 ms"]


def test_text_report_shows_reads_errors_results_and_failures() -> None:
    text = ('[machine]\npreset = "intel-skl-ht"\nnr_cpus = 1\n[[task]]\nname = "w"\nrates = { cycles = 1e9 }\n'
            '[[event]]\nname = "c"\nattr = { type = "hardware", config = "cycles", read_format = "'
            + TE_TR + '" }\ntask = "w"\n'
            '[[step]]\nswitch_in = { cpu = 0, task = "w" }\n[[step]]\nadvance = "5ms"\n'
            '[[step]]\nread = "c"\nlabel = "after 5 ms"\n'
            '[[step]]\nrotate = { cpu = 0, pmu = "cpu" }\nlabel = "one group: nothing to rotate"\n'
            '[[step]]\nmmap_ring = { event = "c", data_pages = 3 }\nexpect_errno = "EINVAL"\n'
            '[[step]]\nset_mux_interval_ms = { pmu = "cpu", ms = 0 }\n')
    report = scenario.loads(text, name="t.toml").run()
    assert report.reads[0]["label"] == "after 5 ms" and report.reads[0]["value"] == 5_000_000
    assert report.results == [{"step": "step[3]", "action": "rotate", "params": {"cpu": 0, "pmu": "cpu"},
                               "value": False, "label": "one group: nothing to rotate"}]
    # mux interval 0: EINVAL from the model, not expected, so the run fails there
    assert [(e["step"], e["errno"], e["expected"]) for e in report.errors] == [("step[4]", "EINVAL", True),
                                                                                ("step[5]", "EINVAL", False)]
    out = report.format().splitlines()
    assert out[0].startswith("t.toml: intel-skl-ht, 1 CPUs") and out[0].endswith("FAILED")
    assert any("c (after 5 ms)" in line and "5,000,000" in line and "100.00%" in line for line in out)
    assert any(line.strip().startswith("step[4]: mmap_ring: expected PerfError") for line in out)
    assert any(line.strip().startswith("step[5]: set_mux_interval_ms: UNEXPECTED PerfError") for line in out)
    assert any(line.strip().startswith("FAILED step[5]: set_mux_interval_ms: PerfError EINVAL") for line in out)
