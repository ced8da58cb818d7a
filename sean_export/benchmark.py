"""`sean bench`: latency, throughput, memory and achieved FLOP rate of every inference path, side by side.

Paths: the official algorithm (Python loops), PyTorch eager (our vectorised model, auto and direct
style-conv forms), ONNX Runtime CPU (fp32, and the fp16 package with --fp16), OpenVINO (f32 and bf16
hints, with --openvino) and TensorRT (when this machine can run the package's engines; --tensorrt builds
them). Each path runs
in its own process (sean_export.bench_worker) so that its peak resident memory is its own and the
runtime paths never load torch. The FLOPs are the analytic counts of sean_train.flops for the form
each path computes; the achieved rate is compared with an fp32 matrix product measured in the same run.
Benchmarks print tables; they assert nothing about speed.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import numpy as np
from tqdm import tqdm

from sean_runtime.commands import SeanCommand
from sean_runtime.files import atomic_write_json

SHAPES_CHECKPOINT = Path(__file__).resolve().parents[1] / "sean_train" / "pretrained" / "shapes"
REFERENCE_PATH = "torch-direct"  # outputs of every path are compared with our model in the direct form


@dataclass(frozen=True)
class PathSpec:
    """One row of the benchmark: what to run and which style-conv form its FLOPs are counted in."""

    key: str  # e.g. "onnxruntime-fp32"
    label: str  # shown in the tables
    worker: dict[str, Any]  # the worker spec entries of this path
    form: str | None  # "direct", or None for the model's own per-layer choice


@dataclass
class Inputs:
    """What the benchmark runs on: a checkpoint for the torch paths and packages for the runtime paths."""

    checkpoint: Path | None
    packages: dict[str, Path] = field(default_factory=dict)  # "fp32" / "fp16" -> package folder
    notes: list[str] = field(default_factory=list)


# --- models and packages ----------------------------------------------------------------------------------
def random_model(config: Any, seed: int = 0) -> Any:
    """A random model whose activations stay O(1) at any width: weights N(0, 1/fan_in), small biases.

    (Initialisations with a fixed scale either blow up or vanish through 14 convolutions of 1024
    channels; the timing does not care, but the accuracy comparisons need outputs that are not flat.)
    """
    import torch

    from sean_train.networks import SEANModel

    torch.manual_seed(seed)
    model = SEANModel(config)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith(("running_mean", "running_var", "num_batches_tracked")):
                continue
            if tensor.dim() >= 2:
                fan_in = tensor[0].numel() if not name.endswith("style_fc_weight") else tensor.shape[-1]
                tensor.normal_(0.0, fan_in**-0.5)
            else:
                tensor.normal_(0.0, 0.02)
    return model.eval()


def cached_package(checkpoint: Path, out: Path, precision: str) -> Path:
    """Export `checkpoint` to `out` unless a package of it is already there (full-size export: minutes, ~7 GB)."""
    from sean_export import export_package
    from sean_runtime.errors import PackageError
    from sean_runtime.files import sha256_file
    from sean_runtime.package import load_package
    from sean_train.checkpoint import WEIGHTS_FILE

    try:
        package = load_package(out, verify=False)
        same_source = package.manifest["source_checkpoint"]["sha256"] == sha256_file(checkpoint / WEIGHTS_FILE)
        if same_source and package.precision == precision:
            return out
    except (PackageError, KeyError, TypeError):
        pass
    click.echo(f"exporting {checkpoint} ({precision}) to {out} ...", err=True)
    return export_package(checkpoint, out, precision=precision)


def official_size_checkpoint(workdir: Path) -> Path:
    """A random official-size faces model (ModelConfig(): 19 classes, 256 x 256), saved once under workdir."""
    from sean_train.checkpoint import CONFIG_FILE, save_checkpoint
    from sean_train.config import ModelConfig

    directory = workdir / "official-size" / "checkpoint"
    if not (directory / CONFIG_FILE).is_file():
        click.echo(f"building a random official-size model in {directory} ...", err=True)
        save_checkpoint(random_model(ModelConfig(), seed=0), directory)
    return directory


def resolve_inputs(
    package: Path | None, checkpoint: Path | None, official_size: bool, quick: bool, fp16: bool, workdir: Path
) -> Inputs:
    """The checkpoint and packages to benchmark; packages are exported into workdir when not given."""
    if official_size:
        checkpoint = official_size_checkpoint(workdir)
    elif quick and checkpoint is None and package is None:
        checkpoint = SHAPES_CHECKPOINT
    inputs = Inputs(checkpoint)
    if package is not None:
        inputs.packages["fp32"] = package
        if checkpoint is None:
            inputs.checkpoint = source_checkpoint(package, inputs.notes)
    if checkpoint is None and package is None:
        raise click.UsageError("give a package folder, --checkpoint CKPT, --official-size or --quick")
    cache = workdir / (("official-size" if official_size else checkpoint.name) if checkpoint else "package")
    if "fp32" not in inputs.packages and checkpoint is not None:
        inputs.packages["fp32"] = cached_package(checkpoint, cache / "package-fp32", "fp32")
    if fp16 and inputs.checkpoint is not None:
        try:
            inputs.packages["fp16"] = cached_package(inputs.checkpoint, cache / "package-fp16", "fp16")
        except Exception as exc:  # an export failure is a result of the benchmark, not a crash of it
            inputs.notes.append(f"fp16 export failed: {exc}")
    return inputs


def source_checkpoint(package: Path, notes: list[str]) -> Path | None:
    """The checkpoint a package was exported from, when it is still where the manifest says."""
    from sean_runtime.package import read_manifest

    source = read_manifest(package).get("source_checkpoint") or {}
    path = Path(source.get("path", ""))
    if source.get("path") and path.is_dir():
        return path
    notes.append(f"the package's source checkpoint {source.get('path')!r} is not here: torch paths skipped")
    return None


# --- the paths and their FLOPs ----------------------------------------------------------------------------
def plan_paths(inputs: Inputs, openvino: bool) -> tuple[list[PathSpec], list[dict[str, str]]]:
    """The paths to time, and the rows of paths skipped with the reason."""
    paths: list[PathSpec] = []
    skipped: list[dict[str, str]] = []
    if inputs.checkpoint is not None:
        ckpt = str(inputs.checkpoint)
        paths += [
            PathSpec("official", "official (loops)", {"path": "official", "checkpoint": ckpt}, "direct"),
            PathSpec("torch-auto", "PyTorch eager (ours)", {"path": "torch", "checkpoint": ckpt,
                                                             "style_conv": "auto"}, None),
            PathSpec(REFERENCE_PATH, "PyTorch eager (direct)", {"path": "torch", "checkpoint": ckpt,
                                                                 "style_conv": "direct"}, "direct"),
        ]
    for precision, folder in inputs.packages.items():
        paths.append(PathSpec(f"onnxruntime-{precision}", f"ONNX Runtime CPU {precision}",
                              {"path": "onnxruntime", "package": str(folder)}, None))
    if openvino and "fp32" in inputs.packages:
        for hint in ("f32", "bf16"):
            paths.append(PathSpec(f"openvino-{hint}", f"OpenVINO {hint} hint",
                                  {"path": "openvino", "package": str(inputs.packages["fp32"]), "precision_hint": hint},
                                  None))
    for precision, folder in inputs.packages.items():
        problem = tensorrt_problem_of(folder)
        if problem is None:
            paths.append(PathSpec(f"tensorrt-{precision}", f"TensorRT {precision} (GPU)",
                                  {"path": "tensorrt", "package": str(folder)}, None))
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
    from sean_export.tensorrt_build import build_package_engines

    for precision, folder in inputs.packages.items():
        if tensorrt_problem_of(folder) is None:
            continue
        try:
            click.echo(f"building TensorRT engines for {folder} ...", err=True)
            build_package_engines(folder, max_batch=max_batch)
        except Exception as exc:  # no TensorRT, no GPU, a build failure: the TensorRT row says why
            inputs.notes.append(f"TensorRT engines for the {precision} package not built: {exc}")


def counted_gflop(config: Any, form: str | None) -> dict[str, float]:
    """Analytic GFLOP per image (2 x multiply-adds) of encode and synthesize in the given form."""
    from sean_train.flops import encoder_macs, generator_macs

    encode = 2 * encoder_macs(config) / 1e9
    synthesize = 2 * sum(generator_macs(config, form).values()) / 1e9
    return {"encode": encode, "synthesize": synthesize, "both": encode + synthesize}


# --- running workers ------------------------------------------------------------------------------------
def run_worker(spec: dict[str, Any], threads: int, timeout_s: float) -> dict[str, Any]:
    """Run one path in a fresh interpreter with BLAS / OpenMP limited to `threads`; its JSON or the error."""
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(threads)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "sean_export.bench_worker"],
            input=json.dumps(spec),
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish within {timeout_s:.0f} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        return {"error": f"worker exited with {done.returncode}: {tail}"}
    return json.loads(lines[-1])


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def compare_outputs(outputs: dict[str, Path]) -> dict[str, dict[str, float]]:
    """Max |difference| of codes and image (batch 1, same inputs) of every path against the direct form.

    OpenVINO bf16 is also compared with OpenVINO f32 as PSNR (images in [-1, 1], peak-to-peak 2).
    """
    if REFERENCE_PATH not in outputs:
        return {}
    reference = np.load(outputs[REFERENCE_PATH])
    result: dict[str, dict[str, float]] = {}
    for key, path in outputs.items():
        data = np.load(path)
        image = data["image"].astype(np.float64)
        row = {
            "codes_max_abs": float(np.max(np.abs(data["codes"] - reference["codes"]))),
            "image_max_abs": float(np.max(np.abs(image - reference["image"]))),
            "image_psnr_db": psnr(image, reference["image"]),
            "finite": bool(np.isfinite(image).all()),
        }
        result[key] = row
    if "openvino-bf16" in outputs and "openvino-f32" in outputs:
        fp32 = np.load(outputs["openvino-f32"])["image"]
        result["openvino-bf16"]["psnr_vs_openvino_f32_db"] = psnr(np.load(outputs["openvino-bf16"])["image"], fp32)
    return result


def psnr(image: np.ndarray, reference: np.ndarray) -> float:
    from sean_export.validate import psnr as image_psnr

    return image_psnr(image, reference)


def base_spec(config: Any, noise_numel: int, threads: int, repeats: int, budget_s: float) -> dict[str, Any]:
    return {
        "threads": threads,
        "repeats": repeats,
        "budget_s": budget_s,
        "seed": 0,
        "height": config.height,
        "width": config.width,
        "num_classes": config.num_classes,
        "noise_numel": noise_numel,
    }


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
) -> dict[str, Any]:
    """Run every path and the scaling rows; return the whole result (the JSON that `--json` writes).

    save(result) is called after every path, so that a long run that is stopped keeps what it measured.
    """
    from sean_runtime.package import load_package
    from sean_train.checkpoint import read_config

    package = load_package(inputs.packages["fp32"], verify=False)
    config = read_config(inputs.checkpoint)[0] if inputs.checkpoint else _config_of(package)
    common = base_spec(config, package.noise_numel, threads, repeats, budget_s)
    paths, skipped = plan_paths(inputs, openvino)
    result: dict[str, Any] = {
        "machine": {"cpu": _cpu_name(), "cores": os.cpu_count(), "python": platform.python_version(),
                    "load_average_start": load_average()},
        "settings": {"batch_sizes": batch_sizes, "classes": classes, "repeats": repeats, "threads": threads,
                     "budget_s_per_batch": budget_s, "inputs": "uniform image, 8-px-class blocks, zero noise"},
        "model": {k: v for k, v in config.to_dict().items() if k != "class_names"},
        "notes": list(inputs.notes),
        "paths": {},
        "skipped": skipped,
    }
    total = 1 + len(paths) + 2 * len(classes)
    with tempfile.TemporaryDirectory(prefix="sean-bench-") as tmp, tqdm(total=total, unit="path") as bar:
        bar.set_description("matrix-product peak")
        result["gemm"] = run_worker({**common, "path": "gemm"}, threads, timeout_s)
        bar.update()
        outputs: dict[str, Path] = {}
        for path in paths:
            bar.set_description(path.label)
            out = Path(tmp) / f"{path.key}.npz"
            spec = {**common, **path.worker, "batch_sizes": batch_sizes, "outputs": str(out)}
            row = run_worker(spec, threads, timeout_s)
            row.update(label=path.label, form=path.form or config.style_conv, gflop=counted_gflop(config, path.form))
            result["paths"][path.key] = row
            if out.is_file():
                outputs[path.key] = out
            if save is not None:
                save(result)
            bar.update()
        result["accuracy"] = compare_outputs(outputs)
        result["classes_scaling"] = classes_scaling(inputs, config, common, classes, threads, timeout_s, bar)
    result["machine"]["load_average_end"] = load_average()
    add_rates(result)
    return result


def classes_scaling(
    inputs: Inputs, config: Any, common: dict[str, Any], classes: list[int], threads: int, timeout_s: float,
    bar: tqdm,
) -> list[dict[str, Any]]:
    """Batch-1 encode + synthesize of random models with each class count: ours (auto form) vs official loops."""
    import dataclasses

    rows: list[dict[str, Any]] = []
    if inputs.checkpoint is None:
        return rows
    workers = (("torch-auto", {"path": "torch", "style_conv": "auto"}), ("official", {"path": "official"}))
    for k in classes:
        for key, worker in workers:
            bar.set_description(f"{k} classes: {key}")
            spec = {**common, **worker, "num_classes": k, "random_classes": k,
                    "base_checkpoint": str(inputs.checkpoint), "batch_sizes": [1]}
            row = run_worker(spec, threads, timeout_s)
            sized = dataclasses.replace(config, num_classes=k, class_names=())
            form = "direct" if key == "official" else None
            rows.append({"classes": k, "path": key, "gflop": counted_gflop(sized, form),
                         **{op: row["batches"]["1"][op] for op in ("encode", "synthesize", "both")}}
                        if "batches" in row else {"classes": k, "path": key, **row})
            bar.update()
    return rows


def _config_of(package: Any) -> Any:
    from sean_train.config import ModelConfig

    return ModelConfig.from_dict(package.manifest["model_config"])


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


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
        if not one:
            continue
        row["gflops_per_s"] = {op: row["gflop"][op] / one[op]["median_s"] for op in ("encode", "synthesize", "both")}
        on_cpu = not key.startswith("tensorrt")  # the CPU's GEMM peak says nothing about a GPU
        row["fraction_of_peak"] = {op: rate / peak if peak and on_cpu else None
                                   for op, rate in row["gflops_per_s"].items()}


# --- tables -------------------------------------------------------------------------------------------
def format_table(header: list[str], rows: list[list[str]]) -> str:
    """Plain aligned text: first column left-aligned, the others right-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)])


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def _percent(fraction: float | None) -> str:
    return "-" if fraction is None else f"{fraction:.0%}"


