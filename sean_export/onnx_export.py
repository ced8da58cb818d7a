"""torch module -> ONNX ModelProto (TorchScript or dynamo exporter); saving with or without external data."""

from __future__ import annotations

import contextlib
import io
import logging
import math
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import onnx
import torch
from torch import Tensor, nn

from sean_core.errors import SeanError
from sean_core.format import BATCH, GraphSpec, external_data_file
from sean_export.opsets import DEFAULT_OPSET, SUPPORTED_OPSETS

# Weights go to `<graph>.onnx.data` beside the graph above this many bytes of initializers. Protobuf
# cannot hold more than 2 GiB; 256 MiB keeps every full-size graph (fp32 ~1.07 GB, fp16 ~0.53 GB) on
# the same layout, while the small models stay a single file.
EXTERNAL_DATA_THRESHOLD = 256 * 2**20


class ExportError(SeanError, RuntimeError):
    """torch could not export a graph, or the exported graph does not have the package interface."""


EXPORTERS = ("torchscript", "dynamo")


def export_to_onnx(
    module: nn.Module, spec: GraphSpec, example: Sequence[Tensor], opset: int, exporter: str = "torchscript"
) -> onnx.ModelProto:
    """Export `module` (forward arguments named as spec.inputs) with a dynamic batch axis.

    exporter "torchscript" (default): the tracing exporter, the faster of the two on this model; the
    batch size reaches the reshapes through Shape/Gather on the batch axis only. "dynamo": torch.export +
    the ONNX optimizer, a fully static graph apart from the batch axis, but slow on this model (hundreds
    of small ops).
    """
    if opset not in SUPPORTED_OPSETS:
        raise ExportError(
            f"opset {opset} is not supported: the exporter needs >= {SUPPORTED_OPSETS.start} and TensorRT 10 "
            f"parses up to {SUPPORTED_OPSETS.stop - 1}; use --opset {DEFAULT_OPSET}"
        )
    if exporter not in EXPORTERS:
        raise ExportError(f"unknown exporter {exporter!r}; choose one of {EXPORTERS}")
    log = io.StringIO()
    # The exporters print progress to stdout and log that torchvision ops are skipped; keep their
    # output for the error message only.
    registration_log = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration_log.level
    registration_log.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(log), warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            if exporter == "dynamo":
                proto = _export_dynamo(module, spec, example, opset)
            else:
                proto = _export_torchscript(module, spec, example, opset)
    except Exception as exc:
        output = log.getvalue()[-2000:]
        raise ExportError(f"torch.onnx.export failed for the {spec.name} graph: {exc}\n{output}") from exc
    finally:
        registration_log.setLevel(level)
    return proto


def _export_torchscript(module: nn.Module, spec: GraphSpec, example: Sequence[Tensor], opset: int) -> onnx.ModelProto:
    # Through a file, not a buffer: a graph over protobuf's 2 GiB limit (e.g. 151 classes: 16 per-class
    # style FCs of 151 x 512 x 512 weights) can only be written with its weights as external data.
    with tempfile.TemporaryDirectory(prefix="sean-export-") as folder:
        path = Path(folder) / f"{spec.name}.onnx"
        torch.onnx.export(
            module,
            tuple(example),
            str(path),
            dynamo=False,
            input_names=spec.input_names,
            output_names=spec.output_names,
            dynamic_axes={name: {0: BATCH} for name in (*spec.input_names, *spec.output_names)},
            opset_version=opset,
            do_constant_folding=True,
        )
        proto = onnx.load(str(path))  # weights read into memory, whichever way they were written
    _declare_io_shapes(proto, spec)
    return proto


def _declare_io_shapes(proto: onnx.ModelProto, spec: GraphSpec) -> None:
    """Write the spec's shapes on the graph inputs and outputs.

    The tracing exporter leaves symbolic names on output dims it cannot infer through the
    batch-dependent reshapes; every dim but the batch is static by construction (and validated).
    """
    declared = {tensor.name: tensor.shape for tensor in (*spec.inputs, *spec.outputs)}
    for value in (*proto.graph.input, *proto.graph.output):
        if value.name not in declared:
            continue
        dims = value.type.tensor_type.shape.dim
        del dims[:]
        for size in declared[value.name]:
            dim = dims.add()
            if size == BATCH:
                dim.dim_param = BATCH
            else:
                dim.dim_value = int(size)


def _export_dynamo(module: nn.Module, spec: GraphSpec, example: Sequence[Tensor], opset: int) -> onnx.ModelProto:
    batch = torch.export.Dim(BATCH, min=1)
    program = torch.onnx.export(
        module,
        tuple(example),
        dynamo=True,
        input_names=spec.input_names,
        output_names=spec.output_names,
        dynamic_shapes={name: {0: batch} for name in spec.input_names},
        opset_version=opset,
        optimize=True,
        verbose=False,
    )
    if program is None:
        raise ExportError(f"torch.onnx.export returned nothing for the {spec.name} graph")
    return program.model_proto


def set_metadata(model: onnx.ModelProto, metadata: dict[str, str]) -> None:
    """Replace the model's metadata_props with `metadata` (string keys and values)."""
    del model.metadata_props[:]
    for key, value in sorted(metadata.items()):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def initializer_bytes(model: onnx.ModelProto) -> int:
    """Bytes of weight data held by the model (in memory or referenced as external data)."""
    total = 0
    for tensor in model.graph.initializer:
        if tensor.HasField("raw_data") and tensor.raw_data:
            total += len(tensor.raw_data)
        elif tensor.data_location == onnx.TensorProto.EXTERNAL:
            total += int({e.key: e.value for e in tensor.external_data}.get("length", 0))
        else:
            total += onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize * math.prod(tensor.dims)
    return total


def save_onnx(model: onnx.ModelProto, path: str | Path) -> list[Path]:
    """Write the graph (and its weights as `<name>.data` when large). Returns the files written.

    The ModelProto must hold its weights in memory; with external data it is emptied by the save.
    """
    path = Path(path)
    data_path = path.with_name(external_data_file(path.stem))
    data_path.unlink(missing_ok=True)  # onnx appends to an existing data file
    external = initializer_bytes(model) > EXTERNAL_DATA_THRESHOLD
    onnx.save_model(
        model,
        str(path),
        save_as_external_data=external,
        all_tensors_to_one_file=True,
        location=data_path.name,
        size_threshold=1024,
    )
    return [path, data_path] if external else [path]

