"""Running a benchmark: one worker process per path, the class-scaling rows, accuracy of every path
against the direct form, and the FLOP rates against the machine's measured GEMM peak; and the studies
of the same rows (`study`: --alternate, --profile).

Benchmarks print tables; they assert nothing about speed.
"""

from __future__ import annotations

import os
import platform
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
import numpy as np

from sean_core.cpu import cpu_name
from sean_core.install import missing_modules
from sean_core.progress import ProgressBar, progress_bar
from sean_tools.bench.inputs import LABEL_LAYOUT_TEXT, Inputs, cached_package, class_count_checkpoint, timed_inputs
from sean_tools.bench.official import official_problem
from sean_tools.bench.plan import REFERENCE_PATH, counted_gflop, plan_paths, planned_rows, select_paths
from sean_tools.bench.process import run_process
from sean_tools.bench.spec import GEMM_SIZE, PROFILED_KINDS, WorkerSpec


def run_worker(spec: WorkerSpec, timeout_s: float) -> dict[str, Any]:
    """Run one path in a fresh interpreter with BLAS / OpenMP limited to its threads; its JSON or the error."""
    return run_process("sean_tools.bench.worker", spec.to_json(), spec.threads, timeout_s)


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def compare_outputs(outputs: dict[str, Path]) -> dict[str, dict[str, float]]:
    """Max |difference| of codes and image (batch 1, same inputs) of every path against the direct form.

    OpenVINO bf16 is also compared with OpenVINO f32 as PSNR (images in [-1, 1], peak-to-peak 2).
    """
    if REFERENCE_PATH not in outputs:
        return {}
    from sean_export.validate import psnr_pm1

    reference = np.load(outputs[REFERENCE_PATH])
    result: dict[str, dict[str, float]] = {}
    for key, path in outputs.items():
        data = np.load(path)
        image = data["image"].astype(np.float64)
        row = {
            "codes_max_abs": float(np.max(np.abs(data["codes"] - reference["codes"]))),
            "image_max_abs": float(np.max(np.abs(image - reference["image"]))),
            "image_psnr_db": psnr_pm1(image, reference["image"]),
            "finite": bool(np.isfinite(image).all()),
        }
        result[key] = row
    if "openvino-bf16" in outputs and "openvino-f32" in outputs:
        fp32 = np.load(outputs["openvino-f32"])["image"]
        result["openvino-bf16"]["psnr_vs_openvino_f32_db"] = psnr_pm1(np.load(outputs["openvino-bf16"])["image"], fp32)
    return result


def base_spec(
    config: Any, noise_numel: int, threads: int, repeats: int, budget_s: float, labels: str = "blocks",
    gemm_size: int = GEMM_SIZE,
) -> WorkerSpec:
    """The settings every worker of a run shares (kind "gemm" until a path replaces it)."""
    return WorkerSpec(
        kind="gemm",
        threads=threads,
        repeats=repeats,
        budget_s=budget_s,
        seed=0,
        height=config.height,
        width=config.width,
        num_classes=config.num_classes,
        noise_numel=noise_numel,
        labels=labels,
        gemm_size=gemm_size,
    )


def benchmark(
    inputs: Inputs,
    batch_sizes: list[int],
    classes: list[int],
    repeats: int,
    threads: int,
    openvino: bool,
    budget_s: float,
    timeout_s: float,
    save: Callable[[dict[str, Any]], None] | None = None,
    labels: str = "blocks",
    keys: Sequence[str] = (),
    cpp: bool = False,
    gemm_size: int = GEMM_SIZE,
) -> dict[str, Any]:
    """Run every path (those keys name, when given) and the scaling rows; return the whole result (the JSON
    that `--json` writes).

    save(result) is called after every path, so that a long run that is stopped keeps what it measured.
    """
    config, noise_numel = model_of(inputs)
    common = base_spec(config, noise_numel, threads, repeats, budget_s, labels, gemm_size)
    paths, skipped = select_paths(*plan_paths(inputs, openvino, cpp), list(keys))
    result = run_record(inputs, config, {"batch_sizes": batch_sizes, "classes": classes, "repeats": repeats,
                                         "threads": threads, "budget_s_per_batch": budget_s, "labels": labels})
    result.update(paths={}, skipped=skipped)
    total = 1 + len(paths) + (5 + 2 * openvino) * len(classes)  # class scaling: 3 torch rows, 2 or 4 runtime rows
    bar = progress_bar(desc="matrix-product peak", total=total, unit="path")
    with tempfile.TemporaryDirectory(prefix="sean-bench-") as tmp, bar:
        result["gemm"] = run_worker(common, timeout_s)
        bar.update()
        outputs: dict[str, Path] = {}
        labels_timed = timed_inputs(common, 1)["labels"]  # [1, H, W]: what the region form's FLOPs are counted on
        for path in paths:
            bar.set_description(path.label)
            out = Path(tmp) / f"{path.key}.npz"
            spec = path.worker(common).replace(batch_sizes=tuple(batch_sizes), outputs=str(out))
            row = run_worker(spec, timeout_s)
            gflop = counted_gflop(config, path.form, labels_timed, path.settings.get("package"))
            row.update(label=path.label, form=path.form, gflop=gflop)
            result["paths"][path.key] = row
            if out.is_file():
                outputs[path.key] = out
            if save is not None:
                save(result)
            bar.update()
        result["accuracy"] = compare_outputs(outputs)
        result["classes_scaling"] = classes_scaling(inputs, config, common, classes, openvino, timeout_s, bar, keys)
    result["machine"]["load_average_end"] = load_average()
    add_rates(result)
    return result