def main_table(result: dict[str, Any]) -> str:
    batches = result["settings"]["batch_sizes"]
    big = str(max(batches))
    header = ["path", "form", "enc ms", "syn ms", "both ms", "p90 ms", "img/s b1", f"img/s b{big}",
              "GFLOP", "GFLOP/s", "of peak", "peak RSS MB", "max|Δ| direct"]
    rows = []
    accuracy = result.get("accuracy", {})
    for key, row in result["paths"].items():
        if "batches" not in row:
            rows.append([row["label"], row["form"], *(["-"] * 10), f"error: {row.get('error', '?')[:80]}"])
            continue
        one, last = row["batches"]["1"], row["batches"][big]
        rows.append([
            row["label"], row["form"], _ms(one["encode"]["median_s"]), _ms(one["synthesize"]["median_s"]),
            _ms(one["both"]["median_s"]), _ms(one["both"]["p90_s"]), f"{1 / one['both']['median_s']:.2f}",
            f"{int(big) / last['both']['median_s']:.2f}", f"{row['gflop']['both']:.1f}",
            f"{row['gflops_per_s']['both']:.1f}", _percent(row["fraction_of_peak"]["both"]),
            f"{row['peak_rss_mb']:.0f}", f"{accuracy.get(key, {}).get('image_max_abs', float('nan')):.1e}",
        ])
    return format_table(header, rows)


