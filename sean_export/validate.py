"""Self-checks of an exported graph: ONNX checker, interface, and ONNX Runtime against a reference.

fp32 graphs are compared with PyTorch; fp16 graphs with the fp32 graphs they were made from. Inputs
are fresh random images, label maps made of blocks (so that some classes are absent) and noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from sean_core.errors import SeanError
from sean_core.format import GraphSpec
from sean_export.graphs import encoder_pool_size
from sean_export.onnx_types import tensor_types
from sean_train.config import ModelConfig
from sean_train.networks import SEANModel
from sean_train.networks.ops import one_hot

FP32_TOLERANCE = 1e-4  # max abs difference ONNX Runtime vs PyTorch, every output
VALIDATION_BATCHES = (1, 3)
MIN_FP16_PSNR_DB = 30.0  # fp16 image against the fp32 image, images in [-1, 1]
FP16_CODES_TOLERANCE = 1e-2  # max abs difference of the style codes (tanh features, |code| <= 1)

_NUMPY_DTYPES = {"float32": np.float32, "int32": np.int32}
_ONNX_DTYPES = {"float32": onnx.TensorProto.FLOAT, "int32": onnx.TensorProto.INT32}


class ValidationError(SeanError, RuntimeError):
    """An exported graph that fails a check; the package is not written."""


def check_model_file(path: str | Path, name: str) -> None:
    """onnx.checker with full type and shape inference (by path, so external data is fine)."""
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ValidationError(f"the {name} graph fails onnx.checker: {exc}") from exc


def check_interface(model: onnx.ModelProto, spec: GraphSpec) -> None:
    """The graph's inputs and outputs have exactly the names, element types and shapes of the spec."""

    def describe(infos) -> list[tuple[str, int, tuple]]:
        out = []
        for info in infos:
            tensor = info.type.tensor_type
            dims = tuple(d.dim_param if d.dim_param else d.dim_value for d in tensor.shape.dim)
            out.append((info.name, tensor.elem_type, dims))
        return out

    for kind, actual, expected in (
        ("inputs", describe(model.graph.input), spec.inputs),
        ("outputs", describe(model.graph.output), spec.outputs),
    ):
        wanted = [(t.name, _ONNX_DTYPES[t.dtype], tuple(t.shape)) for t in expected]
        if actual != wanted:
            raise ValidationError(f"the {spec.name} graph has {kind} {actual}, expected {wanted}")


