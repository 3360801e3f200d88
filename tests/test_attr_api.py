"""The Python face of the ABI: Attr construction and bytes, abi constants, error classes."""

from __future__ import annotations

import errno
import struct
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

import perfcore as pc
from perfcore import abi

# spec §7: (name, offset, size) of perf_event_attr, typed in from the uapi table
LAYOUT = [("type", 0, 4), ("size", 4, 4), ("config", 8, 8), ("sample_period", 16, 8), ("sample_type", 24, 8),
          ("read_format", 32, 8), ("flags", 40, 8), ("wakeup_events", 48, 4), ("bp_type", 52, 4),
          ("config1", 56, 8), ("config2", 64, 8), ("branch_sample_type", 72, 8), ("sample_regs_user", 80, 8),
          ("sample_stack_user", 88, 4), ("clockid", 92, 4), ("sample_regs_intr", 96, 8), ("aux_watermark", 104, 4),
          ("sample_max_stack", 108, 2), ("__reserved_2", 110, 2), ("aux_sample_size", 112, 4),
          ("aux_action", 116, 4), ("sig_data", 120, 8), ("config3", 128, 8)]
FMT = {2: "<H", 4: "<I", 8: "<Q"}


@given(values=st.lists(st.integers(0, 2**16 - 1), min_size=len(LAYOUT), max_size=len(LAYOUT)))
def test_every_field_lands_at_its_uapi_offset(values: list[int]) -> None:
    a = pc.Attr()
    for (name, _, _), v in zip(LAYOUT, values):
        if name == "clockid":
            v = v - 2**15  # signed
        setattr(a, name, v)
    raw = a.to_bytes(136)
    assert len(raw) == 136
    for (name, off, size), v in zip(LAYOUT, values):
        got = struct.unpack_from(FMT[size], raw, off)[0]
        want = (v - 2**15) & 0xFFFFFFFF if name == "clockid" else v
        assert got == want, name
    assert pc.Attr.from_bytes(raw) == a


@pytest.mark.parametrize("size", [64, 72, 80, 96, 104, 112, 120, 128, 136])
def test_each_version_size_is_a_prefix(size: int) -> None:
    a = pc.Attr(type="software", config="page-faults", sample_type="ip|tid|time", sig_data=7, config3=9)
    full = a.to_bytes(136)
    assert a.to_bytes(size) == full[:size]
    back = pc.Attr.from_bytes(full[:size])
    assert back.to_bytes(136)[:size] == full[:size]
    assert back.to_bytes(136)[size:] == bytes(136 - size)


def test_names_and_flags() -> None:
    a = pc.Attr(type="software", config="cpu-clock", sample_type="ip|tid|time", read_format="id|lost",
                disabled=True, exclude_kernel=1, precise_ip=2)
    assert a.type == abi.PERF_TYPE_SOFTWARE and a.config == abi.PERF_COUNT_SW_CPU_CLOCK
    assert a.sample_type == abi.PERF_SAMPLE_IP | abi.PERF_SAMPLE_TID | abi.PERF_SAMPLE_TIME
    assert a.read_format == abi.PERF_FORMAT_ID | abi.PERF_FORMAT_LOST
    # flags word at offset 40: disabled bit 0, exclude_kernel bit 5, precise_ip bits 15-16
    assert struct.unpack_from("<Q", a.to_bytes(), 40)[0] == (1 << 0) | (1 << 5) | (2 << 15)
    assert "sample_type=\"ip|tid|time\"" in repr(a)
    with pytest.raises(pc.UsageError, match="sample_type: unknown name"):
        pc.Attr(sample_type="ip|nonsense")
    with pytest.raises(pc.UsageError, match="does not fit"):
        pc.Attr(sample_max_stack=70000)
    with pytest.raises(AttributeError):
        _ = a.no_such_field


def test_abi_constants_match_the_uapi_header_values() -> None:
    # values from include/uapi/linux/perf_event.h, typed in independently
    assert abi.PERF_SAMPLE_WEIGHT_STRUCT == 1 << 24
    assert abi.PERF_RECORD_SWITCH_CPU_WIDE == 15
    assert abi.PERF_CONTEXT_KERNEL == 2**64 - 128
    assert abi.PERF_EVENT_IOC_ENABLE == 0x2400
    assert abi.PERF_ATTR_SIZE_VER8 == 136
    assert len(abi.CONSTANTS) > 150


def test_perf_error_is_an_oserror_with_errno_and_field() -> None:
    m = pc.Machine()
    with pytest.raises(OSError) as info:
        m.perf_event_open(pc.Attr(type="software", config="cpu-clock", sample_type=1 << 25), pid=0)
    e = info.value
    assert isinstance(e, pc.PerfError)
    assert e.errno == errno.EINVAL
    assert "attr.sample_type" in str(e) and "bit 25" in str(e)


