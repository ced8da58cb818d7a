"""`sean train`: start or resume a training run (one process, or several through torchrun)."""

from __future__ import annotations

import json
from pathlib import Path

import click
import torch

from sean_runtime.commands import SeanCommand
from sean_runtime.files import atomic_write_json
from sean_train.distributed import cleanup, from_environment
from sean_train.train_config import VGG_WEIGHTS_ENV, RunConfig, bind_domain, load_run_config

RUN_FILE = "run.json"


def check_vgg_weights(config: RunConfig) -> None:
    """Stop at start-up, before any work, when the perceptual loss has no weights file."""
    tc = config.train
    if tc.lambda_vgg <= 0:
        return
    path = tc.resolve_vgg_weights()
    if path is None or not path.is_file():
        where = f"{path} does not exist" if path else "no VGG19 weights file is configured"
        raise click.ClickException(
            f"lambda_vgg is {tc.lambda_vgg} but {where}. The perceptual loss needs torchvision's ImageNet "
            f"VGG19 weights (e.g. vgg19-dcbb9e9d.pth, .pth or .safetensors; nothing is downloaded): set "
            f"train.vgg_weights in the config or the environment variable {VGG_WEIGHTS_ENV}=/path/to/file, "
            f"or set train.lambda_vgg: 0 to train without it."
        )


def read_run(run_dir: Path) -> tuple[RunConfig, str | None]:
    path = run_dir / RUN_FILE
    if not path.is_file():
        raise click.ClickException(f"{run_dir} is not a run folder ({RUN_FILE} is missing); start one with --config")
    meta = json.loads(path.read_text(encoding="utf-8"))
    return RunConfig.from_dict(meta["config"], source=str(path)), meta.get("data")


@click.command(cls=SeanCommand)
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Run YAML file, or a shipped config by name: shapes, faces, ade20k, cityscapes.")
@click.option("--data", type=click.Path(exists=True, file_okay=False),
              help="Dataset folder in the domain's layout (not needed for the synthetic `shapes` domain).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="New run folder, e.g. runs/NAME.")
@click.option("--resume", "resume_dir", type=click.Path(exists=True, file_okay=False),
              help="Continue this run folder from its latest checkpoint.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads per process.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train(config_path, data, out_dir, resume_dir, device, threads, quiet) -> None:
    """Train a SEAN model; a run killed at any moment continues exactly with --resume.

    \b
    Examples:
      sean train --config shapes --out runs/shapes
      sean train --resume runs/shapes
      sean train --config faces --data ~/data/faces --out runs/faces
      torchrun --nproc_per_node 2 -m sean_train.commands.train --config shapes --out runs/ddp
    """
    from sean_train.state import latest_checkpoint
    from sean_train.trainer import Trainer

    if threads:
        torch.set_num_threads(threads)
    if bool(resume_dir) == bool(config_path):
        raise click.UsageError("give either --config (with --out) to start a run, or --resume RUN_DIR")
    info = from_environment()
    if resume_dir:
        run_dir = Path(resume_dir)
        config, recorded_data = read_run(run_dir)
        data = data or recorded_data
    else:
        if not out_dir:
            raise click.UsageError("--out is required with --config")
        run_dir = Path(out_dir)
        config = load_run_config(config_path)
    config, domain = bind_domain(config)
    check_vgg_weights(config)
    if not resume_dir and info.is_main:
        if (run_dir / RUN_FILE).exists():
            raise click.ClickException(
                f"{run_dir} already holds a run: continue it with `sean train --resume {run_dir}` "
                f"or choose another --out"
            )
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(run_dir / RUN_FILE, {
            "config": config.to_dict(),
            "data": str(Path(data).resolve()) if data else None,
            "config_file": str(config_path),
        })
    trainer = Trainer(run_dir, config, domain, data=data, device=device, progress=not quiet)
    checkpoint = latest_checkpoint(run_dir) if resume_dir else None
    if checkpoint is not None:
        trainer.resume(checkpoint)
    if info.is_main:
        start = f"resuming at step {trainer.step}" if checkpoint else "starting"
        click.echo(
            f"{run_dir}: {start}; {trainer.total_steps} steps ({trainer.order.steps_per_epoch} per epoch), "
            f"batch {config.train.batch_size} over {info.world_size} process(es) on {trainer.device}",
            err=True,
        )
    step = trainer.run()
    cleanup(info)
    if info.is_main:
        final = latest_checkpoint(run_dir)
        if step < trainer.total_steps:
            click.echo(f"stopped at step {step}; continue with: sean train --resume {run_dir}", err=True)
        else:
            click.echo(f"done: {step} steps; model checkpoint {final}; evaluate with: sean eval {run_dir}", err=True)


if __name__ == "__main__":
    train(prog_name="sean train")
