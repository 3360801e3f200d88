"""perfcore.RingBuffer from Python: accounting identity under random sizes and consumer speeds
(hypothesis), numpy samples, nesting, pause, wakeups, user page, AUX with the trace PMU, the 2^64
wrap with non-power-of-two AUX sizes, mmap errnos and clear errors on bad input."""

from __future__ import annotations

import errno

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from perfcore import _core


def trace_oracle(start: int, n: int) -> bytes:
    """Independent statement of the trace PMU's documented pattern."""
    return bytes((((start + i) % 2**64) * 0x9E3779B97F4A7C15 % 2**64) >> 56 for i in range(n))


@given(
    pages=st.sampled_from([1, 2, 4]),
    ops=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 5)), min_size=1, max_size=150),
    backward=st.booleans(),
)
def test_every_record_is_read_or_counted_lost(pages: int, ops: list[tuple[int, int]], backward: bool) -> None:
    rb = _core.RingBuffer(data_pages=pages, sample_type="ip|time|callchain", backward=backward)
    read, lost = [], 0

    def drain() -> None:
        nonlocal lost
        for r in rb.read_records():
            if r["type"] == "lost":
                lost += r["lost"]
            else:
                read.append(r["time"])

    for i, (depth, consume_every) in enumerate(ops):
        rb.write_sample(ip=i, time=i, callchain=list(range(depth * 10)))
        if consume_every and i % consume_every == 0:
            drain()
    drain()
    assert read == sorted(read)
    assert len(read) + lost + rb.stats()["pending_lost"] == len(ops)


def test_read_samples_gives_numpy_columns() -> None:
    rb = _core.RingBuffer(data_pages=4, sample_type="ip|tid|time|cpu|callchain")
    n = rb.write_samples(100, ip=np.arange(100, dtype=np.uint64), pid=5, tid=6, time=np.arange(100, dtype=np.uint64) * 10, cpu=1)
    assert n == 100
    rb.write_sample(ip=1, callchain=[0xFFFFFFFFFFFFFE00, 7, 8])
    cols = rb.read_samples()
    assert cols["ip"].dtype == np.uint64 and len(cols["ip"]) == 101
    assert cols["time"][:100].tolist() == [i * 10 for i in range(100)]
    assert set(cols["pid"][:100].tolist()) == {5}
    assert cols["callchain_nr"][-1] == 3 and cols["callchain"].tolist() == [0xFFFFFFFFFFFFFE00, 7, 8]


def test_nested_writer_is_published_by_the_outer_end() -> None:
    rb = _core.RingBuffer(sample_type="ip")
    outer = rb.format.encode_record("lost_samples", lost=3)
    h = rb.begin(len(outer))
    assert h is not None and rb.nest == 1
    assert rb.write_sample(ip=9)  # the "NMI"
    assert rb.data_head == 0
    rb.put(h, outer)
    rb.end(h)
    kinds = [r["type"] for r in rb.read_records()]
    assert kinds == ["lost_samples", "sample"]


def test_pause_resume_and_wakeups() -> None:
    rb = _core.RingBuffer(sample_type="ip", wakeup_events=3, event_id=4)
    rb.pause_output(True)
    assert not rb.write_sample(ip=1) and not rb.write_sample(ip=2)
    rb.pause_output(False)
    assert rb.write_sample(ip=3)
    recs = rb.read_records()
    assert recs[0]["type"] == "lost" and recs[0]["lost"] == 2 and recs[0]["id"] == 4
    polls = []
    for i in range(6):
        rb.write_sample(ip=i)
        polls.append(rb.poll())
    assert polls == [False, True, False, False, True, False]
    with pytest.raises(_core.PerfError) as e:
        _core.RingBuffer(data_pages=0).pause_output(True)
    assert e.value.errno == errno.EINVAL


def test_user_page_fields_by_name() -> None:
    rb = _core.RingBuffer(data_pages=8)
    up = rb.user_page()
    assert (up["version"], up["compat_version"], up["lock"], up["capabilities"], up["size"]) == (0, 0, 2, 2, 96)
    assert (up["data_offset"], up["data_size"]) == (4096, 32768)
    rb.update_userpage(time_enabled=10, time_running=5)
    up = rb.user_page()
    assert (up["lock"], up["time_enabled"], up["time_running"]) == (4, 10, 5)


