"""Concrete perf_event_open() behaviours from perf_event_tests (error_returns/, size/, flags/,
attr_fields/) and the kernel's rules, each named after the behaviour it checks. Where the running
kernel can answer, each case asks it too and requires the same errno."""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent))
import kernel_oracle  # noqa: E402
import perfcore as pc  # noqa: E402

KERNEL, WHY = kernel_oracle.available()
NCPU = os.cpu_count() or 1
SW = dict(type="software", config="task-clock")


def both(attr: pc.Attr | bytes, pid: int = 0, cpu: int = -1, flags: int = 0, size: int | None = None) -> int:
    """The errno (0 = success) from the model, checked against the kernel when available."""
    raw = attr.to_bytes(size) if isinstance(attr, pc.Attr) else attr
    m = pc.Machine(nr_cpus=NCPU)
    try:
        m.perf_event_open(bytearray(raw), pid=pid, cpu=cpu, flags=flags)
        model = 0
    except pc.PerfError as e:
        model = e.errno or -1
    if KERNEL:
        k = kernel_oracle.perf_event_open(raw, pid, cpu, -1, flags)
        assert model == k.errno, f"model {model} kernel {k.errno}"
    return model


# --- size/ ---------------------------------------------------------------------------------
def test_size_too_little_is_e2big() -> None:
    assert both(pc.Attr(**SW, size=63), size=64) == errno.E2BIG


def test_size_too_big_with_garbage_after_is_e2big() -> None:
    raw = bytearray(pc.Attr(**SW, size=144).to_bytes(144))
    raw[140] = 0xAA
    assert both(bytes(raw)) == errno.E2BIG


def test_size_too_big_but_zero_after_is_accepted() -> None:
    assert both(pc.Attr(**SW, size=144), size=144) == 0


@pytest.mark.parametrize("size", [64, 72, 80, 96, 104, 112, 120, 128, 136])
def test_size_just_right_for_every_version(size: int) -> None:
    assert both(pc.Attr(**SW, size=size), size=size) == 0


def test_size_zero_means_ver0() -> None:
    assert both(pc.Attr(**SW, size=0), size=64) == 0


# --- error_returns/ ----------------------------------------------------------------------------
def test_einval_invalid_cpu() -> None:
    assert both(pc.Attr(**SW), pid=-1, cpu=NCPU) == errno.EINVAL


def test_einval_sampling_rate_too_high() -> None:
    assert both(pc.Attr(**SW, freq=True, sample_freq=10**9)) == errno.EINVAL


def test_einval_read_format_out_of_range() -> None:
    assert both(pc.Attr(**SW, read_format=1 << 5)) == errno.EINVAL


def test_einval_invalid_sample_type() -> None:
    assert both(pc.Attr(**SW, sample_type=1 << 25)) == errno.EINVAL


def test_einval_invalid_flags_argument() -> None:
    assert both(pc.Attr(**SW), flags=1 << 4) == errno.EINVAL


def test_flags_range_check_top_32_bits() -> None:
    assert both(pc.Attr(**SW), flags=1 << 40) == errno.EINVAL


def test_einval_reserved_attr_flag_bits() -> None:
    assert both(pc.Attr(**SW, flags=1 << 38)) == errno.EINVAL


def test_enoent_non_existent_software_event() -> None:
    assert both(pc.Attr(type="software", config=100)) == errno.ENOENT


def test_enoent_unknown_type() -> None:
    assert both(pc.Attr(type=1000, config=0)) == errno.ENOENT


def test_esrch_no_such_pid() -> None:
    assert both(pc.Attr(**SW), pid=4194304 + 1) == errno.ESRCH


def test_eoverflow_sample_max_stack_above_sysctl() -> None:
    assert both(pc.Attr(**SW, sample_type="callchain", sample_max_stack=128)) == errno.EOVERFLOW


def test_eopnotsupp_branch_stack_on_software() -> None:
    assert both(pc.Attr(**SW, sample_type="branch_stack", branch_sample_type="any")) == errno.EOPNOTSUPP


def test_eopnotsupp_xmm_regs_without_pmu_capability() -> None:
    assert both(pc.Attr(**SW, sample_type="regs_user", sample_regs_user=1 << 63)) == errno.EOPNOTSUPP


def test_einval_reserved_regs_bit() -> None:
    assert both(pc.Attr(**SW, sample_type="regs_user", sample_regs_user=1 << 30)) == errno.EINVAL


def test_einval_weight_with_weight_struct() -> None:
    assert both(pc.Attr(**SW, sample_type="weight|weight_struct")) == errno.EINVAL


