"""TensorRT plans of a package: the one module that writes, reads and checks plan sidecars and
deserialises plans (schema: sean_core.format.PlanSidecar, docs/package-format.md "Engines").

A plan runs only under the TensorRT version that built it and only with the ONNX graph it was built
from. Where it runs is what its build promised: by default only on the GPU model that built it (same
name and compute capability); a plan built at TensorRT's same-compute-capability hardware level
(10.9+, sidecar "hardware_compatibility") on every GPU of that compute capability. `plan_problem` says
why a plan cannot run here (pure: no TensorRT or GPU needed); `deserialize_plan` is the only place a
plan's bytes reach TensorRT, after that check, for the engine builder and the runtime backend alike.
`tensorrt` itself is never imported here: callers pass their module or runtime object.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sean_core.errors import BackendError
from sean_core.files import atomic_write_json, sha256_file
from sean_core.format import PlanSidecar
from sean_runtime.backends.gpu import GpuInfo
from sean_runtime.package import Package

REBUILD = "rebuild the engines on this machine with `sean build-engine PKG`"


class PlanMismatchError(BackendError):
    """A plan that cannot run here: missing or broken sidecar, another TensorRT, another GPU, a changed graph."""


def capability_text(capability: tuple[int, int]) -> str:
    """(9, 0) -> "9.0", as the sidecar stores it."""
    return f"{capability[0]}.{capability[1]}"


def parse_capability(value: Any) -> tuple[int, int] | None:
    """"9.0", "sm_90" or "90" -> (9, 0); anything else -> None."""
    if not isinstance(value, str):
        return None
    text = value.lower().removeprefix("sm_")
    major, dot, minor = text.partition(".")
    if dot and major.isdigit() and minor.isdigit():
        return int(major), int(minor)
    if not dot and text.isdigit() and len(text) >= 2:
        return int(text[:-1]), int(text[-1])
    return None


def write_sidecar(path: Path, sidecar: PlanSidecar) -> None:
    atomic_write_json(path, sidecar.to_dict())


def read_sidecar(path: Path) -> PlanSidecar:
    """The sidecar at `path`, checked field by field; PlanMismatchError says what is wrong and to rebuild."""
    if not path.is_file():
        raise PlanMismatchError(f"{path.name} is missing, so the plan beside it cannot be checked; {REBUILD}")
    try:
        return PlanSidecar.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise PlanMismatchError(f"{path.name} is not a valid plan sidecar ({exc}); {REBUILD}") from exc


def plan_problem(
    package: Package, graph: str, tensorrt_version: str, gpu: GpuInfo, check_plan_hash: bool
) -> str | None:
    """Why the plan of `graph` cannot run with this TensorRT version on this GPU (None: it can).

    check_plan_hash: also compare the plan file with the sha256 its sidecar records (reads the plan).
    """
    spec = package.graph(graph)
    if not spec.plan.is_file():
        return f"{spec.plan.name} is missing; build the engines with `sean build-engine PKG`"
    try:
        sidecar = read_sidecar(spec.plan_sidecar)
    except PlanMismatchError as exc:
        return str(exc)
    if sidecar.graph != graph or sidecar.onnx_file != spec.file.name or sidecar.plan_file != spec.plan.name:
        described = f"graph {sidecar.graph!r} ({sidecar.onnx_file})"
        return f"{spec.plan_sidecar.name} describes {described}, not {graph!r}; {REBUILD}"
    if sidecar.onnx_sha256 != package.file_sha256(spec.file.name):
        return f"{spec.plan.name} was built from another {spec.file.name} than this package's (stale); {REBUILD}"
    if sidecar.tensorrt_version != tensorrt_version:
        return (
            f"{spec.plan.name} was built with TensorRT {sidecar.tensorrt_version}, this machine has "
            f"{tensorrt_version}; {REBUILD}"
        )
    problem = gpu_problem(sidecar, gpu)
    if problem:
        return f"{spec.plan.name} {problem}; {REBUILD}"
    if check_plan_hash and sidecar.plan_sha256 != sha256_file(spec.plan):
        return f"{spec.plan.name} does not match the sha256 in {spec.plan_sidecar.name} (damaged); {REBUILD}"
    return None


def gpu_problem(sidecar: PlanSidecar, gpu: GpuInfo) -> str | None:
    """Why a plan with this sidecar cannot run on `gpu` (None: it can), by the promise of its build.

    Compute capability must always match. A default build (hardware_compatibility "none") promises
    only the GPU model it was built on, so the GPU name must match too; a same-compute-capability
    build runs on every GPU of its compute capability.
    """
    capability = parse_capability(sidecar.compute_capability)
    sm = f"sm_{capability[0]}{capability[1]}" if capability else "unknown compute capability"
    if capability != gpu.compute_capability:
        return (
            f"was built for {sidecar.gpu_name} ({sm}), but this GPU is {gpu.name} ({gpu.sm}): "
            f"a TensorRT plan runs only on the compute capability it was built for"
        )
    if sidecar.hardware_compatibility == "none" and sidecar.gpu_name != gpu.name:
        return (
            f"was built for {sidecar.gpu_name} without hardware compatibility, so TensorRT promises it only on "
            f"that GPU model, and this GPU is {gpu.name} ({gpu.sm})"
        )
    return None


def start_tensorrt(factory: Any, logger: Any, what: str) -> Any:
    """`factory(logger)` for trt.Runtime / trt.Builder, with BackendError where TensorRT cannot start.

    TensorRT's Python bindings report a Builder or Runtime that could not be created (no usable CUDA
    driver or device, out of memory) as a TypeError from pybind11 ("factory function returned
    nullptr"), and the reason only in TensorRT's log.
    """
    try:
        started = factory(logger)
    except (TypeError, RuntimeError) as exc:
        started, cause = None, exc
    else:
        cause = None
    if started is None:
        raise BackendError(
            f"TensorRT could not create its {what} (CUDA did not start: check the NVIDIA driver, the GPU and "
            f"CUDA_VISIBLE_DEVICES, and that the TensorRT and cuda-python builds match the driver's CUDA version; "
            f"the TensorRT log above says more)"
        ) from cause
    return started


def deserialize_plan(runtime: Any, package: Package, graph: str, tensorrt_version: str, gpu: GpuInfo) -> Any:
    """The engine of `graph`, deserialised by a `tensorrt.Runtime` after its sidecar was checked."""
    problem = plan_problem(package, graph, tensorrt_version, gpu, check_plan_hash=True)
    if problem:
        raise PlanMismatchError(problem)
    plan = package.graph(graph).plan
    engine = runtime.deserialize_cuda_engine(plan.read_bytes())
    if engine is None:
        raise PlanMismatchError(f"TensorRT {tensorrt_version} cannot load {plan.name} (see its log above); {REBUILD}")
    return engine
