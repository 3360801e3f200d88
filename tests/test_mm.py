"""Address spaces and the page-size walk from Python: a pure-Python ranges oracle driven by
hypothesis, kernel-thread and kernel-address rules, smaps of this very process, the real
kernel's transparent huge pages, the zero-run check and the histogram."""

from __future__ import annotations

import ctypes
import mmap as _mmap
import os
import re
from pathlib import Path
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import perfcore._core as core
from perfcore.mm import (
    AddressSpaces,
    PageSizeZeroRunWarning,
    check_zero_runs,
    from_smaps,
    page_size_histogram,
    page_size_name,
)

K4, M2, G1 = 4096, 2 << 20, 1 << 30
BASE = G1


# ----------------------------------------------------------------------------- the oracle


@dataclass
class Vma:
    start: int
    end: int
    kind: str
    ps: int
    populated: bool


@dataclass
class Oracle:
    """Sorted mapped ranges with their page sizes, plus the set of collapsed 2M blocks."""

    vmas: list[Vma] = field(default_factory=list)
    huge: set[int] = field(default_factory=set)

    def unmap(self, a: int, e: int) -> bool:
        for v in self.vmas:
            if v.kind == "hugetlb" and v.start < e and v.end > a:
                for cut in (a, e):
                    if v.start < cut < v.end and cut % v.ps:
                        return False
        self.huge = {b for b in self.huge if not (b < e and b + M2 > a)}
        out: list[Vma] = []
        for v in self.vmas:
            if v.end <= a or v.start >= e:
                out.append(v)
                continue
            if v.start < a:
                out.append(Vma(v.start, a, v.kind, v.ps, v.populated))
            if v.end > e:
                out.append(Vma(e, v.end, v.kind, v.ps, v.populated))
        self.vmas = sorted(out, key=lambda v: v.start)
        return True

    def page_size(self, x: int) -> int:
        for v in self.vmas:
            if v.start <= x < v.end:
                if not v.populated:
                    return 0
                if v.kind == "hugetlb":
                    return v.ps
                return M2 if (x & ~(M2 - 1)) in self.huge else K4
        return 0


addrs_st = st.builds(
    lambda g, i, j: BASE + g * G1 + i * M2 + j * K4,
    st.integers(0, 1),
    st.integers(0, 3),
    st.integers(0, 511),
)

ops_st = st.one_of(
    st.tuples(st.just("mmap"), addrs_st, st.integers(1, 1200), st.sampled_from(["anon", "file"]), st.booleans()),
    st.tuples(st.just("huge2m"), addrs_st, st.integers(1, 3), st.booleans()),
    st.tuples(st.just("huge1g"), st.integers(0, 2), st.booleans()),
    st.tuples(st.just("munmap"), addrs_st, st.integers(1, 1500)),
    st.tuples(st.just("collapse"), addrs_st, st.integers(1, 2000)),
    st.tuples(st.just("split"), addrs_st),
    st.tuples(st.just("thp"), addrs_st, st.integers(1, 3)),
)


