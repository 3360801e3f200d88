"""Address spaces and sample page sizes: helpers over ``perfcore._core.AddressSpaces``.

- :func:`from_smaps` builds a perfcore address space from ``/proc/PID/smaps`` (a pid, or the
  text itself), so a study can start from a real process's layout.
- :func:`check_zero_runs` is the perf-tool-side check the commit that added
  ``PERF_SAMPLE_DATA_PAGE_SIZE`` promises: it warns about long runs of page size 0.
- :func:`page_size_histogram` counts samples per page size, keyed by size or by perf's names.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from perfcore._core import AddressSpaces, find_zero_runs, page_size_name
from perfcore._core import page_size_histogram as _histogram

__all__ = [
    "AddressSpaces",
    "PageSizeZeroRunWarning",
    "SmapsLayout",
    "ZeroRun",
    "check_zero_runs",
    "from_smaps",
    "page_size_histogram",
    "page_size_name",
]

SIZE_4K = 4096
SIZE_2M = 2 << 20
SIZE_1G = 1 << 30


class PageSizeZeroRunWarning(UserWarning):
    """A sample stream has a long run of page size 0 (the walk found nothing)."""


@dataclass(frozen=True)
class ZeroRun:
    """A run of consecutive samples whose page size is 0."""

    start: int
    length: int
    cause: str


@dataclass(frozen=True)
class SmapsLayout:
    """An address space built from smaps: the arena, the mm id and what was left out."""

    spaces: AddressSpaces
    mm: int
    huge_blocks: int
    skipped: list[tuple[int, str]]


def _as_u64(a: npt.ArrayLike) -> npt.NDArray[np.uint64]:
    return np.ascontiguousarray(np.asarray(a, dtype=np.uint64))


def from_smaps(
    text_or_pid: str | int, spaces: AddressSpaces | None = None, levels: int = 4
) -> SmapsLayout:
    """Build an mm from smaps text, or from ``/proc/<pid>/smaps`` when given an int.

    Ranges with resident pages are populated; ``AnonHugePages`` / ``FilePmdMapped`` /
    ``ShmemPmdMapped`` become 2 MiB PMD leaves in each range's first aligned blocks. Bad text
    raises ``perfcore.UsageError`` naming the line.
    """
    if isinstance(text_or_pid, bool) or not isinstance(text_or_pid, (int, str)):
        raise TypeError(f"from_smaps() takes smaps text or a pid, not {type(text_or_pid).__name__}")
    if isinstance(text_or_pid, int):
        with open(f"/proc/{text_or_pid}/smaps", encoding="utf-8", errors="replace") as f:
            text = f.read()
    else:
        text = text_or_pid
    sp = spaces if spaces is not None else AddressSpaces(levels=levels)
    mm, huge, skipped = sp.mm_from_smaps(text)
    return SmapsLayout(sp, mm, huge, skipped)


def check_zero_runs(
    sizes: npt.ArrayLike,
    addrs: npt.ArrayLike | None = None,
    min_run: int = 64,
    warn: bool = True,
) -> list[ZeroRun]:
    """Find runs of at least ``min_run`` consecutive zero page sizes and warn about each.

    ``sizes`` are the DATA_PAGE_SIZE (or CODE_PAGE_SIZE) values of a sample stream in order;
    ``addrs`` (optional, same length) are the sampled addresses, which sharpen the cause. Each
    run is reported with its start index, length and likely cause, as a
    :class:`PageSizeZeroRunWarning` when ``warn`` is true.
    """
    s = _as_u64(sizes)
    a = None if addrs is None else _as_u64(addrs)
    runs = [ZeroRun(st, n, cause) for st, n, cause in find_zero_runs(s, min_run, a)]
    if warn:
        for r in runs:
            warnings.warn(
                f"{r.length} consecutive samples with page size 0 starting at sample {r.start}: "
                f"likely cause: {r.cause}",
                PageSizeZeroRunWarning,
                stacklevel=2,
            )
    return runs


def page_size_histogram(sizes: npt.ArrayLike, names: bool = False) -> dict[int, int] | dict[str, int]:
    """Samples per page size: ``{4096: n, ...}``, or with ``names`` perf's ``{"4K": n, "N/A": m}``."""
    h = _histogram(_as_u64(sizes))
    if names:
        return {page_size_name(k): v for k, v in h.items()}
    return h
