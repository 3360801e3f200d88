"""Hypothesis strategies for perf_event_attr bytes: mostly-valid attrs with a few perturbations,
so that every check of perf_event_open() (not just the first ones) is reached."""

from __future__ import annotations

import struct

from hypothesis import strategies as st

# types the model and this machine both have, plus unknown ones (tracepoint 2, breakpoint 5,
# uprobe 8 and msr 9 are real PMUs here that the model does not provide: docs/divergences.md)
SOFTWARE_TYPES = [1, 1, 1, 1, 6, 7]
OTHER_TYPES = [0, 3, 4, 10, 11, 1000, 0xFFFFFFFF]
VER_SIZES = [0, 64, 72, 80, 96, 104, 112, 120, 128, 136]
SAFE_FLAG_BITS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 26, 27,
                  28, 29, 30, 32, 33, 34]
RISKY_FLAG_BITS = [1, 12, 31, 35, 36, 37]
RESERVED_FLAG_BITS = list(range(38, 64))
SAFE_SAMPLE_BITS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 14, 15, 16, 17, 19, 20, 21, 22, 23]
RISKY_SAMPLE_BITS = [4, 11, 12, 13, 14, 18, 24]
UNKNOWN_SAMPLE_BITS = [25, 26, 40, 63]


def _chance(draw: st.DrawFn, tenths: int) -> bool:
    return draw(st.integers(0, 9)) < tenths


def _bits(draw: st.DrawFn, pool: list[int], max_n: int) -> int:
    return sum(1 << b for b in set(draw(st.lists(st.sampled_from(pool), max_size=max_n))))


@st.composite
def attr_bytes(draw: st.DrawFn) -> tuple[bytes, int]:
    """(user memory starting at the attr, attr.size). Memory past the size is present so the
    kernel and the model read the same bytes; past 136 it is zero unless perturbed."""
    if draw(st.integers(0, 19)) < 17:
        size = draw(st.sampled_from(VER_SIZES))
    else:
        size = draw(st.one_of(st.integers(1, 63), st.integers(137, 4096), st.sampled_from([4097, 8192])))
    type_ = draw(st.sampled_from(SOFTWARE_TYPES)) if _chance(draw, 9) else draw(st.sampled_from(OTHER_TYPES))
    if _chance(draw, 9):
        config = draw(st.integers(0, 12))
    else:
        config = draw(st.one_of(st.sampled_from([1 << 32, 6 << 32, 7 << 32, 1 << 63]), st.integers(0, 2**64 - 1)))
    sample_type = _bits(draw, SAFE_SAMPLE_BITS, 6)
    if _chance(draw, 3):
        sample_type |= _bits(draw, RISKY_SAMPLE_BITS, 2)
    if draw(st.integers(0, 19)) == 0:
        sample_type |= _bits(draw, UNKNOWN_SAMPLE_BITS, 1)
    read_format = draw(st.integers(0, 31)) if draw(st.integers(0, 19)) < 19 else draw(st.sampled_from([32, 64, 1 << 40]))
    flags = _bits(draw, SAFE_FLAG_BITS, 5)
    if _chance(draw, 3):
        flags |= _bits(draw, RISKY_FLAG_BITS, 2)
    if draw(st.integers(0, 19)) == 0:
        flags |= _bits(draw, RESERVED_FLAG_BITS, 1)
    freq = _chance(draw, 2)
    if freq:
        flags |= 1 << 10
    if _chance(draw, 2):
        flags |= 1 << 25  # use_clockid
    if freq:
        period = draw(st.sampled_from([0, 1, 1000, 4000, 100_000, 100_001, 10**6, 2**64 - 1]))
    else:
        roll = draw(st.integers(0, 19))
        if roll < 16:
            period = draw(st.sampled_from([0, 0, 1, 1000, 100_000, 2**62]))
        elif roll < 19:
            period = draw(st.integers(0, 2**63 - 1))
        else:
            period = draw(st.integers(2**63, 2**64 - 1))
    branch = 0
    if sample_type & (1 << 11) or _chance(draw, 1):
        branch = draw(st.one_of(st.sampled_from([1 << 3, 1 << 11, (1 << 11) | 1, 1, 7, 1 << 20, 1 << 40]),
                                st.integers(0, (1 << 20) - 1)))
    valid_regs = st.sampled_from([1 << 8, (1 << 7) | (1 << 8), 0xFF, 0xFFF, 0xFF0FFF])
    bad_regs = st.sampled_from([0, 1 << 12, 1 << 15, 1 << 24, 1 << 30, 1 << 32, 1 << 40, 1 << 63])
    regs_user = draw(valid_regs) if _chance(draw, 7) else draw(bad_regs)
    regs_intr = draw(valid_regs) if _chance(draw, 7) else draw(bad_regs)
    stack_user = draw(st.sampled_from([8, 4096, 65528])) if _chance(draw, 7) else draw(
        st.sampled_from([0, 7, 65534, 65535, 65536, 2**32 - 8]))
    clockid = draw(st.sampled_from([1, 4])) if _chance(draw, 6) else draw(st.sampled_from([0, 2, 3, 5, 7, 11, 12, -1]))
    max_stack = draw(st.sampled_from([0, 0, 0, 1, 127])) if _chance(draw, 8) else draw(st.sampled_from([128, 200, 65535]))
    reserved_2 = 0 if _chance(draw, 9) else draw(st.sampled_from([1, 0x8000]))
    aux_sample_size = 0 if _chance(draw, 9) else draw(st.sampled_from([8, 4096]))
    aux_action = 0 if _chance(draw, 9) else draw(st.sampled_from([1, 2, 4, 6, 8, 1 << 31]))

    b = bytearray(max(size, 136) + 64)
    struct.pack_into("<IIQQQQQ", b, 0, type_, size, config, period, sample_type, read_format, flags)
    struct.pack_into("<II", b, 48, draw(st.integers(0, 2**32 - 1)), draw(st.sampled_from([0, 1, 3])))
    struct.pack_into("<QQQQ", b, 56, draw(st.integers(0, 2**64 - 1)), draw(st.integers(0, 2**64 - 1)), branch,
                     regs_user)
    struct.pack_into("<Ii", b, 88, stack_user, clockid)
    struct.pack_into("<Q", b, 96, regs_intr)
    struct.pack_into("<IHH", b, 104, draw(st.integers(0, 2**32 - 1)), max_stack, reserved_2)
    struct.pack_into("<II", b, 112, aux_sample_size, aux_action)
    struct.pack_into("<QQ", b, 120, draw(st.integers(0, 2**64 - 1)), draw(st.integers(0, 2**64 - 1)))
    if size > 136 and _chance(draw, 3):
        b[draw(st.integers(136, size - 1))] = draw(st.integers(1, 255))
    return bytes(b), size
