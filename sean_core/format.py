"""The package format (docs/package-format.md), defined once: the exporter writes through this module and
the runtime reads through it.

It owns the format name and versions, the file names of a package, the table of graph inputs and
outputs (names, dtypes, shapes with a dynamic `batch` axis), the noise layout section of the manifest,
its optional parameters and branch-mix sections, and the schema of the TensorRT plan sidecars.
numpy-free and torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = "sean-package"
FORMAT_VERSION = 2  # written by the exporter; the runtime reads 1 .. FORMAT_VERSION
MANIFEST_FILE = "manifest.json"
GRAPH_NAMES = ("encoder", "generator")
PRECISIONS = ("fp32", "fp16")
REGIONS_NOT_FOR_TENSORRT = (
    "the package's generator is in region form (data-dependent shapes, for ONNX Runtime and OpenVINO on a "
    "CPU); export it with `sean export --form dense` for TensorRT"
)
BATCH = "batch"  # name of the dynamic axis in the graphs and the manifest
DTYPES = ("float32", "int32")  # the only element types of graph inputs and outputs, at every precision
REEXPORT = "re-export it with `sean export CHECKPOINT -o PKG`"

NOISE_INPUT = "noise"
# How image i of a call with `seed` draws its noise (docs/package-format.md, "Noise"), per format version.
PHILOX_NOISE_VERSION = 2  # the first format version with the portable rule
NOISE_TAG = 0x5345414E4E4F4953  # Philox key word 1: "SEANNOIS" in ASCII, so other Philox users' streams differ
PHILOX_SEEDING = (
    "Philox4x64-10, key (seed + i, 0x5345414E4E4F4953), block j at counter (j, 0, 0, 0); 64-bit word k -> "
    "normals 2k, 2k+1 by Box-Muller in float64 (u1 = (hi32 + 0.5) / 2^32, u2 = lo32 / 2^32), rounded to float32"
)
LEGACY_SEEDING = "numpy.random.default_rng(seed + i).standard_normal(numel, dtype=float32)"  # format 1

SIDECAR_FORMAT = "sean-tensorrt-plan"
SIDECAR_FORMAT_VERSION = 1
SIDECAR_LATER_FIELDS = ("hardware_compatibility", "tf32", "distributive_independence")  # optional when read
HARDWARE_COMPATIBILITY = ("none", "same_compute_capability")  # PlanSidecar.hardware_compatibility


JSON_KIND_NAMES = {bool: "true or false", int: "a whole number", float: "a number", str: "a string",
                   list: "a list", dict: "an object"}


def json_kind_name(kind: type | tuple[type, ...]) -> str:
    """How a message names the JSON value a field must hold: "a whole number", "a list", ..."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(JSON_KIND_NAMES.get(k, f"a {k.__name__}") for k in kinds)


def seeding_rule(format_version: int) -> str:
    """The manifest's "noise.seeding" text of a package format version."""
    return PHILOX_SEEDING if format_version >= PHILOX_NOISE_VERSION else LEGACY_SEEDING


def is_package(folder: str | Path) -> bool:
    """A folder that `sean export` wrote (it holds the manifest), whatever else is wrong with it."""
    return (Path(folder) / MANIFEST_FILE).is_file()


def holds_graphs(folder: str | Path) -> bool:
    """A folder holding a package's graph files, with or without its manifest (one lost in a partial copy)."""
    return any((Path(folder) / graph_file(name)).is_file() for name in GRAPH_NAMES)


def is_package_or_its_graphs(folder: str | Path) -> bool:
    """A package, or a folder of its graphs whose manifest was lost (a partial copy): either way exported
    graphs, no checkpoint."""
    return is_package(folder) or holds_graphs(folder)


def graph_file(name: str) -> str:
    """The ONNX file of graph `name` inside a package."""
    return f"{name}.onnx"


