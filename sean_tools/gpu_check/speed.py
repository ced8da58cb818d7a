"""Latency, throughput and peak memory of encoder + generator on one device: per form (training modules,
folded dense inference form), dtype (fp32 strict, TF32, fp16 / bf16 autocast), mode (eager, one CUDA
graph per call, torch.compile) and batch; each configuration's image at batch 1 against fp32 eager.

Inputs are a face-parsing layout (sean_tools.bench.inputs.face_labels), a random image and zero noise,
the same for every configuration.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from sean_tools.gpu_check.exported import tf32
from sean_tools.gpu_check.plan import FORMS, CheckPlan
from sean_tools.gpu_check.training import peak_memory_mb, reset_peak_memory, synchronize

AUTOCAST = {"fp16": torch.float16, "bf16": torch.bfloat16}
WARMUP = 2


def autocast(dtype: str, device: torch.device) -> Any:
    """fp16 / bf16: a fresh autocast context; fp32 / tf32: none (their matmul precision is a global flag,
    set around the call by exported.tf32)."""
    if dtype not in AUTOCAST:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=AUTOCAST[dtype], cache_enabled=False)


def model_inputs(config: Any, batch: int, device: torch.device, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """image [B, 3, H, W] in [-1, 1], labels int32 [B, H, W] (a face layout), noise zeros [B, N]."""
    from sean_tools.bench.inputs import face_labels
    from sean_train.networks.generator import noise_layout

    rng = np.random.default_rng(seed)
    h, w = config.height, config.width
    image = rng.uniform(-1.0, 1.0, (batch, 3, h, w)).astype(np.float32)
    labels = face_labels(rng, batch, config.num_classes, h, w)
    noise = np.zeros((batch, noise_layout(config).numel), np.float32)
    return tuple(torch.from_numpy(a).to(device) for a in (image, labels, noise))


def forms_on(model: torch.nn.Module, device: torch.device) -> dict[str, tuple[torch.nn.Module, torch.nn.Module]]:
    """(encoder, generator) of each form (FORMS) of `model`, which is on `device`: the dense form is folded
    there, from the weights where they are."""
    from sean_export.graphs import graph_module

    return {
        form: (graph_module(model, "encoder"), graph_module(model, "generator", inference=form == "dense").to(device))
        for form in FORMS
    }


def pipeline(encoder: torch.nn.Module, generator: torch.nn.Module, dtype: str = "fp32") -> Callable[..., torch.Tensor]:
    """image, labels, noise -> image: the two graphs as the runtime runs them, codes kept on the device,
    under `dtype`'s autocast.

    The autocast is entered inside the function, where torch.compile traces it: an autocast entered around
    a compiled call is not part of the compiled graph's cache key in every PyTorch (2.11 ran a bf16 call
    with the graph it had compiled for fp16).
    """

    def run(image: torch.Tensor, labels: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        with autocast(dtype, image.device):
            codes = encoder(image, labels)[0]
            return generator(labels, codes.float(), noise)

    return run


def graphed(function: Callable[..., torch.Tensor], inputs: tuple[torch.Tensor, ...], context: Callable) -> Callable:
    """`function` captured once as a CUDA graph on static inputs (in `context()`); each call replays it."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(WARMUP + 1):  # warm-up on a side stream, as capture requires
            with context():
                function(*inputs)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph), context():
        output = function(*inputs)

    def replay() -> torch.Tensor:
        graph.replay()
        return output

    return replay


def time_calls(call: Callable[[], torch.Tensor], device: torch.device, repeats: int) -> list[float]:
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        synchronize(device)
        seconds.append(time.perf_counter() - started)
    return seconds


def psnr_db(image: np.ndarray, reference: np.ndarray) -> float:
    from sean_export.validate import psnr_pm1

    return round(psnr_pm1(image, reference), 2)


