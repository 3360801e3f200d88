"""perfcore._core.KmemCache and KmallocModel from Python: a hypothesis state machine drives
random alloc/zalloc/free sequences (several caches, several CPUs) against a plain model of the
live objects as an interval set, and the API's errors and layouts are checked against the
spec (spec/task-data-slab-page-size.md part B)."""

from __future__ import annotations

import bisect

import hypothesis.strategies as st
import pytest
from hypothesis import given
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import perfcore._core as core
from perfcore.slab import format_slabinfo, slabinfo_columns, slabinfo_table


def _tag(addr: int) -> bytes:
    return bytes([(addr >> 3) & 0xFF | 1])


class CacheMachine(RuleBasedStateMachine):
    """One cache with random geometry; live objects kept as sorted (start, end) intervals."""

    def __init__(self) -> None:
        super().__init__()
        self.cache: core.KmemCache | None = None
        self.starts: list[int] = []
        self.ends: dict[int, int] = {}
        self.freed: list[int] = []

    @rule(size=st.integers(1, 5000), align=st.sampled_from([0, 8, 16, 32, 64, 128, 512]),
          flags=st.sampled_from(["", "HWCACHE_ALIGN", "RED_ZONE", "HWCACHE_ALIGN|RED_ZONE"]),
          nr_cpus=st.integers(1, 8))
    @precondition(lambda self: self.cache is None)
    def create(self, size: int, align: int, flags: str, nr_cpus: int) -> None:
        self.cache = core.KmemCache("hyp", size, align, flags, nr_cpus)
        assert self.cache.align >= max(align, 8)
        assert self.cache.align & (self.cache.align - 1) == 0
        assert self.cache.stride % self.cache.align == 0

    @rule(cpu=st.integers(0, 7), zero=st.booleans())
    @precondition(lambda self: self.cache is not None)
    def alloc(self, cpu: int, zero: bool) -> None:
        c = self.cache
        assert c is not None
        cpu %= c.nr_cpus
        a = c.zalloc(cpu) if zero else c.alloc(cpu)
        assert a % c.align == 0
        end = a + c.object_size
        i = bisect.bisect_left(self.starts, a)
        if i > 0:
            assert self.ends[self.starts[i - 1]] <= a, "overlaps the previous object"
        if i < len(self.starts):
            assert self.starts[i] >= end, "overlaps the next object"
        if zero:
            assert c.read(a) == bytes(c.object_size)
        c.write(a, _tag(a) * c.object_size)
        self.starts.insert(i, a)
        self.ends[a] = end
        if a in self.freed:
            self.freed.remove(a)

    @rule(pick=st.integers(0, 10**6), cpu=st.integers(0, 7))
    @precondition(lambda self: self.cache is not None and bool(self.starts))
    def free(self, pick: int, cpu: int) -> None:
        c = self.cache
        assert c is not None
        a = self.starts.pop(pick % len(self.starts))
        del self.ends[a]
        assert c.read(a) == _tag(a) * c.object_size, "object contents changed while live"
        c.free(a, cpu % c.nr_cpus)
        self.freed.append(a)

    # No precondition on `freed`: whether a fresh object reuses a freed address depends on which
    # pages the OS hands back for a new slab, which differs between hypothesis replays.
    @rule(cpu=st.integers(0, 7))
    @precondition(lambda self: self.cache is not None)
    def double_free(self, cpu: int) -> None:
        c = self.cache
        assert c is not None
        if not self.freed:
            return
        before = c.slabinfo()
        a = self.freed[-1]
        with pytest.raises(core.UsageError, match=f"hyp.*{a:#x}"):
            c.free(a, cpu % c.nr_cpus)
        assert c.slabinfo() == before

    @rule(pick=st.integers(0, 10**6), delta=st.integers(1, 10**6))
    @precondition(lambda self: self.cache is not None and bool(self.starts))
    def interior_free(self, pick: int, delta: int) -> None:
        c = self.cache
        assert c is not None
        a = self.starts[pick % len(self.starts)] + 1 + delta % (c.stride - 1)
        before = c.slabinfo()
        with pytest.raises(core.UsageError, match="not an object start|not in any slab"):
            c.free(a)
        assert c.slabinfo() == before

    @rule()
    @precondition(lambda self: self.cache is not None)
    def shrink(self) -> None:
        assert self.cache is not None
        self.cache.shrink()

    @invariant()
    def stats_agree(self) -> None:
        c = self.cache
        if c is None:
            return
        s = c.slabinfo()
        assert s["inuse_objs"] == len(self.starts) == c.nr_allocated
        assert s["num_objs"] == s["num_slabs"] * s["objperslab"]
        assert s["objsize"] == c.stride and s["objperslab"] == c.objects_per_slab
        assert s["pagesperslab"] == 1 << c.order
        assert s["inuse_objs"] <= s["active_objs"] <= s["num_objs"]
        assert s["total_bytes"] == s["num_slabs"] * c.slab_bytes
        assert s["padding_bytes"] + s["tail_waste_bytes"] + s["num_objs"] * c.object_size == s["total_bytes"]
        assert (s["cpu_slabs"] + s["cpu_partial_slabs"] + s["node_partial_slabs"] + s["full_slabs"]
                == s["num_slabs"])
        assert sorted(int(x) for x in c.live_objects()) == self.starts

    def teardown(self) -> None:
        c = self.cache
        if c is None:
            return
        if self.starts:
            with pytest.raises(core.UsageError, match=f"{len(self.starts)} objects still allocated"):
                c.destroy()
        for a in list(self.starts):
            c.free(a)
        c.shrink()
        assert c.slabinfo()["num_slabs"] == 0
        c.destroy()
        assert c.destroyed


