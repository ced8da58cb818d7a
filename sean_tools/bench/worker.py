"""One benchmark path, timed in its own process: `python -m sean_tools.bench.worker < spec.json`.

The parent (sean_tools.bench.run) starts one worker per path so that peak resident memory
(getrusage ru_maxrss) belongs to that path alone, and so that the ONNX Runtime and OpenVINO workers
never import torch: torch is imported only by the paths that need it. The worker reads a WorkerSpec
as JSON on stdin and prints one JSON object on the last line of stdout.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sean_core.install import missing_modules
from sean_tools.bench.inputs import timed_inputs
from sean_tools.bench.spec import WorkerSpec

# (encode(image, labels) -> codes, generate(labels, codes, noise) -> image), numpy in and out.
Encode = Callable[[np.ndarray, np.ndarray], np.ndarray]
Generate = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
Runner = tuple[Encode, Generate]


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB.

    Linux: VmHWM of /proc/self/status, the high-water mark of this program's own memory. ru_maxrss is
    not used there: it keeps the larger peak of the process before exec, so a worker started by a
    `sean bench` that had just exported a full-size model reported the exporter's peak on every path.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0  # kB
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # where there is no /proc (KiB)


# --- matrix-product peak ------------------------------------------------------------------------------
def gemm_gflops(matmul: Callable[[Any, Any], Any], a: Any, b: Any, repeats: int = 5) -> float:
    """Best GFLOP/s of a square fp32 matrix product over `repeats` runs (after one warm-up)."""
    n = a.shape[0]
    matmul(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a, b)
        best = min(best, time.perf_counter() - start)
    return 2.0 * n**3 / best / 1e9


def gemm_operands(spec: WorkerSpec) -> tuple[np.ndarray, np.ndarray]:
    """Two random fp32 square matrices of the benchmark's GEMM size."""
    n = spec.gemm_size
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)


def numpy_gemm_gflops(spec: WorkerSpec, repeats: int = 3) -> float:
    """fp32 GEMM rate of numpy's BLAS (threads come from the worker's environment)."""
    return gemm_gflops(np.matmul, *gemm_operands(spec), repeats)


def measure_gemm(spec: WorkerSpec) -> dict[str, Any]:
    """fp32 2048 x 2048 matrix product with numpy (its BLAS) and with torch (when installed), at the
    benchmark's thread count."""
    a, b = gemm_operands(spec)
    result = {"size": a.shape[0], "numpy_gflops": gemm_gflops(np.matmul, a, b)}
    if not missing_modules("train"):
        import torch

        torch.set_num_threads(spec.threads)
        result["torch_gflops"] = gemm_gflops(torch.matmul, torch.from_numpy(a), torch.from_numpy(b))
    return result


# --- runners: one per path ----------------------------------------------------------------------------
def _torch_model(spec: WorkerSpec, style_conv: str) -> Any:
    """The checkpoint's model in the requested style-conv form."""
    import dataclasses

    from sean_train.checkpoint import load_checkpoint
    from sean_train.networks import SEANModel

    model = load_checkpoint(spec.checkpoint, verify_hash=False)
    if style_conv == model.config.style_conv:
        return model
    same_weights = SEANModel(dataclasses.replace(model.config, style_conv=style_conv))
    same_weights.load_state_dict(model.state_dict())  # the forms share every parameter
    return same_weights.eval()


