"""Cgroups on the Machine: the hierarchy, cgroup directory fds, cgroup events opened with
PERF_FLAG_PID_CGROUP, and per-cgroup time: a cgroup event's enabled/running time and count grow
only while a task of its cgroup (or a descendant; the root while idle) runs on its CPU.
A hypothesis test drives random schedules against an oracle computed from the schedule."""

import errno

import pytest
from hypothesis import given
from hypothesis import strategies as st

import perfcore as pc
from perfcore._core import Attr, Machine

MS = 1_000_000
ROOT = 1
TE_TR = 0x3
PID_CGROUP = 4


def cycles():
    return Attr(type="hardware", config="cycles", read_format=TE_TR)


def open_cg(m, cg, cpu, group=None):
    return m.perf_event_open(cycles(), pid=m.cgroup_fd(cg), cpu=cpu, group=group, flags="pid_cgroup")


def errno_of(fn):
    with pytest.raises(pc.PerfError) as ei:
        fn()
    return ei.value.errno


def test_hierarchy_ids_paths_and_membership():
    m = Machine("intel-icx", nr_cpus=2)
    a = m.cgroup_create("a")
    a1 = m.cgroup_create("a1", parent=a)
    b = m.cgroup_create("b")
    assert (a, a1, b) == (2, 3, 4)
    assert m.cgroup_path(a1) == "/a/a1" and m.cgroup_path(ROOT) == "/"
    p = m.spawn("t")
    assert m.cgroup_of(p) == ROOT
    m.cgroup_attach(p, a1)
    assert m.cgroup_of(p) == a1
    with pytest.raises(pc.NotFoundError):
        m.cgroup_attach(p, 99)
    with pytest.raises(pc.UsageError):
        m.cgroup_create("a")  # exists under the root
    fd = m.cgroup_fd(a)
    assert fd >= 1 << 20 and m.cgroup_fd(a) != fd
    ev = open_cg(m, a, 0)
    assert ev.cgroup == a and ev.cpu == 0 and ev.pid == -1
    assert m.perf_event_open(cycles(), pid=-1, cpu=0).cgroup is None


def test_open_errnos():
    m = Machine("intel-icx", nr_cpus=2)
    a, b = m.cgroup_create("a"), m.cgroup_create("b")
    plain = m.perf_event_open(cycles(), pid=-1, cpu=0)
    for fd in (0, plain.handle, 12345, 4194311):  # not cgroup directories
        assert errno_of(lambda: m.perf_event_open(cycles(), pid=fd, cpu=0, flags=PID_CGROUP)) == errno.EBADF
    fa = m.cgroup_fd(a)
    assert errno_of(lambda: m.perf_event_open(cycles(), pid=fa, cpu=-1, flags=PID_CGROUP)) == errno.EINVAL
    assert errno_of(lambda: m.perf_event_open(cycles(), pid=-1, cpu=0, flags=PID_CGROUP)) == errno.EINVAL
    leader = open_cg(m, a, 0)
    assert errno_of(lambda: open_cg(m, b, 0, group=leader)) == errno.EINVAL
    assert errno_of(lambda: open_cg(m, a, 0, group=plain)) == errno.EINVAL
    sib = open_cg(m, a, 0, group=leader)
    assert sib.group_leader == leader
    user = Machine("intel-icx", nr_cpus=2, privileged=False)
    c = user.cgroup_create("c")
    # a cgroup event is CPU-wide: an unprivileged caller at paranoid 2 gets EACCES
    assert errno_of(lambda: open_cg(user, c, 0)) == errno.EACCES


def test_times_follow_the_cgroup_across_switches_and_nesting():
    m = Machine("intel-icx", nr_cpus=2)
    a = m.cgroup_create("a")
    a1 = m.cgroup_create("a1", parent=a)
    b = m.cgroup_create("b")
    ta, tb, tr = m.spawn("ta"), m.spawn("tb"), m.spawn("tr")
    m.cgroup_attach(ta, a1)
    m.cgroup_attach(tb, b)
    for p in (ta, tb, tr):
        m.set_rate(p, "cycles", 1e9)
    evs = {cg: open_cg(m, cg, 0) for cg in (a, a1, b, ROOT)}
    for cpu, pid, ms in ((0, ta, 3), (0, tb, 5), (0, tr, 7), (0, None, 2), (0, ta, 1)):
        if pid is None:
            m.switch_out(cpu)
        else:
            m.switch_in(cpu, pid)
        m.advance(ms * MS)
        m.check_sched()
    # (count ms, enabled ms): idle is the root cgroup with no task counting
    want = {a: (4, 4), a1: (4, 4), b: (5, 5), ROOT: (16, 18)}
    for cg, ev in evs.items():
        r = m.read(ev)
        assert r["time_enabled"] == want[cg][1] * MS, cg
        assert r["time_running"] == r["time_enabled"]
        assert abs(r["value"] - want[cg][0] * MS) <= 5, cg
    assert m.cgroup_time(a1, 0) == 4 * MS


