"""Concrete ioctl(2) behaviours on event fds (perf_event_tests ioctl/ and corner_cases/, the
ERRORS.txt catalogue, perf_event_set_output()'s rules), each named after the behaviour it checks.
Where the running kernel can answer, each case asks it too and requires the same errno."""

from __future__ import annotations

import errno
import mmap
import os
import struct
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent))
import kernel_oracle  # noqa: E402
import perfcore as pc  # noqa: E402

KERNEL, WHY = kernel_oracle.available()
NCPU = os.cpu_count() or 1
IOC = {"enable": 0x2400, "disable": 0x2401, "refresh": 0x2402, "reset": 0x2403, "period": 0x40082404,
       "set_output": 0x2405, "set_filter": 0x40082406, "id": 0x80082407, "set_bpf": 0x40042408,
       "pause_output": 0x40042409, "query_bpf": 0xC008240A, "modify_attributes": 0x4008240B}


def sw(config: str = "dummy", **kw: object) -> pc.Attr:
    return pc.Attr(type="software", config=config, disabled=True, **kw)  # type: ignore[arg-type]


class Pair:
    """The same events opened in the model and (when possible) in the kernel."""

    def __init__(self) -> None:
        self.m = pc.Machine(nr_cpus=NCPU, perf_event_max_sample_rate=kernel_oracle.max_sample_rate() if KERNEL else 100_000)
        self.model: list[pc.Event] = []
        self.fds: list[int] = []
        self.maps: list[mmap.mmap] = []

    def open(self, attr: pc.Attr, pid: int = 0, cpu: int = -1, pages: int | None = None) -> int:
        ev = self.m.perf_event_open(attr, pid=pid, cpu=cpu)
        self.model.append(ev)
        if KERNEL:
            fd = kernel_oracle.open_fd(attr.to_bytes(), pid=pid, cpu=cpu)
            self.fds.append(fd)
            if pages is not None:
                self.maps.append(mmap.mmap(fd, (1 + pages) * 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE))
        if pages is not None:
            ev.mmap(pages)
        return len(self.model) - 1

    def ioctl(self, i: int, cmd: str, model_arg: object, kernel_arg: int | bytes | Callable[[], int] | None) -> int:
        """The errno (0 = success) of the model, checked against the kernel's."""
        try:
            self.model[i].ioctl(cmd, model_arg)  # type: ignore[arg-type]
            got = 0
        except pc.PerfError as e:
            got = e.errno or -1
        if KERNEL:
            karg = kernel_arg() if callable(kernel_arg) else kernel_arg
            k = kernel_oracle.ioctl(self.fds[i], IOC[cmd], karg).errno
            assert got == k, f"{cmd}: model {got} kernel {k}"
        return got

    def close(self) -> None:
        for mp in self.maps:
            mp.close()
        for fd in self.fds:
            os.close(fd)


@pytest.fixture()
def pair() -> object:
    p = Pair()
    yield p
    p.close()


def test_unknown_ioctl_is_enotty(pair: Pair) -> None:
    pair.open(sw())
    try:
        pair.model[0].ioctl(0x2420)
        got = 0
    except pc.PerfError as e:
        got = e.errno or -1
    if KERNEL:
        assert kernel_oracle.ioctl(pair.fds[0], 0x2420).errno == got
    assert got == errno.ENOTTY


def test_ioctl_0_enable_and_1_disable_succeed_with_and_without_flag_group(pair: Pair) -> None:
    pair.open(sw("task-clock"))
    for cmd in ("enable", "disable"):
        for flags in (0, 1):
            assert pair.ioctl(0, cmd, flags, flags) == 0


def test_ioc_period_zero_is_einval(pair: Pair) -> None:
    pair.open(sw("cpu-clock", sample_period=100_000))
    assert pair.ioctl(0, "period", 0, struct.pack("<Q", 0)) == errno.EINVAL


def test_ioc_period_on_a_counting_event_is_einval(pair: Pair) -> None:
    pair.open(sw("task-clock"))
    assert pair.ioctl(0, "period", 1000, struct.pack("<Q", 1000)) == errno.EINVAL


