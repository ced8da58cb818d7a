"""TensorRT engines for a package: the one module that knows the TensorRT Python API and its versions.

Written against TensorRT 10 and 11 (`tensorrt` is imported only when an engine is built or loaded):
- Networks are strongly typed: every tensor's precision comes from the ONNX graph (fp16 packages
  carry their casts). TensorRT 10 needs NetworkDefinitionCreationFlag.STRONGLY_TYPED for that;
  TensorRT 11 is always strongly typed, keeps the flag for compatibility and ignores it, and has no
  FP16 builder flag at all. No precision flag is ever set here.
- Explicit batch is the only mode since TensorRT 10 (the EXPLICIT_BATCH flag is ignored), so one
  optimization profile covers the batch range [min, max] with the kernels tuned for `opt`.
- The weights of large graphs live in `<graph>.onnx.data`; OnnxParser.parse_from_file finds them
  beside the graph.
- Plans are raw `IHostMemory` bytes, nothing prepended, loadable by trtexec, Triton and C++. A plan
  runs only under the TensorRT version that built it and on the GPU generation it was built for;
  the sidecar `<graph>.plan.json` records both (schema: sean_core.format.PlanSidecar); writing,
  reading and checking sidecars and deserialising plans is sean_runtime.backends.plans.
- Timing caches are specific to a TensorRT version and a GPU: the cache file carries the key it was
  written under in `<cache>.json`, and a cache of another key is refused instead of being overwritten.
- What the build promises is decided here and written into the sidecar (BuildSettings):
  * TF32 is off: a plan computes in the precisions of its graph, so an "fp32" plan runs IEEE fp32
    (TensorRT allows TF32 by default, ~1e-3 relative error on Ampere and newer); `tf32=True` opts in.
  * Hardware compatibility SAME_COMPUTE_CAPABILITY where TensorRT has it (10.9+): the plan runs on
    every GPU of the builder's compute capability. Older TensorRT builds for the exact GPU model, and
    the loader then checks the GPU name too (sean_runtime.backends.plans.gpu_problem).
  * BuilderFlag.DISTRIBUTIVE_INDEPENDENCE where TensorRT has it (10.13+): an image's output does not
    depend on the other images of its batch, which dynamic batching relies on. Without it (10.0-10.12)
    batched and single results may differ by kernel choice (docs/gpu.md gives the tolerance).
- A Builder or Runtime that cannot start CUDA, and a timing cache TensorRT cannot read, are
  EngineBuildError (the bindings raise TypeError for the first, return None for the second).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sean_core.errors import BackendError, SeanError
from sean_core.files import atomic_write_bytes, atomic_write_json, sha256_file
from sean_core.format import BATCH, GRAPH_NAMES, REGIONS_NOT_FOR_TENSORRT, PlanSidecar
from sean_core.install import install_command, missing_module_message
from sean_core.progress import progress_bar
from sean_runtime.backends.gpu import GpuInfo, cuda_gpus
from sean_runtime.backends.plans import capability_text, deserialize_plan, start_tensorrt, write_sidecar
from sean_runtime.package import Package, PackageGraph, load_package

MIN_TENSORRT_MAJOR = 10
DEFAULT_MAX_BATCH = 8
DEFAULT_OPT_BATCH = 1  # `sean synth` renders one image per call; kernels are tuned for this batch
DEFAULT_WORKSPACE_GIB = 4.0


class EngineBuildError(SeanError, RuntimeError):
    """TensorRT is missing or too old, there is no GPU, or the parser or builder failed."""


@dataclass(frozen=True)
class BatchProfile:
    """The batch range of the engine's single optimization profile."""

    min: int
    opt: int
    max: int

    def __post_init__(self) -> None:
        if not 1 <= self.min <= self.opt <= self.max:
            raise ValueError(
                f"batch profile needs 1 <= min <= opt <= max, got min={self.min} opt={self.opt} max={self.max}"
            )

    @classmethod
    def up_to(cls, max_batch: int, opt_batch: int = DEFAULT_OPT_BATCH) -> BatchProfile:
        return cls(1, min(opt_batch, max_batch), max_batch)


