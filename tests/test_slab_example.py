"""examples/kmem_cache_alignment.py reproduces the SLUB arithmetic of
spec/task-data-slab-page-size.md §B.3. The expected figures are derived here, independently,
from the spec's formulas (calculate_alignment, word rounding, stride, calculate_order with
min_objects = 4 * (fls(nr_cpus) + 1), slub_max_order 3, fractions 16/8/4/2), and checked
against the spec's own numbers."""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import perfcore._core as core

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "kmem_cache_alignment.py"
PAGE = 4096


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kmem_cache_alignment", EXAMPLE)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# --- the spec's formulas, written out -------------------------------------------------------

def align_up(x: int, a: int) -> int:
    return (x + a - 1) // a * a


def get_order(size: int) -> int:
    order = 0
    while PAGE << order < size:
        order += 1
    return order


def calculate_order(size: int, nr_cpus: int) -> int:
    min_objects = 4 * (nr_cpus.bit_length() + 1)
    max_objects = max((PAGE << 3) // size, 1)
    min_objects = min(min_objects, max_objects)
    min_order = get_order(min_objects * size)
    for fraction in (16, 8, 4, 2):
        for order in range(min_order, 4):
            slab = PAGE << order
            if slab % size <= slab // fraction:
                return order
    return get_order(size)


def expected(option: str, cpus: int, tasks: int) -> dict[str, Any]:
    if option == "kmem_cache(align=64)":
        align = max(64, 8)  # calculate_alignment(0, 64, 788)
        stride = align_up(align_up(788, 8), align)
    else:  # kmalloc-1k for 788 and for 788 + 63
        stride = 1024
    order = calculate_order(stride, cpus)
    objs = (PAGE << order) // stride
    slabs = math.ceil(tasks / objs)
    return {"stride": stride, "order": order, "objects_per_slab": objs, "slabs": slabs,
            "total_bytes": slabs * (PAGE << order)}


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = _load().compute()
    return rows


def _get(rows: list[dict[str, Any]], option: str, cpus: int) -> dict[str, Any]:
    return next(r for r in rows if r["option"] == option and r["cpus"] == cpus)


@pytest.mark.parametrize("cpus", [2, 8, 64])
@pytest.mark.parametrize("option", ["kmalloc(size+align) rounded", "kzalloc(size)", "kmem_cache(align=64)"])
def test_figures_equal_the_slub_arithmetic(rows: list[dict[str, Any]], option: str, cpus: int) -> None:
    r = _get(rows, option, cpus)
    for k, v in expected(option, cpus, 10_000).items():
        assert r[k] == v, (option, cpus, k)


def test_figures_equal_the_spec_numbers(rows: list[dict[str, Any]]) -> None:
    c8 = _get(rows, "kmem_cache(align=64)", 8)
    assert (c8["stride"], c8["objects_per_slab"], c8["order"], c8["slabs"]) == (832, 39, 3, 257)
    assert _get(rows, "kmem_cache(align=64)", 64)["objects_per_slab"] == 39
    c2 = _get(rows, "kmem_cache(align=64)", 2)
    assert (c2["objects_per_slab"], c2["order"]) == (19, 2)
    k8 = _get(rows, "kzalloc(size)", 8)
    assert (k8["cache"], k8["objects_per_slab"], k8["slabs"]) == ("kmalloc-1k", 32, 313)
    assert round(c8["total_mb"], 2) == 8.42
    assert round(k8["total_mb"], 2) == 10.26
    assert round(c8["bytes_per_object_incl_tail"], 1) == 840.2
    assert round(c2["bytes_per_object_incl_tail"], 1) == 862.3
    assert k8["guaranteed_align"] == 8 and c8["guaranteed_align"] == 64


def test_every_object_is_64_aligned_and_xsave_ran(rows: list[dict[str, Any]]) -> None:
    has = core.xsave_supported()["xsave"]
    for option in ("kmalloc(size+align) rounded", "kmem_cache(align=64)"):
        for cpus in (2, 8, 64):
            r = _get(rows, option, cpus)
            assert r["aligned_64"] == 10_000
            assert r["xsave"] == ("ok 10000/10000" if has else "not run (CPU lacks XSAVE)")


def test_debug_row_counts_misaligned_objects(rows: list[dict[str, Any]]) -> None:
    r = _get(rows, "kzalloc, slub_debug=Z, <5.4", 8)
    # kmalloc-1k with red zone and align 8: stride 1024 + 8 + 8 + 8 = 1048, objects at
    # slab + i * 1048 + 8; 31 per order-3 slab; i = 5 mod 8 lands on a 64-byte boundary.
    assert r["stride"] == 1048
    per_slab_aligned = sum(1 for i in range(31) if (i * 1048 + 8) % 64 == 0)
    full, rest = divmod(10_000, 31)
    aligned = full * per_slab_aligned + sum(1 for i in range(rest) if (i * 1048 + 8) % 64 == 0)
    assert r["aligned_64"] == aligned
    assert r["xsave"] == f"would #GP on {10_000 - aligned}/10000"


def test_runs_as_a_script() -> None:
    out = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, check=True)
    assert "kmem_cache(align=64)" in out.stdout
    assert "8.42" in out.stdout and "10.26" in out.stdout
