"""Event.mmap(): the kernel's mmap() rules on a Machine's events (spec §3.1-3.3), and the ring it
returns is laid out from the event's attr."""

from __future__ import annotations

import errno

import pytest

import perfcore as pc

SW = dict(type="software", config="cpu-clock", sample_period=10_000)


def test_mmap_returns_a_ring_formatted_by_the_attr() -> None:
    m = pc.Machine()
    ev = m.perf_event_open(pc.Attr(**SW, sample_type="ip|tid|time|id", read_format="id"), pid=0)
    rb = ev.mmap(8)
    page = rb.user_page()
    assert page["data_offset"] == 4096 and page["data_size"] == 8 * 4096
    assert rb.write_sample(ip=0x401000, pid=7, tid=7, time=5, id=ev.id)
    (rec,) = rb.read_records()
    assert rec["type_id"] == pc.abi.PERF_RECORD_SAMPLE and rec["id"] == ev.id
    assert rec["size"] == 8 + 8 * 4  # header + ip + pid/tid + time + id
    assert ev.mmap(8) is rb  # same size: the kernel shares the ring


def test_mmap_rules_and_errnos() -> None:
    m = pc.Machine()
    ev = m.perf_event_open(pc.Attr(**SW), pid=0)
    for pages, want in [(3, errno.EINVAL), (6, errno.EINVAL)]:  # not a power of two
        with pytest.raises(pc.PerfError) as info:
            ev.mmap(pages)
        assert info.value.errno == want
    with pytest.raises(pc.PerfError) as info:
        ev.mmap(4, shared=False)  # MAP_PRIVATE
    assert info.value.errno == errno.EINVAL
    ev.mmap(4)
    with pytest.raises(pc.PerfError) as info:  # a different size than the existing ring
        ev.mmap(8)
    assert info.value.errno == errno.EINVAL
    with pytest.raises(pc.PerfError) as info:  # software PMU: no AUX area
        ev.mmap_aux(4)
    assert info.value.errno == errno.EOPNOTSUPP
    inh = m.perf_event_open(pc.Attr(**SW, inherit=True), pid=0)
    with pytest.raises(pc.PerfError) as info:  # per-task inherited events cannot be mapped
        inh.mmap(1)
    assert info.value.errno == errno.EINVAL


def test_read_only_mapping_is_overwrite_mode() -> None:
    m = pc.Machine()
    ev = m.perf_event_open(pc.Attr(**SW, sample_type="ip"), pid=0)
    rb = ev.mmap(1, writable=False)
    for i in range(1000):  # far more than fits: never lost in overwrite mode
        assert rb.write_sample(ip=i)
    assert rb.user_page()["data_head"] == 1000 * 16


def test_fd_output_needs_a_mapped_target() -> None:
    m = pc.Machine()
    a = m.perf_event_open(pc.Attr(**SW), pid=0)
    with pytest.raises(pc.PerfError) as info:
        m.perf_event_open(pc.Attr(**SW), pid=0, group=a, flags="fd_output|fd_no_group")
    assert info.value.errno == errno.EINVAL
    a.mmap(1)
    b = m.perf_event_open(pc.Attr(**SW), pid=0, group=a, flags="fd_output|fd_no_group")
    assert b.group_leader == b


def test_mlock_limit_for_an_unprivileged_user() -> None:
    """spec §3.2: uid without CAP_IPC_LOCK; allowance 516 KiB per CPU, then RLIMIT_MEMLOCK 8 MiB."""
    m = pc.Machine(nr_cpus=2, privileged=False)
    attr = pc.Attr(**SW, exclude_kernel=True, exclude_hv=True)
    ev = m.perf_event_open(attr, pid=0)
    ev.mmap(2048)  # 1 + 2048 pages: 258 from the allowance, the rest within 2048 pinned pages
    ev2 = m.perf_event_open(attr, pid=0)
    with pytest.raises(pc.PerfError) as info:
        ev2.mmap(4096)
    assert info.value.errno == errno.EPERM


def test_aux_area_of_a_trace_event() -> None:
    """spec §3.3: the AUX area is mapped after the data ring; its size must be a power of two
    unless the machine lifts the rule; the ring object gets the AUX pages."""
    m = pc.Machine(trace_pmu=True)
    trace_type = next(p["type"] for p in m.pmus() if p["name"] == "trace")
    ev = m.perf_event_open(pc.Attr(type=trace_type, config=0), pid=0)
    assert ev.pmu == "trace"
    rb = ev.mmap(4)
    with pytest.raises(pc.PerfError) as info:
        ev.mmap_aux(3)
    assert info.value.errno == errno.EINVAL
    ev.mmap_aux(8)
    page = rb.user_page()
    assert (page["aux_offset"], page["aux_size"]) == (5 * 4096, 8 * 4096)
    out = rb.trace_run(1000)
    assert out["record_written"]
    pos, data = rb.aux_read()
    assert len(data) == 1000 and data == pc._core.trace_bytes(0, 1000)
    lifted = pc.Machine(trace_pmu=True, allow_non_pow2_aux=True)
    ev2 = lifted.perf_event_open(pc.Attr(type=trace_type, config=0), pid=0)
    ev2.mmap(4)
    ev2.mmap_aux(3)  # allowed once the power-of-two rule is lifted


def test_mmap_with_aux_pages_in_one_call() -> None:
    m = pc.Machine(trace_pmu=True)
    trace_type = next(p["type"] for p in m.pmus() if p["name"] == "trace")
    ev = m.perf_event_open(pc.Attr(type=trace_type, config=0), pid=0)
    rb = ev.mmap(2, aux_pages=4, aux_writable=False)  # read-only AUX: snapshot (overwrite) mode
    page = rb.user_page()
    assert (page["aux_offset"], page["aux_size"]) == (3 * 4096, 4 * 4096)
