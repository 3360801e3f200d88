"""A checked scenario: the event declarations, the setup steps made from the ``[[cgroup]]``,
``[[task]]`` and ``[[event]]`` tables, and the ``[[step]]`` list, every value normalised."""

from __future__ import annotations

import errno as errno_mod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from perfcore.scenario.run import Report


@dataclass(frozen=True)
class EventDecl:
    """An ``[[event]]`` table: the perf_event_open() arguments of a named event."""

    name: str
    attr: Mapping[str, int | bool | str]
    task: str | None
    pid: int | None
    cgroup: str | None
    cpu: int
    group: str | None
    flags: int
    at_start: bool


@dataclass(frozen=True)
class Step:
    """One checked step: where it came from, its action, its normalised parameters and options."""

    where: str
    action: str
    params: Mapping[str, Any]
    expect_errno: int | None = None
    expect_error: str | None = None
    repeat: int = 1
    label: str | None = None
    keys: Mapping[str, str] = field(default_factory=dict)

    def key(self, param: str) -> str:
        """The TOML key of a parameter, for error messages (``advance.duration`` in a step,
        ``name`` in a ``[[task]]`` table)."""
        return self.keys.get(param, f"{self.action}.{param}")

    @property
    def expects_error(self) -> bool:
        """Whether the step must fail."""
        return self.expect_errno is not None or self.expect_error is not None

    @property
    def expectation(self) -> str:
        """What the step must fail with, as written (``EINVAL``, ``UsageError``), or ""."""
        if self.expect_errno is not None:
            return errno_mod.errorcode[self.expect_errno]
        return self.expect_error or ""


@dataclass(frozen=True)
class Scenario:
    """A checked scenario, ready to run (any number of times; each run makes a new Machine)."""

    source: str
    description: str
    machine: Mapping[str, Any]
    events: Mapping[str, EventDecl]
    setup: tuple[Step, ...]
    steps: tuple[Step, ...]

    def run(self) -> Report:
        """Build the machine, run the setup then the steps, and return the report."""
        from perfcore.scenario.run import Runner  # run.py imports this module

        return Runner(self).run()