def torch_runner(spec: WorkerSpec) -> Runner:
    """PyTorch eager on the exported graph modules (one-hot from label ids included, as in the ONNX graphs)."""
    import torch

    from sean_export.graphs import graph_module

    torch.set_num_threads(spec.threads)
    inference = spec.form == "dense"  # the folded generator, as dense packages ship it
    model = _torch_model(spec, "auto" if inference else spec.form or "auto")
    encoder, generator = graph_module(model, "encoder"), graph_module(model, "generator", inference=inference)

    def encode(image: np.ndarray, labels: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return encoder(torch.from_numpy(image), torch.from_numpy(labels))[0].numpy()

    def generate(labels: np.ndarray, codes: np.ndarray, noise: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return generator(torch.from_numpy(labels), torch.from_numpy(codes), torch.from_numpy(noise)).numpy()

    return encode, generate


def official_runner(spec: WorkerSpec) -> Runner:
    """The official algorithm (spectral norm every call, per-class Python loops) on the official key layout."""
    import torch

    from sean_tools.bench.official import official_reference
    from sean_train.convert_official import to_official_state
    from sean_train.networks.ops import one_hot

    oracle = official_reference()
    official_encode, official_generate = oracle.official_encode, oracle.official_generate
    torch.set_num_threads(spec.threads)
    model = _torch_model(spec, "direct")
    config = model.config
    state = to_official_state(model)
    del model

    def encode(image: np.ndarray, labels: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            seg = one_hot(torch.from_numpy(labels), config.num_classes)
            return official_encode(state, torch.from_numpy(image), seg).numpy()

    def generate(labels: np.ndarray, codes: np.ndarray, noise: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            seg = one_hot(torch.from_numpy(labels), config.num_classes)
            return official_generate(state, seg, torch.from_numpy(codes), config.latent_size, config.layout).numpy()

    return encode, generate


def runtime_runner(spec: WorkerSpec) -> tuple[Runner, dict[str, Any]]:
    """An sean_runtime backend on a package (no torch), and what it reports about itself.

    Batches above the backend's limit (a TensorRT profile's max batch) are run in chunks, as the
    Synthesizer does.
    """
    from sean_runtime.backends import batch_slices
    from sean_runtime.backends.onnxruntime import CPU, OnnxRuntimeBackend
    from sean_runtime.package import load_package

    package = load_package(spec.package, verify=False)
    if spec.kind == "openvino":
        from sean_runtime.backends.openvino import OpenVinoBackend, runtime_precisions

        backend: Any = OpenVinoBackend(package, spec.precision_hint or "f32", threads=spec.threads)
        about = {
            "device": backend.device,
            "execution_precision": backend.execution_precision,
            "capabilities": backend.capabilities,
            "generator_op_precisions": dict(runtime_precisions(backend.generator)),
            "notes": backend.notes,
        }
    elif spec.kind == "tensorrt":
        from sean_runtime.backends.tensorrt import TensorRTBackend

        backend = TensorRTBackend(package)
        about = {"device": backend.device, "max_batch": backend.max_batch}
    else:
        backend = OnnxRuntimeBackend(package, [CPU], threads=spec.threads)
        threads = backend.generator.get_session_options().intra_op_num_threads
        about = {"device": backend.device, "intra_op_threads": threads}

    def chunks(*arrays: np.ndarray) -> list[tuple[np.ndarray, ...]]:
        return [tuple(a[part] for a in arrays) for part in batch_slices(len(arrays[0]), backend.max_batch)]

    def encode(image: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return np.concatenate([backend.encode(i, lab)[0] for i, lab in chunks(image, labels)])

    def generate(labels: np.ndarray, codes: np.ndarray, noise: np.ndarray) -> np.ndarray:
        return np.concatenate([backend.generate(lab, c, n, None) for lab, c, n in chunks(labels, codes, noise)])

    return (encode, generate), about


def cpp_runner(spec: WorkerSpec) -> tuple[Runner, dict[str, Any]]:
    """The C++ runtime (sean_runtime/cpp, OpenVINO with the spec's hint, f32 by default) on a package through
    its C API: uint8 RGB in and out as its callers pass them, so the timed image is quantised once before
    timing and each call's image is read back as [-1, 1] floats for the accuracy columns."""
    from sean_runtime.cpp.binding import CppRuntime

    assert spec.library is not None and spec.package is not None
    runtime = CppRuntime(Path(spec.library), Path(spec.package), threads=spec.threads,
                         precision=spec.precision_hint or "f32")
    # id of a timed image -> (the image, its uint8 RGB): converted once per input, outside the timed calls
    # after the warm-up; the image is held so that its id is not reused.
    converted: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def encode(image: np.ndarray, labels: np.ndarray) -> Any:
        if id(image) not in converted:
            converted[id(image)] = image, uint8_rgb(image)
        return runtime.encode(converted[id(image)][1], labels)

    def generate(labels: np.ndarray, styles: Any, noise: np.ndarray) -> np.ndarray:
        rgb = runtime.synthesize(labels, styles, seed=0, noise=False)  # the noise timed is zero (timed_inputs)
        return rgb.transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1.0

    about = {"device": f"C++ runtime, {runtime.info.backend.decode()} {runtime.info.device.decode()}",
             "codes_of": runtime.codes}
    return (encode, generate), about


def uint8_rgb(image: np.ndarray) -> np.ndarray:
    """A timed image [B, 3, H, W] in [-1, 1] as the uint8 RGB [B, H, W, 3] an application would pass."""
    from sean_runtime.synthesizer import to_uint8

    return to_uint8(image)


def python_runtime_difference(spec: WorkerSpec, inputs: dict[str, np.ndarray], cpp_image: np.ndarray) -> int:
    """Max pixel difference of the C++ runtime's batch-1 image from the Python runtime's (Synthesizer on
    OpenVINO with the same hint, same package, same uint8 inputs, noise off): the two run the same graphs."""
    from sean_runtime.synthesizer import Synthesizer, to_uint8

    hint = spec.precision_hint or "f32"
    with Synthesizer.load(spec.package, backend="openvino", threads=spec.threads, precision_hint=hint) as python:
        rgb = uint8_rgb(inputs["image"])
        styles = python.encode(rgb, inputs["labels"])
        image = python.synthesize(inputs["labels"], styles, seed=0, noise=False)
    return int(np.abs(image.astype(np.int16) - to_uint8(cpp_image).astype(np.int16)).max())


def make_runner(spec: WorkerSpec) -> tuple[Runner, dict[str, Any]]:
    """The runner of spec's path and what it reports about itself (JSON values; "codes_of", when there,
    turns what encode returns into the codes array)."""
    if spec.kind == "official":
        return official_runner(spec), {}
    if spec.kind == "torch":
        return torch_runner(spec), {}
    if spec.kind == "cpp":
        return cpp_runner(spec)
    return runtime_runner(spec)


# --- timing ---------------------------------------------------------------------------------------------
def summarize(seconds: list[float]) -> dict[str, float]:
    values = np.asarray(seconds)
    return {"median_s": float(np.median(values)), "p90_s": float(np.percentile(values, 90)), "n": len(seconds)}


def time_batch(runner: Runner, inputs: dict[str, np.ndarray], repeats: int, budget_s: float) -> dict[str, Any]:
    """One warm-up, then `repeats` runs of encode followed by generate (fewer, at least one, past budget_s).

    "both" is the sum of the two within each run: on the CPU the codes stay in host memory either way.
    """
    encode, generate = runner
    generate(inputs["labels"], encode(inputs["image"], inputs["labels"]), inputs["noise"])
    times: dict[str, list[float]] = {"encode": [], "synthesize": [], "both": []}
    started = time.perf_counter()
    while len(times["both"]) < repeats and (not times["both"] or time.perf_counter() - started < budget_s):
        t0 = time.perf_counter()
        codes = encode(inputs["image"], inputs["labels"])
        t1 = time.perf_counter()
        generate(inputs["labels"], codes, inputs["noise"])
        t2 = time.perf_counter()
        times["encode"].append(t1 - t0)
        times["synthesize"].append(t2 - t1)
        times["both"].append(t2 - t0)
    return {op: summarize(values) for op, values in times.items()}


def run_path(spec: WorkerSpec) -> dict[str, Any]:
    if spec.kind == "gemm":
        return measure_gemm(spec)
    runner, about = make_runner(spec)
    codes_of = about.pop("codes_of", None)
    result: dict[str, Any] = {**about, "rss_after_load_mb": peak_rss_mb(), "batches": {}}
    gemm_before = numpy_gemm_gflops(spec)
    compared: tuple[dict[str, np.ndarray], np.ndarray] | None = None
    for batch in spec.batch_sizes:
        inputs = timed_inputs(spec, batch)
        result["batches"][str(batch)] = time_batch(runner, inputs, spec.repeats, spec.budget_s)
        if batch == 1 and spec.outputs:
            encode, generate = runner
            codes = encode(inputs["image"], inputs["labels"])
            image = generate(inputs["labels"], codes, inputs["noise"])
            np.savez(spec.outputs, codes=codes if codes_of is None else codes_of(codes)[0], image=image)
            compared = inputs, image
    result["peak_rss_mb"] = peak_rss_mb()
    # The machine's speed drifts (shared hosts): the peak is re-measured around every path.
    result["gemm_gflops"] = max(gemm_before, numpy_gemm_gflops(spec))
    if spec.kind == "cpp" and compared is not None:  # after the peak: the Python runtime is not this path's
        result["max_pixel_difference_vs_python_runtime"] = python_runtime_difference(spec, *compared)
    return result


def main() -> None:
    result = run_path(WorkerSpec.from_json(sys.stdin.read()))
    result["torch_imported"] = "torch" in sys.modules
    print(json.dumps(result))


if __name__ == "__main__":
    main()
