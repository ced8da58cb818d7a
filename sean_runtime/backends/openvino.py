"""OpenVINO backend: the package's ONNX graphs compiled for the CPU by OpenVINO (no torch).

OpenVINO reads the same encoder.onnx / generator.onnx as ONNX Runtime. Its point is reduced precision
on CPUs that have it: with INFERENCE_PRECISION_HINT "bf16" (AVX-512 BF16 / AMX) or "f16" (AVX-512 FP16,
ARM) the CPU plugin runs convolutions and matrix products in that type and keeps the accumulation,
normalization statistics and reductions in fp32. On a CPU without those instructions the plugin
silently runs in fp32; `execution_precision` says what the compiled graph really uses, so callers can
report it instead of assuming the hint was honoured, and `executed_precision` says it without compiling
(for `sean triton`, which tells clients what the server's CPU computes).

With a reduced-precision hint both graphs are compiled for one image (every input's batch axis fixed
to 1) and a batch runs as one inference per image: the CPU plugin runs them faster that way than with the
dynamic batch axis the package declares (docs/performance.md, "OpenVINO: a static batch axis"), and a
batch's images are then its single images exactly. With the f32 hint the graphs keep the dynamic batch
axis, as the C++ runtime compiles them: a static axis changes fp32 results in the last bits, and the two
runtimes' fp32 images are equal bit for bit. The package and its manifest keep the dynamic axis either way.

Both runtimes compile the graphs with one rewrite, made before compiling: each sum of gathered table
rows becomes an embedding bag (sum_gathered_rows_as_bags), the same sums computed faster.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import sys
import threading
from collections import Counter
from collections.abc import Collection, Iterator
from typing import Any

import numpy as np

from sean_core.cpu import cpu_flags, has_bf16_units
from sean_core.errors import BackendError, InputError
from sean_core.format import GRAPH_NAMES, TensorSpec
from sean_core.install import missing_module_message
from sean_runtime.backends import check_count, check_graphs, check_precision_hint, check_threads, graph_not_loaded
from sean_runtime.backends.feeds import encoder_feeds, generator_feeds
from sean_runtime.package import Package, PackageGraph, check_graph_io

PERFORMANCE_HINTS = ("LATENCY", "THROUGHPUT")
# OpenVINO's element type names -> the names packages use for precisions (sean_core.format).
PRECISION_NAMES = {"f32": "fp32", "bf16": "bf16", "f16": "fp16"}
# A reduced-precision hint -> the entry of the CPU device's OPTIMIZATION_CAPABILITIES that it needs: the plugin
# runs the hint where the device lists it, else f32.
HINT_CAPABILITIES = {"bf16": "BF16", "f16": "FP16"}
DEVICE = "CPU"
_DTYPES = {"f32": "float32", "i32": "int32"}  # OpenVINO element type -> format dtype


def _specs(ports: Any) -> list[TensorSpec]:
    """Compiled-model ports as the format's TensorSpecs (a dynamic dimension becomes None)."""
    specs = []
    for port in ports:
        dtype = port.get_element_type().get_type_name()
        dims = tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
        specs.append(TensorSpec(port.get_any_name(), _DTYPES.get(dtype, dtype), dims))
    return specs


def _openvino() -> Any:
    try:
        import openvino
    except ImportError as exc:
        raise BackendError(missing_module_message("openvino", "the OpenVINO backend")) from exc
    return openvino


class _SignalStack(ctypes.Structure):
    """Linux's stack_t (x86-64 and aarch64 alike)."""

    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


_SS_DISABLE = 2


@contextlib.contextmanager
def _signal_stack_kept() -> Iterator[None]:
    """The calling thread's signal stack (sigaltstack) as it was before the block, put back after it."""
    if not sys.platform.startswith("linux"):
        yield
        return
    libc = ctypes.CDLL(None, use_errno=True)
    before, now = _SignalStack(), _SignalStack()
    kept = libc.sigaltstack(None, ctypes.byref(before)) == 0
    try:
        yield
    finally:
        if kept and libc.sigaltstack(None, ctypes.byref(now)) == 0 and now.ss_sp != before.ss_sp:
            before.ss_flags &= _SS_DISABLE  # "no stack", or a stack to use (not "in use now")
            libc.sigaltstack(ctypes.byref(before), None)


