"""perfcore: an executable model of the Linux perf_events core (Linux 6.18, x86-64).

The engine is Rust (``perfcore._core``); this package is its Python front::

    import perfcore as pc
    m = pc.Machine()
    ev = m.perf_event_open(pc.Attr(type="software", config="cpu-clock", sample_period=100_000,
                                   sample_type="ip|tid|time"), pid=0, cpu=-1)
"""

from perfcore import abi, mm, perf_data, scenario, slab
from perfcore._core import (
    AddressSpaces,
    Attr,
    Event,
    InternalError,
    KmallocModel,
    KmemCache,
    Machine,
    NotFoundError,
    PerfDataError,
    PerfError,
    RecordFormat,
    RingBuffer,
    TaskDataTable,
    UsageError,
    __version__,
    lbr_callstack_study,
    task_data_memory,
)
from perfcore.errors import ScenarioError
from perfcore.mm import check_zero_runs, from_smaps, page_size_histogram

__all__ = [
    "AddressSpaces",
    "Attr",
    "Event",
    "InternalError",
    "KmallocModel",
    "KmemCache",
    "Machine",
    "NotFoundError",
    "PerfDataError",
    "PerfError",
    "RecordFormat",
    "RingBuffer",
    "ScenarioError",
    "TaskDataTable",
    "UsageError",
    "__version__",
    "abi",
    "check_zero_runs",
    "from_smaps",
    "lbr_callstack_study",
    "mm",
    "page_size_histogram",
    "perf_data",
    "scenario",
    "slab",
    "task_data_memory",
]
