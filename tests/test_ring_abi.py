"""A consumer written only against the documented ABI (uapi offsets: data_head 1024, data_tail
1032, data_offset 1040, data_size 1048; records by header.size) reads perfcore's ring correctly,
including wrapped records and LOST, through the zero-copy page view."""

from __future__ import annotations

import struct

import numpy as np

from perfcore import _core

IP_TIME = "ip|time|callchain"


def abi_consume(pages: memoryview, rb: _core.RingBuffer) -> list[tuple[int, bytes]]:
    head = struct.unpack_from("<Q", pages, 1024)[0]
    tail = struct.unpack_from("<Q", pages, 1032)[0]
    off = struct.unpack_from("<Q", pages, 1040)[0]
    size = struct.unpack_from("<Q", pages, 1048)[0]
    data = pages[off : off + size]
    out = []
    pos = tail
    while pos < head:
        def take(p: int, n: int) -> bytes:
            i = p % size
            if i + n <= size:
                return bytes(data[i : i + n])
            return bytes(data[i:]) + bytes(data[: n - (size - i)])

        typ, _misc, sz = struct.unpack("<IHH", take(pos, 8))
        out.append((typ, take(pos, sz)))
        pos += sz
    rb.set_data_tail(head)  # the store a process makes at offset 1032
    return out


def test_abi_reader_sees_wrapped_records_and_lost() -> None:
    rb = _core.RingBuffer(data_pages=1, sample_type=IP_TIME, sample_id_all=True, event_id=77)
    pages = rb.pages()
    assert pages.readonly and len(pages) == 2 * 4096
    seen_ips: list[int] = []
    lost_total = 0
    produced = 0
    for rnd in range(40):
        for i in range(100):
            produced += 1
            rb.write_sample(ip=rnd * 1000 + i, time=rnd * 1000 + i, callchain=[1] * (i % 7))
        for typ, raw in abi_consume(pages, rb):
            if typ == 9:
                seen_ips.append(struct.unpack_from("<Q", raw, 8)[0])
            else:
                assert typ == 2
                rid, lost = struct.unpack_from("<QQ", raw, 8)
                assert rid == 77
                lost_total += lost
                # LOST carries the trailer of the sample that follows it (TIME only here)
                (trailer_time,) = struct.unpack_from("<Q", raw, len(raw) - 8)
                assert trailer_time % 1000 < 100
    assert seen_ips == sorted(seen_ips)
    assert len(seen_ips) + lost_total + rb.stats()["pending_lost"] == produced
    assert lost_total > 0, "the test must exercise LOST"
    assert rb.data_head > 4096, "and the wrap"


def test_page_view_is_zero_copy() -> None:
    rb = _core.RingBuffer(data_pages=2)
    arr = np.frombuffer(rb.pages(), dtype=np.uint8)
    assert arr[4096:4104].tolist() == [0] * 8
    rb.write_sample(ip=0x1234, pid=1, tid=2, time=3)
    # the same memory, no new view: header type 9 and size 32 are there now
    assert arr[4096] == 9 and arr[4096 + 6] == 32
    assert int(arr[1024:1032].view(np.uint64)[0]) == rb.data_head == 32