def new_core() -> Any:
    """An OpenVINO Core with its plugins made, the calling thread's signal stack kept as it was.

    The CPU plugin replaces the signal stack of the thread that makes it with one of its own, which it unmaps
    when it is released, putting back the stack it found only if its own is still in place. Plugins released
    in another order than they were made, or on another thread, left a thread on an unmapped stack, and the
    next signal handled there (Python runs its handlers on the signal stack: Ctrl-C, the SIGCHLD handler of
    torch's DataLoader) killed the process with SIGSEGV and no traceback. The thread's own stack is put back
    at once here: the plugin's is never in use, and releasing it harms nothing. Make every Core with this."""
    core = _openvino().Core()
    with _signal_stack_kept():
        core.available_devices  # noqa: B018 (makes each device's plugin)
    return core


def cpu_capabilities() -> list[str] | None:
    """The CPU device's OPTIMIZATION_CAPABILITIES as OpenVINO lists them (e.g. FP32, BF16, INT8); None where
    OpenVINO is not installed or lists no CPU device."""
    try:
        core = new_core()
    except BackendError:  # no openvino module
        return None
    if DEVICE not in core.available_devices:
        return None
    return list(core.get_property(DEVICE, "OPTIMIZATION_CAPABILITIES"))


def executed_precision(hint: str, capabilities: Collection[str] | None = None) -> str:
    """The element type ("f32", "bf16", "f16") that OpenVINO's CPU plugin computes a graph compiled with the
    precision hint `hint` in, on this machine, without compiling one: the hint where the CPU device lists it
    among its capabilities, else f32, as the plugin chooses (a compiled model reads back the same:
    OpenVinoBackend.execution_precision, the word of record where a graph is compiled).

    capabilities: the device's OPTIMIZATION_CAPABILITIES (default: cpu_capabilities()). Where OpenVINO cannot
    be asked, this CPU's bf16 units (sean_core.cpu) decide bf16, and f16, which no other fact decides, is
    taken as hinted."""
    check_precision_hint(hint)
    if hint not in HINT_CAPABILITIES:
        return hint  # f32
    if capabilities is None:
        capabilities = cpu_capabilities()
    if capabilities is not None:
        return hint if HINT_CAPABILITIES[hint] in capabilities else "f32"
    flags = cpu_flags()
    if hint == "bf16" and flags is not None:
        return hint if has_bf16_units(flags) else "f32"
    return hint


def compile_config(precision: str, performance: str, threads: int | None, streams: int = 1) -> dict[str, Any]:
    """The CPU plugin properties for one backend, with clear errors for values OpenVINO would reject.

    streams: inferences that run at once, each on its own `threads` threads (NUM_STREAMS, which takes
    precedence over the performance hint's own choice of one stream); the compiled model then has
    streams x threads threads in all."""
    check_precision_hint(precision)
    check_count(streams, "streams")
    if performance not in PERFORMANCE_HINTS:
        raise BackendError(
            f"unknown OpenVINO performance hint {performance!r}; choose one of {', '.join(PERFORMANCE_HINTS)}"
        )
    # Threads not pinned to cores: on a machine whose cores other processes share, a pinned thread waits for
    # its busy core instead of moving (docs/performance.md, "OpenVINO: thread pinning"); results are the same.
    config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": performance,
                              "ENABLE_CPU_PINNING": False}
    if streams > 1:
        config["NUM_STREAMS"] = streams
    if check_threads(threads) is not None:
        config["INFERENCE_NUM_THREADS"] = threads * streams
    return config


def fix_batch_axis(model: Any, batch: int) -> None:
    """Reshape the model in place so that every input's first (batch) axis is `batch`; the other axes stay
    as the graph has them (the region form's row counts stay dynamic inside the graph)."""
    ov = _openvino()
    model.reshape({port.get_any_name(): ov.PartialShape([batch, *list(port.get_partial_shape())[1:]])
                   for port in model.inputs})


def _opset3() -> Any:
    """OpenVINO's opset-3 operator factories: `openvino.opset3`, `openvino.runtime.opset3` before 2025."""
    _openvino()
    try:
        return importlib.import_module("openvino.opset3")
    except ImportError:
        return importlib.import_module("openvino.runtime.opset3")


def _rank(port: Any) -> int:
    """A graph port's rank, -1 where it is dynamic."""
    rank = port.get_partial_shape().rank
    return rank.get_length() if rank.is_static else -1


