"""`sean bf16-check`: how far bf16 inference would move a model's images from fp32, on any CPU.

Thin click wrapper around sean_tools.bf16.emulation (the numerics) and the model / data loaders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from sean_core.command import FORCE_HELP, MODEL_FOLDER, THREADS, Count, SeanCommand, check_output
from sean_core.files import atomic_write_json
from sean_core.text_table import format_table

MIN_BF16_PSNR_DB = 35.0  # the bf16 path's quality target (image against the fp32 image)


def passes(variant: dict[str, Any]) -> bool:
    """Every output finite and the worst image at least MIN_BF16_PSNR_DB from fp32."""
    return variant["all_finite"] and variant["worst_psnr_db"] >= MIN_BF16_PSNR_DB


def format_report(result: dict[str, Any]) -> str:
    header = ["variant", "cases", "worst PSNR dB", "median PSNR dB", "max|Δ| image", "max|Δ| codes",
              "worst rel. error", "finite"]
    rows = []
    for variant, row in result["variants"].items():
        rows.append([variant, str(len(row["cases"])), f"{row['worst_psnr_db']:.1f}", f"{row['median_psnr_db']:.1f}",
                     f"{row['image_max_abs']:.2e}", f"{row['codes_max_abs']:.2e}",
                     f"{row['worst_relative_error']:.2e}", "yes" if row["all_finite"] else "NO"])
    worst_cases = []
    for variant, row in result["variants"].items():
        case = min(row["cases"], key=lambda c: c["image_psnr_db"])
        worst_cases.append(f"{variant}: worst case is {case['case']!r} ({case['image_psnr_db']:.1f} dB)")
    return "\n".join([result["model"], "", format_table(header, rows), "", *worst_cases])


@click.command("bf16-check", cls=SeanCommand)
@click.argument("checkpoint", required=False, type=MODEL_FOLDER)
@click.option("--official-size", is_flag=True, help="A random official-size faces model (19 classes, 256²).")
@click.option("--data", type=click.Path(exists=True, file_okay=False),
              help="Dataset folder for real samples (the synthetic `shapes` domain draws its own).")
@click.option("--split", default="test", show_default=True, help="Split to take samples from.")
@click.option("--count", type=Count(0, 1000), default=8, show_default=True,
              help="Dataset samples (besides the synthetic masks, which are always checked).")
@click.option("--threads", type=THREADS, default=None, help="CPU threads.")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=Path("runs/bench"),
              show_default=True, help="Where --official-size keeps its random model.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the results here (a .json file, not inside CHECKPOINT or --data).")
@click.option("--force", is_flag=True, help=FORCE_HELP)
def bf16_check(
    checkpoint: Path | None,
    official_size: bool,
    data: str | None,
    split: str,
    count: int,
    threads: int | None,
    workdir: Path,
    json_out: Path | None,
    force: bool,
) -> None:
    """Image PSNR of bf16 against fp32 inference, emulated in PyTorch (any CPU, no bf16 units needed).

    Runs zero-noise reconstructions in fp32 and with bf16 numerics (operands of every convolution and
    matrix product rounded to bf16, fp32 accumulation, activations stored in bf16), once with every op
    in bf16 and once with the normalisation layers in fp32. Inputs: synthetic masks of every kind, plus
    dataset samples when the domain has them. A variant passes when every output is finite and its worst
    image is at least 35 dB from fp32; exits with 1 when no variant passes.

    \b
    Examples:
      sean bf16-check shapes
      sean bf16-check --official-size --json runs/bench/bf16-official.json
    """
    import torch

    from sean_core.domains import DomainError, get_domain
    from sean_tools.bench.inputs import official_size_checkpoint, official_size_checkpoint_dir
    from sean_tools.bf16.emulation import bf16_quality, dataset_cases, synthetic_cases
    from sean_train.checkpoint import load_checkpoint

    if official_size == (checkpoint is not None):
        raise click.UsageError("give a CHECKPOINT folder or --official-size (not both)")
    if json_out is not None:  # before the model is built and run
        official = official_size_checkpoint_dir(workdir) if official_size else None
        check_output(json_out, "--json", [checkpoint, official, data], force, suffixes=(".json",))
    if threads:
        torch.set_num_threads(threads)
    source = official_size_checkpoint(workdir) if official_size else checkpoint
    model = load_checkpoint(source)
    config = model.config
    cases = synthetic_cases(config)
    if count and config.domain:
        try:
            cases += dataset_cases(config, get_domain(config.domain), data, split, count)
        except (DomainError, ValueError) as exc:  # no such plugin, or a domain without data here
            click.echo(f"no dataset samples ({exc}); synthetic masks only", err=True)
    variants = bf16_quality(model, cases)
    described = "random official-size model" if official_size else str(source)
    result = {
        "model": f"{described}: {config.num_classes} classes, {config.height}x{config.width}, ngf {config.ngf}, "
        f"style_dim {config.style_dim}; {len(cases)} zero-noise reconstructions, bf16 emulated in PyTorch",
        "checkpoint": str(source),
        "variants": variants,
        "min_psnr_db": MIN_BF16_PSNR_DB,
    }
    click.echo(format_report(result))
    if json_out is not None:
        atomic_write_json(json_out, result, exclusive=not force)
        click.echo(f"wrote {json_out}", err=True)
    failed = [name for name, row in variants.items() if not passes(row)]
    if len(failed) == len(variants):
        raise click.ClickException(f"every bf16 variant is below {MIN_BF16_PSNR_DB:g} dB or not finite: keep fp32")
    for name in failed:
        click.echo(f"warning: {name} is below {MIN_BF16_PSNR_DB:g} dB or not finite", err=True)
