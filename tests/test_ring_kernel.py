"""Differential test against the running kernel: open a software sampling event with a rich
sample_type via perf_event_open(2) (ctypes), fill its mmap ring with a small workload, decode the
bytes with perfcore's decoder and re-encode every record with perfcore: the bytes must be
identical. Facts: spec/ring-buffer-aux-records.md §1, §2, §6."""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import struct
import threading

import pytest

from perfcore import _core

NR_PERF_EVENT_OPEN = 298  # x86-64
PAGE = 4096
PERF_TYPE_SOFTWARE = 1
PERF_COUNT_SW_PAGE_FAULTS = 2
PERF_EVENT_IOC_ENABLE = 0x2400
PERF_EVENT_IOC_DISABLE = 0x2401
PERF_EVENT_IOC_ID = 0x80082407
PERF_FLAG_FD_CLOEXEC = 1 << 3

S = {
    "ip": 1 << 0, "tid": 1 << 1, "time": 1 << 2, "addr": 1 << 3, "read": 1 << 4, "callchain": 1 << 5,
    "id": 1 << 6, "cpu": 1 << 7, "period": 1 << 8, "stream_id": 1 << 9, "data_src": 1 << 15,
    "identifier": 1 << 16, "phys_addr": 1 << 19, "cgroup": 1 << 21, "data_page_size": 1 << 22,
    "code_page_size": 1 << 23,
}
READ_FORMAT = 0x1 | 0x2 | 0x4 | 0x10  # TOTAL_TIME_ENABLED | TOTAL_TIME_RUNNING | ID | LOST
# flags: disabled(0), exclude_hv(6), sample_id_all(18)
FLAGS = (1 << 0) | (1 << 6) | (1 << 18)

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def attr_bytes(sample_type: int) -> bytes:
    a = bytearray(136)
    struct.pack_into("<IIQQQQQ", a, 0, PERF_TYPE_SOFTWARE, 136, PERF_COUNT_SW_PAGE_FAULTS, 1, sample_type, READ_FORMAT, FLAGS)
    return bytes(a)


def perf_event_open(sample_type: int) -> int:
    buf = ctypes.create_string_buffer(attr_bytes(sample_type), 136)
    fd = libc.syscall(NR_PERF_EVENT_OPEN, buf, 0, -1, -1, PERF_FLAG_FD_CLOEXEC)
    if fd < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return int(fd)


def open_richest() -> tuple[int, int]:
    """The richest sample_type this kernel accepts (PHYS_ADDR needs permission, CGROUP a
    cgroup-enabled kernel)."""
    full = sum(S.values())
    last: OSError | None = None
    for drop in (0, S["phys_addr"], S["phys_addr"] | S["cgroup"]):
        st = full & ~drop
        try:
            return perf_event_open(st), st
        except OSError as e:
            if e.errno in (errno.ENOSYS,) or (e.errno == errno.EACCES and drop == S["phys_addr"] | S["cgroup"]):
                pytest.skip(f"perf_event_open unavailable: {os.strerror(e.errno)}")
            last = e
    assert last is not None
    raise last


def ioctl(fd: int, req: int, arg: int = 0) -> int:
    import fcntl

    return fcntl.ioctl(fd, req, arg)


def split(stream: bytes) -> list[bytes]:
    out, off = [], 0
    while off < len(stream):
        (size,) = struct.unpack_from("<H", stream, off + 6)
        assert size >= 8 and off + size <= len(stream), f"bad header.size {size} at {off}"
        out.append(stream[off : off + size])
        off += size
    return out