def external_data_file(name: str) -> str:
    """Where graph `name` keeps its weights when they are stored outside the graph."""
    return f"{name}.onnx.data"


def plan_file(graph_path: Path) -> Path:
    """The TensorRT engine built from an ONNX graph file (it may not exist)."""
    return graph_path.with_suffix(".plan")


def sidecar_file(graph_path: Path) -> Path:
    """The JSON sidecar that says where and from what the plan of an ONNX graph file was built."""
    return graph_path.with_suffix(".plan.json")


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output: name, element type and shape (BATCH for the dynamic axis)."""

    name: str
    dtype: str  # one of DTYPES
    shape: tuple[int | str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}

    @classmethod
    def from_dict(cls, item: Any) -> TensorSpec:
        """A manifest entry {name, dtype, shape} -> TensorSpec; ValueError says what is malformed."""
        if not isinstance(item, dict) or set(item) != {"name", "dtype", "shape"}:
            raise ValueError(f"a tensor entry must be {{name, dtype, shape}}, got {item!r:.200}")
        name, dtype, shape = item["name"], item["dtype"], item["shape"]
        if not isinstance(name, str) or dtype not in DTYPES or not isinstance(shape, list):
            raise ValueError(f"malformed tensor entry {item!r:.200}")
        for dim in shape:
            if dim != BATCH and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 1):
                raise ValueError(f"tensor {name!r}: dimension {dim!r} is neither {BATCH!r} nor a positive integer")
        return cls(name, dtype, tuple(shape))

    def concrete_shape(self, batch: int) -> tuple[int, ...]:
        return tuple(batch if dim == BATCH else int(dim) for dim in self.shape)


@dataclass(frozen=True)
class GraphSpec:
    """The inputs and outputs of one graph of a package."""

    name: str  # one of GRAPH_NAMES
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.inputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.outputs)


@dataclass(frozen=True)
class ModelShape:
    """The sizes that fix every graph interface of a package."""

    height: int
    width: int
    num_classes: int  # K
    style_dim: int  # S
    noise_numel: int  # N: per-image length of the flat noise input
    extra_channels: int = 0  # E: extra mask channels the generator takes as `extra` (0: no such input)


def encoder_spec(shape: ModelShape) -> GraphSpec:
    """image [B, 3, H, W], labels int32 [B, H, W] -> codes [B, K, S], area [B, K].

    The style encoder pools codes for the K classes only, so extra mask channels never reach it.
    """
    h, w, k, s = shape.height, shape.width, shape.num_classes, shape.style_dim
    return GraphSpec(
        "encoder",
        inputs=(TensorSpec("image", "float32", (BATCH, 3, h, w)), TensorSpec("labels", "int32", (BATCH, h, w))),
        outputs=(TensorSpec("codes", "float32", (BATCH, k, s)), TensorSpec("area", "float32", (BATCH, k))),
    )


def generator_spec(shape: ModelShape) -> GraphSpec:
    """labels int32 [B, H, W], codes [B, K, S], noise [B, N] (+ extra [B, E, H, W]) -> image [B, 3, H, W]."""
    h, w, k, s = shape.height, shape.width, shape.num_classes, shape.style_dim
    inputs = [
        TensorSpec("labels", "int32", (BATCH, h, w)),
        TensorSpec("codes", "float32", (BATCH, k, s)),
        TensorSpec(NOISE_INPUT, "float32", (BATCH, shape.noise_numel)),
    ]
    if shape.extra_channels:
        inputs.append(TensorSpec("extra", "float32", (BATCH, shape.extra_channels, h, w)))
    return GraphSpec("generator", tuple(inputs), (TensorSpec("image", "float32", (BATCH, 3, h, w)),))


def graph_spec(shape: ModelShape, name: str) -> GraphSpec:
    if name == "encoder":
        return encoder_spec(shape)
    if name == "generator":
        return generator_spec(shape)
    raise ValueError(f"unknown graph {name!r}; the graphs are {GRAPH_NAMES}")


@dataclass(frozen=True)
class NoiseSlot:
    """Where one SEAN normalization layer finds its noise in the flat noise tensor."""

    layer: str  # e.g. "up_0.norm_s"
    offset: int
    height: int
    width: int


@dataclass(frozen=True)
class NoiseLayout:
    """Layout of the flat noise input [B, numel]: one value per pixel of every SEAN layer, in draw order."""

    slots: tuple[NoiseSlot, ...]

    @property
    def numel(self) -> int:
        last = self.slots[-1]
        return last.offset + last.height * last.width

    def to_manifest(self) -> dict[str, Any]:
        """The manifest's "noise" section."""
        return {
            "input": NOISE_INPUT,
            "numel": self.numel,
            "slots": [{"layer": s.layer, "offset": s.offset, "height": s.height, "width": s.width} for s in self.slots],
            "seeding": seeding_rule(FORMAT_VERSION),
        }


