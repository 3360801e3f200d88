"""perf.data: differential tests against the real perf tool (files perf writes are read by
perfcore with the same record counts and sample fields perf reports; files perfcore writes are
read by perf script / perf report with the fields perfcore wrote), a write -> read round trip
property, and malformed files (random bytes, every truncation, huge claimed sizes) giving
PerfDataError. Facts: spec/ring-buffer-aux-records.md §8."""

from __future__ import annotations

import ctypes
import errno
import fcntl
import mmap
import os
import re
import shutil
import struct
import subprocess
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import perfcore as pc
from perfcore import cli, perf_data
from perfcore.errors import PerfDataError, PerfError

PERF = shutil.which("perf")
needs_perf = pytest.mark.skipif(PERF is None, reason="perf (linux-perf) is not installed")

SAMPLE_LINE = re.compile(r"^\s*(\d+)/(\d+)\s+(\d+)\.(\d{9}):\s+(\d+)\s+(\S+?):\s+([0-9a-f]+)\s*$")


def perf(*args: str) -> subprocess.CompletedProcess[str]:
    assert PERF is not None
    return subprocess.run([PERF, *args], capture_output=True, text=True, timeout=120)


def perf_script_samples(path: Path) -> list[tuple[int, int, int, int, int, str]]:
    """(pid, tid, time ns, ip, period, event) of every sample, as perf script prints them."""
    r = perf("script", "-F", "pid,tid,time,ip,period,event", "--ns", "-i", str(path))
    assert r.returncode == 0, r.stderr
    out = []
    for line in r.stdout.splitlines():
        m = SAMPLE_LINE.match(line)
        assert m, f"unexpected perf script line: {line!r}"
        pid, tid, sec, ns, period, event, ip = m.groups()
        out.append((int(pid), int(tid), int(sec) * 10**9 + int(ns), int(ip, 16), int(period), event))
    return out


def aggregated_stats(text: str) -> tuple[dict[str, int], dict[str, int]]:
    """perf report -D / --stats: ({record type: count}, {event name: sample count})."""
    lines = text.splitlines()
    start = max(i for i, l in enumerate(lines) if l.strip() == "Aggregated stats:")
    totals: dict[str, int] = {}
    per_event: dict[str, int] = {}
    event = None
    for line in lines[start + 1 :]:
        m = re.match(r"^\s*(\S+) events:\s+(\d+)", line)
        s = re.match(r"^(\S.*) stats:$", line)
        if s:
            event = s.group(1)
        elif m and event is None:
            totals[m.group(1)] = int(m.group(2))
        elif m and m.group(1) == "SAMPLE" and event is not None:
            per_event[event] = int(m.group(2))
    return totals, per_event


def ours(pd: perf_data.PerfData) -> tuple[Counter[str], list[tuple[int, int, int, int, int, str]]]:
    counts: Counter[str] = Counter()
    samples = []
    names = [a["name"] for a in pd.attrs]
    for r in pd.iter_records():
        counts[str(r["type"]).upper()] += 1
        if r["type"] == "sample":
            samples.append((r["pid"], r["tid"], r["time"], r["ip"], r["period"], names[r["attr"]]))
    return counts, samples


# --- files written by the real perf ---


RECORDINGS = {
    # two software events, every page fault and task-clock tick of ls, periods sampled
    "ls": ["-e", "page-faults,task-clock", "-c", "1", "-P", "--", "/bin/ls", "/"],
    # system-wide with context-switch records (SWITCH_CPU_WIDE, a dummy event, CPU in samples)
    "system-wide": ["-a", "--switch-events", "-e", "cpu-clock,page-faults", "-c", "100000", "-P", "--", "sleep", "0.05"],
    # callchains
    "callchain": ["-g", "-e", "task-clock", "-c", "100000", "-P", "--", "/bin/ls", "/"],
}


