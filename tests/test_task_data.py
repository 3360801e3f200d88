"""perfcore._core.TaskDataTable: the 6.15+ perf_ctx_data protocol from Python, checked against a
tiny reference model with hypothesis, plus the 10K-thread memory figures."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

import perfcore
from perfcore import _core


def test_per_task_and_global_lifecycle():
    t = _core.TaskDataTable(4, blob_size=800, blob_align=8)
    for i in range(3):
        t.spawn(i)
    t.attach_task(0)
    assert t.info(0) == (1, False)
    t.attach_global()
    assert [t.info(i) for i in range(3)] == [(2, True), (1, True), (1, True)]
    t.fork(1, 3)
    assert t.info(3) == (1, True)
    t.detach_global()
    assert t.info(0) == (1, False)
    assert t.stats()["blobs_live"] == 4, "freed only after a grace period"
    t.synchronize()
    assert t.stats()["blobs_live"] == 1
    t.exit_task(0)
    t.synchronize()
    s = t.stats()
    assert s["blobs_live"] == 0 and s["headers_live"] == 0 and s["refcount_underflows"] == 0


def test_errors_are_clear():
    t = _core.TaskDataTable(2)
    with pytest.raises(perfcore._core.NotFoundError, match="out of range"):
        t.attach_task(5)
    with pytest.raises(perfcore._core.UsageError, match="walk"):
        _core.TaskDataTable(2, walk="sideways")
    with pytest.raises(perfcore._core.PerfError, match="power of two"):
        _core.TaskDataTable(2, blob_align=48)
    t.spawn(0)
    t.fail_nth(0)
    with pytest.raises(perfcore._core.PerfError) as e:
        t.attach_global()
    assert e.value.errno == 12
    assert t.stats()["global_ref"] == 0
    with pytest.raises(perfcore._core.UsageError):
        t.detach_global()


def test_ten_thousand_threads_memory():
    m = _core.task_data_memory(10_000)
    on, off = m["attached"], m["released"]
    assert on["headers"] == on["blobs"] == 10_000
    assert on["header_bytes_kmalloc"] == 10_000 * 64
    assert on["blob_bytes"] == 10_000 * 1512 and on["blob_align"] == 64
    assert on["total_bytes"] == 10_000 * (64 + 1512)
    assert all(v == 0 for v in off.values())
    legacy = _core.task_data_memory(10_000, blob_size=788, blob_align=8)["attached"]
    assert legacy["blob_bytes"] == 7_880_000  # the upstream "about 8 MB"


def test_python_threads_share_a_table():
    t = _core.TaskDataTable(8, blob_size=64, blob_align=64)
    for i in range(8):
        t.spawn(i)

    def work(w: int) -> None:
        for r in range(200):
            task = (w + r) % 8
            t.attach_task(task)
            if r % 50 == 0:
                t.attach_global()
                t.detach_global()
            t.detach_task(task)

    ths = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    t.synchronize()
    s = t.stats()
    assert s["blobs_live"] == 0 and s["published"] == 0 and s["refcount_underflows"] == 0


ops = st.lists(
    st.one_of(
        st.tuples(st.just("attach"), st.integers(0, 3)),
        st.tuples(st.just("detach"), st.integers(0, 3)),
        st.tuples(st.just("gattach"), st.just(0)),
        st.tuples(st.just("gdetach"), st.just(0)),
        st.tuples(st.just("exit"), st.integers(0, 3)),
        st.tuples(st.just("sync"), st.just(0)),
    ),
    max_size=40,
)


@given(ops)
def test_protocol_matches_reference_model(seq):
    t = _core.TaskDataTable(4, blob_size=64, blob_align=8)
    alive = [True] * 4
    rc = [0] * 4
    glob = [False] * 4
    events = [0] * 4
    gref = 0
    for i in range(4):
        t.spawn(i)
    for op, i in seq:
        if op == "attach":
            t.attach_task(i)
            events[i] += 1
            if alive[i] or rc[i] > 0:
                rc[i] += 1
        elif op == "detach" and events[i] > 0:
            t.detach_task(i)
            events[i] -= 1
            rc[i] = max(0, rc[i] - 1)
        elif op == "gattach":
            t.attach_global()
            if gref == 0:
                for j in range(4):
                    if alive[j] and not glob[j]:
                        glob[j] = True
                        rc[j] += 1
            gref += 1
        elif op == "gdetach" and gref > 0:
            t.detach_global()
            gref -= 1
            if gref == 0:
                for j in range(4):
                    if glob[j]:
                        rc[j] = max(0, rc[j] - 1)
                    glob[j] = False
        elif op == "exit" and alive[i]:
            t.exit_task(i)
            alive[i] = False
            rc[i] = max(0, rc[i] - 1)
        elif op == "sync":
            t.synchronize()
        for j in range(4):
            if rc[j] == 0:
                glob[j] = False
            assert t.info(j) == ((rc[j], glob[j]) if rc[j] > 0 else None)
    for j in range(4):
        for _ in range(events[j]):
            t.detach_task(j)
    for _ in range(gref):
        t.detach_global()
    for j in range(4):
        if alive[j]:
            t.exit_task(j)
    t.synchronize()
    s = t.stats()
    assert s["blobs_live"] == 0 and s["headers_live"] == 0


def test_study_rejects_bad_input():
    with pytest.raises(perfcore._core.UsageError, match="mode"):
        _core.lbr_callstack_study("sometimes")
    with pytest.raises(perfcore._core.UsageError, match="lbr format"):
        _core.lbr_callstack_study("per_process", lbr_format="ppc")
    with pytest.raises(perfcore._core.PerfError, match="depth"):
        _core.lbr_callstack_study("per_process", lbr_depth=12)
    with pytest.raises(perfcore._core.UsageError, match="slice_ns"):
        _core.lbr_callstack_study("per_process", slice_ns=0)