def sum_gathered_rows_as_bags(model: Any) -> int:
    """Rewrite in place each sum over gathered table rows, ReduceSum(Gather(table [N, R], rows [V, n],
    axis 0), axis 1) -> [V, R], as one EmbeddingBagPackedSum(table, rows): the same n rows summed, without
    writing and reading back the [V, n, R] tensor between the two. The region form sums the nine tap
    products of each edge window this way (networks.regions); the CPU plugin's ReduceSum over that middle
    axis is slower than its bag sum (docs/performance.md, "OpenVINO: row sums as embedding bags"). The
    C++ backend makes the same rewrite, so that both runtimes give the same floats. The graph's row
    indices are built in range by the graph itself: a bag does not check them as a Gather does.
    Returns the number of sums rewritten."""
    opset3 = _opset3()
    rewritten = 0
    for node in model.get_ordered_ops():
        if node.get_type_name() != "ReduceSum" or node.get_attributes().get("keep_dims", True):
            continue
        gather, axes = (node.input_value(i).get_node() for i in range(2))
        if gather.get_type_name() != "Gather" or gather.get_attributes().get("batch_dims", 0) != 0:
            continue
        gather_axis = gather.input_value(2).get_node()
        table, rows = gather.input_value(0), gather.input_value(1)
        if (
            axes.get_type_name() != "Constant"
            or gather_axis.get_type_name() != "Constant"
            or _rank(table) != 2
            or _rank(rows) != 2
            or [int(a) % 3 for a in axes.get_data().reshape(-1)] != [1]  # axis 1 of [V, n, R]
            or int(gather_axis.get_data().reshape(-1)[0]) % 2 != 0  # axis 0 of [N, R]
        ):
            continue
        bags = opset3.embedding_bag_packed_sum(table, rows)
        bags.set_friendly_name(node.get_friendly_name())
        node.output(0).replace(bags.output(0))
        rewritten += 1
    model.validate_nodes_and_infer_types()
    return rewritten


def runtime_precisions(compiled: Any) -> Counter:
    """How many operations of the compiled graph run in each element type (e.g. {"f32": 950, "i32": 12})."""
    counts: Counter = Counter()
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        if "runtimePrecision" in info:
            counts[info["runtimePrecision"].astype(str)] += 1
    return counts


