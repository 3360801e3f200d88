"""The ``perfcore`` command: ``perfcore --version``, ``perfcore demo``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import perfcore
from perfcore import demo as demo_mod


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
    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo_mod.run(json_output=args.json)
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
