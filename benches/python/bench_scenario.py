"""pytest-benchmark suite of scenario files (run: make bench): loading and checking a file at
the step-count limit, and running it. Each benchmark checks its result."""

from __future__ import annotations

from pathlib import Path

from perfcore import scenario

HEAD = ('[[task]]\nname = "w"\n[[event]]\nname = "c"\nattr = { type = "software", config = "cpu-clock" }\n'
        'task = "w"\n[[step]]\nswitch_in = { cpu = 0, task = "w" }\n')
# 10,000 steps: the limit of [[step]] tables in one file
BIG = HEAD + '[[step]]\nadvance = "1ms"\n[[step]]\nread = "c"\n' * ((scenario.MAX_STEPS - 1) // 2)


def test_load_10k_steps(benchmark) -> None:  # type: ignore[no-untyped-def]
    sc = benchmark(scenario.loads, BIG)
    assert len(sc.steps) == scenario.MAX_STEPS - 1


def test_run_10k_steps(benchmark) -> None:  # type: ignore[no-untyped-def]
    sc = scenario.loads(BIG)
    report = benchmark(sc.run)
    assert report.ok and len(report.reads) == (scenario.MAX_STEPS - 1) // 2
    assert report.reads[-1]["value"] == report.time_ns  # cpu-clock counts every ns the task runs


def test_run_multiplexing_example(benchmark) -> None:  # type: ignore[no-untyped-def]
    path = Path(__file__).parent.parent.parent / "examples" / "scenarios" / "multiplexing.toml"
    report = benchmark(lambda: scenario.load(path).run())
    assert report.ok and report.reads[0]["scaled"] == 3e9 * 0.4
