"""Inference backends and the choice between them.

A backend runs the package's two graphs on numpy arrays (float32 / int32, the manifest's I/O):
  encode(image [B,3,H,W], labels [B,H,W]) -> (codes [B,K,S], area [B,K])
  generate(labels, codes, noise [B,N], extra) -> image [B,3,H,W] in [-1, 1]
  encode_generate(image, labels, noise, extra) -> image, with the codes kept on the device
`max_batch` is the largest batch one call takes (None: no limit); callers split bigger batches.

"auto" picks TensorRT when the package has engines that this machine can run and the backend starts
(CUDA can still fail to start after the modules import, e.g. a CUDA 13 build on an older driver), else
ONNX Runtime with the CUDA execution provider when onnxruntime-gpu sees a GPU, else ONNX Runtime on the
CPU. Every option that was passed over is recorded with the reason, so `Synthesizer.info()` can say why.
"openvino" (CPU, optional bf16 / f16 precision hint) is used only when asked for, or when a reduced
precision is asked for: the bf16 and f16 hints are OpenVINO's, so "auto" with one of them means OpenVINO.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from sean_core.command import THREADS_PER_CPU, usable_cpus
from sean_core.errors import BackendError
from sean_core.format import GRAPH_NAMES
from sean_runtime.package import Package

BACKENDS = ("auto", "onnxruntime", "tensorrt", "openvino")
# OpenVINO's INFERENCE_PRECISION_HINT values: what the CPU plugin computes convolutions and products in
# (f32: the package's own fp32). ONNX Runtime and TensorRT run the precision the package was exported in.
PRECISION_HINTS = ("f32", "bf16", "f16")


class Backend(Protocol):
    name: str  # "onnxruntime", "tensorrt" or "openvino"
    device: str  # what it runs on, e.g. "CPUExecutionProvider" or "TensorRT 10.8 on NVIDIA H100 (sm_90)"
    max_batch: int | None

    def encode(self, image: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def generate(
        self, labels: np.ndarray, codes: np.ndarray, noise: np.ndarray, extra: np.ndarray | None
    ) -> np.ndarray: ...

    def encode_generate(
        self, image: np.ndarray, labels: np.ndarray, noise: np.ndarray, extra: np.ndarray | None
    ) -> np.ndarray: ...

    def close(self) -> None:
        """Release the sessions / engines and their memory; the backend is unusable afterwards."""
        ...


def batch_slices(count: int, max_batch: int | None) -> Iterator[slice]:
    """Slices of at most max_batch items (None: one slice) covering range(count), for backends with a batch limit."""
    step = max_batch or count
    for start in range(0, count, step):
        yield slice(start, min(start + step, count))


def check_threads(threads: int | None) -> int | None:
    """A backend's thread count: a positive int up to THREADS_PER_CPU per usable CPU (the bound of every
    command's --threads), or None for the runtime's default (one per physical core)."""
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise BackendError(f"threads must be a positive integer or None (all cores), got {threads!r}")
    if threads is not None and threads > THREADS_PER_CPU * usable_cpus():
        raise BackendError(
            f"threads={threads} is more than {THREADS_PER_CPU} per CPU (this process may use {usable_cpus()}); "
            f"more threads only wait on each other: pass at most {THREADS_PER_CPU * usable_cpus()}, or None"
        )
    return threads


def check_count(value: int, name: str) -> int:
    """A count of things at once (workers, streams): a positive int, not a bool; BackendError naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BackendError(f"{name} must be a positive integer, got {value!r}")
    return value


def check_precision_hint(hint: str) -> str:
    """An OpenVINO precision hint, one of PRECISION_HINTS."""
    if hint not in PRECISION_HINTS:
        raise BackendError(f"unknown OpenVINO precision hint {hint!r}; choose one of {', '.join(PRECISION_HINTS)}")
    return hint


def check_graphs(graphs: Collection[str]) -> tuple[str, ...]:
    """The graphs a backend loads, in GRAPH_NAMES order: a non-empty selection of them."""
    unknown = sorted(set(graphs) - set(GRAPH_NAMES))
    if unknown or not graphs:
        raise BackendError(f"graphs must name some of {', '.join(GRAPH_NAMES)}, got {sorted(graphs)}")
    return tuple(name for name in GRAPH_NAMES if name in graphs)


