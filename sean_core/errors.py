"""The error family of the project: every error that describes bad input, a broken file or a missing
piece derives from SeanError, says what is wrong and what to do, and is shown by the CLI as one line.

Errors that belong to the runtime's own objects live here, and CheckpointError, which the base raises when
it resolves a run folder (sean_core.checkpoint_files); the training and export layers derive their own
(ConfigError, ExportError, ...) from SeanError in their modules.
"""

from __future__ import annotations

import sys


class SeanError(Exception):
    """Base of every user-facing error: the message is one line that names the problem and the fix."""


class PackageError(SeanError, ValueError):
    """A package folder that is missing, corrupt, of another format version, or not matching its manifest."""


class InputError(SeanError, ValueError):
    """An image, label map or style set the package cannot use (shape, dtype, channels, size, classes)."""


class BackendError(SeanError, RuntimeError):
    """An inference backend that is not installed, not usable on this machine, or failed to run."""


class ImageReadError(SeanError, ValueError):
    """An image or label file that cannot be read."""


class CheckpointError(SeanError, RuntimeError):
    """A checkpoint or run folder that is missing, corrupt, or does not match its config."""


class DomainError(SeanError, ValueError):
    """Unknown domain, clashing plugins, or a plugin that breaks the interface."""


class LabelError(SeanError, ValueError):
    """A label map with values, shape or colours that the domain does not accept."""


class DatasetError(SeanError, ValueError):
    """A dataset folder that does not have the layout the domain expects."""


class NonFiniteError(SeanError, ValueError):
    """A graph produced NaN or infinite values: broken weights, or style codes far outside their range."""


class FileWriteError(SeanError, OSError):
    """A file or folder that cannot be written (read-only or full file system, a file in the way, ...)."""


class LockedError(SeanError, RuntimeError):
    """Another process holds the lock of a run folder or an export destination."""


class NotFoundError(SeanError, FileNotFoundError):
    """A path that does not exist and is not the name of a shipped config or model either."""


def first_sentence(exc: BaseException, limit: int = 160) -> str:
    """A library's error as a clause of a one-line message: its first sentence (torch.load's run over many
    lines, and suggest weights_only=False), without PyTorch's plea for a better message, at most `limit`
    characters cut at a word; the error's type name when it says nothing."""
    text = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    text = text.split("(Could this error message be improved?")[0].strip()
    text = text.split(". ")[0].rstrip(".")
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " ..."


def flag_argument(value: object, what: str) -> bool:
    """A boolean argument of a Python API: True or False (numpy's too) -> bool; anything else ("no", 0, None)
    is an InputError naming `what`, rather than read by truthiness (the string "no" is true)."""
    # A numpy bool can only exist once numpy is loaded; importing it here would slow every command's start.
    numpy = sys.modules.get("numpy")
    if isinstance(value, bool) or (numpy is not None and isinstance(value, numpy.bool_)):
        return bool(value)
    raise InputError(f"{what} must be True or False, got {value!r:.80}")
