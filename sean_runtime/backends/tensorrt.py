"""TensorRT backend (TensorRT 10 Python API, device memory through CUDA Python).

Engines are deserialised once. Inputs may be numpy arrays (copied to the device) or any array exposing
`__cuda_array_interface__` (CuPy, PyTorch CUDA tensors, Numba: used in place, no copy). In
encode_generate the encoder's `codes` output buffer is bound as the generator's `codes` input, so the
codes never leave the device. `tensorrt` and `cuda-python` are imported only when this backend is built.

A plan only runs under the TensorRT version and on the GPU generation it was built for, and only with
the ONNX graph it was built from; the sidecar `<graph>.plan.json` written by `sean build-engine`
records those facts (schema in docs/package-format.md, "Engines"); this module reads
tensorrt_version, gpu_name, compute_capability ("9.0"), onnx_sha256 and plan_sha256.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from sean_runtime.backends.gpu import GpuInfo, cuda_gpus
from sean_runtime.errors import BackendError, InputError
from sean_runtime.files import sha256_file
from sean_runtime.package import GRAPHS, Package

REBUILD = "rebuild the engines on this machine with `sean build-engine PKG`"
_DTYPES = {"float32": np.float32, "int32": np.int32}


def _parse_capability(value: Any) -> tuple[int, int] | None:
    """[9, 0], "9.0", "sm_90" or "90" -> (9, 0); anything else -> None."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return int(value[0]), int(value[1])
    if isinstance(value, str):
        text = value.lower().removeprefix("sm_")
        if "." in text:
            major, minor = text.split(".", 1)
            return int(major), int(minor)
        if text.isdigit() and len(text) >= 2:
            return int(text[:-1]), int(text[-1])
    return None