def graph_not_loaded(graph: str, loaded: Sequence[str]) -> BackendError:
    """Calling a graph that this backend was built without (graphs=...), or one it loaded and has closed."""
    if graph in loaded:
        return BackendError(f"the {graph} graph was closed (close() was called); load the package again")
    return BackendError(f"this backend loaded only the {' and '.join(loaded)} graph, not the {graph}; "
                        f"load the package with graphs including {graph!r}")


@dataclass
class Selection:
    backend: Backend
    notes: list[str] = field(default_factory=list)  # options passed over, with the reason


def select_backend(
    package: Package,
    backend: str = "auto",
    providers: Sequence[str] | None = None,
    precision_hint: str = "f32",
    threads: int | None = None,
    graphs: Collection[str] = GRAPH_NAMES,
    workers: int = 1,
) -> Selection:
    """Build the backend asked for ("auto", "onnxruntime", "tensorrt", "openvino"); raise BackendError saying why not.

    precision_hint is OpenVINO's INFERENCE_PRECISION_HINT (PRECISION_HINTS); "bf16" or "f16" with "auto"
    chooses OpenVINO, with the other backends it is an error. threads sets the CPU threads of ONNX Runtime
    (intra-op) and OpenVINO (INFERENCE_NUM_THREADS); None leaves each runtime's default (all cores).
    graphs: the graphs to load (a server that runs each graph in its own model loads one); TensorRT
    loads both, so a selection of one is served by ONNX Runtime or OpenVINO.
    workers: the calls the caller makes at once (a server's worker threads). OpenVINO compiles as many
    streams, each with `threads` threads; ONNX Runtime's sessions run concurrent calls as they are.
    """
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    check_precision_hint(precision_hint)
    check_threads(threads)
    check_count(workers, "workers")
    graphs = check_graphs(graphs)
    notes: list[str] = []
    if precision_hint != "f32" and backend != "openvino":
        if backend != "auto" or providers is not None:
            raise BackendError(
                f"precision {precision_hint} is an OpenVINO precision hint: choose backend 'openvino' (or "
                f"'auto') with it; {backend if backend != 'auto' else 'ONNX Runtime'} runs the package's own "
                f"{package.precision}"
            )
        backend = "openvino"
        notes.append(f"OpenVINO chosen: precision {precision_hint} is an OpenVINO precision hint")
    if backend == "openvino":
        if providers is not None:
            raise BackendError("execution providers are an ONNX Runtime option; use backend 'onnxruntime' with them")
        from sean_runtime.backends.openvino import OpenVinoBackend

        openvino_backend = OpenVinoBackend(package, precision_hint, threads=threads, graphs=graphs, streams=workers)
        return Selection(openvino_backend, notes + openvino_backend.notes)
    if backend == "tensorrt" and graphs != GRAPH_NAMES:
        raise BackendError("the TensorRT backend loads both graphs; choose onnxruntime or openvino for one graph")
    if backend in ("auto", "tensorrt") and providers is None and graphs == GRAPH_NAMES:
        from sean_runtime.backends.tensorrt import TensorRTBackend, tensorrt_problem

        problem = tensorrt_problem(package)
        if problem is None:
            try:
                return Selection(TensorRTBackend(package), notes)
            except BackendError as exc:  # CUDA or TensorRT did not start, although the modules import
                if backend == "tensorrt":
                    raise
                problem = str(exc)
        if backend == "tensorrt":
            raise BackendError(f"cannot use TensorRT: {problem}")
        notes.append(f"TensorRT not used: {problem}")
    elif backend == "tensorrt":
        raise BackendError("execution providers are an ONNX Runtime option; use backend 'onnxruntime' with them")
    from sean_runtime.backends.onnxruntime import OnnxRuntimeBackend, choose_providers

    chosen, provider_notes = choose_providers(providers)
    notes.extend(provider_notes)
    ort_backend = OnnxRuntimeBackend(package, chosen, threads=threads, graphs=graphs)
    if ort_backend.device != chosen[0]:
        notes.append(f"ONNX Runtime fell back from {chosen[0]} to {ort_backend.device}")
    return Selection(ort_backend, notes)
