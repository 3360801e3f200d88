"""pytest-benchmark suite of scenario files (run: make bench): loading and checking a file at
the step-count limit, and running it. Each benchmark checks its result."""

from __future__ import annotations

from pathlib import Path

from perfcore import scenario

HEAD = ('[[task]]\nname = "w"\nrates = { cpu-clock = 1e9 }\n'
        '[[event]]\nname = "c"\nattr = { type = "software", config = "cpu-clock" }\ntask = "w"\n'
        '[[step]]\nswitch_in = { cpu = 0, task = "w" }\n')
# 10,000 steps: the limit of [[step]] tables in one file
BIG = HEAD + '[[step]]\nadvance = "1ms"\n[[step]]\nread = "c"\n' * ((scenario.MAX_STEPS - 1) // 2)


def test_load_10k_steps(benchmark) -> None:  # type: ignore[no-untyped-def]
    sc = benchmark(scenario.loads, BIG)
    assert len(sc.steps) == scenario.MAX_STEPS - 1


def test_run_10k_steps(benchmark) -> None:  # type: ignore[no-untyped-def]
    sc = scenario.loads(BIG)
    report = benchmark(sc.run)
    assert report.ok and len(report.reads) == (scenario.MAX_STEPS - 1) // 2
    assert report.reads[-1]["value"] == report.time_ns  # cpu-clock at 1e9 per second: every ns the task runs


def test_run_multiplexing_example(benchmark) -> None:  # type: ignore[no-untyped-def]
    path = Path(__file__).parent.parent.parent / "examples" / "scenarios" / "multiplexing.toml"
    report = benchmark(lambda: scenario.load(path).run())
    assert report.ok and report.reads[0]["scaled"] == 3e9 * 0.4


def test_worst_case_simulated_second(benchmark) -> None:  # type: ignore[no-untyped-def]
    """The most expensive second a file within the limits can ask for on one CPU: 1,024 events
    (the [[event]] limit) multiplexed on 4 counters with a 1 ms mux interval. A run may advance
    at most MAX_SIM_NS (one hour) in total, which bounds its time by 3,600 of these."""
    events = "".join(f'[[event]]\nname = "e{i}"\nattr = {{ type = "hardware", config = "branches" }}\ntask = "w"\n'
                     for i in range(scenario.MAX_EVENTS))
    text = ('[machine]\npreset = "intel-skl-ht"\nnr_cpus = 1\n[[task]]\nname = "w"\n' + events
            + '[[step]]\nset_mux_interval_ms = { pmu = "cpu", ms = 1 }\n[[step]]\nswitch_in = { cpu = 0, task = "w" }\n'
            + '[[step]]\nadvance = "1s"\n')
    sc = scenario.loads(text)
    report = benchmark.pedantic(sc.run, rounds=3, iterations=1)
    assert report.ok and report.stats["rotations"] == 1000
