"""The ``perfcore`` command: ``perfcore --version``, ``perfcore demo``, ``perfcore run FILE``,
``perfcore perf-data dump FILE``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import perfcore
from perfcore import demo as demo_mod
from perfcore import scenario


def run_scenario(path: str, json_output: bool = False) -> int:
    """``perfcore run FILE``: load, check and run a scenario file and print its report.
    Exit code 0 when every step went as written, 1 when a step failed (an unexpected model
    error, or an expected error that did not come), 2 when the file is bad (ScenarioError,
    printed as ``file:location: key: reason``)."""
    try:
        sc = scenario.load(Path(path))
    except scenario.ScenarioError as e:
        print(f"perfcore run: {e}", file=sys.stderr)
        return 2
    report = sc.run()
    print(report.to_json() if json_output else report.format())
    return 0 if report.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(
        prog="perfcore",
        description="An executable model of the Linux perf_events core (Linux 6.18, x86-64).",
    )
    parser.add_argument("--version", action="version", version=f"perfcore {perfcore.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    d = sub.add_parser("demo", help="run the built-in scenario and print its report")
    d.add_argument("--json", action="store_true", help="print the report as JSON")
    r = sub.add_parser("run", help="run a scenario file (TOML, see docs/scenarios.md) and print its report")
    r.add_argument("file", help="the scenario file")
    r.add_argument("--json", action="store_true", help="print the report as JSON")
    pd = sub.add_parser("perf-data", help="read perf.data files")
    pd_sub = pd.add_subparsers(dest="perf_data_command", metavar="ACTION", required=True)
    dump = pd_sub.add_parser("dump", help="header, attrs, features and one line per record (like perf report -D)")
    dump.add_argument("file", help="a perf.data file")
    dump.add_argument("--limit", type=int, default=None, help="print at most this many records")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo_mod.run(json_output=args.json)
    if args.command == "run":
        return run_scenario(args.file, json_output=args.json)
    if args.command == "perf-data":
        from perfcore import perf_data

        try:
            print(perf_data.dump(args.file, limit=args.limit))
        except (OSError, ValueError) as e:
            print(f"perfcore perf-data: {e}", file=sys.stderr)
            return 1
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
