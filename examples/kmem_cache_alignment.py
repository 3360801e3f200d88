"""The three options of upstream commit 217c2a633ebb ("perf/core: Use kmem_cache to allocate
the PMU specific data") for a 788-byte LBR blob that XSAVE needs aligned to 64, measured on
perfcore's slab model for 10,000 tasks on machines of 2, 8 and 64 CPUs:

1. ``kmalloc(size + align)`` and round the pointer up (kmalloc-1k);
2. ``kzalloc(size)``: kmalloc-1k again, aligned in practice but guaranteed only 8;
3. ``kmem_cache_create("x86_lbr", 788, 64, 0, NULL)``: the option the commit chose.

Every object is really allocated in the model's slabs, and when the CPU supports it an XSAVE
is really executed into every object (mask x87|SSE). An extra row shows kzalloc under
``slub_debug=Z`` with the pre-5.4 alignment rule, where red zones put objects at 8 mod 64:
XSAVE there would raise #GP, so it is counted, not executed (tests/test_slab_xsave.py runs it in
a child process).

Run: ``python examples/kmem_cache_alignment.py``; import and call ``compute()`` for the rows.
Facts: spec/task-data-slab-page-size.md §A.2 and §B.3.
"""

from __future__ import annotations

import sys
from typing import Any

from perfcore._core import KmallocModel, KmemCache, xsave_supported

SIZE = 788
ALIGN = 64
TASKS = 10_000
CPUS = (2, 8, 64)


def _xsave_all(run: Any, addrs: list[int], do_xsave: bool) -> str:
    if not do_xsave:
        return "not run (CPU lacks XSAVE)"
    for a in addrs:
        run(a)
    return f"ok {len(addrs)}/{len(addrs)}"


def _row(option: str, cpus: int, info: dict[str, Any], tasks: int, guaranteed: int,
         addrs: list[int], xsave: str) -> dict[str, Any]:
    slab_bytes = info["pagesperslab"] * 4096
    return {
        "option": option,
        "cpus": cpus,
        "cache": info["name"],
        "stride": info["objsize"],
        "objects_per_slab": info["objperslab"],
        "order": info["pagesperslab"].bit_length() - 1,
        "slabs": info["num_slabs"],
        "total_bytes": info["total_bytes"],
        "total_mb": info["total_bytes"] / 1e6,
        "bytes_per_object": info["total_bytes"] / tasks,
        "bytes_per_object_incl_tail": slab_bytes / info["objperslab"],
        "guaranteed_align": guaranteed,
        "aligned_64": sum(1 for a in addrs if a % 64 == 0),
        "xsave": xsave,
    }


def compute(tasks: int = TASKS, cpus: tuple[int, ...] = CPUS, run_xsave: bool = True,
            debug_row: bool = True) -> list[dict[str, Any]]:
    """One row per (option, machine): memory, slabs, alignment and the XSAVE outcome.
    Everything is allocated on CPU 0, so slabs are packed as the spec's arithmetic assumes."""
    do_xsave = run_xsave and xsave_supported()["xsave"]
    rows: list[dict[str, Any]] = []
    for n in cpus:
        # 1. kmalloc(size + align - 1), pointer rounded up; the original is kept for kfree.
        m = KmallocModel(nr_cpus=n)
        raw = [m.kmalloc(SIZE + ALIGN - 1) for _ in range(tasks)]
        rounded = [(p + ALIGN - 1) & ~(ALIGN - 1) for p in raw]
        info = next(r for r in m.slabinfo() if r["name"] == m.size_class_of(SIZE + ALIGN - 1))
        # XSAVE at the rounded pointer: the model runs it on live object starts, which the
        # rounded pointers are whenever the class keeps its natural alignment.
        can = all(r == p for r, p in zip(rounded, raw))
        xs = _xsave_all(m.xsave, rounded, do_xsave) if can else "not run (rounded pointer is interior)"
        rows.append(_row("kmalloc(size+align) rounded", n, info, tasks, ALIGN, rounded, xs))
        for p in raw:
            m.kfree(p)
        # 2. kzalloc(size): natural alignment in practice, 8 guaranteed.
        m = KmallocModel(nr_cpus=n)
        addrs = [m.kzalloc(SIZE) for _ in range(tasks)]
        info = next(r for r in m.slabinfo() if r["name"] == m.size_class_of(SIZE))
        ok = all(a % 64 == 0 for a in addrs)
        xs = _xsave_all(m.xsave, addrs, do_xsave) if ok else "would #GP"
        rows.append(_row("kzalloc(size)", n, info, tasks, m.guaranteed_align(SIZE), addrs, xs))
        for a in addrs:
            m.kfree(a)
        # 3. kmem_cache_create("x86_lbr", 788, 64, 0, NULL) + kmem_cache_zalloc.
        c = KmemCache("x86_lbr", SIZE, ALIGN, nr_cpus=n)
        addrs = [int(a) for a in c.alloc_many(tasks, 0, True)]
        xs = _xsave_all(c.xsave, addrs, do_xsave)
        rows.append(_row("kmem_cache(align=64)", n, c.slabinfo(), tasks, c.align, addrs, xs))
        c.free_many(c.live_objects())
        c.destroy()
        if debug_row:
            # kzalloc with slub_debug=Z and the pre-5.4 rule (kmalloc caches aligned to 8 only).
            m = KmallocModel(debug_redzone=True, nr_cpus=n, align_rule="minalign")
            addrs = [m.kzalloc(SIZE) for _ in range(tasks)]
            info = next(r for r in m.slabinfo() if r["name"] == m.size_class_of(SIZE))
            bad = sum(1 for a in addrs if a % 64 != 0)
            rows.append(_row("kzalloc, slub_debug=Z, <5.4", n, info, tasks,
                             m.guaranteed_align(SIZE), addrs, f"would #GP on {bad}/{tasks}"))
            for a in addrs:
                m.kfree(a)
    return rows


def format_rows(rows: list[dict[str, Any]]) -> str:
    """The rows as a text table."""
    head = (f"{'option':<30}{'cpus':>5}{'cache':>12}{'stride':>7}{'objs':>5}{'ord':>4}"
            f"{'slabs':>6}{'MB':>7}{'B/obj':>8}{'guar':>5}{'al64':>7}  xsave")
    out = [head, "-" * len(head)]
    for r in rows:
        out.append(
            f"{r['option']:<30}{r['cpus']:>5}{r['cache']:>12}{r['stride']:>7}"
            f"{r['objects_per_slab']:>5}{r['order']:>4}{r['slabs']:>6}{r['total_mb']:>7.2f}"
            f"{r['bytes_per_object']:>8.1f}{r['guaranteed_align']:>5}{r['aligned_64']:>7}  {r['xsave']}"
        )
    return "\n".join(out)


def main() -> int:
    """Print the table."""
    print(f"{TASKS} tasks, {SIZE}-byte LBR blob aligned to {ALIGN} (XSAVE_ALIGNMENT)\n")
    print(format_rows(compute()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
