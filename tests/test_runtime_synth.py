"""The runtime end to end on an exported tiny package: equal to PyTorch, deterministic, batched, torch-free."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from sean_core.domains import get_domain
from sean_core.errors import BackendError, InputError, PackageError
from sean_core.noise import draw_noise
from sean_runtime.backends.tensorrt import tensorrt_runtime_problem
from sean_runtime.styles import Styles
from sean_runtime.synthesizer import Synthesizer, to_uint8

SHAPES = get_domain("shapes")


@pytest.fixture
def synth(tiny_synth) -> Synthesizer:
    return tiny_synth


@pytest.fixture(scope="module")
def samples() -> tuple[np.ndarray, np.ndarray]:
    """Four shapes test samples: images uint8 [4, 64, 64, 3], labels int64 [4, 64, 64]."""
    images, labels = zip(*(SHAPES.sample(i, "test") for i in range(4)), strict=True)
    return np.stack(images), np.stack(labels)


def test_runtime_equals_pytorch_on_the_same_weights_inputs_and_noise(synth, samples, tiny_package):
    import torch

    from sean_train.checkpoint import load_checkpoint
    from sean_train.networks.ops import one_hot

    manifest = json.loads((Path(tiny_package) / "manifest.json").read_text())
    model = load_checkpoint(manifest["source_checkpoint"]["path"])
    images, labels = samples
    styles = synth.encode(images, labels)
    out = synth.render(labels, styles, seed=3)
    with torch.no_grad():
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        mask = one_hot(torch.from_numpy(labels), model.config.num_classes)
        codes = model.encode(x, mask)
        noise = torch.from_numpy(draw_noise(synth.package.noise_numel, len(labels), seed=3))
        expected = model.generate(mask, codes, noise).numpy()
    np.testing.assert_allclose(styles.codes, codes.numpy(), atol=1e-5, rtol=0)
    error = np.abs((out + 1) * 127.5 - (expected + 1) * 127.5).max()
    if error > 1e-4:
        with torch.no_grad():  # how far float32 PyTorch itself is from float64 on these weights
            exact = model.double().generate(mask.double(), codes.double(), noise.double()).numpy()
        floor = np.abs((expected - exact) * 127.5).max()
        pytest.fail(f"runtime vs PyTorch {error:.2e} > 1e-4 (uint8 scale); PyTorch fp32 vs fp64: {floor:.2e}")
    # Presence comes from the area on the encoder grid: the classes that have pixels at even coordinates.
    np.testing.assert_array_equal(styles.present, mask[:, :, ::2, ::2].sum(dim=(2, 3)).numpy() > 0)
    # uint8 output is the float output rounded.
    np.testing.assert_array_equal(synth.synthesize(labels, styles, seed=3), to_uint8(out))


def test_same_seed_same_image_and_batch_image_i_uses_seed_plus_i(synth, samples):
    images, labels = samples
    styles = synth.encode(images, labels)
    first = synth.synthesize(labels, styles, seed=7)
    np.testing.assert_array_equal(first, synth.synthesize(labels, styles, seed=7))
    single = synth.synthesize(labels[2], styles[2], seed=9)
    np.testing.assert_array_equal(single[0], first[2])
    assert not np.array_equal(
        synth.render(labels[:1], styles[:1], seed=0), synth.render(labels[:1], styles[:1], seed=1)
    )
    plain = synth.render(labels[:1], styles[:1], noise=False)
    np.testing.assert_array_equal(plain, synth.render(labels[:1], styles[:1], seed=123, noise=False))


def test_reconstruct_keeps_codes_on_the_device_and_equals_encode_then_synthesize(synth, samples):
    images, labels = samples
    styles = synth.encode(images, labels)
    np.testing.assert_array_equal(synth.reconstruct(images, labels, seed=2), synth.synthesize(labels, styles, seed=2))


def test_batches_larger_than_the_backend_allows_are_split_without_changing_images(synth, samples, monkeypatch):
    images, labels = samples
    styles = synth.encode(images, labels)
    whole = synth.synthesize(labels, styles, seed=4)
    monkeypatch.setattr(synth.backend, "max_batch", 3)
    np.testing.assert_array_equal(synth.synthesize(labels, styles, seed=4), whole)
    np.testing.assert_allclose(synth.encode(images, labels).codes, styles.codes, atol=1e-6)


def test_one_style_for_many_labels_and_edits_change_only_their_region(synth, samples):
    images, labels = samples
    styles = synth.encode(images, labels)
    shared = synth.synthesize(labels, styles[0], seed=0)
    assert shared.shape == (4, 64, 64, 3)
    blob = synth.class_names.index("blob")
    target, reference = 0, next(i for i in range(1, 4) if styles.present[i, blob])
    assert styles.present[target, blob]
    swapped = styles[target].swap("blob", styles[reference])
    before = synth.render(labels[target], styles[target], noise=False)[0]
    after = synth.render(labels[target], swapped, noise=False)[0]
    change = np.abs(after - before).max(axis=0)  # [H, W]
    inside = labels[target] == blob
    # Convolutions carry some of the change beyond the region; most of it stays in the region.
    assert change[inside].mean() > 2 * change[~inside].mean() > 0
    np.testing.assert_array_equal(swapped.codes[0, blob], styles.codes[reference, blob])


def test_info_names_backend_device_and_reasons(synth):
    info = synth.info()
    assert info["backend"] == "onnxruntime"
    assert info["device"] == "CPUExecutionProvider"
    assert info["classes"] == list(SHAPES.class_names) and info["domain_plugin"]
    assert info["precision"] == info["computes"] == "fp32"  # ONNX Runtime runs the package's own precision
    assert "CPUExecutionProvider" in synth.describe()
    auto = Synthesizer.load(synth.package.root)
    assert auto.backend.name == "onnxruntime"
    assert any("TensorRT not used" in note for note in auto.notes)


def test_a_package_without_engines_logs_no_tensorrt_note_at_info(synth, caplog):
    """On a CPU machine (no engines in the package) loading says nothing about TensorRT at INFO; info() does."""
    import logging

    with caplog.at_level(logging.INFO, logger="sean_runtime"):
        auto = Synthesizer.load(synth.package.root, verify=False)
    info_lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert any("loaded" in line for line in info_lines)
    assert not any("TensorRT" in line for line in info_lines)
    assert any("TensorRT not used" in note for note in auto.info()["notes"])


def test_threads_reach_onnx_runtime_and_bad_counts_are_refused(synth, samples):
    one = Synthesizer.load(synth.package.root, backend="onnxruntime", threads=1, verify=False)
    assert one.backend.generator.get_session_options().intra_op_num_threads == 1
    assert one.backend.encoder.get_session_options().intra_op_num_threads == 1
    images, labels = samples
    styles = synth.encode(images[:1], labels[:1])
    single_thread = one.synthesize(labels[:1], styles, seed=3).astype(int)
    assert np.abs(single_thread - synth.synthesize(labels[:1], styles, seed=3)).max() <= 1  # rounding to uint8 only
    for bad in (0, -2, 1.5, True):
        with pytest.raises(BackendError, match="threads must be a positive integer"):
            Synthesizer.load(synth.package.root, backend="onnxruntime", threads=bad, verify=False)
    with pytest.raises(BackendError, match=r"threads=1024 is more than 4 per CPU .* pass at most \d+, or None"):
        Synthesizer.load(synth.package.root, backend="onnxruntime", threads=1024, verify=False)  # under 256 CPUs


def test_bad_inputs_at_the_synthesizer(synth, samples):
    images, labels = samples
    styles = synth.encode(images, labels)
    with pytest.raises(InputError, match="is 64x64 but its label map #0 is 32x32"):
        synth.encode(images[0], labels[0][:32, :32])
    with pytest.raises(InputError, match="seed must be a non-negative integer"):
        synth.synthesize(labels, styles, seed=-1)
    with pytest.raises(InputError, match="styles of 4 images for 2 label map"):
        synth.synthesize(labels[:2], styles)
    foreign = Styles(np.zeros((1, 8, 5), np.float32), np.ones((1, 8), bool), SHAPES.class_names)
    with pytest.raises(InputError, match="encode them with this package"):
        synth.synthesize(labels[:1], foreign)
    with pytest.raises(InputError, match="takes no extra"):
        synth.synthesize(labels[:1], styles[0], extra=np.zeros((1, 1, 64, 64)))


def test_a_tampered_package_is_refused(tiny_package, tmp_path):
    copy = Path(shutil.copytree(tiny_package, tmp_path / "pkg"))
    data = bytearray((copy / "generator.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "generator.onnx").write_bytes(bytes(data))
    with pytest.raises(PackageError, match=r"generator\.onnx has sha256"):
        Synthesizer.load(copy)


def test_a_whole_synthesis_runs_with_torch_unimportable(tiny_package):
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["torch"] = None  # any import of torch now raises ImportError
        import numpy as np
        from sean_core.domains import get_domain
        from sean_runtime.synthesizer import Synthesizer
        synth = Synthesizer.load({str(tiny_package)!r})
        image, labels = get_domain("shapes").sample(0, "test")
        styles = synth.encode(image, labels)
        out = synth.synthesize(labels, styles.swap("ground", styles), seed=1)
        assert out.shape == (1, 64, 64, 3) and out.dtype == np.uint8
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("sean_train", "sean_export", "torch"))
        assert loaded == ["torch"] and sys.modules["torch"] is None, loaded
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def _faults_per_run(package: Path, shared_arena: bool) -> tuple[int, list[int]]:
    """Minor page faults per synthesis after warm-up, in a process whose glibc maps every block of 128 KiB
    or more afresh (so a tensor that is not reused faults again), and the image checksums of two
    synthesizers loaded in that process."""
    script = textwrap.dedent(
        f"""
        import resource
        from sean_runtime.serve.server import return_large_blocks_to_the_os
        assert return_large_blocks_to_the_os()  # glibc's mmap threshold fixed at 128 KiB
        from sean_runtime.backends import onnxruntime as backend
        if not {shared_arena}:
            backend.shared_cpu_arena = lambda ort: False
        from sean_core.domains import get_domain
        from sean_runtime.synthesizer import Synthesizer
        image, labels = get_domain("shapes").sample(0, "test")
        synths = [Synthesizer.load({str(package)!r}, threads=1, verify=False) for _ in range(2)]
        styles = synths[0].encode(image, labels)
        sums = [int(s.synthesize(labels, styles, seed=1).sum()) for s in synths]
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(5):
            synths[1].synthesize(labels, styles, seed=1)
        print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // 5, *sums)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    faults, *sums = (int(v) for v in result.stdout.split())
    return faults, sums


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt and page-fault counts")
def test_sessions_share_one_arena_and_stop_faulting_in_fresh_pages(tiny_package):
    shared, shared_sums = _faults_per_run(tiny_package, shared_arena=True)
    own, own_sums = _faults_per_run(tiny_package, shared_arena=False)
    assert own > 200, own  # without the arena every large tensor of a run is a fresh mapping
    assert shared * 10 < own, (shared, own)
    assert shared_sums[0] == shared_sums[1] == own_sums[0] == own_sums[1]


