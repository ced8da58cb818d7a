"""`sean bench` on the tiny package: every path reports finite numbers, runtime paths stay torch-free,
and the factorized (auto) form matches the direct form. Timings themselves are never asserted."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

from sean_core.text_table import format_table
from sean_runtime.package import load_package
from sean_tools.bench import plan, worker
from sean_tools.bench.cli import bench, parse_ints
from sean_tools.bench.inputs import Inputs, cached_package, export_code_sha256
from sean_tools.bench.plan import plan_paths
from sean_tools.bench.run import add_rates, class_count_checkpoint
from sean_tools.bench.spec import WorkerSpec
from sean_train.config import ModelConfig
from tests.helpers import OPENVINO_MISSING, TINY

PATHS = (
    "official", "torch-auto", "torch-direct", "torch-inference", "onnxruntime-fp32", "openvino-f32", "openvino-bf16"
)
# The tiny 64 x 64 model has no layer in region form (forms.REGION_MIN_PIXELS): its region rows are skipped.
REGION_PATHS = ("onnxruntime-regions", "openvino-f32-regions", "openvino-bf16-regions")


@pytest.fixture(scope="module")
def bench_workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("bench-work")


@pytest.fixture(scope="module")
def bench_result(tmp_path_factory, bench_workdir, tiny_package, tiny_export_checkpoint):
    pytest.importorskip("openvino", reason=OPENVINO_MISSING)
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    args = [str(tiny_package), "--checkpoint", str(tiny_export_checkpoint), "--repeats", "2", "--batch-sizes", "1,2",
            "--classes", "8", "--threads", "1", "--budget", "0", "--openvino", "--labels", "faces", "--json", str(out),
            "--workdir", str(bench_workdir), "--gemm-size", "256"]  # a 2048² peak probe around 15 paths takes 25 s
    result = CliRunner().invoke(bench, args)
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text()), result.output


@pytest.mark.slow
def test_every_path_has_finite_numbers(bench_result, bench_workdir):
    data, _ = bench_result
    assert set(data["paths"]) == set(PATHS)
    assert data["gemm"]["peak_gflops"] > 0 and data["gemm"]["size"] == 256
    for key, row in data["paths"].items():
        assert "error" not in row, (key, row.get("error"))
        for batch in ("1", "2"):
            for op in ("encode", "synthesize", "both"):
                stats = row["batches"][batch][op]
                assert 0 < stats["median_s"] <= stats["p90_s"] < math.inf, (key, batch, op)
        assert row["gflop"]["both"] == pytest.approx(row["gflop"]["encode"] + row["gflop"]["synthesize"])
        assert 0 < row["fraction_of_peak"]["both"] < math.inf
        assert row["peak_rss_mb"] >= row["rss_after_load_mb"] > 0
        assert 0 < row["gemm_gflops"] <= data["gemm"]["peak_gflops"]
    # The direct form counts more FLOPs than the per-layer choice (the exact identity saves work).
    assert data["paths"]["torch-direct"]["gflop"]["synthesize"] > data["paths"]["torch-auto"]["gflop"]["synthesize"]
    # Packages ship the folded inference form: the runtime rows count its FLOPs, as PyTorch's inference row.
    assert data["paths"]["onnxruntime-fp32"]["form"] == data["paths"]["torch-inference"]["form"] == "dense"
    assert data["paths"]["onnxruntime-fp32"]["gflop"] == data["paths"]["torch-inference"]["gflop"]
    assert data["paths"]["torch-inference"]["gflop"]["synthesize"] < data["paths"]["torch-auto"]["gflop"]["synthesize"]
    assert [row["key"] for row in data["skipped"]] == [*REGION_PATHS, "tensorrt-fp32"]
    # Why the region rows skip, with no export tried and no advice on export options (not a bench option).
    assert all(row["skipped"].startswith("no layer of this 64x64") and "export it" not in row["skipped"]
               for row in data["skipped"][:2])
    assert not any(bench_workdir.rglob("package-regions*"))
    assert data["skipped"][2]["skipped"]


@pytest.mark.slow
def test_runtime_paths_never_load_torch(bench_result):
    data, _ = bench_result
    for key in ("onnxruntime-fp32", "openvino-f32", "openvino-bf16"):
        assert data["paths"][key]["torch_imported"] is False, key
    assert data["paths"]["official"]["torch_imported"] is True


@pytest.mark.slow
def test_outputs_match_the_direct_form(bench_result):
    data, _ = bench_result
    for key in ("official", "torch-auto", "torch-inference", "onnxruntime-fp32", "openvino-f32"):
        assert data["accuracy"][key]["image_max_abs"] <= 1e-4, key
        assert data["accuracy"][key]["codes_max_abs"] <= 1e-4, key
    assert data["accuracy"]["openvino-bf16"]["finite"]


@pytest.mark.slow
def test_report_and_scaling_tables(bench_result, bench_workdir):
    data, output = bench_result
    assert [(row["classes"], row["path"]) for row in data["classes_scaling"]] == [
        (8, "torch-auto"), (8, "torch-inference"), (8, "official"), (8, "onnxruntime-fp32"), (8, "openvino-f32")
    ]
    assert all(row["both"]["median_s"] > 0 for row in data["classes_scaling"])
    # The runtime rows time a package exported from the same random model as the torch rows.
    (packaged,) = bench_workdir.glob("*/classes-8/package-fp32")
    assert (packaged / "manifest.json").is_file()
    for label in ("official (loops)", "ONNX Runtime CPU fp32", "OpenVINO bf16 hint", "ms per image"):
        assert label in output
    assert data["complete"] and data["command"].startswith("sean bench ") and "--openvino" in data["command"]
    assert data["settings"]["labels"] == "faces" and "a face parsing layout" in output


def test_face_labels_have_the_regions_of_a_face_at_any_class_count():
    from sean_tools.bench.inputs import face_labels

    for classes in (19, 151):
        labels = face_labels(np.random.default_rng(0), 2, classes, 256, 256)
        assert labels.shape == (2, 256, 256) and labels.dtype == np.int32
        shown = np.unique(labels[0])
        assert len(shown) == 15 and shown[0] == 0 and shown[-1] < classes
        assert not np.array_equal(labels[0], labels[1])  # jittered per image


@pytest.mark.parametrize("batch_sizes,rates", [([1], ["img/s b1"]), ([1, 4], ["img/s b1", "img/s b4"])])
def test_main_table_has_a_throughput_column_per_batch_size_it_timed(batch_sizes, rates):
    from sean_tools.bench.report import main_table

    timing = {op: {"median_s": 0.5, "p90_s": 0.6} for op in ("encode", "synthesize", "both")}
    path = {"label": "ONNX Runtime CPU fp32, dense", "form": "dense", "peak_rss_mb": 100.0,
            "batches": {str(b): timing for b in batch_sizes}}
    failed = {"label": "OpenVINO f32 hint", "form": "dense", "error": "no such device"}
    result = {"settings": {"batch_sizes": batch_sizes}, "paths": {"onnxruntime-fp32": path, "openvino-f32": failed}}
    header, _, row, error_row = main_table(result).splitlines()
    assert [c for c in ("img/s b1", "img/s b4") if c in header] == rates
    # After the label: form, 4 times, the rates, GFLOP, GFLOP/s, of peak, RSS, error vs direct.
    assert len(row.split()) - len(path["label"].split()) == 10 + len(rates)
    assert len(error_row) == len(header) and error_row.rstrip().endswith("error: no such device")


def test_format_table_aligns_columns():
    text = format_table(["path", "ms"], [["a", "1.0"], ["longer name", "123.4"]])
    lines = text.splitlines()
    assert len({len(line) for line in lines}) == 1
    assert lines[2].startswith("a ") and lines[2].endswith("  1.0")


@pytest.mark.parametrize("text,expected", [("1,2,4,8", [1, 2, 4, 8]), ("8,1,8", [1, 8])])
def test_parse_ints(text, expected):
    assert parse_ints(text) == expected


@pytest.mark.parametrize("text", ["1,x", "0,2", ""])
def test_parse_ints_rejects_bad_lists(text):
    with pytest.raises(click.BadParameter):
        parse_ints(text)


@pytest.mark.slow
def test_a_package_alone_times_that_package_quickly_and_builds_nothing(tmp_path, tiny_package):
    """`sean bench PACKAGE`: the package's own runtime rows, no torch rows, no class study, nothing exported."""
    out = tmp_path / "bench.json"
    workdir = tmp_path / "work"
    args = [str(tiny_package), "--repeats", "1", "--batch-sizes", "1", "--threads", "1", "--budget", "0",
            "--json", str(out), "--workdir", str(workdir), "--gemm-size", "256"]
    result = CliRunner().invoke(bench, args)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert set(data["paths"]) == {"onnxruntime-fp32"}
    assert not data["classes_scaling"]
    assert not workdir.exists() or not any(workdir.rglob("*.onnx"))
    assert "give --checkpoint" in result.output
    assert "nan" not in result.output  # no direct form to compare with: "-" in that column


