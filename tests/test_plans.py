"""TensorRT plan sidecars on real files: written, read back, checked against this TensorRT and GPU.

No TensorRT is needed: everything a loader decides before a plan reaches TensorRT is pure.
"""

from __future__ import annotations

import json

import pytest

from sean_core.format import SIDECAR_FORMAT_VERSION, SIDECAR_LATER_FIELDS, PlanSidecar
from sean_runtime.backends.gpu import GpuInfo
from sean_runtime.backends.plans import (
    PlanMismatchError,
    deserialize_plan,
    parse_capability,
    plan_problem,
    read_sidecar,
)
from sean_runtime.package import load_package
from tests.helpers import A10, H100, write_plan
from tests.test_runtime_package import write_package


@pytest.fixture
def package(tmp_path):
    return load_package(write_package(tmp_path / "pkg"))


def test_a_plan_written_for_this_tensorrt_and_gpu_is_accepted(package):
    written = write_plan(package, "generator")
    assert read_sidecar(package.generator.plan_sidecar) == written
    assert plan_problem(package, "generator", "10.8.0", H100, check_plan_hash=True) is None


def test_another_gpu_or_tensorrt_version_is_refused_with_rebuild_advice(package):
    write_plan(package, "generator")
    other_gpu = plan_problem(package, "generator", "10.8.0", A10, check_plan_hash=False)
    assert "built for NVIDIA H100 80GB HBM3 (sm_90), but this GPU is NVIDIA A10 (sm_86)" in other_gpu
    assert "sean build-engine" in other_gpu
    newer = plan_problem(package, "generator", "10.9.0", H100, check_plan_hash=False)
    assert "TensorRT 10.8.0, this machine has 10.9.0" in newer


def test_a_stale_damaged_or_foreign_plan_is_refused(package):
    write_plan(package, "encoder", onnx_sha256="f" * 64)
    assert "stale" in plan_problem(package, "encoder", "10.8.0", H100, check_plan_hash=False)
    write_plan(package, "encoder", graph="generator")
    assert "describes graph 'generator'" in plan_problem(package, "encoder", "10.8.0", H100, check_plan_hash=False)
    write_plan(package, "encoder")
    package.encoder.plan.write_bytes(b"plan bytes, damaged")
    assert plan_problem(package, "encoder", "10.8.0", H100, check_plan_hash=False) is None
    assert "does not match the sha256" in plan_problem(package, "encoder", "10.8.0", H100, check_plan_hash=True)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.pop("onnx_sha256"), "field 'onnx_sha256'"),
        (lambda d: d.update(workspace_bytes=True), "field 'workspace_bytes'"),
        (lambda d: d.update(format_version=SIDECAR_FORMAT_VERSION + 1), "this runtime reads"),
        (lambda d: d.update(format_version="1"), "format_version '1'"),
        (lambda d: d.update(format="something-else"), "not a plan sidecar"),
    ],
)
def test_sidecars_are_read_field_by_field(package, edit, message):
    write_plan(package, "encoder")
    path = package.encoder.plan_sidecar
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    with pytest.raises(PlanMismatchError, match=message):
        read_sidecar(path)
    assert message.split("'")[0] in plan_problem(package, "encoder", "10.8.0", H100, check_plan_hash=False)


def test_missing_or_broken_sidecars_and_plans(package):
    assert "encoder.plan is missing" in plan_problem(package, "encoder", "10.8.0", H100, check_plan_hash=False)
    write_plan(package, "encoder")
    package.encoder.plan_sidecar.write_text("{ broken")
    assert "not a valid plan sidecar" in plan_problem(package, "encoder", "10.8.0", H100, check_plan_hash=False)
    package.encoder.plan_sidecar.unlink()
    assert "encoder.plan.json is missing" in plan_problem(package, "encoder", "10.8.0", H100, check_plan_hash=False)


def test_a_mismatched_plan_never_reaches_tensorrt(package):
    """deserialize_plan checks first: with runtime=None any call into TensorRT would fail differently."""
    write_plan(package, "encoder")
    with pytest.raises(PlanMismatchError, match="sean build-engine"):
        deserialize_plan(None, package, "encoder", "10.8.0", A10)


def test_sidecar_round_trip_and_capabilities():
    sidecar = PlanSidecar("encoder", "encoder.plan", "a" * 64, "encoder.onnx", "b" * 64, "10.8.0", "GPU", "8.9",
                          "fp16", {"min_batch": 1}, 1024, "2026-12-01T00:00:00Z")
    assert PlanSidecar.from_dict(json.loads(json.dumps(sidecar.to_dict()))) == sidecar
    assert parse_capability("9.0") == (9, 0) and parse_capability("sm_89") == (8, 9)
    assert parse_capability("90") == (9, 0)
    assert parse_capability([9, 0]) is None and parse_capability("nine") is None


def test_a_default_build_runs_only_on_its_gpu_model_a_compatible_one_on_its_compute_capability(package):
    """H100 PCIe and H100 SXM are both sm_90: TensorRT promises a default plan only on the model that built it."""
    pcie = GpuInfo(0, "NVIDIA H100 PCIe", (9, 0))
    write_plan(package, "generator", hardware_compatibility="none")
    refused = plan_problem(package, "generator", "10.8.0", pcie, check_plan_hash=False)
    assert "built for NVIDIA H100 80GB HBM3 without hardware compatibility" in refused
    assert "this GPU is NVIDIA H100 PCIe (sm_90)" in refused and "sean build-engine" in refused
    write_plan(package, "generator", hardware_compatibility="same_compute_capability")
    assert plan_problem(package, "generator", "10.8.0", pcie, check_plan_hash=False) is None
    assert "compute capability" in plan_problem(package, "generator", "10.8.0", A10, check_plan_hash=False)


def test_sidecars_written_before_the_build_settings_existed_read_as_default_builds(package):
    write_plan(package, "encoder")
    path = package.encoder.plan_sidecar
    data = json.loads(path.read_text())
    for name in SIDECAR_LATER_FIELDS:
        data.pop(name)
    path.write_text(json.dumps(data))
    old = read_sidecar(path)
    assert (old.hardware_compatibility, old.tf32, old.distributive_independence) == ("none", True, False)
    assert "without hardware compatibility" in plan_problem(
        package, "encoder", "10.8.0", GpuInfo(0, "NVIDIA H100 NVL", (9, 0)), check_plan_hash=False
    )
    data.update(hardware_compatibility="ampere_plus")
    path.write_text(json.dumps(data))
    with pytest.raises(PlanMismatchError, match="'hardware_compatibility' is 'ampere_plus'"):
        read_sidecar(path)
