"""`sean export` and `sean build-engine`: thin click wrappers; the work happens in package / tensorrt_build."""

from __future__ import annotations

import json
from pathlib import Path

import click

from sean_core.checkpoint_files import resolve_model_dir
from sean_core.command import MODEL_FOLDER, PACKAGE, Amount, Count, SeanCommand
from sean_core.format import MANIFEST_FILE, is_package
from sean_core.forms import EDGE_WINDOW_MAX_PIXELS, EXPORT_EDGES, EXPORT_FORMS
from sean_core.interrupts import stopped, stopped_cleanly, stopped_saying
from sean_export.opsets import DEFAULT_OPSET, SUPPORTED_OPSETS
from sean_export.tensorrt_build import DEFAULT_MAX_BATCH, DEFAULT_OPT_BATCH, DEFAULT_WORKSPACE_GIB
from sean_train.commands import no_verify_option, which_option

EDGE_WINDOW_SIDE = int(EDGE_WINDOW_MAX_PIXELS**0.5)


def _size(path: Path) -> str:
    size = path.stat().st_size
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return ""


def _format_figure(key: str, value: float) -> str:
    return f"{key} = {value:.1f}" if key.endswith("_db") else f"{key} = {value:.3g}"


@click.command("export", cls=SeanCommand)
@click.argument("path", type=MODEL_FOLDER)
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="Package folder to write (an earlier package there is replaced).",
)
@click.option(
    "--precision",
    type=click.Choice(["fp32", "fp16"]),
    default="fp32",
    show_default=True,
    help="fp16: mixed-precision graphs (fp16 convs and weights, fp32 norms and pooling) for TensorRT.",
)
@click.option(
    "--opset",
    type=click.IntRange(SUPPORTED_OPSETS.start, SUPPORTED_OPSETS.stop - 1),
    default=DEFAULT_OPSET,
    show_default=True,
    help="ONNX opset of the graphs.",
)
@click.option(
    "--exporter",
    type=click.Choice(["torchscript", "dynamo"]),
    default="torchscript",
    show_default=True,
    help="torch.onnx path: torchscript exports much faster; dynamo gives a graph without Shape ops.",
)
@click.option(
    "--form",
    type=click.Choice(EXPORT_FORMS),
    default="auto",
    show_default=True,
    help="Generator graph. regions: the SEAN layers' products only at region edges, for ONNX Runtime / "
    "OpenVINO / C++ on a CPU (faster where regions are large, as in a face mask; slower on a map of all "
    "edges; docs/performance.md); not TensorRT, fp32 only. "
    "dense: the static graph every backend takes (TensorRT). auto: regions for fp32 where a layer of the "
    "model takes it (128x128 maps and up, or many classes), else dense.",
)
@click.option(
    "--edges",
    type=click.Choice(EXPORT_EDGES),
    default="auto",
    show_default=True,
    help="How the region form computes its rows at region edges. windows: one product per distinct "
    "window, more multiply-adds and less memory traffic: faster on bf16 matrix units (OpenVINO bf16 on "
    "AMX), slower in fp32. rows: one product per activation row and tap, then nine-row sums. auto: "
    f"windows on maps up to {EDGE_WINDOW_SIDE}x{EDGE_WINDOW_SIDE}, rows on larger ones (docs/performance.md).",
)
@which_option("export")
# --which is the spelling of eval, inspect and publish; --best, export's own earlier one, still works
@click.option("--best", is_flag=True, hidden=True, help="The same as --which best.")
@click.option("--no-validate", is_flag=True, help="Skip the ONNX Runtime comparisons (structural checks still run).")
@no_verify_option
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def export(
    path: Path,
    out: Path,
    precision: str,
    opset: int,
    exporter: str,
    form: str,
    edges: str,
    which: str,
    best: bool,
    no_validate: bool,
    no_verify: bool,
    quiet: bool,
) -> None:
    """Export a model to a validated ONNX package.

    PATH is a run folder of `sean train` (its latest checkpoint, or the best one with --which best), a model
    checkpoint folder (config.json + model.safetensors), or the name of a shipped model (landscapes, shapes).
    Writes encoder.onnx, generator.onnx (weights in *.onnx.data when large) and manifest.json; fp32
    packages of models with 128x128 maps or many classes get the region-form generator, for the CPU
    backends (--form dense for TensorRT). Each graph passes onnx.checker and the TensorRT operator
    check, and runs in ONNX Runtime against PyTorch on fresh inputs (batch 1 and 3, max abs error
    <= 1e-4) before the package is moved into place.

    \b
    Examples:
      sean export runs/shapes -o packages/shapes
      sean export runs/faces --which best -o packages/faces-fp16 --precision fp16
      sean export shapes -o packages/shapes
      sean export runs/faces -o packages/faces-trt --form dense
      sean export runs/faces -o packages/faces-amx --edges windows
    """
    from sean_export.package import export_package

    checkpoint = resolve_model_dir(path, "best" if best else which)
    if checkpoint != path:
        click.echo(f"exporting {checkpoint}", err=True)
    earlier = earlier_source(out)
    with stopped_cleanly("export", "package", out):
        package = export_package(
            checkpoint, out, precision, opset, validate=not no_validate, progress=not quiet, exporter=exporter,
            verify=not no_verify, form=form, edges=edges,
        )
    manifest = json.loads((package / MANIFEST_FILE).read_text(encoding="utf-8"))
    size = f"{manifest['height']}x{manifest['width']}"
    click.echo(f"wrote {package} ({precision}, {manifest['generator_form']} generator, opset {opset}, {size})")
    if earlier is not None:
        same = earlier.get("sha256") == manifest["source_checkpoint"]["sha256"]
        source = " of the same checkpoint" if same else f" of {earlier['path']}" if earlier.get("path") else ""
        click.echo(f"  replaced an earlier package{source}")
    for name in sorted(manifest["files"]):
        click.echo(f"  {name:<22} {_size(package / name):>10}")
    for graph, figures in manifest["validation"].items():
        if figures:
            click.echo(f"  {graph:<10} " + ", ".join(_format_figure(k, v) for k, v in figures.items()))
        else:
            click.echo(f"  {graph:<10} not validated (--no-validate)")


