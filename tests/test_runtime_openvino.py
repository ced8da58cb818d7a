"""OpenVINO backend: same results as ONNX Runtime on the same package, honest precision, clear errors."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest

from tests.helpers import OPENVINO_MISSING

pytest.importorskip("openvino", reason=OPENVINO_MISSING)

from sean_core.command import usable_cpus
from sean_core.cpu import cpu_flags, has_bf16_units
from sean_core.errors import BackendError, InputError
from sean_runtime.backends import BACKENDS, openvino, select_backend
from sean_runtime.backends.onnxruntime import CPU, OnnxRuntimeBackend
from sean_runtime.backends.openvino import OpenVinoBackend, compile_config, executed_precision, new_core
from sean_runtime.package import load_package
from sean_runtime.synthesizer import Synthesizer
from tests.helpers import FORK_CHILDREN, INTERRUPTED


def _inputs(package, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    h, w, k = package.height, package.width, package.num_classes
    grid = rng.integers(0, k, size=(batch, h // 8, w // 8))
    labels = np.repeat(np.repeat(grid, 8, axis=1), 8, axis=2).astype(np.int32)  # [B, H, W] blocks of 8x8
    return {
        "image": rng.uniform(-1, 1, (batch, 3, h, w)).astype(np.float32),
        "labels": labels,
        "noise": rng.standard_normal((batch, package.noise_numel)).astype(np.float32),
    }


@pytest.fixture(scope="module")
def package(tiny_package):
    return load_package(tiny_package)


@pytest.fixture(scope="module")
def onnxruntime_backend(package):
    return OnnxRuntimeBackend(package, [CPU])


@pytest.mark.slow
@pytest.mark.parametrize("batch", [1, 3])
def test_fp32_matches_onnxruntime(package, onnxruntime_backend, batch):
    backend = OpenVinoBackend(package, "f32", threads=1)
    x = _inputs(package, batch, seed=batch)
    codes, area = backend.encode(x["image"], x["labels"])
    ref_codes, ref_area = onnxruntime_backend.encode(x["image"], x["labels"])
    assert codes.shape == ref_codes.shape and np.array_equal(area, ref_area)
    assert np.max(np.abs(codes - ref_codes)) <= 1e-4
    image = backend.generate(x["labels"], ref_codes, x["noise"], None)
    ref_image = onnxruntime_backend.generate(x["labels"], ref_codes, x["noise"], None)
    assert image.shape == (batch, 3, package.height, package.width)
    assert np.max(np.abs(image - ref_image)) <= 1e-4
    both = backend.encode_generate(x["image"], x["labels"], x["noise"], None)
    assert np.max(np.abs(both - onnxruntime_backend.encode_generate(x["image"], x["labels"], x["noise"], None))) <= 1e-4


@pytest.mark.slow
def test_outputs_are_not_overwritten_by_the_next_run(package):
    backend = OpenVinoBackend(package, "f32", threads=1)
    a, b = _inputs(package, 1, seed=10), _inputs(package, 1, seed=11)
    first = backend.generate(a["labels"], np.zeros((1, package.num_classes, package.style_dim), np.float32),
                             a["noise"], None)
    kept = first.copy()
    backend.generate(b["labels"], np.ones((1, package.num_classes, package.style_dim), np.float32), b["noise"], None)
    assert np.array_equal(first, kept)


def test_compiled_models_do_not_pin_their_threads(package):
    backend = OpenVinoBackend(package, "f32", threads=1)
    assert backend.generator.get_property("ENABLE_CPU_PINNING") is False
    assert backend.encoder.get_property("ENABLE_CPU_PINNING") is False


@pytest.mark.slow
def test_a_reduced_precision_batch_gives_each_image_as_alone_and_an_empty_batch_is_refused(package):
    # With a reduced-precision hint the graphs are compiled for one image and a batch is its images run one
    # by one: nothing of one image depends on the others (also where the CPU runs the hint in f32).
    backend = OpenVinoBackend(package, "bf16", threads=1)
    x = _inputs(package, 3, seed=4)
    codes, area = backend.encode(x["image"], x["labels"])
    image = backend.generate(x["labels"], codes, x["noise"], None)
    assert codes.shape[0] == area.shape[0] == image.shape[0] == 3
    for i in range(3):
        one_codes, one_area = backend.encode(x["image"][i : i + 1], x["labels"][i : i + 1])
        assert np.array_equal(one_codes, codes[i : i + 1]) and np.array_equal(one_area, area[i : i + 1])
        one = backend.generate(x["labels"][i : i + 1], codes[i : i + 1], x["noise"][i : i + 1], None)
        assert np.array_equal(one, image[i : i + 1])
    with pytest.raises(InputError, match="empty batch"):
        backend.encode(x["image"][:0], x["labels"][:0])


@pytest.mark.slow
@pytest.mark.parametrize("hint", ["bf16", "f16"])
def test_reduced_precision_hint_runs_and_reports_what_executes(package, hint):
    selection = select_backend(package, "openvino", precision_hint=hint, threads=1)
    backend = selection.backend
    assert backend.name == "openvino" and backend.precision_hint == hint
    assert backend.execution_precision in ("f32", "bf16", "f16")
    # When the CPU cannot honour the hint, the selection says so instead of pretending.
    assert bool(selection.notes) == (backend.execution_precision != hint)
    x = _inputs(package, 2)
    image = backend.encode_generate(x["image"], x["labels"], x["noise"], None)
    assert np.isfinite(image).all() and np.abs(image).max() <= 1.0


def test_synthesizer_loads_openvino(tiny_package):
    synth = Synthesizer.load(tiny_package, backend="openvino")
    assert "openvino" in BACKENDS and synth.info()["backend"] == "openvino"
    x = _inputs(synth.package, 1)
    labels = x["labels"]
    image_uint8 = np.rint((x["image"][0].transpose(1, 2, 0) + 1) * 127.5).astype(np.uint8)  # [H, W, 3]
    styles = synth.encode(image_uint8, labels[0])
    image = synth.synthesize(labels, styles, seed=0)
    assert image.shape == (1, synth.package.height, synth.package.width, 3) and image.dtype == np.uint8


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(precision_hint="f64"), "unknown OpenVINO precision hint 'f64'"),
        (dict(threads=0), "threads must be a positive integer"),
        (dict(providers=["CPUExecutionProvider"]), "execution providers are an ONNX Runtime option"),
    ],
)
def test_bad_options_are_clear_errors(package, kwargs, message):
    with pytest.raises(BackendError, match=message):
        select_backend(package, "openvino", **kwargs)


@pytest.mark.slow
def test_a_reduced_precision_chooses_openvino_under_auto_and_is_refused_by_the_other_backends(package):
    selection = select_backend(package, "auto", precision_hint="bf16", threads=1)
    assert selection.backend.name == "openvino" and selection.backend.precision_hint == "bf16"
    assert "OpenVINO chosen: precision bf16" in selection.notes[0]
    assert selection.backend.computes == {"f32": "fp32", "bf16": "bf16"}[selection.backend.execution_precision]
    # The f32 hint keeps auto's own choice: ONNX Runtime on this CPU machine.
    assert select_backend(package, "auto", precision_hint="f32", threads=1).backend.name == "onnxruntime"
    refusal = "precision f16 is an OpenVINO precision hint: choose backend 'openvino'"
    for backend, options in [("onnxruntime", {}), ("tensorrt", {}), ("auto", {"providers": [CPU]})]:
        with pytest.raises(BackendError, match=refusal):
            select_backend(package, backend, precision_hint="f16", **options)
    # An unknown hint is refused on every backend, not only on OpenVINO's.
    with pytest.raises(BackendError, match="unknown OpenVINO precision hint 'fp32'; choose one of f32, bf16, f16"):
        select_backend(package, "onnxruntime", precision_hint="fp32")


def test_executed_precision_is_what_a_graph_compiled_with_the_hint_reads_back(package, monkeypatch):
    """What `sean triton` tells clients the graphs compute in, without compiling: on a CPU without bf16 units
    (no avx512_bf16, no amx_bf16) the bf16 hint computes fp32, as the compiled graph says."""
    compiled = OpenVinoBackend(package, "bf16", threads=1, graphs=("encoder",))
    assert executed_precision("bf16") == compiled.execution_precision
    flags = cpu_flags()
    if flags is not None and not has_bf16_units(flags):
        assert executed_precision("bf16") == "f32"  # the hint asked bf16
    assert executed_precision("f32") == "f32"
    # From the device's optimization capabilities, as OpenVINO lists them.
    assert executed_precision("bf16", ["FP32", "BF16", "INT8"]) == "bf16"
    assert executed_precision("f16", ["FP32", "BF16", "INT8"]) == "f32"
    assert executed_precision("f16", ["FP32", "FP16"]) == "f16"
    # Where OpenVINO cannot be asked, this CPU's bf16 units (sean_core.cpu) decide bf16.
    monkeypatch.setattr(openvino, "cpu_capabilities", lambda: None)
    if flags is not None:
        assert executed_precision("bf16") == ("bf16" if has_bf16_units(flags) else "f32")
    with pytest.raises(BackendError, match="unknown OpenVINO precision hint 'fp16'"):
        executed_precision("fp16")


@pytest.mark.slow
def test_calls_from_several_threads_at_once_give_the_single_call_results(package):
    # Each call runs on an infer request no other call holds (one request runs one inference at a time).
    backend = OpenVinoBackend(package, "f32", threads=1)
    x = _inputs(package, 1, seed=21)
    codes, _ = backend.encode(x["image"], x["labels"])
    expected = backend.generate(x["labels"], codes, x["noise"], None)
    errors: list[BaseException] = []
    results: list[np.ndarray] = []

    def work() -> None:
        try:
            for _ in range(6):
                results.append(backend.encode_generate(x["image"], x["labels"], x["noise"], None))
        except BaseException as exc:  # collected: a thread's exception would not fail the test
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors[0]
    assert len(results) == 18 and all(np.array_equal(image, expected) for image in results)
    backend.close()
    with pytest.raises(BackendError, match="this OpenVINO backend is closed"):
        backend.generate(x["labels"], codes, x["noise"], None)


@pytest.mark.slow
def test_streams_run_that_many_inferences_at_once_with_threads_each(package):
    streams = min(2, usable_cpus())  # OpenVINO runs at most one stream per core
    backend = OpenVinoBackend(package, "f32", threads=1, streams=2)
    assert backend.generator.get_property("NUM_STREAMS") == streams
    assert backend.generator.get_property("INFERENCE_NUM_THREADS") == streams  # 1 thread for each stream
    assert OpenVinoBackend(package, "f32", threads=1).generator.get_property("NUM_STREAMS") == 1
    chosen = select_backend(package, "openvino", threads=1, workers=2).backend
    assert chosen.encoder.get_property("NUM_STREAMS") == streams
    with pytest.raises(BackendError, match="streams must be a positive integer, got 0"):
        compile_config("f32", "LATENCY", None, streams=0)
    with pytest.raises(BackendError, match="workers must be a positive integer"):
        select_backend(package, "onnxruntime", workers=0)


def test_unloadable_graph_is_a_clear_error(package, tmp_path):
    broken = tmp_path / "encoder.onnx"
    broken.write_bytes(b"not an onnx file")
    damaged = dataclasses.replace(package, encoder=dataclasses.replace(package.encoder, file=broken))
    with pytest.raises(BackendError, match=r"OpenVINO cannot load encoder\.onnx"):
        OpenVinoBackend(damaged)


@pytest.mark.slow
def test_synthesizer_forwards_the_precision_hint(package):
    from sean_runtime.synthesizer import Synthesizer

    synth = Synthesizer.load(package.root, backend="openvino", precision_hint="bf16", threads=1)
    assert synth.backend.precision_hint == "bf16"


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_a_backend_of_one_graph_loads_only_that_graph(package, onnxruntime_backend, backend):
    """What a server running each graph in its own model loads (sean_runtime/triton/models.py)."""
    x = _inputs(package, 1)
    encoder = select_backend(package, backend, graphs=["encoder"]).backend
    generator = select_backend(package, backend, graphs=("generator",)).backend
    assert (encoder.encoder is not None, encoder.generator) == (True, None)
    assert (generator.encoder, generator.generator is not None) == (None, True)
    codes, area = encoder.encode(x["image"], x["labels"])
    ref_codes, ref_area = onnxruntime_backend.encode(x["image"], x["labels"])
    assert np.abs(codes - ref_codes).max() <= 1e-4 and np.array_equal(area, ref_area)
    image = generator.generate(x["labels"], ref_codes, x["noise"], None)
    assert np.abs(image - onnxruntime_backend.generate(x["labels"], ref_codes, x["noise"], None)).max() <= 1e-4
    with pytest.raises(BackendError, match="loaded only the encoder graph, not the generator; load the package"):
        encoder.generate(x["labels"], ref_codes, x["noise"], None)
    with pytest.raises(BackendError, match="loaded only the generator graph, not the encoder"):
        generator.encode(x["image"], x["labels"])
    with pytest.raises(BackendError, match="loaded only the generator graph, not the encoder"):
        generator.encode_generate(x["image"], x["labels"], x["noise"], None)


def test_graph_selections_are_checked(package):
    for graphs, message in (([], "graphs must name some of encoder, generator"),
                            (["decoder"], r"graphs must name some of encoder, generator, got \['decoder'\]")):
        with pytest.raises(BackendError, match=message):
            select_backend(package, "onnxruntime", graphs=graphs)
    with pytest.raises(BackendError, match="the TensorRT backend loads both graphs"):
        select_backend(package, "tensorrt", graphs=["generator"])


def _gathered_rows_sum(ov, summed: int, keep_dims: bool):
    """table [6, 4], rows int64 [V, 2] -> ReduceSum(Gather(table, rows, axis 0), summed)."""
    table = ov.opset8.parameter([6, 4], np.float32, name="table")
    rows = ov.opset8.parameter([-1, 2], np.int64, name="rows")
    gathered = ov.opset8.gather(table, rows, ov.opset8.constant(np.int64(0)))
    total = ov.opset8.reduce_sum(gathered, ov.opset8.constant(np.array([summed], np.int64)), keep_dims)
    return ov.Model([total], [table, rows])


def test_gathered_row_sums_become_bags_with_the_same_sums():
    import openvino as ov

    from sean_runtime.backends.openvino import sum_gathered_rows_as_bags

    model = _gathered_rows_sum(ov, 1, False)
    assert sum_gathered_rows_as_bags(model) == 1
    types = {node.get_type_name() for node in model.get_ordered_ops()}
    assert "EmbeddingBagPackedSum" in types and "ReduceSum" not in types
    table = np.arange(24, dtype=np.float32).reshape(6, 4) * np.float32(1.5)
    rows = np.array([[0, 5], [2, 2], [4, 1]], np.int64)
    compiled = new_core().compile_model(model, "CPU", compile_config("f32", "LATENCY", 1))
    np.testing.assert_array_equal(next(iter(compiled([table, rows]).values())), table[rows].sum(1))
    # No rows to sum (a label map without edges at some size): an empty [0, 4].
    assert next(iter(compiled([table, rows[:0]]).values())).shape == (0, 4)
    # A sum that keeps its axis, or sums within each row, stays; axis -2 is axis 1.
    cases = [(1, True), (2, False), (-2, False)]
    assert [sum_gathered_rows_as_bags(_gathered_rows_sum(ov, *case)) for case in cases] == [0, 0, 1]


# Run in a process of its own: on failure the process dies of SIGSEGV.
_RELEASED_IN_CREATION_ORDER = """
import gc, os, signal, sys
from sean_runtime.backends.openvino import OpenVinoBackend
from sean_runtime.package import load_package
package = load_package(sys.argv[1])
first, second = (OpenVinoBackend(package, "f32", threads=1) for _ in range(2))
for backend in (first, second):
    backend.close()
