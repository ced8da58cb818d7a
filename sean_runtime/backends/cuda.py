"""CUDA device memory for the TensorRT backend, through CUDA Python (`cuda-python`, imported on first use).

GPU discovery without CUDA Python is sean_runtime.backends.gpu.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sean_core.errors import BackendError, InputError
from sean_core.install import missing_module_message


def cudart() -> Any:
    """The CUDA runtime module of cuda-python (its location moved in cuda-python 12.6)."""
    try:
        from cuda.bindings import runtime
    except ImportError:
        try:
            from cuda import cudart as runtime
        except ImportError as exc:
            raise BackendError(missing_module_message("cuda", "the TensorRT backend")) from exc
    return runtime


ALIGNMENT = 256  # bytes: TensorRT needs every I/O tensor address aligned to this (cudaMalloc's own alignment)
# __cuda_array_interface__ "stream" values with a fixed meaning (v3 of the protocol): the legacy default
# stream and the per-thread default stream, which the CUDA runtime takes as these very handles.
LEGACY_DEFAULT_STREAM, PER_THREAD_DEFAULT_STREAM = 1, 2
OLD_DRIVER_HINT = (
    "CUDA 13 builds need driver R580 or newer; on older drivers install the 'tensorrt-cu12' extra (TensorRT "
    "and cuda-python for CUDA 12)"
)
NO_DRIVER = "no NVIDIA driver is installed on this machine: the TensorRT backend needs an NVIDIA GPU and its driver"


def cuda_version(number: int) -> str:
    """CUDA's version numbers, 1000 major + 10 minor (13000: "13.0")."""
    return f"{number // 1000}.{number % 1000 // 10}"


class Cuda:
    """The few CUDA runtime calls the backend needs, each checked."""

    def __init__(self) -> None:
        self.rt = cudart()

    def call(self, what: str, result: tuple) -> Any:
        err, values = result[0], result[1:]
        if err != self.rt.cudaError_t.cudaSuccess:
            message = self.rt.cudaGetErrorString(err)[1]
            message = message.decode() if isinstance(message, bytes) else message
            if err == getattr(self.rt.cudaError_t, "cudaErrorInsufficientDriver", None):
                message = f"{message} ({self.driver_problem()})"
            raise BackendError(f"CUDA {what} failed: {message}")
        return values[0] if len(values) == 1 else values if values else None

    def driver_problem(self) -> str:
        """Why CUDA finds the driver insufficient: there is none (CUDA reports driver version 0 then, and
        the same error as for an old one), or it is older than this CUDA runtime."""
        driver_err, driver = self.rt.cudaDriverGetVersion()
        runtime_err, runtime = self.rt.cudaRuntimeGetVersion()
        success = self.rt.cudaError_t.cudaSuccess
        if driver_err == success and driver == 0:
            return NO_DRIVER
        if driver_err == success and runtime_err == success:
            return (f"the NVIDIA driver supports CUDA up to {cuda_version(driver)}, this CUDA runtime is "
                    f"{cuda_version(runtime)}: {OLD_DRIVER_HINT}")
        return f"the NVIDIA driver is older than this CUDA build needs: {OLD_DRIVER_HINT}"

    def set_device(self, index: int) -> None:
        """Make GPU `index` current for the calling thread (CUDA keeps the current device per thread)."""
        self.call("cudaSetDevice", self.rt.cudaSetDevice(index))

    def copy_on_device(self, dst: int, src: int, nbytes: int, stream: Any) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyDeviceToDevice
        self.call("cudaMemcpyAsync", self.rt.cudaMemcpyAsync(dst, src, nbytes, kind, stream))

    def new_event(self) -> Any:
        flags = self.rt.cudaEventDisableTiming
        return self.call("cudaEventCreateWithFlags", self.rt.cudaEventCreateWithFlags(flags))

    def wait_for(self, stream: Any, producer: int, event: Any) -> None:
        """Work queued on `stream` from now on waits for everything queued so far on `producer`."""
        self.call("cudaEventRecord", self.rt.cudaEventRecord(event, producer))
        self.call("cudaStreamWaitEvent", self.rt.cudaStreamWaitEvent(stream, event, 0))

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


class DeviceBuffer:
    """Device memory that grows to the largest batch seen and is reused after that."""

    def __init__(self, cuda: Cuda) -> None:
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


@dataclass(frozen=True)
class DeviceArray:
    """An input given as a `__cuda_array_interface__` array, after its dtype and layout were checked."""

    ptr: int
    shape: tuple[int, ...]
    nbytes: int
    stream: int | None  # the producer's stream to wait on before reading it; None: ready already

    @property
    def aligned(self) -> bool:
        return self.ptr % ALIGNMENT == 0


def device_array(array: Any, name: str, dtype: np.dtype) -> DeviceArray:
    """Read an array's `__cuda_array_interface__` (v3: the "stream" key); InputError says what is wrong."""
    info = array.__cuda_array_interface__
    if np.dtype(info["typestr"]) != dtype:
        raise InputError(f"device array for {name!r} has dtype {np.dtype(info['typestr'])}, expected {dtype}")
    shape = tuple(int(n) for n in info["shape"])
    strides = info.get("strides")
    if strides is not None:
        expected = tuple(int(np.prod(shape[i + 1 :])) * dtype.itemsize for i in range(len(shape)))
        if tuple(strides) != expected:
            raise InputError(f"device array for {name!r} is not C-contiguous; make a contiguous copy first")
    stream = info.get("stream")
    if stream == 0:  # the protocol forbids 0: it cannot tell the legacy from the per-thread default stream
        raise InputError(f"device array for {name!r} names stream 0, which __cuda_array_interface__ forbids")
    nbytes = int(np.prod(shape)) * dtype.itemsize
    return DeviceArray(int(info["data"][0]), shape, nbytes, None if stream is None else int(stream))
