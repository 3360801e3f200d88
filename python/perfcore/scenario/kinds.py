"""Parameter kinds: how each TOML value of a scenario is checked and normalised (integers with
ranges, CPUs of the machine, durations with units, sizes and addresses, names of tasks, cgroups
and events)."""

from __future__ import annotations

import errno as errno_mod
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from perfcore._core import NotFoundError, PerfError, UsageError
from perfcore.scenario.limits import MAX_NAME_LEN, MAX_RING_PAGES, MAX_SIM_NS

U64_MAX = (1 << 64) - 1
I32_MAX = (1 << 31) - 1
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_DURATION_RE = re.compile(r"\s*(\d{1,20}(?:\.\d{1,9})?)\s*(ns|us|ms|s)\s*")
_DURATION_UNITS = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9}
_SIZE_RE = re.compile(r"\s*(?:0[xX]([0-9a-fA-F_]{1,40})|([0-9_]{1,40}))\s*([KMGT]?)(?:i?B)?\s*")
_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
ERROR_CLASSES = {"PerfError": PerfError, "UsageError": UsageError, "NotFoundError": NotFoundError}


def quote(key: str) -> str:
    """A TOML key as written in a file: bare when it can be, else quoted with escapes."""
    return key if re.fullmatch(r"[A-Za-z0-9_\-]+", key) else json.dumps(key)


class Bad(Exception):
    """A value failed its check; the checker's caller adds the location and key."""


@dataclass(frozen=True)
class Ctx:
    """What value checks need to know about the machine being described."""

    nr_cpus: int
    pmus: frozenset[str]
    sysctls: frozenset[str]


@dataclass(frozen=True)
class Kind:
    """The type of a step parameter: how its TOML value is checked and normalised.

    ``ref`` names the namespace a name refers to (``task``, ``cgroup`` or ``event``) and
    ``effect`` what the step does to that namespace when it succeeds: ``new`` binds a new name
    to the call's result, ``open``/``close`` open or close a declared event. ``budget`` names the
    run-wide total the value adds to (``time``: simulated ns; ``ring_pages``), capped by the limits.
    """

    name: str
    doc: str
    check: Callable[[Any, Ctx], Any]
    ref: str | None = None
    effect: str | None = None
    budget: str | None = None


def show(v: Any) -> str:
    """A value as a message quotes it: its repr, cut short (garbage input can be long)."""
    r = repr(v) if not isinstance(v, int) or abs(v) < 10**40 else f"{type(v).__name__} of {len(str(abs(v)))} digits"
    return r if len(r) <= 60 else r[:57] + "..."


def check_int(v: Any, lo: int, hi: int) -> int:
    """An integer (not a boolean) in ``lo..hi``."""
    if isinstance(v, bool) or not isinstance(v, int):
        raise Bad(f"{show(v)} is not an integer")
    if not lo <= v <= hi:
        raise Bad(f"{show(v)} is out of range {lo}..{hi}")
    return v


def int_kind(lo: int, hi: int, doc: str = "") -> Kind:
    """An integer in ``lo..hi``."""
    return Kind(f"int {lo}..{hi}", doc or f"an integer from {lo} to {hi}", lambda v, _c: check_int(v, lo, hi))


def _check_bool(v: Any, _c: Ctx) -> bool:
    if not isinstance(v, bool):
        raise Bad(f"{show(v)} is not a boolean (true or false)")
    return v


def _check_text(v: Any, _c: Ctx) -> str:
    if not isinstance(v, str):
        raise Bad(f"{show(v)} is not a string")
    if not 0 < len(v) <= MAX_NAME_LEN:
        raise Bad(f"{show(v)} must have 1 to {MAX_NAME_LEN} characters")
    return v


def _check_name(v: Any, _c: Ctx) -> str:
    s = _check_text(v, _c)
    if not _NAME_RE.fullmatch(s):
        raise Bad(f"{show(s)} is not a name (letters, digits, '_', '-', '.'; not starting with a digit)")
    return s


def choice_kind(name: str, choices: Callable[[Ctx], frozenset[str]], doc: str) -> Kind:
    """A string from a set that may depend on the machine (PMU names, sysctl names)."""

    def check(v: Any, c: Ctx) -> str:
        s = _check_text(v, c)
        allowed = choices(c)
        if s not in allowed:
            raise Bad(f"unknown {name} {show(s)} (known: {', '.join(sorted(allowed))})")
        return s

    return Kind(name, doc, check)