def test_moving_a_running_task_switches_its_cpu_cgroup_at_once():
    m = Machine("intel-icx", nr_cpus=1)
    a, b = m.cgroup_create("a"), m.cgroup_create("b")
    p = m.spawn("t")
    m.cgroup_attach(p, a)
    ea, eb = open_cg(m, a, 0), open_cg(m, b, 0)
    m.switch_in(0, p)
    m.advance(2 * MS)
    m.cgroup_attach(p, b)
    m.advance(3 * MS)
    assert m.read(ea)["time_enabled"] == 2 * MS
    assert m.read(eb)["time_enabled"] == 3 * MS


def test_visits_do_not_grow_with_events_of_idle_cgroups():
    def visits(idle):
        m = Machine("intel-icx", nr_cpus=2)
        a = m.cgroup_create("a")
        p, q = m.spawn("p"), m.spawn("q")
        m.cgroup_attach(p, a)
        open_cg(m, a, 0)
        for i in range(idle):
            open_cg(m, m.cgroup_create(f"idle{i}"), i % 2)
        before = m.stats()["tree_visits"]
        for _ in range(5):
            m.switch_in(0, p)
            m.advance(MS)
            m.switch_in(0, q)
            m.advance(MS)
        return m.stats()["tree_visits"] - before

    assert visits(25) == visits(0)


OPS = st.one_of(
    st.tuples(st.just("in"), st.integers(0, 1), st.integers(0, 3)),
    st.tuples(st.just("out"), st.integers(0, 1), st.just(0)),
    st.tuples(st.just("adv"), st.integers(0, 5 * MS), st.just(0)),
    st.tuples(st.just("attach"), st.integers(0, 3), st.integers(0, 3)),
)


@given(init=st.lists(st.integers(0, 3), min_size=4, max_size=4), ops=st.lists(OPS, min_size=1, max_size=30))
def test_random_schedules_match_the_oracle(init, ops):
    m = Machine("intel-icx", nr_cpus=2)
    a = m.cgroup_create("a")
    a1 = m.cgroup_create("a1", parent=a)
    b = m.cgroup_create("b")
    cgs = [ROOT, a, a1, b]
    parent = {a: ROOT, a1: a, b: ROOT, ROOT: None}

    def under(c, anc):
        while c is not None:
            if c == anc:
                return True
            c = parent[c]
        return False

    pids = [m.spawn(f"t{i}") for i in range(4)]
    cg_of = [cgs[g] for g in init]
    for i, p in enumerate(pids):
        m.cgroup_attach(p, cg_of[i])
        m.set_rate(p, "cycles", (i + 1) * 1e9)
    evs = [(cpu, cg, open_cg(m, cg, cpu)) for cpu in (0, 1) for cg in cgs]
    cur = [None, None]
    want = [[0, 0] for _ in evs]  # count, enabled
    steps = 0
    for kind, x, y in ops:
        if kind == "in":
            if any(t == y and c != x for c, t in enumerate(cur)):
                with pytest.raises(pc.UsageError):
                    m.switch_in(x, pids[y])
                continue
            m.switch_in(x, pids[y])
            cur[x] = y
        elif kind == "out":
            m.switch_out(x)
            cur[x] = None
        elif kind == "attach":
            m.cgroup_attach(pids[x], cgs[y])
            cg_of[x] = cgs[y]
        else:
            m.advance(x)
            steps += 1
            for i, (cpu, cg, _) in enumerate(evs):
                t = cur[cpu]
                if under(ROOT if t is None else cg_of[t], cg):
                    want[i][1] += x
                    want[i][0] += 0 if t is None else (t + 1) * x
        m.check_sched()
    for i, (cpu, cg, ev) in enumerate(evs):
        r = m.read(ev)
        assert r["time_enabled"] == want[i][1], (cpu, cg)
        assert r["time_running"] == want[i][1], (cpu, cg)
        assert abs(r["value"] - want[i][0]) <= steps, (cpu, cg)
