"""The Python scenario `make memcheck` runs under valgrind: exercises every binding once."""

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
print("memcheck scenario done", len(pc.abi.CONSTANTS))
