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


MS = 1_000_000
# (perf list name, attr type, config, events per second of the task)
MUX_EVENTS: list[tuple[str, str, int | str, float]] = [
    ("cycles", "hardware", "cycles", 3.0e9), ("instructions", "hardware", "instructions", 4.5e9),
    ("ref-cycles", "hardware", "ref-cycles", 2.4e9), ("branches", "hardware", "branches", 9.0e8),
    ("branch-misses", "hardware", "branch-misses", 4.0e6), ("cache-references", "hardware", "cache-references", 6.0e7),
    ("cache-misses", "hardware", "cache-misses", 6.0e6), ("l1d_pend_miss.pending", "raw", 0x0148, 5.0e8),
    ("inst_retired.prec_dist", "raw", 0x01C0, 4.5e9),
]


def _multiplexing(seconds_ms: int = 400) -> dict[str, Any]:
    """perf-stat-like counts of 9 events on a Skylake core with SMT on (4 GP + 3 fixed
    counters): the fixed-counter events always count, the others share 4 GP counters (two of
    them constrained to one counter each), and the scaled value count * enabled / running
    recovers the true count of a constant-rate task."""
    m = pc.Machine("intel-skl-ht", nr_cpus=2)
    pid = m.spawn("app")
    evs = []
    for name, type_, config, rate in MUX_EVENTS:
        m.set_rate(pid, name, rate)
        evs.append((name, rate, m.perf_event_open(
            pc.Attr(type=type_, config=config, read_format="total_time_enabled|total_time_running"),
            pid=pid, cpu=-1)))
    m.switch_in(0, pid)
    for _ in range(seconds_ms // 4):
        m.advance(4 * MS)
    rows = []
    for name, rate, ev in evs:
        r = m.read(ev)
        assert r is not None
        running, enabled = r["time_running"], r["time_enabled"]
        scaled = r["value"] * enabled / running if running else 0.0
        rows.append({"event": name, "count": r["value"], "scaled": round(scaled),
                     "true": round(rate * enabled / 1e9), "running_percent": round(100.0 * running / enabled, 2)})
    return {"seconds": seconds_ms / 1000, "rows": rows, "stats": m.stats()}


LBR_ATTR: dict[str, Any] = dict(type="hardware", config="cycles", sample_period=100_000, exclude_kernel=True,
                sample_type="ip|tid|time|period|callchain|branch_stack", branch_sample_type="user|call_stack",
                sample_id_all=True, context_switch=True, comm=True, task=True)


def _lbr_machine_run(target: str, task_data: str, perf_data_path: str | None = None,
                     duration_ms: int = 400) -> dict[str, Any]:
    """tchain_edit (main -> f1 -> f2 -> f3, hot in f3) pinned to CPU 0, preempted by 3 noise
    tasks (4 ms slices), LBR call-stack sampling every 100k cycles on the running machine.
    With ``perf_data_path`` the event's ring is written there as a perf.data file."""
    m = pc.Machine("intel-skl-ht", nr_cpus=2, task_data=task_data)
    tchain = m.spawn("tchain_edit")
    m.set_workload(tchain, "tchain_edit", cpus=[0])
    pids = [tchain]
    for i in range(3):
        p = m.spawn(f"noise{i}")
        w = 37_000 + 1_000 * i
        m.set_workload(p, [("work", w), ("call", "g1"), ("work", w), ("call", "g2"), ("work", w), "ret", "ret"],
                       cpus=[0], root=f"noise{i}")
        pids.append(p)
    for p in pids:
        m.set_rate(p, "cycles", 1e9)
    attr = pc.Attr(**LBR_ATTR)
    events = [m.perf_event_open(attr, pid=tchain)] if target == "per_process" else \
        [m.perf_event_open(attr, pid=-1, cpu=c) for c in range(m.nr_cpus)]
    ring = events[0].mmap(256) if perf_data_path else None
    for p in pids:  # the COMM records (exec) that name the tasks for `perf script`
        m.exec(p, m.task(p)["comm"])
    m.run(duration_ms * MS)
    samples = [s for s in m.take_samples() if s["pid"] == tchain]
    full = sum(1 for s in samples if s["stack"][:1] == ["main"])
    only_f3 = sum(1 for s in samples if s["stack"] == ["f3"])
    mem = m.task_data_memory() or {}
    out: dict[str, Any] = {"samples": len(samples), "full_percent": round(100.0 * full / max(1, len(samples)), 1),
                           "only_f3": only_f3, "task_data_objects": mem.get("objects", 0),
                           "switches": m.run_stats()["switches"]}
    if ring is not None and perf_data_path is not None:
        stats = ring.stats()
        from perfcore import perf_data

        out["perf_data"] = {"path": perf_data_path, "records": stats["records"], "lost": stats["lost"]}
        perf_data.write_ring(perf_data_path, ring, events[0], cmdline=["perfcore", "demo"])
        kinds: dict[str, int] = {}
        for r in perf_data.read(perf_data_path).records():
            kinds[r["type"]] = kinds.get(r["type"], 0) + 1
        out["perf_data"]["by_type"] = kinds
    for e in events:
        e.close()
    return out


def _callstacks(perf_data_path: str | None) -> list[dict[str, Any]]:
    """Share of full main-f1-f2-f3 LBR call stacks: per-process, and system-wide before and
    after v6.15 (task data in the pmu context vs in task_struct)."""
    runs = [("per_process", "task_struct", "per-process event"),
            ("system_wide", "pmu_context", "system-wide, task data in the pmu context (6.2-6.14)"),
            ("system_wide", "task_struct", "system-wide, task data in task_struct (6.15+)")]
    return [{"mode": label, **_lbr_machine_run(target, td, perf_data_path if i == 0 else None)}
            for i, (target, td, label) in enumerate(runs)]


def _inheritance() -> dict[str, Any]:
    """A process with an inherited cycles event forks two threads that alternate on CPU 0: the
    optimised context switch swaps their cloned contexts, and the parent's read sums the
    children; the same schedule with the swap disabled gives the same totals."""
    out: dict[str, Any] = {}
    for optimized in (True, False):
        m = pc.Machine("intel-icx", nr_cpus=2, optimized_switch=optimized)
        proc = m.spawn("app")
        ev = m.perf_event_open(pc.Attr(type="hardware", config="cycles", inherit=True,
                                       read_format="total_time_enabled|total_time_running"), pid=proc)
        threads = [m.fork(proc, clone_thread=True) for _ in range(2)]
        for t in threads:
            m.set_rate(t, "cycles", 2e9)
            m.set_workload(t, "noise", cpus=[0])
        m.set_slice_ns(1 * MS)
        m.run(100 * MS)
        r = m.read(ev)
        assert r is not None
        st = m.stats()
        out["optimized" if optimized else "slow_path"] = {
            "children": ev.children, "count": r["value"], "time_enabled": r["time_enabled"],
            "switch_swap": st["switch_swap"], "switch_slow": st["switch_slow"]}
    return out


def report(perf_data_path: str | None = "perfcore-demo.data") -> dict[str, Any]:
    """Build the demo report as plain data; the per-process LBR run's ring is written to
    ``perf_data_path`` (None: no file)."""
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
        "multiplexing": _multiplexing(),
        "lbr_callstacks": _callstacks(perf_data_path),
        "inheritance": _inheritance(),
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
    mux = rep["multiplexing"]
    st = Table(title=f"perf stat on intel-skl-ht (4 GP + 3 fixed), {mux['seconds']} s, 9 events, 4 ms rotation")
    for col in ("event", "count", "scaled", "true", "running %"):
        st.add_column(col, justify="right" if col != "event" else "left")
    for row in mux["rows"]:
        st.add_row(row["event"], f"{row['count']:,}", f"{row['scaled']:,}", f"{row['true']:,}",
                   f"{row['running_percent']:.2f}%")
    con.print(st)
    cs = Table(title="LBR call stacks of tchain_edit preempted by 3 tasks on intel-skl-ht, 0.4 s "
                     "(Machine.run; % full main-f1-f2-f3)")
    for col in ("mode", "samples", "full %", "only f3", "perf_ctx_data objects"):
        cs.add_column(col)
    for row in rep["lbr_callstacks"]:
        cs.add_row(row["mode"], str(row["samples"]), f"{row['full_percent']:.1f}%", str(row["only_f3"]),
                   str(row["task_data_objects"]))
    con.print(cs)
    pdata = rep["lbr_callstacks"][0].get("perf_data")
    if pdata:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(pdata["by_type"].items()))
        con.print(f"records written by the per-process run: {pdata['records']} ({pdata['lost']} lost) -> "
                  f"[cyan]{pdata['path']}[/cyan] ({kinds}); open it with [bold]perf script -i {pdata['path']}[/bold]")
    inh = rep["inheritance"]
    it = Table(title="inherit=1 cycles on a process whose 2 threads alternate on CPU 0 (0.1 s, 1 ms slices)")
    for col in ("switch path", "children", "count (parent + children)", "enabled ns", "swaps", "slow switches"):
        it.add_column(col)
    for key, label in (("optimized", "optimised swap on"), ("slow_path", "swap disabled")):
        r = inh[key]
        it.add_row(label, str(r["children"]), f"{r['count']:,}", f"{r['time_enabled']:,}", str(r["switch_swap"]),
                   str(r["switch_slow"]))
    con.print(it)
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
    for row in rep["multiplexing"]["rows"]:
        print(f"  {row['event']:<20} {row['count']:>14,} scaled {row['scaled']:>14,} ({row['running_percent']:.2f}%)")
    for row in rep["lbr_callstacks"]:
        print(f"  {row['mode']:<55} {row['full_percent']:.1f}% full stacks")
    pdata = rep["lbr_callstacks"][0].get("perf_data")
    if pdata:
        print(f"  {pdata['records']} records -> {pdata['path']} (perf script -i {pdata['path']})")
    for key, r in rep["inheritance"].items():
        print(f"  inherit, {key:<10} count {r['count']:,} swaps {r['switch_swap']} slow {r['switch_slow']}")
    for row in rep["task_data_memory_10k_threads"]:
        print(f"  {row['allocator']:<40} {row['mb']} MB in {row['slabs']} slabs")
    for row in rep["data_page_size"]:
        print(f"  {row['where']:<40} {row['data_page_size']}")
