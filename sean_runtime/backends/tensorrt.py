"""TensorRT backend (TensorRT 10 and 11 Python API, device memory through CUDA Python).

Engines are deserialised once. Inputs may be numpy arrays (copied to the device) or any array exposing
`__cuda_array_interface__` (CuPy, PyTorch CUDA tensors, Numba): used in place when its address is
256-byte aligned (TensorRT's rule), else copied on the device first; the backend's stream waits for the
stream the array names (protocol v3), so a producer need not synchronise. In encode_generate the
encoder's `codes` output buffer is bound as the generator's `codes` input, so the codes never leave the
device. Every call makes the backend's GPU current in the calling thread (CUDA keeps the current device
per thread, and the service calls from worker threads). `tensorrt` and `cuda-python` are imported only
when this backend is built. Which plans can run here is decided by sean_runtime.backends.plans.
"""

from __future__ import annotations

import threading
from contextlib import suppress
from typing import Any

import numpy as np

from sean_core.errors import BackendError, InputError
from sean_core.format import GRAPH_NAMES, REGIONS_NOT_FOR_TENSORRT
from sean_core.install import missing_module_message
from sean_runtime.backends.cuda import Cuda, DeviceBuffer, cudart, device_array
from sean_runtime.backends.gpu import cuda_gpus
from sean_runtime.backends.plans import REBUILD, deserialize_plan, plan_problem, start_tensorrt
from sean_runtime.package import Package

_DTYPES = {"float32": np.float32, "int32": np.int32}


def tensorrt_runtime_problem(device_index: int = 0) -> str | None:
    """Why TensorRT cannot run on GPU `device_index` here, whatever the package (None: it can): the module,
    the CUDA runtime, the GPU."""
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return missing_module_message("tensorrt", "the TensorRT backend")
    try:
        cudart()
    except BackendError as exc:
        return str(exc)
    gpus = cuda_gpus()
    if device_index >= len(gpus):
        return "the CUDA driver reports no GPU" if not gpus else f"there is no GPU {device_index} ({len(gpus)} found)"
    return None


def tensorrt_problem(package: Package, device_index: int = 0) -> str | None:
    """Why TensorRT cannot serve this package here (None: it can)."""
    if package.generator_form == "regions":
        return REGIONS_NOT_FOR_TENSORRT
    missing = [package.graph(g).plan.name for g in GRAPH_NAMES if not package.graph(g).plan.is_file()]
    if missing:
        return f"the package has no TensorRT engines ({', '.join(missing)}); build them with `sean build-engine PKG`"
    problem = tensorrt_runtime_problem(device_index)
    if problem:
        return problem
    import tensorrt

    gpu = cuda_gpus()[device_index]
    for graph in GRAPH_NAMES:
        problem = plan_problem(package, graph, tensorrt.__version__, gpu, check_plan_hash=True)
        if problem:
            return problem
    return None


