"""`sean export-triton`: a Triton Inference Server model repository from a package (docs/triton.md)."""

from __future__ import annotations

from pathlib import Path

import click
import tritonclient.grpc  # noqa: F401 (the `triton` extra: every config is checked with its model_config_pb2)

from sean_core.command import PACKAGE, Count, SeanCommand
from sean_core.interrupts import stopped_cleanly
from sean_runtime.backends import PRECISION_HINTS
from sean_runtime.commands import PRECISION_HELP
from sean_runtime.triton.interface import BACKENDS, DEFAULT_NAME, ModelNames
from sean_runtime.triton.repository import export_repository
from sean_runtime.triton.settings import RepositorySettings


@click.command(cls=SeanCommand)
@click.argument("package", type=PACKAGE)
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path), help="The repository folder to write.")
@click.option("--backend", type=click.Choice(BACKENDS), default="python", show_default=True,
              help="What runs the graphs: python (the SEAN runtime on the CPU, runs anywhere, `sean triton`), "
              "onnxruntime or tensorrt (Triton's own backends on a GPU, in NVIDIA's container).")
@click.option("--precision", type=click.Choice(PRECISION_HINTS), default="f32", show_default=True,
              help="python backend: " + PRECISION_HELP)
@click.option("--max-batch", type=Count(1, 256), default=8, show_default=True,
              help="max_batch_size of every model (dynamic batching up to it).")
@click.option("--instances", type=Count(1, 64), default=1, show_default=True, help="Instances of every model.")
@click.option("--max-queue-delay-us", type=Count(0, 10_000_000), default=2000, show_default=True,
              help="How long dynamic batching waits for more requests.")
@click.option("--name", default=DEFAULT_NAME, show_default=True,
              help="The model clients call; the others are NAME_encoder, NAME_generator, NAME_noise, NAME_reconstruct.")
@click.option("--plans-from", "plans_from", multiple=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="tensorrt: another copy of PACKAGE with engines built on another GPU (repeatable): the "
              "repository then names one plan per compute capability (cc_model_filenames).")
def export_triton(
    package: Path, out: Path, backend: str, precision: str, max_batch: int, instances: int, max_queue_delay_us: int,
    name: str, plans_from: tuple[Path, ...],
) -> None:
    """Write a Triton model repository for a package, with a README for NVIDIA's container and Kubernetes.

    Every config.pbtxt is parsed back with tritonclient's model_config_pb2 and its tensors are checked
    against the manifest (and, for onnxruntime, the graphs) before the folder is moved into place.

    \b
    Examples (packages/shapes from `sean export shapes -o packages/shapes`):
      sean export-triton packages/shapes -o models/triton
      sean export-triton packages/shapes -o models/triton-gpu --backend onnxruntime --max-batch 16 --instances 2
      sean export-triton packages/shapes -o models/triton-bf16 --precision bf16
      sean triton models/triton --port 8000
    """
    settings = RepositorySettings(backend=backend, max_batch=max_batch, instances=instances,
                              max_queue_delay_us=max_queue_delay_us, name=name, plans_from=plans_from,
                              precision=precision)
    with stopped_cleanly("export-triton", "repository", out):
        export_repository(package, out, settings)
    names = ModelNames.of(name)
    click.echo(f"wrote {out}: models {', '.join(names.all())} ({backend} backend); see {out / 'README.md'}")
