"""Side-band records written by the core into event rings: SWITCH / SWITCH_CPU_WIDE from
Machine.switch_in / switch_out, FORK / COMM / EXIT from Machine.fork / exec / exit_task; which
events receive them
(perf_iterate_sb(): CPU-wide side-band events of the CPU, the current task's context events,
only events at least INACTIVE) and their layouts. The layouts are compared with records the
running kernel writes for the same attr (prctl(PR_SET_NAME) -> COMM, fork() -> FORK, a sleep
-> SWITCH out and in). Facts: spec/ring-buffer-aux-records.md §5."""

from __future__ import annotations

import ctypes
import mmap
import os
import struct
import threading
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kernel_oracle
import perfcore as pc

OK, WHY = kernel_oracle.available()
MISC_SWITCH_OUT = 1 << 13
MISC_SWITCH_OUT_PREEMPT = 1 << 14
MISC_COMM_EXEC = 1 << 13
IDS = "tid|time|id|stream_id|cpu|identifier"


def sb_attr(**kw: object) -> pc.Attr:
    return pc.Attr(type="software", config="dummy", sample_id_all=True, sample_type=IDS, **kw)  # type: ignore[arg-type]


def test_switch_records_follow_the_schedule() -> None:
    m = pc.Machine(nr_cpus=2)
    a, b = m.spawn("a"), m.spawn("b")
    cw = m.perf_event_open(sb_attr(context_switch=True), cpu=0)
    on_b = m.perf_event_open(sb_attr(context_switch=True), pid=b)
    rcw, rb_ = cw.mmap(1), on_b.mmap(1)
    m.switch_in(0, a)
    m.switch_in(0, b)
    m.switch_out(0)
    got = [(r["type"], r["misc"], r["next_prev_pid"], r["sample_id"]["pid"]) for r in rcw.read_records()]
    out_p = MISC_SWITCH_OUT | MISC_SWITCH_OUT_PREEMPT
    assert got == [
        ("switch_cpu_wide", out_p, a, 0),  # the idle task leaves (always "preempted")
        ("switch_cpu_wide", 0, 0, a),
        ("switch_cpu_wide", out_p, b, a),  # a is preempted by b
        ("switch_cpu_wide", 0, a, b),
        ("switch_cpu_wide", MISC_SWITCH_OUT, 0, b),  # b blocks: not preempted
        ("switch_cpu_wide", 0, b, 0),
    ]
    own = rb_.read_records()
    assert [(r["type"], r["misc"], r["size"]) for r in own] == [("switch", 0, 56), ("switch", MISC_SWITCH_OUT, 56)]
    assert all(r["sample_id"]["cpu"] == 0 and r["sample_id"]["id"] == on_b.id for r in own)


def test_events_off_or_without_the_bit_or_on_another_cpu_get_nothing() -> None:
    m = pc.Machine(nr_cpus=2)
    a = m.spawn("a")
    quiet = [
        m.perf_event_open(sb_attr(context_switch=True, comm=True, disabled=True), cpu=0),
        m.perf_event_open(sb_attr(), cpu=0),
        m.perf_event_open(sb_attr(context_switch=True, comm=True), cpu=1),
    ]
    rings = [e.mmap(1) for e in quiet]
    m.switch_in(0, a)
    m.exec(a, "b")
    assert all(r.read_records() == [] for r in rings)


def test_fork_exec_exit_write_fork_comm_exit() -> None:
    m = pc.Machine(nr_cpus=1)
    parent = m.spawn("parent")
    ev = m.perf_event_open(sb_attr(comm=True, task=True), cpu=0)
    rb = ev.mmap(1)
    m.switch_in(0, parent)
    child = m.fork(parent)
    m.switch_in(0, child)
    m.exec(child, "worker-thread-name-long")
    m.exit_task(child)
    recs = [r for r in rb.read_records() if r["type"] in ("fork", "comm", "exit")]
    fork, comm, exit_ = recs
    assert (fork["type"], fork["pid"], fork["ppid"], fork["tid"], fork["ptid"]) == ("fork", child, parent, child, parent)
    assert fork["sample_id"]["pid"] == parent
    assert (comm["type"], comm["misc"], comm["comm"]) == ("comm", MISC_COMM_EXEC, "worker-thread-n")
    assert (exit_["type"], exit_["ppid"], exit_["ptid"]) == ("exit", parent, parent)  # ptid = parent's pid


