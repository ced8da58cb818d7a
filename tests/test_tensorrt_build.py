"""`sean build-engine`: everything that needs no GPU is tested here with a stand-in for `tensorrt`;
the real build runs only where TensorRT and a GPU are present."""

from __future__ import annotations

import json
import shutil
import sys
from types import SimpleNamespace
from unittest import mock

import pytest
from click.testing import CliRunner

from sean_export import tensorrt_build as tb
from sean_runtime.backends.gpu import GpuInfo, cuda_gpus
from sean_runtime.package import load_package

H100 = GpuInfo(0, "NVIDIA H100 80GB HBM3", (9, 0))
L4 = GpuInfo(0, "NVIDIA L4", (8, 9))


class FakeTensorRT:
    """Records the TensorRT API calls the builder makes and answers like TensorRT 10 would."""

    __version__ = "10.13.0.35"

    class Logger:
        WARNING = 2

        def __init__(self, severity):
            self.severity = severity

    NetworkDefinitionCreationFlag = SimpleNamespace(STRONGLY_TYPED=1)
    MemoryPoolType = SimpleNamespace(WORKSPACE="workspace")

    def __init__(self, input_names, plan=b"\x00PLAN-bytes", parse_ok=True):
        self.calls = mock.MagicMock()
        calls = self.calls
        self.deserialized = []

        class Network:
            num_inputs = len(input_names)

            def get_input(self, i):
                return SimpleNamespace(name=input_names[i])

        class Parser:
            num_errors = 0 if parse_ok else 1

            def __init__(self, network, logger):
                pass

            def parse_from_file(self, path):
                calls.parse_from_file(path)
                return parse_ok

            def get_error(self, i):
                return "In node 3 (Foo): UNSUPPORTED_NODE"

        class Cache:
            def __init__(self, data):
                self.data = data

            def serialize(self):
                return self.data + b"+timings"

        class Config:
            def __init__(self):
                self.cache = None

            def set_memory_pool_limit(self, pool, size):
                calls.set_memory_pool_limit(pool, size)

            def create_timing_cache(self, data):
                calls.create_timing_cache(bytes(data))
                return Cache(bytes(data))

            def set_timing_cache(self, cache, ignore_mismatch):
                calls.set_timing_cache(ignore_mismatch)
                self.cache = cache
                return True

            def get_timing_cache(self):
                return self.cache

            def add_optimization_profile(self, profile):
                calls.add_optimization_profile()

            def set_flag(self, flag):
                raise AssertionError("strongly typed builds set no precision flag")

        class Profile:
            def set_shape(self, name, smallest, typical, largest):
                calls.set_shape(name, tuple(smallest), tuple(typical), tuple(largest))

        class Builder:
            def __init__(self, logger):
                pass

            def create_network(self, flags):
                calls.create_network(flags)
                return Network()

            def create_builder_config(self):
                return Config()

            def create_optimization_profile(self):
                return Profile()

            def build_serialized_network(self, network, config):
                return plan

        fake = self

        class Runtime:
            def __init__(self, logger):
                pass

            def deserialize_cuda_engine(self, data):
                fake.deserialized.append(bytes(data))
                return object()

        self.OnnxParser, self.Builder, self.Runtime = Parser, Builder, Runtime


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
    assert tb.network_flags(FakeTensorRT([])) == 1 << 1
    without_flag = SimpleNamespace(NetworkDefinitionCreationFlag=SimpleNamespace())
    assert tb.network_flags(without_flag) == 0


def test_missing_tensorrt_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(tb.EngineBuildError, match=r"not installed: pip install 'sean-deploy\[tensorrt\]'"):
        tb.import_tensorrt()
    monkeypatch.setitem(sys.modules, "tensorrt", SimpleNamespace(__version__="8.6.1"))
    with pytest.raises(tb.EngineBuildError, match=r"8\.6\.1 is too old"):
        tb.import_tensorrt()


def test_builder_uses_the_documented_api(tiny_package):
    spec = load_package(tiny_package).encoder
    shapes = tb.profile_shapes(spec, tb.BatchProfile(1, 2, 4))
    trt = FakeTensorRT(list(spec.input_names))
    plan, cache = tb.build_serialized_engine(trt, spec.file, shapes, 2**30, b"old")
    assert plan == b"\x00PLAN-bytes" and cache == b"old+timings"
    trt.calls.create_network.assert_called_once_with(1 << 1)
    trt.calls.parse_from_file.assert_called_once_with(str(spec.file))
    trt.calls.set_memory_pool_limit.assert_called_once_with("workspace", 2**30)
    trt.calls.set_timing_cache.assert_called_once_with(False)
    trt.calls.set_shape.assert_any_call("image", (1, 3, 64, 64), (2, 3, 64, 64), (4, 3, 64, 64))
    trt.calls.set_shape.assert_any_call("labels", (1, 64, 64), (2, 64, 64), (4, 64, 64))


def test_parser_errors_are_reported(tiny_package):
    spec = load_package(tiny_package).encoder
    shapes = tb.profile_shapes(spec, tb.BatchProfile(1, 1, 1))
    with pytest.raises(tb.EngineBuildError, match=r"(?s)cannot parse .*UNSUPPORTED_NODE"):
        tb.build_serialized_engine(FakeTensorRT(list(spec.input_names), parse_ok=False), spec.file, shapes, 1, b"")
    with pytest.raises(tb.EngineBuildError, match="the manifest says"):
        tb.build_serialized_engine(FakeTensorRT(["image"]), spec.file, shapes, 1, b"")