def study(
    mode: str,
    inputs: Inputs,
    keys: list[str],
    classes: list[int],
    rounds: int,
    threads: int,
    openvino: bool,
    cpp: bool,
    fp16: bool,
    timeout_s: float,
    labels: str = "blocks",
) -> dict[str, Any]:
    """`--alternate` (mode "alternate": the rows keys name alternated in one process for `rounds` rounds) or
    `--profile` (mode "profile": each ONNX Runtime / OpenVINO row's per-node profile over `rounds` runs), at
    each class count in `classes` (none: the benchmark's own model); the whole result."""
    from sean_tools.bench.alternate import run_alternating
    from sean_tools.bench.profile import run_profiles

    config, noise_numel = model_of(inputs)
    common = base_spec(config, noise_numel, threads, 1, 0.0, labels)
    rows, skipped = planned_rows(inputs, config, keys, classes, openvino, cpp, fp16, common.seed)
    if mode == "profile":
        other = [path for _, path in rows if path.kind not in PROFILED_KINDS]
        if other and keys:
            raise click.UsageError(f"--profile reads ONNX Runtime's and OpenVINO's per-node counters; "
                                   f"{other[0].key} is a {other[0].kind} row")
        rows = [(k, path) for k, path in rows if path.kind in PROFILED_KINDS]
        skipped = [row for row in skipped if row["key"].startswith(PROFILED_KINDS)]  # keys begin with the kind
    if not rows:
        raise click.UsageError(f"no row to {'profile' if mode == 'profile' else 'alternate'} here"
                               + (f" ({skipped[0]['label']}: {skipped[0]['skipped']})" if skipped else ""))
    settings = {"mode": mode, "rounds": rounds, "paths": [path.key for _, path in rows],
                "classes": classes or [config.num_classes], "threads": threads, "labels": labels}
    result = run_record(inputs, config, settings)
    result["skipped"] = skipped
    if mode == "alternate":
        result["alternate"] = run_alternating(rows, common, rounds, timeout_s)
    else:
        result["profile"] = run_profiles(rows, common, rounds, timeout_s)
    result["machine"]["load_average_end"] = load_average()
    return result


def model_of(inputs: Inputs) -> tuple[Any, int]:
    """The ModelConfig of the benchmark's model and its noise length (read from any of its packages)."""
    from sean_runtime.package import load_package

    package = load_package(next(iter(inputs.packages.values())), verify=False)
    return _config_of(package), package.noise_numel


def run_record(inputs: Inputs, config: Any, settings: dict[str, Any]) -> dict[str, Any]:
    """The head of every result: the machine, the settings (with the inputs' description), the model, notes."""
    return {
        "machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "python": platform.python_version(),
                    "load_average_start": load_average()},
        "settings": {**settings, "inputs": f"uniform image, {LABEL_LAYOUT_TEXT[settings['labels']]}, zero noise"},
        "model": {k: v for k, v in config.to_dict().items() if k != "class_names"},
        "notes": list(inputs.notes),
    }


