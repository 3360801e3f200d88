"""Helpers around the slab model: slabinfo tables.

The model itself is ``perfcore._core.KmemCache`` / ``perfcore._core.KmallocModel`` (Rust);
see docs/slab.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from perfcore._core import KmallocModel, KmemCache

#: The /proc/slabinfo columns, in order.
PROC_COLUMNS: tuple[str, ...] = (
    "active_objs",
    "num_objs",
    "objsize",
    "objperslab",
    "pagesperslab",
    "active_slabs",
    "num_slabs",
)

#: perfcore's extra columns.
EXTRA_COLUMNS: tuple[str, ...] = (
    "inuse_objs",
    "object_size",
    "padding_bytes",
    "tail_waste_bytes",
    "total_bytes",
)


def slabinfo_table(sources: Iterable[KmemCache | KmallocModel]) -> list[dict[str, int | str]]:
    """One slabinfo row per cache: a KmemCache gives one row, a KmallocModel its 13."""
    rows: list[dict[str, int | str]] = []
    for src in sources:
        if isinstance(src, KmemCache):
            rows.append(src.slabinfo())
        else:
            rows.extend(src.slabinfo())
    return rows


def slabinfo_columns(rows: Sequence[Mapping[str, int | str]]) -> dict[str, list[int | str]]:
    """The same rows as a dict of columns (``name`` first)."""
    keys = ["name", *PROC_COLUMNS, *EXTRA_COLUMNS]
    return {k: [r[k] for r in rows] for k in keys}


def format_slabinfo(rows: Sequence[Mapping[str, int | str]], extra: bool = True) -> str:
    """Render rows like /proc/slabinfo (name and the seven numbers), optionally with the
    extra columns."""
    cols = [*PROC_COLUMNS, *(EXTRA_COLUMNS if extra else ())]
    header = f"{'# name':<18}" + "".join(f"{c:>17}" for c in cols)
    lines = [header]
    for r in rows:
        lines.append(f"{str(r['name']):<18}" + "".join(f"{r[c]:>17}" for c in cols))
    return "\n".join(lines)