def batch_table(result: dict[str, Any]) -> str:
    batches = [str(b) for b in result["settings"]["batch_sizes"]]
    header = ["ms per image (encode + synthesize)", *(f"b{b}" for b in batches)]
    rows = []
    for row in result["paths"].values():
        if "batches" in row:
            rows.append([row["label"], *(_ms(row["batches"][b]["both"]["median_s"] / int(b)) for b in batches)])
    return format_table(header, rows)


def classes_table(result: dict[str, Any]) -> str:
    header = ["classes", "path", "GFLOP", "enc ms", "syn ms", "both ms"]
    rows = []
    for row in result["classes_scaling"]:
        if "both" not in row:
            rows.append([str(row["classes"]), row["path"], "-", "-", "-", f"error: {row.get('error', '?')[:60]}"])
            continue
        rows.append([str(row["classes"]), row["path"], f"{row['gflop']['both']:.1f}",
                     _ms(row["encode"]["median_s"]), _ms(row["synthesize"]["median_s"]), _ms(row["both"]["median_s"])])
    return format_table(header, rows)


def report(result: dict[str, Any]) -> str:
    gemm, machine, model = result["gemm"], result["machine"], result["model"]
    parts = [
        f"{machine['cpu']}, {machine['cores']} cores, {result['settings']['threads']} threads; load average "
        f"{machine['load_average_start']} at start, {machine['load_average_end']} at end",
        f"model: {model['num_classes']} classes, {model['height']}x{model['width']}, style_dim {model['style_dim']}, "
        f"ngf {model['ngf']}, style_conv {model['style_conv']}",
        f"fp32 GEMM {gemm.get('size')}² at the start: numpy {gemm.get('numpy_gflops', 0):.0f} GFLOP/s, torch "
        f"{gemm.get('torch_gflops', 0):.0f} GFLOP/s; best in the run {gemm['peak_gflops']:.0f} GFLOP/s "
        f"({gemm['peak_from']}) = the peak below",
        "",
        main_table(result),
        "",
        batch_table(result),
    ]
    if result["classes_scaling"]:
        parts += ["", classes_table(result)]
    openvino = [(k, r) for k, r in result["paths"].items() if k.startswith("openvino") and "execution_precision" in r]
    for key, row in openvino:
        psnr_note = result.get("accuracy", {}).get(key, {}).get("psnr_vs_openvino_f32_db")
        extra = f", image PSNR vs OpenVINO f32 {psnr_note:.1f} dB" if psnr_note is not None else ""
        parts.append(f"{key}: executes {row['execution_precision']} (CPU capabilities {row['capabilities']}){extra}")
    parts += [f"{skip['label']}: skipped, {skip['skipped']}" for skip in result["skipped"]]
    parts += [f"note: {note}" for note in result["notes"]]
    return "\n".join(parts)