Shapes = dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]


def profile_shapes(spec: PackageGraph, profile: BatchProfile) -> Shapes:
    """input name -> (min, opt, max) shapes: the manifest's shape with the batch axis set per bound."""
    shapes = {}
    for tensor in spec.inputs:
        if BATCH not in tensor.shape:
            raise EngineBuildError(f"input {tensor.name!r} of the {spec.name} graph has no batch axis: {tensor.shape}")
        if any(dim != BATCH and not (isinstance(dim, int) and dim > 0) for dim in tensor.shape):
            raise EngineBuildError(
                f"input {tensor.name!r} of the {spec.name} graph has a dynamic axis other than the batch: "
                f"{tensor.shape}; re-export the package"
            )

        def at(batch: int, shape: tuple = tensor.shape) -> tuple[int, ...]:
            return tuple(batch if dim == BATCH else int(dim) for dim in shape)

        shapes[tensor.name] = (at(profile.min), at(profile.opt), at(profile.max))
    return shapes


# --- versions, GPUs, timing caches -----------------------------------------------------------------
def import_tensorrt() -> Any:
    """The tensorrt module, with an error that says what to install when it is missing or too old."""
    try:
        import tensorrt
    except ImportError as exc:
        raise EngineBuildError(missing_module_message("tensorrt", "building TensorRT engines")) from exc
    if tensorrt_major(tensorrt.__version__) < MIN_TENSORRT_MAJOR:
        raise EngineBuildError(
            f"TensorRT {tensorrt.__version__} is too old: strongly typed ONNX builds need TensorRT >= "
            f"{MIN_TENSORRT_MAJOR}; {install_command('tensorrt')}"
        )
    return tensorrt


def tensorrt_major(version: str) -> int:
    try:
        return int(version.split(".")[0])
    except ValueError:
        return 0


def network_flags(trt: Any) -> int:
    """Creation flags of a strongly typed network, in TensorRT 10 and 11 alike."""
    flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    return 0 if flag is None else 1 << int(flag)


def timing_cache_key(tensorrt_version: str, gpu: GpuInfo) -> str:
    """What a timing cache is valid for: TensorRT version, compute capability and GPU model."""
    model = re.sub(r"[^a-z0-9]+", "-", gpu.name.lower()).strip("-") or "gpu"
    return f"trt{tensorrt_version}-{gpu.sm}-{model}"


