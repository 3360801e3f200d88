"""perf.data files that ``perf script`` / ``perf report`` read, and a reader for files from perf.

- :func:`read` parses a file (header, attrs with ids and names, features) and gives records as
  dicts (``PerfData.records()``) or lazily (``PerfData.iter_records()``).
- :func:`write` writes attrs and records (dicts as :func:`read` returns them, or bytes).
- :func:`write_ring` drains a :class:`perfcore.RingBuffer` (a standalone one or the ring of
  ``Event.mmap()``) into a file.
- :func:`dump` formats a file like a short ``perf report -D``.

Malformed files raise :class:`perfcore.errors.PerfDataError` (a ``ValueError``) naming the byte
offset and the field. Facts: ``spec/ring-buffer-aux-records.md`` §8; docs/perf-data.md.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, Union

from perfcore._core import Attr, Event, PerfData, PerfDataError, PerfDataWriter, RingBuffer, read_perf_data

__all__ = ["PerfData", "PerfDataError", "PerfDataWriter", "dump", "read", "write", "write_ring"]

PathLike = Union[str, "os.PathLike[str]"]
AttrSpec = Union[Attr, Mapping[str, Any]]

# keys of a record dict from read() that are not encoder fields
_NOT_FIELDS = frozenset({"type", "type_id", "size", "misc", "offset", "attr", "raw"})


def read(path: PathLike) -> PerfData:
    """Open and parse ``path`` (records are read when asked for)."""
    return read_perf_data(os.fspath(path))


def _add_attrs(w: PerfDataWriter, attrs: Iterable[AttrSpec]) -> None:
    for a in attrs:
        if isinstance(a, Attr):
            w.add_attr(a)
        else:
            w.add_attr(a["attr"], list(a.get("ids", ())), a.get("name"))


def _write_records(w: PerfDataWriter, records: Iterable[Mapping[str, Any] | bytes]) -> None:
    for r in records:
        if isinstance(r, (bytes, bytearray, memoryview)):
            w.write_bytes(bytes(r))
            continue
        attr = r.get("attr")
        if "raw" in r:  # a record perfcore does not decode: write its bytes back
            w.write_bytes(bytes(r["raw"]), attr)
            continue
        fields = {k: v for k, v in r.items() if k not in _NOT_FIELDS}
        if r["type"] == "sample":
            w.write_sample(attr, misc=r.get("misc", 0), **fields)
        else:
            w.write_record(r["type"], r.get("misc", 0), attr, **fields)


def write(
    path: PathLike,
    attrs: Iterable[AttrSpec],
    records: Iterable[Mapping[str, Any] | bytes],
    *,
    kernel_mmap: bool = False,
    **meta: Any,
) -> str:
    """Write a perf.data file; returns its path.

    ``attrs``: :class:`perfcore.Attr` objects or dicts ``{"attr": Attr, "ids": [...], "name": str}``
    (with several attrs every one needs ``id`` or ``identifier`` in ``sample_type`` and its ids).
    ``records``: dicts as :meth:`PerfData.records` returns them (``type`` is the kind, ``attr`` the
    attr index, optional: found from the id) or encoded record bytes. ``meta``: ``attr_size``,
    ``hostname``, ``osrelease``, ``version``, ``arch``, ``nrcpus=(available, online)``, ``cmdline``.
    ``kernel_mmap`` first writes the kernel-text MMAP that perf record synthesizes (perf report
    warns about restricted kernel maps without one). The file appears at ``path`` only when
    everything was written.
    """
    with PerfDataWriter(os.fspath(path), **meta) as w:
        _add_attrs(w, attrs)
        if kernel_mmap:
            w.write_kernel_mmap()
        _write_records(w, records)
    return os.fspath(path)


def write_ring(
    path: PathLike,
    ring: RingBuffer,
    attr: Attr | Event,
    *,
    ids: Iterable[int] | None = None,
    name: str | None = None,
    kernel_mmap: bool = True,
    **meta: Any,
) -> str:
    """Consume every record of ``ring`` into a new perf.data file with one event; returns the path.

    ``attr`` is the event's :class:`perfcore.Attr`, or the :class:`perfcore.Event` whose ring this
    is (then ``ids`` default to the event's id). Its sample_type, read_format and sample_id_all
    must be the ring's (``ring.format``). ``kernel_mmap`` and ``meta`` as for :func:`write`.
    """
    if isinstance(attr, Event):
        if ids is None:
            ids = [attr.id]
        attr = attr.attr
    fmt = ring.format
    mine = (attr.sample_type, attr.read_format, bool(attr.sample_id_all))
    theirs = (fmt.sample_type, fmt.read_format, fmt.sample_id_all)
    if mine != theirs:
        raise ValueError(
            f"attr (sample_type, read_format, sample_id_all) = {mine} but the ring's records use {theirs}"
        )
    records = ring.read_raw()
    spec = {"attr": attr, "ids": list(ids or ()), "name": name}
    return write(path, [spec], records, kernel_mmap=kernel_mmap, **meta)


def _fields(r: Mapping[str, Any]) -> str:
    parts = []
    for k, v in r.items():
        if k in _NOT_FIELDS or k == "sample_id":
            continue
        if isinstance(v, int) and not isinstance(v, bool) and k in ("ip", "addr", "aux_offset"):
            parts.append(f"{k}={v:#x}")
        elif isinstance(v, (int, str)):
            parts.append(f"{k}={v}")
        elif isinstance(v, list) and k == "callchain":
            parts.append(f"callchain[{len(v)}]")
    return " ".join(parts)


def dump(path: PathLike, *, limit: int | None = None) -> str:
    """A short ``perf report -D``: header, attrs, features, one line per record (at most
    ``limit``), then the count of records per type."""
    pd = read(path)
    h = pd.header
    lines = [
        f"# perf.data {pd.path}: {h['file_size']} bytes, data at {h['data'][0]:#x} ({h['data'][1]} bytes)",
    ]
    for i, a in enumerate(pd.attrs):
        at = a["attr"]
        lines.append(
            f"# attr {i}: name={a['name'] or '-'} type={at.type} config={at.config:#x} "
            f"sample_type={at.sample_type:#x} read_format={at.read_format:#x} ids={a['ids']}"
        )
    feats = pd.features
    shown = {k: v for k, v in feats.items() if isinstance(v, (str, int, tuple))}
    lines.append("# features: " + " ".join(pd.feature_names))
    for k, v in shown.items():
        lines.append(f"#   {k}: {v}")
    counts: Counter[str] = Counter()
    for n, r in enumerate(pd.iter_records()):
        name = str(r["type"]).upper()
        counts[name] += 1
        if limit is None or n < limit:
            lines.append(f"{r['offset']:#x} [{r['size']:#x}]: PERF_RECORD_{name} {_fields(r)}".rstrip())
    lines.append("")
    lines.append("Aggregated stats:")
    lines.append(f"{'TOTAL events:':>30} {sum(counts.values()):10d}")
    for name, c in counts.items():
        lines.append(f"{name + ' events:':>30} {c:10d}")
    return "\n".join(lines)