def command_line(ctx: click.Context) -> str:
    """The `sean bench` command with the options that differ from their defaults, for the record."""
    words = ["sean", "bench"]
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if value is None or value == param.default or value is False:
            continue
        if isinstance(param, click.Argument):
            words.append(str(value))
        elif value is True:
            words.append(param.opts[0])
        else:
            words += [param.opts[0], str(value)]
    return " ".join(words)


def parse_ints(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise click.BadParameter(f"expected comma-separated integers like 1,2,4,8, got {text!r}") from exc
    if not values or min(values) < 1:
        raise click.BadParameter(f"expected positive integers, got {text!r}")
    return sorted(set(values))


@click.command(cls=SeanCommand)
@click.argument("package", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--checkpoint", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Checkpoint for the PyTorch and official paths (default: the package's source checkpoint).")
@click.option("--official-size", is_flag=True, help="Benchmark a random official-size faces model (19 classes, 256²).")
@click.option("--quick", is_flag=True, help="The shipped 64x64 shapes model, 2 repeats, batch 1,2 (a minute or two).")
@click.option("--batch-sizes", default="1,2,4,8", show_default=True, help="Batch sizes for the scaling table.")
@click.option("--classes", default=None, help="Class counts of random models for the class-scaling table "
              "(default 19,151; --quick: 8,16; empty string: none).")
@click.option("--repeats", type=click.IntRange(1), default=5, show_default=True, help="Timed runs per batch size.")
@click.option("--budget", "budget_s", type=click.FloatRange(0), default=60.0, show_default=True,
              help="Seconds per path and batch size after which fewer repeats are taken (at least one).")
@click.option("--threads", type=click.IntRange(1), default=2, show_default=True, help="Threads for every path.")
@click.option("--fp16", is_flag=True, help="Also export and time the fp16 package in ONNX Runtime.")
@click.option("--openvino", is_flag=True, help="Also time OpenVINO with the f32 and bf16 precision hints.")
@click.option("--tensorrt", is_flag=True, help="Build TensorRT engines for the packages that lack usable ones "
              "(needs an NVIDIA GPU and the tensorrt extra); engines that are usable are timed either way.")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=Path("runs/bench"),
              show_default=True, help="Where exported packages are cached between runs.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), help="Write the results here.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(1), default=3600.0, show_default=True,
              help="Seconds after which one path's worker is stopped and reported as an error.")