def measure(
    plan: CheckPlan, config: Any, on_row: Callable[[dict[str, Any]], None] | None = None,
    deadline: float | None = None,
) -> dict[str, Any]:
    """Every (form, dtype, mode, batch) of the plan. A configuration that fails records its error and
    the others go on; torch.compile stops being tried once plan.compile_budget_s of compiling is spent,
    and no configuration starts after `deadline` (a time.perf_counter() value): those are skipped."""
    from sean_tools.bench.plan import counted_gflop
    from sean_train.weight_init import random_model

    device = torch.device(plan.device)
    model = random_model(config, seed=0).to(device).eval()
    modules = forms_on(model, device)
    gflop = {"training": counted_gflop(config, None), "dense": counted_gflop(config, "dense")}
    inputs = {batch: model_inputs(config, batch, device) for batch in plan.batches}
    references: dict[str, np.ndarray] = {}
    rows: list[dict[str, Any]] = []
    compile_spent = 0.0
    compiled: dict[tuple[str, str], Callable] = {}
    with cudnn_autotuning():
        for form, dtype, mode in configurations(plan):
            for batch in plan.batches:
                row: dict[str, Any] = {"form": form, "dtype": dtype, "mode": mode, "batch": batch}
                started = time.perf_counter()
                try:
                    if deadline is not None and started >= deadline:
                        raise SkipRow("the time limit is reached")
                    if mode == "cuda_graphs" and device.type != "cuda":
                        raise SkipRow("CUDA graphs need a CUDA device")
                    if mode == "compile" and compile_spent >= plan.compile_budget_s:
                        raise SkipRow(f"compile budget of {plan.compile_budget_s:.0f} s spent")
                    if mode == "compile" and (form, dtype) not in compiled:
                        compiled[form, dtype] = compiled_pipeline(*modules[form], dtype)
                    function = compiled[form, dtype] if mode == "compile" else pipeline(*modules[form], dtype)
                    with compile_strictly() if mode == "compile" else contextlib.nullcontext():
                        row.update(time_configuration(function, inputs[batch], dtype, mode, device, plan.repeats))
                    compare_image(row, row.pop("image"), references, first_batch=batch == plan.batches[0])
                    if gflop[form].get("both"):
                        row["tflop_per_s"] = gflop[form]["both"] * batch / row["latency_s"] / 1000
                except SkipRow as skip:
                    row["skipped"] = str(skip)
                except Exception as exc:  # one configuration's failure is a result, not the end of the check
                    first_line = (str(exc).strip().splitlines() or [""])[0][:300]
                    row["error"] = f"{type(exc).__name__}: {first_line}"
                if mode == "compile" and "skipped" not in row:
                    # a compilation that fails costs its time too: the budget bounds what compiling can take
                    compile_spent += row.get("first_call_s", time.perf_counter() - started)
                rows.append(row)
                if on_row:
                    on_row(row)
                release_cached_memory(device)
    if "training/fp32/eager" in references and "dense/fp32/eager" in references:
        dense, training = references["dense/fp32/eager"], references["training/fp32/eager"]
        forms_agree = float(np.max(np.abs(dense - training)))
    else:
        forms_agree = None
    return {
        "gflop_per_image": gflop,
        "dense_vs_training_max_abs_fp32": forms_agree,
        "compile_seconds_spent": compile_spent,
        "cudnn_benchmark": True,
        "rows": rows,
    }


def compiled_pipeline(encoder: torch.nn.Module, generator: torch.nn.Module, dtype: str) -> Callable:
    """pipeline() under torch.compile, dynamic=False: one graph per batch size, each compiled at its first
    call.

    Every compiled pipeline shares one code object, and PyTorch stops compiling a code object after a few
    recompilations (torch._dynamo.config.recompile_limit): the reset gives each (form, dtype) none.
    """
    torch._dynamo.reset()
    return torch.compile(pipeline(encoder, generator, dtype), dynamic=False)


def compare_image(row: dict[str, Any], image: np.ndarray, references: dict[str, np.ndarray], first_batch: bool) -> None:
    """At the first batch size: fp32 eager's image becomes its form's reference; every configuration's
    image gets its PSNR and max |difference| against that reference."""
    if not first_batch:
        return
    key = f"{row['form']}/fp32/eager"
    if (row["dtype"], row["mode"]) == ("fp32", "eager"):
        references[key] = image
    if key in references:
        row["psnr_vs_fp32_db"] = psnr_db(image, references[key])
        row["max_abs_vs_fp32"] = float(np.max(np.abs(image - references[key])))


