"""The C++ runtime (sean_runtime/cpp) against the Python runtime on the shipped shapes model.

The library is built with CMake (Release, and once with AddressSanitizer + UBSan) into build/pytest-*
and called through its C API with ctypes. On the OpenVINO backend the C++ images equal the Python
OpenVINO backend's in every uint8 value; against ONNX Runtime they are within one level.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from sean_core.domains import get_domain
from sean_core.imageio import read_rgb, resize_image, resize_labels, write_jpg, write_png
from sean_core.noise import philox_normals
from sean_runtime.cpp import binding
from sean_runtime.cpp.binding import CppRuntime
from sean_runtime.synthesizer import Synthesizer
from tests.helpers import FORK_CHILDREN, INTERRUPTED

ROOT = Path(__file__).resolve().parents[1]
SHAPES = get_domain("shapes")
THREADS = 1  # the same for both runtimes: the last float bits of OpenVINO depend on the thread count

pytestmark = pytest.mark.slow


def cmake_build(name: str, *options: str, target: str | None = None) -> Path:
    """The C++ runtime built into build/<name>; skipped with the reason when a tool or dependency is missing."""
    try:
        return binding.cmake_build(ROOT / "build" / name, *options, target=target)
    except binding.BuildError as exc:
        if exc.missing:
            pytest.skip(str(exc))
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def release() -> Path:
    return cmake_build("pytest-release", "-DCMAKE_BUILD_TYPE=Release")


@pytest.fixture(scope="module")
def package(shapes_package) -> Path:
    """The session's shipped shapes model (tests/conftest.py), shared with the other modules: never written
    into, only read (the C API tests break copies of it)."""
    return shapes_package


@pytest.fixture(scope="module")
def samples() -> tuple[np.ndarray, np.ndarray]:
    """Four shapes test samples at the package resolution: images uint8 [4, 64, 64, 3], labels int32 [4, 64, 64]."""
    images, labels = zip(*(SHAPES.sample(i, "test") for i in range(4)), strict=True)
    return np.stack(images), np.stack(labels).astype(np.int32)


@pytest.fixture(scope="module")
def data(tmp_path_factory, samples) -> Path:
    """Input files of every kind the C++ reader takes, and broken ones (SEAN_TEST_DATA of the C++ tests)."""
    folder = tmp_path_factory.mktemp("cpp-data")
    images, labels = samples
    write_png(folder / "label.png", labels[0].astype(np.uint8))
    write_png(folder / "label16.png", labels[1].astype(np.uint16))
    write_png(folder / "colour.png", SHAPES.labels_to_colors(labels[2]))
    write_png(folder / "style.png", images[0])
    write_jpg(folder / "style.jpg", images[1])
    bad = labels[0].astype(np.uint8)
    bad[3, 3] = 9
    write_png(folder / "unknown_ids.png", bad)
    colours = SHAPES.labels_to_colors(labels[0])
    colours[0, 0] = (1, 2, 3)
    write_png(folder / "unknown_colours.png", colours)
    write_png(folder / "small_label.png", labels[0][::8, ::8].astype(np.uint8))  # 8x8: fewer pixels than the package
    for i in (1, 2, 3):
        write_png(folder / f"label_{i}.png", labels[i].astype(np.uint8))
        write_png(folder / f"style_{i}.png", images[i])
    # Inputs off the package resolution, for the resizing rules.
    big_image, big_label = SHAPES.sample(7, "test", size=(101, 77))
    write_png(folder / "big_style.png", big_image)
    write_png(folder / "big_label.png", big_label.astype(np.uint8))
    return folder


@pytest.fixture(scope="module")
def cpp(release, package):
    runtime = CppRuntime(release / "libsean.so", package, threads=THREADS)
    yield runtime
    runtime.close()


@pytest.fixture(scope="module")
def python_openvino(package) -> Synthesizer:
    return Synthesizer.load(package, backend="openvino", threads=THREADS)


@pytest.fixture(scope="module")
def python_onnxruntime(package) -> Synthesizer:
    return Synthesizer.load(package, backend="onnxruntime", threads=THREADS)


def cases(synth: Synthesizer, cpp: CppRuntime, samples) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(Python image, C++ image) uint8 [B, 64, 64, 3] for every case of the comparison."""
    images, labels = samples
    py_styles = synth.encode(images, labels)
    cpp_styles = cpp.encode(images, labels)
    own = [cpp.select(cpp_styles, i) for i in range(4)]
    out = {}
    for seed in range(4):
        out[f"seed {seed}"] = (synth.synthesize(labels[:1], py_styles[0], seed=seed),
                               cpp.synthesize(labels[:1], own[0], seed=seed))
    out["no noise"] = (synth.synthesize(labels[:1], py_styles[0], noise=False),
                       cpp.synthesize(labels[:1], own[0], noise=False))
    swapped = py_styles[0].swap(["blob", "ground"], py_styles[3])  # sample 3 has both classes
    out["swap"] = (synth.synthesize(labels[:1], swapped, seed=1),
                   cpp.synthesize(labels[:1], cpp.swap(own[0], ["blob", "ground"], own[3]), seed=1))
    blended = py_styles[0].interpolate(py_styles[2], 0.3)
    out["interpolation"] = (synth.synthesize(labels[:1], blended, seed=2),
                            cpp.synthesize(labels[:1], cpp.interpolate(own[0], own[2], 0.3), seed=2))
    out["batch of 3"] = (synth.synthesize(labels[:3], py_styles[:3], seed=5),
                         cpp.synthesize(labels[:3], cpp.concat(own[:3]), seed=5))
    return out


