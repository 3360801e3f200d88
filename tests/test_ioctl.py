"""ioctl(2) on event fds: every PERF_EVENT_IOC_* errno of the model against the running kernel
for generated software events (cpu-clock, task-clock, page-faults, dummy; sampling or counting;
inherit, write_backward, clock, per-task or CPU-wide; mapped with 1+1 pages, a lone user page or
not at all) and SET_OUTPUT target relations; plus the model-only behaviours that need overflows
(REFRESH countdown, POLL_HUP), checked against the rules of spec/ring-buffer-aux-records.md."""

from __future__ import annotations

import errno
import mmap
import os
import struct
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kernel_oracle
import perfcore as pc

OK, WHY = kernel_oracle.available()
KINDS = {"cpu-clock": 0, "task-clock": 1, "page-faults": 2, "dummy": 9}
PAGE = 4096
IOC = {
    "enable": 0x2400,
    "disable": 0x2401,
    "refresh": 0x2402,
    "reset": 0x2403,
    "period": 0x40082404,
    "set_output": 0x2405,
    "set_filter": 0x40082406,
    "id": 0x80082407,
    "set_bpf": 0x40042408,
    "pause_output": 0x40042409,
    "query_bpf": 0xC008240A,
    "modify_attributes": 0x4008240B,
}


@dataclass(frozen=True)
class Side:
    """One event: its attr choices, where it is opened and how it is mapped."""

    kind: str
    sampling: bool
    freq: bool
    inherit: bool
    backward: bool
    clock: bool
    cpu_wide: bool
    pages: int | None  # None: not mapped; 0: the user page only; 1: 1 + 1 pages

    def attr(self) -> pc.Attr:
        fields: dict[str, Any] = dict(type="software", config=KINDS[self.kind], disabled=True)
        if self.sampling and self.freq:
            fields.update(freq=True, sample_freq=100)
        elif self.sampling:
            fields.update(sample_period=1_000_000)
        fields.update(inherit=self.inherit, write_backward=self.backward)
        if self.clock:
            fields.update(use_clockid=True, clockid=1)  # CLOCK_MONOTONIC
        return pc.Attr(**fields)

    @property
    def pid_cpu(self) -> tuple[int, int]:
        return (-1, 0) if self.cpu_wide else (0, -1)


sides = st.builds(
    Side,
    kind=st.sampled_from(sorted(KINDS)),
    sampling=st.booleans(),
    freq=st.booleans(),
    inherit=st.booleans(),
    backward=st.booleans(),
    clock=st.booleans(),
    cpu_wide=st.booleans(),
    pages=st.sampled_from([None, 0, 1]),
)

OPS = st.one_of(
    st.tuples(st.sampled_from(["enable", "disable", "reset"]), st.sampled_from([0, 1, 2])),
    st.tuples(st.just("refresh"), st.sampled_from([-1, 0, 1, 3])),
    st.tuples(st.just("period"), st.sampled_from([0, 1, 1000, 1 << 63, "rate", "rate+1"])),
    st.tuples(st.just("id"), st.none()),
    st.tuples(st.just("set_output"), st.sampled_from(["other", "self", "-1", "-1/32", "notperf"])),
    st.tuples(st.just("set_filter"), st.none()),
    st.tuples(st.just("set_bpf"), st.sampled_from(["nofd", "eventfd"])),
    st.tuples(st.just("pause_output"), st.sampled_from([0, 1])),
    st.tuples(st.just("query_bpf"), st.none()),
    st.tuples(st.just("modify_attributes"), st.sampled_from(["same", "othertype"])),
    st.tuples(st.just("unknown"), st.sampled_from([0x2420, 0x240C, 0x1234])),
)


def model_errno(f: Any) -> int:
    try:
        f()
        return 0
    except pc.PerfError as e:
        return e.errno or -1


class KernelSide:
    """A real event fd and its mapping."""

    def __init__(self, side: Side) -> None:
        pid, cpu = side.pid_cpu
        self.fd = kernel_oracle.open_fd(side.attr().to_bytes(), pid=pid, cpu=cpu)
        self.map: mmap.mmap | None = None
        self.mmap_errno = 0
        if side.pages is not None:
            try:
                self.map = mmap.mmap(self.fd, (1 + side.pages) * PAGE, mmap.MAP_SHARED,
                                     mmap.PROT_READ | mmap.PROT_WRITE)
            except OSError as e:
                self.mmap_errno = e.errno or -1

    def close(self) -> None:
        if self.map is not None:
            self.map.close()
        os.close(self.fd)


