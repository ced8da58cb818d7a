"""Package manifests, file hashes, TensorRT plan checks and backend choice (no real graphs needed)."""

from __future__ import annotations

import json

import pytest

from sean_runtime.backends import select_backend
from sean_runtime.backends.gpu import GpuInfo
from sean_runtime.backends.onnxruntime import choose_providers
from sean_runtime.backends.tensorrt import plan_problem, read_sidecar, tensorrt_problem
from sean_runtime.errors import BackendError, PackageError
from sean_runtime.files import sha256_file
from sean_runtime.package import load_package

K, S, H, W, N = 3, 4, 8, 8, 20


def tensor(name, dtype, shape):
    return {"name": name, "dtype": dtype, "shape": shape}


def write_package(root, **changes):
    """A package folder whose graph files are placeholder bytes (hashes are all that load_package reads)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "encoder.onnx").write_bytes(b"encoder graph")
    (root / "generator.onnx").write_bytes(b"generator graph")
    manifest = {
        "format": "sean-package",
        "format_version": 1,
        "domain": "toy",
        "class_names": ["a", "b", "c"],
        "num_classes": K,
        "extra_mask_channels": 0,
        "style_dim": S,
        "height": H,
        "width": W,
        "precision": "fp32",
        "graphs": {
            "encoder": {
                "file": "encoder.onnx",
                "external_data": None,
                "inputs": [tensor("image", "float32", ["batch", 3, H, W]), tensor("labels", "int32", ["batch", H, W])],
                "outputs": [tensor("codes", "float32", ["batch", K, S]), tensor("area", "float32", ["batch", K])],
            },
            "generator": {
                "file": "generator.onnx",
                "external_data": None,
                "inputs": [
                    tensor("labels", "int32", ["batch", H, W]),
                    tensor("codes", "float32", ["batch", K, S]),
                    tensor("noise", "float32", ["batch", N]),
                ],
                "outputs": [tensor("image", "float32", ["batch", 3, H, W])],
            },
        },
        "noise": {"input": "noise", "numel": N, "slots": []},
        "files": {name: sha256_file(root / name) for name in ("encoder.onnx", "generator.onnx")},
        "source_checkpoint": {"path": "ckpt", "sha256": "0" * 64},
    }
    manifest.update(changes)
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def test_a_valid_package_loads_with_its_facts(tmp_path):
    package = load_package(write_package(tmp_path / "pkg"))
    assert package.class_names == ("a", "b", "c")
    assert (package.height, package.width, package.style_dim, package.noise_numel) == (H, W, S, N)
    assert package.encoder.input_names == ("image", "labels")
    assert package.generator.plan.name == "generator.plan"


def test_missing_folder_manifest_and_broken_json(tmp_path):
    with pytest.raises(PackageError, match="does not exist; create one with `sean export"):
        load_package(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PackageError, match=r"manifest\.json is missing"):
        load_package(tmp_path / "empty")
    root = write_package(tmp_path / "pkg")
    (root / "manifest.json").write_text("{ not json")
    with pytest.raises(PackageError, match="not valid JSON"):
        load_package(root)


def test_format_and_version_are_checked(tmp_path):
    with pytest.raises(PackageError, match="not a SEAN package manifest"):
        load_package(write_package(tmp_path / "a", format="something-else"))
    with pytest.raises(PackageError, match="newer than this runtime reads"):
        load_package(write_package(tmp_path / "b", format_version=3))
    with pytest.raises(PackageError, match="2 class_names but num_classes 3"):
        load_package(write_package(tmp_path / "c", class_names=["a", "b"]))


def test_graph_io_must_be_the_package_interface(tmp_path):
    root = write_package(tmp_path / "pkg")
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["graphs"]["generator"]["inputs"][2]["name"] = "z"
    (root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(PackageError, match=r"inputs \['labels', 'codes', 'z'\].*feeds \['labels', 'codes', 'noise'\]"):
        load_package(root)


def test_a_modified_or_missing_file_fails_the_hash_check(tmp_path):
    root = write_package(tmp_path / "pkg")
    (root / "generator.onnx").write_bytes(b"generator graph, edited")
    with pytest.raises(PackageError, match=r"generator.onnx has sha256 .* the manifest says"):
        load_package(root)
    load_package(root, verify=False)  # opting out of the hash check still loads
    (root / "encoder.onnx").unlink()
    with pytest.raises(PackageError, match=r"encoder\.onnx is missing"):
        load_package(root)


def test_files_outside_the_package_are_refused(tmp_path):
    root = write_package(tmp_path / "pkg")
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["graphs"]["encoder"]["file"] = "../encoder.onnx"
    (root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(PackageError, match="plain names inside the folder"):
        load_package(root)


H100 = GpuInfo(0, "NVIDIA H100 80GB HBM3", (9, 0))
A10 = GpuInfo(0, "NVIDIA A10", (8, 6))


def sidecar_for(package, graph, **changes):
    data = {
        "tensorrt_version": "10.8.0",
        "gpu_name": H100.name,
        "compute_capability": "9.0",
        "onnx_sha256": package.file_sha256(f"{graph}.onnx"),
        "precision": "fp16",
    }
    data.update(changes)
    return data


def test_plan_checks_name_gpu_version_and_stale_graph(tmp_path):
    package = load_package(write_package(tmp_path / "pkg"))
    assert plan_problem(package, "generator", sidecar_for(package, "generator"), "10.8.0", H100) is None
    other_gpu = plan_problem(package, "generator", sidecar_for(package, "generator"), "10.8.0", A10)
    assert "built for NVIDIA H100 80GB HBM3 (sm_90), but this GPU is NVIDIA A10 (sm_86)" in other_gpu
    assert "sean build-engine" in other_gpu
    assert "TensorRT 10.8.0, this machine has 10.9.0" in plan_problem(
        package, "encoder", sidecar_for(package, "encoder"), "10.9.0", H100
    )
    stale = sidecar_for(package, "encoder", onnx_sha256="f" * 64)
    assert "stale" in plan_problem(package, "encoder", stale, "10.8.0", H100)
    assert "missing or unreadable" in plan_problem(package, "encoder", None, "10.8.0", H100)
    assert (
        plan_problem(package, "encoder", sidecar_for(package, "encoder", compute_capability=[9, 0]), "10.8.0", H100)
        is None
    )


def test_sidecar_reading_and_tensorrt_problem_without_engines(tmp_path):
    root = write_package(tmp_path / "pkg")
    (root / "encoder.plan.json").write_text("{ broken")
    assert read_sidecar(root / "encoder.plan.json") is None
    assert "no TensorRT engines" in tensorrt_problem(load_package(root))


def test_backend_choice_errors_say_why(tmp_path):
    package = load_package(write_package(tmp_path / "pkg"))
    with pytest.raises(BackendError, match="unknown backend 'cuda'"):
        select_backend(package, "cuda")
    with pytest.raises(BackendError, match="cannot use TensorRT: the package has no TensorRT engines"):
        select_backend(package, "tensorrt")
    with pytest.raises(BackendError, match=r"providers \['NoSuchExecutionProvider'\] are not available"):
        choose_providers(["NoSuchExecutionProvider"])
    providers, _ = choose_providers()
    assert providers[-1] == "CPUExecutionProvider"


def test_a_plan_for_another_gpu_is_refused_by_name(tmp_path, monkeypatch):
    """With engines present, TensorRT importable and a GPU reported, a foreign plan is refused with its reason."""
    import sys
    import types

    root = write_package(tmp_path / "pkg")
    package = load_package(root)
    for graph in ("encoder", "generator"):
        (root / f"{graph}.plan").write_bytes(b"plan")
        sidecar = sidecar_for(package, graph, plan_sha256=sha256_file(root / f"{graph}.plan"))
        (root / f"{graph}.plan.json").write_text(json.dumps(sidecar))
    monkeypatch.setitem(sys.modules, "tensorrt", types.SimpleNamespace(__version__="10.8.0"))
    monkeypatch.setattr("sean_runtime.backends.tensorrt._cudart", lambda: object())
    monkeypatch.setattr("sean_runtime.backends.tensorrt.cuda_gpus", lambda: (A10,))
    with pytest.raises(BackendError, match=r"cannot use TensorRT: encoder.plan was built for NVIDIA H100.*NVIDIA A10"):
        select_backend(package, "tensorrt")
    monkeypatch.setattr("sean_runtime.backends.tensorrt.cuda_gpus", lambda: (H100,))
    assert tensorrt_problem(package) is None
    (root / "generator.plan").write_bytes(b"plan, damaged")
    assert "generator.plan does not match the sha256 in generator.plan.json" in tensorrt_problem(package)
