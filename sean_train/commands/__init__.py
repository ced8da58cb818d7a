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


def eval_file(split: str) -> str:
    """The result file `sean eval` writes beside the model it measured (no --json)."""
    return f"eval_{split}.json"


def is_eval_file(name: str) -> bool:
    return name.startswith(eval_file("")[:-len(".json")]) and name.endswith(".json")


def check_model_destination(out: Path, inputs: Iterable[Path], force: bool) -> None:
    """-o of a command that writes a model folder (publish, convert-official), before the work: never one of
    `inputs`, a folder that holds one or one inside one, whatever --force says, since replacing -o deletes
    it; an existing folder only with --force, and only an empty one or an earlier model folder (MODEL_FILES
    and the eval_*.json of `sean eval` alone, not a training checkpoint, which holds its optimizer state
    too): --force is for replacing an earlier result, not for emptying whatever folder -o happens to name."""
    inputs = list(inputs)
    check_output(out, "-o", inputs, True, folder=True)  # what even --force never allows, first
    # sean eval's results, written beside the model it measured, belong to the model folder they replace
    entries = {entry.name for entry in out.iterdir()} if out.is_dir() else set()
    held = {name for name in entries if not is_eval_file(name)}
    if entries and held != MODEL_FILES:
        extra = sorted(held - MODEL_FILES)
        what = f"holds {', '.join(extra)}" if extra else f"lacks {', '.join(sorted(MODEL_FILES - held))}"
        raise click.UsageError(
            f"-o {out} {what}: it is not an earlier model folder ({' + '.join(sorted(MODEL_FILES))}, and the "
            f"{eval_file('*')} of `sean eval`, alone), so it is not replaced; choose another -o folder or remove it"
        )
    check_output(out, "-o", inputs, force, folder=True)
