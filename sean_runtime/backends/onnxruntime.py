"""ONNX Runtime backend: CPU, or CUDA / TensorRT execution providers with onnxruntime-gpu."""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np

from sean_core.errors import BackendError, InputError
from sean_core.format import GRAPH_NAMES, TensorSpec
from sean_core.install import missing_module_message
from sean_runtime.backends import check_graphs, check_threads, graph_not_loaded
from sean_runtime.backends.feeds import encoder_feeds, generator_feeds
from sean_runtime.backends.gpu import cuda_gpus
from sean_runtime.package import Package, PackageGraph, check_graph_io

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
_DTYPES = {"tensor(float)": "float32", "tensor(int32)": "int32"}  # ONNX Runtime type -> format dtype
ARENA_NEXT_POWER_OF_TWO = 0  # OrtArenaCfg arena_extend_strategy: grow by the next power of two of the request
_arena_lock = threading.Lock()
_arena_registered = False


def _specs(args: Sequence[Any]) -> list[TensorSpec]:
    """A session's NodeArgs as the format's TensorSpecs (dynamic dimensions come as names or None)."""
    return [TensorSpec(a.name, _DTYPES.get(a.type, a.type), tuple(a.shape)) for a in args]


def import_onnxruntime(what: str = "this backend") -> Any:
    """The onnxruntime module, or BackendError saying which extra installs it (for `what`)."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise BackendError(missing_module_message("onnxruntime", what)) from exc
    return onnxruntime


def choose_providers(requested: Sequence[str] | None = None) -> tuple[list[str], list[str]]:
    """Execution providers in priority order, and notes on what was passed over.

    Without a request: CUDA when onnxruntime-gpu is installed and the driver reports a GPU, else CPU.
    The TensorRT execution provider builds its engines on first use (minutes for a full-size model), so
    it is used only when asked for: providers=["TensorrtExecutionProvider"].
    """
    if requested is not None and (  # a bare string would be read letter by letter
        not isinstance(requested, (list, tuple)) or not all(isinstance(p, str) for p in requested)
    ):
        raise InputError(f"providers must be a list of provider names, e.g. [{CPU!r}], got {requested!r:.80}")
    available = import_onnxruntime().get_available_providers()
    if requested:
        missing = [p for p in requested if p not in available]
        if missing:
            raise BackendError(
                f"ONNX Runtime providers {missing} are not available here (available: {available}); "
                f"GPU providers need onnxruntime-gpu and an NVIDIA driver"
            )
        return list(dict.fromkeys([*requested, CPU])), []
    if CUDA in available:
        if cuda_gpus():
            return [CUDA, CPU], []
        return [CPU], ["onnxruntime-gpu is installed but the CUDA driver reports no GPU: running on the CPU"]
    return [CPU], []


def shared_cpu_arena(ort: Any) -> bool:
    """Register one CPU memory arena in ONNX Runtime's environment, once per process; True when the
    sessions can share it (`session.use_env_allocators`).

    Without an arena every intermediate tensor of a run is a new malloc, and glibc serves blocks above
    its mmap threshold (at most 32 MiB: a [1, 128, 256, 256] float tensor is just over it) with fresh
    mappings that the kernel zero-fills on first touch: thousands of page faults per image at official
    size. An arena of each session's own keeps every block it grew to; the encoder and generator sharing
    this one peak lower than that and no higher than with no arena (docs/performance.md gives the
    measurements). It lives as long as the process: a closed backend's blocks stay for the next one.
    """
    global _arena_registered
    with _arena_lock:
        if not _arena_registered:
            info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
            try:
                ort.create_and_register_allocator(info, ort.OrtArenaCfg(0, ARENA_NEXT_POWER_OF_TWO, -1, -1))
            except Exception:  # ONNX Runtime raises its own types; the sessions then keep no arena
                return False
            _arena_registered = True
        return True


def session_options(ort: Any, threads: int | None, shared_arena: bool = True) -> Any:
    """The SessionOptions of this backend's sessions (threads checked by check_threads; None: ONNX
    Runtime's default). shared_arena False: no arena at all (every tensor a new malloc), for comparisons."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: warnings about unused initializers are noise here
    # A session's own arena keeps every block it grew to; the shared one holds less (shared_cpu_arena).
    # In an arena the memory pattern (one planned block per input shape) only adds to the peak
    # (docs/performance.md).
    options.enable_cpu_mem_arena = False
    if shared_arena and shared_cpu_arena(ort):
        options.add_session_config_entry("session.use_env_allocators", "1")
        options.enable_mem_pattern = False
    if check_threads(threads) is not None:
        options.intra_op_num_threads = threads
    return options