def test_bench_without_a_model_is_a_usage_error():
    result = CliRunner().invoke(bench, [])
    assert result.exit_code == 2 and "--official-size" in result.output


def test_usable_tensorrt_engines_are_timed_and_unusable_ones_say_why(tiny_package, monkeypatch):
    inputs = Inputs(None, tiny_package.parent, {"fp32": tiny_package, "fp16": tiny_package})
    _, skipped = plan_paths(inputs, openvino=False)
    assert [row["key"] for row in skipped] == ["tensorrt-fp32", "tensorrt-fp16"]
    assert "no TensorRT engines" in skipped[0]["skipped"]
    monkeypatch.setattr(plan, "tensorrt_problem_of", lambda package: None)
    paths, skipped = plan_paths(inputs, openvino=False)
    assert not skipped
    assert [(p.key, p.kind) for p in paths] == [
        ("onnxruntime-fp32", "onnxruntime"), ("onnxruntime-fp16", "onnxruntime"),
        ("tensorrt-fp32", "tensorrt"), ("tensorrt-fp16", "tensorrt"),
    ]


@pytest.mark.slow
def test_the_tensorrt_worker_splits_batches_above_the_engine_profile(tiny_package, monkeypatch):
    """A stand-in TensorRT backend (ONNX Runtime underneath) whose profile takes one image per call."""
    from sean_runtime.backends import tensorrt
    from sean_runtime.backends.onnxruntime import CPU, OnnxRuntimeBackend

    calls = []

    class OneImageBackend(OnnxRuntimeBackend):
        max_batch = 1

        def __init__(self, package):
            super().__init__(package, [CPU], threads=1)
            self.device = "stand-in GPU"

        def generate(self, labels, codes, noise, extra):
            assert labels.shape[0] == 1
            calls.append(labels.shape[0])
            return super().generate(labels, codes, noise, extra)

    monkeypatch.setattr(tensorrt, "TensorRTBackend", OneImageBackend)
    package = load_package(tiny_package, verify=False)
    spec = WorkerSpec(kind="tensorrt", package=str(tiny_package), threads=1, batch_sizes=(1, 3), repeats=1,
                      budget_s=0, seed=0, height=package.height, width=package.width,
                      num_classes=package.num_classes, noise_numel=package.noise_numel)
    result = worker.run_path(WorkerSpec.from_json(spec.to_json()))
    assert result["device"] == "stand-in GPU" and result["max_batch"] == 1
    assert set(result["batches"]) == {"1", "3"} and calls.count(1) == len(calls) >= 4
    rates = {"gemm": {"numpy_gflops": 100.0}, "paths": {"tensorrt-fp32": {**result, "gflop": dict.fromkeys(
        ("encode", "synthesize", "both"), 1.0)}}}
    add_rates(rates)
    assert rates["paths"]["tensorrt-fp32"]["fraction_of_peak"]["both"] is None  # a GPU is not held to the CPU peak
    assert rates["paths"]["tensorrt-fp32"]["gflops_per_s"]["both"] > 0