def classes_scaling(
    inputs: Inputs,
    config: Any,
    common: WorkerSpec,
    classes: list[int],
    openvino: bool,
    timeout_s: float,
    bar: ProgressBar,
    keys: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Batch-1 encode + synthesize of random models with each class count: PyTorch (training and inference
    forms), the official loops, and the runtime paths (the dense and the region-form package of the same
    random model in ONNX Runtime, and in OpenVINO f32 with --openvino); only the rows keys name, when given."""
    import dataclasses

    rows: list[dict[str, Any]] = []
    if inputs.checkpoint is None or missing_modules("train"):
        return rows
    from sean_train.networks.inference import has_region_layers

    # (row key, form its FLOPs are counted in, worker settings)
    torch_rows = [
        ("torch-auto", "auto", {"kind": "torch", "form": "auto"}),
        ("torch-inference", "dense", {"kind": "torch", "form": "dense"}),
        *([("official", "direct", {"kind": "official"})] if official_problem() is None else []),
    ]
    # (row key, form, worker settings); each runs on the package of its form
    runtime_rows = [("onnxruntime-fp32", "dense", {"kind": "onnxruntime"}),
                    ("onnxruntime-regions", "regions", {"kind": "onnxruntime"})]
    if openvino:
        runtime_rows += [("openvino-f32", "dense", {"kind": "openvino", "precision_hint": "f32"}),
                         ("openvino-f32-regions", "regions", {"kind": "openvino", "precision_hint": "f32"})]
    if keys:
        torch_rows = [row for row in torch_rows if row[0] in keys]
        runtime_rows = [row for row in runtime_rows if row[0] in keys]
    for k in classes:
        sized = dataclasses.replace(config, num_classes=k, class_names=())
        checkpoint = class_count_checkpoint(inputs, sized, common.seed)
        cases = [(key, form, common.replace(**worker, checkpoint=str(checkpoint))) for key, form, worker in torch_rows]
        unpackaged: list[dict[str, Any]] = []
        for form in ("dense", "regions"):
            rows_of_form = [row for row in runtime_rows if row[1] == form]
            if form == "regions" and not has_region_layers(sized):  # `sean export --form regions` refuses it
                bar.update(len(rows_of_form))
                continue
            try:
                package_key = "regions" if form == "regions" else "fp32"  # bench.inputs.PACKAGE_EXPORTS
                package = cached_package(checkpoint, checkpoint.parent / f"package-{package_key}", package_key)
                cases += [(key, form, common.replace(**worker, package=str(package)))
                          for key, _, worker in rows_of_form]
            except Exception as exc:  # an export failure (or no export extra) is a result of the benchmark
                unpackaged += [{"classes": k, "path": key, "error": f"no package: {exc}"} for key, _, _ in rows_of_form]
                bar.update(len(rows_of_form))
        labels = timed_inputs(common.replace(num_classes=k), 1)["labels"]
        for key, form, spec in cases:
            bar.set_description(f"{k} classes: {key}")
            row = run_worker(spec.replace(num_classes=k, batch_sizes=(1,)), timeout_s)
            rows.append({"classes": k, "path": key, "gflop": counted_gflop(sized, form, labels, spec.package),
                         **{op: row["batches"]["1"][op] for op in ("encode", "synthesize", "both")}}
                        if "batches" in row else {"classes": k, "path": key, **row})
            bar.update()
        rows += unpackaged
    return rows


def _config_of(package: Any) -> Any:
    from sean_train.config import ModelConfig

    return ModelConfig.from_dict(package.manifest["model_config"])


def add_rates(result: dict[str, Any]) -> None:
    """GFLOP/s achieved at batch 1 per path and operation, and as a fraction of the measured GEMM peak.

    The peak is the best fp32 GEMM rate seen in the run: at the start (numpy and torch) and around
    every path (numpy), so that a slow moment of a shared machine does not set it.
    """
    gemm = result.get("gemm", {})
    candidates = {"numpy": gemm.get("numpy_gflops", 0.0), "torch": gemm.get("torch_gflops", 0.0)}
    for key, row in result["paths"].items():
        candidates[f"numpy, around {key}"] = row.get("gemm_gflops", 0.0)
    peak_from = max(candidates, key=lambda name: candidates[name])
    peak = candidates[peak_from]
    result["gemm"].update(peak_gflops=peak, peak_from=peak_from)
    for key, row in result["paths"].items():
        one = row.get("batches", {}).get("1")
        if not one or not row["gflop"]:
            continue
        row["gflops_per_s"] = {op: row["gflop"][op] / one[op]["median_s"] for op in ("encode", "synthesize", "both")}
        on_cpu = not key.startswith("tensorrt")  # the CPU's GEMM peak says nothing about a GPU
        row["fraction_of_peak"] = {op: rate / peak if peak and on_cpu else None
                                   for op, rate in row["gflops_per_s"].items()}
