"""task_data_memory(allocator=...) reads slab figures equal to the spec's SLUB arithmetic
(spec B.1/B.3/B.4), computed here independently; examples/lbr_task_data_memory.py prints them."""

from __future__ import annotations

import importlib.util
import math
import pathlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

import perfcore
from perfcore import _core

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGE = 4096
BLOB = {"788": (788, 64), "legacy": (800, 8), "arch_xsave": (1512, 64)}
KMALLOC = [8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192]


def get_order(size: int) -> int:
    o = 0
    while (PAGE << o) < size:
        o += 1
    return o


def spec_order(stride: int, cpus: int) -> tuple[int, int]:
    """calculate_order() of spec B.1 (slub_max_order 3): (order, objects per slab)."""
    min_objects = 4 * (cpus.bit_length() + 1)
    min_objects = min(min_objects, max((PAGE << 3) // stride, 1))
    min_order = get_order(min_objects * stride)
    for fraction in (16, 8, 4, 2):
        for order in range(min_order, 4):
            slab = PAGE << order
            if slab % stride <= slab // fraction:
                return order, slab // stride
    o = get_order(stride)
    return o, (PAGE << o) // stride


def stride(blob: str, allocator: str) -> int:
    size, align = BLOB[blob]
    if allocator == "kzalloc":
        return next(k for k in KMALLOC if k >= size)
    word = -(-size // 8) * 8
    return -(-word // max(align, 8)) * max(align, 8)


def test_788_claim_is_8_42_mb():
    m = _core.task_data_memory(10_000, allocator="kmem_cache", blob="788", nr_cpus=8)
    b, h = m["attached"]["blob"], m["attached"]["header"]
    assert (b["objsize"], b["objperslab"], b["pagesperslab"]) == (832, 39, 8)
    assert b["num_slabs"] == 257 and b["total_bytes"] == 257 * 32768  # 8.42 MB
    assert round(b["total_bytes"] / 1e6, 2) == 8.42
    assert h["name"] == "kmalloc-64" and h["num_slabs"] == math.ceil(10_000 / 64)
    assert m["released"]["blob"]["inuse_objs"] == 0 and m["live_after"] == 0


@given(
    blob=st.sampled_from(sorted(BLOB)),
    allocator=st.sampled_from(["kmem_cache", "kzalloc"]),
    cpus=st.sampled_from([1, 2, 4, 8, 16, 64]),
    threads=st.integers(min_value=1, max_value=3000),
)
def test_slab_figures_match_spec_arithmetic(blob, allocator, cpus, threads):
    m = _core.task_data_memory(threads, allocator=allocator, blob=blob, nr_cpus=cpus)
    s = stride(blob, allocator)
    order, per = spec_order(s, cpus)
    b = m["attached"]["blob"]
    assert (b["objsize"], b["objperslab"], b["pagesperslab"]) == (s, per, 1 << order)
    assert b["inuse_objs"] == threads
    assert b["num_slabs"] == math.ceil(threads / per)
    assert b["total_bytes"] == math.ceil(threads / per) * (PAGE << order)
    horder, hper = spec_order(64, cpus)
    h = m["attached"]["header"]
    assert h["inuse_objs"] == threads and h["num_slabs"] == math.ceil(threads / hper)
    assert m["released"]["blob"]["inuse_objs"] == 0 == m["released"]["header"]["inuse_objs"]
    assert m["live_after"] == 0
    assert m["blob_slabs_after_shrink"] == (0 if allocator == "kmem_cache" else None)


def test_bad_settings_raise_usage_errors():
    with pytest.raises(perfcore._core.UsageError):
        _core.task_data_memory(10, allocator="slab")
    with pytest.raises(perfcore._core.UsageError):
        _core.task_data_memory(10, allocator="kmem_cache", blob="huge")
    with pytest.raises(perfcore._core.UsageError):
        _core.task_data_memory(10, blob="788")  # blob= needs a slab allocator


def test_example_prints_the_table(capsys):
    spec = importlib.util.spec_from_file_location("lbr_task_data_memory", ROOT / "examples" / "lbr_task_data_memory.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rows = {(r["blob"], r["allocator"]): r for r in mod.rows(8)}
    assert rows[("788", "kmem_cache")]["blob_slabs"] == 257
    assert rows[("788", "kzalloc")]["blob_slabs"] == 313  # kmalloc-1k, spec B.3
    assert rows[("arch_xsave", "kmem_cache")]["objsize"] == 1536
    assert rows[("legacy", "kmem_cache")]["objperslab"] == 20
    assert all(r["released_objs"] == 0 for r in rows.values())
    mod.main([])
    out = capsys.readouterr().out
    assert "x86_lbr" in out and "8.42" in out