def read_sidecar(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def plan_problem(
    package: Package, graph: str, sidecar: dict[str, Any] | None, tensorrt_version: str, gpu: GpuInfo
) -> str | None:
    """Why the plan of `graph` cannot run here (None: it can). Pure: no TensorRT or GPU needed."""
    spec = package.graph(graph)
    if sidecar is None:
        return f"{spec.plan_sidecar.name} is missing or unreadable, so {spec.plan.name} cannot be checked; {REBUILD}"
    if sidecar.get("onnx_sha256") != package.file_sha256(spec.file.name):
        return f"{spec.plan.name} was built from another {spec.file.name} than this package's (stale); {REBUILD}"
    built_with = str(sidecar.get("tensorrt_version", "?"))
    if built_with != tensorrt_version:
        return f"{spec.plan.name} was built with TensorRT {built_with}, this machine has {tensorrt_version}; {REBUILD}"
    capability = _parse_capability(sidecar.get("compute_capability"))
    if capability != gpu.compute_capability:
        built_for = sidecar.get("gpu_name", "another GPU")
        sm = f"sm_{capability[0]}{capability[1]}" if capability else "unknown compute capability"
        return (
            f"{spec.plan.name} was built for {built_for} ({sm}), but this GPU is {gpu.name} ({gpu.sm}): "
            f"a TensorRT plan runs only on the GPU generation it was built for; {REBUILD}"
        )
    return None


def tensorrt_problem(package: Package, device_index: int = 0) -> str | None:
    """Why TensorRT cannot serve this package here (None: it can)."""
    missing = [package.graph(g).plan.name for g in GRAPHS if not package.graph(g).plan.is_file()]
    if missing:
        return f"the package has no TensorRT engines ({', '.join(missing)}); build them with `sean build-engine PKG`"
    try:
        import tensorrt
    except ImportError:
        return "TensorRT is not installed (pip install 'sean-deploy[tensorrt]')"
    try:
        _cudart()
    except BackendError as exc:
        return str(exc)
    gpus = cuda_gpus()
    if device_index >= len(gpus):
        return "the CUDA driver reports no GPU" if not gpus else f"there is no GPU {device_index} ({len(gpus)} found)"
    for graph in GRAPHS:
        spec = package.graph(graph)
        sidecar = read_sidecar(spec.plan_sidecar)
        problem = plan_problem(package, graph, sidecar, tensorrt.__version__, gpus[device_index])
        if problem:
            return problem
        if sidecar.get("plan_sha256") not in (None, sha256_file(spec.plan)):
            return f"{spec.plan.name} does not match the sha256 in {spec.plan_sidecar.name} (damaged); {REBUILD}"
    return None


def _cudart() -> Any:
    """The CUDA runtime module of cuda-python (its location moved in cuda-python 12.6)."""
    try:
        from cuda.bindings import runtime
    except ImportError:
        try:
            from cuda import cudart as runtime
        except ImportError as exc:
            raise BackendError("cuda-python is not installed (pip install 'sean-deploy[tensorrt]')") from exc
    return runtime


class _Cuda:
    """The few CUDA runtime calls the backend needs, each checked."""

    def __init__(self) -> None:
        self.rt = _cudart()

    def call(self, what: str, result: tuple) -> Any:
        err, values = result[0], result[1:]
        if err != self.rt.cudaError_t.cudaSuccess:
            message = self.rt.cudaGetErrorString(err)[1]
            message = message.decode() if isinstance(message, bytes) else message
            raise BackendError(f"CUDA {what} failed: {message}")
        return values[0] if len(values) == 1 else values if values else None

    def malloc(self, nbytes: int) -> int:
        return int(self.call("cudaMalloc", self.rt.cudaMalloc(max(nbytes, 1))))

    def free(self, ptr: int) -> None:
        self.call("cudaFree", self.rt.cudaFree(ptr))

    def to_device(self, ptr: int, array: np.ndarray, stream: Any) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self.call("cudaMemcpyAsync", self.rt.cudaMemcpyAsync(ptr, array.ctypes.data, array.nbytes, kind, stream))

    def to_host(self, array: np.ndarray, ptr: int, stream: Any) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self.call("cudaMemcpyAsync", self.rt.cudaMemcpyAsync(array.ctypes.data, ptr, array.nbytes, kind, stream))


class _DeviceBuffer:
    """Device memory that grows to the largest batch seen and is reused after that."""

    def __init__(self, cuda: _Cuda) -> None:
        self.cuda = cuda
        self.ptr = 0
        self.nbytes = 0

    def reserve(self, nbytes: int) -> int:
        if nbytes > self.nbytes:
            if self.ptr:
                self.cuda.free(self.ptr)
            self.ptr = self.cuda.malloc(nbytes)
            self.nbytes = nbytes
        return self.ptr

    def release(self) -> None:
        if self.ptr:
            self.cuda.free(self.ptr)
        self.ptr, self.nbytes = 0, 0


def _device_pointer(array: Any, name: str, dtype: np.dtype, shape: tuple[int, ...]) -> int:
    """The device address of a `__cuda_array_interface__` array, after checking dtype, shape and layout."""
    info = array.__cuda_array_interface__
    if np.dtype(info["typestr"]) != dtype:
        raise InputError(f"device array for {name!r} has dtype {np.dtype(info['typestr'])}, expected {dtype}")
    if tuple(info["shape"]) != tuple(shape):
        raise InputError(f"device array for {name!r} has shape {tuple(info['shape'])}, expected {tuple(shape)}")
    strides = info.get("strides")
    if strides is not None:
        expected = tuple(int(np.prod(shape[i + 1 :])) * dtype.itemsize for i in range(len(shape)))
        if tuple(strides) != expected:
            raise InputError(f"device array for {name!r} is not C-contiguous; make a contiguous copy first")
    return int(info["data"][0])


class TensorRTBackend:
    """Both engines on one GPU, one CUDA stream, device buffers reused across calls."""

    name = "tensorrt"

    def __init__(self, package: Package, device_index: int = 0) -> None:
        import tensorrt as trt

        self._trt = trt
        self.package = package
        self._cuda = _Cuda()
        self._cuda.call("cudaSetDevice", self._cuda.rt.cudaSetDevice(device_index))
        self._stream = self._cuda.call("cudaStreamCreate", self._cuda.rt.cudaStreamCreate())
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self._engines = {g: self._deserialize(g) for g in GRAPHS}
        self._contexts = {g: self._engines[g].create_execution_context() for g in GRAPHS}
        if any(context is None for context in self._contexts.values()):
            raise BackendError("TensorRT could not create an execution context (out of GPU memory?)")
        self._buffers: dict[str, _DeviceBuffer] = {}
        self._input_dtypes = {t.name: np.dtype(_DTYPES[t.dtype]) for g in GRAPHS for t in package.graph(g).inputs}
        self._check_io()
        self.max_batch = min(
            int(self._engines[g].get_tensor_profile_shape(t.name, 0)[2][0])
            for g in GRAPHS
            for t in package.graph(g).inputs
        )
        gpu = cuda_gpus()[device_index]
        self.device = f"TensorRT {trt.__version__} on {gpu.name} ({gpu.sm})"

    def _deserialize(self, graph: str) -> Any:
        path = self.package.graph(graph).plan
        engine = self._runtime.deserialize_cuda_engine(path.read_bytes())
        if engine is None:
            raise BackendError(f"TensorRT could not deserialise {path} (corrupt, or built elsewhere); {REBUILD}")
        return engine

    def _check_io(self) -> None:
        """The engines' I/O names and dtypes are the manifest's."""
        trt = self._trt
        for graph in GRAPHS:
            engine = self._engines[graph]
            names = {engine.get_tensor_name(i) for i in range(engine.num_io_tensors)}
            spec = self.package.graph(graph)
            declared = {t.name: t.dtype for t in (*spec.inputs, *spec.outputs)}
            if names != set(declared):
                raise BackendError(f"{spec.plan.name} has tensors {sorted(names)}, the manifest {sorted(declared)}")
            for name, dtype in declared.items():
                if np.dtype(trt.nptype(engine.get_tensor_dtype(name))) != np.dtype(_DTYPES[dtype]):
                    raise BackendError(f"{spec.plan.name}: tensor {name!r} is not {dtype}; {REBUILD}")

    def _buffer(self, key: str) -> _DeviceBuffer:
        if key not in self._buffers:
            self._buffers[key] = _DeviceBuffer(self._cuda)
        return self._buffers[key]

    def _upload(self, name: str, array: Any) -> tuple[int, tuple[int, ...]]:
        """(device pointer, shape) of an input: device arrays in place, host arrays copied to a buffer.

        A device array must be ready when passed (its producer's stream synchronised).
        """
        dtype = self._input_dtypes[name]
        if hasattr(array, "__cuda_array_interface__"):
            shape = tuple(array.__cuda_array_interface__["shape"])
            return _device_pointer(array, name, dtype, shape), shape
        host = np.ascontiguousarray(array, dtype=dtype)
        ptr = self._buffer(f"in:{name}").reserve(host.nbytes)
        self._cuda.to_device(ptr, host, self._stream)
        return ptr, host.shape

    def _check_batch(self, batch: int) -> None:
        if batch > self.max_batch:
            raise InputError(f"batch {batch} exceeds the engines' largest batch {self.max_batch}; split it")

    def _run(self, graph: str, inputs: dict[str, tuple[int, tuple[int, ...]]]) -> dict[str, tuple[int, tuple]]:
        """Bind inputs (pointer, shape), allocate outputs, enqueue. Returns output (pointer, shape)."""
        context = self._contexts[graph]
        for name, (ptr, shape) in inputs.items():
            if not context.set_input_shape(name, shape):
                raise InputError(f"{graph} input {name!r} of shape {shape} is outside the engine's profile")
            context.set_tensor_address(name, ptr)
        outputs = {}
        for spec in self.package.graph(graph).outputs:
            shape = tuple(context.get_tensor_shape(spec.name))
            nbytes = int(np.prod(shape)) * np.dtype(_DTYPES[spec.dtype]).itemsize
            ptr = self._buffer(f"{graph}:{spec.name}").reserve(nbytes)
            context.set_tensor_address(spec.name, ptr)
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

    def _encoder_extra(self, extra: Any) -> Any:
        return extra if self.package.encoder.takes_extra else None

    def encode(self, image: Any, labels: Any, extra: Any) -> tuple[np.ndarray, np.ndarray]:
        bound = self._inputs(image=image, labels=labels, extra=self._encoder_extra(extra))
        self._check_batch(bound["labels"][1][0])
        out = self._run("encoder", bound)
        codes, area = self._download(*out["codes"]), self._download(*out["area"])
        self._synchronize()
        return codes, area

    def generate(self, labels: Any, codes: Any, noise: Any, extra: Any) -> np.ndarray:
        bound = self._inputs(labels=labels, codes=codes, noise=noise, extra=extra)
        self._check_batch(bound["labels"][1][0])
        image = self._download(*self._run("generator", bound)["image"])
        self._synchronize()
        return image

    def encode_generate(self, image: Any, labels: Any, noise: Any, extra: Any) -> np.ndarray:
        bound = self._inputs(image=image, labels=labels, extra=extra)
        self._check_batch(bound["labels"][1][0])
        encoder_inputs = {k: v for k, v in bound.items() if k != "extra" or self.package.encoder.takes_extra}
        encoded = self._run("encoder", encoder_inputs)
        generator_inputs = {"labels": bound["labels"], "codes": encoded["codes"], **self._inputs(noise=noise)}
        if "extra" in bound:
            generator_inputs["extra"] = bound["extra"]
        result = self._download(*self._run("generator", generator_inputs)["image"])
        self._synchronize()
        return result

    def close(self) -> None:
        """Free the device buffers and the stream (also done when the backend is garbage-collected)."""
        for buffer in self._buffers.values():
            buffer.release()
        self._buffers.clear()
        if getattr(self, "_stream", None) is not None:
            self._cuda.rt.cudaStreamDestroy(self._stream)
            self._stream = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
