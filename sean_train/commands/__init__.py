"""Click commands of the `sean` CLI that need torch (listed in sean_train/subcommands.py), and what they share."""

from collections.abc import Callable, Iterable
from pathlib import Path

import click

from sean_core.checkpoint_files import CARD_FILE, CONFIG_FILE, WEIGHTS_FILE, is_model_card
from sean_core.command import check_output
from sean_core.files import foreign_folder_problem

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


def model_files(folder: Path) -> set[str]:
    """The names in `folder` but sean eval's results, which, written beside the model they measured, belong
    to the model folder they are in, and the model card of `sean publish` (a hand-written README.md counts:
    replacing the folder would delete it)."""
    return {entry.name for entry in folder.iterdir()
            if not is_eval_file(entry.name) and not (entry.name == CARD_FILE and is_model_card(entry))}


def model_folder_difference(folder: Path) -> str:
    """What keeps `folder` from being a model folder: the files it holds besides MODEL_FILES, else those it lacks."""
    held = model_files(folder)
    extra = sorted(held - MODEL_FILES)
    return f"holds {', '.join(extra)}" if extra else f"lacks {', '.join(sorted(MODEL_FILES - held))}"


def check_model_destination(out: Path, inputs: Iterable[Path], force: bool) -> None:
    """-o of a command that writes a model folder (publish, convert-official), before the work: never one of
    `inputs`, a folder that holds one or one inside one, whatever --force says, since replacing -o deletes
    it; an existing folder only with --force, and only an empty one or an earlier model folder (MODEL_FILES,
    the model card of `sean publish` and the eval_*.json of `sean eval` alone, not a training checkpoint,
    which holds its optimizer state too): --force is for replacing an earlier result, not for emptying
    whatever folder -o happens to name."""
    inputs = list(inputs)
    check_output(out, "-o", inputs, True, folder=True)  # what even --force never allows, first
    problem = foreign_folder_problem(
        out, lambda folder: model_files(folder) == MODEL_FILES,
        f"an earlier model folder ({' + '.join(sorted(MODEL_FILES))}, and the {CARD_FILE} of `sean publish` "
        f"and the {eval_file('*')} of `sean eval`, alone)", differs=model_folder_difference,
    )
    if problem is not None:
        raise click.UsageError(f"-o {problem}")
    check_output(out, "-o", inputs, force, folder=True)