def test_aux_trace_records_and_bytes() -> None:
    rb = _core.RingBuffer(data_pages=2, aux_pages=2, sample_type="tid|time", sample_id_all=True)
    assert rb.trace_sched_in(sample_id={"pid": 1, "tid": 2})
    r = rb.trace_run(5000)
    assert r["written"] == 5000 and r["record_written"]
    recs = rb.read_records()
    assert [x["type"] for x in recs] == ["itrace_start", "aux"]
    assert (recs[1]["aux_offset"], recs[1]["aux_size"], recs[1]["flags"]) == (0, 5000, 0)
    start, data = rb.aux_read()
    assert start == 0 and data == trace_oracle(0, 5000)
    assert _core.trace_bytes(123, 50) == trace_oracle(123, 50)
    # truncation: the buffer has 8191 free bytes
    r = rb.trace_run(10000)
    assert r["written"] == 8191 and r["disable"] and rb.trace_disabled
    assert rb.read_records()[0]["flags"] == 1  # TRUNCATED


def test_aux_snapshot_mode() -> None:
    rb = _core.RingBuffer(aux_pages=1, aux_writable=False)
    rb.trace_run(10000)
    rec = rb.read_records()[0]
    assert (rec["aux_offset"], rec["aux_size"], rec["flags"]) == (10000, 4096, 2)  # OVERWRITE
    assert np.frombuffer(rb.aux_pages(), dtype=np.uint8).size == 4096
    assert rb.aux_copy(10000 - 4096, 4096) == trace_oracle(10000 - 4096, 4096)


@pytest.mark.parametrize(("pages", "intact"), [(2, True), (3, False), (4, True), (6, False)])
def test_non_power_of_two_aux_is_corrupted_by_the_2_pow_64_wrap(pages: int, intact: bool) -> None:
    start = 2**64 - 3000
    rb = _core.RingBuffer(aux_pages=pages, allow_non_pow2_aux=True, aux_start=start)
    assert rb.trace_run(4000)["written"] == 4000  # crosses 2^64
    assert rb.trace_run(1500)["written"] == 1500  # begins after the counters wrapped
    s, data = rb.aux_read()
    assert s == start and len(data) == 5500
    assert (data == trace_oracle(start, 5500)) is intact


def test_mmap_errnos() -> None:
    def err(**kw: object) -> int:
        with pytest.raises(_core.PerfError) as e:
            _core.mmap_check(**kw)  # type: ignore[arg-type]
        return int(e.value.errno)

    assert err(length=4 * 4096) == errno.EINVAL  # 1+3 pages
    assert err(length=3 * 4096, shared=False) == errno.EINVAL
    assert err(length=3 * 4096, cpu=-1, inherit=True) == errno.EINVAL
    assert err(length=(1 + 4096) * 4096) == errno.EPERM
    assert _core.mmap_check(length=(1 + 4096) * 4096, cap_ipc_lock=True)["action"] == "create_rb"
    assert _core.mmap_check(length=3 * 4096, prot_write=False)["overwrite"] is True
    assert err(length=2 * 4096, pgoff=3, rb_data_pages=2, user_aux_offset=3 * 4096, user_aux_size=2 * 4096) == errno.EOPNOTSUPP
    assert err(length=3 * 4096, pgoff=3, rb_data_pages=2, user_aux_offset=3 * 4096, user_aux_size=3 * 4096, pmu_has_aux=True) == errno.EINVAL
    ok = _core.mmap_check(length=3 * 4096, pgoff=3, rb_data_pages=2, user_aux_offset=3 * 4096, user_aux_size=3 * 4096, pmu_has_aux=True, allow_non_pow2_aux=True)
    assert ok["action"] == "create_aux" and ok["nr_pages"] == 3


@given(st.binary(max_size=200))
def test_garbage_never_crashes_the_decoder(data: bytes) -> None:
    fmt = _core.RecordFormat(sample_type="ip|tid|time|callchain|read|raw|branch_stack", read_format="group|id", sample_id_all=True, branch_sample_type="any|hw_index")
    try:
        fmt.decode(data)
    except _core.UsageError as e:
        assert str(e)


def test_bad_arguments_name_the_value() -> None:
    with pytest.raises(_core.UsageError, match="bogus"):
        _core.RingBuffer().write_sample(bogus=1)
    with pytest.raises(_core.PerfError, match="not a power of two|neither 0 nor a power of two"):
        _core.RingBuffer(data_pages=3)
    with pytest.raises(_core.UsageError, match="kind"):
        _core.RingBuffer().write_record("nope")
    with pytest.raises(_core.UsageError, match="sample_type"):
        _core.RecordFormat(sample_type="ip|nonsense")