def test_a_thread_reports_its_process_id_and_own_tid() -> None:
    m = pc.Machine(nr_cpus=1)
    proc = m.spawn("proc")
    ev = m.perf_event_open(sb_attr(task=True), cpu=0)
    rb = ev.mmap(1)
    m.switch_in(0, proc)
    tid = m.fork(proc, clone_thread=True)
    (fork,) = [r for r in rb.read_records() if r["type"] == "fork"]
    assert (fork["pid"], fork["tid"]) == (proc, tid)  # perf_event_pid() = tgid


# --- the running kernel writes the same layouts ------------------------------------------------

S = {"tid": 1 << 1, "time": 1 << 2, "id": 1 << 6, "cpu": 1 << 7, "stream_id": 1 << 9, "identifier": 1 << 16}
PR_SET_NAME = 15
_libc = ctypes.CDLL(None, use_errno=True)


def kernel_sideband(sample_type: int) -> list[bytes]:
    """COMM (prctl), FORK (fork + exit) and SWITCH (sleep) records of a dummy event on this task."""
    attr = pc.Attr(type="software", config="dummy", disabled=True, sample_id_all=True, sample_type=sample_type,
                   comm=True, task=True, context_switch=True)
    fd = kernel_oracle.open_fd(attr.to_bytes(), pid=0, cpu=-1)
    with open("/proc/self/comm", "rb") as f:
        old = f.read().strip()
    try:
        ring = mmap.mmap(fd, 9 * 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        kernel_oracle.ioctl(fd, 0x2400)  # ENABLE
        _libc.prctl(PR_SET_NAME, b"pcside", 0, 0, 0)
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        time.sleep(0.002)
        kernel_oracle.ioctl(fd, 0x2401)  # DISABLE
        head = struct.unpack_from("<Q", ring, 1024)[0]
        data = bytes(ring[4096 : 4096 + min(head, 8 * 4096)])
        ring.close()
    finally:
        _libc.prctl(PR_SET_NAME, old, 0, 0, 0)
        os.close(fd)
    out, off = [], 0
    while off + 8 <= len(data):
        size = struct.unpack_from("<H", data, off + 6)[0]
        out.append(data[off : off + size])
        off += size
    return out


@pytest.mark.skipif(not OK, reason=WHY or "perf_event_open unavailable")
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bits=st.sets(st.sampled_from(sorted(S)), min_size=0))
def test_record_layouts_match_the_kernel(bits: set[str]) -> None:
    sample_type = sum(S[b] for b in bits)
    krecs = kernel_sideband(sample_type)
    fmt = pc.RecordFormat(sample_type=sample_type, sample_id_all=True)
    kernel: dict[str, list[dict[str, Any]]] = {}
    for r in krecs:
        (d,) = fmt.decode(r)
        kernel.setdefault(d["type"], []).append(d)
    assert {"comm", "fork", "switch"} <= set(kernel)

    m = pc.Machine(nr_cpus=1)
    me = m.spawn("shell")
    ev = m.perf_event_open(pc.Attr(type="software", config="dummy", sample_id_all=True, sample_type=sample_type,
                                   comm=True, task=True, context_switch=True), pid=me, cpu=0)
    rb = ev.mmap(8)
    m.switch_in(0, me)
    m.exec(me, "pcside")  # COMM with MISC_COMM_EXEC; the kernel's prctl() COMM has misc 0
    m.fork(me)
    m.switch_out(0)
    m.switch_in(0, me)
    model: dict[str, list[dict[str, Any]]] = {}
    for d in rb.read_records():
        model.setdefault(d["type"], []).append(d)
    for kind in ("comm", "fork", "switch"):
        assert {r["size"] for r in model[kind]} == {r["size"] for r in kernel[kind]}, kind
    assert (model["comm"][0]["misc"], kernel["comm"][0]["misc"]) == (MISC_COMM_EXEC, 0)  # exec vs prctl
    assert model["comm"][0]["comm"] == kernel["comm"][0]["comm"] == "pcside"
    # the task's own context: SWITCH in (misc 0) and out (SWITCH_OUT, not preempted: it slept)
    assert {r["misc"] for r in model["switch"]} <= {r["misc"] for r in kernel["switch"]}
    k_fork = kernel["fork"][0]
    assert (k_fork["ppid"], k_fork["ptid"]) == (os.getpid(), threading.get_native_id())
    assert k_fork["pid"] == k_fork["tid"] != os.getpid()