def bench(
    package: Path | None,
    checkpoint: Path | None,
    official_size: bool,
    quick: bool,
    batch_sizes: str,
    classes: str | None,
    repeats: int,
    budget_s: float,
    threads: int,
    fp16: bool,
    openvino: bool,
    tensorrt: bool,
    workdir: Path,
    json_out: Path | None,
    timeout_s: float,
) -> None:
    """Latency / throughput / memory / FLOP-rate table of every inference path.

    \b
    Examples:
      sean bench --quick --openvino
      sean bench --official-size --openvino --fp16 --json runs/bench/official.json
      sean bench --official-size --fp16 --tensorrt    # on a GPU machine
      sean bench PKG --checkpoint CKPT --batch-sizes 1,8
    """
    if official_size and checkpoint is not None:
        raise click.UsageError("--official-size builds its own model; leave out --checkpoint")
    if quick:
        batch_sizes, repeats = "1,2", min(repeats, 2)
    class_counts = parse_ints(classes) if classes else ([] if classes == "" else ([8, 16] if quick else [19, 151]))
    inputs = resolve_inputs(package, checkpoint, official_size, quick, fp16, workdir)
    if tensorrt:
        build_missing_engines(inputs, max(parse_ints(batch_sizes)))
    command = command_line(click.get_current_context())

    def save(partial: dict[str, Any]) -> None:
        if json_out is not None:
            atomic_write_json(json_out, {**partial, "command": command, "complete": False})

    result = benchmark(
        inputs, parse_ints(batch_sizes), class_counts, repeats, threads, openvino, budget_s, timeout_s, save
    )
    result.update(command=command, complete=True)
    click.echo(report(result))
    if json_out is not None:
        atomic_write_json(json_out, result)
        click.echo(f"wrote {json_out}", err=True)
