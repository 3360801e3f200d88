"""The built-in scenario behind ``perfcore demo``: what the model can do, shown on a machine.

Each capability adds a section; every figure printed is computed by the model at run time.
"""

from __future__ import annotations

import json
from typing import Any

import perfcore as pc


def _open_cases() -> list[tuple[str, pc.Attr, dict[str, Any]]]:
    sw = dict(type="software")
    return [
        ("task-clock, counting", pc.Attr(**sw, config="task-clock", disabled=True), dict(pid=0)),
        ("cpu-clock sampling, ip|tid|time", pc.Attr(**sw, config="cpu-clock", sample_period=100_000,
                                                     sample_type="ip|tid|time"), dict(pid=0)),
        ("page-faults, CPU-wide on cpu 0", pc.Attr(**sw, config="page-faults"), dict(pid=-1, cpu=0)),
        ("pid -1 and cpu -1", pc.Attr(**sw, config="cpu-clock"), dict(pid=-1, cpu=-1)),
        ("unknown sample_type bit 25", pc.Attr(**sw, config="cpu-clock", sample_type=1 << 25), dict(pid=0)),
        ("attr.size 63", pc.Attr(**sw, config="cpu-clock", size=63), dict(pid=0)),
        ("freq 200 kHz > max_sample_rate", pc.Attr(**sw, config="cpu-clock", freq=True, sample_freq=200_000),
         dict(pid=0)),
        ("branch stack on a software event", pc.Attr(**sw, config="cpu-clock", sample_type="branch_stack",
                                                      branch_sample_type="any"), dict(pid=0)),
        ("sigtrap without remove_on_exec", pc.Attr(**sw, config="dummy", sigtrap=True), dict(pid=0)),
        ("hardware cycles (no core PMU)", pc.Attr(type="hardware", config="cycles"), dict(pid=0)),
        ("sample_max_stack 200 > 127", pc.Attr(**sw, config="cpu-clock", sample_type="callchain",
                                                sample_max_stack=200), dict(pid=0)),
    ]


def _task_data_memory(tasks: int = 10_000, nr_cpus: int = 8) -> list[dict[str, Any]]:
    """Memory of the LBR call-stack blob (788 B, XSAVE needs 64-byte alignment) for `tasks`
    threads: kmem_cache(align=64), the option upstream chose, against kmalloc(size + align)."""
    rows = []
    cache = pc.KmemCache("x86_lbr", 788, 64, nr_cpus=nr_cpus)
    addrs = cache.alloc_many(tasks)
    info = cache.slabinfo()
    rows.append({"allocator": "kmem_cache(x86_lbr, 788, align 64)", "stride": cache.stride,
                 "objects_per_slab": cache.objects_per_slab, "slabs": info["num_slabs"],
                 "mb": round(int(info["num_slabs"]) * cache.slab_bytes / 1e6, 2),
                 "aligned_64": int((addrs % 64 == 0).sum())})
    cache.free_many(addrs)
    km = pc.KmallocModel(nr_cpus=nr_cpus)
    ptrs = [km.kmalloc(788 + 64) for _ in range(tasks)]
    k = next(r for r in km.slabinfo() if r["name"] == km.size_class_of(788 + 64))
    rows.append({"allocator": "kmalloc(788 + 64), pointer rounded up", "stride": k["objsize"],
                 "objects_per_slab": k["objperslab"], "slabs": k["num_slabs"],
                 "mb": round(int(k["num_slabs"]) * int(k["pagesperslab"]) * 4096 / 1e6, 2),
                 "aligned_64": tasks})
    for p_ in ptrs:
        km.kfree(p_)
    return rows


