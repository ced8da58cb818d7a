"""Click commands of the `sean` CLI that need torch (listed in sean_train/subcommands.py), and what they share."""

from collections.abc import Callable, Iterable
from pathlib import Path

import click

from sean_core.checkpoint_files import CONFIG_FILE, WEIGHTS_FILE
from sean_core.command import check_output

# --no-verify of the commands that load checkpoint weights (export, eval).
no_verify_option = click.option(
    "--no-verify", is_flag=True,
    help="Load weights whose sha256 cannot be checked (a config.json without one). Only for trusted files.",
)


def which_option(action: str) -> Callable:
    """--which of every command that takes a run folder (eval, inspect, publish, export): one spelling for all."""
    return click.option(
        "--which", type=click.Choice(["latest", "best"]), default="latest", show_default=True,
        help=f"Checkpoint of a run folder to {action}.",
    )


MODEL_FILES = {CONFIG_FILE, WEIGHTS_FILE}  # all that a model folder of publish or convert-official holds


def check_model_destination(out: Path, inputs: Iterable[Path], force: bool) -> None:
    """-o of a command that writes a model folder (publish, convert-official), before the work: never one of
    `inputs`, a folder that holds one or one inside one, whatever --force says, since replacing -o deletes
    it; an existing folder only with --force, and only an empty one or an earlier model folder (MODEL_FILES
    alone, not a training checkpoint, which holds its optimizer state too): --force is for replacing an
    earlier result, not for emptying whatever folder -o happens to name."""
    inputs = list(inputs)
    check_output(out, "-o", inputs, True, folder=True)  # what even --force never allows, first
    held = {entry.name for entry in out.iterdir()} if out.is_dir() else set()
    if held and held != MODEL_FILES:
        raise click.UsageError(
            f"-o {out} holds {', '.join(sorted(held - MODEL_FILES) or sorted(MODEL_FILES - held))}: it is not an "
            f"earlier model folder ({' + '.join(sorted(MODEL_FILES))} alone), so it is not replaced; choose "
            f"another -o folder or remove it"
        )
    check_output(out, "-o", inputs, force, folder=True)