def test_e2big_writes_the_kernel_size_back_into_a_bytearray() -> None:
    m = pc.Machine()
    buf = bytearray(pc.Attr(type="software", config="cpu-clock").to_bytes(200))
    buf[4:8] = (200).to_bytes(4, "little")
    buf[150] = 1
    with pytest.raises(pc.PerfError) as info:
        m.perf_event_open(buf, pid=0)
    assert info.value.errno == errno.E2BIG
    assert int.from_bytes(buf[4:8], "little") == 136


def test_a_rust_panic_becomes_internal_error() -> None:
    with pytest.raises(pc.InternalError, match="forced"):
        pc._core._force_panic()
    # and the interpreter is still fine in a fresh process too (no abort)
    r = subprocess.run([sys.executable, "-c", "import perfcore,sys\ntry:\n perfcore._core._force_panic()\n"
                        "except perfcore.InternalError: sys.exit(7)"], capture_output=True)
    assert r.returncode == 7, r.stderr


def test_wrong_argument_types_are_type_errors() -> None:
    m = pc.Machine()
    with pytest.raises(TypeError):
        m.perf_event_open(12345)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        pc.Attr(config=[1])  # type: ignore[arg-type]
    with pytest.raises(pc.UsageError):
        pc.Machine("no-such-preset")
    with pytest.raises(pc.UsageError):
        pc.Machine(nr_cpus=0)


def test_groups_and_close() -> None:
    m = pc.Machine(nr_cpus=4)
    leader = m.perf_event_open(pc.Attr(type="software", config="cpu-clock", disabled=True), pid=0)
    sib = m.perf_event_open(pc.Attr(type="software", config="page-faults"), pid=0, group=leader)
    assert sib.group_leader == leader and leader.siblings == [sib]
    assert leader.state == "OFF" and sib.state == "INACTIVE"
    with pytest.raises(pc.PerfError) as info:  # a sibling cannot lead
        m.perf_event_open(pc.Attr(type="software", config="dummy"), pid=0, group=sib)
    assert info.value.errno == errno.EINVAL
    with pytest.raises(pc.PerfError) as info:  # pinned only on a leader
        m.perf_event_open(pc.Attr(type="software", config="dummy", pinned=True), pid=0, group=leader)
    assert info.value.errno == errno.EINVAL
    leader.close()
    assert not leader.is_open and sib.group_leader == sib
    with pytest.raises(pc.NotFoundError):
        leader.close()
    with pytest.raises(pc.PerfError) as info:  # a closed fd is EBADF
        m.perf_event_open(pc.Attr(type="software", config="dummy"), pid=0, group=leader)
    assert info.value.errno == errno.EBADF


def test_privilege_rules_for_an_unprivileged_caller() -> None:
    m = pc.Machine(privileged=False)  # paranoid 2
    sw = dict(type="software", config="cpu-clock")
    with pytest.raises(pc.PerfError) as info:
        m.perf_event_open(pc.Attr(**sw), pid=0)  # kernel profiling
    assert info.value.errno == errno.EACCES and "exclude_kernel" in str(info.value)
    assert m.perf_event_open(pc.Attr(**sw, exclude_kernel=True, exclude_hv=True), pid=0).is_open
    with pytest.raises(pc.PerfError) as info:  # CPU-wide needs paranoid <= 0
        m.perf_event_open(pc.Attr(**sw, exclude_kernel=True), pid=-1, cpu=0)
    assert info.value.errno == errno.EACCES
    other = m.spawn("other", uid=4242)
    with pytest.raises(pc.PerfError) as info:
        m.perf_event_open(pc.Attr(**sw, exclude_kernel=True), pid=other)
    assert info.value.errno == errno.EACCES
    m.set_sysctl("perf_event_paranoid", -1)
    assert m.perf_event_open(pc.Attr(**sw), pid=-1, cpu=0).is_open


def test_offline_cpu_and_exited_task() -> None:
    m = pc.Machine(nr_cpus=2)
    m.set_cpu_online(1, False)
    with pytest.raises(pc.PerfError) as info:
        m.perf_event_open(pc.Attr(type="software", config="cpu-clock"), pid=-1, cpu=1)
    assert info.value.errno == errno.ENODEV
    pid = m.spawn("gone")
    m.exit_task(pid)
    with pytest.raises(pc.PerfError) as info:
        m.perf_event_open(pc.Attr(type="software", config="cpu-clock"), pid=pid)
    assert info.value.errno == errno.ESRCH