def test_einval_stack_user_not_8_aligned() -> None:
    assert both(pc.Attr(**SW, sample_type="stack_user", sample_stack_user=12)) == errno.EINVAL


def test_einval_inherit_thread_without_inherit() -> None:
    assert both(pc.Attr(**SW, inherit_thread=True)) == errno.EINVAL


def test_einval_remove_on_exec_with_enable_on_exec() -> None:
    assert both(pc.Attr(**SW, remove_on_exec=True, enable_on_exec=True)) == errno.EINVAL


def test_einval_sigtrap_without_remove_on_exec() -> None:
    assert both(pc.Attr(**SW, sigtrap=True)) == errno.EINVAL


def test_einval_sigtrap_cpu_wide() -> None:
    assert both(pc.Attr(**SW, sigtrap=True, remove_on_exec=True), pid=-1, cpu=0) == errno.EINVAL


def test_inherit_sample_read_needs_tid() -> None:
    assert both(pc.Attr(**SW, inherit=True, sample_type="read")) == errno.EINVAL
    assert both(pc.Attr(**SW, inherit=True, sample_type="read|tid")) == 0


def test_einval_sample_period_bit_63() -> None:
    assert both(pc.Attr(**SW, sample_period=1 << 63)) == errno.EINVAL


def test_einval_unknown_clockid_and_nmi_unsafe_clock_ok_on_software() -> None:
    assert both(pc.Attr(**SW, use_clockid=True, clockid=12)) == errno.EINVAL
    assert both(pc.Attr(**SW, use_clockid=True, clockid=0)) == 0  # REALTIME: sw PMUs are NO_NMI


def test_einval_pid_cgroup_needs_cpu() -> None:
    assert both(pc.Attr(**SW), pid=0, cpu=-1, flags=4) == errno.EINVAL


def test_e2big_writes_back_136() -> None:
    raw = bytearray(pc.Attr(**SW).to_bytes(64))
    raw[4:8] = (40).to_bytes(4, "little")
    m = pc.Machine()
    with pytest.raises(pc.PerfError):
        m.perf_event_open(raw, pid=0)
    assert int.from_bytes(raw[4:8], "little") == 136
    if KERNEL:
        assert kernel_oracle.perf_event_open(bytes(pc.Attr(**SW, size=40).to_bytes(64)), 0, -1, -1, 0).size_after == 136


# --- attr_fields/: exclusive or pinned while not a leader; group read size ----------------------
@pytest.mark.skipif(not KERNEL, reason=WHY or "no kernel oracle")
@pytest.mark.parametrize("flag", ["pinned", "exclusive"])
def test_pinned_or_exclusive_sibling_is_einval(flag: str) -> None:
    m = pc.Machine(nr_cpus=NCPU)
    leader_attr = pc.Attr(**SW, disabled=True)
    ml = m.perf_event_open(leader_attr, pid=0)
    kfd = kernel_oracle.open_fd(leader_attr.to_bytes())
    try:
        sib = pc.Attr(**SW, **{flag: True})
        with pytest.raises(pc.PerfError) as info:
            m.perf_event_open(sib, pid=0, group=ml)
        k = kernel_oracle.perf_event_open(sib.to_bytes(), 0, -1, kfd, 0)
        assert info.value.errno == k.errno == errno.EINVAL
    finally:
        os.close(kfd)


@pytest.mark.skipif(not KERNEL, reason=WHY or "no kernel oracle")
def test_group_read_larger_than_16k_is_e2big_at_the_681st_sibling() -> None:
    """anchors §4.5: read_format GROUP|ID|TIMES|LOST; the 681st sibling makes a 16392-byte read."""
    rf = "group|id|total_time_enabled|total_time_running|lost"
    attr = pc.Attr(type="software", config="dummy", read_format=rf, disabled=True)
    m = pc.Machine(nr_cpus=NCPU)
    ml = m.perf_event_open(attr, pid=0)
    kfds = [kernel_oracle.open_fd(attr.to_bytes())]
    try:
        n = 0
        while True:
            try:
                m.perf_event_open(attr, pid=0, group=ml)
                merr = 0
            except pc.PerfError as e:
                merr = e.errno or -1
            try:
                kfds.append(kernel_oracle.open_fd(attr.to_bytes(), group_fd=kfds[0]))
                kerr = 0
            except OSError as e:
                kerr = e.errno or -1
            n += 1
            assert merr == kerr, f"sibling {n}: model {merr} kernel {kerr}"
            if kerr:
                break
        assert kerr == errno.E2BIG and n == 681
    finally:
        for fd in kfds:
            os.close(fd)
