"""The runtime names the service uses, in one place.

When the flat public API lands (`from sean_runtime import Synthesizer, Styles, SeanError, ...`), these
imports change here and nowhere else in sean_runtime.serve.
"""

from __future__ import annotations

from sean_runtime.errors import BackendError, InputError, PackageError, user_errors
from sean_runtime.styles import Styles
from sean_runtime.synthesizer import Synthesizer

__all__ = ["BackendError", "InputError", "PackageError", "Styles", "Synthesizer", "bad_input_errors"]


def bad_input_errors() -> tuple[type[Exception], ...]:
    """Errors that mean the request was wrong (HTTP 400): the user errors except a broken package or backend."""
    return tuple(e for e in user_errors() if e not in (PackageError, BackendError))