@pytest.mark.slow
def test_cached_packages_are_exported_again_when_the_export_code_changed(tmp_path, tiny_export_checkpoint):
    out = tmp_path / "package-fp32"
    cached_package(tiny_export_checkpoint, out, "fp32")
    exported_at = (out / "manifest.json").stat().st_mtime_ns
    cached_package(tiny_export_checkpoint, out, "fp32")
    assert (out / "manifest.json").stat().st_mtime_ns == exported_at  # same checkpoint, same code: reused
    stamp = out.with_name("package-fp32.stamp.json")
    stale = {**json.loads(stamp.read_text()), "export_code_sha256": "0" * 64}
    stamp.write_text(json.dumps(stale))
    cached_package(tiny_export_checkpoint, out, "fp32")
    assert (out / "manifest.json").stat().st_mtime_ns != exported_at
    assert json.loads(stamp.read_text())["export_code_sha256"] == export_code_sha256()


@pytest.mark.slow
def test_a_workers_peak_memory_is_its_own_not_its_parents():
    """Workers are started by a `sean bench` that may have exported a full-size model in process."""
    parent = np.ones(600 * 2**20 // 8)  # 600 MiB, touched, in this (the parent) process
    code = "from sean_tools.bench.worker import peak_rss_mb; print(peak_rss_mb())"
    child = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert parent.sum() > 0 and 0 < child < 300


def test_class_scaling_models_are_saved_once_and_rebuilt_when_the_config_changes(tmp_path):
    config = dataclasses.replace(ModelConfig(**TINY), num_classes=5, class_names=())
    inputs = Inputs(None, tmp_path)
    weights = class_count_checkpoint(inputs, config, seed=0) / "model.safetensors"
    saved_at = weights.stat().st_mtime_ns
    assert class_count_checkpoint(inputs, config, seed=0) / "model.safetensors" == weights
    assert weights.stat().st_mtime_ns == saved_at  # the same config: reused, not drawn again
    class_count_checkpoint(inputs, dataclasses.replace(config, style_dim=2 * config.style_dim), seed=0)
    assert weights.stat().st_mtime_ns != saved_at


# --- alternating rounds, profiles, the C++ rows --------------------------------------------------------------
@pytest.mark.slow
def test_alternating_rounds_time_the_rows_named_in_turns(tmp_path, tiny_package):
    pytest.importorskip("openvino", reason=OPENVINO_MISSING)
    out = tmp_path / "alternate.json"
    args = [str(tiny_package), "--alternate", "--openvino", "--paths", "openvino-f32,onnxruntime-fp32", "--rounds", "3",
            "--threads", "1", "--labels", "faces", "--json", str(out), "--workdir", str(tmp_path / "work")]
    result = CliRunner().invoke(bench, args)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["settings"]["mode"] == "alternate" and data["settings"]["rounds"] == 3
    first, second = data["alternate"]
    assert [row["path"] for row in data["alternate"]] == ["openvino-f32", "onnxruntime-fp32"]  # the order named
    for row in (first, second):
        assert row["classes"] == load_package(tiny_package, verify=False).num_classes
        assert row["finite"]
        for op in ("encode", "synthesize", "both"):
            times = row["times_s"][op]
            assert len(times) == 3 and all(0 < t < math.inf for t in times)
            assert min(times) <= row["median_s"][op] <= max(times)
        assert row["min_s"] == min(row["times_s"]["both"])
    assert first["ratio_to_first"] == first["ratio_to_first_same_classes"] == 1.0
    assert 0 < second["ratio_to_first"] < math.inf and second["first_same_classes"] == "openvino-f32"
    assert second["image_max_abs_vs_first_same_classes"] <= 1e-4  # one package, two fp32 runtimes
    assert "x first, same classes" in result.output and "onnxruntime-fp32" in result.output


def test_paired_ratios_are_medians_of_same_round_ratios_per_class_count():
    """Round by round ratios, not a ratio of medians: a slow round of the machine falls on both rows."""
    from sean_tools.bench.alternate import alternating_rows
    from sean_tools.bench.spec import PathSpec

    def case(both):
        return {"times_s": {"encode": both, "synthesize": both, "both": both}}

    a, b = PathSpec("official", "A", "official", "direct"), PathSpec("onnxruntime-fp32", "B", "onnxruntime", "dense")
    rows = [(19, a), (19, b), (151, a), (151, b)]
    cases = [case([1.0, 1.0, 4.0]), case([1.0, 3.0, 3.0]), case([2.0, 2.0, 2.0]), {"error": "did not load"}]
    image = np.zeros((1, 3, 4, 4), np.float32)
    out = alternating_rows(rows, cases, [image, image + 0.5, image, None])
    assert out[1]["ratio_to_first"] == 1.0  # rounds: 1, 3, 0.75 (the ratio of the medians would be 3)
    assert out[1]["image_max_abs_vs_first_same_classes"] == 0.5
    assert out[2]["ratio_to_first"] == 2.0 and out[2]["ratio_to_first_same_classes"] == 1.0
    assert out[2]["first_same_classes"] == "official" and out[3]["error"] == "did not load"
    assert "median_s" not in out[3]


@pytest.mark.slow
def test_a_profile_groups_every_node_by_part_block_and_operator(tmp_path, tiny_package):
    pytest.importorskip("openvino", reason=OPENVINO_MISSING)
    out = tmp_path / "profile.json"
    args = [str(tiny_package), "--profile", "--openvino", "--paths", "onnxruntime-fp32,openvino-f32", "--rounds", "2",
            "--threads", "1", "--json", str(out), "--workdir", str(tmp_path / "work")]
    result = CliRunner().invoke(bench, args)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["settings"]["mode"] == "profile" and [row["path"] for row in data["profile"]] == [
        "onnxruntime-fp32", "openvino-f32"]
    for row in data["profile"]:
        assert set(row["graphs"]) == {"encoder", "generator"} and row["runs"] == 2
        for graph in row["graphs"].values():
            assert 0 < graph["wall_ms"] < math.inf and graph["nodes"] > 0
            for group in ("part", "block", "operator"):  # three groupings of the same node times
                times = [ms for _, ms in graph[group]]
                assert sum(times) == pytest.approx(graph["nodes_ms"]) and times == sorted(times, reverse=True)
                assert len({name for name, _ in graph[group]}) == len(times)
        assert any("Conv" in op for op, _ in row["graphs"]["generator"]["operator"])
        assert "encoder" in dict(row["graphs"]["encoder"]["part"])
        blocks = [name for name, _ in row["graphs"]["generator"]["block"] if name.startswith("generator/")]
        assert blocks and all(name.split("/")[1].islower() for name in blocks)  # modules, not operators
    assert "generator:" in result.output and "ms per run" in result.output


@pytest.mark.parametrize("args,message", [
    (["--alternate", "--paths", "onnxruntime-fp99"], "the rows are onnxruntime-fp32"),
    (["--alternate", "--profile"], "give one"),
])
def test_alternate_and_profile_refuse_what_they_cannot_run(tiny_package, tmp_path, args, message):
    result = CliRunner().invoke(bench, [str(tiny_package), *args, "--workdir", str(tmp_path)])
    assert result.exit_code == 2 and message in result.output


def test_paths_select_rows_in_the_order_named_and_the_cpp_rows_say_why_they_are_missing(tiny_package):
    inputs = Inputs(None, tiny_package.parent, {"fp32": tiny_package})
    inputs.cpp_problem = "the C++ runtime does not build here: cmake is not installed"
    paths, skipped = plan.select_paths(*plan_paths(inputs, openvino=True, cpp=True),
                                       ["cpp-openvino", "openvino-f32", "onnxruntime-fp32"])
    assert [p.key for p in paths] == ["openvino-f32", "onnxruntime-fp32"]
    assert skipped == [{"key": "cpp-openvino", "label": "C++ runtime, OpenVINO f32", "skipped": inputs.cpp_problem}]
    inputs.cpp_library = tiny_package / "libsean.so"
    paths, _ = plan.select_paths(*plan_paths(inputs, openvino=False, cpp=True), ["cpp-openvino", "cpp-openvino-bf16"])
    common = {"package": str(tiny_package), "library": str(inputs.cpp_library)}
    assert [(p.kind, p.label, p.settings) for p in paths] == [
        ("cpp", "C++ runtime, OpenVINO f32", common),
        ("cpp", "C++ runtime, OpenVINO bf16", {**common, "precision_hint": "bf16"}),
    ]


@pytest.mark.slow
def test_the_cpp_row_times_the_cpp_runtime_and_its_images_equal_the_python_runtimes(tiny_package, tmp_path):
    """The worker of a cpp row on the C++ library as tests/test_cpp_runtime.py builds it (the same build)."""
    pytest.importorskip("openvino", reason=OPENVINO_MISSING)
    from pathlib import Path

    from sean_runtime.cpp import binding

    try:
        build = binding.cmake_build(Path(__file__).resolve().parents[1] / "build" / "pytest-release",
                                    "-DCMAKE_BUILD_TYPE=Release")
    except binding.BuildError as exc:
        if exc.missing:
            pytest.skip(str(exc))
        raise
    package = load_package(tiny_package, verify=False)
    spec = WorkerSpec(kind="cpp", package=str(tiny_package), library=str(build / "libsean.so"), threads=1,
                      batch_sizes=(1, 2), repeats=1, budget_s=0, seed=0, height=package.height, width=package.width,
                      num_classes=package.num_classes, noise_numel=package.noise_numel,
                      outputs=str(tmp_path / "cpp.npz"), gemm_size=256)
    result = worker.run_path(WorkerSpec.from_json(spec.to_json()))
    assert set(result["batches"]) == {"1", "2"}
    assert all(0 < result["batches"][b]["both"]["median_s"] < math.inf for b in ("1", "2"))
    assert result["max_pixel_difference_vs_python_runtime"] == 0  # the same OpenVINO graphs, same uint8 inputs
    saved = np.load(tmp_path / "cpp.npz")
    assert saved["codes"].shape == (1, package.num_classes, package.style_dim)
    assert saved["image"].shape == (1, 3, package.height, package.width) and np.isfinite(saved["image"]).all()


@pytest.mark.slow
def test_the_ab_script_times_two_packages_alternately_and_compares_their_images(shapes_package):
    command = [sys.executable, "scripts/ab_packages.py", str(shapes_package), str(shapes_package), "--rounds", "2",
               "--threads", "1"]  # fmt: skip
    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0] == "backend onnxruntime, precision f32, 1 threads, 2 rounds, batch 1, 64x64"
    assert lines[1] == "images A vs B: max |diff| 0 (uint8), 0.00e+00 (float)"  # one package: the same image
    assert re.fullmatch(r"A / B paired median \d+\.\d{3} \(range \d+\.\d{3}-\d+\.\d{3}\)", lines[3]), lines[3]
    refused = subprocess.run([*command[:4], "--precision", "bf16"], cwd=repo, capture_output=True, text=True,
                             timeout=300)
    assert refused.returncode == 2 and "add --backend openvino" in refused.stderr
