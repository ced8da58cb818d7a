"""The models of a SEAN Triton repository and their tensors: the one owner of the tensor form.

A repository exported under NAME holds
  NAME              the model clients call (Python backend, BLS): the request of POST /v1/synthesize in
                    tensor form (below); it encodes the style sources, applies swaps and interpolation,
                    draws the noise from the seed and calls the two graph models
  NAME_encoder      the package's encoder graph: image, labels -> codes, area (the manifest's tensors)
  NAME_generator    the package's generator graph: labels, codes, noise (+ extra) -> image
  NAME_noise        seed, enabled -> the generator's noise, by the package's noise rule
  NAME_reconstruct  ensemble: image, labels, seed, noise on/off (+ extra) -> reconstruction, the generator's
                    image float32 [3, H, W] in [-1, 1]

The graph models take exactly the tensors the manifest declares (sean_core.format), without the batch
axis, which Triton adds (max_batch_size > 0). The tensor form of a synthesize request, per request
(batch 1; Triton batches requests across clients):
  label            int32 [H, W]         class ids at the package resolution
  style_image      uint8 [H, W, 3]      the style image, resized to the package resolution, and
  style_label      int32 [H, W]         its label map (default: `label`); or instead
  styles, present  float32 [K, S], bool [K]   style codes (from NAME_encoder) and presence flags
  swap_classes     bool [n, K]          swap j takes the classes marked in row j from
  swap_image, swap_label    uint8 [n, H, W, 3], int32 [n, H, W]   reference images, or
  swap_styles, swap_present float32 [n, K, S], bool [n, K]        reference styles
  interpolate_alpha float32 [m]         blend j: weight of its reference, for the classes marked in
  interpolate_classes bool [m, K]      row j (absent: every class); references as for the swaps
  interpolate_image / _label / _styles / _present
  fallback         bytes [1]            "own" (default) or "error", as in the HTTP API
  seed             int64 [1]            noise seed (default 0); noise is never sent
  noise            bool [1]             false: the noise-free image (default true)
  extra            float32 [E, H, W]    only for packages with extra mask channels
and the answer: image uint8 [H, W, 3], styles float32 [K, S], present bool [K] (the edited styles).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sean_core.format import BATCH, GraphSpec, ModelShape, TensorSpec
from sean_runtime.backends.openvino import PRECISION_NAMES
from sean_runtime.styles import FALLBACK_NAMES

DEFAULT_NAME = "sean"
FALLBACKS = FALLBACK_NAMES  # as in the HTTP API (sean_runtime.serve.schema)
BACKENDS = ("python", "onnxruntime", "tensorrt")  # what runs the graph models
# numpy dtype name -> KServe v2 / tritonclient datatype; config.pbtxt writes TYPE_<datatype> (BYTES: TYPE_STRING).
DATATYPES = {"float32": "FP32", "int32": "INT32", "int64": "INT64", "uint8": "UINT8", "bool": "BOOL", "bytes": "BYTES"}
# Config parameter keys (string parameters of config.pbtxt).
PACKAGE_PARAMETER = "sean_package"  # Python models: the package folder, relative to the repository root
MANIFEST_PARAMETER = "sean_manifest"  # the front model: the package manifest (JSON), for clients
GRAPH_PARAMETER = "sean_graph"  # Python graph models: "encoder" or "generator"
RUNTIME_PARAMETER = "sean_runtime"  # Python graph models: "onnxruntime" or "openvino"
THREADS_PARAMETER = "sean_threads"  # Python graph models: CPU threads per instance ("": the runtime's default)
PRECISION_PARAMETER = "sean_precision"  # Python graph models: OpenVINO's precision hint ("": f32)
# Python graph models that run OpenVINO, in the configs `sean triton` serves (not in the repository): the element
# type the server's CPU computes the hint in (backends.openvino.executed_precision), which clients report.
COMPUTES_PARAMETER = "sean_computes"
MODELS_PARAMETER = "sean_models"  # the front model: JSON {"encoder": name, "generator": name}
PACKAGE_FOLDER = "package"  # inside NAME/1/: the package the Python models load
RECONSTRUCT_OUTPUT = "reconstruction"  # NAME_reconstruct's output: the generator's image [3, H, W] in [-1, 1]


@dataclass(frozen=True)
class WireTensor:
    """One model input or output as Triton sees it: dims without the batch axis (-1: any length)."""

    name: str
    dtype: str  # a key of DATATYPES
    dims: tuple[int, ...]
    optional: bool = False
    ragged: bool = False  # its length differs between requests that Triton may batch (allow_ragged_batch)

    @property
    def datatype(self) -> str:
        return DATATYPES[self.dtype]


@dataclass(frozen=True)
class ModelNames:
    front: str
    encoder: str
    generator: str
    noise: str
    reconstruct: str

    @classmethod
    def of(cls, name: str) -> ModelNames:
        return cls(name, f"{name}_encoder", f"{name}_generator", f"{name}_noise", f"{name}_reconstruct")

    def all(self) -> tuple[str, ...]:
        return (self.front, self.encoder, self.generator, self.noise, self.reconstruct)


def graph_runtime(parameters: Mapping[str, str]) -> tuple[str, str]:
    """(runtime, OpenVINO precision hint) that a Python graph model runs its graph with, from its config's
    parameters: "onnxruntime" or "openvino", and "f32", "bf16" or "f16"."""
    return parameters.get(RUNTIME_PARAMETER) or "onnxruntime", parameters.get(PRECISION_PARAMETER) or "f32"


def graph_precision(parameters: Mapping[str, str], package_precision: str) -> str:
    """The precision a graph model computes in, as packages name precisions ("fp32", "fp16", "bf16"), from the
    parameters of the config its server serves. A Python graph model that runs OpenVINO: what the server's CPU
    computes the precision hint in (COMPUTES_PARAMETER: fp32 on a CPU without bf16 / fp16 units), which
    `sean triton` finds on the server's machine; where tritonserver serves the repository as it is (NVIDIA's
    container), nothing on the server says it, and this is the hint (the graph model logs a warning where the CPU
    differs). Any other graph model: the package's own precision (ONNX Runtime, and Triton's onnxruntime and
    tensorrt backends, run the graphs as they were exported)."""
    runtime, hint = graph_runtime(parameters)
    if runtime != "openvino":
        return package_precision
    computes = parameters.get(COMPUTES_PARAMETER) or hint
    return PRECISION_NAMES.get(computes, computes)


def wire(spec: TensorSpec) -> WireTensor:
    """A graph tensor of the manifest -> its Triton form (the leading batch axis dropped)."""
    if not spec.shape or spec.shape[0] != BATCH or BATCH in spec.shape[1:]:
        raise ValueError(f"tensor {spec.name} has shape {list(spec.shape)}; graph tensors are [{BATCH}, fixed sizes]")
    return WireTensor(spec.name, spec.dtype, tuple(int(d) for d in spec.shape[1:]))


def graph_tensors(spec: GraphSpec) -> tuple[tuple[WireTensor, ...], tuple[WireTensor, ...]]:
    """(inputs, outputs) of a graph model: the manifest's tensors, in the manifest's order."""
    return tuple(map(wire, spec.inputs)), tuple(map(wire, spec.outputs))


def _source_tensors(prefix: str, shape: ModelShape, rows: bool) -> list[WireTensor]:
    """A style source: an image and its label map, or styles and presence flags (each optional)."""
    h, w, k, s = shape.height, shape.width, shape.num_classes, shape.style_dim
    lead = (-1,) if rows else ()
    return [
        WireTensor(f"{prefix}image", "uint8", (*lead, h, w, 3), True, rows),
        WireTensor(f"{prefix}label", "int32", (*lead, h, w), True, rows),
        WireTensor(f"{prefix}styles", "float32", (*lead, k, s), True, rows),
        WireTensor(f"{prefix}present", "bool", (*lead, k), True, rows),
    ]


def front_inputs(shape: ModelShape) -> tuple[WireTensor, ...]:
    """The inputs of the model clients call (module docstring)."""
    h, w, k = shape.height, shape.width, shape.num_classes
    base = _source_tensors("style_", shape, rows=False)
    tensors = [
        WireTensor("label", "int32", (h, w)),
        base[0],
        base[1],
        WireTensor("styles", "float32", (k, shape.style_dim), True),
        WireTensor("present", "bool", (k,), True),
        WireTensor("swap_classes", "bool", (-1, k), True, True),
        *_source_tensors("swap_", shape, rows=True),
        WireTensor("interpolate_alpha", "float32", (-1,), True, True),
        WireTensor("interpolate_classes", "bool", (-1, k), True, True),
        *_source_tensors("interpolate_", shape, rows=True),
        WireTensor("fallback", "bytes", (1,), True),
        WireTensor("seed", "int64", (1,), True),
        WireTensor("noise", "bool", (1,), True),
    ]
    if shape.extra_channels:
        tensors.append(WireTensor("extra", "float32", (shape.extra_channels, h, w)))
    return tuple(tensors)


def front_outputs(shape: ModelShape) -> tuple[WireTensor, ...]:
    h, w, k = shape.height, shape.width, shape.num_classes
    return (
        WireTensor("image", "uint8", (h, w, 3)),
        WireTensor("styles", "float32", (k, shape.style_dim)),
        WireTensor("present", "bool", (k,)),
    )


def noise_tensors(shape: ModelShape) -> tuple[tuple[WireTensor, ...], tuple[WireTensor, ...]]:
    """NAME_noise: seed int64 [1], enabled bool [1] -> the generator's noise input [N]."""
    return (
        (WireTensor("seed", "int64", (1,)), WireTensor("enabled", "bool", (1,))),
        (WireTensor("noise", "float32", (shape.noise_numel,)),),
    )