def random_labels(rng: np.random.Generator, batch: int, config: ModelConfig, cell: int = 4) -> np.ndarray:
    """Label ids [B, H, W] int32: blocks drawn from a random subset of the classes, cell x cell pixels in
    even images and 4 cell x 4 cell in odd ones, so a batch has region interiors as well as edges (the
    region form, networks.regions, computes the two differently)."""
    k = config.num_classes
    h, w = config.height, config.width
    labels = np.empty((batch, h, w), dtype=np.int32)
    for i in range(batch):
        size = cell * (4 if i % 2 else 1)
        present = rng.choice(k, size=int(rng.integers(1, k + 1)), replace=False)
        grid = rng.choice(present, size=(-(-h // size), -(-w // size)))
        labels[i] = np.repeat(np.repeat(grid, size, axis=0), size, axis=1)[:h, :w]
    return labels


def random_inputs(spec: GraphSpec, config: ModelConfig, batch: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Fresh inputs for every input of the graph: images in [-1, 1], block labels, codes, noise, edges."""
    labels = random_labels(rng, batch, config)
    feeds: dict[str, np.ndarray] = {}
    for tensor in spec.inputs:
        shape = tensor.concrete_shape(batch)
        if tensor.name == "labels":
            value = labels
        elif tensor.name == "image":
            value = rng.uniform(-1.0, 1.0, shape)
        elif tensor.name == "codes":
            # tanh-range codes, zero for the classes absent from the labels (as the encoder gives them)
            present = np.stack([np.isin(np.arange(config.num_classes), labels[i]) for i in range(batch)])
            value = rng.uniform(-1.0, 1.0, shape) * present[:, :, None]
        elif tensor.name == "noise":
            value = rng.standard_normal(shape)
        elif tensor.name == "extra":
            value = (rng.random(shape) < 0.1).astype(np.float32)
        else:
            raise ValueError(f"no random input for {tensor.name!r}")
        feeds[tensor.name] = np.ascontiguousarray(value, dtype=_NUMPY_DTYPES[tensor.dtype])
    return feeds


def torch_reference(model: SEANModel, spec: GraphSpec, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The outputs the graph must reproduce, computed by the checkpoint's own PyTorch model.

    `area` is counted directly from the labels on the encoder's pooling grid (every second pixel).
    """
    config = model.config
    labels = torch.from_numpy(feeds["labels"])
    mask = one_hot(labels, config.num_classes)
    with torch.no_grad():
        if spec.name == "encoder":
            codes = model.encode(torch.from_numpy(feeds["image"]), mask)
            ph, pw = encoder_pool_size(config)
            grid = feeds["labels"][:, :: config.height // ph, :: config.width // pw]
            area = (grid[:, None] == np.arange(config.num_classes)[None, :, None, None]).sum(axis=(2, 3))
            return [codes.numpy(), area.astype(np.float32)]
        if "extra" in feeds:
            mask = torch.cat([mask, torch.from_numpy(feeds["extra"])], dim=1)
        image = model.generate(mask, torch.from_numpy(feeds["codes"]), torch.from_numpy(feeds["noise"]))
        return [image.numpy()]


def session(path: str | Path) -> ort.InferenceSession:
    """A validation session. It keeps no memory arena: an arena would hold on to its largest run (gigabytes at
    full size, batch 3) while PyTorch computes the reference beside it."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.enable_cpu_mem_arena = False
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _max_abs(actual: np.ndarray, expected: np.ndarray) -> float:
    return float(np.max(np.abs(actual.astype(np.float64) - expected.astype(np.float64))))


@dataclass(frozen=True)
class Reference:
    """One validation case: inputs for a graph and the outputs its PyTorch model gives on them."""

    batch: int
    feeds: dict[str, np.ndarray]
    outputs: list[np.ndarray]


def torch_references(model: SEANModel, spec: GraphSpec, seed: int = 12345) -> list[Reference]:
    """Fresh inputs for each validation batch size and the PyTorch outputs on them (torch_reference).

    Computed apart from the ONNX Runtime run, so that an export can release the model's weights before
    torch.onnx.export copies them (export_package).
    """
    rng = np.random.default_rng(seed)
    references = []
    for batch in VALIDATION_BATCHES:
        feeds = random_inputs(spec, model.config, batch, rng)
        references.append(Reference(batch, feeds, torch_reference(model, spec, feeds)))
    return references


def compare_with_references(
    spec: GraphSpec, path: str | Path, references: list[Reference], tolerance: float = FP32_TOLERANCE
) -> dict[str, float]:
    """Run the graph in ONNX Runtime on each reference's inputs and compare with its PyTorch outputs.

    Returns {"batch_<n>_max_abs": worst difference over all outputs}; raises ValidationError above tolerance.
    """
    sess = session(path)
    figures: dict[str, float] = {}
    for reference in references:
        actual = sess.run(spec.output_names, reference.feeds)
        errors = {
            name: _max_abs(a, e) for name, a, e in zip(spec.output_names, actual, reference.outputs, strict=True)
        }
        for name, error in errors.items():
            if not error <= tolerance:  # also catches NaN
                raise ValidationError(
                    f"the {spec.name} graph's output {name!r} differs from PyTorch by {error:.3g} "
                    f"(batch {reference.batch}; allowed {tolerance:g}): the export is wrong, do not ship it"
                )
        figures[f"batch_{reference.batch}_max_abs"] = max(errors.values())
    return figures


def compare_with_torch(
    model: SEANModel, spec: GraphSpec, path: str | Path, seed: int = 12345, tolerance: float = FP32_TOLERANCE
) -> dict[str, float]:
    """Run the graph in ONNX Runtime and PyTorch on fresh inputs for each validation batch size
    (torch_references, then compare_with_references)."""
    return compare_with_references(spec, path, torch_references(model, spec, seed), tolerance)


def psnr_pm1(image: np.ndarray, reference: np.ndarray) -> float:
    """PSNR in dB of images in [-1, 1] (peak-to-peak 2), over the whole array."""
    mse = float(np.mean((image.astype(np.float64) - reference.astype(np.float64)) ** 2))
    return 10.0 * math.log10(4.0 / max(mse, 1e-20))


def special_labels(config: ModelConfig) -> list[np.ndarray]:
    """Edge-case label maps [1, H, W]: one class everywhere (first and last), and every class in stripes."""
    h, w, k = config.height, config.width, config.num_classes
    stripes = (np.arange(w)[None, :] * k // w).repeat(h, axis=0)
    return [np.full((1, h, w), c, dtype=np.int32) for c in (0, k - 1)] + [stripes[None].astype(np.int32)]


def with_fp16_probes(path: str | Path) -> tuple[onnx.ModelProto, list[str]]:
    """The fp16 graph with every fp16 tensor that is cast back to fp32 added as an output.

    An overflow inside the graph can be hidden from the outputs (tanh(inf) = 1), but it always
    reaches one of these tensors first: every fp16 stretch of the graph ends in such a cast.
    """
    model = onnx.load(str(path))
    types = tensor_types(model)
    probes = []
    for node in model.graph.node:
        to = next((a.i for a in node.attribute if a.name == "to"), None)
        from_half = types.get(node.input[0]) == onnx.TensorProto.FLOAT16 if node.input else False
        if node.op_type == "Cast" and to == onnx.TensorProto.FLOAT and from_half:
            probes.append(node.input[0])
    for name in probes:
        model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT16, None))
    return model, probes


def compare_fp16(
    spec: GraphSpec, config: ModelConfig, fp32_path: str | Path, fp16_path: str | Path, seed: int = 54321
) -> dict[str, float]:
    """Run the fp16 graph against its fp32 graph in ONNX Runtime on random and edge-case masks.

    Every output, and every fp16 tensor where the graph returns to fp32, must be finite. Encoder:
    codes within FP16_CODES_TOLERANCE, area exact. Generator: image PSNR >= MIN_FP16_PSNR_DB.
    Returns the worst figures.
    """
    probed, probes = with_fp16_probes(fp16_path)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    reference = session(fp32_path)
    half = ort.InferenceSession(probed.SerializeToString(), options, providers=["CPUExecutionProvider"])
    del probed
    rng = np.random.default_rng(seed)
    cases = [random_inputs(spec, config, batch, rng) for batch in VALIDATION_BATCHES]
    for labels in special_labels(config):
        feeds = random_inputs(spec, config, 1, rng)
        feeds["labels"] = labels
        if "codes" in feeds:
            feeds["codes"] *= np.isin(np.arange(config.num_classes), labels)[None, :, None]
        cases.append(feeds)
    worst: dict[str, float] = {}
    for feeds in cases:
        expected = reference.run(spec.output_names, feeds)
        actual = half.run([*spec.output_names, *probes], feeds)
        for name, value in zip(probes, actual[len(spec.output_names) :], strict=True):
            if not np.all(np.isfinite(value)):
                raise ValidationError(
                    f"the fp16 {spec.name} graph overflows: its fp16 tensor {name!r} holds NaN or Inf "
                    f"(batch {value.shape[0]}); export with --precision fp32"
                )
        for name, value, ref in zip(spec.output_names, actual[: len(spec.output_names)], expected, strict=True):
            if not np.all(np.isfinite(value)):
                raise ValidationError(
                    f"the fp16 {spec.name} graph gives NaN or Inf in {name!r} (batch {value.shape[0]}): "
                    f"an fp16 overflow; export with --precision fp32"
                )
            if name == "image":
                worst["image_psnr_db"] = min(worst.get("image_psnr_db", math.inf), psnr_pm1(value, ref))
            else:
                worst[f"{name}_max_abs"] = max(worst.get(f"{name}_max_abs", 0.0), _max_abs(value, ref))
    limits = {"codes_max_abs": FP16_CODES_TOLERANCE, "area_max_abs": 0.0}
    for key, limit in limits.items():
        if key in worst and worst[key] > limit:
            raise ValidationError(f"the fp16 {spec.name} graph's {key} is {worst[key]:.3g} (allowed {limit:g})")
    if worst.get("image_psnr_db", math.inf) < MIN_FP16_PSNR_DB:
        raise ValidationError(
            f"the fp16 generator's image is only {worst['image_psnr_db']:.1f} dB from the fp32 image "
            f"(need >= {MIN_FP16_PSNR_DB:g} dB); export with --precision fp32"
        )
    return worst
