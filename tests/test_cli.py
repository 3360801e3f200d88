"""The command line: --version and the demo report."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import perfcore
from perfcore import cli


def test_version(capsys) -> None:  # type: ignore[no-untyped-def]
    try:
        cli.main(["--version"])
    except SystemExit as e:
        assert e.code == 0
    assert capsys.readouterr().out.strip() == f"perfcore {perfcore.__version__}"


def demo_json(cwd: Path | None = None) -> str:
    """`perfcore demo --json` (it writes perfcore-demo.data into its working directory)."""
    return subprocess.run([sys.executable, "-m", "perfcore.cli", "demo", "--json"], capture_output=True, text=True,
                          check=True, cwd=cwd or Path(__file__).parent / "_demo_cwd").stdout


def setup_module() -> None:
    (Path(__file__).parent / "_demo_cwd").mkdir(exist_ok=True)


def teardown_module() -> None:
    shutil.rmtree(Path(__file__).parent / "_demo_cwd", ignore_errors=True)


def test_demo_json_reports_model_answers() -> None:
    out = demo_json()
    rep = json.loads(out)
    rows = {r["case"]: r["result"] for r in rep["perf_event_open"]}
    assert rows["task-clock, counting"].startswith("ok")
    assert "E2BIG" in rows["attr.size 63"]
    assert "EOVERFLOW" in rows["sample_max_stack 200 > 127"]
    assert [p["name"] for p in rep["machine"]["pmus"]] == ["software", "cpu_clock", "task_clock"]


def test_demo_reports_slab_memory_and_page_sizes() -> None:
    out = demo_json()
    rep = json.loads(out)
    mem = {r["allocator"].split("(")[0]: r for r in rep["task_data_memory_10k_threads"]}
    # SLUB arithmetic (spec B.3): 788 -> stride 832, 39 per order-3 slab at 8 CPUs; kmalloc-1k 32 per slab
    assert (mem["kmem_cache"]["stride"], mem["kmem_cache"]["objects_per_slab"]) == (832, 39)
    assert mem["kmem_cache"]["slabs"] == -(-10_000 // 39)
    assert (mem["kmalloc"]["stride"], mem["kmalloc"]["objects_per_slab"]) == (1024, 32)
    sizes = {r["where"]: r["data_page_size"] for r in rep["data_page_size"]}
    assert sizes == {"heap (4K pages)": 4096, "THP-collapsed anon": 2 << 20, "hugetlb 1G": 1 << 30,
                     "unmapped": 0, "kernel text from a kthread": 2 << 20, "user address from a kthread": 0}


def test_demo_multiplexing_and_callstacks() -> None:
    out = demo_json()
    rep = json.loads(out)
    rows = rep["multiplexing"]["rows"]
    assert len(rows) == 9
    # 9 events do not fit 4 GP + 3 fixed counters: some multiplex, and for a constant-rate task
    # the scaled count (count * enabled / running) is the true count
    assert any(r["running_percent"] < 100 for r in rows)
    for r in rows:
        assert 0 < r["running_percent"] <= 100
        assert abs(r["scaled"] - r["true"]) <= 1, r
    cs = {r["mode"].split(",")[0] + r["mode"][-6:]: r["full_percent"] for r in rep["lbr_callstacks"]}
    full = [r["full_percent"] for r in rep["lbr_callstacks"]]
    assert full[0] >= 99 and full[2] >= 99 and full[1] < 90, cs


def test_demo_inheritance_swap_equals_slow_path() -> None:
    inh = json.loads(demo_json())["inheritance"]
    fast, slow = inh["optimized"], inh["slow_path"]
    assert fast["children"] == slow["children"] == 2
    # 2 threads x 2e9 cycles/s sharing one CPU for 0.1 s: 2e8 cycles, whichever path ran
    assert fast["count"] == slow["count"] == 200_000_000
    assert fast["switch_swap"] > 0 and fast["switch_slow"] == 0
    assert slow["switch_swap"] == 0 and slow["switch_slow"] == fast["switch_swap"]


@pytest.mark.skipif(shutil.which("perf") is None, reason="the perf tool (Debian linux-perf) is not installed")
def test_demo_perf_data_opens_in_the_real_perf_script(tmp_path: Path) -> None:
    rep = json.loads(demo_json(tmp_path))
    pdata = rep["lbr_callstacks"][0]["perf_data"]
    assert pdata["by_type"]["sample"] == rep["lbr_callstacks"][0]["samples"] == 1000
    out = subprocess.run(["perf", "script", "-i", str(tmp_path / pdata["path"]), "-F", "comm,tid,period,ip"],
                         capture_output=True, text=True, check=True)
    heads = [ln for ln in out.stdout.splitlines() if ln.startswith("tchain_edit")]
    assert len(heads) == 1000
    assert all(ln.split()[1:3] == ["4", "100000"] for ln in heads), heads[:3]
