"""pytest-benchmark suite of the Python API's bulk paths (run: make bench). Each benchmark also
checks its result so a fast wrong answer cannot pass."""

from __future__ import annotations

import numpy as np

import perfcore as pc

MS = 1_000_000


def test_perf_event_open_close(benchmark) -> None:  # type: ignore[no-untyped-def]
    m = pc.Machine()
    attr = pc.Attr(type="software", config="task-clock", disabled=True)

    def open_close() -> str:
        ev = m.perf_event_open(attr, pid=0)
        state = ev.state
        ev.close()
        return state

    assert benchmark(open_close) == "OFF"


def test_write_samples_bulk(benchmark) -> None:  # type: ignore[no-untyped-def]
    rb = pc.RingBuffer(data_pages=256, writable=False, sample_type="ip|tid|time")
    n = 100_000
    ips = np.arange(n, dtype=np.uint64)
    assert benchmark(rb.write_samples, n, ip=ips, pid=1, tid=1, time=ips) == n


def test_page_size_walk_bulk(benchmark) -> None:  # type: ignore[no-untyped-def]
    a = pc.AddressSpaces()
    mm = a.new_mm()
    a.mmap(mm, 0x7F00_0000_0000, 64 << 20)
    addrs = np.arange(0x7F00_0000_0000, 0x7F00_0000_0000 + (64 << 20), 4096, dtype=np.uint64)
    out = benchmark(a.page_sizes, mm, addrs)
    assert (out == 4096).all()


def test_multiplexed_second(benchmark) -> None:  # type: ignore[no-untyped-def]
    """One simulated second of 8 GP events on 4 counters, 4 ms rotation (250 advances)."""
    def run() -> float:
        m = pc.Machine("intel-skl-ht", nr_cpus=1)
        pid = m.spawn("app")
        evs = [m.perf_event_open(pc.Attr(type="hardware", config=n, read_format="total_time_enabled|total_time_running"),
                                 pid=pid) for n in ["branches", "branch-misses", "cache-references", "cache-misses"] * 2]
        m.switch_in(0, pid)
        for _ in range(250):
            m.advance(4 * MS)
        r = m.read(evs[0])
        assert r is not None
        return float(r["time_running"]) / float(r["time_enabled"])

    assert 0.4 < benchmark(run) < 0.6
