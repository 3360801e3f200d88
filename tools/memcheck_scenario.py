"""The Python scenario `make memcheck` runs under valgrind: exercises every binding once."""

import os
import tempfile

import perfcore as pc

m = pc.Machine(nr_cpus=4)
a = pc.Attr(type="software", config="cpu-clock", sample_type="ip|tid|time", disabled=True)
leader = m.perf_event_open(a, pid=0)
sib = m.perf_event_open(pc.Attr(type="software", config="page-faults"), pid=0, group=leader)
for bad in (pc.Attr(sample_type=1 << 30), pc.Attr(type="software", config="dummy", size=10)):
    try:
        m.perf_event_open(bad, pid=0)
    except pc.PerfError:
        pass
try:
    pc._core._force_panic()
except pc.InternalError:
    pass
sib.close()
leader.close()
with tempfile.TemporaryDirectory() as d:  # perf.data: write, read every way, a malformed file
    path = pc.perf_data.write(os.path.join(d, "m.data"), [{"attr": a, "ids": [5], "name": "m"}],
                              [{"type": "sample", "ip": 1, "pid": 2, "tid": 2, "time": 3}], kernel_mmap=True)
    pd = pc.perf_data.read(path)
    assert len(pd.records()) == len(list(pd.iter_records())) == 2 and len(pd.samples()["ip"]) == 1
    with open(os.path.join(d, "bad.data"), "wb") as f:
        f.write(b"PERFILE2" + (104).to_bytes(8, "little") + b"\xff" * 200)
    try:
        pc.perf_data.read(os.path.join(d, "bad.data"))
    except pc.PerfDataError:
        pass
print("memcheck scenario done", len(pc.abi.CONSTANTS))