def apply(sp: AddressSpaces, mm: int, o: Oracle, op: tuple) -> None:  # type: ignore[type-arg]
    kind = op[0]
    if kind in ("mmap", "huge2m", "huge1g"):
        if kind == "mmap":
            _, a, n, k, pop = op
            length, ps = n * K4, K4
        elif kind == "huge2m":
            _, a, n, pop = op
            a, length, ps, k = a & ~(M2 - 1), n * M2, M2, "hugetlb"
        else:
            _, g, pop = op
            a, length, ps, k = BASE + g * G1, G1, G1, "hugetlb"
        if o.unmap(a, a + length):
            sp.mmap(mm, a, length, page_size=ps, kind=k, populate=pop)
            o.vmas = sorted([*o.vmas, Vma(a, a + length, k, ps, pop)], key=lambda v: v.start)
        else:
            with pytest.raises(core.PerfError) as e:
                sp.mmap(mm, a, length, page_size=ps, kind=k, populate=pop)
            assert e.value.errno == 22
    elif kind == "thp":
        # An aligned, populated anon region, then MADV_COLLAPSE over it.
        _, a, n = op
        a &= ~(M2 - 1)
        apply(sp, mm, o, ("mmap", a, n * 512, "anon", True))
        apply(sp, mm, o, ("collapse", a, n * M2))
    elif kind == "munmap":
        _, a, n = op
        if o.unmap(a, a + n * K4):
            sp.munmap(mm, a, n * K4)
        else:
            with pytest.raises(core.PerfError):
                sp.munmap(mm, a, n * K4)
    elif kind == "collapse":
        _, a, n = op
        end, b, want = a + n * K4, -(-a // M2) * M2, 0
        while b + M2 <= end:
            inside = any(v.kind != "hugetlb" and v.populated and v.start <= b and v.end >= b + M2 for v in o.vmas)
            if inside and b not in o.huge:
                o.huge.add(b)
                want += 1
            b += M2
        assert sp.collapse(mm, a, n * K4) == want
    else:
        _, a = op
        if any(v.kind == "hugetlb" and v.start <= a < v.end for v in o.vmas):
            with pytest.raises(core.PerfError):
                sp.split(mm, a)
        else:
            b = a & ~(M2 - 1)
            assert sp.split(mm, a) == (b in o.huge)
            o.huge.discard(b)


@given(
    levels=st.sampled_from([4, 5]),
    ops=st.lists(ops_st, min_size=1, max_size=20),
    probes=st.lists(st.integers(BASE, BASE + 4 * G1), min_size=1, max_size=64),
)
def test_walker_equals_the_ranges_oracle(levels: int, ops: list[tuple], probes: list[int]) -> None:  # type: ignore[type-arg]
    sp = AddressSpaces(levels=levels)
    mm, other = sp.new_mm(), sp.new_mm()
    o = Oracle()
    for op in ops:
        apply(sp, mm, o, op)
        pts = list(probes)
        for v in o.vmas:
            pts += [v.start, v.end - 1, v.end]
        arr = np.array(pts, dtype=np.uint64)
        got = sp.page_sizes(mm, arr)
        want = np.array([o.page_size(x) for x in pts], dtype=np.uint64)
        assert np.array_equal(got, want), (op, [hex(x) for x in arr[got != want]])
        assert not sp.page_sizes(other, arr).any(), "user mappings are private to their mm"
        assert not sp.page_sizes(None, arr, kernel_thread=True).any(), "kernel threads walk init_mm"
    for _, start, size, ps in sp.kernel_regions():
        for x in (start, start + size // 2, start + size - 1):
            assert sp.page_size(mm, x) == sp.page_size(other, x) == sp.page_size(None, x) == ps
    assert sp.mappings(mm) == [(v.start, v.end, v.kind, v.ps, v.populated) for v in o.vmas]


# ----------------------------------------------------------------------------- fixed rules


def test_kernel_thread_samples() -> None:
    sp = AddressSpaces()
    mm = sp.new_mm()
    sp.mmap(mm, BASE, 4 * M2, page_size=M2, kind="hugetlb")
    regions = sp.kernel_regions()
    assert {ps for _, _, _, ps in regions} == {K4, M2, G1}
    # A kernel thread that lazily borrows `mm` still walks init_mm: user addresses give 0 ...
    assert sp.page_size(None, BASE + 5, kernel_thread=True) == 0
    # ... while the rejected active_mm rule would have found the user page.
    assert sp.page_size_active_mm(mm, BASE + 5) == M2
    assert sp.page_size_active_mm(None, BASE + 5) is None, "NULL active_mm is reported, not dereferenced"
    # Kernel addresses give the kernel page size from any task.
    for name, start, size, ps in regions:
        assert sp.page_size(None, start + size - 8, kernel_thread=True) == ps, name
        assert sp.page_size(mm, start) == ps, name
    assert sp.page_size(mm, 0) == 0
    assert sp.page_size(mm, 0x0000_8000_0000_0000) == 0, "non-canonical with 4-level paging"


def test_errors_name_the_value() -> None:
    sp = AddressSpaces()
    mm = sp.new_mm()
    with pytest.raises(core.PerfError, match="addr 0x40000001 is not aligned") as e:
        sp.mmap(mm, BASE + 1, M2, page_size=M2, kind="hugetlb")
    assert e.value.errno == 22
    with pytest.raises(core.UsageError, match="kind"):
        sp.mmap(mm, BASE, K4, kind="shm")
    with pytest.raises(core.UsageError, match="levels 3"):
        AddressSpaces(levels=3)
    with pytest.raises(core.NotFoundError):
        sp.mmap(99, BASE, K4)
    with pytest.raises(core.UsageError, match="init_mm"):
        sp.mmap(sp.init_mm, BASE, K4)


def test_grace_period_and_stats() -> None:
    sp = AddressSpaces()
    mm = sp.new_mm()
    sp.mmap(mm, BASE, 2 * M2)
    assert sp.collapse(mm, BASE, 2 * M2) == 2
    s = sp.stats()
    assert s["collapses"] == 2 and s["tables_deferred"] == 2
    assert sp.synchronize() == 2
    assert sp.stats()["tables_deferred"] == 0
    assert sp.huge_blocks(mm) == [BASE, BASE + M2]
    sp.drop_mm(mm)
    assert sp.page_size(mm, BASE) == 0


# ----------------------------------------------------------------------------- smaps


def test_from_smaps_of_this_process() -> None:
    text = Path("/proc/self/smaps").read_text(encoding="utf-8")
    lay = from_smaps(os.getpid())
    maps = lay.spaces.mappings(lay.mm)
    assert len(maps) >= 10
    # Every range of /proc/self/maps in the user half is either mapped or reported skipped.
    heads = re.findall(r"^([0-9a-f]+)-([0-9a-f]+) ", text, re.M)
    starts = {m[0] for m in maps} | {a for a, _ in lay.skipped}
    for a, _ in heads:
        assert int(a, 16) in starts or any(m[0] <= int(a, 16) < m[1] for m in maps)
    # The stack of this process is resident: the model resolves it at 4K.
    stack = re.search(r"^([0-9a-f]+)-([0-9a-f]+) .*\[stack\]$", text, re.M)
    assert stack is not None
    top = int(stack.group(2), 16) - 8
    assert lay.spaces.page_size(lay.mm, top) == K4
    # A numpy array allocated now lies in a mapping of the model built from smaps afterwards.
    arr = np.ones(1 << 16, dtype=np.uint8)
    lay2 = from_smaps(Path("/proc/self/smaps").read_text(encoding="utf-8"))
    assert lay2.spaces.page_size(lay2.mm, arr.ctypes.data) in (K4, M2)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("00400000-00600000 rw-p 00000000 00:00 0\nRss:  x kB\n", 2),
        ("Rss: 4 kB\n", 1),
        ("00400000-00600000 rw-p 00000000 00:00 0\nSize: 8 kB\nnot a field line\n", 3),
        ("00600000-00400000 rw-p 00000000 00:00 0\n", 1),
    ],
)
def test_bad_smaps_names_the_line(text: str, line: int) -> None:
    with pytest.raises(core.UsageError, match=f"smaps line {line}:"):
        from_smaps(text)