# Optional manifest sections (absent in packages exported before them), read by `sean inspect`:
# [{"part", "parameters"}]: "encoder", then "generator.<child>" in forward order (a list: manifests are written
# with sorted keys); packages exported before 2026-12-06 hold a {part: count} object instead
PARAMETERS = "parameters"
BRANCH_MIX = "branch_mix"  # [{layer, alpha_gamma, alpha_beta}]: each style-reading SEAN layer, generator order


@dataclass(frozen=True)
class BranchMix:
    """How one SEAN normalization layer mixes its two branches (supplementary §D, Fig. 6):
    gamma = alpha_gamma * gamma_style + (1 - alpha_gamma) * gamma_mask, beta likewise; alpha = sigmoid(learned)."""

    layer: str  # e.g. "up_0.norm_s"
    alpha_gamma: float
    alpha_beta: float

    def to_manifest(self) -> dict[str, Any]:
        return {"layer": self.layer, "alpha_gamma": self.alpha_gamma, "alpha_beta": self.alpha_beta}


def branch_mix_from_manifest(manifest: dict[str, Any]) -> tuple[BranchMix, ...] | None:
    """The manifest's "branch_mix" section (None when absent); ValueError says what is malformed."""
    items = manifest.get(BRANCH_MIX)
    if items is None:
        return None
    if not isinstance(items, list):
        raise ValueError(f'"{BRANCH_MIX}" must be a list, got {items!r:.80}')
    rows = []
    for item in items:
        if not isinstance(item, dict) or set(item) != {"layer", "alpha_gamma", "alpha_beta"}:
            raise ValueError(f'a "{BRANCH_MIX}" entry must be {{layer, alpha_gamma, alpha_beta}}, got {item!r:.120}')
        alphas = (item["alpha_gamma"], item["alpha_beta"])
        if not isinstance(item["layer"], str) or not all(
            isinstance(a, (int, float)) and not isinstance(a, bool) and 0.0 <= a <= 1.0 for a in alphas
        ):
            raise ValueError(f'malformed "{BRANCH_MIX}" entry {item!r:.120} (alphas lie in 0..1)')
        rows.append(BranchMix(item["layer"], float(alphas[0]), float(alphas[1])))
    return tuple(rows)


def parameters_from_manifest(manifest: dict[str, Any]) -> dict[str, int] | None:
    """The manifest's "parameters" section as {part: count} in forward order (None when absent; an older
    package's object form in the order it was written); ValueError says what is malformed."""
    section = manifest.get(PARAMETERS)
    if section is None:
        return None
    if isinstance(section, list) and all(isinstance(item, dict) and set(item) == {"part", "parameters"}
                                         and isinstance(item["part"], str) for item in section):  # fmt: skip
        counts = {item["part"]: item["parameters"] for item in section}
    elif isinstance(section, dict):
        counts = dict(section)
    else:
        counts = None
    if counts is None or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in counts.values()):
        raise ValueError(f'"{PARAMETERS}" must list {{part, parameters}} counts, got {section!r:.120}')
    return counts


