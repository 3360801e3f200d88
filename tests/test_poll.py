"""poll(2) on event fds: the model's perf_poll() against the running kernel where it can answer
(no ring: POLLHUP; a mapped ring without a wakeup: 0; after a wakeup: POLLIN|POLLRDNORM) and the
6.15+ rule that a pinned event in ERROR polls POLLERR."""

from __future__ import annotations

import mmap
import os
import select

import pytest

import kernel_oracle
import perfcore as pc

OK, WHY = kernel_oracle.available()
ATTR = pc.Attr(type="software", config="dummy", disabled=True, watermark=True, wakeup_watermark=1)


def kernel_poll(fd: int) -> int:
    p = select.poll()
    p.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    res = p.poll(0)
    return res[0][1] if res else 0


@pytest.mark.skipif(not OK, reason=WHY or "perf_event_open unavailable")
def test_poll_without_and_with_a_ring_agrees_with_the_kernel() -> None:
    m = pc.Machine()
    ev = m.perf_event_open(ATTR, pid=0)
    fd = kernel_oracle.open_fd(ATTR.to_bytes())
    try:
        assert ev.poll() == kernel_poll(fd) == select.POLLHUP
        buf = mmap.mmap(fd, 2 * 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        ev.mmap(1)
        assert ev.poll() == kernel_poll(fd) == 0
        buf.close()
    finally:
        os.close(fd)


def test_ring_wakeup_polls_in_once() -> None:
    m = pc.Machine()
    ev = m.perf_event_open(pc.Attr(type="software", config="cpu-clock", sample_type="ip", wakeup_events=1), pid=0)
    rb = ev.mmap(1)
    assert ev.poll() == 0
    rb.write_sample(ip=1)
    assert ev.poll() == select.POLLIN | select.POLLRDNORM
    assert ev.poll() == 0  # consumed, like atomic_xchg(&rb->poll, 0)


def test_pinned_event_in_error_polls_err() -> None:
    m = pc.Machine("intel-skl-ht")
    pid = m.spawn("app")
    rf = "total_time_enabled|total_time_running"
    cpu_pinned = m.perf_event_open(pc.Attr(type="hardware", config="branches", pinned=True, read_format=rf), cpu=0)
    for n in ["branch-misses", "cache-references"]:
        m.perf_event_open(pc.Attr(type="hardware", config=n, read_format=rf), cpu=0, group=cpu_pinned)
    task_pinned = m.perf_event_open(pc.Attr(type="hardware", config="cache-misses", pinned=True, read_format=rf),
                                    pid=pid)
    m.perf_event_open(pc.Attr(type="hardware", config="branches", read_format=rf), pid=pid, group=task_pinned)
    m.switch_in(0, pid)
    assert task_pinned.state == "ERROR"
    assert task_pinned.poll() == select.POLLERR
    m.disable(cpu_pinned)
    m.enable(task_pinned)
    assert task_pinned.state == "ACTIVE" and task_pinned.poll() == select.POLLHUP  # no ring mapped
