"""Which NVIDIA GPUs this process can use, asked of the CUDA driver through ctypes (no CUDA Python needed)."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from dataclasses import dataclass
from functools import cache

# cuDeviceGetAttribute ids (CUDA driver API, CUdevice_attribute)
_COMPUTE_CAPABILITY_MAJOR = 75
_COMPUTE_CAPABILITY_MINOR = 76


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str  # e.g. "NVIDIA H100 80GB HBM3"
    compute_capability: tuple[int, int]  # e.g. (9, 0)

    @property
    def sm(self) -> str:
        return f"sm_{self.compute_capability[0]}{self.compute_capability[1]}"


def _driver() -> ctypes.CDLL | None:
    names = (
        ["nvcuda.dll"] if sys.platform == "win32" else ["libcuda.so.1", "libcuda.so", ctypes.util.find_library("cuda")]
    )
    for name in names:
        if not name:
            continue
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


@cache
def cuda_gpus() -> tuple[GpuInfo, ...]:
    """The GPUs the CUDA driver reports; empty without a driver or a device (never raises)."""
    lib = _driver()
    if lib is None:
        return ()
    try:
        if lib.cuInit(0) != 0:
            return ()
        count = ctypes.c_int(0)
        if lib.cuDeviceGetCount(ctypes.byref(count)) != 0:
            return ()
        gpus = []
        for index in range(count.value):
            device = ctypes.c_int(0)
            if lib.cuDeviceGet(ctypes.byref(device), index) != 0:
                continue
            name = ctypes.create_string_buffer(256)
            lib.cuDeviceGetName(name, 256, device)
            major, minor = ctypes.c_int(0), ctypes.c_int(0)
            lib.cuDeviceGetAttribute(ctypes.byref(major), _COMPUTE_CAPABILITY_MAJOR, device)
            lib.cuDeviceGetAttribute(ctypes.byref(minor), _COMPUTE_CAPABILITY_MINOR, device)
            gpus.append(GpuInfo(index, name.value.decode(errors="replace"), (major.value, minor.value)))
        return tuple(gpus)
    except (AttributeError, OSError):
        return ()