@pytest.fixture(scope="module", params=sorted(RECORDINGS))
def perf_record_file(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if PERF is None:
        pytest.skip("perf (linux-perf) is not installed")
    out = tmp_path_factory.mktemp("perf") / f"{request.param}.data"
    r = perf("record", "-o", str(out), *RECORDINGS[request.param])
    if r.returncode != 0:
        pytest.skip(f"perf record failed here: {r.stderr.strip()[-200:]}")
    return out


@needs_perf
def test_record_counts_per_type_equal_perf_report_D(perf_record_file: Path) -> None:
    pd = perf_data.read(perf_record_file)
    counts, samples = ours(pd)
    r = perf("report", "-D", "-i", str(perf_record_file))
    assert r.returncode == 0, r.stderr
    totals, per_event = aggregated_stats(r.stdout)
    assert totals.pop("TOTAL") == sum(counts.values())
    assert totals == dict(counts)
    assert per_event == dict(Counter(s[5] for s in samples))
    assert counts["SAMPLE"] > 5 and counts["FINISHED_ROUND"] > 0
    if perf_record_file.stem == "system-wide":
        assert counts["SWITCH_CPU_WIDE"] > 0 and all("cpu" in r for r in pd.records() if r["type"] == "sample")
    if perf_record_file.stem == "callchain":
        assert all(r["callchain"] for r in pd.iter_records() if r["type"] == "sample")


@needs_perf
def test_sample_fields_equal_perf_script(perf_record_file: Path) -> None:
    if perf_record_file.stem == "callchain":
        pytest.skip("perf script prints the callchain instead of one ip per sample")
    pd = perf_data.read(perf_record_file)
    _, samples = ours(pd)
    assert sorted(samples) == sorted(perf_script_samples(perf_record_file))
    cols = pd.samples()  # the same samples in bulk, as numpy columns
    names = [a["name"] for a in pd.attrs]
    bulk = zip(cols["pid"], cols["tid"], cols["time"], cols["ip"], cols["period"], cols["attr"])
    assert sorted((int(p), int(t), int(tm), int(ip), int(pr), names[a]) for p, t, tm, ip, pr, a in bulk) == sorted(samples)
    feats = pd.features
    assert feats["osrelease"] == os.uname().release and feats["arch"] == os.uname().machine
    assert {a["name"] for a in pd.attrs} >= {"page-faults"}
    assert feats["sample_time"] == (min(s[2] for s in samples), max(s[2] for s in samples))


@needs_perf
def test_real_file_round_trips_through_our_writer(perf_record_file: Path, tmp_path: Path) -> None:
    """Every record of perf's file written again by perfcore (tool records as raw bytes):
    perf reads the copy with the same samples and record counts."""
    pd = perf_data.read(perf_record_file)
    copy = tmp_path / "copy.data"
    attrs = [{"attr": a["attr"], "ids": a["ids"], "name": a["name"]} for a in pd.attrs]
    perf_data.write(copy, attrs, pd.records())
    assert ours(perf_data.read(copy)) == ours(pd)
    if perf_record_file.stem != "callchain":
        assert sorted(perf_script_samples(copy)) == sorted(perf_script_samples(perf_record_file))
    r = perf("report", "--stats", "-i", str(copy))
    assert r.returncode == 0, r.stderr
    totals, _ = aggregated_stats(r.stdout)
    assert totals["SAMPLE"] == ours(pd)[0]["SAMPLE"]


# --- files written by perfcore, read by the real perf ---

META: dict[str, Any] = dict(hostname="perfcore-test", osrelease="6.18.0", version="perfcore", arch="x86_64", nrcpus=(2, 2),
            cmdline=["perfcore", "test"])


def two_event_file(path: Path) -> list[tuple[int, int, int, int, int, str]]:
    st_ = "identifier|ip|tid|time|period"
    faults = pc.Attr(type="software", config="page-faults", sample_period=1, sample_type=st_, sample_id_all=True,
                     exclude_guest=True)
    clock = pc.Attr(type="software", config="cpu-clock", sample_period=1000, sample_type=st_, sample_id_all=True,
                    exclude_guest=True)
    expect = []
    with perf_data.PerfDataWriter(path, **META) as w:
        assert w.add_attr(faults, [11, 12], "my-faults") == 0
        assert w.add_attr(clock, [21]) == 1
        w.write_kernel_mmap()
        w.write_record("comm", pid=100, tid=100, comm="worker", sample_id=dict(pid=100, tid=100, time=1000, id=11))
        w.write_record("comm", pid=100, tid=101, comm="helper", sample_id=dict(pid=100, tid=101, time=1001, id=21))
        for i in range(20):
            tid = 100 + i % 2
            ident = [11, 21][i % 3 % 2]
            ip = 0x401000 + 0x10 * i
            t = 2_000_000_000 + 1_000 * i
            period = 1 if ident == 11 else 1000 + i
            w.write_sample(id=ident, ip=ip, pid=100, tid=tid, time=t, period=period, misc=2)
            expect.append((100, tid, t, ip, period, "my-faults" if ident == 11 else "cpu-clock"))
        w.write_record("exit", pid=100, ppid=1, tid=100, ptid=1, time=3_000_000_000,
                       sample_id=dict(pid=100, tid=100, time=3_000_000_000, id=11))
        assert w.records == 24
    return expect


@needs_perf
def test_perf_script_prints_what_perfcore_wrote(tmp_path: Path) -> None:
    path = tmp_path / "ours.data"
    expect = two_event_file(path)
    assert sorted(perf_script_samples(path)) == sorted(expect)
    faults = perf_data.read(path).samples(attr=0)
    assert list(faults["ip"]) == [e[3] for e in expect if e[5] == "my-faults"]
    assert set(faults["attr"]) == {0} and list(faults["misc"]) == [2] * len(faults["ip"])
    r = perf("script", "-F", "comm,tid", "-i", str(path))
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert {tuple(l.split()) for l in r.stdout.splitlines()} == {("worker", "100"), ("helper", "101")}


@needs_perf
def test_perf_report_reads_perfcore_files_without_warnings(tmp_path: Path) -> None:
    path = tmp_path / "ours.data"
    expect = two_event_file(path)
    r = perf("report", "--stats", "-i", str(path))
    assert r.returncode == 0 and r.stderr == "", r.stderr
    totals, per_event = aggregated_stats(r.stdout)
    assert totals == {"TOTAL": 24, "MMAP": 1, "COMM": 2, "EXIT": 1, "SAMPLE": 20}
    assert per_event == dict(Counter(e[5] for e in expect))
    r = perf("report", "-D", "-i", str(path))
    assert r.returncode == 0 and r.stderr == "", r.stderr
    r = perf("report", "--stdio", "-i", str(path))
    assert r.returncode == 0 and "Warning" not in r.stderr + r.stdout, r.stderr
    r = perf("report", "--header-only", "-i", str(path))
    assert r.returncode == 0
    for line in ("# hostname : perfcore-test", "# os release : 6.18.0", "# perf version : perfcore",
                 "# arch : x86_64", "# nrcpus online : 2", "# cmdline : perfcore test"):
        assert line in r.stdout, r.stdout
    assert re.search(r"# event : name = my-faults, , id = \{ 11, 12 \}, type = 1", r.stdout), r.stdout
    assert re.search(r"# event : name = cpu-clock, , id = \{ 21 \}, type = 1", r.stdout), r.stdout
    assert "# time of first sample : 2.000000" in r.stdout


NR_PERF_EVENT_OPEN = 298  # x86-64
PAGE = 4096


def kernel_ring_records(sample_type: int) -> tuple[bytes, list[bytes]]:
    """Attr bytes and the records a real page-fault event wrote into its ring (as
    tests/test_ring_kernel.py asks the kernel)."""
    a = bytearray(136)
    flags = (1 << 0) | (1 << 6) | (1 << 18) | (1 << 20)  # disabled, exclude_hv, sample_id_all, exclude_guest
    struct.pack_into("<IIQQQQQ", a, 0, 1, 136, 2, 1, sample_type, 0, flags)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    buf = ctypes.create_string_buffer(bytes(a), 136)
    fd = libc.syscall(NR_PERF_EVENT_OPEN, buf, 0, -1, -1, 1 << 3)
    if fd < 0:
        e = ctypes.get_errno()
        pytest.skip(f"perf_event_open unavailable: {os.strerror(e)}")
    try:
        m = mmap.mmap(fd, (1 + 16) * PAGE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        fcntl.ioctl(fd, 0x2400)  # ENABLE
        work = mmap.mmap(-1, 100 * PAGE)
        for i in range(100):
            work[i * PAGE] = 1
        fcntl.ioctl(fd, 0x2401)  # DISABLE
        head = struct.unpack_from("<Q", m, 1024)[0]
        assert head <= 16 * PAGE, "no wrap in this small run"
        stream = bytes(m[PAGE : PAGE + head])
        work.close()
        m.close()
    finally:
        os.close(fd)
    recs, off = [], 0
    while off < len(stream):
        (size,) = struct.unpack_from("<H", stream, off + 6)
        recs.append(stream[off : off + size])
        off += size
    return bytes(a), recs


@needs_perf
def test_a_real_kernel_ring_written_by_perfcore_reads_in_perf(tmp_path: Path) -> None:
    st_ = sum(1 << b for b in (0, 1, 2, 8, 16))  # ip|tid|time|period|identifier
    attr_bytes, recs = kernel_ring_records(st_)
    attr = pc.Attr.from_bytes(attr_bytes)
    path = tmp_path / "kernel.data"
    perf_data.write(path, [{"attr": attr, "ids": [], "name": "page-faults"}], recs, kernel_mmap=True, **META)
    fmt = pc.RecordFormat(sample_type=st_, sample_id_all=True)
    decoded = [r for r in fmt.decode(b"".join(recs)) if r["type"] == "sample"]
    assert len(decoded) >= 50
    want = [(r["pid"], r["tid"], r["time"], r["ip"], r["period"], "page-faults") for r in decoded]
    assert sorted(perf_script_samples(path)) == sorted(want)


def test_write_ring_of_an_event_mmap(tmp_path: Path) -> None:
    m = pc.Machine()
    ev = m.perf_event_open(pc.Attr(type="software", config="cpu-clock", sample_period=10_000,
                                   sample_type="ip|tid|time|id|period", sample_id_all=True), pid=0)
    rb = ev.mmap(8)
    for i in range(10):
        assert rb.write_sample(ip=0x401000 + i, pid=7, tid=7, time=100 + i, id=ev.id, period=10_000)
    assert rb.write_record("comm", pid=7, tid=7, comm="app", sample_id=dict(pid=7, tid=7, time=99, id=ev.id))
    path = perf_data.write_ring(tmp_path / "ring.data", rb, ev)
    pd = perf_data.read(path)
    assert [a["ids"] for a in pd.attrs] == [[ev.id]]
    recs = pd.records()
    assert [r["type"] for r in recs] == ["mmap"] + ["sample"] * 10 + ["comm"]
    assert [r["ip"] for r in recs[1:11]] == [0x401000 + i for i in range(10)]
    assert recs[-1]["comm"] == "app" and recs[-1]["sample_id"]["time"] == 99
    assert rb.read_raw() == [], "the ring was consumed"
    other = pc.RingBuffer(sample_type="ip")
    with pytest.raises(ValueError, match="sample_type"):
        perf_data.write_ring(tmp_path / "bad.data", other, ev.attr)
    assert not (tmp_path / "bad.data").exists()


# --- round trip ---

KINDS = st.sampled_from(["sample", "comm", "exit", "fork", "lost", "switch", "mmap2"])
U32 = st.integers(0, 2**32 - 1)
U64 = st.integers(0, 2**64 - 1)


@st.composite
def record_dicts(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(KINDS)
    ident = draw(st.sampled_from([11, 12, 21]))
    ids = {"pid": draw(U32), "tid": draw(U32), "time": draw(U64), "id": ident, "cpu": draw(st.integers(0, 255))}
    if kind == "sample":
        return {"type": "sample", "id": ident, "ip": draw(U64), "pid": draw(U32), "tid": draw(U32),
                "time": draw(U64), "cpu": draw(st.integers(0, 255)), "period": draw(U64),
                "callchain": draw(st.lists(U64, max_size=6)), "misc": draw(st.sampled_from([1, 2]))}
    if kind == "comm":
        return {"type": "comm", "pid": draw(U32), "tid": draw(U32),
                "comm": draw(st.text("abcdefghijklmnopqrstuvwxyz-_0123456789", max_size=15)), "sample_id": ids}
    if kind in ("exit", "fork"):
        return {"type": kind, "pid": draw(U32), "ppid": draw(U32), "tid": draw(U32), "ptid": draw(U32),
                "time": draw(U64), "sample_id": ids}
    if kind == "lost":
        return {"type": "lost", "id": ident, "lost": draw(U64), "sample_id": ids}
    if kind == "switch":
        return {"type": "switch", "misc": draw(st.sampled_from([0, 1 << 13])), "sample_id": ids}
    return {"type": "mmap2", "pid": draw(U32), "tid": draw(U32), "addr": draw(U64), "len": draw(U64),
            "pgoff": draw(U64), "maj": draw(U32), "min": draw(U32), "ino": draw(U64), "ino_generation": draw(U64),
            "prot": 5, "flags": 2, "filename": draw(st.text("abc/._", min_size=1, max_size=40)), "sample_id": ids}


@given(recs=st.lists(record_dicts(), max_size=30), attr_size=st.sampled_from([64, 120, 128, 136]))
def test_written_records_read_back_equal(recs: list[dict[str, Any]], attr_size: int) -> None:
    st_ = "identifier|ip|tid|time|cpu|period|callchain"
    a = pc.Attr(type="software", config="page-faults", sample_period=1, sample_type=st_, sample_id_all=True)
    b = a.replace(config="cpu-clock")
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "rt.data"
        perf_data.write(path, [{"attr": a, "ids": [11, 12], "name": "x"}, {"attr": b, "ids": [21]}], recs,
                        attr_size=attr_size)
        pd = perf_data.read(path)
        back = pd.records()
    assert [x["attr"] for x in pd.attrs] == [a.replace(size=attr_size), b.replace(size=attr_size)]
    assert [x["name"] for x in pd.attrs] == ["x", "cpu-clock"]
    assert len(back) == len(recs)
    for want, got in zip(recs, back):
        for k, v in want.items():
            if isinstance(v, dict):  # sample_id: the fields the trailer carries (no stream_id here)
                assert {f: got[k][f] for f in v} == v, (k, want, got)
            else:
                assert got[k] == v, (k, want, got)
        owner = want["id"] if want["type"] == "sample" else want["sample_id"]["id"]
        assert got["attr"] == (1 if owner == 21 else 0)


# --- malformed files ---


def small_file(path: Path) -> bytes:
    two_event_file(path)
    return path.read_bytes()


def read_all(path: Path) -> int:
    return len(perf_data.read(path).records())


def test_every_truncation_is_a_perf_data_error(tmp_path: Path) -> None:
    data = small_file(tmp_path / "ok.data")
    assert read_all(tmp_path / "ok.data") == 24
    cut = tmp_path / "cut.data"
    for n in range(len(data)):
        cut.write_bytes(data[:n])
        with pytest.raises(PerfDataError, match=r"perf.data offset 0x[0-9a-f]+: "):
            read_all(cut)


@given(blob=st.binary(max_size=512), magic=st.booleans())
def test_random_bytes_are_perf_data_errors(blob: bytes, magic: bool) -> None:
    head = b"PERFILE2" + struct.pack("<Q", 104) if magic else b""
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "junk.data"
        p.write_bytes(head + blob)
        try:
            read_all(p)
        except PerfDataError:
            pass


@pytest.mark.parametrize(
    ("offset", "value", "message"),
    [
        (24 + 8, 2**60, "attrs section"),
        (40 + 8, 2**60, "data section"),
        (40, 2**64 - 1, "data section"),
        (16, 0, "attr_size is 0"),
        (8, 16, "pipe-mode"),
        (8, 72, "incompatible file format"),
    ],
)
def test_flipped_header_fields_name_the_field(tmp_path: Path, offset: int, value: int, message: str) -> None:
    data = bytearray(small_file(tmp_path / "ok.data"))
    struct.pack_into("<Q", data, offset, value)
    bad = tmp_path / "bad.data"
    bad.write_bytes(bytes(data))
    with pytest.raises(PerfDataError, match=message):
        read_all(bad)


def test_huge_claimed_feature_and_ids_sizes(tmp_path: Path) -> None:
    data = bytearray(small_file(tmp_path / "ok.data"))
    data_off, data_size = struct.unpack_from("<QQ", data, 40)
    attrs_off = struct.unpack_from("<Q", data, 24)[0]
    for off, what in ((data_off + data_size + 8, "feature"), (attrs_off + 128 + 8, "ids")):
        m = bytearray(data)
        struct.pack_into("<Q", m, off, 2**60)
        (tmp_path / "m.data").write_bytes(bytes(m))
        with pytest.raises(PerfDataError, match=what):
            read_all(tmp_path / "m.data")


def test_big_endian_and_missing_files(tmp_path: Path) -> None:
    data = bytearray(small_file(tmp_path / "ok.data"))
    data[0:8] = data[0:8][::-1]
    (tmp_path / "be.data").write_bytes(bytes(data))
    with pytest.raises(PerfDataError, match="big-endian"):
        perf_data.read(tmp_path / "be.data")
    with pytest.raises(PerfError) as e:
        perf_data.read(tmp_path / "missing.data")
    assert e.value.errno == errno.ENOENT


def test_iterator_stops_at_the_first_bad_record(tmp_path: Path) -> None:
    data = bytearray(small_file(tmp_path / "ok.data"))
    data_off = struct.unpack_from("<Q", data, 40)[0]
    pd0 = perf_data.read(tmp_path / "ok.data")
    third = pd0.records()[3]["offset"]
    struct.pack_into("<H", data, third + 6, 4)  # header.size 4 < 8
    (tmp_path / "b.data").write_bytes(bytes(data))
    it = perf_data.read(tmp_path / "b.data").iter_records()
    got = [next(it), next(it), next(it)]
    assert got[0]["offset"] == data_off
    with pytest.raises(PerfDataError, match=rf"offset {third + 6:#x}: .*header.size 4 < 8"):
        next(it)
    assert list(it) == []


# --- writer API and CLI ---


def test_writer_aborts_on_exception_and_refuses_misuse(tmp_path: Path) -> None:
    path = tmp_path / "w.data"
    a = pc.Attr(type="software", config="cpu-clock", sample_type="ip|tid")
    with pytest.raises(RuntimeError, match="boom"):
        with perf_data.PerfDataWriter(path) as w:
            w.add_attr(a)
            w.write_sample(ip=1)
            raise RuntimeError("boom")
    assert not path.exists() and os.listdir(tmp_path) == []
    w = perf_data.PerfDataWriter(path)
    w.add_attr(a)
    w.write_sample(ip=1)
    with pytest.raises(pc.UsageError, match="after the first record"):
        w.add_attr(a)
    with pytest.raises(pc.UsageError, match="unknown field"):
        w.write_sample(bogus=1)
    assert w.finish() == str(path)
    with pytest.raises(pc.UsageError, match="already finished"):
        w.write_sample(ip=2)
    assert [r["ip"] for r in perf_data.read(path).records()] == [1]


def test_samples_in_bulk_need_one_format(tmp_path: Path) -> None:
    a = pc.Attr(type="software", config="cpu-clock", sample_type="identifier|ip")
    b = pc.Attr(type="software", config="task-clock", sample_type="identifier|ip|tid")
    path = perf_data.write(tmp_path / "mixed.data", [{"attr": a, "ids": [1]}, {"attr": b, "ids": [2]}],
                           [{"type": "sample", "id": 1, "ip": 10}, {"type": "sample", "id": 2, "ip": 20, "tid": 3}])
    pd = perf_data.read(path)
    with pytest.raises(pc.UsageError, match="different sample formats"):
        pd.samples()
    assert list(pd.samples(attr=1)["tid"]) == [3] and list(pd.samples(attr=0)["ip"]) == [10]
    assert "tid" not in pd.samples(attr=0)


def test_cli_dump(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ours.data"
    two_event_file(path)
    assert cli.main(["perf-data", "dump", str(path)]) == 0
    out = capsys.readouterr().out
    assert "# attr 0: name=my-faults type=1 config=0x2" in out
    assert "PERF_RECORD_COMM pid=100 tid=100 comm=worker" in out
    assert re.search(r"SAMPLE events:\s+20$", out, re.M) and re.search(r"TOTAL events:\s+24$", out, re.M)
    (tmp_path / "bad.data").write_bytes(b"not perf data")
    assert cli.main(["perf-data", "dump", str(tmp_path / "bad.data")]) == 1
    assert "not a perf.data file" in capsys.readouterr().err