def parameters_section(counts: dict[str, int]) -> list[dict[str, Any]]:
    """{part: count} in forward order -> the manifest's "parameters" list (parameters_from_manifest reads it)."""
    return [{"part": part, "parameters": count} for part, count in counts.items()]


@dataclass(frozen=True)
class PlanSidecar:
    """`<graph>.plan.json`: what a TensorRT plan was built from, with what, and for which GPU.

    Written by `sean build-engine` and checked by every loader (sean_runtime.plans) before a plan is
    deserialised: a plan runs only under the TensorRT version that built it, on the GPU generation it
    was built for, and only with the ONNX graph it was built from.
    """

    graph: str
    plan_file: str
    plan_sha256: str
    onnx_file: str
    onnx_sha256: str  # as in the manifest's "files"
    tensorrt_version: str  # tensorrt.__version__ of the builder
    gpu_name: str
    compute_capability: str  # "9.0"
    precision: str
    profile: dict[str, Any]  # {min_batch, opt_batch, max_batch, shapes: {input: {min, opt, max}}}
    workspace_bytes: int
    created: str
    strongly_typed: bool = True
    # Where the plan may run besides the GPU model that built it: "none" (that model only, TensorRT's
    # default) or "same_compute_capability" (every GPU of its compute capability, TensorRT 10.9+).
    hardware_compatibility: str = "none"
    tf32: bool = True  # fp32 layers may run as TF32 (TensorRT's default; `sean build-engine` decides)
    distributive_independence: bool = False  # each image's output independent of its batch (TensorRT 10.13+)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": SIDECAR_FORMAT,
            "format_version": SIDECAR_FORMAT_VERSION,
            "graph": self.graph,
            "plan_file": self.plan_file,
            "plan_sha256": self.plan_sha256,
            "onnx_file": self.onnx_file,
            "onnx_sha256": self.onnx_sha256,
            "tensorrt_version": self.tensorrt_version,
            "gpu_name": self.gpu_name,
            "compute_capability": self.compute_capability,
            "precision": self.precision,
            "strongly_typed": self.strongly_typed,
            "hardware_compatibility": self.hardware_compatibility,
            "tf32": self.tf32,
            "distributive_independence": self.distributive_independence,
            "profile": self.profile,
            "workspace_bytes": self.workspace_bytes,
            "created": self.created,
        }

    @classmethod
    def from_dict(cls, data: Any) -> PlanSidecar:
        """A parsed sidecar -> PlanSidecar; ValueError names the first field that is missing or malformed."""
        if not isinstance(data, dict) or data.get("format") != SIDECAR_FORMAT:
            raise ValueError(f'not a plan sidecar (no "format": "{SIDECAR_FORMAT}")')
        version = data.get("format_version")
        if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= SIDECAR_FORMAT_VERSION:
            raise ValueError(f"sidecar format_version {version!r}; this runtime reads 1..{SIDECAR_FORMAT_VERSION}")
        kinds = {
            "profile": dict, "workspace_bytes": int, "strongly_typed": bool, "tf32": bool,
            "distributive_independence": bool,
        }
        values = {}
        for name in cls.__dataclass_fields__:
            if name in SIDECAR_LATER_FIELDS and name not in data:
                continue  # a sidecar written before the field existed: the build used the default
            kind = kinds.get(name, str)
            value = data.get(name)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ValueError(f"sidecar field {name!r} is {value!r:.80}, not {json_kind_name(kind)}")
            values[name] = value
        if values.get("hardware_compatibility", "none") not in HARDWARE_COMPATIBILITY:
            raise ValueError(f"sidecar field 'hardware_compatibility' is {values['hardware_compatibility']!r:.80}, "
                             f"not one of {', '.join(HARDWARE_COMPATIBILITY)}")
        return cls(**values)