TestCacheMachine = CacheMachine.TestCase


@given(size=st.integers(1, 8192))
def test_kmalloc_classes_and_guarantees(size: int) -> None:
    m = core.KmallocModel(nr_cpus=4)
    classes = [8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192]
    cls = next(c for c in classes if c >= size)
    name = f"kmalloc-{cls // 1024}k" if cls >= 1024 else f"kmalloc-{cls}"
    assert m.size_class_of(size) == name == core.kmalloc_size_class(size)
    lowbit = size & -size
    assert m.guaranteed_align(size) == max(8, lowbit)
    a = m.kzalloc(size)
    assert a % m.guaranteed_align(size) == 0
    assert m.ksize(a) == cls
    assert m.read(a) == bytes(cls)
    m.kfree(a)
    with pytest.raises(core.UsageError, match="already free"):
        m.kfree(a)


def test_kmalloc_real_strides_and_align_rules() -> None:
    m = core.KmallocModel(nr_cpus=8)
    i96, i192 = m.class_info(96), m.class_info(192)
    assert i96 is not None and i192 is not None
    assert (i96["stride"], i96["align"]) == (96, 32)
    assert (i192["stride"], i192["align"]) == (192, 64)
    assert m.class_info(0) is None and m.class_info(8193) is None
    assert m.kmalloc(0) == core.ZERO_SIZE_PTR
    m.kfree(core.ZERO_SIZE_PTR)
    m.kfree(0)
    old = core.KmallocModel(nr_cpus=8, align_rule="pow2")
    assert old.guaranteed_align(1024) == 1024 and old.guaranteed_align(96) == 8
    with pytest.raises(core.UsageError, match="align_rule"):
        core.KmallocModel(align_rule="4.0")
    big = m.kmalloc(10_000)
    assert big % 4096 == 0 and m.ksize(big) == 16384
    m.kfree(big)
    with pytest.raises(core.PerfError) as e:
        m.kmalloc(5 << 20)
    assert e.value.errno == 12


def test_debug_red_zone_moves_objects_off_64() -> None:
    m = core.KmallocModel(debug_redzone=True, nr_cpus=8, align_rule="minalign")
    info = m.class_info(788)
    assert info is not None
    assert (info["stride"], info["red_left_pad"]) == (1048, 8)
    assert m.kmalloc(788) % 64 == 8