def _thp_mode() -> str | None:
    try:
        s = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text(encoding="ascii")
    except OSError:
        return None
    m = re.search(r"\[(\w+)\]", s)
    return m.group(1) if m else None


@pytest.mark.skipif(_thp_mode() in (None, "never"), reason="transparent huge pages are unavailable ([never] or no sysfs)")
def test_model_agrees_with_the_kernel_on_a_real_thp() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    madv_hugepage = 14
    length = 8 * M2
    raw = libc.mmap(None, length + M2, _mmap.PROT_READ | _mmap.PROT_WRITE, _mmap.MAP_PRIVATE | _mmap.MAP_ANONYMOUS, -1, 0)
    assert raw not in (None, ctypes.c_void_p(-1).value)
    try:
        base = (raw + M2 - 1) & ~(M2 - 1)
        assert libc.madvise(base, length, madv_hugepage) == 0, ctypes.get_errno()
        ctypes.memset(base, 1, length)
        text = Path("/proc/self/smaps").read_text(encoding="utf-8")
        # The smaps range that contains our region, and its AnonHugePages.
        blocks = re.split(r"^(?=[0-9a-f]+-[0-9a-f]+ )", text, flags=re.M)
        mine = [b for b in blocks if b and int(b.split("-")[0], 16) <= base < int(b.split("-")[1].split()[0], 16)]
        assert len(mine) == 1
        huge_kb = int(re.search(r"^AnonHugePages:\s+(\d+) kB", mine[0], re.M).group(1))  # type: ignore[union-attr]
        if huge_kb == 0:
            pytest.skip("the kernel did not back the MADV_HUGEPAGE region with huge pages (no free huge pages)")
        lay = from_smaps(text)
        sizes = lay.spaces.page_sizes(lay.mm, np.arange(base, base + length, K4 * 64, dtype=np.uint64))
        # The model places the range's huge pages first: as many 2M answers as smaps has.
        n_huge_blocks = huge_kb * 1024 // M2
        head = lay.spaces.page_sizes(lay.mm, np.array([base + i * M2 for i in range(n_huge_blocks)], dtype=np.uint64))
        assert (head == M2).all()
        assert set(sizes.tolist()) <= {K4, M2}
        assert (sizes == M2).sum() >= 1
    finally:
        libc.munmap(raw, length + M2)


