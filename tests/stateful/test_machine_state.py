"""Model-based test of the public Machine API: a hypothesis state machine drives open (valid and
invalid attrs, groups), close, spawn, exit and CPU hotplug, and after every step compares the
machine with a plain-Python reference of which events exist and how they are grouped.

Profiles: PERFCORE_HYPOTHESIS_PROFILE=ci (make test) runs 200 examples of up to 75 steps; =soak
(make soak) runs 10,000."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, precondition, rule

sys.path.insert(0, str(Path(__file__).parent.parent))
import perfcore as pc  # noqa: E402
from attr_strategies import attr_bytes  # noqa: E402

PROFILE = os.environ.get("PERFCORE_HYPOTHESIS_PROFILE", "dev")
EXAMPLES = {"dev": 30, "ci": 200, "soak": 10_000}.get(PROFILE, 30)
STEPS_SEEN = {"examples": 0, "steps": 0}

SW_ATTR = st.builds(
    lambda cfg, dis, inh: pc.Attr(type="software", config=cfg, disabled=dis, inherit=inh, exclude_kernel=True),
    st.sampled_from(["cpu-clock", "task-clock", "page-faults", "context-switches", "dummy"]),
    st.booleans(), st.booleans(),
)


class MachineModel(RuleBasedStateMachine):
    events = Bundle("events")

    def __init__(self) -> None:
        super().__init__()
        self.m = pc.Machine(nr_cpus=4, privileged=True)
        self.leader: dict[int, int] = {}      # handle -> leader handle
        self.handles: dict[int, pc.Event] = {}
        self.pids = [0]
        self.offline: set[int] = set()
        self.plain: set[int] = set()  # events opened from SW_ATTR (default clock, known flags)
        STEPS_SEEN["examples"] += 1

    def _opened(self, ev: pc.Event, group: pc.Event | None) -> pc.Event:
        self.handles[ev.handle] = ev
        self.leader[ev.handle] = group.handle if group is not None else ev.handle
        return ev

    @rule(target=events, attr=SW_ATTR, pid=st.sampled_from([0, -1]), cpu=st.sampled_from([-1, 0, 3]))
    def open_valid(self, attr: pc.Attr, pid: int, cpu: int) -> pc.Event:
        STEPS_SEEN["steps"] += 1
        if pid == -1 and cpu == -1:
            cpu = 0
        try:
            ev = self.m.perf_event_open(attr, pid=pid, cpu=cpu)
        except pc.PerfError as e:
            assert cpu in self.offline and pid == -1, e  # the only way a valid attr fails here
            return pc.Machine().perf_event_open(attr, pid=0)  # a handle of another machine, never used
        self.plain.add(ev.handle)
        return self._opened(ev, None)

    @precondition(lambda self: len(self.plain & set(self.handles)) > 0)
    @rule(target=events, attr=SW_ATTR, data=st.data())
    def open_sibling(self, attr: pc.Attr, data: st.DataObject) -> pc.Event:
        STEPS_SEEN["steps"] += 1
        h = data.draw(st.sampled_from(sorted(self.plain & set(self.handles))))
        group = self.handles[h]
        lead = self.handles[self.leader[h]]
        pid = lead.pid if lead.pid == -1 else 0
        try:
            ev = self.m.perf_event_open(attr, pid=pid, cpu=lead.cpu, group=group)
        except pc.PerfError as e:
            # refused exactly when the group_fd is not a leader, inherit differs for a task event,
            # or the group's CPU went offline
            assert (self.leader[h] != h or (pid != -1 and bool(attr.inherit) != bool(lead.attr.inherit))
                    or (pid == -1 and lead.cpu in self.offline)), e
            return group
        assert self.leader[h] == h
        self.plain.add(ev.handle)
        return self._opened(ev, group)

    @rule(ab=attr_bytes(), pid=st.sampled_from([0, -1, 4194311]), cpu=st.sampled_from([-1, 0, 1, 4]))
    def open_anything(self, ab: tuple[bytes, int], pid: int, cpu: int) -> None:
        """Random attr bytes: either a PerfError with an errno, or a new event; never another exception."""
        STEPS_SEEN["steps"] += 1
        try:
            ev = self.m.perf_event_open(bytearray(ab[0]), pid=pid, cpu=cpu)
        except pc.PerfError as e:
            assert e.errno and e.errno > 0
            return
        self._opened(ev, None)

    @rule(ev=consumes(events))
    def close(self, ev: pc.Event) -> None:
        STEPS_SEEN["steps"] += 1
        if ev.handle not in self.handles or self.handles[ev.handle] is not ev and not (self.handles[ev.handle] == ev):
            return
        ev.close()
        h = ev.handle
        del self.handles[h]
        lead = self.leader.pop(h)
        if lead == h:
            for s, l in list(self.leader.items()):
                if l == h:
                    self.leader[s] = s  # siblings become singleton groups

    @rule(comm=st.text(min_size=1, max_size=15))
    def spawn(self, comm: str) -> None:
        STEPS_SEEN["steps"] += 1
        self.pids.append(self.m.spawn(comm))

    @rule(cpu=st.integers(0, 3), online=st.booleans())
    def hotplug(self, cpu: int, online: bool) -> None:
        STEPS_SEEN["steps"] += 1
        self.m.set_cpu_online(cpu, online)
        (self.offline.discard if online else self.offline.add)(cpu)

    @invariant()
    def same_events_and_groups(self) -> None:
        live = {e.handle: e for e in self.m.events()}
        assert set(live) == set(self.handles)
        for h, e in live.items():
            assert e.group_leader.handle == self.leader[h]
            if self.leader[h] == h:
                assert sorted(s.handle for s in e.siblings) == sorted(
                    s for s, l in self.leader.items() if l == h and s != h)
            else:
                assert e.siblings == []
            # Scheduling (event core): a CPU-wide event is ACTIVE once installed on its
            # running CPU context; task events stay INACTIVE until their task is switched in.
            assert e.state in ("OFF", "INACTIVE") or (e.state == "ACTIVE" and e.cpu >= 0)

    @invariant()
    def scheduling_invariants_hold(self) -> None:
        # group trees ordered and red-black, groups all-or-nothing, counters never over-committed,
        # time_running <= time_enabled: checked by the engine itself, InternalError on violation
        self.m.check_sched()


MachineModel.TestCase.settings = settings(max_examples=EXAMPLES, stateful_step_count=75, deadline=None)
TestMachineModel = MachineModel.TestCase


def test_zz_report_steps(capsys) -> None:  # type: ignore[no-untyped-def]
    """Report how much the state machine ran (into the CI log; checked so a silent no-op fails)."""
    with capsys.disabled():
        print(f"\nstate machine: {STEPS_SEEN['examples']} examples, {STEPS_SEEN['steps']} steps "
              f"({STEPS_SEEN['steps'] / max(1, STEPS_SEEN['examples']):.1f} per example)")
    assert STEPS_SEEN["examples"] >= min(EXAMPLES, 30)