def test_cache_layout_properties_match_the_worked_example() -> None:
    c = core.KmemCache("x86_lbr", 788, 64, nr_cpus=8)
    assert (c.object_size, c.align, c.inuse, c.offset, c.stride, c.size) == (788, 64, 792, 392, 832, 832)
    assert (c.order, c.objects_per_slab, c.tail_waste, c.min_order, c.min_objects) == (3, 39, 320, 0, 4)
    assert c.min_partial == 5 and c.red_left_pad == 0 and c.slab_bytes == 32768
    assert c.proc_line().split()[:6] == ["x86_lbr", "0", "0", "832", "39", "8"]
    assert "stride=832" in repr(c)
    rz = core.KmemCache("x86_lbr_rz", 788, 64, "SLAB_RED_ZONE", nr_cpus=8)
    assert rz.red_left_pad == 64 and rz.flags == "RED_ZONE"


def test_misuse_errors_name_cache_address_and_reason() -> None:
    a_cache = core.KmemCache("a", 100, nr_cpus=2)
    b_cache = core.KmemCache("b", 100, nr_cpus=2)
    x = a_cache.alloc(0)
    with pytest.raises(core.UsageError, match=rf"kmem_cache_free\(b\): {x:#x}: it is not in any slab"):
        b_cache.free(x)
    with pytest.raises(core.UsageError, match=rf"{x + 8:#x}: it is not an object start"):
        a_cache.free(x + 8)
    with pytest.raises(core.UsageError, match="cpu 2 out of range"):
        a_cache.alloc(2)
    a_cache.free(x, 1)
    with pytest.raises(core.UsageError, match="double free"):
        a_cache.free(x, 1)
    with pytest.raises(core.UsageError, match="not a power of two"):
        core.KmemCache("c", 100, 48)
    with pytest.raises(core.UsageError, match="POISON"):
        core.KmemCache("c", 100, 0, "POISON")
    with pytest.raises(core.UsageError, match="unsupported bits"):
        core.KmemCache("c", 100, 0, 1)
    with pytest.raises(core.UsageError, match="size 0"):
        core.KmemCache("c", 0)
    with pytest.raises(core.UsageError, match="exceeds object_size"):
        y = a_cache.alloc()
        a_cache.write(y, b"x" * 101)


def test_destroy_with_live_objects_lists_them_and_keeps_the_cache() -> None:
    c = core.KmemCache("busy", 64, nr_cpus=1)
    addrs = [c.alloc() for _ in range(40)]
    with pytest.raises(core.UsageError) as e:
        c.destroy()
    msg = str(e.value)
    assert "40 objects still allocated" in msg and "and 8 more" in msg
    assert f"{min(addrs):#x}" in msg
    assert not c.destroyed
    c.write(addrs[0], b"still usable")
    assert c.read(addrs[0])[:12] == b"still usable"
    for a in addrs:
        c.free(a)
    c.destroy()
    with pytest.raises(core.UsageError, match="destroyed"):
        c.alloc()


def test_bulk_calls_and_slabinfo_tables() -> None:
    c = core.KmemCache("bulk", 832, 64, nr_cpus=8)
    addrs = c.alloc_many(100, 3)
    assert len(set(addrs.tolist())) == 100 and all(int(a) % 64 == 0 for a in addrs)
    k = c.counters()
    assert (k["allocs"], k["frees"], k["slabs_allocated"]) == (100, 0, 3)
    m = core.KmallocModel(nr_cpus=2)
    m.kmalloc(40)
    rows = slabinfo_table([c, m])
    assert len(rows) == 14 and rows[0]["name"] == "bulk"
    cols = slabinfo_columns(rows)
    assert cols["inuse_objs"][0] == 100 and cols["name"][4] == "kmalloc-64" and cols["inuse_objs"][4] == 1
    text = format_slabinfo(rows)
    assert text.splitlines()[1].split()[:3] == ["bulk", str(rows[0]["active_objs"]), "117"]
    c.free_many(addrs)
    assert c.nr_allocated == 0


def test_bulk_limit_is_an_error_not_a_crash() -> None:
    c = core.KmemCache("limit", 64, nr_cpus=1)
    with pytest.raises(core.UsageError, match="alloc_many"):
        c.alloc_many(1 << 40)
    with pytest.raises(OverflowError):
        c.alloc(-1)
    assert c.nr_allocated == 0
