"""Subcommands of `sean` that need only the runtime (no torch): synth, demo."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from sean_runtime.errors import user_errors

BACKEND_HELP = "auto: TensorRT engines when the package has usable ones, else ONNX Runtime (GPU if available)."


@contextmanager
def user_errors_as_click() -> Iterator[None]:
    """Bad input, a broken package or a missing backend ends the command with its message, no traceback."""
    try:
        yield
    except user_errors() as exc:
        raise click.ClickException(str(exc)) from exc
