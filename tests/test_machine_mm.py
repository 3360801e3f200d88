"""The Machine's address spaces: each user task has its own mm, kernel threads walk init_mm, and
page_size() answers what PERF_SAMPLE_DATA_PAGE_SIZE would report (spec part C)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import perfcore as pc

K4, M2, G1 = 4096, 2 << 20, 1 << 30
TEXT = 0xFFFF_FFFF_8100_0000  # kernel text, 2 MiB pages
DIRECT = 0xFFFF_8880_0000_0000  # direct map, 1 GiB pages with gbpages


def test_user_tasks_have_private_mms_and_kernel_threads_walk_init_mm() -> None:
    m = pc.Machine()
    a, b = m.spawn("a"), m.spawn("b")
    kt = m.spawn("kworker", kernel_thread=True)
    assert m.task_mm(a) != m.task_mm(b) and m.task_mm(kt) is None
    m.mmap(a, 0x4000_0000, 8 * K4)
    assert m.page_size(a, 0x4000_0000) == K4
    assert m.page_size(b, 0x4000_0000) == 0          # not mapped in b
    assert m.page_size(kt, 0x4000_0000) == 0         # user address from a kernel thread
    for pid in (a, b, kt):                            # the kernel half is the same everywhere
        assert m.page_size(pid, TEXT) == M2
        assert m.page_size(pid, DIRECT) == G1
    with pytest.raises(pc.UsageError, match="kernel thread"):
        m.mmap(kt, 0x4000_0000, K4)


def test_thp_collapse_split_and_hugetlb() -> None:
    m = pc.Machine()
    p = m.spawn("thp")
    m.mmap(p, 0x20_0000_0000, 2 * M2)
    assert m.collapse(p, 0x20_0000_0000, 2 * M2) == 2
    assert m.page_size(p, 0x20_0000_0000 + 12345) == M2
    assert m.split(p, 0x20_0000_0000)
    assert m.page_size(p, 0x20_0000_0000 + 12345) == K4
    assert m.page_size(p, 0x20_0000_0000 + M2) == M2
    m.mmap(p, 0x40_0000_0000, G1, page_size=G1, kind="hugetlb")
    assert m.page_size(p, 0x40_0000_0000 + G1 - 8) == G1
    m.munmap(p, 0x40_0000_0000, G1)
    assert m.page_size(p, 0x40_0000_0000) == 0


@given(pages=st.lists(st.integers(0, 63), max_size=20, unique=True), probe=st.integers(0, 64 * K4 - 1))
def test_page_size_matches_the_mapped_set(pages: list[int], probe: int) -> None:
    m = pc.Machine()
    p = m.spawn("probe")
    base = 0x7F00_0000_0000
    for pg in pages:
        m.mmap(p, base + pg * K4, K4)
    want = K4 if probe // K4 in pages else 0
    assert m.page_size(p, base + probe) == want
