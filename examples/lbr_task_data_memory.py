"""Slab memory of PMU task data: 10,000 threads with one system-wide LBR call-stack event.

Since v6.15 every thread gets a `struct perf_ctx_data` (40 B from kmalloc-64) plus a PMU blob
while a CPU-wide LBR call-stack event exists. The blob comes from the per-PMU "x86_lbr"
kmem_cache (217c2a633ebb) or, in the design before it, from kzalloc(). This prints the
slabinfo-derived objects, slabs and bytes for each blob layout and allocator, and shows that
everything is released after the global detach and a grace period.

The second table does the same on the Machine: 10,000 spawned threads, then `perf record -a`
style LBR call-stack events (one per CPU) opened with perf_event_open(); the memory is read
from the machine's slabinfo while the events exist, after they close, and after a grace period.

Run: python examples/lbr_task_data_memory.py [nr_cpus]
"""

from __future__ import annotations

import sys
from typing import Any

from perfcore import _core

THREADS = 10_000
BLOBS = ["788", "legacy", "arch_xsave"]
ALLOCATORS = ["kmem_cache", "kzalloc"]


def rows(nr_cpus: int = 8, threads: int = THREADS) -> list[dict[str, Any]]:
    """One row per (blob, allocator): the attached and released slabinfo figures."""
    out = []
    for blob in BLOBS:
        for alloc in ALLOCATORS:
            m = _core.task_data_memory(threads, allocator=alloc, blob=blob, nr_cpus=nr_cpus)
            b, h = m["attached"]["blob"], m["attached"]["header"]
            out.append(
                {
                    "blob": blob,
                    "allocator": alloc,
                    "cache": b["name"],
                    "objsize": b["objsize"],
                    "objperslab": b["objperslab"],
                    "pagesperslab": b["pagesperslab"],
                    "blob_objs": b["inuse_objs"],
                    "blob_slabs": b["num_slabs"],
                    "blob_bytes": b["total_bytes"],
                    "header_slabs": h["num_slabs"],
                    "header_bytes": h["total_bytes"],
                    "released_objs": m["released"]["blob"]["inuse_objs"] + m["released"]["header"]["inuse_objs"],
                    "live_after": m["live_after"],
                }
            )
    return out


MACHINE_PRESETS = [("intel-skl-ht", "kmem_cache"), ("intel-skl-ht", "kzalloc"), ("adl-hybrid", "kmem_cache")]


def machine_memory(preset: str, allocator: str, nr_cpus: int = 8, threads: int = THREADS) -> dict[str, Any]:
    """10,000 threads on a Machine with a system-wide LBR call-stack event on every CPU: the
    task-data memory while the events exist, after close, and after the grace period."""
    m = _core.Machine(preset, nr_cpus, task_data_alloc=allocator)
    for i in range(threads):
        m.spawn(f"worker{i}")
    attr = _core.Attr(type="hardware", config="cycles", sample_period=100_000,
                      sample_type="ip|tid|callchain|branch_stack", branch_sample_type="user|call_stack",
                      exclude_kernel=1)
    events = [m.perf_event_open(attr, pid=-1, cpu=c) for c in range(nr_cpus)]
    attached = m.task_data_memory()
    for e in events:
        e.close()
    closed = m.task_data_memory()
    m.synchronize()
    released = m.task_data_memory()
    return {"preset": preset, "allocator": allocator, "attached": attached, "closed": closed,
            "released": released, "slabs_after_shrink": m.task_data_shrink()}


def main(argv: list[str] | None = None) -> None:
    """Print the table; `argv[0]`, if given, is the number of CPUs."""
    argv = sys.argv[1:] if argv is None else argv
    nr_cpus = int(argv[0]) if argv else 8
    print(f"{THREADS} threads, one system-wide LBR call-stack event, {nr_cpus} CPUs")
    print(
        f"{'blob':<11}{'allocator':<11}{'cache':<12}{'stride':>7}{'per':>5}{'pages':>6}"
        f"{'slabs':>7}{'blob MB':>9}{'hdr MB':>8}{'after':>7}"
    )
    for r in rows(nr_cpus):
        print(
            f"{r['blob']:<11}{r['allocator']:<11}{r['cache']:<12}{r['objsize']:>7}{r['objperslab']:>5}"
            f"{r['pagesperslab']:>6}{r['blob_slabs']:>7}{r['blob_bytes'] / 1e6:>9.2f}"
            f"{r['header_bytes'] / 1e6:>8.2f}{r['released_objs']:>7}"
        )
    print(f"\nOn the Machine: {THREADS} spawned threads + 3, one system-wide LBR event per CPU")
    print(f"{'preset':<14}{'allocator':<11}{'blob':>5}{'objects':>9}{'slabs':>7}{'blob MB':>9}"
          f"{'hdr MB':>8}{'closed':>8}{'after GP':>9}")
    for preset, alloc in MACHINE_PRESETS:
        r = machine_memory(preset, alloc, nr_cpus)
        a = r["attached"]
        print(f"{preset:<14}{alloc:<11}{a['blob_size']:>5}{a['objects']:>9}{a['slabs']:>7}{a['MB']:>9.2f}"
              f"{a['header_bytes'] / 1e6:>8.2f}{r['closed']['objects']:>8}{r['released']['objects']:>9}")


if __name__ == "__main__":
    main()
