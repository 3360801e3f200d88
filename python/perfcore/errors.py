"""perfcore's exceptions (created in Rust, re-exported here, plus the scenario-file error).

- ``PerfError(OSError)``: what the kernel would answer; ``.errno`` is its errno.
- ``UsageError(ValueError)``: misuse of the API.
- ``NotFoundError(KeyError)``: a handle that does not exist.
- ``PerfDataError(ValueError)``: a malformed perf.data file (the message gives offset and field).
- ``InternalError(RuntimeError)``: a bug in perfcore (a Rust panic never aborts Python).
- ``ScenarioError(ValueError)``: a scenario file that cannot be run as written (bad TOML, an
  unknown key, a wrong type, an unknown name, a value out of range, a limit exceeded).
"""

from __future__ import annotations

from perfcore._core import InternalError, NotFoundError, PerfDataError, PerfError, UsageError


class ScenarioError(ValueError):
    """A scenario file is malformed; ``str()`` reads ``source:location: key: reason``.

    ``source`` is the file name (or ``<text>``), ``location`` the table the problem is in
    (``machine``, ``task[0]``, ``step[3]``, ...), ``key`` the offending key (dotted for nested
    keys, empty when the whole table or file is at fault) and ``reason`` what is wrong with it.
    """

    def __init__(self, source: str, location: str, key: str, reason: str) -> None:
        self.source = source
        self.location = location
        self.key = key
        self.reason = reason
        where = ":".join(p for p in (source, location) if p)
        super().__init__(f"{where}: {key}: {reason}" if key else f"{where}: {reason}")


__all__ = ["InternalError", "NotFoundError", "PerfDataError", "PerfError", "ScenarioError", "UsageError"]
