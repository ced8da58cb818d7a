"""Building the C++ runtime with CMake, and calling its C API (include/sean/sean.h) from Python.

    build = cmake_build(Path("build/cpp"), "-DCMAKE_BUILD_TYPE=Release")
    cpp = CppRuntime(build / "libsean.so", "packages/shapes", threads=1)
    styles = cpp.encode(images, labels)          # uint8 [B, H, W, 3], int32 [B, H, W] -> handle
    rgb = cpp.synthesize(labels, styles, seed=0)  # uint8 [B, H, W, 3]

Used by tests/test_cpp_runtime.py and `sean bench --cpp` to compare the two runtimes.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from sean_core.install import missing_module_message

SOURCE = Path(__file__).resolve().parent


class BuildError(RuntimeError):
    """The C++ runtime could not be built; `missing` says a tool or dependency is absent (not a code error)."""

    def __init__(self, message: str, missing: bool = False) -> None:
        super().__init__(message)
        self.missing = missing


def missing_tool() -> str | None:
    """Why the C++ runtime cannot be built here (a compiler, CMake or the openvino wheel is absent), or None."""
    for tool in ("cmake", "c++", "cc"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install cmake g++)"
    try:
        import openvino  # noqa: F401  (its wheel ships the C++ headers and OpenVINOConfig.cmake)
    except ImportError:
        return missing_module_message("openvino", "the C++ runtime's build")
    return None


def cmake_build(build: Path, *options: str, target: str | None = None) -> Path:
    """Configure and build this CMake project into `build` (kept: later calls rebuild incrementally)."""
    missing = missing_tool()
    if missing:
        raise BuildError(missing, missing=True)
    configure = subprocess.run(
        ["cmake", "-S", str(SOURCE), "-B", str(build), f"-DPython3_EXECUTABLE={sys.executable}", *options],
        capture_output=True, text=True,
    )
    if configure.returncode != 0:
        output = configure.stdout + configure.stderr
        absent = [line.strip() for line in output.splitlines() if "Could NOT find" in line]
        if absent:  # scripts/test.sh installs these when run as root
            raise BuildError(f"a C++ dependency is missing: {absent[0]}", missing=True)
        raise BuildError(f"cmake configure failed:\n{output[-4000:]}")
    targets = ["--target", target] if target else []
    built = subprocess.run(["cmake", "--build", str(build), "-j", str(os.cpu_count() or 2), *targets],
                           capture_output=True, text=True)
    if built.returncode != 0:
        raise BuildError(f"the C++ build failed:\n{built.stdout[-4000:]}\n{built.stderr[-4000:]}")
    return build


API_VERSION = 1  # SEAN_API_VERSION of include/sean/sean.h that these structs follow


class ModelInfo(ctypes.Structure):
    """sean_model_info (struct_size first: the library fills what the caller's struct has)."""

    _fields_ = [("struct_size", ctypes.c_size_t)] + [(name, ctypes.c_int) for name in (
        "height", "width", "num_classes", "style_dim", "extra_channels", "format_version")] + [
        ("max_batch", ctypes.c_size_t), ("backend", ctypes.c_char_p), ("device", ctypes.c_char_p),
        ("description", ctypes.c_char_p), ("note_count", ctypes.c_size_t)]


class Options(ctypes.Structure):
    """sean_options; the library checks struct_size, so it is always the size of this struct."""

    _fields_ = [("struct_size", ctypes.c_size_t), ("backend", ctypes.c_char_p), ("device", ctypes.c_char_p),
                ("precision", ctypes.c_char_p), ("threads", ctypes.c_int), ("gpu", ctypes.c_int),
                ("verify", ctypes.c_int)]


class CppRuntime:
    """A package opened by the C++ library; styles are opaque handles freed when the runtime closes."""

    def __init__(self, library: Path, package: Path, threads: int = 0, precision: str = "f32",
                 backend: str = "openvino") -> None:
        """threads: OpenVINO CPU threads (0: its default, all cores); precision: its hint, f32, bf16 or f16;
        backend: auto, openvino or tensorrt."""
        self.lib = lib = ctypes.CDLL(str(library))
        lib.sean_last_error.restype = ctypes.c_char_p
        lib.sean_model_class_name.restype = ctypes.c_char_p
        lib.sean_model_note.restype = ctypes.c_char_p
        lib.sean_styles_batch.restype = ctypes.c_size_t
        pointer, size, integer = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int
        lib.sean_synthesize.argtypes = [pointer, size, integer, integer, pointer, pointer, ctypes.c_uint64, integer,
                                        pointer, pointer]
        lib.sean_styles_interpolate.argtypes = [pointer, pointer, ctypes.c_float, pointer, size, integer, pointer,
                                                pointer]
        for name in ("sean_encode", "sean_styles_swap", "sean_read_labels", "sean_read_image", "sean_resize_labels",
                     "sean_resize_image", "sean_styles_copy"):
            getattr(lib, name).restype = ctypes.c_int
        for name in ("sean_styles_free", "sean_model_close"):  # void functions
            getattr(lib, name).restype = None
        lib.sean_api_version.restype = ctypes.c_uint32
        if lib.sean_api_version() < API_VERSION:
            raise RuntimeError(f"{library} has C API version {lib.sean_api_version()}; this binding needs "
                               f"{API_VERSION}: rebuild it")
        options = Options(ctypes.sizeof(Options), backend.encode(), b"CPU", precision.encode(), threads, 0, 1)
        self.model = ctypes.c_void_p()
        self._check(lib.sean_model_open(str(package).encode(), ctypes.byref(options), ctypes.byref(self.model)))
        self.info = ModelInfo(struct_size=ctypes.sizeof(ModelInfo))
        self._check(lib.sean_model_info_get(self.model, ctypes.byref(self.info)))
        self.shape = (self.info.height, self.info.width)
        self._styles: list[ctypes.c_void_p] = []

    @property
    def notes(self) -> list[str]:
        """Backends passed over, and why (sean_model_note)."""
        return [self.lib.sean_model_note(self.model, i).decode() for i in range(self.info.note_count)]

    def _check(self, status: int) -> None:
        if status != 0:
            raise RuntimeError(f"status {status}: {self.lib.sean_last_error().decode()}")

    def _new_styles(self) -> ctypes.c_void_p:
        handle = ctypes.c_void_p()
        self._styles.append(handle)
        return handle

    def close(self) -> None:
        for handle in self._styles:
            self.lib.sean_styles_free(handle)
        self.lib.sean_model_close(self.model)

    def encode(self, images: np.ndarray, labels: np.ndarray) -> ctypes.c_void_p:
        images, labels = np.ascontiguousarray(images, np.uint8), np.ascontiguousarray(labels, np.int32)
        out = self._new_styles()
        self._check(self.lib.sean_encode(self.model, ctypes.c_size_t(len(labels)), *self.shape,
                                         images.ctypes.data_as(ctypes.c_void_p), labels.ctypes.data_as(ctypes.c_void_p),
                                         None, ctypes.byref(out)))
        return out

    def codes(self, styles: ctypes.c_void_p) -> tuple[np.ndarray, np.ndarray]:
        batch = self.lib.sean_styles_batch(styles)
        codes = np.zeros((batch, self.info.num_classes, self.info.style_dim), np.float32)
        present = np.zeros((batch, self.info.num_classes), np.uint8)
        self._check(self.lib.sean_styles_copy(styles, codes.ctypes.data_as(ctypes.c_void_p),
                                              present.ctypes.data_as(ctypes.c_void_p)))
        return codes, present.astype(bool)

    def select(self, styles, index: int) -> ctypes.c_void_p:
        out = self._new_styles()
        self._check(self.lib.sean_styles_select(styles, ctypes.c_size_t(index), ctypes.byref(out)))
        return out

    def concat(self, items: list) -> ctypes.c_void_p:
        out = self._new_styles()
        handles = (ctypes.c_void_p * len(items))(*(item.value for item in items))
        self._check(self.lib.sean_styles_concat(handles, ctypes.c_size_t(len(items)), ctypes.byref(out)))
        return out

    def swap(self, styles, classes: list[str], other) -> ctypes.c_void_p:
        names = (ctypes.c_char_p * len(classes))(*(c.encode() for c in classes))
        out = self._new_styles()
        self._check(self.lib.sean_styles_swap(styles, names, ctypes.c_size_t(len(classes)), other, 0, None,
                                              ctypes.byref(out)))
        return out

    def interpolate(self, styles, other, alpha: float) -> ctypes.c_void_p:
        out = self._new_styles()
        self._check(self.lib.sean_styles_interpolate(styles, other, alpha, None, 0, 0, None, ctypes.byref(out)))
        return out

    def synthesize(self, labels: np.ndarray, styles, seed: int = 0, noise: bool = True) -> np.ndarray:
        labels = np.ascontiguousarray(labels, np.int32)
        out = np.zeros((len(labels), *self.shape, 3), np.uint8)
        self._check(self.lib.sean_synthesize(self.model, len(labels), *self.shape, labels.ctypes.data, styles, seed,
                                             int(noise), None, out.ctypes.data))
        return out

    def read_labels(self, path: Path) -> np.ndarray:
        out = np.zeros(self.shape, np.int32)
        self._check(self.lib.sean_read_labels(self.model, str(path).encode(), out.ctypes.data_as(ctypes.c_void_p)))
        return out

    def read_image(self, path: Path) -> np.ndarray:
        out = np.zeros((*self.shape, 3), np.uint8)
        self._check(self.lib.sean_read_image(self.model, str(path).encode(), out.ctypes.data_as(ctypes.c_void_p)))
        return out

    def resize_labels(self, labels: np.ndarray, height: int, width: int) -> np.ndarray:
        labels = np.ascontiguousarray(labels, np.int32)
        out = np.zeros((height, width), np.int32)
        self._check(self.lib.sean_resize_labels(labels.ctypes.data_as(ctypes.c_void_p), *labels.shape,
                                                out.ctypes.data_as(ctypes.c_void_p), height, width))
        return out

    def resize_image(self, rgb: np.ndarray, height: int, width: int) -> np.ndarray:
        rgb = np.ascontiguousarray(rgb, np.uint8)
        out = np.zeros((height, width, 3), np.uint8)
        self._check(self.lib.sean_resize_image(rgb.ctypes.data_as(ctypes.c_void_p), *rgb.shape[:2],
                                               out.ctypes.data_as(ctypes.c_void_p), height, width))
        return out