def test_ioc_period_with_bit_63_is_einval(pair: Pair) -> None:
    pair.open(sw("page-faults", sample_period=10))
    assert pair.ioctl(0, "period", 1 << 63, struct.pack("<Q", 1 << 63)) == errno.EINVAL


def test_ioc_period_frequency_above_max_sample_rate_is_einval(pair: Pair) -> None:
    pair.open(sw("page-faults", freq=True, sample_freq=100))
    too_high = pair.m.sysctl()["perf_event_max_sample_rate"] + 1
    assert pair.ioctl(0, "period", too_high, struct.pack("<Q", too_high)) == errno.EINVAL


def test_ioc_period_of_a_cpu_clock_frequency_event_is_a_period_check(pair: Pair) -> None:
    """cpu-clock turns its frequency into a period at open (perf_swevent_init_hrtimer)."""
    pair.open(sw("cpu-clock", freq=True, sample_freq=100))
    too_high = pair.m.sysctl()["perf_event_max_sample_rate"] + 1
    assert pair.ioctl(0, "period", too_high, struct.pack("<Q", too_high)) == 0


def test_refresh_on_an_inherited_event_is_einval(pair: Pair) -> None:
    pair.open(sw("cpu-clock", sample_period=10_000_000, inherit=True))
    assert pair.ioctl(0, "refresh", 1, 1) == errno.EINVAL


def test_refresh_on_a_counting_event_is_einval(pair: Pair) -> None:
    pair.open(sw("task-clock"))
    assert pair.ioctl(0, "refresh", 1, 1) == errno.EINVAL


def test_ioctl_refresh_0_succeeds_and_enables(pair: Pair) -> None:
    pair.open(sw("cpu-clock", sample_period=10_000_000))
    assert pair.ioctl(0, "refresh", 0, 0) == 0
    assert pair.model[0].state != "OFF"


def test_set_filter_on_a_non_tracepoint_is_einval(pair: Pair) -> None:
    pair.open(sw())
    assert pair.ioctl(0, "set_filter", "common_pid != 0", b"common_pid != 0\0") == errno.EINVAL


def test_set_bpf_with_a_closed_fd_is_ebadf(pair: Pair) -> None:
    pair.open(sw())
    assert pair.ioctl(0, "set_bpf", 99_999, 99_999) == errno.EBADF


def test_set_bpf_with_a_perf_fd_is_einval(pair: Pair) -> None:
    pair.open(sw())
    assert pair.ioctl(0, "set_bpf", pair.model[0], lambda: pair.fds[0]) == errno.EINVAL


def test_query_bpf_on_a_non_tracepoint_is_einval(pair: Pair) -> None:
    pair.open(sw())
    assert pair.ioctl(0, "query_bpf", None, bytes(16)) == errno.EINVAL


def test_modify_attributes_of_a_software_event_is_eopnotsupp(pair: Pair) -> None:
    pair.open(sw())
    raw = sw().to_bytes()
    assert pair.ioctl(0, "modify_attributes", raw, raw) == errno.EOPNOTSUPP


def test_modify_attributes_with_another_type_is_einval(pair: Pair) -> None:
    pair.open(sw("cpu-clock"))  # the cpu_clock PMU's own type, not PERF_TYPE_SOFTWARE
    raw = sw("cpu-clock").to_bytes()
    assert pair.ioctl(0, "modify_attributes", raw, raw) == errno.EINVAL


def test_ioc_id_returns_event_id(pair: Pair) -> None:
    pair.open(sw())
    assert pair.ioctl(0, "id", None, bytes(8)) == 0
    assert pair.model[0].ioctl("id") == pair.model[0].id
    if KERNEL:
        assert kernel_oracle.ioctl(pair.fds[0], IOC["id"], bytes(8)).written > 0


def test_pause_output_without_a_ring_is_einval(pair: Pair) -> None:
    pair.open(sw())
    assert pair.ioctl(0, "pause_output", 1, 1) == errno.EINVAL


def test_pause_output_on_a_user_page_only_ring_is_einval(pair: Pair) -> None:
    pair.open(sw(), pages=0)
    assert pair.ioctl(0, "pause_output", 1, 1) == errno.EINVAL


