"""Which paths a benchmark times, which it skips (and why), and the analytic FLOPs of each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np

from sean_core.install import missing_module_message, missing_modules
from sean_tools.bench.inputs import PACKAGE_EXPORTS, Inputs
from sean_tools.bench.official import official_problem
from sean_tools.bench.spec import PathSpec

REFERENCE_PATH = "torch-direct"  # outputs of every path are compared with our model in the direct form
# Inputs.packages key -> the runtime rows' label ({} = the backend) and the form their FLOPs are counted in.
PACKAGE_LABELS = {"fp32": "{} fp32, dense", "fp16": "{} fp16", "regions": "{} fp32, region form"}
PACKAGE_FORMS = {key: form for key, (_, form) in PACKAGE_EXPORTS.items()}


def plan_paths(inputs: Inputs, openvino: bool) -> tuple[list[PathSpec], list[dict[str, str]]]:
    """The paths to time, and the rows of paths skipped with the reason."""
    paths: list[PathSpec] = []
    skipped: list[dict[str, str]] = []
    if inputs.checkpoint is not None:
        ckpt = {"checkpoint": str(inputs.checkpoint)}
        torch_paths = [
            PathSpec("official", "official (loops)", "official", "direct", ckpt),
            PathSpec("torch-auto", "PyTorch eager (ours)", "torch", "auto", {**ckpt, "form": "auto"}),
            PathSpec(REFERENCE_PATH, "PyTorch eager (direct)", "torch", "direct", {**ckpt, "form": "direct"}),
            PathSpec("torch-inference", "PyTorch eager (inference form)", "torch", "dense", {**ckpt, "form": "dense"}),
        ]
        missing = missing_modules("train")
        if missing:  # a serving-only install: the runtime rows are timed, these say what they need
            skipped += [{"key": p.key, "label": p.label, "skipped": f"needs {missing[0]} (not installed)"}
                        for p in torch_paths]
            inputs.notes.append(missing_module_message(missing[0], "each PyTorch and official row", "train"))
        else:
            paths += torch_paths
            problem = official_problem()
            if problem is not None:
                paths = [p for p in paths if p.kind != "official"]
                skipped.append({"key": "official", "label": "official (loops)", "skipped": problem})
    for variant, folder in inputs.packages.items():
        paths.append(PathSpec(f"onnxruntime-{variant}", PACKAGE_LABELS[variant].format("ONNX Runtime CPU"),
                              "onnxruntime", PACKAGE_FORMS[variant], {"package": str(folder)}))
    if openvino and "fp32" in inputs.packages:
        for hint in ("f32", "bf16"):
            paths.append(PathSpec(f"openvino-{hint}", f"OpenVINO {hint} hint", "openvino", "dense",
                                  {"package": str(inputs.packages["fp32"]), "precision_hint": hint}))
    if openvino and "regions" in inputs.packages:
        paths.append(PathSpec("openvino-f32-regions", "OpenVINO f32 hint, region form", "openvino", "regions",
                              {"package": str(inputs.packages["regions"]), "precision_hint": "f32"}))
    if "regions" in inputs.unexported:
        keys = [("onnxruntime-regions", "ONNX Runtime CPU fp32, region form")]
        keys += [("openvino-f32-regions", "OpenVINO f32 hint, region form")] if openvino else []
        skipped += [{"key": key, "label": label, "skipped": inputs.unexported["regions"]} for key, label in keys]
    for precision, folder in inputs.packages.items():
        if precision == "regions":  # TensorRT takes the dense packages (format.REGIONS_NOT_FOR_TENSORRT)
            continue
        problem = tensorrt_problem_of(folder)
        if problem is None:
            paths.append(PathSpec(f"tensorrt-{precision}", f"TensorRT {precision} (GPU)", "tensorrt", "dense",
                                  {"package": str(folder)}))
        else:
            skipped.append({"key": f"tensorrt-{precision}", "label": f"TensorRT {precision}", "skipped": problem})
    return paths, skipped


def tensorrt_problem_of(package: Path) -> str | None:
    """Why the package's TensorRT engines cannot be timed here (None: they can)."""
    from sean_runtime.backends.tensorrt import tensorrt_problem
    from sean_runtime.package import load_package

    return tensorrt_problem(load_package(package, verify=False))


def build_missing_engines(inputs: Inputs, max_batch: int) -> None:
    """Build TensorRT engines for the packages that lack usable ones (--tensorrt); failures become notes."""
    from sean_export import build_engines

    for precision, folder in inputs.packages.items():
        if precision == "regions" or tensorrt_problem_of(folder) is None:
            continue
        try:
            click.echo(f"building TensorRT engines for {folder} ...", err=True)
            build_engines(folder, max_batch=max_batch)
        except Exception as exc:  # no TensorRT, no GPU, a build failure: the TensorRT row says why
            inputs.notes.append(f"TensorRT engines for the {precision} package not built: {exc}")


def counted_gflop(config: Any, form: str | None, labels: np.ndarray | None = None) -> dict[str, float]:
    """Analytic GFLOP per image (2 x multiply-adds) of encode and synthesize in the given form; empty
    without torch (the counts walk the PyTorch model's layer table). The region form computes what the
    timed labels [B, H, W] need (without labels: every pixel an edge pixel)."""
    if missing_modules("train"):
        return {}
    import torch

    from sean_train.flops import encoder_macs, generator_macs, inference_generator_macs

    encode = 2 * encoder_macs(config) / 1e9
    if form == "regions":
        macs = inference_generator_macs(config, labels=None if labels is None else torch.from_numpy(labels))
    elif form == "dense":
        macs = inference_generator_macs(config, region_mode="dense")
    else:
        macs = generator_macs(config, form)
    synthesize = 2 * sum(macs.values()) / 1e9
    return {"encode": encode, "synthesize": synthesize, "both": encode + synthesize}
