"""`sean build-engine`: the parts that need no GPU (profiles, timing caches, flags, errors) are tested
here; the real build runs only where TensorRT and a GPU are present. Sidecar checks: tests/test_plans.py."""

from __future__ import annotations

import json
import shutil
import sys
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from sean_core.install import install_command
from sean_export import tensorrt_build as tb
from sean_runtime.backends.gpu import cuda_gpus
from sean_runtime.backends.plans import deserialize_plan, plan_problem
from sean_runtime.package import load_package
from tests.helpers import H100, L4


@pytest.fixture
def package(tiny_package, tmp_path):
    """A private copy of the tiny package, so that plans written by a test do not leak into others."""
    copy = tmp_path / "pkg"
    shutil.copytree(tiny_package, copy)
    return copy


def test_profile_shapes_set_only_the_batch_axis(tiny_package):
    spec = load_package(tiny_package).generator
    shapes = tb.profile_shapes(spec, tb.BatchProfile(1, 4, 16))
    numel = json.loads((tiny_package / "manifest.json").read_text())["noise"]["numel"]
    assert shapes["labels"] == ((1, 64, 64), (4, 64, 64), (16, 64, 64))
    assert shapes["codes"] == ((1, 8, 16), (4, 8, 16), (16, 8, 16))
    assert shapes["noise"] == ((1, numel), (4, numel), (16, numel))
    assert tb.BatchProfile.up_to(8, opt_batch=32) == tb.BatchProfile(1, 8, 8)
    with pytest.raises(ValueError, match="min <= opt <= max"):
        tb.BatchProfile(1, 9, 8)


def test_timing_cache_is_keyed_by_tensorrt_version_and_gpu(tmp_path):
    key = tb.timing_cache_key("10.13.0.35", H100)
    assert key == "trt10.13.0.35-sm_90-nvidia-h100-80gb-hbm3"
    assert tb.timing_cache_key("10.13.0.35", L4) != key
    assert tb.timing_cache_key("11.0.0", H100) != key
    path = tmp_path / "faces.timing-cache"
    assert tb.read_timing_cache(path, key) == b""  # none yet: start empty
    tb.write_timing_cache(path, b"timings", key)
    assert tb.read_timing_cache(path, key) == b"timings"
    with pytest.raises(tb.EngineBuildError, match=r"written for trt10\.13\.0\.35-sm_90.*pass another --timing-cache"):
        tb.read_timing_cache(path, tb.timing_cache_key("10.13.0.35", L4))
    assert tb.default_timing_cache(key).name == f"{key}.timing-cache"


def test_network_is_strongly_typed_in_tensorrt_10_and_11():
    with_flag = SimpleNamespace(NetworkDefinitionCreationFlag=SimpleNamespace(STRONGLY_TYPED=1))
    assert tb.network_flags(with_flag) == 1 << 1
    without_flag = SimpleNamespace(NetworkDefinitionCreationFlag=SimpleNamespace())
    assert tb.network_flags(without_flag) == 0


def test_missing_tensorrt_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(tb.EngineBuildError, match="the 'tensorrt' extra") as raised:
        tb.import_tensorrt()
    assert install_command("tensorrt") in str(raised.value)
    monkeypatch.setitem(sys.modules, "tensorrt", SimpleNamespace(__version__="8.6.1"))
    with pytest.raises(tb.EngineBuildError, match=r"8\.6\.1 is too old"):
        tb.import_tensorrt()


def test_cli_without_tensorrt_explains_itself(tiny_package, monkeypatch):
    from sean_export.commands import build_engine

    monkeypatch.setitem(sys.modules, "tensorrt", None)
    result = CliRunner().invoke(build_engine, [str(tiny_package), "--max-batch", "4"])
    assert result.exit_code == 1
    assert "needs tensorrt (the 'tensorrt' extra), which is not installed" in result.output
    assert install_command("tensorrt") in result.output
    assert not (tiny_package / "encoder.plan").exists()


@pytest.mark.gpu
def test_real_engine_build(package, tmp_path):
    pytest.importorskip("tensorrt", reason="TensorRT is not installed (it needs an NVIDIA GPU machine)")
    if not cuda_gpus():
        pytest.skip("no NVIDIA GPU visible to the CUDA driver")
    import tensorrt as trt

    plans = tb.build_engines(package, max_batch=2, timing_cache=tmp_path / "t.cache", progress=False)
    loaded = load_package(package)
    gpu = cuda_gpus()[0]
    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    for graph, plan in zip(("encoder", "generator"), plans, strict=True):
        assert plan.stat().st_size > 0
        assert plan_problem(loaded, graph, trt.__version__, gpu, check_plan_hash=True) is None
        engine = deserialize_plan(runtime, loaded, graph, trt.__version__, gpu)
        assert engine.num_io_tensors == len(loaded.graph(graph).inputs) + len(loaded.graph(graph).outputs)
