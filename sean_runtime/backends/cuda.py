"""CUDA device memory for the TensorRT backend, through CUDA Python (`cuda-python`, imported on first use).

GPU discovery without CUDA Python is sean_runtime.backends.gpu.
"""

from __future__ import annotations

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


class Cuda:
    """The few CUDA runtime calls the backend needs, each checked."""

    def __init__(self) -> None:
        self.rt = cudart()

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


def device_pointer(array: Any, name: str, dtype: np.dtype, shape: tuple[int, ...]) -> int:
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
