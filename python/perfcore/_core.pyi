"""Type stub of the perfcore._core extension module (hand-written; checked by stubtest)."""

__version__: str

class PerfError(OSError):
    """The kernel's answer: ``errno`` is the errno the kernel would return."""

class UsageError(ValueError):
    """Misuse of the perfcore API (not a kernel answer)."""

class NotFoundError(KeyError):
    """A handle that does not exist."""

class InternalError(RuntimeError):
    """A bug in perfcore (a Rust panic or an impossible state)."""

def _force_panic() -> None: ...
