"""What every `sean` subcommand shares: one-line errors instead of tracebacks, install hints for extras.

Subcommands are declared with `@click.command(cls=SeanCommand)`: a SeanError (bad input, a broken
file, a missing backend) ends the command with its one-line message, and a missing optional
dependency with the extra that provides it. No command lists exception types of its own.
"""

from __future__ import annotations

from typing import Any

import click

from sean_runtime.errors import SeanError

BACKEND_HELP = "auto: TensorRT engines when the package has usable ones, else ONNX Runtime (GPU if available)."

# Optional dependency -> the extra that installs it.
EXTRA_OF_MODULE = {
    "torch": "train",
    "safetensors": "train",
    "onnx": "export",
    "onnxscript": "export",
    "onnxruntime": "runtime",
    "tensorrt": "tensorrt",
    "cuda": "tensorrt",
    "openvino": "openvino",
}


def missing_dependency(command: str, exc: ModuleNotFoundError) -> Exception:
    """A one-line install hint for a missing optional dependency; other import errors pass through."""
    missing = (exc.name or "?").split(".")[0]
    if missing not in EXTRA_OF_MODULE:
        return exc
    needed = EXTRA_OF_MODULE[missing]
    hint = f"pip install 'sean-deploy[{needed}]'"
    if missing == "onnxruntime":
        hint += " (or [runtime-gpu] on a GPU machine; never both)"
    return click.ClickException(f"`sean {command}` needs {missing}, which is not installed: {hint}")


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
