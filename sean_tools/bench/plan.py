"""Which paths a benchmark times, which it skips (and why), and the analytic FLOPs of each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np

from sean_core.install import missing_module_message, missing_modules
from sean_tools.bench.inputs import PACKAGE_EXPORTS, Inputs, class_count_inputs
from sean_tools.bench.official import official_problem
from sean_tools.bench.spec import PathSpec

REFERENCE_PATH = "torch-direct"  # outputs of every path are compared with our model in the direct form
# Inputs.packages key -> the runtime rows' label ({} = the backend) and the form their FLOPs are counted in.
PACKAGE_LABELS = {"fp32": "{} fp32, dense", "fp16": "{} fp16", "regions": "{} fp32, region form"}
PACKAGE_FORMS = {key: form for key, (_, form) in PACKAGE_EXPORTS.items()}
# (Inputs.packages key, OpenVINO hint) -> the C++ runtime's row on that package with that hint, as the
# Python rows "openvino-f32" and "openvino-bf16" (+ "-regions").
CPP_PATHS = {
    ("fp32", "f32"): "cpp-openvino",
    ("regions", "f32"): "cpp-openvino-regions",
    ("fp32", "bf16"): "cpp-openvino-bf16",
    ("regions", "bf16"): "cpp-openvino-bf16-regions",
}
CPP_LABELS = {"fp32": "C++ runtime, OpenVINO {}", "regions": "C++ runtime, OpenVINO {}, region form"}
# What adds the rows a --paths key may name, for the message when a key names no row.
ROW_OPTIONS = "--checkpoint adds the PyTorch and official rows, --openvino, --cpp and --fp16 theirs"


def select_paths(
    paths: list[PathSpec], skipped: list[dict[str, str]], keys: list[str]
) -> tuple[list[PathSpec], list[dict[str, str]]]:
    """The rows (timed and skipped) that keys name, in the order of keys; every row when keys is empty.

    A key that names no row here is a usage error that lists the rows there are.
    """
    if not keys:
        return paths, skipped
    timed = {path.key: path for path in paths}
    skips = {row["key"]: row for row in skipped}
    unknown = [key for key in keys if key not in timed and key not in skips]
    if unknown:
        raise click.UsageError(f"--paths {unknown[0]}: no such row here; the rows are "
                               f"{', '.join([*timed, *skips])} ({ROW_OPTIONS})")
    return [timed[key] for key in keys if key in timed], [skips[key] for key in keys if key in skips]


def build_cpp_runtime(inputs: Inputs, build: Path) -> None:
    """Build the C++ runtime's library into `build` for the cpp rows (incrementally when built before);
    when it does not build here, inputs.cpp_problem says why and those rows are skipped with it."""
    from sean_runtime.cpp.binding import BuildError, cmake_build

    try:
        click.echo(f"building the C++ runtime in {build} ...", err=True)
        inputs.cpp_library = cmake_build(build, "-DCMAKE_BUILD_TYPE=Release", target="sean") / "libsean.so"
    except BuildError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        errors = [line for line in lines if "error" in line.lower() and "***" not in line]
        inputs.cpp_problem = f"the C++ runtime does not build here: {(errors or lines)[0][:200]}"


def plan_paths(inputs: Inputs, openvino: bool, cpp: bool = False) -> tuple[list[PathSpec], list[dict[str, str]]]:
    """The paths to time, and the rows of paths skipped with the reason (cpp: the C++ runtime's rows, on
    inputs.cpp_library)."""
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
        for hint in ("f32", "bf16"):
            paths.append(PathSpec(f"openvino-{hint}-regions", f"OpenVINO {hint} hint, region form", "openvino",
                                  "regions", {"package": str(inputs.packages["regions"]), "precision_hint": hint}))
    if cpp:
        for (variant, hint), key in CPP_PATHS.items():
            if variant not in inputs.packages:
                continue
            label = CPP_LABELS[variant].format(hint)
            if inputs.cpp_library is None:
                skipped.append({"key": key, "label": label, "skipped": inputs.cpp_problem})
                continue
            settings = {"package": str(inputs.packages[variant]), "library": str(inputs.cpp_library)}
            if hint != "f32":
                settings["precision_hint"] = hint
            paths.append(PathSpec(key, label, "cpp", PACKAGE_FORMS[variant], settings))
    if "regions" in inputs.unexported:
        keys = [("onnxruntime-regions", "ONNX Runtime CPU fp32, region form")]
        keys += [(f"openvino-{hint}-regions", f"OpenVINO {hint} hint, region form") for hint in ("f32", "bf16")
                 if openvino]
        keys += [(CPP_PATHS["regions", hint], CPP_LABELS["regions"].format(hint)) for hint in ("f32", "bf16") if cpp]
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


def counted_gflop(
    config: Any, form: str | None, labels: np.ndarray | None = None, package: str | None = None
) -> dict[str, float]:
    """Analytic GFLOP per image (2 x multiply-adds) of encode and synthesize in the given form; empty
    without torch (the counts walk the PyTorch model's layer table). The region form computes what the
    timed labels [B, H, W] need (without labels: every pixel an edge pixel), with the edge form its
    package records (manifest "edge_form")."""
    if missing_modules("train"):
        return {}
    import torch

    from sean_runtime.package import load_package
    from sean_train.flops import encoder_macs, generator_macs, inference_generator_macs

    encode = 2 * encoder_macs(config) / 1e9
    if form == "regions":
        edges = "auto" if package is None else load_package(package, verify=False).edge_form
        timed = None if labels is None else torch.from_numpy(labels)
        macs = inference_generator_macs(config, labels=timed, edge_mode=edges or "auto")
    elif form == "dense":
        macs = inference_generator_macs(config, region_mode="dense")
    else:
        macs = generator_macs(config, form)
    synthesize = 2 * sum(macs.values()) / 1e9
    return {"encode": encode, "synthesize": synthesize, "both": encode + synthesize}


def planned_rows(
    inputs: Inputs,
    config: Any,
    keys: list[str],
    class_counts: list[int],
    openvino: bool,
    cpp: bool,
    fp16: bool,
    seed: int,
) -> tuple[list[tuple[int, PathSpec]], list[dict[str, Any]]]:
    """The rows keys name (every row without keys) at each class count, as (class count, path), and the
    rows skipped with the reason. Without class counts: the benchmark's own model; with them: the random
    model of each count that the class-scaling rows time (inputs.class_count_inputs), same keys."""
    if not class_counts:
        groups = [(config.num_classes, inputs)]
    else:
        missing = missing_modules("train")
        if missing:
            raise click.ClickException(missing_module_message(missing[0], "random models of other class counts "
                                                              "(--classes)", "train"))
        groups = [(k, class_count_inputs(inputs, config, k, seed, fp16)) for k in class_counts]
    rows: list[tuple[int, PathSpec]] = []
    skipped: list[dict[str, Any]] = []
    for classes, group in groups:
        paths, skips = select_paths(*plan_paths(group, openvino, cpp), keys)
        rows += [(classes, path) for path in paths]
        skipped += [{**row, "classes": classes} for row in skips]
        inputs.notes += [note for note in group.notes if note not in inputs.notes]
    return rows, skipped