class OpenVinoBackend:
    """Two compiled models (for one image with a reduced-precision hint, else with the dynamic batch axis
    as exported), safe to call from several threads at once: a call takes an idle infer request of its
    graph, or makes one (an infer request runs one inference at a time), and gives it back afterwards."""

    name = "openvino"
    max_batch = None

    def __init__(
        self,
        package: Package,
        precision: str = "f32",  # INFERENCE_PRECISION_HINT: "f32", "bf16" or "f16"
        performance: str = "LATENCY",  # PERFORMANCE_HINT: one stream for single-image latency
        threads: int | None = None,  # INFERENCE_NUM_THREADS; None: OpenVINO's default (all cores)
        graphs: Collection[str] = GRAPH_NAMES,  # the graphs to compile (the others' calls raise BackendError)
        streams: int = 1,  # inferences at once, each with `threads` threads (compile_config)
    ) -> None:
        ov = _openvino()
        self.package = package
        self.precision_hint = precision
        self.graphs = check_graphs(graphs)
        config = compile_config(precision, performance, threads, streams)
        self.one_image = precision != "f32"  # graphs compiled for batch 1, a batch run image by image
        self._core = new_core()
        if DEVICE not in self._core.available_devices:
            raise BackendError(f"OpenVINO reports no {DEVICE} device (devices: {self._core.available_devices})")
        self.encoder = self._compile(package.encoder, config) if "encoder" in self.graphs else None
        self.generator = self._compile(package.generator, config) if "generator" in self.graphs else None
        compiled = {"encoder": self.encoder, "generator": self.generator}
        self._compiled = {name: compiled[name] for name in self.graphs}
        self._idle = {name: [model.create_infer_request()] for name, model in self._compiled.items()}
        self._idle_lock = threading.Lock()
        # What the plugin chose: on a CPU without bf16 / fp16 units a reduced-precision hint becomes f32.
        executes = compiled[self.graphs[-1]].get_property("INFERENCE_PRECISION_HINT")
        self.execution_precision = str(executes.to_string())
        self.capabilities = list(self._core.get_property(DEVICE, "OPTIMIZATION_CAPABILITIES"))
        cpu = self._core.get_property(DEVICE, "FULL_DEVICE_NAME")
        self.device = f"OpenVINO {ov.get_version().split('-')[0]} {DEVICE} ({cpu}), executes {self.execution_precision}"

    @property
    def computes(self) -> str:
        """The precision the convolutions and products run in, as packages name precisions."""
        return PRECISION_NAMES.get(self.execution_precision, self.execution_precision)

    @property
    def notes(self) -> list[str]:
        """Why the execution precision differs from the hint, when it does."""
        if self.execution_precision == self.precision_hint:
            return []
        return [
            f"OpenVINO precision hint {self.precision_hint} is not supported by this CPU (capabilities "
            f"{', '.join(self.capabilities)}): it runs in {self.execution_precision}"
        ]

    def _compile(self, graph: PackageGraph, config: dict[str, Any]) -> Any:
        """The graph, checked against the manifest as the file declares it, compiled (for one image when
        self.one_image)."""

        def load_error(exc: Exception) -> BackendError:
            return BackendError(
                f"OpenVINO cannot load {graph.file.name}: {exc}; re-export the package with `sean export`"
            )

        try:
            model = self._core.read_model(str(graph.file))
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses for every read / compile failure
            raise load_error(exc) from exc
        check_graph_io(graph, _specs(model.inputs), _specs(model.outputs))
        try:
            if self.one_image:
                fix_batch_axis(model, 1)
            sum_gathered_rows_as_bags(model)
            return self._core.compile_model(model, DEVICE, config)
        except Exception as exc:
            raise load_error(exc) from exc

    def close(self) -> None:
        """Drop the infer requests and compiled models (OpenVINO frees them with their last reference)."""
        with self._idle_lock:
            self._idle.clear()
            self._compiled.clear()
        self.encoder = self.generator = None

    def _acquire(self, graph: str) -> Any:
        """An infer request of the graph that no other call is using."""
        with self._idle_lock:
            if graph not in self._compiled:
                raise BackendError("this OpenVINO backend is closed; load the package again")
            idle = self._idle[graph]
            return idle.pop() if idle else self._compiled[graph].create_infer_request()

    def _release(self, graph: str, request: Any) -> None:
        with self._idle_lock:
            if graph in self._idle:  # else the backend was closed meanwhile
                self._idle[graph].append(request)

    def _run(self, graph: str, outputs: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The graph on the batch (one inference per image when self.one_image, outputs stacked)."""
        if graph not in self.graphs:
            raise graph_not_loaded(graph, self.graphs)
        batch = len(next(iter(feeds.values())))
        if batch == 0:
            raise InputError(f"the {graph} graph got an empty batch: give at least one image")
        runs = [feeds]
        if self.one_image:
            runs = [{name: array[i : i + 1] for name, array in feeds.items()} for i in range(batch)]
        results: list[list[np.ndarray]] = [[] for _ in outputs]
        request = self._acquire(graph)
        try:
            for run in runs:
                request.infer(run)
                # Copies: the request's output buffers are overwritten by its next run.
                for kept, name in zip(results, outputs, strict=True):
                    kept.append(np.array(request.get_tensor(name).data, copy=True))
        except Exception as exc:
            raise BackendError(f"OpenVINO failed to run the {graph} graph: {exc}") from exc
        finally:
            self._release(graph, request)
        return [parts[0] if len(parts) == 1 else np.concatenate(parts) for parts in results]

    def encode(self, image: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        feeds = encoder_feeds(image, labels)
        codes, area = self._run("encoder", ["codes", "area"], feeds)
        return codes, area

    def generate(
        self, labels: np.ndarray, codes: np.ndarray, noise: np.ndarray, extra: np.ndarray | None
    ) -> np.ndarray:
        return self._run("generator", ["image"], generator_feeds(labels, codes, noise, extra))[0]

    def encode_generate(
        self, image: np.ndarray, labels: np.ndarray, noise: np.ndarray, extra: np.ndarray | None
    ) -> np.ndarray:
        """Reconstruction: on the CPU the codes stay in host memory, so this is encode then generate."""
        codes, _ = self.encode(image, labels)
        return self.generate(labels, codes, noise, extra)