@pytest.fixture(scope="module")
def kernel_ring() -> tuple[bytes, int, int, dict[str, int]]:
    fd, st = open_richest()
    data_pages = 64
    try:
        m = mmap.mmap(fd, (1 + data_pages) * PAGE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        idbuf = ctypes.c_uint64()
        import fcntl

        fcntl.ioctl(fd, PERF_EVENT_IOC_ID, idbuf)
        page0 = {
            "data_offset": struct.unpack_from("<Q", m, 1040)[0],
            "data_size": struct.unpack_from("<Q", m, 1048)[0],
            "size": struct.unpack_from("<I", m, 72)[0],
            "id": idbuf.value,
        }
        ioctl(fd, PERF_EVENT_IOC_ENABLE)
        work = mmap.mmap(-1, 200 * PAGE)
        for i in range(200):
            work[i * PAGE] = 1  # a fresh page each: one page fault each
        ioctl(fd, PERF_EVENT_IOC_DISABLE)
        head = struct.unpack_from("<Q", m, 1024)[0]
        tail = struct.unpack_from("<Q", m, 1032)[0]
        size = page0["data_size"]
        assert head - tail <= size
        data = bytes(m[PAGE : PAGE + size])
        stream = bytes(data[(tail + i) % size] for i in range(head - tail)) if head - tail < 4096 else (
            (data * 2)[tail % size : tail % size + head - tail]
        )
        work.close()
        m.close()
        return stream, st, threading.get_native_id(), page0
    finally:
        os.close(fd)


def test_kernel_user_page_matches_the_model(kernel_ring: tuple[bytes, int, int, dict[str, int]]) -> None:
    _, _, _, page0 = kernel_ring
    rb = _core.RingBuffer(data_pages=64)
    up = rb.user_page()
    assert page0["data_offset"] == up["data_offset"] == 4096
    assert page0["data_size"] == up["data_size"] == 64 * 4096
    assert page0["size"] == up["size"] == 96


def test_every_kernel_record_decodes_exactly_and_is_plausible(kernel_ring: tuple[bytes, int, int, dict[str, int]]) -> None:
    stream, st, tid, page0 = kernel_ring
    fmt = _core.RecordFormat(sample_type=st, read_format=READ_FORMAT, sample_id_all=True)
    recs = fmt.decode(stream)  # raises UsageError unless header.size is consumed exactly
    samples = [r for r in recs if r["type"] == "sample"]
    assert len(samples) >= 150, f"only {len(samples)} samples for 200 page faults"
    last_time: dict[int, int] = {}
    for s in samples:
        assert s["pid"] == os.getpid() and s["tid"] == tid
        assert s["cpu"] < (os.cpu_count() or 1)
        assert s["time"] >= last_time.get(s["cpu"], 0)
        last_time[s["cpu"]] = s["time"]
        assert s["period"] == 1
        assert s["id"] == s["stream_id"] == page0["id"]
        assert s["data_page_size"] in (0, 4096, 2 << 20, 1 << 30)  # 0: not mapped yet at fault time
        assert s["code_page_size"] in (4096, 2 << 20, 1 << 30)
        assert s["read"]["values"][0]["id"] == page0["id"]
        assert s["read"]["time_running"] <= s["read"]["time_enabled"]
        assert s["callchain"], "a callchain has at least its context marker"
        assert s["misc"] & 7 in (1, 2)  # kernel or user cpumode
    addrs = {s["addr"] & ~0xFFF for s in samples}
    assert len(addrs) >= 150, "each fault is on its own page"


def test_perfcore_reencodes_kernel_records_byte_for_byte(kernel_ring: tuple[bytes, int, int, dict[str, int]]) -> None:
    stream, st, _, _ = kernel_ring
    fmt = _core.RecordFormat(sample_type=st, read_format=READ_FORMAT, sample_id_all=True)
    raws = split(stream)
    decoded = fmt.decode(stream)
    assert len(raws) == len(decoded)
    for raw, rec in zip(raws, decoded):
        fields = {k: v for k, v in rec.items() if k not in ("type", "type_id", "size", "misc", "sample_id")}
        if rec["type"] == "sample":
            again = fmt.encode_sample(misc=rec["misc"], **fields)
        else:
            again = fmt.encode_record(rec["type"], misc=rec["misc"], sample_id=rec.get("sample_id"), **fields)
        assert again == raw, f"{rec['type']} differs"
    # and through perfcore's own ring, across its wrap
    rb = _core.RingBuffer(data_pages=64, sample_type=st, read_format=READ_FORMAT, sample_id_all=True, start=64 * 4096 - 512)
    for raw in raws:
        assert rb.write_bytes(raw)
    assert rb.read_raw() == raws


def test_drop_rule_and_lost_record_agree_with_the_kernel() -> None:
    """A 1+1-page kernel ring that nobody drains keeps exactly as many fixed-size records as
    perfcore's ring (CIRC_SPACE leaves a byte free, records are dropped whole); after draining,
    the kernel's LOST record has perfcore's layout, its trailer is the next sample's, and
    samples + lost equal the event count, as in the model."""
    st = S["ip"] | S["tid"] | S["time"] | S["addr"] | S["id"] | S["cpu"] | S["period"] | S["identifier"]
    try:
        fd = perf_event_open(st)
    except OSError as e:
        if e.errno in (errno.ENOSYS, errno.EACCES):
            pytest.skip(f"perf_event_open unavailable: {os.strerror(e.errno)}")
        raise
    try:
        m = mmap.mmap(fd, 2 * PAGE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        ioctl(fd, PERF_EVENT_IOC_ENABLE)
        work = mmap.mmap(-1, 600 * PAGE)
        for i in range(300):
            work[i * PAGE] = 1
        head1 = struct.unpack_from("<Q", m, 1024)[0]
        struct.pack_into("<Q", m, 1032, head1)  # drain everything
        for i in range(300, 600):
            work[i * PAGE] = 1
        ioctl(fd, PERF_EVENT_IOC_DISABLE)
        head2 = struct.unpack_from("<Q", m, 1024)[0]
        data = bytes(m[PAGE : 2 * PAGE])
        count = struct.unpack("<QQQQQ", os.read(fd, 40))[0]
        work.close()
        m.close()
    finally:
        os.close(fd)
    fmt = _core.RecordFormat(sample_type=st, read_format=READ_FORMAT, sample_id_all=True)
    size = len(fmt.encode_sample())
    # the model's ring of the same geometry, fed more samples than fit
    rb = _core.RingBuffer(data_pages=1, sample_type=st, read_format=READ_FORMAT, sample_id_all=True)
    for _ in range(300):
        rb.write_sample(time=1)
    assert head1 == rb.data_head == (4095 // size) * size
    stream = (data * 2)[head1 % 4096 : head1 % 4096 + (head2 - head1)]
    recs = fmt.decode(stream)
    assert recs[0]["type"] == "lost"
    assert recs[0]["size"] == 24 + fmt.id_header_size
    assert recs[0]["sample_id"]["time"] == recs[1]["time"], "LOST carries the next record's trailer"
    n_samples = head1 // size + sum(r["type"] == "sample" for r in recs)
    n_lost = sum(r["lost"] for r in recs if r["type"] == "lost")
    # every event either became a sample or was counted lost (losses still pending after the
    # last record are not reported yet: at most the tail end of the run)
    assert n_samples + n_lost <= count
    model = _core.RingBuffer(data_pages=1, sample_type=st, read_format=READ_FORMAT, sample_id_all=True)
    for _ in range(300):
        model.write_sample(time=1)
    model.set_data_tail(model.data_head)
    model.write_sample(time=2)
    mrecs = model.read_records()
    assert [r["type"] for r in mrecs] == ["lost", "sample"]
    assert mrecs[0]["size"] == recs[0]["size"]


def test_backward_overwrite_ring_agrees_with_the_kernel() -> None:
    """write_backward + a read-only mapping (what perf uses for overwritable rings): the kernel
    never loses a record, data_head runs down as a negative u64, and the newest records sit at
    data_head; perfcore's ring fed the same number of records has the same head and layout."""
    st = S["ip"] | S["tid"] | S["time"] | S["addr"] | S["id"] | S["cpu"] | S["period"] | S["identifier"]
    a = bytearray(attr_bytes(st))
    flags = struct.unpack_from("<Q", a, 40)[0] | (1 << 27)  # write_backward
    struct.pack_into("<Q", a, 40, flags)
    buf = ctypes.create_string_buffer(bytes(a), 136)
    fd = libc.syscall(NR_PERF_EVENT_OPEN, buf, 0, -1, -1, PERF_FLAG_FD_CLOEXEC)
    if fd < 0:
        e = ctypes.get_errno()
        if e in (errno.ENOSYS, errno.EACCES):
            pytest.skip(f"perf_event_open unavailable: {os.strerror(e)}")
        raise OSError(e, os.strerror(e))
    try:
        m = mmap.mmap(fd, 2 * PAGE, mmap.MAP_SHARED, mmap.PROT_READ)
        ioctl(fd, PERF_EVENT_IOC_ENABLE)
        work = mmap.mmap(-1, 300 * PAGE)
        for i in range(300):
            work[i * PAGE] = 1
        ioctl(fd, PERF_EVENT_IOC_DISABLE)
        head = struct.unpack_from("<Q", m, 1024)[0]
        data = bytes(m[PAGE : 2 * PAGE])
        count = struct.unpack("<QQQQQ", os.read(fd, 40))[0]
        work.close()
        m.close()
    finally:
        os.close(fd)
    fmt = _core.RecordFormat(sample_type=st, read_format=READ_FORMAT, sample_id_all=True)
    size = len(fmt.encode_sample())
    assert head == (-(count * size)) % 2**64, "every event became a record, none lost"
    rb = _core.RingBuffer(data_pages=1, writable=False, backward=True, sample_type=st, read_format=READ_FORMAT, sample_id_all=True)
    for t in range(count):
        rb.write_sample(time=t)
    assert rb.data_head == head
    # the newest record starts at data_head in both rings
    off = head % 4096
    newest = (data * 2)[off : off + size]
    assert fmt.decode(newest)[0]["type"] == "sample"
    mine = rb.read_raw()
    assert len(mine) == 4096 // size and fmt.decode(mine[-1])[0]["time"] == count - 1
