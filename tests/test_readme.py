"""The README's scenario runs as written and its numbers are the model's."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path


def test_readme_scenario_runs() -> None:
    text = (Path(__file__).parent.parent / "README.md").read_text()
    m = re.search(r"## A 20-line scenario\n\n```python\n(.*?)```", text, re.S)
    assert m, "README lost its scenario"
    code = m.group(1)
    assert len(code.strip().splitlines()) <= 20
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    first = out.getvalue().splitlines()[0].split()
    scaled, share = float(first[0]), float(first[1])
    assert scaled == 5e7 * 0.4  # 400 ms at 5e7 misses/s, recovered exactly by scaling
    assert 0.4 < share < 0.6  # 8 events on 4 counters
