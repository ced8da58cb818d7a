"""`sean eval` and `sean export` of a checkpoint trained on the check's device, and the exported graphs
run by ONNX Runtime on the CPU against the same model on that device."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sean_core.format import GRAPH_NAMES


def sean(*args: str, timeout_s: float = 900) -> subprocess.CompletedProcess:
    """A `sean` subcommand in its own process (the installed console script need not be on PATH)."""
    command = [sys.executable, "-m", "sean_core.cli", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0:
        raise RuntimeError(f"`sean {' '.join(args)}` failed: {(done.stderr or done.stdout).strip()[-2000:]}")
    return done


@contextmanager
def tf32(allowed: bool) -> Iterator[None]:
    """TF32 allowed or not in cuDNN convolutions and cuBLAS matmuls (no effect on a CPU), restored afterwards.

    PyTorch's default allows it for convolutions only, so "fp32" CUDA convolutions are TF32 unless asked.
    """
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = allowed
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def eval_checkpoint(run_dir: Path, device: str, out: Path, limit: int) -> dict[str, Any]:
    """`sean eval RUN_DIR --device DEVICE`: the run's latest checkpoint on the test split."""
    json_path = out / "eval.json"
    sean("eval", str(run_dir), "--device", device, "--limit", str(limit), "--batch-size", "2",
         "--json", str(json_path), "--quiet")
    return json.loads(json_path.read_text(encoding="utf-8"))["results"]["trained"]


def graph_outputs_on(model: Any, name: str, form: str, feeds: dict[str, np.ndarray], device: str) -> list[np.ndarray]:
    """The package graph `name` as a torch module (the form the package has) on `device`."""
    from sean_export.graphs import graph_module

    module = graph_module(model, name, inference=name == "generator", regions=form == "regions").to(device)
    with torch.inference_mode():
        outputs = module(*(torch.from_numpy(value).to(device) for value in feeds.values()))
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    return [output.float().cpu().numpy() for output in outputs]


def export_and_compare(checkpoint: Path, device: str, out: Path, batch: int = 2, seed: int = 0) -> dict[str, Any]:
    """`sean export` on the CPU, then each graph by ONNX Runtime (CPU) against the model on `device`:
    in strict fp32 the largest difference must be within the export tolerance (FP32_TOLERANCE); with
    PyTorch's default TF32 convolutions (CUDA only) the difference is reported as well."""
    from sean_export.graphs import graph_spec
    from sean_export.validate import FP32_TOLERANCE, random_inputs, session
    from sean_runtime.package import load_package
    from sean_train.checkpoint import load_checkpoint

    package_dir = out / "package"
    sean("export", str(checkpoint), "-o", str(package_dir), "--quiet")
    package = load_package(package_dir)
    model = load_checkpoint(checkpoint).eval()
    result: dict[str, Any] = {"tolerance": FP32_TOLERANCE, "generator_form": package.generator_form, "graphs": {}}
    rng = np.random.default_rng(seed)
    for name in GRAPH_NAMES:
        feeds = random_inputs(graph_spec(model.config, name), model.config, batch, rng)
        onnx_outputs = session(package.graph(name).file).run(None, feeds)
        with tf32(False):
            strict = graph_outputs_on(model, name, package.generator_form, feeds, device)
        row = {"max_abs": max(float(np.max(np.abs(a - b))) for a, b in zip(onnx_outputs, strict, strict=True))}
        if device == "cuda":
            default = graph_outputs_on(model, name, package.generator_form, feeds, device)
            row["max_abs_tf32_default"] = max(
                float(np.max(np.abs(a - b))) for a, b in zip(onnx_outputs, default, strict=True)
            )
        row["within_tolerance"] = row["max_abs"] <= FP32_TOLERANCE
        result["graphs"][name] = row
    result["ok"] = all(row["within_tolerance"] for row in result["graphs"].values())
    return result