class TensorRTBackend:
    """Both engines on one GPU, one CUDA stream, device buffers reused across calls: calls from several threads
    run one at a time (the contexts, the stream and the buffers are the backend's one set).

    Construction raises BackendError (never a raw binding error) when CUDA or TensorRT cannot start,
    so that "auto" can fall back to ONNX Runtime with the reason.
    """

    name = "tensorrt"

    def __init__(self, package: Package, device_index: int = 0) -> None:
        import tensorrt as trt

        self._trt = trt
        self.package = package
        self.device_index = device_index
        self._stream: Any = None
        self._event: Any = None
        self._buffers: dict[str, DeviceBuffer] = {}
        self._calls = threading.Lock()  # one call at a time on the one set of contexts, stream and buffers
        self._cuda = Cuda()
        try:
            self._start(package, device_index)
        except BaseException:
            with suppress(Exception):  # the error that stopped the start is the one to report
                self.close()
            raise

    def _start(self, package: Package, device_index: int) -> None:
        trt = self._trt
        self._cuda.set_device(device_index)
        self._stream = self._cuda.call("cudaStreamCreate", self._cuda.rt.cudaStreamCreate())
        self._event = self._cuda.new_event()
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = start_tensorrt(trt.Runtime, self._logger, "Runtime")
        gpus = cuda_gpus()
        if device_index >= len(gpus):
            raise BackendError(f"there is no GPU {device_index} ({len(gpus)} found)")
        gpu = gpus[device_index]
        self._engines = {g: deserialize_plan(self._runtime, package, g, trt.__version__, gpu) for g in GRAPH_NAMES}
        self._contexts = {g: self._engines[g].create_execution_context() for g in GRAPH_NAMES}
        if any(context is None for context in self._contexts.values()):
            raise BackendError("TensorRT could not create an execution context (out of GPU memory?)")
        self._input_dtypes = {t.name: np.dtype(_DTYPES[t.dtype]) for g in GRAPH_NAMES for t in package.graph(g).inputs}
        self._check_io()
        self.max_batch = min(
            int(self._engines[g].get_tensor_profile_shape(t.name, 0)[2][0])
            for g in GRAPH_NAMES
            for t in package.graph(g).inputs
        )
        self.device = f"TensorRT {trt.__version__} on {gpu.name} ({gpu.sm})"

    def _check_io(self) -> None:
        """The engines' I/O names and dtypes are the manifest's."""
        trt = self._trt
        for graph in GRAPH_NAMES:
            engine = self._engines[graph]
            names = {engine.get_tensor_name(i) for i in range(engine.num_io_tensors)}
            spec = self.package.graph(graph)
            declared = {t.name: t.dtype for t in (*spec.inputs, *spec.outputs)}
            if names != set(declared):
                raise BackendError(f"{spec.plan.name} has tensors {sorted(names)}, the manifest {sorted(declared)}")
            for name, dtype in declared.items():
                if np.dtype(trt.nptype(engine.get_tensor_dtype(name))) != np.dtype(_DTYPES[dtype]):
                    raise BackendError(f"{spec.plan.name}: tensor {name!r} is not {dtype}; {REBUILD}")

    def _buffer(self, key: str) -> DeviceBuffer:
        if key not in self._buffers:
            self._buffers[key] = DeviceBuffer(self._cuda)
        return self._buffers[key]

    def _upload(self, name: str, array: Any) -> tuple[int, tuple[int, ...]]:
        """(device pointer, shape) of an input, 256-byte aligned and ready in stream order.

        Device arrays are used in place when aligned, else copied into a buffer of the backend; either
        way the stream first waits for the producer's stream the array names. Host arrays are copied.
        """
        dtype = self._input_dtypes[name]
        if hasattr(array, "__cuda_array_interface__"):
            given = device_array(array, name, dtype)
            if given.stream is not None:
                self._cuda.wait_for(self._stream, given.stream, self._event)
            if given.aligned:
                return given.ptr, given.shape
            ptr = self._buffer(f"in:{name}").reserve(given.nbytes)
            self._cuda.copy_on_device(ptr, given.ptr, given.nbytes, self._stream)
            return ptr, given.shape
        host = np.ascontiguousarray(array, dtype=dtype)
        ptr = self._buffer(f"in:{name}").reserve(host.nbytes)
        self._cuda.to_device(ptr, host, self._stream)
        return ptr, host.shape

    def _check_batch(self, batch: int) -> None:
        if batch > self.max_batch:
            raise InputError(f"batch {batch} exceeds the engines' largest batch {self.max_batch}; split it")

    def _bind(self, graph: str, name: str, ptr: int) -> None:
        if not self._contexts[graph].set_tensor_address(name, ptr):
            raise BackendError(
                f"TensorRT refused the address of the {graph} tensor {name!r} (it needs 256-byte aligned device "
                f"memory on the backend's GPU; see the TensorRT log above)"
            )

    def _run(self, graph: str, inputs: dict[str, tuple[int, tuple[int, ...]]]) -> dict[str, tuple[int, tuple]]:
        """Bind inputs (pointer, shape), allocate outputs, enqueue. Returns output (pointer, shape)."""
        context = self._contexts[graph]
        for name, (ptr, shape) in inputs.items():
            if not context.set_input_shape(name, shape):
                raise InputError(f"{graph} input {name!r} of shape {shape} is outside the engine's profile")
            self._bind(graph, name, ptr)
        outputs = {}
        for spec in self.package.graph(graph).outputs:
            shape = tuple(context.get_tensor_shape(spec.name))
            nbytes = int(np.prod(shape)) * np.dtype(_DTYPES[spec.dtype]).itemsize
            ptr = self._buffer(f"{graph}:{spec.name}").reserve(nbytes)
            self._bind(graph, spec.name, ptr)
            outputs[spec.name] = (ptr, shape)
        if not context.execute_async_v3(int(self._stream)):
            raise BackendError(f"TensorRT failed to run the {graph} engine (see the TensorRT log above)")
        return outputs

    def _download(self, ptr: int, shape: tuple[int, ...], dtype: type = np.float32) -> np.ndarray:
        host = np.empty(shape, dtype=dtype)
        self._cuda.to_host(host, ptr, self._stream)
        return host

    def _synchronize(self) -> None:
        self._cuda.call("cudaStreamSynchronize", self._cuda.rt.cudaStreamSynchronize(self._stream))

    def _inputs(self, **arrays: Any) -> dict[str, tuple[int, tuple[int, ...]]]:
        return {name: self._upload(name, array) for name, array in arrays.items() if array is not None}

    def encode(self, image: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
        with self._calls:
            self._cuda.set_device(self.device_index)
            bound = self._inputs(image=image, labels=labels)
            self._check_batch(bound["labels"][1][0])
            out = self._run("encoder", bound)
            codes, area = self._download(*out["codes"]), self._download(*out["area"])
            self._synchronize()
            return codes, area

    def generate(self, labels: Any, codes: Any, noise: Any, extra: Any) -> np.ndarray:
        with self._calls:
            self._cuda.set_device(self.device_index)
            bound = self._inputs(labels=labels, codes=codes, noise=noise, extra=extra)
            self._check_batch(bound["labels"][1][0])
            image = self._download(*self._run("generator", bound)["image"])
            self._synchronize()
            return image

    def encode_generate(self, image: Any, labels: Any, noise: Any, extra: Any) -> np.ndarray:
        with self._calls:
            self._cuda.set_device(self.device_index)
            bound = self._inputs(image=image, labels=labels)
            self._check_batch(bound["labels"][1][0])
            encoded = self._run("encoder", bound)
            generator_inputs = {"labels": bound["labels"], "codes": encoded["codes"]}
            generator_inputs.update(self._inputs(noise=noise, extra=extra))
            result = self._download(*self._run("generator", generator_inputs)["image"])
            self._synchronize()
            return result

    def close(self) -> None:
        """Free the device buffers, the event and the stream (also done when the backend is garbage-collected)."""
        if self._stream is not None or self._buffers:
            self._cuda.set_device(self.device_index)
        for buffer in self._buffers.values():
            buffer.release()
        self._buffers.clear()
        if self._event is not None:
            self._cuda.rt.cudaEventDestroy(self._event)
            self._event = None
        if self._stream is not None:
            self._cuda.rt.cudaStreamDestroy(self._stream)
            self._stream = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
