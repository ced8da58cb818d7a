"""Checkpoint -> validated model package folder (docs/package-format.md), written atomically."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from sean_core.errors import FileWriteError, SeanError
from sean_core.files import (
    atomic_write_json,
    building_folder,
    foreign_folder_problem,
    output_problem,
    read_json,
    sha256_file,
)
from sean_core.format import FORMAT, GRAPH_NAMES, MANIFEST_FILE, PRECISIONS, GraphSpec, graph_file
from sean_core.forms import EXPORT_EDGES, EXPORT_FORMS, package_form, region_policy_text
from sean_core.progress import ProgressBar, progress_bar
from sean_export.fp16 import convert_to_mixed_fp16
from sean_export.graphs import check_exportable, graph_module, graph_spec
from sean_export.manifest import ExportSettings, build_manifest, graph_metadata, model_sections
from sean_export.onnx_export import ExportError, export_to_onnx, save_onnx, set_metadata
from sean_export.opsets import DEFAULT_OPSET
from sean_export.tensorrt_ops import check_tensorrt_ops
from sean_export.validate import (
    Reference,
    check_interface,
    check_model_file,
    compare_fp16,
    compare_with_references,
    random_inputs,
    torch_references,
)
from sean_train.checkpoint import WEIGHTS_FILE, load_checkpoint
from sean_train.config import ModelConfig
from sean_train.networks.inference import has_region_layers


def check_destination(out: Path, inputs: Iterable[Path] = ()) -> None:
    """`out` may be new, an empty folder, or an earlier package (replaced); anything else is refused, and so
    is a folder that is, holds or lies inside one of `inputs` (the checkpoint), which replacing it would
    delete or change (sean_core.files.output_problem)."""
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ExportError(f"cannot write {out}: {parent} is a file")
            break
    problem = output_problem(out, inputs, force=True, folder=True)
    if problem is not None:
        raise ExportError(f"-o {out} {problem}")
    if out.exists():
        if not out.is_dir():
            raise ExportError(f"{out} is a file; pass a folder for the package (-o PKG/)")
        problem = foreign_folder_problem(
            out, lambda folder: package_format(folder) == FORMAT,
            f"a SEAN package (no {MANIFEST_FILE} with format {FORMAT!r})",
        )
        if problem is not None:
            raise ExportError(problem)


def package_format(folder: Path) -> object:
    """The format its manifest names, None without a readable manifest."""
    try:
        manifest = read_json(folder / MANIFEST_FILE, ExportError, "")
    except ExportError:
        return None
    return manifest.get("format") if isinstance(manifest, dict) else None


def _example_inputs(spec: GraphSpec, config: ModelConfig) -> tuple[torch.Tensor, ...]:
    feeds = random_inputs(spec, config, 2, np.random.default_rng(0))
    return tuple(torch.from_numpy(feeds[name]) for name in spec.input_names)


FROM_MODEL = "PyTorch model"  # the export's first step: what the package needs of the training model
TO_ONNX = "torch -> ONNX"  # the first step of every graph's export


def step_description(graph: str, step: str) -> str:
    """The progress bar's name of a step of one graph's export."""
    return f"{graph}: {step}"


def export_graph(
    module: nn.Module,
    spec: GraphSpec,
    config: ModelConfig,
    folder: Path,
    settings: ExportSettings,
    checkpoint_sha256: str,
    references: list[Reference] | None,
    bar: ProgressBar,
) -> tuple[list[Path], dict[str, float]]:
    """Export `module` (graph_module's, of graph spec.name), check it and (given references, torch_references of
    the model) numerically validate it into `folder`.

    fp16: the fp32 graph is exported and validated first (in a work folder), then converted.
    Returns the files written and the validation figures.
    """
    name = spec.name
    regions = settings.generator_form == "regions"
    fp32_folder = folder if settings.precision == "fp32" else folder / ".fp32"
    fp32_path = fp32_folder / graph_file(name)

    bar.set_description(step_description(name, TO_ONNX))
    proto = export_to_onnx(module, spec, _example_inputs(spec, config), settings.opset, settings.exporter)
    del module  # the caller passes its only reference: the weights are not needed beside the graph
    set_metadata(proto, graph_metadata(config, name, settings.with_precision("fp32"), checkpoint_sha256))
    check_interface(proto, spec)
    check_tensorrt_ops(proto, name, data_dependent=regions)
    fp32_folder.mkdir(parents=True, exist_ok=True)
    files = save_onnx(proto, fp32_path)
    del proto
    check_model_file(fp32_path, name)
    bar.update()

    figures: dict[str, float] = {}
    bar.set_description(step_description(name, "ONNX Runtime vs PyTorch"))
    if references is not None:
        figures.update(compare_with_references(spec, fp32_path, references))
    bar.update()
    if settings.precision == "fp32":
        return files, figures

    bar.set_description(step_description(name, "fp16 graph"))
    mixed = convert_to_mixed_fp16(onnx.load(str(fp32_path)), name)
    set_metadata(mixed, graph_metadata(config, name, settings, checkpoint_sha256))
    check_interface(mixed, spec)
    check_tensorrt_ops(mixed, name)
    path = folder / graph_file(name)
    files = save_onnx(mixed, path)
    del mixed
    check_model_file(path, name)
    bar.update()

    bar.set_description(step_description(name, "fp16 vs fp32"))
    if references is not None:
        figures.update({f"fp16_{key}": value for key, value in compare_fp16(spec, config, fp32_path, path).items()})
    shutil.rmtree(fp32_folder)
    bar.update()
    return files, figures


def check_form(precision: str, form: str, edges: str = "auto") -> None:
    """The checks of a form (EXPORT_FORMS) and edge form ("auto" or EDGE_FORMS) that need no model: names
    they have, regions only in fp32, an edge form only where the generator may take the region form."""
    if form not in EXPORT_FORMS:
        raise ExportError(f"form must be one of {EXPORT_FORMS}, got {form!r}")
    if edges not in EXPORT_EDGES:
        raise ExportError(f"edges must be one of {EXPORT_EDGES}, got {edges!r}")
    if edges != "auto" and (form == "dense" or precision != "fp32"):
        raise ExportError(
            f"edges {edges!r} is for the region form, which dense and fp16 packages do not take; leave --edges out"
        )
    if form == "regions" and precision != "fp32":
        raise ExportError(
            "region-form packages are fp32 (for ONNX Runtime and OpenVINO); fp16 packages are dense, for TensorRT"
        )


def generator_form(config: ModelConfig, precision: str, form: str) -> str:
    """The generator form (sean_core.forms.GENERATOR_FORMS) a package of `config` at `precision` is written in,
    by the policy of sean_core.forms.package_form. "regions" on a model none of whose layers takes it is an
    error: the package would be dense but marked region form, and declined by TensorRT for nothing.
    """
    check_form(precision, form)
    takes_regions = has_region_layers(config)
    if form == "regions" and not takes_regions:
        raise ExportError(f"{no_region_layer(config)}; export it with --form dense or auto")
    return package_form(form, precision, takes_regions)


def no_region_layer(config: ModelConfig) -> str:
    """Why a model has no region-form package: none of its layers takes the region form."""
    return (f"no layer of this {config.height}x{config.width}, {config.num_classes}-class model takes the region "
            f"form ({region_policy_text()}, or with many classes)")


def export_package(
    checkpoint: str | Path,
    out: str | Path,
    precision: str = "fp32",
    opset: int = DEFAULT_OPSET,
    validate: bool = True,
    progress: bool = True,
    exporter: str = "torchscript",
    verify: bool = True,
    form: str = "auto",
    edges: str = "auto",
) -> Path:
    """Write the model package of a checkpoint folder to `out` and return `out`.

    verify: check the checkpoint's weights against the sha256 in its config.json (False: trust them).
    form: the generator's form, "dense", "regions" or "auto" (generator_form; manifest generator_form).
    The region form (networks.regions) computes the SEAN layers' products only at region edges, for the
    CPU backends; dense is the static graph that TensorRT and fp16 need. edges: how the region layers
    compute their edge rows, "auto" (by map size), "rows" or "windows" (sean_core.forms.EDGE_FORMS;
    docs/performance.md, "Edge rows").

    Every graph passes onnx.checker, the TensorRT operator check and the interface check; with
    validate=True it also runs in ONNX Runtime and matches PyTorch (fp32) or the fp32 graph (fp16).
    The package is built in a temporary folder beside `out` and renamed into place when complete.
    """
    checkpoint, out = Path(checkpoint), Path(out)
    if precision not in PRECISIONS:
        raise ExportError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    check_form(precision, form, edges)  # before the checkpoint is read
    check_destination(out, [checkpoint])
    model = load_checkpoint(checkpoint, verify_hash=verify)
    check_exportable(model.config)
    settings = ExportSettings(precision, opset, exporter, generator_form(model.config, precision, form), edges)
    if edges != "auto" and settings.generator_form != "regions":
        raise ExportError(
            f"edges {edges!r} is for the region form, and no layer of this {model.config.height}x"
            f"{model.config.width} model takes it, so its package is dense; leave --edges out"
        )
    checkpoint_sha256 = sha256_file(checkpoint / WEIGHTS_FILE)
    config = model.config
    specs = {name: graph_spec(config, name) for name in GRAPH_NAMES}
    steps_per_graph = 2 if precision == "fp32" else 4
    try:
        # check_destination again when moving in: another export may have finished meanwhile
        with building_folder(out, check=lambda: check_destination(out, [checkpoint])) as build:
            files: dict[str, list[Path]] = {}
            validation: dict[str, dict[str, float]] = {}
            first_step = f"{FROM_MODEL}: {'reference outputs, ' if validate else ''}folded generator"
            total = 1 + steps_per_graph * len(GRAPH_NAMES)
            with progress_bar(desc=first_step, total=total, disable=not progress, unit="step") as bar:
                references = {name: torch_references(model, specs[name]) if validate else None for name in specs}
                sections = model_sections(model)
                regions = settings.generator_form == "regions"
                modules = {
                    name: graph_module(model, name, inference=True, regions=regions, edges=settings.edge_form)
                    for name in GRAPH_NAMES
                }
                # All the package needs of the training model is above: releasing it before torch.onnx.export
                # spares its weights (1.07 GB at full size) beside the folded copy and the exporter's copies.
                del model
                bar.update()
                for name in GRAPH_NAMES:
                    # popped: export_graph holds the module's only reference and frees it once exported
                    files[name], validation[name] = export_graph(
                        modules.pop(name), specs[name], config, build, settings, checkpoint_sha256,
                        references[name], bar,
                    )
            manifest = build_manifest(
                config, sections, specs, files, settings, checkpoint.resolve(), checkpoint_sha256, validation
            )
            atomic_write_json(build / MANIFEST_FILE, manifest)
    except OSError as exc:  # a full or read-only file system while writing the graphs
        if isinstance(exc, SeanError):
            raise
        raise FileWriteError(f"cannot write the package {out}: {exc.strerror or exc}") from exc
    return out