@pytest.mark.gpu
def test_tensorrt_backend_matches_onnxruntime(tiny_package, samples, tmp_path):
    reason = tensorrt_runtime_problem()
    if reason:
        pytest.skip(reason)
    package = Path(shutil.copytree(tiny_package, tmp_path / "pkg"))
    sean = Path(sys.executable).with_name("sean")
    built = subprocess.run([str(sean), "build-engine", str(package)], capture_output=True, text=True)
    assert built.returncode == 0, built.stdout + built.stderr
    trt = Synthesizer.load(package, backend="tensorrt")
    ort = Synthesizer.load(package, backend="onnxruntime")
    assert Synthesizer.load(package).backend.name == "tensorrt"  # auto prefers usable engines
    assert trt.info()["device"].startswith("TensorRT")
    images, labels = samples
    styles = trt.encode(images, labels)
    np.testing.assert_allclose(styles.codes, ort.encode(images, labels).codes, atol=1e-3)
    # fp32 plans are built with TF32 off (the sidecar says so); kernels still differ from ONNX Runtime's.
    assert all(json.loads(p.read_text())["tf32"] is False for p in package.glob("*.plan.json"))
    rendered = trt.render(labels, styles, seed=1)
    np.testing.assert_allclose(rendered, ort.render(labels, styles, seed=1), atol=1e-3)
    # Each image of a batch equals the image rendered alone: exactly where the plan was built with
    # distributive independence (TensorRT 10.13+), else within docs/gpu.md's tolerance.
    alone = np.concatenate([trt.render(labels[i : i + 1], styles[i], seed=1 + i) for i in range(len(labels))])
    independent = json.loads(package.joinpath("generator.plan.json").read_text())["distributive_independence"]
    np.testing.assert_allclose(rendered, alone, atol=0 if independent else 1e-5)
    on_device = trt.reconstruct(images, labels, seed=1).astype(int)
    via_host = trt.synthesize(labels, styles, seed=1).astype(int)
    assert np.abs(on_device - via_host).max() <= 1
    cupy = pytest.importorskip("cupy", reason="device-array inputs are checked with CuPy")
    ids = trt.read_labels(labels)
    noise = draw_noise(trt.package.noise_numel, len(ids), seed=1)
    from_device = trt.backend.generate(cupy.asarray(ids), cupy.asarray(styles.codes), cupy.asarray(noise), None)
    np.testing.assert_allclose(from_device, trt.render(labels, styles, seed=1), atol=1e-6)


