"""Limits of a scenario file: whatever a file says, a run stays within these bounds of memory
and time (issue #8: malformed or hostile files give a clear error, never unbounded memory)."""

MAX_FILE_BYTES = 1 << 20
"""Largest scenario file read (1 MiB)."""
MAX_STEPS = 10_000
"""Most ``[[step]]`` tables in one file."""
MAX_EXECUTED_STEPS = 100_000
"""Most step executions in one run (``repeat`` counts each execution)."""
MAX_TASKS = 1024
"""Most tasks alive at once (declared plus spawned by steps)."""
MAX_EVENTS = 1024
"""Most ``[[event]]`` declarations."""
MAX_CGROUPS = 256
"""Most cgroups (declared plus created by steps)."""
MAX_NR_CPUS = 256
"""Largest ``machine.nr_cpus`` a scenario may ask for."""
MAX_NAME_LEN = 64
"""Longest task, cgroup or event name (and string parameter)."""
MAX_SIM_NS = 3600 * 10**9
"""Most simulated time a run may advance in total (one hour)."""
MAX_RING_PAGES = 1024
"""Most data pages, and most AUX pages, one ``mmap_ring`` step may ask for."""
MAX_TOTAL_RING_PAGES = 16_384
"""Most ring-buffer pages all ``mmap_ring`` steps of a run may ask for together (64 MiB)."""
MAX_MAPPED_PAGES = 1 << 20
"""Most pages all ``mmap`` steps of a run may populate together (each costs page-table memory)."""
MAX_REPEAT = 100_000
"""Largest ``repeat`` of one step."""
