"""Errors of the runtime. Each names what is wrong and what to do; the CLI shows them without a traceback."""

from __future__ import annotations


class PackageError(ValueError):
    """A package folder that is missing, corrupt, of another format version, or not matching its manifest."""


class InputError(ValueError):
    """An image, label map or style set the package cannot use (shape, dtype, channels, size, classes)."""


class BackendError(RuntimeError):
    """An inference backend that is not installed, not usable on this machine, or failed to run."""


def user_errors() -> tuple[type[Exception], ...]:
    """Every error that describes bad input rather than a bug (the CLI prints these as one message)."""
    from sean_domains import DatasetError, DomainError, LabelError
    from sean_domains.imageio import ImageReadError

    return (PackageError, InputError, BackendError, DatasetError, DomainError, LabelError, ImageReadError)
