"""perfcore: an executable model of the Linux perf_events core (Linux 6.18, x86-64).

The engine is Rust (``perfcore._core``); this package is its Python front::

    import perfcore as pc
    m = pc.Machine()
    ev = m.perf_event_open(pc.Attr(type="software", config="cpu-clock", sample_period=100_000,
                                   sample_type="ip|tid|time"), pid=0, cpu=-1)
"""

from perfcore import abi
from perfcore._core import (
    Attr,
    Event,
    InternalError,
    Machine,
    NotFoundError,
    PerfError,
    UsageError,
    __version__,
)

__all__ = [
    "Attr",
    "Event",
    "InternalError",
    "Machine",
    "NotFoundError",
    "PerfError",
    "UsageError",
    "__version__",
    "abi",
]
