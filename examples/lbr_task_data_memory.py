"""Slab memory of PMU task data: 10,000 threads with one system-wide LBR call-stack event.

Since v6.15 every thread gets a `struct perf_ctx_data` (40 B from kmalloc-64) plus a PMU blob
while a CPU-wide LBR call-stack event exists. The blob comes from the per-PMU "x86_lbr"
kmem_cache (217c2a633ebb) or, in the design before it, from kzalloc(). This prints the
slabinfo-derived objects, slabs and bytes for each blob layout and allocator, and shows that
everything is released after the global detach and a grace period.

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


if __name__ == "__main__":
    main()
