"""`sean publish`: a trained model as a folder to share or ship: config.json + model.safetensors + a
README.md model card, without the optimizer state of the run; the weights keep the precision they are
stored in unless --weights says (fp16: half the file; loading casts them back)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click
import torch

from sean_core.checkpoint_files import CARD_FILE, WEIGHTS_FILE, resolve_model_dir, weights_precision
from sean_core.command import MODEL_FOLDER, SeanCommand
from sean_core.files import atomic_write_text, building_folder
from sean_core.interrupts import stopped_cleanly
from sean_train.checkpoint import CheckpointError, load_checkpoint, read_config, save_checkpoint
from sean_train.commands import check_model_destination, no_verify_option, which_option
from sean_train.commands.inspect_model import model_facts
from sean_train.model_card import model_card

WEIGHT_DTYPES = {"fp32": torch.float32, "fp16": torch.float16}


def stored_weights(source: Path) -> str:
    """The WEIGHT_DTYPES key that keeps `source`'s weights as they are stored: fp16 stays fp16 (fp32 would double
    the file and add no precision), anything else is fp32, which holds it exactly (bf16) or as loading does."""
    return "fp16" if weights_precision(source) == "fp16" else "fp32"


def publish_checkpoint(
    source: Path, out: Path, weights: str | None = None, verify: bool = True,
    check: Callable[[], None] | None = None,
) -> Path:
    """Write the model of checkpoint folder `source` to the new folder `out` (replaced atomically when it
    exists) with its model card, its weights stored as `weights` (a WEIGHT_DTYPES key; None: as source
    stores them, stored_weights); the config keeps source's "extra" (training step and config). check() runs
    again just before `out` is replaced (building_folder), to refuse a destination that changed during the
    work. Returns `out`."""
    model = load_checkpoint(source, verify_hash=verify)
    _, meta = read_config(source)
    weights = weights or stored_weights(source)
    dtype = WEIGHT_DTYPES[weights]
    overflow = sorted(
        name for name, value in model.state_dict().items()
        if value.is_floating_point() and not torch.isfinite(value.to(dtype)).all()
    )
    if overflow:
        raise CheckpointError(
            f"{source}: {len(overflow)} tensor(s) exceed the {weights} range ({', '.join(overflow[:5])}); "
            f"publish with --weights fp32"
        )
    with building_folder(out, check) as build:
        save_checkpoint(model, build, extra=meta.get("extra"), weights_dtype=dtype)
        # the card's facts are those of the folder as written (its precision and size), as `sean inspect` gives them
        atomic_write_text(build / CARD_FILE, model_card(model_facts(build, model), out.resolve().name))
    return out


@click.command(cls=SeanCommand)
@click.argument("path", type=MODEL_FOLDER)
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path),
              help="The folder to write (config.json + model.safetensors + a README.md model card).")
@click.option("--weights", type=click.Choice(list(WEIGHT_DTYPES)), default=None,
              help="How the weights are stored [default: as the checkpoint stores them: fp16 stays fp16, a "
              "training run's fp32 stays fp32]: fp16 halves the file, and loading casts them back to fp32 "
              "(outputs differ from the fp32 file's by fp16 rounding of the weights).")
@which_option("publish")
@click.option("--force", is_flag=True, help="Replace OUT when it is an earlier published model (never the checkpoint "
              "published or a folder that holds it).")
@no_verify_option
def publish(path: Path, out: Path, weights: str | None, which: str, force: bool, no_verify: bool) -> None:
    """Write a checkpoint's model to a folder to share or ship, without the run's optimizer state, with a
    README.md model card (domain, classes, resolution, parameters, weights, training step and settings, the
    commands that use it).

    PATH is a checkpoint folder or a run folder (its latest or best checkpoint). The result is a plain
    checkpoint: `sean export`, `sean eval` and `sean demo --checkpoint` read it.

    \b
    Example:
      sean publish runs/shapes -o models/my-shapes --weights fp16
    """
    source = resolve_model_dir(path, which)
    weights = weights or stored_weights(source)
    check_model_destination(out, [source], force)
    with stopped_cleanly("publish", "model folder", out):
        publish_checkpoint(
            source, out, weights, verify=not no_verify, check=lambda: check_model_destination(out, [source], force)
        )
    size = (out / WEIGHTS_FILE).stat().st_size
    click.echo(f"wrote {out} ({size / 1e6:.1f} MB of {weights} weights, {CARD_FILE}) from {source}")
