"""The runtime names the service uses, in one place (the flat public API of sean_runtime)."""

from __future__ import annotations

from sean_runtime import (
    BackendError,
    FileWriteError,
    InputError,
    LockedError,
    PackageError,
    SeanError,
    Styles,
    Synthesizer,
)

__all__ = ["BackendError", "InputError", "PackageError", "SeanError", "Styles", "Synthesizer", "is_bad_input"]

# SeanErrors that are the server's own trouble (HTTP 500), not the request's.
_SERVER_SIDE = (PackageError, BackendError, FileWriteError, LockedError)


def is_bad_input(exc: BaseException) -> bool:
    """Whether an error means the request was wrong (HTTP 400): a SeanError other than a broken package,
    backend or file system."""
    return isinstance(exc, SeanError) and not isinstance(exc, _SERVER_SIDE)
