"""Ask the running kernel: perf_event_open(2) through ctypes, for differential tests.

Only the raw system call is used (x86-64 number 298); the attr is passed as bytes so every size
and every reserved bit can be exercised, and the size the kernel writes back is returned.
"""

from __future__ import annotations

import ctypes
import os
import platform
from dataclasses import dataclass

SYS_perf_event_open = 298  # x86-64

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


@dataclass(frozen=True)
class KernelAnswer:
    """What the kernel said: errno 0 on success, and the attr.size it left in the buffer."""

    errno: int
    size_after: int


def available() -> tuple[bool, str]:
    """Whether perf_event_open can be asked here, with the reason when it cannot."""
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        return False, f"perf_event_open oracle needs Linux x86-64, this is {platform.system()} {platform.machine()}"
    ans = perf_event_open(bytes(64), pid=0, cpu=-1, group_fd=-1, flags=0, size_field=None)
    # a zeroed attr with size 0 is "hardware cycles": ENOENT without a PMU, success with one
    if ans.errno in (0, 2):
        return True, ""
    return False, f"perf_event_open probe failed with errno {ans.errno} ({os.strerror(ans.errno)})"


def perf_event_open(attr: bytes, pid: int, cpu: int, group_fd: int, flags: int,
                    size_field: int | None = None) -> KernelAnswer:
    """Call the system call with ``attr`` bytes (optionally overriding attr.size) and close the fd."""
    buf = bytearray(attr)
    if len(buf) < 8:
        buf.extend(bytes(8 - len(buf)))
    if size_field is not None:
        buf[4:8] = int(size_field).to_bytes(4, "little")
    # a buffer larger than any size we test, so kernel reads past attr.size see our bytes
    cbuf = (ctypes.c_ubyte * max(len(buf), 8192))()
    ctypes.memmove(cbuf, bytes(buf), len(buf))
    fd = _libc.syscall(SYS_perf_event_open, ctypes.byref(cbuf), ctypes.c_int(pid), ctypes.c_int(cpu),
                       ctypes.c_int(group_fd), ctypes.c_ulong(flags))
    err = ctypes.get_errno() if fd < 0 else 0
    if fd >= 0:
        os.close(fd)
    size_after = int.from_bytes(bytes(cbuf[4:8]), "little")
    return KernelAnswer(err, size_after)


def open_fd(attr: bytes, pid: int = 0, cpu: int = -1, group_fd: int = -1, flags: int = 0) -> int:
    """Open and return the fd (caller closes), or raise OSError with the kernel's errno."""
    cbuf = (ctypes.c_ubyte * max(len(attr), 8192))()
    ctypes.memmove(cbuf, attr, len(attr))
    fd = _libc.syscall(SYS_perf_event_open, ctypes.byref(cbuf), ctypes.c_int(pid), ctypes.c_int(cpu),
                       ctypes.c_int(group_fd), ctypes.c_ulong(flags))
    if fd < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return int(fd)


# --- ioctl(2) on event fds ---------------------------------------------------------------------

_libc.ioctl.restype = ctypes.c_int


@dataclass(frozen=True)
class IoctlAnswer:
    """What ioctl(2) said: errno 0 on success, and the u64 it wrote to ``*arg`` (PERF_EVENT_IOC_ID)."""

    errno: int
    written: int


def ioctl(fd: int, cmd: int, arg: int | bytes | None = None) -> IoctlAnswer:
    """ioctl(fd, cmd, arg) with ``arg`` passed as a full 64-bit unsigned long (an int) or as a
    pointer to a copy of ``arg`` bytes (at least 8 bytes, so *arg can be read back as a u64)."""
    if isinstance(arg, (bytes, bytearray)):
        buf = ctypes.create_string_buffer(bytes(arg), max(len(arg), 8) + 8)
        rc = _libc.ioctl(ctypes.c_int(fd), ctypes.c_ulong(cmd), ctypes.c_void_p(ctypes.addressof(buf)))
        err = ctypes.get_errno() if rc < 0 else 0
        return IoctlAnswer(err, int.from_bytes(buf.raw[:8], "little"))
    value = 0 if arg is None else int(arg) & (2**64 - 1)
    rc = _libc.ioctl(ctypes.c_int(fd), ctypes.c_ulong(cmd), ctypes.c_ulong(value))
    return IoctlAnswer(ctypes.get_errno() if rc < 0 else 0, 0)


def max_sample_rate() -> int:
    """kernel.perf_event_max_sample_rate now (the kernel lowers it when sampling is slow)."""
    with open("/proc/sys/kernel/perf_event_max_sample_rate") as f:
        return int(f.read())
