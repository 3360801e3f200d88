"""The perf_events uapi constants (``include/uapi/linux/perf_event.h``, Linux 6.18).

Every ``PERF_*`` name is an int attribute of this module; the values come from the Rust core,
which is the single source of truth. ``NAMES`` holds the string tables used to parse
``sample_type="ip|tid"``-style arguments.
"""

from __future__ import annotations

from perfcore import _core

CONSTANTS: dict[str, int] = dict(_core.abi_constants())
NAMES: dict[str, dict[str, int]] = dict(_core.abi_names())

globals().update(CONSTANTS)


def __getattr__(name: str) -> int:
    try:
        return CONSTANTS[name]
    except KeyError:
        raise AttributeError(f"perfcore.abi has no constant {name!r}") from None


def __dir__() -> list[str]:
    return sorted([*CONSTANTS, "CONSTANTS", "NAMES"])