def test_openvino_images_equal_the_python_openvino_backend_bit_for_bit(cpp, python_openvino, samples):
    images, labels = samples
    py_codes = python_openvino.encode(images, labels)
    codes, present = cpp.codes(cpp.encode(images, labels))
    np.testing.assert_array_equal(codes, py_codes.codes)
    np.testing.assert_array_equal(present, py_codes.present)
    results = cases(python_openvino, cpp, samples)
    differences = {name: int(np.abs(a.astype(int) - b.astype(int)).max()) for name, (a, b) in results.items()}
    assert differences == dict.fromkeys(results, 0)
    # The cases differ from each other, so each really tested something.
    assert not np.array_equal(results["seed 0"][1], results["seed 1"][1])
    assert not np.array_equal(results["seed 1"][1], results["swap"][1])
    assert not np.array_equal(results["no noise"][1], results["interpolation"][1])


def test_a_bf16_hint_gives_the_python_backends_images_bit_for_bit(release, package, samples):
    """With the bf16 hint both runtimes compile the graphs for one image and run a batch image by image
    (bf16 where the CPU has it, else f32): the same codes and images, batches included."""
    images, labels = samples
    python = Synthesizer.load(package, backend="openvino", precision_hint="bf16", threads=THREADS)
    cpp = CppRuntime(release / "libsean.so", package, threads=THREADS, precision="bf16")
    try:
        codes, present = cpp.codes(cpp.encode(images, labels))
        py_codes = python.encode(images, labels)
        np.testing.assert_array_equal(codes, py_codes.codes)
        np.testing.assert_array_equal(present, py_codes.present)
        results = cases(python, cpp, samples)
    finally:
        cpp.close()
        python.close()
    differences = {name: int(np.abs(a.astype(int) - b.astype(int)).max()) for name, (a, b) in results.items()}
    assert differences == dict.fromkeys(results, 0)


def test_an_unknown_precision_hint_is_refused_in_one_line(release, package):
    with pytest.raises(RuntimeError, match=r"unknown OpenVINO precision hint 'f64'; choose f32, bf16 or f16$"):
        CppRuntime(release / "libsean.so", package, precision="f64")