class OnnxRuntimeBackend:
    """An InferenceSession per graph, created once."""

    name = "onnxruntime"
    max_batch = None

    def __init__(
        self, package: Package, providers: Sequence[str], threads: int | None = None,
        graphs: Collection[str] = GRAPH_NAMES,
    ) -> None:
        """threads: intra-op threads of the CPU provider; None: ONNX Runtime's default (one per physical core).
        graphs: the graphs to load (the others' calls raise BackendError)."""
        ort = import_onnxruntime()
        self._ort = ort
        self.package = package
        self.graphs = check_graphs(graphs)
        options = session_options(ort, threads)
        self.encoder = self._session(package.encoder, options, providers) if "encoder" in self.graphs else None
        self.generator = self._session(package.generator, options, providers) if "generator" in self.graphs else None
        self.device = (self.generator or self.encoder).get_providers()[0]
        # Where the encode -> generate hand-over keeps the codes (IOBinding device name).
        self._binding_device = "cuda" if self.device in (CUDA, "TensorrtExecutionProvider") else "cpu"

    def _session(self, graph: PackageGraph, options: Any, providers: Sequence[str]) -> Any:
        try:
            session = self._ort.InferenceSession(str(graph.file), sess_options=options, providers=list(providers))
        except Exception as exc:  # ONNX Runtime raises its own exception types for every load failure
            raise BackendError(
                f"ONNX Runtime cannot load {graph.file.name}: {exc}; re-export the package with `sean export`"
            ) from exc
        check_graph_io(graph, _specs(session.get_inputs()), _specs(session.get_outputs()))
        return session

    def close(self) -> None:
        """Drop both sessions (ONNX Runtime frees a session's weights when its last reference goes; the blocks
        its runs took stay in the process's shared arena for the next session, shared_cpu_arena)."""
        self.encoder = self.generator = None

    def _run(self, session: Any, graph: str, outputs: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        if session is None:
            raise graph_not_loaded(graph, self.graphs)
        try:
            return session.run(outputs, feeds)
        except Exception as exc:
            raise BackendError(f"ONNX Runtime failed to run the {graph} graph: {exc}") from exc

    def encode(self, image: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        feeds = encoder_feeds(image, labels)
        codes, area = self._run(self.encoder, "encoder", ["codes", "area"], feeds)
        return codes, area

    def generate(
        self, labels: np.ndarray, codes: np.ndarray, noise: np.ndarray, extra: np.ndarray | None
    ) -> np.ndarray:
        return self._run(self.generator, "generator", ["image"], generator_feeds(labels, codes, noise, extra))[0]

    def encode_generate(
        self, image: np.ndarray, labels: np.ndarray, noise: np.ndarray, extra: np.ndarray | None
    ) -> np.ndarray:
        """Reconstruction with the codes handed over as an OrtValue on the provider's device."""
        encoder, generator = self.encoder, self.generator  # a close() from another thread ends no run midway
        for graph, session in zip(GRAPH_NAMES, (encoder, generator), strict=True):
            if session is None:
                raise graph_not_loaded(graph, self.graphs)
        try:
            enc = encoder.io_binding()
            enc.bind_cpu_input("image", image)
            enc.bind_cpu_input("labels", labels)
            enc.bind_output("codes", self._binding_device)
            enc.bind_output("area", self._binding_device)
            encoder.run_with_iobinding(enc)
            codes = enc.get_outputs()[0]
            gen = generator.io_binding()
            gen.bind_cpu_input("labels", labels)
            gen.bind_ortvalue_input("codes", codes)
            gen.bind_cpu_input("noise", noise)
            if extra is not None:
                gen.bind_cpu_input("extra", extra)
            gen.bind_output("image", "cpu")
            generator.run_with_iobinding(gen)
            return gen.copy_outputs_to_cpu()[0]
        except Exception as exc:
            raise BackendError(f"ONNX Runtime failed to run the encoder -> generator hand-over: {exc}") from exc