@pytest.mark.parametrize(
    "failure, reason",
    [
        ("driver", r"CUDA cudaSetDevice failed: CUDA driver version is insufficient.*'tensorrt-cu12' extra"),
        ("runtime", r"TensorRT could not create its Runtime \(CUDA did not start"),
    ],
)
def test_auto_falls_back_to_onnxruntime_when_cuda_fails_after_the_modules_import(
    tiny_package, tmp_path, monkeypatch, failure, reason
):
    """Engines that pass every check, TensorRT and cuda-python importable, but CUDA does not start: a CUDA 13
    build on an older driver (cudaSetDevice fails), or a TensorRT Runtime that cannot be created (its
    bindings raise TypeError). cuda-python's runtime and TensorRT are stand-ins here (neither runs without
    an NVIDIA driver)."""
    from types import SimpleNamespace

    from sean_runtime.backends import cuda as cuda_module
    from sean_runtime.backends import tensorrt as tensorrt_module
    from sean_runtime.package import load_package
    from tests.helpers import H100, write_plan
    from tests.test_tensorrt_backend import FakeCudaRuntime

    package = Path(shutil.copytree(tiny_package, tmp_path / "pkg"))
    for graph in ("encoder", "generator"):
        write_plan(load_package(package), graph)  # TensorRT 10.8.0 on an H100, sidecars that match

    def runtime(logger):
        raise TypeError("pybind11::init(): factory function returned nullptr")

    logger = SimpleNamespace(WARNING=2)
    fake_trt = SimpleNamespace(__version__="10.8.0", Logger=lambda level: logger, Runtime=runtime)
    fake_trt.Logger.WARNING = 2
    cuda = FakeCudaRuntime(fail={"cudaSetDevice": 35} if failure == "driver" else {})
    monkeypatch.setitem(sys.modules, "tensorrt", fake_trt)
    monkeypatch.setattr(cuda_module, "cudart", lambda: cuda)
    monkeypatch.setattr(tensorrt_module, "cudart", lambda: cuda)
    monkeypatch.setattr(tensorrt_module, "cuda_gpus", lambda: (H100,))
    assert tensorrt_module.tensorrt_problem(load_package(package)) is None  # every check before CUDA passes

    synth = Synthesizer.load(package, threads=1)
    assert synth.backend.name == "onnxruntime"
    assert any(re.search(f"TensorRT not used: {reason}", note) for note in synth.info()["notes"])
    with pytest.raises(BackendError, match=reason):
        Synthesizer.load(package, backend="tensorrt")
    assert "cudaStreamDestroy" in cuda.names() or failure == "driver"  # a half-started backend is released
