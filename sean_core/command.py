"""What every `sean` subcommand shares: one-line errors instead of tracebacks, install hints for extras.

Subcommands are declared with `@click.command(cls=SeanCommand)`: a SeanError (bad input, a broken
file, a missing backend) ends the command with its one-line message, and a missing optional
dependency with the extra that provides it. No command lists exception types of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from sean_core.errors import NotFoundError, SeanError
from sean_core.install import extra_of, missing_module_message
from sean_core.shipped import find_model


def missing_dependency(command: str, exc: ModuleNotFoundError) -> Exception:
    """A one-line install hint for a missing optional dependency; other import errors pass through."""
    if extra_of(exc.name or "") is None:
        return exc
    return click.ClickException(missing_module_message(exc.name or "", f"`sean {command}`"))


class SeanCommand(click.Command):
    """A click command that shows the project's errors as one line (exit 1), never as a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SeanError as exc:
            raise click.ClickException(str(exc)) from exc
        except ModuleNotFoundError as exc:
            hint = missing_dependency(self.name or ctx.info_name or "?", exc)
            if hint is exc:
                raise
            raise hint from exc


class ModelFolder(click.ParamType):
    """A checkpoint (or run) folder given as a path, or a shipped model by name (`shapes`), from any directory."""

    name = "model"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        try:
            path = find_model(value)
        except NotFoundError as exc:
            self.fail(str(exc), param, ctx)
        if not path.is_dir():
            self.fail(f"{value} is a file; expected a model checkpoint folder (or a shipped model name)", param, ctx)
        return path


MODEL_FOLDER = ModelFolder()
