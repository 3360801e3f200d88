"""A question about a patch: does a shorter multiplexing interval (`perf_event_mux_interval_ms`)
reduce the error of scaled counts for a workload whose rate changes in phases?

Eight GP events compete for 4 counters (intel-skl-ht). The task alternates between a phase with
many cache misses and a quiet phase every 7 ms; the scaled count (count * enabled / running) is
compared with the true count the phases imply.

Run: python examples/mux_interval.py
"""

from __future__ import annotations

import perfcore as pc

MS = 1_000_000
GP = ["branches", "branch-misses", "cache-references", "cache-misses"]
PHASE_NS, PHASES = 7 * MS, 60
BUSY, QUIET = 5.0e7, 1.0e6  # cache-misses per second in each phase


def true_misses() -> float:
    """What the task really did: the phases alternate, starting busy."""
    return sum((BUSY if i % 2 == 0 else QUIET) * PHASE_NS / 1e9 for i in range(PHASES))


def run(interval_ms: int) -> dict[str, float]:
    m = pc.Machine("intel-skl-ht", nr_cpus=1)
    pid = m.spawn("phased")
    m.set_mux_interval_ms("cpu", interval_ms)
    rf = "total_time_enabled|total_time_running"
    evs = [m.perf_event_open(pc.Attr(type="hardware", config=n, read_format=rf), pid=pid) for n in GP * 2]
    m.switch_in(0, pid)
    for i in range(PHASES):
        m.set_rate(pid, "cache-misses", BUSY if i % 2 == 0 else QUIET)
        m.advance(PHASE_NS)
    r = m.read(evs[3])  # the first cache-misses event
    assert r is not None
    scaled = r["value"] * r["time_enabled"] / r["time_running"]
    truth = true_misses()
    return {"interval_ms": interval_ms, "running_percent": 100 * r["time_running"] / r["time_enabled"],
            "scaled": scaled, "true": truth, "error_percent": 100 * (scaled - truth) / truth}


def main() -> None:
    print(f"{'mux interval':>12} {'running':>8} {'scaled':>14} {'true':>14} {'error':>8}")
    for ms in (1, 4, 10, 25):
        r = run(ms)
        print(f"{ms:>10} ms {r['running_percent']:>7.1f}% {r['scaled']:>14,.0f} {r['true']:>14,.0f} "
              f"{r['error_percent']:>+7.1f}%")


if __name__ == "__main__":
    main()