# ----------------------------------------------------------------------------- sample streams


def test_zero_run_detector_warns_with_start_length_and_cause() -> None:
    sizes = np.array([K4] * 10 + [0] * 100 + [M2] * 5 + [0] * 3, dtype=np.uint64)
    with pytest.warns(PageSizeZeroRunWarning, match=r"100 consecutive samples .* at sample 10: likely cause"):
        runs = check_zero_runs(sizes, min_run=50)
    assert [(r.start, r.length) for r in runs] == [(10, 100)]
    assert "Address Space Isolation" in runs[0].cause
    addrs = np.where(sizes == 0, 0, 0x1000).astype(np.uint64)
    runs = check_zero_runs(sizes, addrs=addrs, min_run=3, warn=False)
    assert [(r.start, r.length) for r in runs] == [(10, 100), (115, 3)]
    assert all("no data address" in r.cause for r in runs)
    with pytest.raises(core.UsageError, match="addrs has 2 entries"):
        check_zero_runs(sizes, addrs=np.zeros(2, dtype=np.uint64), warn=False)


def test_zero_runs_from_a_kernel_thread_stretch() -> None:
    sp = AddressSpaces()
    mm = sp.new_mm()
    sp.mmap(mm, BASE, 64 * K4)
    addrs = np.full(300, BASE + 8, dtype=np.uint64)
    sizes = np.concatenate([sp.page_sizes(mm, addrs[:100]), sp.page_sizes(None, addrs[100:250], kernel_thread=True), sp.page_sizes(mm, addrs[250:])])
    with pytest.warns(PageSizeZeroRunWarning):
        runs = check_zero_runs(sizes, addrs=addrs, min_run=64)
    assert [(r.start, r.length) for r in runs] == [(100, 150)]
    assert "lazy TLB" in runs[0].cause


def test_histogram_and_names() -> None:
    sizes = np.array([K4, K4, M2, 0, G1, K4], dtype=np.uint64)
    assert page_size_histogram(sizes) == {0: 1, K4: 3, M2: 1, G1: 1}
    assert page_size_histogram(sizes, names=True) == {"N/A": 1, "4K": 3, "2M": 1, "1G": 1}
    assert [page_size_name(x) for x in (0, K4, M2, G1)] == ["N/A", "4K", "2M", "1G"]
    # Non-contiguous and non-u64 input is accepted.
    assert page_size_histogram(np.array([K4, 0, K4, 0], dtype=np.int64)[::2]) == {K4: 2}


def test_threads_share_one_arena_walks_lock_free_beside_writers() -> None:
    import threading

    sp = AddressSpaces()
    mm = sp.new_mm()
    addrs = np.array([BASE + k * M2 + 5 * K4 for k in range(4)] * 256, dtype=np.uint64)
    stop = threading.Event()
    seen: set[int] = set()
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            while not stop.is_set():
                seen.update(np.unique(sp.page_sizes(mm, addrs)).tolist())
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for i in range(200):
        b = BASE + (i % 4) * M2
        sp.mmap(mm, b, M2)
        sp.collapse(mm, b, M2)
        sp.split(mm, b)
        sp.munmap(mm, b, M2)
        try:
            sp.synchronize()
        except core.UsageError:
            pass  # a reader was inside its section: the grace period cannot end yet
    stop.set()
    for t in threads:
        t.join()
    assert not errors
    assert seen <= {0, K4, M2} and seen
    assert sp.stats()["readers"] == 0