def parse_duration(v: Any) -> int:
    """A duration in ns from an integer (ns) or a string with a unit: ``"10ms"``, ``"1.5 s"``,
    ``"250us"``, ``"40ns"``; it must be a whole number of ns within :data:`MAX_SIM_NS`."""
    if isinstance(v, str):
        m = _DURATION_RE.fullmatch(v)
        if not m:
            raise Bad(f"{show(v)} is not a duration (a number with a unit: ns, us, ms or s)")
        whole, _, frac = m.group(1).partition(".")
        ns, scale = int(whole + frac) * _DURATION_UNITS[m.group(2)], 10 ** len(frac)
        if ns % scale:
            raise Bad(f"{show(v)} is not a whole number of nanoseconds")
        return check_int(ns // scale, 0, MAX_SIM_NS)
    if isinstance(v, bool) or not isinstance(v, int):
        raise Bad(f"{show(v)} is not a duration (an integer of ns or a string like \"10ms\")")
    return check_int(v, 0, MAX_SIM_NS)


def parse_size(v: Any) -> int:
    """An unsigned 64-bit quantity (address or length) from an integer or a string: decimal or
    ``0x`` hex, optionally with a binary unit ``K``, ``M``, ``G`` or ``T`` (``"2M"``, ``"4KiB"``)."""
    if isinstance(v, str):
        m = _SIZE_RE.fullmatch(v)
        if not m:
            raise Bad(f"{show(v)} is not a size or address (like 4096, \"0x7f0000000000\" or \"2M\")")
        hex_digits, dec_digits, unit = (g.replace("_", "") if g else "" for g in m.groups())
        if not (hex_digits or dec_digits):
            raise Bad(f"{show(v)} has no digits")
        v = (int(hex_digits, 16) if hex_digits else int(dec_digits)) * _SIZE_UNITS[unit]
    return check_int(v, 0, U64_MAX)


def _check_rate(v: Any, _c: Ctx) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise Bad(f"{show(v)} is not a number")
    if not (math.isfinite(v) and 0 <= v <= 1e15):
        raise Bad(f"{show(v)} must be a finite number from 0 to 1e15")
    return float(v)


def _check_cpu(v: Any, c: Ctx) -> int:
    return check_int(v, 0, c.nr_cpus - 1)


def _check_page_size(v: Any, _c: Ctx) -> int:
    n = parse_size(v)
    if n not in (4096, 2 << 20, 1 << 30):
        raise Bad(f"{n} is not a page size (4096, 2M or 1G)")
    return n


def _check_cpu_list(v: Any, c: Ctx) -> list[int]:
    if not isinstance(v, list) or not 0 < len(v) <= c.nr_cpus:
        raise Bad(f"{show(v)} is not a list of 1 to {c.nr_cpus} CPU numbers")
    return [_check_cpu(x, c) for x in v]


def check_errno(v: Any, _c: Ctx) -> int:
    """An errno given by name (``"EINVAL"``) or number, as its number."""
    if isinstance(v, str):
        code = getattr(errno_mod, v, None) if v.startswith("E") else None
        if not isinstance(code, int):
            raise Bad(f"{show(v)} is not an errno name (like \"EINVAL\")")
        return code
    n = check_int(v, 1, 4095)
    if n not in errno_mod.errorcode:
        raise Bad(f"{n} is not an errno")
    return n


def check_error_class(v: Any, _c: Ctx) -> str:
    """The name of an exception class a step may expect."""
    if not isinstance(v, str) or v not in ERROR_CLASSES:
        raise Bad(f"{show(v)} is not an error class ({', '.join(ERROR_CLASSES)})")
    return str(v)


BOOL = Kind("bool", "true or false", _check_bool)
TEXT = Kind("string", f"a string of 1 to {MAX_NAME_LEN} characters", _check_text)
RATE = Kind("rate", "events per second: a number from 0 to 1e15", _check_rate)
CPU = Kind("cpu", "a CPU number, 0 to machine.nr_cpus - 1", _check_cpu)
DURATION = Kind("duration", 'integer ns, or a string with a unit: "40ns", "250us", "10ms", "1.5s"',
                lambda v, _c: parse_duration(v), budget="time")
U64 = Kind("u64", 'an address or length: integer, "0x..." hex, or with a unit "4K", "2M", "1G"',
           lambda v, _c: parse_size(v))
PAGE_SIZE = Kind("page size", '4096, "2M" or "1G"', _check_page_size)
MAP_KIND = choice_kind("mapping kind", lambda _c: frozenset({"anon", "file", "hugetlb"}),
                       '"anon", "file" or "hugetlb"')
PMU = choice_kind("PMU", lambda c: c.pmus, "a PMU name of the machine (`cpu`, `software`, ...)")
SYSCTL = choice_kind("sysctl", lambda c: c.sysctls, "a `kernel.*` perf sysctl name (`perf_event_paranoid`, ...)")
RING_PAGES = Kind(f"int 0..{MAX_RING_PAGES}", f"a page count, 0 to {MAX_RING_PAGES}",
                  lambda v, _c: check_int(v, 0, MAX_RING_PAGES), budget="ring_pages")
CPU_LIST = Kind("cpu list", "a list of CPU numbers, e.g. [0, 2]", _check_cpu_list)
TASK = Kind("task", "the name of a task that exists at this step", _check_name, ref="task")
TASK_TO_EXIT = Kind("task to exit", "the name of a task that exists at this step (gone after it)", _check_name,
                    "task", "close")
NEW_TASK = Kind("new task", "a new task name, bound to the task the step creates", _check_name, "task", "new")
CGROUP = Kind("cgroup", "the name of a cgroup that exists at this step", _check_name, ref="cgroup")
NEW_CGROUP = Kind("new cgroup", "a new cgroup name, bound to the cgroup the step creates", _check_name, "cgroup", "new")
EVENT = Kind("event", "the name of an event that is open at this step", _check_name, ref="event")
EVENT_TO_OPEN = Kind("closed event", "the name of an `[[event]]` that is not open at this step", _check_name,
                     "event", "open")
EVENT_TO_CLOSE = Kind("event to close", "the name of an event that is open at this step (closed by the step)",
                      _check_name, "event", "close")