def test_pause_output_and_resume_on_a_ring(pair: Pair) -> None:
    pair.open(sw(), pages=1)
    assert pair.ioctl(0, "pause_output", 1, 1) == 0
    assert pair.ioctl(0, "pause_output", 0, 0) == 0


def test_set_output_onto_itself_is_einval(pair: Pair) -> None:
    pair.open(sw(), pages=1)
    assert pair.ioctl(0, "set_output", pair.model[0], lambda: pair.fds[0]) == errno.EINVAL


def test_set_output_to_an_unmapped_target_is_einval(pair: Pair) -> None:
    pair.open(sw())
    pair.open(sw())
    assert pair.ioctl(1, "set_output", pair.model[0], lambda: pair.fds[0]) == errno.EINVAL


def test_set_output_of_an_event_with_its_own_mapping_is_einval(pair: Pair) -> None:
    pair.open(sw(), pages=1)
    pair.open(sw(), pages=1)
    assert pair.ioctl(1, "set_output", pair.model[0], lambda: pair.fds[0]) == errno.EINVAL


def test_set_output_to_a_mapped_target_of_the_same_task_succeeds(pair: Pair) -> None:
    pair.open(sw(), pages=1)
    pair.open(sw("task-clock"))
    assert pair.ioctl(1, "set_output", pair.model[0], lambda: pair.fds[0]) == 0
    assert pair.model[1].output_state()["rb"] == pair.model[0].handle


def test_set_output_across_cpus_is_einval(pair: Pair) -> None:
    pair.open(sw(), pid=-1, cpu=0, pages=1)
    pair.open(sw())
    assert pair.ioctl(1, "set_output", pair.model[0], lambda: pair.fds[0]) == errno.EINVAL


def test_set_output_mixing_write_directions_is_einval(pair: Pair) -> None:
    pair.open(sw(), pages=1)
    pair.open(sw(write_backward=True))
    assert pair.ioctl(1, "set_output", pair.model[0], lambda: pair.fds[0]) == errno.EINVAL


def test_set_output_mixing_clocks_is_einval(pair: Pair) -> None:
    pair.open(sw(), pages=1)
    pair.open(sw(use_clockid=True, clockid=1))
    assert pair.ioctl(1, "set_output", pair.model[0], lambda: pair.fds[0]) == errno.EINVAL


def test_set_output_detach_needs_the_64_bit_minus_one(pair: Pair) -> None:
    """spec anchors §4.5: a 32-bit -1 reaches the kernel as 0xffffffff, not a perf fd."""
    pair.open(sw())
    assert pair.ioctl(0, "set_output", 0xFFFFFFFF, 0xFFFFFFFF) == errno.EBADF
    assert pair.ioctl(0, "set_output", -1, -1) == 0


def test_set_output_to_a_non_perf_fd_is_ebadf(pair: Pair) -> None:
    pair.open(sw())
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        assert pair.ioctl(0, "set_output", null, null) == errno.EBADF
    finally:
        os.close(null)


def test_set_output_detach_of_a_mapped_event_is_einval(pair: Pair) -> None:
    pair.open(sw(), pages=1)
    assert pair.ioctl(0, "set_output", -1, -1) == errno.EINVAL


def test_reset_leader_with_flag_group_resets_every_member() -> None:
    """corner_cases/reset_leader: PERF_IOC_FLAG_GROUP reset reaches the siblings (broken
    2.6.31-3.4); the model's counts come from rates, so this one is model-only."""
    m = pc.Machine()
    pid = m.current_pid
    leader = m.perf_event_open(pc.Attr(type="software", config="task-clock"), pid=pid)
    sib = m.perf_event_open(pc.Attr(type="software", config="task-clock"), pid=pid, group=leader)
    m.set_rate(pid, "task-clock", 1e9)
    m.switch_in(0, pid)
    m.advance(1_000_000)
    assert m.read(leader)["value"] > 0 and m.read(sib)["value"] > 0  # type: ignore[index]
    leader.reset(group=True)
    assert m.read(leader)["value"] == m.read(sib)["value"] == 0  # type: ignore[index]
