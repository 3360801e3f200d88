"""perfcore: an executable model of the Linux perf_events core (Linux 6.18, x86-64).

The engine is Rust (``perfcore._core``); this package is its Python front.
"""

from perfcore._core import (
    InternalError,
    NotFoundError,
    PerfError,
    UsageError,
    __version__,
)

__all__ = [
    "InternalError",
    "NotFoundError",
    "PerfError",
    "UsageError",
    "__version__",
]
