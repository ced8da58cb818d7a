"""`sean build-engine`: the parts that need no GPU (profiles, timing caches, flags, errors) are tested
here; the real build runs only where TensorRT and a GPU are present. Sidecar checks: tests/test_plans.py."""

from __future__ import annotations

import json
import shutil
import sys
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from sean_core.files import sha256_file
from sean_core.install import install_command
from sean_export import tensorrt_build as tb
from sean_runtime.backends.gpu import GpuInfo, cuda_gpus
from sean_runtime.backends.plans import deserialize_plan, plan_problem, write_sidecar
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


class RecordingConfig:
    """A builder config that keeps what was set on it (TensorRT's IBuilderConfig, as far as configure uses it)."""

    def __init__(self, cache: object = "cache", accepts_cache: bool = True) -> None:
        self.flags: set[str] = {"TF32"}  # TensorRT's default
        self.hardware_compatibility_level = "NONE"
        self.cache, self.accepts_cache = cache, accepts_cache

    def set_flag(self, flag: str) -> None:
        self.flags.add(flag)

    def clear_flag(self, flag: str) -> None:
        self.flags.discard(flag)

    def create_timing_cache(self, data: bytes) -> object:
        return self.cache

    def set_timing_cache(self, cache: object, ignore_mismatch: bool) -> bool:
        return self.accepts_cache


def tensorrt_of(version: str) -> SimpleNamespace:
    """The enums configure reads, as TensorRT `version` has them (SAME_COMPUTE_CAPABILITY 10.9, flag 10.13)."""
    major, minor = (int(part) for part in version.split(".")[:2])
    flags = {"TF32": "TF32"}
    levels = {"NONE": "NONE", "AMPERE_PLUS": "AMPERE_PLUS"}
    if (major, minor) >= (10, 9):
        levels["SAME_COMPUTE_CAPABILITY"] = "SAME_COMPUTE_CAPABILITY"
    if (major, minor) >= (10, 13):
        flags["DISTRIBUTIVE_INDEPENDENCE"] = "DISTRIBUTIVE_INDEPENDENCE"
    return SimpleNamespace(__version__=version, BuilderFlag=SimpleNamespace(**flags),
                           HardwareCompatibilityLevel=SimpleNamespace(**levels))


@pytest.mark.parametrize(
    "version, level, independent",
    [("10.8.0", "NONE", False), ("10.9.0", "SAME_COMPUTE_CAPABILITY", False),
     ("10.16.1", "SAME_COMPUTE_CAPABILITY", True)],
)
def test_build_settings_follow_what_the_tensorrt_version_offers(version, level, independent):
    config = RecordingConfig()
    settings = tb.configure(tensorrt_of(version), config)
    assert "TF32" not in config.flags and not settings.tf32  # fp32 plans compute in fp32
    assert config.hardware_compatibility_level == level
    assert settings.hardware_compatibility == ("none" if level == "NONE" else "same_compute_capability")
    assert ("DISTRIBUTIVE_INDEPENDENCE" in config.flags) == independent == settings.distributive_independence
    assert tb.configure(tensorrt_of(version), RecordingConfig(), hardware_compatible=False).hardware_compatibility \
        == "none"
    opted_in = RecordingConfig()
    assert tb.configure(tensorrt_of(version), opted_in, tf32=True).tf32 and "TF32" in opted_in.flags


def test_a_build_records_its_settings_and_the_loader_applies_them(package):
    """configure's settings go into the sidecar, and the plan rule reads them back: the same plan bytes are
    refused on another sm_90 model when built by 10.8, accepted when built by 10.9+."""
    loaded = load_package(package)
    spec = loaded.generator
    spec.plan.write_bytes(b"plan")
    pcie = GpuInfo(0, "NVIDIA H100 PCIe", (9, 0))
    for version, accepted in (("10.8.0", False), ("10.13.0", True)):
        settings = tb.configure(tensorrt_of(version), RecordingConfig())
        shapes = tb.profile_shapes(spec, tb.BatchProfile(1, 1, 2))
        sidecar = tb.plan_sidecar(spec, loaded, sha256_file(spec.plan), version, H100, tb.BatchProfile(1, 1, 2),
                                  shapes, 2**30, settings)
        write_sidecar(spec.plan_sidecar, sidecar)
        written = json.loads(spec.plan_sidecar.read_text())
        assert written["tf32"] is False
        assert written["distributive_independence"] is (version == "10.13.0")
        assert (plan_problem(loaded, "generator", version, pcie, check_plan_hash=True) is None) == accepted