def model_side(m: pc.Machine, side: Side) -> tuple[pc.Event, int]:
    pid, cpu = side.pid_cpu
    ev = m.perf_event_open(side.attr(), pid=pid, cpu=cpu)
    mmap_errno = 0
    if side.pages is not None:
        mmap_errno = model_errno(lambda: ev.mmap(side.pages))
    return ev, mmap_errno


def run_op(op: tuple[str, Any], m: pc.Machine, a: pc.Event, b: pc.Event | None,
           ka: KernelSide, kb: KernelSide | None, a_side: Side, rate: int) -> tuple[int, int]:
    """(model errno, kernel errno) of one ioctl."""
    name, arg = op
    cmd = IOC.get(name, arg if name == "unknown" else 0)
    if name in ("enable", "disable", "reset", "pause_output"):
        return model_errno(lambda: a.ioctl(name, arg)), kernel_oracle.ioctl(ka.fd, cmd, arg).errno
    if name == "refresh":
        return model_errno(lambda: a.ioctl(name, arg)), kernel_oracle.ioctl(ka.fd, cmd, arg).errno
    if name == "period":
        v = rate if arg == "rate" else rate + 1 if arg == "rate+1" else int(arg)
        return model_errno(lambda: a.period(v)), kernel_oracle.ioctl(ka.fd, cmd, struct.pack("<Q", v)).errno
    if name == "id":
        return model_errno(lambda: a.ioctl("id")), kernel_oracle.ioctl(ka.fd, cmd, bytes(8)).errno
    if name == "set_output":
        if arg == "other":
            assert b is not None and kb is not None
            return model_errno(lambda: a.set_output(b)), kernel_oracle.ioctl(ka.fd, cmd, kb.fd).errno
        if arg == "self":
            return model_errno(lambda: a.set_output(a)), kernel_oracle.ioctl(ka.fd, cmd, ka.fd).errno
        if arg == "-1":
            return model_errno(lambda: a.ioctl(cmd, -1)), kernel_oracle.ioctl(ka.fd, cmd, -1).errno
        if arg == "-1/32":
            return model_errno(lambda: a.ioctl(cmd, 0xFFFFFFFF)), kernel_oracle.ioctl(ka.fd, cmd, 0xFFFFFFFF).errno
        null = os.open(os.devnull, os.O_RDONLY)
        try:
            return model_errno(lambda: a.ioctl(cmd, null)), kernel_oracle.ioctl(ka.fd, cmd, null).errno
        finally:
            os.close(null)
    if name == "set_filter":
        f = "common_pid != 0"
        return model_errno(lambda: a.ioctl(cmd, f)), kernel_oracle.ioctl(ka.fd, cmd, f.encode() + b"\0").errno
    if name == "set_bpf":
        if arg == "eventfd":
            return model_errno(lambda: a.ioctl(cmd, a)), kernel_oracle.ioctl(ka.fd, cmd, ka.fd).errno
        return model_errno(lambda: a.ioctl(cmd, 99_999)), kernel_oracle.ioctl(ka.fd, cmd, 99_999).errno
    if name == "query_bpf":
        return model_errno(lambda: a.ioctl(cmd)), kernel_oracle.ioctl(ka.fd, cmd, bytes(16)).errno
    if name == "modify_attributes":
        attr = a_side.attr() if arg == "same" else a_side.attr().replace(type="hardware", config=0)
        raw = attr.to_bytes()
        return model_errno(lambda: a.ioctl(cmd, raw)), kernel_oracle.ioctl(ka.fd, cmd, raw).errno
    return model_errno(lambda: a.ioctl(cmd)), kernel_oracle.ioctl(ka.fd, cmd, 0).errno


