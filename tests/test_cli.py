"""The command line: --version and the demo report."""

from __future__ import annotations

import json
import subprocess
import sys

import perfcore
from perfcore import cli


def test_version(capsys) -> None:  # type: ignore[no-untyped-def]
    try:
        cli.main(["--version"])
    except SystemExit as e:
        assert e.code == 0
    assert capsys.readouterr().out.strip() == f"perfcore {perfcore.__version__}"


def test_demo_json_reports_model_answers() -> None:
    out = subprocess.run([sys.executable, "-m", "perfcore.cli", "demo", "--json"], capture_output=True, text=True,
                         check=True).stdout
    rep = json.loads(out)
    rows = {r["case"]: r["result"] for r in rep["perf_event_open"]}
    assert rows["task-clock, counting"].startswith("ok")
    assert "E2BIG" in rows["attr.size 63"]
    assert "EOVERFLOW" in rows["sample_max_stack 200 > 127"]
    assert [p["name"] for p in rep["machine"]["pmus"]] == ["software", "cpu_clock", "task_clock"]
