"""perfcore's exceptions (created in Rust, re-exported here).

- ``PerfError(OSError)``: what the kernel would answer; ``.errno`` is its errno.
- ``UsageError(ValueError)``: misuse of the API.
- ``NotFoundError(KeyError)``: a handle that does not exist.
- ``PerfDataError(ValueError)``: a malformed perf.data file (the message gives offset and field).
- ``InternalError(RuntimeError)``: a bug in perfcore (a Rust panic never aborts Python).
"""

from perfcore._core import InternalError, NotFoundError, PerfDataError, PerfError, UsageError

__all__ = ["InternalError", "NotFoundError", "PerfDataError", "PerfError", "UsageError"]
