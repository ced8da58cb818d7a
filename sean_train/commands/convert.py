"""`sean convert-official`: the official released generator -> our checkpoint folder."""

from __future__ import annotations

import time

import click

from sean_core.command import Count, SeanCommand
from sean_train.checkpoint import save_checkpoint


@click.command("convert-official", cls=SeanCommand)
@click.argument("pth", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Checkpoint folder.")
@click.option("--domain", default="faces", show_default=True, help="Domain plugin the model was trained for.")
@click.option("--height", default=256, show_default=True, type=Count(32, 4096), help="Output height.")
@click.option("--width", default=256, show_default=True, type=Count(32, 4096), help="Output width.")
@click.option("--layout", default="normal", show_default=True, type=click.Choice(["normal", "more"]))
def convert_official(pth: str, out_dir: str, domain: str, height: int, width: int, layout: str) -> None:
    """Convert the official SEAN latest_net_G.pth into a self-describing checkpoint.

    Spectral norm is folded with the stored u, v; the per-class layers are stacked; every key of the
    file is consumed and every shape checked.

    \b
    Example:
      sean convert-official checkpoints/CelebA-HQ_pretrained/latest_net_G.pth -o models/celebahq
    """
    from sean_core.domains import get_domain
    from sean_train.convert_official import convert_official as convert

    start = time.perf_counter()
    class_names = get_domain(domain).class_names
    model = convert(pth, height=height, width=width, layout=layout, domain=domain, class_names=class_names)
    save_checkpoint(model, out_dir, extra={"converted_from": str(pth)})
    cfg = model.config
    params = sum(p.numel() for p in model.parameters())
    click.echo(
        f"converted {pth} -> {out_dir}: {cfg.num_classes} classes, style {cfg.style_dim}, ngf {cfg.ngf}, "
        f"{cfg.width}x{cfg.height}, {params:,} parameters in {time.perf_counter() - start:.1f}s"
    )