def _page_sizes() -> list[dict[str, Any]]:
    """PERF_SAMPLE_DATA_PAGE_SIZE for a few addresses of a task with 4K, THP and hugetlb memory."""
    m = pc.Machine()
    pid = m.spawn("app")
    kworker = m.spawn("kworker/0:1", kernel_thread=True)
    m.mmap(pid, 0x5555_0000_0000, 64 << 10)
    m.mmap(pid, 0x7F00_0000_0000, 4 << 20)
    m.collapse(pid, 0x7F00_0000_0000, 4 << 20)
    m.mmap(pid, 0x40_0000_0000, 1 << 30, page_size=1 << 30, kind="hugetlb")
    probes = [("heap (4K pages)", pid, 0x5555_0000_1000), ("THP-collapsed anon", pid, 0x7F00_0010_0000),
              ("hugetlb 1G", pid, 0x40_1000_0000), ("unmapped", pid, 0x6000_0000_0000),
              ("kernel text from a kthread", kworker, 0xFFFF_FFFF_8100_0000),
              ("user address from a kthread", kworker, 0x5555_0000_1000)]
    return [{"where": w, "data_page_size": m.page_size(p_, a)} for w, p_, a in probes]


def report() -> dict[str, Any]:
    """Build the demo report as plain data."""
    m = pc.Machine("software-only", nr_cpus=8)
    opens = []
    for label, attr, kw in _open_cases():
        try:
            ev = m.perf_event_open(attr, **kw)
            opens.append({"case": label, "result": f"ok: event id {ev.id} on PMU {ev.pmu}, state {ev.state}"})
        except pc.PerfError as e:
            opens.append({"case": label, "result": str(e)})
    return {
        "machine": {"preset": m.preset, "nr_cpus": m.nr_cpus, "pmus": m.pmus(), "sysctl": m.sysctl()},
        "perf_event_open": opens,
        "attr_bytes_ver8": pc.Attr(type="software", config="cpu-clock").to_bytes().hex(),
        "task_data_memory_10k_threads": _task_data_memory(),
        "data_page_size": _page_sizes(),
    }


def run(json_output: bool = False) -> int:
    """Print the report; returns the exit code."""
    rep = report()
    if json_output:
        print(json.dumps(rep, indent=2))
        return 0
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # plain text without rich
        _print_plain(rep)
        return 0
    con = Console()
    mach = rep["machine"]
    con.print(f"[bold]perfcore {pc.__version__}[/bold]: model of the Linux 6.18 perf_events core")
    con.print(f"machine preset [cyan]{mach['preset']}[/cyan], {mach['nr_cpus']} CPUs, PMUs: "
              + ", ".join(f"{p['name']} (type {p['type']})" for p in mach["pmus"]))
    t = Table(title="perf_event_open(): the model's answers (errnos as Linux 6.18 gives them)")
    t.add_column("case")
    t.add_column("result")
    for row in rep["perf_event_open"]:
        t.add_row(row["case"], row["result"])
    con.print(t)
    mem = Table(title="PMU task data for 10,000 threads (788-byte LBR blob, 64-byte aligned for XSAVE), 8 CPUs")
    for col in ("allocator", "stride", "objects_per_slab", "slabs", "mb", "aligned_64"):
        mem.add_column(col)
    for row in rep["task_data_memory_10k_threads"]:
        mem.add_row(*(str(row[c]) for c in ("allocator", "stride", "objects_per_slab", "slabs", "mb", "aligned_64")))
    con.print(mem)
    ps = Table(title="PERF_SAMPLE_DATA_PAGE_SIZE from the lock-free page-table walk")
    ps.add_column("address")
    ps.add_column("page size")
    for row in rep["data_page_size"]:
        ps.add_row(row["where"], pc.mm.page_size_name(row["data_page_size"]))
    con.print(ps)
    return 0


def _print_plain(rep: dict[str, Any]) -> None:
    mach = rep["machine"]
    print(f"perfcore {pc.__version__}: preset {mach['preset']}, {mach['nr_cpus']} CPUs")
    for row in rep["perf_event_open"]:
        print(f"  {row['case']:<40} {row['result']}")
    for row in rep["task_data_memory_10k_threads"]:
        print(f"  {row['allocator']:<40} {row['mb']} MB in {row['slabs']} slabs")
    for row in rep["data_page_size"]:
        print(f"  {row['where']:<40} {row['data_page_size']}")