def test_a_reduced_precision_chooses_openvino_under_auto_and_is_refused_by_tensorrt(release, package):
    # The rule of the Python runtime (select_backend), with its wording.
    cpp = CppRuntime(release / "libsean.so", package, precision="bf16", backend="auto")
    try:
        assert cpp.info.backend == b"openvino"
        assert cpp.notes == ["OpenVINO chosen: precision bf16 is an OpenVINO precision hint"]
    finally:
        cpp.close()
    with pytest.raises(RuntimeError, match="precision f16 is an OpenVINO precision hint: choose backend 'openvino'"):
        CppRuntime(release / "libsean.so", package, precision="f16", backend="tensorrt")
    with pytest.raises(RuntimeError, match=r"unknown OpenVINO precision hint 'f64'; choose f32, bf16 or f16$"):
        CppRuntime(release / "libsean.so", package, precision="f64", backend="tensorrt")


def test_images_are_within_one_level_of_onnx_runtime(cpp, python_onnxruntime, samples):
    results = cases(python_onnxruntime, cpp, samples)
    differences = {name: int(np.abs(a.astype(int) - b.astype(int)).max()) for name, (a, b) in results.items()}
    assert max(differences.values()) <= 1, differences


def test_a_batch_of_three_equals_three_single_calls(cpp, samples):
    images, labels = samples
    styles = cpp.encode(images[:3], labels[:3])
    batch = cpp.synthesize(labels[:3], styles, seed=11)
    for i in range(3):
        single = cpp.synthesize(labels[i : i + 1], cpp.select(styles, i), seed=11 + i)
        np.testing.assert_array_equal(single[0], batch[i])


def test_files_are_read_as_the_python_runtime_reads_them(cpp, python_openvino, data):
    for label in ("label.png", "label16.png", "colour.png"):  # 8-bit ids, 16-bit ids, colour mask via the palette
        np.testing.assert_array_equal(cpp.read_labels(data / label), python_openvino.read_labels(data / label)[0])
    for image in ("style.png", "style.jpg"):  # libjpeg decodes as OpenCV's build of it does
        np.testing.assert_array_equal(cpp.read_image(data / image), read_rgb(data / image))
    big = data / "big_style.png"
    resized = cpp.read_image(big).astype(int) - resize_image(read_rgb(big), 64, 64)
    assert np.abs(resized).max() <= 1  # bicubic in fixed point vs OpenCV's float vertical pass