@pytest.mark.skipif(not OK, reason=WHY or "perf_event_open unavailable")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a_side=sides, b_side=sides, op=OPS)
def test_ioctl_errnos_agree_with_the_running_kernel(a_side: Side, b_side: Side, op: tuple[str, Any]) -> None:
    rate = kernel_oracle.max_sample_rate()
    m = pc.Machine(nr_cpus=os.cpu_count() or 1, perf_event_max_sample_rate=rate)
    a, a_mmap = model_side(m, a_side)
    need_b = op == ("set_output", "other")
    b, b_mmap = model_side(m, b_side) if need_b else (None, 0)
    ka = KernelSide(a_side)
    kb = KernelSide(b_side) if need_b else None
    try:
        assert a_mmap == ka.mmap_errno, f"mmap of {a_side}"
        if kb is not None:
            assert b_mmap == kb.mmap_errno, f"mmap of {b_side}"
        model, kernel = run_op(op, m, a, b, ka, kb, a_side, rate)
        assert model == kernel, f"{op}: model {errno.errorcode.get(model, model)} kernel {errno.errorcode.get(kernel, kernel)}"
    finally:
        ka.close()
        if kb is not None:
            kb.close()


# --- model-only behaviours (overflows need a PMU interrupt the kernel cannot be asked for) -----

def sampling_event(m: pc.Machine, **kw: Any) -> pc.Event:
    return m.perf_event_open(pc.Attr(type="software", config="cpu-clock", sample_period=1000,
                                     sample_type="ip|tid|time", disabled=True, **kw), pid=0)


def test_refresh_allows_n_overflows_then_disables_with_poll_hup() -> None:
    m = pc.Machine()
    ev = sampling_event(m, wakeup_events=1)
    rb = ev.mmap(1)
    ev.refresh(3)
    assert ev.state != "OFF"
    assert [ev.overflow(ip=i) for i in range(1, 4)] == [False, False, True]
    assert ev.state == "OFF"
    assert ev.output_state()["pending_kill"] == 6  # POLL_HUP
    assert [r["ip"] for r in rb.read_records()] == [1, 2, 3]  # the last sample is still written
    assert ev.poll() == 0x41  # wakeup_events=1: the ring woke up


def test_overflow_without_refresh_never_disables() -> None:
    m = pc.Machine()
    ev = sampling_event(m)
    ev.ioctl("enable")
    ev.mmap(1)
    assert not any(ev.overflow(ip=i) for i in range(50))
    assert ev.state != "OFF" and ev.output_state()["pending_kill"] == 1  # POLL_IN


def test_set_output_writes_into_the_targets_ring_object() -> None:
    m = pc.Machine()
    a = sampling_event(m)
    b = m.perf_event_open(pc.Attr(type="software", config="dummy", sample_period=1, sample_type="ip|id"), pid=0)
    rb = a.mmap(2)
    b.set_output(a)
    assert b.output_state()["rb"] == a.handle
    assert b.overflow(ip=0x1234) is False
    (raw,) = rb.read_raw()  # the ring's own format (a's) cannot decode b's records: raw bytes
    typ, misc, size = struct.unpack_from("<IHH", raw)
    assert (typ, size) == (pc.abi.PERF_RECORD_SAMPLE, 8 + 8 * 2)  # b's layout (ip|id), not a's (8 + 24)
    assert struct.unpack_from("<QQ", raw, 8) == (0x1234, b.id)
    b.set_output(None)
    assert b.output_state()["rb"] is None
    assert b.poll() == 0x10  # no ring: POLLHUP


def test_pause_output_and_reset_helpers() -> None:
    m = pc.Machine()
    ev = sampling_event(m)
    with pytest.raises(pc.PerfError) as info:
        ev.pause_output(True)
    assert info.value.errno == errno.EINVAL  # no ring
    rb = ev.mmap(1)
    ev.pause_output(True)
    assert rb.paused
    assert not ev.overflow(ip=1)
    ev.pause_output(False)
    ev.overflow(ip=2)
    lost, smp = rb.read_records()
    assert lost["type_id"] == pc.abi.PERF_RECORD_LOST and lost["lost"] == 1
    assert ev.output_state()["lost_samples"] == 1
    ev.reset()
    assert ev.ioctl("id") == ev.id


def test_unknown_ioctl_name_is_a_usage_error_and_unknown_number_enotty() -> None:
    m = pc.Machine()
    ev = sampling_event(m)
    with pytest.raises(ValueError):
        ev.ioctl("frobnicate")
    with pytest.raises(pc.PerfError) as info:
        ev.ioctl(0x2420)
    assert info.value.errno == errno.ENOTTY