def default_timing_cache(key: str) -> Path:
    """Shared by every package on this machine: layers of equal shape reuse each other's timings."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "sean" / "tensorrt" / f"{key}.timing-cache"


def _cache_sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def read_timing_cache(path: Path, key: str) -> bytes:
    """The cache bytes (b"" when the file does not exist yet). A cache of another key is an error."""
    if not path.is_file():
        return b""
    try:
        written_for = json.loads(_cache_sidecar(path).read_text(encoding="utf-8")).get("key")
    except (OSError, ValueError, AttributeError):
        written_for = None
    if written_for != key:
        raise EngineBuildError(
            f"timing cache {path} was written for {written_for or 'an unknown TensorRT/GPU'}, not for {key} "
            f"(TensorRT version and GPU must match): pass another --timing-cache file or delete this one"
        )
    return path.read_bytes()


def write_timing_cache(path: Path, data: bytes, key: str) -> None:
    atomic_write_bytes(path, data)
    atomic_write_json(_cache_sidecar(path), {"key": key})


# --- build settings ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class BuildSettings:
    """What a build promised, as the sidecar records it (sean_core.format.PlanSidecar)."""

    tf32: bool
    hardware_compatibility: str  # sean_core.format.HARDWARE_COMPATIBILITY
    distributive_independence: bool


def _enum_member(trt: Any, enum: str, member: str) -> Any:
    """trt.<enum>.<member>, or None where this TensorRT has no such thing."""
    return getattr(getattr(trt, enum, None), member, None)


def configure(trt: Any, config: Any, tf32: bool = False, hardware_compatible: bool = True) -> BuildSettings:
    """Set TF32, hardware compatibility and distributive independence on a builder config (module docstring)."""
    tf32_flag = _enum_member(trt, "BuilderFlag", "TF32")
    if tf32_flag is not None:
        if tf32:
            config.set_flag(tf32_flag)
        else:
            config.clear_flag(tf32_flag)
    level = _enum_member(trt, "HardwareCompatibilityLevel", "SAME_COMPUTE_CAPABILITY")
    if hardware_compatible and level is not None:
        config.hardware_compatibility_level = level
        compatibility = "same_compute_capability"
    else:
        none = _enum_member(trt, "HardwareCompatibilityLevel", "NONE")
        if none is not None:
            config.hardware_compatibility_level = none
        compatibility = "none"
    independence = _enum_member(trt, "BuilderFlag", "DISTRIBUTIVE_INDEPENDENCE")
    if independence is not None:
        config.set_flag(independence)
    return BuildSettings(
        tf32=tf32 or tf32_flag is None,  # a TensorRT without the flag cannot be told: record that it may
        hardware_compatibility=compatibility,
        distributive_independence=independence is not None,
    )


def start_builder(trt: Any, logger: Any) -> Any:
    """trt.Builder, or EngineBuildError when TensorRT cannot start CUDA."""
    try:
        return start_tensorrt(trt.Builder, logger, "Builder")
    except BackendError as exc:
        raise EngineBuildError(str(exc)) from exc


def load_timing_cache(config: Any, data: bytes, source: str) -> None:
    """Give the config the timing cache `data` (b"": a new one); EngineBuildError when TensorRT cannot use it."""
    fix = f"delete {source} or pass another --timing-cache"
    try:
        cache = config.create_timing_cache(data)
    except (TypeError, RuntimeError, ValueError) as exc:
        raise EngineBuildError(f"TensorRT cannot read the timing cache {source} ({exc}); {fix}") from exc
    if cache is None:
        raise EngineBuildError(f"TensorRT cannot read the timing cache {source} (damaged?); {fix}")
    if not config.set_timing_cache(cache, False):
        raise EngineBuildError(f"TensorRT rejected the timing cache {source} (made for another GPU?); {fix}")


# --- building ---------------------------------------------------------------------------------------
def build_serialized_engine(
    trt: Any,
    onnx_path: Path,
    shapes: Shapes,
    workspace_bytes: int,
    timing_cache: bytes,
    cache_source: str = "in use",
    tf32: bool = False,
) -> tuple[bytes, bytes, BuildSettings]:
    """Parse the ONNX graph into a strongly typed network and build it -> (plan, updated timing cache, settings).

    A build that fails at the same-compute-capability hardware level is retried once for this GPU
    model only (the sidecar then says so, and loaders compare the GPU name).
    """
    logger = trt.Logger(trt.Logger.WARNING)
    builder = start_builder(trt, logger)
    network = builder.create_network(network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "\n  ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineBuildError(f"TensorRT {trt.__version__} cannot parse {onnx_path}:\n  {errors}")
    names = {network.get_input(i).name for i in range(network.num_inputs)}
    if names != set(shapes):
        raise EngineBuildError(f"{onnx_path} has inputs {sorted(names)}, the manifest says {sorted(shapes)}")

    for hardware_compatible in (True, False):
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
        load_timing_cache(config, timing_cache, cache_source)
        settings = configure(trt, config, tf32=tf32, hardware_compatible=hardware_compatible)
        profile = builder.create_optimization_profile()
        for name, (smallest, typical, largest) in shapes.items():
            profile.set_shape(name, smallest, typical, largest)
        config.add_optimization_profile(profile)
        serialized = builder.build_serialized_network(network, config)
        if serialized is not None or settings.hardware_compatibility == "none":
            break
    if serialized is None:
        raise EngineBuildError(
            f"TensorRT {trt.__version__} failed to build an engine from {onnx_path} (see its log above); "
            f"a larger --workspace-gib or a smaller --max-batch may help"
        )
    return bytes(serialized), bytes(config.get_timing_cache().serialize()), settings


def plan_sidecar(
    spec: PackageGraph,
    package: Package,
    plan_sha256: str,
    tensorrt_version: str,
    gpu: GpuInfo,
    profile: BatchProfile,
    shapes: Shapes,
    workspace_bytes: int,
    settings: BuildSettings,
) -> PlanSidecar:
    """The facts a loader needs to decide whether a plan can run, and what its build promised."""
    return PlanSidecar(
        graph=spec.name,
        plan_file=spec.plan.name,
        plan_sha256=plan_sha256,
        onnx_file=spec.file.name,
        onnx_sha256=package.file_sha256(spec.file.name),
        tensorrt_version=tensorrt_version,
        gpu_name=gpu.name,
        compute_capability=capability_text(gpu.compute_capability),
        precision=package.precision,
        profile={
            "min_batch": profile.min,
            "opt_batch": profile.opt,
            "max_batch": profile.max,
            "shapes": {
                name: {"min": list(lo), "opt": list(mid), "max": list(hi)} for name, (lo, mid, hi) in shapes.items()
            },
        },
        workspace_bytes=workspace_bytes,
        created=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        hardware_compatibility=settings.hardware_compatibility,
        tf32=settings.tf32,
        distributive_independence=settings.distributive_independence,
    )


def current_gpu() -> GpuInfo:
    """The GPU TensorRT builds for: CUDA device 0 (choose another with CUDA_VISIBLE_DEVICES)."""
    gpus = cuda_gpus()
    if not gpus:
        raise EngineBuildError("no NVIDIA GPU is visible (the CUDA driver reports none); TensorRT needs one")
    return gpus[0]


def build_engines(
    package_dir: str | Path,
    max_batch: int = DEFAULT_MAX_BATCH,
    opt_batch: int = DEFAULT_OPT_BATCH,
    timing_cache: str | Path | None = None,
    workspace_gib: float = DEFAULT_WORKSPACE_GIB,
    progress: bool = True,
    tf32: bool = False,
    written: list[Path] | None = None,
) -> list[Path]:
    """Build `<graph>.plan` + `<graph>.plan.json` for both graphs of a package; returns the plan paths.

    The package is verified against its manifest first (sha256 of every file). Each plan is loaded
    back once before the command reports success. tf32: let fp32 layers run as TF32 (off: fp32 is fp32).
    written: each plan is appended as soon as it is written, so that a caller stopped part-way can say
    which plans are new.
    """
    package = load_package(package_dir)
    if package.generator_form == "regions":
        raise EngineBuildError(REGIONS_NOT_FOR_TENSORRT)
    trt = import_tensorrt()
    gpu = current_gpu()
    profile = BatchProfile.up_to(max_batch, opt_batch)
    workspace_bytes = int(workspace_gib * 2**30)
    key = timing_cache_key(trt.__version__, gpu)
    cache_path = Path(timing_cache) if timing_cache else default_timing_cache(key)
    cache = read_timing_cache(cache_path, key)
    plans = []
    try:
        runtime = start_tensorrt(trt.Runtime, trt.Logger(trt.Logger.WARNING), "Runtime")
    except BackendError as exc:
        raise EngineBuildError(str(exc)) from exc
    description = f"TensorRT {trt.__version__} on {gpu.name}"
    for graph in progress_bar(iterable=GRAPH_NAMES, desc=description, disable=not progress, unit="graph"):
        spec = package.graph(graph)
        shapes = profile_shapes(spec, profile)
        plan, cache, settings = build_serialized_engine(
            trt, spec.file, shapes, workspace_bytes, cache, cache_source=str(cache_path), tf32=tf32
        )
        atomic_write_bytes(spec.plan, plan)
        if written is not None:
            written.append(spec.plan)
        plan_sha256 = sha256_file(spec.plan)
        sidecar = plan_sidecar(
            spec, package, plan_sha256, trt.__version__, gpu, profile, shapes, workspace_bytes, settings
        )
        write_sidecar(spec.plan_sidecar, sidecar)
        write_timing_cache(cache_path, cache, key)
        deserialize_plan(runtime, package, graph, trt.__version__, gpu)  # the plan loads back before success
        plans.append(spec.plan)
    return plans
