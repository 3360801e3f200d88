"""Bad input never crashes: every public method of every class, called with random arguments of
the wrong type or range, answers with a clear exception of the documented families (PerfError,
UsageError/ValueError, NotFoundError/KeyError, TypeError, OverflowError) or succeeds, and never
raises InternalError (a Rust panic) or anything else."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import perfcore as pc

ALLOWED = (pc.PerfError, ValueError, KeyError, TypeError, OverflowError, IndexError)

VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.sampled_from([0, 1, -1, 4096, 2**64 - 1, 2**63]),
    st.floats(allow_nan=True), st.text(max_size=12), st.binary(max_size=200),
    st.builds(bytearray, st.binary(max_size=200)),
    st.lists(st.integers(0, 2**64 - 1), max_size=8).map(lambda v: np.array(v, dtype=np.uint64)),
    st.just(object()),
)

SKIP = {"_force_panic", "destroy", "xsave", "xsave_at"}  # xsave may fault by design (allow_fault)


def instances() -> dict[str, Any]:
    m = pc.Machine("intel-icx", nr_cpus=4, trace_pmu=True)
    ev = m.perf_event_open(pc.Attr(type="software", config="cpu-clock"), pid=0)
    return {
        "Machine": m,
        "Event": ev,
        "Attr": pc.Attr(type="software", config="dummy"),
        "RingBuffer": pc.RingBuffer(data_pages=2),
        "KmemCache": pc.KmemCache("bad_input", 64, 8, nr_cpus=4),
        "KmallocModel": pc.KmallocModel(nr_cpus=4),
        "AddressSpaces": pc.AddressSpaces(max_tables=256),
        "TaskDataTable": pc.TaskDataTable(16),
    }


def methods(obj: Any) -> list[str]:
    return sorted(n for n in dir(obj) if not n.startswith("_") and callable(getattr(obj, n, None)) and n not in SKIP)


CASES = [(cls, name) for cls, obj in instances().items() for name in methods(obj)]


@pytest.mark.parametrize(("cls", "name"), CASES, ids=[f"{c}.{n}" for c, n in CASES])
def test_random_arguments_give_clear_errors(cls: str, name: str) -> None:
    objs = instances()

    @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(args=st.lists(VALUES, max_size=4))
    def call(args: list[Any]) -> None:
        fn = getattr(objs[cls], name)
        try:
            fn(*args)
        except pc.InternalError as e:  # a Rust panic reached Python: always a bug
            raise AssertionError(f"{cls}.{name}{tuple(args)!r} panicked: {e}") from e
        except ALLOWED:
            pass

    call()


@given(args=st.lists(VALUES, max_size=4), kwargs=st.dictionaries(st.sampled_from(
    ["preset", "nr_cpus", "privileged", "perf_event_paranoid", "trace_pmu", "bogus"]), VALUES, max_size=3))
@settings(max_examples=100, deadline=None, database=None)
def test_constructors_reject_garbage_cleanly(args: list[Any], kwargs: dict[str, Any]) -> None:
    for ctor in (pc.Machine, pc.Attr, pc.RingBuffer, pc.KmemCache, pc.AddressSpaces):
        try:
            ctor(*args[:2], **({} if ctor is pc.Attr else kwargs))
        except pc.InternalError as e:
            raise AssertionError(f"{ctor.__name__} panicked: {e}") from e
        except (*ALLOWED, MemoryError):
            pass


def test_signatures_are_introspectable() -> None:
    """Every public method has a text signature (users read them in help())."""
    missing = []
    for cls, obj in instances().items():
        for name in methods(obj):
            try:
                inspect.signature(getattr(obj, name))
            except (ValueError, TypeError):
                missing.append(f"{cls}.{name}")
    assert missing == []
