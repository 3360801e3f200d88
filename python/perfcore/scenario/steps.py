"""The step table: every step a scenario can take, the Machine (or Event) method it calls and
the typed schema of its parameters. A new Machine call becomes a scenario step by adding one
entry to :data:`STEPS`; :func:`reference` renders the table for docs/scenarios.md."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from perfcore.scenario.kinds import (
    BOOL,
    CGROUP,
    CPU,
    CPU_LIST,
    DURATION,
    EVENT,
    EVENT_TO_CLOSE,
    EVENT_TO_OPEN,
    I32_MAX,
    MAP_KIND,
    NEW_CGROUP,
    NEW_TASK,
    PAGE_SIZE,
    PMU,
    RATE,
    RING_PAGES,
    SYSCTL,
    TASK,
    TASK_TO_EXIT,
    TEXT,
    U64,
    Kind,
    check_errno,
    check_error_class,
    int_kind,
)
from perfcore.scenario.limits import MAX_REPEAT


@dataclass(frozen=True)
class Param:
    """One parameter of a step: its TOML key, kind, meaning, and how it reaches the call.

    ``arg`` is the keyword of the called method ("" means the same as ``name``; None means the
    value is not passed: a new name bound to the result, or the Event a method is called on).
    An optional parameter left out is not passed, so the method's own default applies, unless
    ``default_from`` names another parameter whose value it then takes, or ``none_if_omitted``
    passes None for it (a required positional argument where None means "none").
    """

    name: str
    kind: Kind
    doc: str
    required: bool = True
    arg: str | None = ""
    default_from: str | None = None
    none_if_omitted: bool = False

    @property
    def keyword(self) -> str | None:
        """The keyword the value is passed as, or None when it is not passed."""
        return self.name if self.arg == "" else self.arg


@dataclass(frozen=True)
class StepSpec:
    """One kind of step: the call it makes, its typed parameters, and its documentation.

    ``call`` is ``"Machine.<method>"``, ``"Event.<method>"`` (called on the event named by the
    ``event`` parameter) or ``"Scenario.<action>"`` (done by the runner itself: ``open`` builds
    the attr of an ``[[event]]``, ``read`` collects a read into the report). ``shorthand`` is the
    parameter a scalar value fills (``advance = "10ms"``); ``record`` puts the call's return
    value into the report's results.
    """

    call: str
    doc: str
    params: tuple[Param, ...] = ()
    shorthand: str | None = None
    record: bool = False


def _p(name: str, kind: Kind, doc: str, **kw: Any) -> Param:
    return Param(name, kind, doc, **kw)


_EV = _p("event", EVENT, "the event", arg="event")
_EV_TARGET = _p("event", EVENT, "the event", arg=None)
_TASK_PID = _p("task", TASK, "the task", arg="pid")

STEPS: dict[str, StepSpec] = {
    "spawn": StepSpec("Machine.spawn", "create a task (the `[[task]]` tables are spawn steps run first)", (
        _p("task", NEW_TASK, "name the scenario gives the task", arg=None),
        _p("comm", TEXT, "its comm (default: the task name)", required=False, default_from="task"),
        _p("uid", int_kind(0, (1 << 32) - 1), "its uid (default: the caller's)", required=False),
        _p("kernel_thread", BOOL, "a kernel thread (no mm)", required=False),
    ), shorthand="task"),
    "fork": StepSpec("Machine.fork", "fork() (clone() with CLONE_THREAD for a thread) of the task; the child "
                     "inherits its attr.inherit events", (
        _TASK_PID,
        _p("child", NEW_TASK, "name the scenario gives the child", arg=None),
        _p("clone_thread", BOOL, "a thread of the same process (default false)", required=False),
        _p("comm", TEXT, "the child's comm (default: the parent's)", required=False),
        _p("clear_sighand", BOOL, "CLONE_CLEAR_SIGHAND (default false)", required=False),
    )),
    "exit_task": StepSpec("Machine.exit_task", "the task exits (its name cannot be used after)",
                          (_p("task", TASK_TO_EXIT, "the task", arg="pid"),), shorthand="task"),
    "exec": StepSpec("Machine.exec", "execve() in the task: enable_on_exec events enabled, remove_on_exec events "
                     "removed; whether its perf context changed goes into the report",
                     (_TASK_PID, _p("comm", TEXT, "the new comm")), record=True),
    "set_affinity": StepSpec("Machine.set_affinity", "sched_setaffinity(): the CPUs the task may run on", (
        _TASK_PID, _p("cpus", CPU_LIST, "the CPUs"))),
    "open": StepSpec("Scenario.open", "perf_event_open() of an `[[event]]` declared with `at_start = false` "
                     "(or closed earlier)", (_p("event", EVENT_TO_OPEN, "the event declaration", arg=None),),
                     shorthand="event"),
    "close": StepSpec("Event.close", "close() of the event's fd", (
        _p("event", EVENT_TO_CLOSE, "the event", arg=None),), shorthand="event"),
    "enable": StepSpec("Machine.enable", "ioctl(PERF_EVENT_IOC_ENABLE)", (_EV,), shorthand="event"),
    "disable": StepSpec("Machine.disable", "ioctl(PERF_EVENT_IOC_DISABLE)", (_EV,), shorthand="event"),
    "read": StepSpec("Scenario.read", "read() of the event; value, times, scaled count and running % go into "
                     "the report", (_p("event", EVENT, "the event", arg=None),), shorthand="event"),
    "reset": StepSpec("Event.reset", "ioctl(PERF_EVENT_IOC_RESET): zero the count", (
        _EV_TARGET, _p("group", BOOL, "PERF_IOC_FLAG_GROUP: the whole group (default false)", required=False),
    ), shorthand="event"),
    "refresh": StepSpec("Event.refresh", "ioctl(PERF_EVENT_IOC_REFRESH): allow n more overflows, then the event "
                        "disables itself", (_EV_TARGET, _p("n", int_kind(0, I32_MAX), "overflows"))),
    "period": StepSpec("Event.period", "ioctl(PERF_EVENT_IOC_PERIOD): a new sample period (frequency for freq "
                       "events)", (_EV_TARGET, _p("n", U64, "the period"))),
    "set_output": StepSpec("Event.set_output", "ioctl(PERF_EVENT_IOC_SET_OUTPUT): write the event's records into "
                           "another event's ring (no output: detach)", (
        _EV_TARGET, _p("output", EVENT, "the event whose ring is used", required=False, arg="other",
                       none_if_omitted=True),
    ), shorthand="event"),
    "pause_output": StepSpec("Event.pause_output", "ioctl(PERF_EVENT_IOC_PAUSE_OUTPUT): pause or resume the "
                             "event's ring", (_EV_TARGET, _p("pause", BOOL, "pause (true) or resume (false)"))),
    "poll": StepSpec("Event.poll", "poll() of the event's fd; the revents mask goes into the report",
                     (_EV_TARGET,), shorthand="event", record=True),
    "mmap_ring": StepSpec("Event.mmap", "mmap() of the event's ring buffer (and AUX area)", (
        _EV_TARGET,
        _p("data_pages", RING_PAGES, "data pages (0 or a power of two)"),
        _p("aux_pages", RING_PAGES, "AUX pages (default 0)", required=False),
        _p("writable", BOOL, "PROT_WRITE (default true)", required=False),
        _p("aux_writable", BOOL, "PROT_WRITE of the AUX area (default true)", required=False),
    )),
    "switch_in": StepSpec("Machine.switch_in", "context switch: the task starts running on the CPU", (
        _p("cpu", CPU, "the CPU"), _TASK_PID)),
    "switch_out": StepSpec("Machine.switch_out", "the task running on the CPU is switched out",
                           (_p("cpu", CPU, "the CPU"),), shorthand="cpu"),
    "advance": StepSpec("Machine.advance", "advance machine time; multiplexing timers fire at their expiries",
                        (_p("duration", DURATION, "how long", arg="ns"),), shorthand="duration"),
    "run": StepSpec("Machine.run", "run the machine: the scheduler picks tasks by their workloads, timers and "
                    "samples fire", (_p("duration", DURATION, "how long", arg="ns"),), shorthand="duration"),
    "rotate": StepSpec("Machine.rotate", "rotate the PMU's flexible groups on the CPU now; whether anything "
                       "rotated goes into the report", (_p("cpu", CPU, "the CPU"), _p("pmu", PMU, "the PMU")),
                       record=True),
    "set_rate": StepSpec("Machine.set_rate", "events per second the task generates for an event kind", (
        _TASK_PID,
        _p("event_name", TEXT, "the event kind (`cycles`, `cache-misses`, `task-clock`, `raw:0x1c0`, ...)"),
        _p("per_sec", RATE, "the rate"),
    )),
    "set_mux_interval_ms": StepSpec("Machine.set_mux_interval_ms", "write the PMU's perf_event_mux_interval_ms", (
        _p("pmu", PMU, "the PMU"), _p("ms", int_kind(0, I32_MAX), "the interval (< 1 is EINVAL)"))),
    "set_sysctl": StepSpec("Machine.set_sysctl", "`sysctl -w kernel.NAME=VALUE`", (
        _p("name", SYSCTL, "the sysctl"),
        _p("value", int_kind(-1, I32_MAX), "its value (-1 only makes sense for perf_event_paranoid)"),
    )),
    "set_cpu_online": StepSpec("Machine.set_cpu_online", "take a CPU offline or bring it online", (
        _p("cpu", CPU, "the CPU"), _p("online", BOOL, "online or not"))),
    "cgroup_create": StepSpec("Machine.cgroup_create", "mkdir of a cgroup (the `[[cgroup]]` tables are "
                              "cgroup_create steps run first)", (
        _p("cgroup", NEW_CGROUP, "name of the cgroup (unique in the scenario)", arg="name"),
        _p("parent", CGROUP, "parent cgroup (default: the root)", required=False),
    ), shorthand="cgroup"),
    "cgroup_attach": StepSpec("Machine.cgroup_attach", "move the task into the cgroup", (
        _TASK_PID, _p("cgroup", CGROUP, "the cgroup"))),
    "mmap": StepSpec("Machine.mmap", "mmap() in the task's address space", (
        _TASK_PID, _p("addr", U64, "start address"), _p("length", U64, "length in bytes"),
        _p("page_size", PAGE_SIZE, "page size (default 4096; huge sizes need kind hugetlb)", required=False),
        _p("kind", MAP_KIND, "mapping kind (default anon)", required=False),
        _p("populate", BOOL, "fault every page in (default true)", required=False),
    )),
    "munmap": StepSpec("Machine.munmap", "munmap() of a range of the task's address space", (
        _TASK_PID, _p("addr", U64, "start address"), _p("length", U64, "length in bytes"))),
    "collapse": StepSpec("Machine.collapse", "THP collapse of a range; the number of 2M blocks made goes into "
                         "the report", (_TASK_PID, _p("addr", U64, "start address"), _p("length", U64, "length")),
                         record=True),
    "split": StepSpec("Machine.split", "THP split of the 2M leaf at addr; whether one was split goes into "
                      "the report", (_TASK_PID, _p("addr", U64, "an address in the leaf")), record=True),
    "page_size": StepSpec("Machine.page_size", "what PERF_SAMPLE_DATA_PAGE_SIZE reports for addr in a sample "
                          "of the task; goes into the report", (_TASK_PID, _p("addr", U64, "the address")),
                          record=True),
    "check_sched": StepSpec("Machine.check_sched", "check the scheduling invariants (a violation fails the run)"),
}
"""The step table: step name -> the call it makes and its parameter schema."""

STEP_OPTIONS: dict[str, tuple[Kind, str]] = {
    "expect_errno": (Kind("errno", 'an errno name ("EINVAL") or number', check_errno),
                     "the step must fail with PerfError of this errno"),
    "expect_error": (Kind("error class", '"PerfError", "UsageError" or "NotFoundError"', check_error_class),
                     "the step must fail with this exception class"),
    "repeat": (int_kind(1, MAX_REPEAT), "run the step this many times (not with expectations or new names)"),
    "label": (TEXT, "a label shown with the step's results in the report"),
}
"""Keys every step table may have besides its one action key."""



def reference() -> str:
    """The step table as Markdown (embedded in docs/scenarios.md; a test keeps them equal)."""
    out = ["| step | calls | shorthand | parameters | what it does |", "|---|---|---|---|---|"]
    for name, spec in STEPS.items():
        params = "<br>".join(
            f"`{p.name}`{'' if p.required else ' (optional)'}: {p.kind.name}, {p.doc}" for p in spec.params
        ) or "none (`check_sched = true`)"
        short = f"`{name} = <{spec.shorthand}>`" if spec.shorthand else ""
        out.append(f"| `{name}` | `{spec.call}` | {short} | {params} | {spec.doc} |")
    out += ["", "| option (any step) | type | meaning |", "|---|---|---|"]
    out += [f"| `{k}` | {kind.doc} | {doc} |" for k, (kind, doc) in STEP_OPTIONS.items()]
    kinds = {p.kind.name: p.kind.doc for spec in STEPS.values() for p in spec.params}
    out += ["", "| parameter type | accepted values |", "|---|---|"]
    out += [f"| {k} | {doc} |" for k, doc in kinds.items()]
    return "\n".join(out) + "\n"
