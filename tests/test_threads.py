"""Python threads may share a Machine: concurrent opens and closes stay consistent (the module
declares free-threading support, so every class is Sync and locks its state)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import perfcore as pc


def test_threads_share_a_machine() -> None:
    m = pc.Machine(nr_cpus=4)

    def worker(i: int) -> int:
        kept = 0
        for j in range(300):
            ev = m.perf_event_open(pc.Attr(type="software", config="dummy", disabled=True), pid=0)
            if (i + j) % 3:
                ev.close()
            else:
                kept += 1
        return kept

    with ThreadPoolExecutor(max_workers=4) as pool:
        kept = sum(pool.map(worker, range(8)))
    evs = m.events()
    assert len(evs) == kept
    assert len({e.id for e in evs}) == kept  # event ids stay unique under contention