def _fake_environment(monkeypatch, trt, gpu=H100):
    monkeypatch.setattr(tb, "import_tensorrt", lambda: trt)
    monkeypatch.setattr(tb, "cuda_gpus", lambda: (gpu,))


def test_build_writes_raw_plans_with_sidecars_and_saves_the_cache(package, tmp_path, monkeypatch):
    trt = FakeTensorRT(["image", "labels"])
    generator_trt = FakeTensorRT(["labels", "codes", "noise"])
    trt.Builder = mock.Mock(side_effect=[trt.Builder(None), generator_trt.Builder(None)])
    _fake_environment(monkeypatch, trt)
    cache = tmp_path / "shapes.timing-cache"
    plans = tb.build_package_engines(package, max_batch=4, opt_batch=2, timing_cache=cache, progress=False)
    assert [p.name for p in plans] == ["encoder.plan", "generator.plan"]
    manifest = json.loads((package / "manifest.json").read_text())
    for plan in plans:
        assert plan.read_bytes() == b"\x00PLAN-bytes"  # the raw plan, nothing prepended
        sidecar = json.loads(plan.with_name(plan.name + ".json").read_text())
        assert sidecar["onnx_sha256"] == manifest["files"][plan.stem + ".onnx"]
        assert sidecar["tensorrt_version"] == "10.13.0.35"
        assert (sidecar["gpu_name"], sidecar["compute_capability"]) == (H100.name, "9.0")
        assert sidecar["precision"] == "fp32" and sidecar["strongly_typed"] is True
        assert (sidecar["profile"]["min_batch"], sidecar["profile"]["opt_batch"], sidecar["profile"]["max_batch"]) == (
            1,
            2,
            4,
        )
    assert trt.deserialized == [b"\x00PLAN-bytes"] * 2  # each plan was loaded back once
    assert cache.read_bytes() == b"+timings+timings"
    assert json.loads((tmp_path / "shapes.timing-cache.json").read_text())["key"].startswith("trt10.13.0.35-sm_90")
    # The runtime accepts what was written (the same TensorRT, the same GPU).
    loaded = load_package(package)
    for graph in ("encoder", "generator"):
        tb.check_plan(loaded, graph, "10.13.0.35", H100)


def _write_plans(package, monkeypatch):
    trt = FakeTensorRT(["image", "labels"])
    generator_trt = FakeTensorRT(["labels", "codes", "noise"])
    trt.Builder = mock.Mock(side_effect=[trt.Builder(None), generator_trt.Builder(None)])
    _fake_environment(monkeypatch, trt)
    tb.build_package_engines(package, timing_cache=package / "t.cache", progress=False)
    return load_package(package)


def test_a_plan_from_another_tensorrt_or_gpu_is_refused_with_rebuild_advice(package, monkeypatch):
    loaded = _write_plans(package, monkeypatch)
    newer = r"TensorRT 10\.13\.0\.35, this machine has 10\.14.*sean build-engine"
    with pytest.raises(tb.PlanMismatchError, match=newer):
        tb.check_plan(loaded, "generator", "10.14.0.1", H100)
    other_gpu = r"built for NVIDIA H100.*sm_90.*NVIDIA L4.*sm_89.*sean build-engine"
    with pytest.raises(tb.PlanMismatchError, match=other_gpu):
        tb.check_plan(loaded, "encoder", "10.13.0.35", L4)
    # The loader checks before it deserializes: TensorRT never sees a mismatched plan.
    trt = FakeTensorRT([])
    _fake_environment(monkeypatch, trt, gpu=L4)
    with pytest.raises(tb.PlanMismatchError, match="rebuild"):
        tb.load_engine(loaded, "encoder", trt)
    assert trt.deserialized == []


def test_a_plan_of_a_changed_graph_or_without_sidecar_is_refused(package, monkeypatch):
    loaded = _write_plans(package, monkeypatch)
    sidecar_path = package / "generator.plan.json"
    sidecar = json.loads(sidecar_path.read_text())
    sidecar_path.write_text(json.dumps({**sidecar, "onnx_sha256": "0" * 64}))
    with pytest.raises(tb.PlanMismatchError, match=r"stale.*sean build-engine"):
        tb.check_plan(loaded, "generator", "10.13.0.35", H100)
    sidecar_path.unlink()
    with pytest.raises(tb.PlanMismatchError, match=r"missing.*sean build-engine"):
        tb.check_plan(loaded, "generator", "10.13.0.35", H100)


def test_cli_without_tensorrt_explains_itself(tiny_package, monkeypatch):
    from sean_export.commands import build_engine

    monkeypatch.setitem(sys.modules, "tensorrt", None)
    result = CliRunner().invoke(build_engine, [str(tiny_package), "--max-batch", "4"])
    assert result.exit_code == 1
    assert "TensorRT is not installed" in result.output and "sean-deploy[tensorrt]" in result.output
    assert not (tiny_package / "encoder.plan").exists()


@pytest.mark.gpu
def test_real_engine_build(package, tmp_path):
    pytest.importorskip("tensorrt", reason="TensorRT is not installed (it needs an NVIDIA GPU machine)")
    if not cuda_gpus():
        pytest.skip("no NVIDIA GPU visible to the CUDA driver")
    plans = tb.build_package_engines(package, max_batch=2, timing_cache=tmp_path / "t.cache", progress=False)
    loaded = load_package(package)
    for graph, plan in zip(("encoder", "generator"), plans, strict=True):
        assert plan.stat().st_size > 0
        engine = tb.load_engine(loaded, graph)
        assert engine.num_io_tensors == len(loaded.graph(graph).inputs) + len(loaded.graph(graph).outputs)