def earlier_source(out: Path) -> dict | None:
    """The source_checkpoint {path, sha256} of the package that an export to `out` replaces, {} where its
    manifest does not say, None where there is none: an export replaces it without --force, so it says so."""
    if not is_package(out):
        return None
    try:
        source = json.loads((out / MANIFEST_FILE).read_text(encoding="utf-8")).get("source_checkpoint")
    except (OSError, ValueError, AttributeError):
        return {}
    return source if isinstance(source, dict) else {}


@click.command("build-engine", cls=SeanCommand)
@click.argument("package", type=PACKAGE)
@click.option(
    "--max-batch", type=Count(1, 4096), default=DEFAULT_MAX_BATCH, show_default=True, help="Largest batch."
)
@click.option(
    "--opt-batch",
    type=Count(1, 4096),
    default=DEFAULT_OPT_BATCH,
    show_default=True,
    help="Batch the kernels are tuned for (clipped to --max-batch).",
)
@click.option(
    "--timing-cache",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Timing cache file, read if present and saved after the build [default: per TensorRT version and GPU "
    "under ~/.cache/sean/tensorrt].",
)
@click.option(
    "--workspace-gib",
    type=Amount(0.25, 1024),
    default=DEFAULT_WORKSPACE_GIB,
    show_default=True,
    help="Builder memory-pool limit in GiB.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def build_engine(
    package: Path, max_batch: int, opt_batch: int, timing_cache: Path | None, workspace_gib: float, quiet: bool
) -> None:
    """Build TensorRT engines (encoder.plan, generator.plan) for a package, on this machine's GPU.

    The plans are raw TensorRT plans with a sidecar JSON each (TensorRT version, GPU, precision,
    batch profile, sha256 of the ONNX graph, build settings). They run only with this TensorRT version,
    on GPUs of this compute capability (TensorRT 10.9+; before, on this GPU model only). fp32 layers
    compute in fp32 (TF32 off), and each image's output is independent of its batch (TensorRT 10.13+).

    \b
    Example:
      sean build-engine packages/faces-fp16 --max-batch 16 --timing-cache faces.timing-cache
    """
    from sean_export.tensorrt_build import build_engines

    written: list[Path] = []

    def stopped_line() -> str:
        # each plan is replaced whole (atomic_write_bytes), but the stop may come before its sidecar is: only
        # a run to the end leaves plans and sidecars that match, hence "run it again"
        names = " and ".join(plan.name for plan in written)
        left = f"{package} holds the new {names}: run it again to build both" if written else (
            f"nothing was written to {package}")
        return f"{stopped('build-engine')} before the engines were complete; {left}"

    with stopped_saying(stopped_line):
        plans = build_engines(package, max_batch, opt_batch, timing_cache, workspace_gib, progress=not quiet,
                              written=written)
    for plan in plans:
        click.echo(f"wrote {plan} ({_size(plan)}) and {plan.name}.json")