def test_tensorrt_that_cannot_start_cuda_or_read_a_cache_is_an_engine_build_error():
    def no_cuda(logger):
        raise TypeError("pybind11::init(): factory function returned nullptr")

    with pytest.raises(tb.EngineBuildError, match="could not create its Builder"):
        tb.start_builder(SimpleNamespace(Builder=no_cuda), logger=None)
    with pytest.raises(tb.EngineBuildError, match=r"cannot read the timing cache faces\.cache .*delete faces\.cache"):
        tb.load_timing_cache(RecordingConfig(cache=None), b"\x00garbage", "faces.cache")
    with pytest.raises(tb.EngineBuildError, match=r"rejected the timing cache faces\.cache"):
        tb.load_timing_cache(RecordingConfig(accepts_cache=False), b"timings", "faces.cache")
    tb.load_timing_cache(RecordingConfig(), b"", "faces.cache")  # a fresh cache is fine


def test_build_engines_reports_a_runtime_without_cuda_as_an_engine_build_error(package, tmp_path, monkeypatch):
    def no_cuda(logger):
        raise TypeError("pybind11::init(): factory function returned nullptr")

    fake = SimpleNamespace(__version__="10.13.0", Runtime=no_cuda, Logger=lambda level: None)
    fake.Logger.WARNING = 2
    monkeypatch.setitem(sys.modules, "tensorrt", fake)
    monkeypatch.setattr(tb, "cuda_gpus", lambda: (H100,))
    with pytest.raises(tb.EngineBuildError, match="could not create its Runtime"):
        tb.build_engines(package, timing_cache=tmp_path / "t.cache", progress=False)
    assert not (package / "encoder.plan").exists()


@pytest.mark.parametrize("stop_at", ["encoder", "generator"])
def test_build_engine_stopped_part_way_says_which_plans_are_new_in_one_line(package, tmp_path, monkeypatch, stop_at):
    """Ctrl-C or SIGTERM (KeyboardInterrupt inside the command) during a graph's build: one line naming the
    plans this run wrote, exit 1, as `sean export` says it (it printed "Aborted!", or died at once on SIGTERM).
    TensorRT itself is faked: the real build_engines runs around it."""
    from sean_core.cli import main

    fake = tensorrt_of("10.13.0")
    fake.Runtime, fake.Logger = (lambda logger: object()), (lambda level: None)
    fake.Logger.WARNING = 2
    monkeypatch.setitem(sys.modules, "tensorrt", fake)
    monkeypatch.setattr(tb, "cuda_gpus", lambda: (H100,))

    def build(trt, onnx_file, *args, **kwargs):
        if onnx_file.stem == stop_at:
            raise KeyboardInterrupt
        return b"plan", b"timings", tb.configure(fake, RecordingConfig())

    monkeypatch.setattr(tb, "build_serialized_engine", build)
    monkeypatch.setattr(tb, "deserialize_plan", lambda *args: None)
    result = CliRunner().invoke(main, ["build-engine", str(package), "-q", "--timing-cache", str(tmp_path / "t")])
    assert result.exit_code == 1, result.output
    left = (f"{package} holds the new encoder.plan: run it again to build both" if stop_at == "generator"
            else f"nothing was written to {package}")
    assert result.output.strip().splitlines() == [
        f"Error: build-engine stopped (Ctrl-C or a termination signal) before the engines were complete; {left}"
    ]
    assert (package / "encoder.plan").exists() == (stop_at == "generator")
    assert not (package / "generator.plan").exists()
