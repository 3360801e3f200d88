"""Event scheduling through the Machine step calls: round-robin fairness, pinned ERROR and
recovery, hybrid PMUs, read_format bytes, and a hypothesis state machine that checks the
scheduling invariants after every step."""

import struct

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import perfcore as pc
from perfcore._core import Attr, Machine

MS = 1_000_000
TE_TR = 0x3  # PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING
FOUR_GP = ["branches", "branch-misses", "cache-misses", "cache-references"]


def hw(config, **kw):
    return Attr(type="hardware", config=config, read_format=TE_TR, **kw)


def open_group(m, names, pid=-1, cpu=-1, pinned=False):
    leader = m.perf_event_open(hw(names[0], pinned=pinned), pid=pid, cpu=cpu)
    for n in names[1:]:
        m.perf_event_open(hw(n), pid=pid, cpu=cpu, group=leader)
    return leader


@pytest.mark.parametrize("k", [2, 3, 4])
def test_round_robin_share_is_one_kth_within_one_interval(k):
    m = Machine("intel-skl-ht")
    pid = m.spawn("app")
    leaders = [open_group(m, FOUR_GP, pid=pid) for _ in range(k)]
    m.switch_in(0, pid)
    for _ in range(6 * k):
        m.advance(4 * MS)
        m.check_sched()
    for ev in leaders:
        r = m.read(ev)
        assert r["time_enabled"] == 6 * k * 4 * MS
        assert abs(r["time_running"] - r["time_enabled"] // k) <= 4 * MS
    assert m.stats()["rotations"] > 0


def test_two_cpu_wide_groups_on_an_idle_cpu_share_50_50():
    m = Machine("intel-skl-ht")
    a = open_group(m, FOUR_GP, cpu=1)
    b = open_group(m, FOUR_GP, cpu=1)
    m.advance(1000 * MS)
    ra, rb = m.read(a), m.read(b)
    assert ra["time_running"] == rb["time_running"] == 500 * MS
    assert ra["time_enabled"] == 1000 * MS


def test_pinned_group_that_does_not_fit_reads_zero_bytes_until_reenabled():
    m = Machine("intel-skl-ht")
    pid = m.spawn("app")
    cpu_pinned = open_group(m, FOUR_GP[:3], cpu=0, pinned=True)
    task_pinned = open_group(m, FOUR_GP[:2], pid=pid, pinned=True)
    m.switch_in(0, pid)
    assert task_pinned.state == "ERROR"
    assert m.read_bytes(task_pinned) == b""
    assert m.read(task_pinned) is None
    m.disable(cpu_pinned)
    m.enable(task_pinned)
    assert task_pinned.state == "ACTIVE"
    assert len(m.read_bytes(task_pinned)) == 24


def test_counts_follow_rates_and_read_bytes_are_exact():
    m = Machine("intel-icx")
    pid = m.spawn("app")
    m.set_rate(pid, "cycles", 3e9)
    ev = m.perf_event_open(Attr(type="hardware", config="cycles", read_format=0x7), pid=pid, cpu=-1)
    m.switch_in(2, pid)
    m.advance(5 * MS)
    m.switch_out(2)
    m.advance(5 * MS)
    value, enabled, running, ident = struct.unpack("=4Q", m.read_bytes(ev))
    assert (value, enabled, running) == (15_000_000, 5 * MS, 5 * MS)
    assert ident == ev.id


def test_hybrid_event_waits_on_e_cores_without_rotation():
    m = Machine("adl-hybrid")
    pid = m.spawn("app")
    m.set_rate(pid, "cycles", 1e9)
    # extended hardware type: PMU type 4 (cpu_core) in config[63:32]
    ev = m.perf_event_open(Attr(type="hardware", config=(4 << 32) | 0, read_format=TE_TR), pid=pid, cpu=-1)
    assert ev.pmu == "cpu_core"
    m.switch_in(6, pid)  # E-core
    m.advance(8 * MS)
    r = m.read(ev)
    assert (r["time_enabled"], r["time_running"], r["value"]) == (8 * MS, 0, 0)
    assert m.stats()["rotations"] == 0 and m.stats()["timer_fires"] == 0
    m.switch_out(6)
    m.switch_in(2, pid)  # P-core
    m.advance(8 * MS)
    r = m.read(ev)
    assert (r["time_enabled"], r["time_running"], r["value"]) == (16 * MS, 8 * MS, 8_000_000)


def test_mux_interval_below_one_is_einval():
    m = Machine("intel-icx")
    with pytest.raises(pc.PerfError) as e:
        m.set_mux_interval_ms("cpu", 0)
    assert e.value.errno == 22


def test_group_that_cannot_fit_alone_is_einval():
    m = Machine("intel-skl-ht")
    leader = m.perf_event_open(hw("ref-cycles"), pid=0, cpu=-1)
    with pytest.raises(pc.PerfError) as e:
        m.perf_event_open(hw("ref-cycles"), pid=0, cpu=-1, group=leader)
    assert e.value.errno == 22


class SchedMachine(RuleBasedStateMachine):
    """Random opens, switches, time steps, rotations, enables and disables; after every step
    the engine's invariants hold, running <= enabled, and group members read together have
    equal running time."""

    def __init__(self):
        super().__init__()
        self.m = Machine("intel-skl-ht", nr_cpus=4)
        self.pids = [self.m.spawn(f"t{i}") for i in range(3)]
        self.events = []
        self.groups = []

    @rule(names=st.lists(st.sampled_from(FOUR_GP + ["cycles", "instructions", "ref-cycles"]), min_size=1, max_size=4),
          who=st.integers(0, 3), pinned=st.booleans())
    def open(self, names, who, pinned):
        pid, cpu = (self.pids[who], -1) if who < 3 else (-1, 1)
        try:
            leader = open_group(self.m, names, pid=pid, cpu=cpu, pinned=pinned)
        except pc.PerfError as e:
            assert e.errno == 22
            return
        self.events.append(leader)
        self.groups.append(leader)

    @rule(cpu=st.integers(0, 3), who=st.integers(0, 2))
    def switch_in(self, cpu, who):
        try:
            self.m.switch_in(cpu, self.pids[who])
        except pc.UsageError:
            pass  # already running on another CPU

    @rule(cpu=st.integers(0, 3))
    def switch_out(self, cpu):
        self.m.switch_out(cpu)

    @rule(ns=st.integers(1, 9 * MS))
    def advance(self, ns):
        self.m.advance(ns)

    @rule(cpu=st.integers(0, 3))
    def rotate(self, cpu):
        self.m.rotate(cpu, "cpu")

    @rule(data=st.data())
    def toggle(self, data):
        if self.events:
            ev = data.draw(st.sampled_from(self.events))
            if data.draw(st.booleans()):
                self.m.enable(ev)
            else:
                self.m.disable(ev)

    @invariant()
    def engine_invariants(self):
        self.m.check_sched()
        for leader in self.groups:
            r = self.m.read(leader)
            if r is not None:
                assert r["time_running"] <= r["time_enabled"]
            members = [leader, *leader.siblings]
            states = {e.state for e in members}
            assert not ("ACTIVE" in states and states & {"INACTIVE"}), f"partial group {states}"


TestSchedMachine = SchedMachine.TestCase