@contextlib.contextmanager
def cudnn_autotuning() -> Iterator[None]:
    """cudnn.benchmark on: the shapes are fixed, so cuDNN times its algorithms at each new shape's first
    call and keeps the fastest, as a deployment at fixed sizes would (TensorRT also chooses its kernels by
    timing them when it builds). The check's training runs leave it off (deterministic resume)."""
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


def release_cached_memory(device: torch.device) -> None:
    """Empty PyTorch's CUDA cache, so that the next configuration's peak memory starts from the weights.
    Never raises: after an error that poisons the CUDA context every later row records its own error."""
    if device.type == "cuda":
        with contextlib.suppress(Exception):
            torch.cuda.empty_cache()


def configurations(plan: CheckPlan) -> list[tuple[str, str, str]]:
    """(form, dtype, mode) in the order they are timed: every eager and CUDA-graph one (fp32 eager first in
    each form: the reference of its images), then torch.compile, the most wanted first (dense before
    training, fp16 / bf16 before TF32 / fp32), as far as the compile budget goes."""
    forms = ("dense", "training")
    quick = [(f, d, m) for f in forms for d in plan.dtypes for m in plan.modes if m != "compile"]
    order = {dtype: i for i, dtype in enumerate(("fp16", "bf16", "tf32", "fp32"))}
    compile_dtypes = sorted(plan.dtypes, key=lambda d: order.get(d, len(order)))
    later = [(f, d, "compile") for f in forms for d in compile_dtypes if "compile" in plan.modes]
    return quick + later


def compile_strictly() -> Any:
    """torch.compile raises where it would otherwise run a function eagerly, without a word, once the
    function's recompilation limit is hit: a compile row then records an error, not eager timings."""
    config = torch._dynamo.config
    for name in ("fail_on_recompile_limit_hit", "fail_on_cache_limit_hit"):  # today's name, then an earlier one
        if hasattr(config, name):
            return config.patch(**{name: True})
    return contextlib.nullcontext()


class SkipRow(Exception):
    """A configuration this device or budget does not run (the reason is the message)."""


def time_configuration(
    function: Callable[..., torch.Tensor], inputs: tuple[torch.Tensor, ...], dtype: str, mode: str,
    device: torch.device, repeats: int,
) -> dict[str, Any]:
    """First call (compilation, capture, cuDNN's algorithm timing), then `repeats` timed calls after a warm-up.

    Peak memory: of the first call (cuDNN's algorithm trials allocate workspaces), and of the warm-up and
    timed calls after it, each counted from its own start. The warm-up ends in a synchronisation, so that
    the first timed call does not wait for the warm-up's queued kernels."""
    reset_peak_memory(device)
    resident = torch.cuda.memory_allocated(device) / 2**20 if device.type == "cuda" else None
    started = time.perf_counter()
    with torch.inference_mode():
        if mode == "cuda_graphs":
            call = graphed(function, inputs, lambda: tf32(dtype == "tf32"))
        else:

            def call() -> torch.Tensor:
                with tf32(dtype == "tf32"):
                    return function(*inputs)

            call()
        synchronize(device)
        first = time.perf_counter() - started
        first_peak = peak_memory_mb(device)
        reset_peak_memory(device)
        for _ in range(WARMUP):
            call()
        synchronize(device)
        seconds = time_calls(call, device, repeats)
        image = call()[:1].float().cpu().numpy()
    latency = statistics.median(seconds)
    batch = inputs[0].shape[0]
    return {
        "first_call_s": first,
        "latency_s": latency,
        "p90_s": float(np.percentile(seconds, 90)),
        "images_per_s": batch / latency,
        "peak_memory_mb": peak_memory_mb(device),  # after the first call; weights of both forms included
        "first_call_peak_memory_mb": first_peak,
        "resident_before_mb": resident,  # allocated before the first call: the weights, the inputs
        "image": image,
    }
