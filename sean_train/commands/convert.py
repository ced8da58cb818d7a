"""`sean convert-official`: the official released generator -> our checkpoint folder."""

from __future__ import annotations

import time
from pathlib import Path

import click

from sean_core.command import Count, SeanCommand
from sean_core.files import building_folder
from sean_core.interrupts import stopped_cleanly
from sean_train.checkpoint import save_checkpoint
from sean_train.commands import check_model_destination


@click.command("convert-official", cls=SeanCommand)
@click.argument("pth", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="The model folder to write (config.json + model.safetensors).")
@click.option("--domain", default="faces", show_default=True, help="Domain plugin the model was trained for.")
@click.option("--height", default=256, show_default=True, type=Count(32, 4096), help="Output height.")
@click.option("--width", default=256, show_default=True, type=Count(32, 4096), help="Output width.")
@click.option("--layout", default="normal", show_default=True, type=click.Choice(["normal", "more"]))
@click.option("--force", is_flag=True, help="Replace OUT when it is an earlier model folder (config.json + "
              "model.safetensors, and the eval_*.json of `sean eval`, alone; never a training checkpoint).")
def convert_official(pth: str, out_dir: Path, domain: str, height: int, width: int, layout: str, force: bool) -> None:
    """Convert the official SEAN latest_net_G.pth into a self-describing checkpoint.

    Spectral norm is folded with the stored u, v; the per-class layers are stacked; every key of the
    file is consumed and every shape checked.

    \b
    Example:
      sean convert-official checkpoints/CelebA-HQ_pretrained/latest_net_G.pth -o models/celebahq
    """
    from sean_core.domains import get_domain
    from sean_train.convert_official import convert_official as convert

    check_model_destination(out_dir, [Path(pth)], force)
    start = time.perf_counter()
    class_names = get_domain(domain).class_names
    with stopped_cleanly("convert-official", "model folder", out_dir):
        model = convert(pth, height=height, width=width, layout=layout, domain=domain, class_names=class_names)
        # both files replaced at once: a kill never leaves new weights beside the old config
        with building_folder(out_dir, check=lambda: check_model_destination(out_dir, [Path(pth)], force)) as build:
            save_checkpoint(model, build, extra={"converted_from": str(pth)})
    cfg = model.config
    params = sum(p.numel() for p in model.parameters())
    click.echo(
        f"converted {pth} -> {out_dir}: {cfg.num_classes} classes, style {cfg.style_dim}, ngf {cfg.ngf}, "
        f"{cfg.width}x{cfg.height}, {params:,} parameters in {time.perf_counter() - start:.1f}s"
    )