def test_labels_are_resized_exactly_as_the_python_runtime(cpp):
    """Pixel-centre nearest sampling (PIL NEAREST = OpenCV INTER_NEAREST_EXACT), bit for bit, on shrinking,
    non-integer ratios, exact ties (64 -> 33) and upscaling; and within a pixel of floor((x + 0.5) * in / out)."""
    rng = np.random.default_rng(0)
    for (h, w), (oh, ow) in [((7, 5), (64, 64)), ((101, 77), (64, 64)), ((64, 64), (33, 17)), ((3, 200), (9, 31)),
                             ((512, 512), (256, 256)), ((1024, 2048), (256, 512))]:
        ids = rng.integers(0, 8, size=(h, w)).astype(np.int32)
        np.testing.assert_array_equal(cpp.resize_labels(ids, oh, ow), resize_labels(ids, oh, ow))
        where = np.arange(h * w, dtype=np.int32).reshape(h, w)  # each pixel's own index
        sampled = cpp.resize_labels(where, oh, ow)
        rows = (2 * np.arange(oh) + 1) * h // (2 * oh)
        cols = (2 * np.arange(ow) + 1) * w // (2 * ow)
        assert np.abs(sampled[:, 0] // w - rows).max() <= 1 and np.abs(sampled[0] % w - cols).max() <= 1


def test_images_are_resized_within_one_level_of_the_python_runtime(cpp, data):
    """Bicubic (OpenCV's a = -0.75, 11-bit fixed point) up and mildly down, area when shrinking more than 2x."""
    rng = np.random.default_rng(1)
    smooth = cv2.GaussianBlur(rng.integers(0, 256, size=(90, 70, 3)).astype(np.uint8), (5, 5), 2)
    worst = {}
    # cubic down / up, area (integer and fractional factors), area with one axis growing, same size
    for oh, ow in [(64, 64), (200, 150), (30, 35), (17, 13), (40, 150), (90, 70)]:
        got, want = cpp.resize_image(smooth, oh, ow), resize_image(smooth, oh, ow)
        worst[(oh, ow)] = int(np.abs(got.astype(int) - want.astype(int)).max())
    assert max(worst.values()) <= 1 and worst[(90, 70)] == 0, worst
    # Files off the package size take the same path (the label map with the pixel-centre rule).
    labels = cpp.read_labels(data / "big_label.png")
    assert labels.shape == (64, 64) and set(np.unique(labels)) <= set(range(8))


def test_the_cpp_tests_pass_noise_equal_to_numpy_and_bad_input_rejected(release, package, data, tmp_path):
    """The C++ tests: Philox vs Random123, known answers, 2 M normals (one official-size image) vs numpy bit
    for bit, every bad-input case of the C API, and one model shared by 4 threads."""
    philox_normals(123, 2_000_003).tofile(tmp_path / "noise.f32")
    env = dict(os.environ, SEAN_TEST_PACKAGE=str(package), SEAN_TEST_DATA=str(data),
               SEAN_TEST_NOISE=str(tmp_path / "noise.f32"))
    run = subprocess.run([str(release / "sean_tests")], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    assert "SKIPPED" not in run.stdout, run.stdout[-3000:]


def sanitizer_build() -> tuple[Path, dict[str, str]]:
    """The AddressSanitizer + UBSan build of every target (library, tools, examples, tests, fuzz target),
    and the environment its programs run in: any report fails the run (exit code 99)."""
    # Debug (-O0): the sanitizers check the same code; optimising it tripled the build time.
    asan = cmake_build("pytest-asan", "-DCMAKE_BUILD_TYPE=Debug", "-DSEAN_SANITIZE=ON")
    suppressions = Path(__file__).parents[1] / "sean_runtime/cpp/tests/lsan.supp"  # OpenVINO's TBB, not ours
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=99",
               LSAN_OPTIONS=f"suppressions={suppressions}", UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    return asan, env


def test_the_sanitized_build_runs_the_c_api_tests_clean(package, data, tmp_path):
    """AddressSanitizer + UBSan: no invalid access, leak or undefined behaviour on any bad input."""
    asan, env = sanitizer_build()
    philox_normals(123, 2_000_003).tofile(tmp_path / "noise.f32")
    env.update(SEAN_TEST_PACKAGE=str(package), SEAN_TEST_DATA=str(data), SEAN_TEST_NOISE=str(tmp_path / "noise.f32"))
    run = subprocess.run([str(asan / "sean_tests")], env=env, capture_output=True, text=True, timeout=500)
    report = run.stdout[-4000:] + run.stderr[-6000:]
    assert run.returncode == 0, report
    assert "runtime error" not in run.stderr and "AddressSanitizer" not in run.stderr, report


def test_cli_writes_the_image_of_sean_synth(release, package, data, tmp_path):
    common = ["--label", str(data / "label.png"), "--style", str(data / "style.png"), "--style-label",
              str(data / "label.png"), "--swap", f"blob={data / 'style_3.png'}:{data / 'label_3.png'}", "--seed", "3"]
    cpp_out, py_out = tmp_path / "cpp.png", tmp_path / "py.png"
    cpp_run = subprocess.run([str(release / "sean-synth-cpp"), str(package), *common, "--threads", "1", "-o",
                              str(cpp_out)], capture_output=True, text=True)
    assert cpp_run.returncode == 0, cpp_run.stderr
    assert "wrote 1 image(s)" in cpp_run.stdout and "backend: openvino" in cpp_run.stderr
    py_command = [sys.executable, "-m", "sean_core.cli", "synth", str(package), *common, "--backend", "openvino",
                  "--threads", "1", "-o", str(py_out)]
    py_run = subprocess.run(py_command, capture_output=True, text=True)
    assert py_run.returncode == 0, py_run.stderr
    np.testing.assert_array_equal(cv2.imread(str(cpp_out)), cv2.imread(str(py_out)))
    plain = tmp_path / "plain.png"
    subprocess.run([str(release / "sean-synth-cpp"), str(package), *common[:6], "--seed", "3", "-o", str(plain)],
                   check=True, capture_output=True)
    assert not np.array_equal(cv2.imread(str(plain)), cv2.imread(str(cpp_out)))  # the swap changed the blob
    # --precision bf16 as in `sean synth`: OpenVINO under auto, the same image as Python's bf16 one.
    cpp_bf16, py_bf16 = tmp_path / "cpp_bf16.png", tmp_path / "py_bf16.png"
    bf16_run = subprocess.run([str(release / "sean-synth-cpp"), str(package), *common, "--threads", "1",
                               "--precision", "bf16", "-o", str(cpp_bf16)], capture_output=True, text=True)
    assert bf16_run.returncode == 0 and "backend: openvino" in bf16_run.stderr, bf16_run.stderr
    assert "OpenVINO chosen: precision bf16 is an OpenVINO precision hint" in bf16_run.stderr
    subprocess.run([sys.executable, "-m", "sean_core.cli", "synth", str(package), *common, "--threads", "1",
                    "--precision", "bf16", "-o", str(py_bf16)], check=True, capture_output=True)
    np.testing.assert_array_equal(cv2.imread(str(cpp_bf16)), cv2.imread(str(py_bf16)))
    garbage = subprocess.run([str(release / "sean-synth-cpp"), str(package), *common, "--precision", "f64", "-o",
                              str(tmp_path / "f64.png")], capture_output=True, text=True)
    assert garbage.returncode == 1 and not (tmp_path / "f64.png").exists()
    assert garbage.stderr.strip().splitlines()[-1] == ("Error: unknown OpenVINO precision hint 'f64'; choose f32, "
                                                       "bf16 or f16")

    help_text = subprocess.run([str(release / "sean-synth-cpp"), "--help"], capture_output=True, text=True).stdout
    assert "Examples:" in help_text and "--swap" in help_text
    bad_command = [str(release / "sean-synth-cpp"), str(package), "--label", str(data / "unknown_ids.png"),
                   "--style", str(data / "style.png"), "--style-label", str(data / "label.png"),
                   "-o", str(tmp_path / "x.png")]
    bad = subprocess.run(bad_command, capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.strip().splitlines()[-1].startswith("Error: ")
    assert "outside the 8 classes" in bad.stderr and not (tmp_path / "x.png").exists()
    # As `sean synth`: a style image is never encoded under another image's label map.
    unpaired = subprocess.run([str(release / "sean-synth-cpp"), str(package), *common[:4], "-o", str(plain)],
                              capture_output=True, text=True)
    assert unpaired.returncode == 1 and "no label map of its own" in unpaired.stderr
    usage = subprocess.run([str(release / "sean-synth-cpp"), str(package)], capture_output=True, text=True)
    assert usage.returncode == 2 and "missing option --label" in usage.stderr


def test_the_examples_embed_the_library(release, package, data, tmp_path):
    """The examples open the package with the default options, so OpenVINO uses all cores: the reference
    does too (the last float bits depend on the thread count, and one pixel in 12 288 moved a level)."""
    out = tmp_path / "reconstruction.png"
    run = subprocess.run([str(release / "embed_c"), str(package), str(data / "style.png"), str(data / "label.png"),
                          str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    python = Synthesizer.load(package, backend="openvino")
    expected = python.reconstruct(data / "style.png", data / "label.png", seed=0)[0]
    np.testing.assert_array_equal(cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB), expected)
    edited = tmp_path / "edited.png"
    command = [str(release / "embed"), str(package), str(data / "style.png"), str(data / "label.png"),
               str(data / "style_3.png"), str(data / "label_3.png"), "blob", str(edited)]
    run = subprocess.run(command, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert not np.array_equal(cv2.imread(str(edited)), cv2.imread(str(out)))  # the blob took another style



def test_the_readmes_commands_run_as_written(release, package, data, tmp_path):
    """sean_runtime/cpp/README.md's embed and sean-synth-cpp lines, on files named as there (sean-synth-cpp's
    ran into "no label map of its own": a_label.png is not found from a.png without --style-label)."""
    readme = (ROOT / "sean_runtime/cpp/README.md").read_text().replace("\\\n", "")
    for name, source in [("a.png", "style.png"), ("a_label.png", "label.png"), ("b.png", "style_3.png"),
                         ("b_label.png", "label_3.png")]:
        (tmp_path / name).write_bytes((data / source).read_bytes())
    for tool in ("embed", "sean-synth-cpp"):
        line = next(line for line in readme.splitlines() if line.startswith(f"build/cpp/{tool} "))
        words = line.split("#")[0].split()
        command = [str(release / tool), str(package), *words[2:]]
        assert words[1] == "packages/shapes", line
        run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
        assert run.returncode == 0, (line, run.stderr)
        assert cv2.imread(str(tmp_path / "out.png")).shape == (64, 64, 3)
        (tmp_path / "out.png").unlink()

# Run in a process of its own: on failure the process dies of SIGSEGV.
_CLOSED_IN_CREATION_ORDER = """
import os, signal, sys
from sean_runtime.cpp.binding import CppRuntime
first, second = (CppRuntime(sys.argv[1], sys.argv[2], threads=1) for _ in range(2))
first.close()
second.close()
""" + INTERRUPTED


def test_models_closed_in_creation_order_leave_the_hosts_signal_handling_intact(release, package):
    """OpenVINO's CPU plugin swaps the creating thread's signal stack for one it unmaps when it is destroyed;
    models closed in the order they were opened once left the host's thread on an unmapped stack, and the
    next signal its handler took there (Python's, for Ctrl-C) killed it with SIGSEGV. Each model makes its Core
    with the thread's own stack put back (backend_openvino.cpp, SignalStackKept)."""
    done = subprocess.run([sys.executable, "-X", "faulthandler", "-c", _CLOSED_IN_CREATION_ORDER,
                           str(release / "libsean.so"), str(package)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert (done.returncode, done.stdout.strip()) == (0, "interrupted"), done.stderr[-2000:]


# Children made by fork after the parent used OpenVINO (tests.helpers.FORK_CHILDREN).
_CHILD_OF_A_FORK = """
import os, sys, time
import numpy as np
from sean_runtime.cpp.binding import CppRuntime

def encoded():
    model = CppRuntime(sys.argv[1], sys.argv[2], threads=2)
    height, width = model.shape
    model.encode(np.zeros((1, height, width, 3), np.uint8), np.zeros((1, height, width), np.int32))
    return model
""" + FORK_CHILDREN


def test_a_child_made_by_fork_opens_its_own_model_and_exits(release, package):
    """After the parent closed its models, a forked child opens and runs one of its own, and one that opens
    none exits: with one Core kept for the life of the process, the first hung compiling (the inherited
    Core's threads stayed in the parent) and the second at its exit."""
    done = subprocess.run([sys.executable, "-c", _CHILD_OF_A_FORK, str(release / "libsean.so"), str(package)],
                          capture_output=True, text=True, timeout=180, env={**os.environ, "PYTHONPATH": str(ROOT)})
    ended = done.stdout.splitlines()
    assert (done.returncode, ended) == (0, ["child ended 0", "child ended 0"]), done.stderr[-2000:]
