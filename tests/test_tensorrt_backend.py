"""The TensorRT backend's own logic on a CPU machine: device-array inputs, bound addresses, the current
device per thread, and CUDA errors as BackendError.

cuda-python installs here, but without an NVIDIA driver every call it makes fails, and TensorRT cannot be
installed here; so FakeCudaRuntime stands in for cuda-python's runtime module (the calls the backend makes,
each recorded, errors on demand) and FakeContext for a TensorRT execution context. The assertions are
about what the backend asks of them. The real cuda-python is asked once: what it answers with no driver.
"""

from __future__ import annotations

import enum
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from sean_core.errors import BackendError, InputError
from sean_runtime.backends import cuda as cuda_module
from sean_runtime.backends.cuda import ALIGNMENT, Cuda, device_array
from sean_runtime.backends.tensorrt import TensorRTBackend
from sean_runtime.package import load_package
from tests.helpers import H, K, N, S, W, write_package

OUR_STREAM, PRODUCER_STREAM = 7, 5


class FakeCudaRuntime:
    """The part of `cuda.bindings.runtime` the backend calls. `fail` maps a call name to the error it returns."""

    class cudaError_t(enum.IntEnum):
        cudaSuccess = 0
        cudaErrorInsufficientDriver = 35

    class cudaMemcpyKind(enum.IntEnum):
        cudaMemcpyHostToDevice = 1
        cudaMemcpyDeviceToHost = 2
        cudaMemcpyDeviceToDevice = 3

    cudaEventDisableTiming = 2

    def __init__(self, fail: dict[str, int] | None = None, driver: int = 12020) -> None:
        self.fail = fail or {}
        self.driver = driver  # the CUDA version the driver supports (12020: 12.2); 0: no driver
        self.calls: list[tuple[str, int, tuple]] = []  # (name, thread id, arguments)
        self._next = 1 << 20

    def _record(self, name: str, args: tuple, *values: Any) -> tuple:
        self.calls.append((name, threading.get_ident(), args))
        error = self.fail.get(name, 0)
        return (self.cudaError_t(error),) if error else (self.cudaError_t.cudaSuccess, *values)

    def cudaGetErrorString(self, error: int) -> tuple:
        text = {35: b"CUDA driver version is insufficient for CUDA runtime version"}.get(int(error), b"error")
        return self.cudaError_t.cudaSuccess, text

    def cudaMalloc(self, nbytes: int) -> tuple:
        ptr, self._next = self._next, self._next + (nbytes + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT
        return self._record("cudaMalloc", (nbytes,), ptr)

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("cuda"):
            raise AttributeError(name)
        results = {"cudaStreamCreate": (OUR_STREAM,), "cudaEventCreateWithFlags": ("event",),
                   "cudaDriverGetVersion": (self.driver,), "cudaRuntimeGetVersion": (13000,)}
        return lambda *args: self._record(name, args, *results.get(name, ()))

    def names(self, thread: int | None = None) -> list[str]:
        return [name for name, ident, _ in self.calls if thread is None or ident == thread]


class FakeContext:
    """A TensorRT execution context that accepts every shape and refuses the addresses in `refuse`."""

    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.refuse = refuse
        self.shapes: dict[str, tuple] = {}
        self.addresses: dict[str, int] = {}

    def set_input_shape(self, name: str, shape: tuple) -> bool:
        self.shapes[name] = tuple(shape)
        return True

    def set_tensor_address(self, name: str, ptr: int) -> bool:
        self.addresses[name] = ptr
        return name not in self.refuse

    def get_tensor_shape(self, name: str) -> tuple:
        return (self.shapes["labels"][0], 3, H, W)

    def execute_async_v3(self, stream: int) -> bool:
        return stream == OUR_STREAM


class DeviceArray:
    """An array on the "device" as far as __cuda_array_interface__ (v3) tells."""

    def __init__(self, ptr: int, shape: tuple, typestr: str, stream: int | None = PRODUCER_STREAM) -> None:
        self.__cuda_array_interface__ = {
            "shape": shape, "typestr": typestr, "data": (ptr, False), "version": 3, "strides": None, "stream": stream,
        }


@pytest.fixture
def runtime(monkeypatch) -> FakeCudaRuntime:
    fake = FakeCudaRuntime()
    monkeypatch.setattr(cuda_module, "cudart", lambda: fake)
    return fake


def backend_on(runtime: FakeCudaRuntime, tmp_path, context: FakeContext, device_index: int = 1) -> TensorRTBackend:
    """A TensorRTBackend as _start leaves it (engines aside), on GPU `device_index`."""
    package = load_package(write_package(tmp_path / "pkg"))
    backend = object.__new__(TensorRTBackend)
    backend.package, backend.device_index, backend.max_batch = package, device_index, 8
    backend._cuda, backend._stream, backend._event, backend._buffers = Cuda(), OUR_STREAM, "event", {}
    backend._calls = threading.Lock()
    backend._contexts = {"generator": context}
    backend._input_dtypes = {t.name: np.dtype(np.float32 if t.dtype == "float32" else np.int32)
                             for g in ("encoder", "generator") for t in package.graph(g).inputs}
    return backend


def generator_inputs(base: int, misaligned: str = "") -> dict[str, DeviceArray]:
    """labels, codes, noise of batch 2 as device arrays at 256-aligned addresses (+4 bytes for `misaligned`)."""
    shapes = {"labels": ((2, H, W), "<i4"), "codes": ((2, K, S), "<f4"), "noise": ((2, N), "<f4")}
    return {
        name: DeviceArray(base + i * 4096 + (4 if name == misaligned else 0), shape, typestr)
        for i, (name, (shape, typestr)) in enumerate(shapes.items())
    }


def test_device_arrays_wait_for_their_stream_and_misaligned_ones_are_copied(runtime, tmp_path):
    context = FakeContext()
    backend = backend_on(runtime, tmp_path, context)
    inputs = generator_inputs(1 << 30, misaligned="codes")
    backend.generate(inputs["labels"], inputs["codes"], inputs["noise"], None)
    assert all(ptr % ALIGNMENT == 0 for ptr in context.addresses.values())
    assert context.addresses["labels"] == 1 << 30  # aligned: used in place
    assert context.addresses["codes"] != (1 << 30) + 4096 + 4  # misaligned: a copy of the backend's
    copies = [args for name, _, args in runtime.calls if name == "cudaMemcpyAsync"
              and args[3] == FakeCudaRuntime.cudaMemcpyKind.cudaMemcpyDeviceToDevice]
    assert copies == [(context.addresses["codes"], (1 << 30) + 4096 + 4, 2 * K * S * 4,
                       FakeCudaRuntime.cudaMemcpyKind.cudaMemcpyDeviceToDevice, OUR_STREAM)]
    # Each input's producer stream is waited on (event recorded there, our stream waits) before any use.
    records = [args for name, _, args in runtime.calls if name == "cudaEventRecord"]
    waits = [args for name, _, args in runtime.calls if name == "cudaStreamWaitEvent"]
    assert records == [("event", PRODUCER_STREAM)] * 3 and waits == [(OUR_STREAM, "event", 0)] * 3
    names = runtime.names()
    assert names.index("cudaStreamWaitEvent") < names.index("cudaMemcpyAsync")


def test_ready_device_arrays_are_not_waited_on_and_stream_0_is_refused(runtime, tmp_path):
    backend = backend_on(runtime, tmp_path, FakeContext())
    inputs = generator_inputs(1 << 30)
    for array in inputs.values():
        array.__cuda_array_interface__["stream"] = None
    backend.generate(inputs["labels"], inputs["codes"], inputs["noise"], None)
    assert "cudaEventRecord" not in runtime.names()
    inputs["noise"].__cuda_array_interface__["stream"] = 0
    with pytest.raises(InputError, match="stream 0"):
        backend.generate(inputs["labels"], inputs["codes"], inputs["noise"], None)
    strided = DeviceArray(1 << 30, (2, N), "<f4")
    strided.__cuda_array_interface__["strides"] = (8 * N, 8)
    with pytest.raises(InputError, match="not C-contiguous"):
        device_array(strided, "noise", np.dtype(np.float32))


def test_a_refused_tensor_address_is_an_error_not_a_wrong_image(runtime, tmp_path):
    backend = backend_on(runtime, tmp_path, FakeContext(refuse=frozenset({"noise"})))
    inputs = generator_inputs(1 << 30)
    with pytest.raises(BackendError, match="refused the address of the generator tensor 'noise'"):
        backend.generate(inputs["labels"], inputs["codes"], inputs["noise"], None)


def test_every_call_makes_the_backends_gpu_current_in_its_own_thread(runtime, tmp_path):
    backend = backend_on(runtime, tmp_path, FakeContext(), device_index=1)
    labels = np.zeros((1, H, W), np.int32)
    codes, noise = np.zeros((1, K, S), np.float32), np.zeros((1, N), np.float32)
    worker: list[int] = []

    def serve() -> None:
        worker.append(threading.get_ident())
        backend.generate(labels, codes, noise, None)

    thread = threading.Thread(target=serve)
    thread.start()
    thread.join()
    in_worker = [(name, args) for name, ident, args in runtime.calls if ident == worker[0]]
    assert in_worker[0] == ("cudaSetDevice", (1,))  # before any copy or launch of that thread


def test_an_old_driver_is_a_backend_error_that_names_the_cuda_12_extra(monkeypatch):
    fake = FakeCudaRuntime(fail={"cudaSetDevice": 35})
    monkeypatch.setattr(cuda_module, "cudart", lambda: fake)
    with pytest.raises(BackendError, match=r"insufficient.*supports CUDA up to 12\.2, this CUDA runtime is "
                       r"13\.0: .*R580.*'tensorrt-cu12' extra"):
        Cuda().set_device(0)


def test_the_real_cuda_python_takes_every_call_and_no_driver_is_not_called_an_old_one():
    # The real cuda-python, on a machine without an NVIDIA driver: CUDA returns the old driver's error
    # (cudaErrorInsufficientDriver) and reports driver version 0.
    runtime = pytest.importorskip("cuda.bindings.runtime", reason="cuda-python is not installed")
    if runtime.cudaDriverGetVersion()[1] != 0:
        pytest.skip("an NVIDIA driver is installed on this machine")
    with pytest.raises(BackendError) as refused:
        Cuda().malloc(16)
    assert str(refused.value) == ("CUDA cudaMalloc failed: CUDA driver version is insufficient for CUDA runtime "
                                  "version (no NVIDIA driver is installed on this machine: the TensorRT backend "
                                  "needs an NVIDIA GPU and its driver)")
    # Every other call the backend makes, with arguments of the types it passes: the real module takes
    # them (a renamed function or a refused argument type would raise AttributeError or TypeError here).
    cuda, host = Cuda(), np.zeros(4, np.float32)
    stream, event = runtime.cudaStream_t(), runtime.cudaEvent_t()
    calls = {
        "cudaSetDevice": lambda: cuda.set_device(0),
        "cudaMemcpyAsync": lambda: cuda.copy_on_device(1 << 20, 2 << 20, 16, stream),
        "cudaEventCreateWithFlags": cuda.new_event,
        "cudaEventRecord": lambda: cuda.wait_for(stream, PRODUCER_STREAM, event),
        "cudaFree": lambda: cuda.free(1 << 20),
        "cudaStreamCreate": lambda: cuda.call("cudaStreamCreate", cuda.rt.cudaStreamCreate()),
        "cudaStreamSynchronize": lambda: cuda.call("cudaStreamSynchronize", cuda.rt.cudaStreamSynchronize(stream)),
    }
    for name, call in [*calls.items(), ("cudaMemcpyAsync", lambda: cuda.to_device(1 << 20, host, stream)),
                       ("cudaMemcpyAsync", lambda: cuda.to_host(host, 1 << 20, stream))]:
        with pytest.raises(BackendError, match=rf"^CUDA {name} failed: .*\(no NVIDIA driver is installed"):
            call()
    assert cuda.rt.cudaEventDestroy(event)[0] != 0 and cuda.rt.cudaStreamDestroy(stream)[0] != 0  # no raise


class SlowContext(FakeContext):
    """A context that takes a while to enqueue and records how many calls were inside it at once."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = self.most_inside = 0
        self.count = threading.Lock()

    def execute_async_v3(self, stream: int) -> bool:
        with self.count:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
        time.sleep(0.05)
        with self.count:
            self.inside -= 1
        return super().execute_async_v3(stream)


def test_calls_from_several_threads_run_one_at_a_time(runtime, tmp_path):
    """The backend binds every call's addresses on its one context and buffers: two calls at once would bind
    each other's tensors (Synthesizer.load(workers=2) or threads sharing one Synthesizer)."""
    context = SlowContext()
    backend = backend_on(runtime, tmp_path, context)
    calls = [generator_inputs(1 << 30), generator_inputs(1 << 31)]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda i: backend.generate(i["labels"], i["codes"], i["noise"], None), calls))
    assert context.most_inside == 1
