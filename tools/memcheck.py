"""`make memcheck`: run the Rust tests and a Python scenario under valgrind and fail on any
definite leak whose allocation stack passes through perfcore (the interpreter's own
allocations at exit are not perfcore's and are ignored by frame, not by a blanket suppression).

Usage: python tools/memcheck.py RUST_TEST_BINARY... -- PYTHON SCENARIO.py
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

OURS = re.compile(r"perfcore|_core\.|/rust/(core|py)/")


def run(cmd: list[str], env_extra: dict[str, str] | None = None) -> tuple[int, int, int]:
    """Run under memcheck; return (definite leak records from perfcore, bytes, total records)."""
    import os
    with tempfile.TemporaryDirectory() as d:
        xml = Path(d) / "vg.xml"
        env = dict(os.environ, **(env_extra or {}))
        vg = ["valgrind", "--tool=memcheck", "--leak-check=full", "--show-leak-kinds=definite",
              "--xml=yes", f"--xml-file={xml}", "--num-callers=40", *cmd]
        r = subprocess.run(vg, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            sys.stdout.write(r.stdout[-4000:])
            raise SystemExit(f"memcheck: {cmd[0]} exited {r.returncode} under valgrind")
        ours = nbytes = total = 0
        for err in ET.parse(xml).getroot().iter("error"):
            kind = err.findtext("kind") or ""
            if kind != "Leak_DefinitelyLost":
                continue
            total += 1
            frames = " ".join((f.findtext("obj") or "") + " " + (f.findtext("fn") or "") + " "
                              + (f.findtext("dir") or "") for f in err.iter("frame"))
            if OURS.search(frames):
                ours += 1
                nbytes += int(err.findtext("xwhat/leakedbytes") or 0)
                print("perfcore leak:", err.findtext("xwhat/text"))
        return ours, nbytes, total


def selftest() -> None:
    """Prove the check can fail: a program under a perfcore-named path that leaks is caught."""
    with tempfile.TemporaryDirectory(prefix="perfcore-memcheck-selftest-") as d:
        src = Path(d) / "leak.c"
        src.write_text("#include <stdlib.h>\nint main(void){ void *p = malloc(77); p = 0; return p != 0; }\n")
        exe = Path(d) / "leak"
        subprocess.run(["cc", "-g", "-O0", "-o", str(exe), str(src)], check=True)
        ours, nbytes, _ = run([str(exe)])
        if ours != 1 or nbytes != 77:
            raise SystemExit(f"memcheck selftest: expected one 77-byte leak, saw {ours} ({nbytes} bytes)")
        print("memcheck selftest: a deliberate 77-byte leak is detected")


def main(argv: list[str]) -> int:
    selftest()
    if "--" not in argv:
        print(__doc__)
        return 2
    sep = argv.index("--")
    rust, py = argv[:sep], argv[sep + 1:]
    failed = False
    for binary in rust:
        ours, nbytes, total = run([binary, "--test-threads=1", "-q"])
        print(f"memcheck {Path(binary).name}: {ours} definite leaks from perfcore ({nbytes} bytes); "
              f"{total} definite leak records in all")
        failed |= ours > 0
    if py:
        ours, nbytes, total = run(py, {"PYTHONMALLOC": "malloc"})
        print(f"memcheck python scenario: {ours} definite leaks from perfcore ({nbytes} bytes); "
              f"{total} definite leak records in all (interpreter records ignored)")
        failed |= ours > 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