del backend, first, second
gc.collect()
""" + INTERRUPTED


@pytest.mark.slow
def test_backends_released_in_creation_order_leave_signal_handling_intact(tiny_package):
    """Each OpenVINO Core's CPU plugin swaps the creating thread's signal stack for one it unmaps when it is
    released; backends released in the order they were made once left the thread on an unmapped stack, and
    the next Ctrl-C (Python handles signals on that stack) killed the process with SIGSEGV. Each Core is made
    with the thread's own stack put back (backends.openvino.new_core)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-X", "faulthandler", "-c", _RELEASED_IN_CREATION_ORDER,
                           str(tiny_package)], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout.strip()) == (0, "interrupted"), done.stderr[-2000:]


# Children made by fork after the parent used OpenVINO (tests.helpers.FORK_CHILDREN).
_CHILD_OF_A_FORK = """
import os, sys, time
import numpy as np
from sean_runtime.backends.openvino import OpenVinoBackend
from sean_runtime.package import load_package
package = load_package(sys.argv[1])

def encoded():
    backend = OpenVinoBackend(package, "f32", threads=2)
    backend.encode(np.zeros((1, 3, package.height, package.width), np.float32),
                   np.zeros((1, package.height, package.width), np.int32))
    return backend
""" + FORK_CHILDREN


@pytest.mark.slow
def test_a_child_made_by_fork_loads_its_own_backend_and_exits(tiny_package):
    """After the parent closed its backends, a forked child loads and runs one of its own, and one that loads
    none exits: with one Core kept for the life of the process, the first hung compiling (the inherited
    Core's threads stayed in the parent) and the second at its exit."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _CHILD_OF_A_FORK, str(tiny_package)],
                          capture_output=True, text=True, timeout=180)
    ended = done.stdout.splitlines()
    assert (done.returncode, ended) == (0, ["child ended 0", "child ended 0"]), done.stderr[-2000:]
