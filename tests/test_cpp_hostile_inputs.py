"""The C++ runtime (sean_runtime/cpp) against hostile and careless input (issue 28, "The C++ runtime").

Label maps smaller than the package, manifests nested 100,000 deep, decompression bombs, truncated
files, loose option values, symlink loops and over-long paths, outputs that are folders or inputs,
broken graphs and odd PNG layouts: each ends in a one-line error (or the documented reading), never a
crash, a wrong read or gigabytes of memory. The sanitizer build runs every tool and a bounded fuzz
loop over the image and manifest readers.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from sean_core.domains import LabelError, get_domain
from sean_core.domains.base import BGR_HINT, GREY_IDS_HINT
from sean_core.errors import PackageError
from sean_core.files import shown_path
from sean_core.imageio import read_ids, read_rgb, resize_labels, write_jpg, write_png
from sean_runtime.cpp.binding import CppRuntime
from sean_runtime.package import load_package
from tests.helpers import VOC_PALETTE, packed_grey_rows, palette_png, png_file, with_exif_orientation
from tests.test_cpp_runtime import cmake_build, sanitizer_build

SHAPES = get_domain("shapes")
LIMIT = 1 << 25  # SEAN_MAX_IMAGE_PIXELS's default, as sean_core/imageio.py
DEEP = 100_000

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def release() -> Path:
    return cmake_build("pytest-release", "-DCMAKE_BUILD_TYPE=Release")


@pytest.fixture(scope="module")
def package(shapes_package) -> Path:
    """The session's shipped shapes model (tests/conftest.py), shared with the other modules: never written
    into, only read: a test that breaks a package breaks a package_copy (whose
    hard-linked graphs are replaced, never written in place) or a full copy."""
    return shapes_package


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hostile-files")
    image, labels = SHAPES.sample(0, "test")
    write_png(folder / "label.png", labels.astype(np.uint8))
    write_png(folder / "style.png", image)
    write_jpg(folder / "style.jpg", image)
    return folder


@pytest.fixture(scope="module")
def cpp(release, package):
    runtime = CppRuntime(release / "libsean.so", package, threads=1)
    yield runtime
    runtime.close()


# Runs argv[2:] and writes its peak RSS (KiB, wait4) to argv[1]. A child forked from this small process:
# Linux counts the forking process's resident pages into a child's peak at exec, and pytest's own can be
# gigabytes late in the suite.
PEAK_RSS_LAUNCHER = (
    "import os, subprocess, sys\n"
    "child = subprocess.Popen(sys.argv[2:])\n"
    "_, status, usage = os.wait4(child.pid, 0)\n"
    "open(sys.argv[1], 'w').write(str(usage.ru_maxrss))\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def synth(binary: Path, package: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """sean-synth-cpp's run, with its own peak memory in MB as `max_rss_mb` (PEAK_RSS_LAUNCHER)."""
    command = [str(binary / "sean-synth-cpp"), str(package), *args]
    with tempfile.TemporaryDirectory() as folder:
        peak = Path(folder) / "peak_kib"
        run = subprocess.run([sys.executable, "-c", PEAK_RSS_LAUNCHER, str(peak), *command], capture_output=True,
                             env=env)
        run = subprocess.CompletedProcess(command, run.returncode, run.stdout.decode(errors="replace"),
                                          run.stderr.decode(errors="replace"))
        run.max_rss_mb = int(peak.read_text()) / 1024
    return run


def one_line_error(run: subprocess.CompletedProcess, code: int, fragment: str) -> str:
    """The run's one 'Error: ' line (usage errors add click's "Try ... --help" line), after checking it."""
    assert run.returncode == code, (run.returncode, run.stdout[-2000:], run.stderr[-2000:])
    errors = [line for line in run.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, run.stderr[-3000:]
    last = errors[0]
    assert "unexpected" not in last and fragment in last, run.stderr[-3000:]
    assert len(last) < 1200, len(last)
    return last


def style_args(files: Path, label: str | Path = "label.png", style: str | Path = "style.png") -> list[str]:
    return ["--label", str(files / label), "--style", str(files / style), "--style-label", str(files / "label.png")]


def package_copy(package: Path, target: Path, edit=None, text_edit=None) -> Path:
    """The package with its graphs hard-linked (a symbolic link out of a package is refused) and its manifest
    edited (a dict edit, then a text edit). A linked graph is the session's shapes_package file itself: a test
    replaces it (unlink, then write) or renames it, never opens it for writing; shutil.copytree for that."""
    target.mkdir()
    for graph in package.glob("*.onnx*"):
        os.link(graph, target / graph.name)
    manifest = json.loads((package / "manifest.json").read_text())
    if edit:
        edit(manifest)
    text = json.dumps(manifest)
    (target / "manifest.json").write_text(text_edit(text) if text_edit else text)
    return target


# --- memory safety --------------------------------------------------------------------------------


def test_small_label_maps_are_checked_over_their_own_pixels(cpp, tmp_path):
    """1x1, 8x8 and 32x32 label maps into the 64x64 package: the ids of the file are checked, then resized
    (the check used to read 64x64 ids from the smaller buffer and report heap contents)."""
    rng = np.random.default_rng(0)
    for side in (1, 8, 32):
        ids = rng.integers(0, 8, size=(side, side)).astype(np.uint8)
        write_png(tmp_path / f"{side}.png", ids)
        np.testing.assert_array_equal(cpp.read_labels(tmp_path / f"{side}.png"), resize_labels(ids, 64, 64))
    bad = np.zeros((8, 8), np.uint8)
    bad[2, 3] = 9
    write_png(tmp_path / "bad8.png", bad)
    with pytest.raises(RuntimeError, match=r"bad8.png: values \[9\] are outside the 8 classes"):
        cpp.read_labels(tmp_path / "bad8.png")


def test_manifests_nested_100000_deep_are_refused_in_one_line(release, package, files, tmp_path):
    """Each place a manifest value is printed in an error: a recursive dump of it overflowed the stack."""
    deep = "[" * DEEP + "]" * DEEP
    places = {
        "height": lambda t: t.replace('"height": 64', f'"height": {deep}'),
        "class_names": lambda t: t.replace('"class_names": [', f'"class_names": [{deep}, ', 1),
        "noise": lambda t: t.replace('"noise": {', f'"noise": {{"deep": {deep}, ', 1),
        "format_version": lambda t: t.replace('"format_version": 2', f'"format_version": {deep}'),
        "graph file": lambda t: t.replace('"file": "encoder.onnx"', f'"file": {deep}'),
        "tensor": lambda t: t.replace('"inputs": [', f'"inputs": [{deep}, ', 1),
    }
    for name, text_edit in places.items():
        broken = package_copy(package, tmp_path / name.replace(" ", "_"), text_edit=text_edit)
        assert deep in (broken / "manifest.json").read_text(), name
        run = synth(release, broken, *style_args(files), "-o", str(tmp_path / "x.png"))
        one_line_error(run, 1, "nests values deeper than 64 levels")
    # Nesting within the bound reaches the field checks, which name the value's type, not its text.
    shallow = package_copy(package, tmp_path / "shallow",
                           text_edit=lambda t: t.replace('"height": 64', '"height": ' + "[" * 40 + "]" * 40))
    run = synth(release, shallow, *style_args(files), "-o", str(tmp_path / "x.png"))
    one_line_error(run, 1, "manifest field 'height' is a list of 1 item(s), not an integer >= 1")


# --- decompression bombs and truncated files ------------------------------------------------------


def test_images_over_the_pixel_cap_are_refused_from_their_header(release, package, files, tmp_path):
    """A 110 KB 30000x30000 1-bit PNG and a 3 KB JPEG whose header claims 30000x30000: refused before any
    pixel is decoded, as label map and as style image, with the Python runtime's message."""
    side = 30_000
    bomb = png_file(side, side, 0, 1, b"\x00" * ((1 + side // 8) * side))
    (tmp_path / "bomb.png").write_bytes(bomb)
    assert len(bomb) < 200_000
    jpeg = bytearray((files / "style.jpg").read_bytes())
    sof = jpeg.index(b"\xff\xc0")
    jpeg[sof + 5 : sof + 9] = struct.pack(">HH", side, side)
    (tmp_path / "bomb.jpg").write_bytes(bytes(jpeg))
    expected = f"is {side}x{side} pixels, more than the limit of {LIMIT} (SEAN_MAX_IMAGE_PIXELS); resize it"
    for args in (style_args(files, label=tmp_path / "bomb.png"), style_args(files, style=tmp_path / "bomb.png"),
                 style_args(files, style=tmp_path / "bomb.jpg")):
        run = synth(release, package, *args, "-o", str(tmp_path / "x.png"))
        one_line_error(run, 1, expected)
        assert run.max_rss_mb < 1000, run.max_rss_mb  # decoding them took 4.4-10.4 GB
    # The cap is the Python runtime's variable.
    small = dict(os.environ, SEAN_MAX_IMAGE_PIXELS="1000")
    run = synth(release, package, *style_args(files), "-o", str(tmp_path / "x.png"), env=small)
    one_line_error(run, 1, "is 64x64 pixels, more than the limit of 1000 (SEAN_MAX_IMAGE_PIXELS)")
    wrong = dict(os.environ, SEAN_MAX_IMAGE_PIXELS="lots")
    run = synth(release, package, *style_args(files), "-o", str(tmp_path / "x.png"), env=wrong)
    one_line_error(run, 1, "SEAN_MAX_IMAGE_PIXELS='lots' is not a positive whole number of pixels")


def test_truncated_images_are_refused_not_filled_grey(release, package, files, tmp_path):
    jpeg, png = (files / "style.jpg").read_bytes(), (files / "style.png").read_bytes()
    for name, data in {"cut50.jpg": jpeg[: len(jpeg) // 2], "cut90.jpg": jpeg[: len(jpeg) * 9 // 10],
                       "cut90.png": png[: len(png) * 9 // 10]}.items():
        (tmp_path / name).write_bytes(data)
        run = synth(release, package, *style_args(files, style=tmp_path / name), "-o", str(tmp_path / "x.png"))
        one_line_error(run, 1, f"{name}: not a readable image (")
    assert not (tmp_path / "x.png").exists()


def test_manifest_sizes_are_bounded_by_what_the_graphs_declare(release, package, files, tmp_path):
    """noise.numel = 2^30, consistent within the manifest, drew 4 GB of noise before OpenVINO refused it."""
    def huge_noise(manifest):
        manifest["noise"]["numel"] = 1 << 30
        noise = next(t for t in manifest["graphs"]["generator"]["inputs"] if t["name"] == "noise")
        noise["shape"][1] = 1 << 30

    broken = package_copy(package, tmp_path / "noise", edit=huge_noise)
    run = synth(release, broken, *style_args(files), "-o", str(tmp_path / "x.png"))
    one_line_error(run, 1, "generator.onnx declares 'noise' as [?,16392], other than the manifest's sizes")
    assert run.max_rss_mb < 1000, run.max_rss_mb


@pytest.mark.parametrize(("edit", "fragment"), [
    (lambda m: m["class_names"].__setitem__(1, m["class_names"][0]), "class_names must be 8 distinct non-empty"),
    (lambda m: m["class_names"].__setitem__(2, ""), "class_names must be 8 distinct non-empty strings"),
    (lambda m: m.__setitem__("precision", "fp64"), "precision \"fp64\" is not one of ('fp32', 'fp16')"),
    (lambda m: m.__setitem__("precision", 16), "precision 16 is not one of"),
    (lambda m: m.pop("precision"), "the manifest has no 'precision' field"),
    (lambda m: m.__setitem__("generator_form", "sparse"), "form \"sparse\" is not one of ('dense', 'regions')"),
])
def test_manifest_fields_the_python_runtime_refuses_are_refused(release, package, files, tmp_path, edit, fragment):
    """Both runtimes read one format: a duplicate class name (an edit could name only the first), an unknown
    precision (read as fp32) or generator form were taken here and refused in Python."""
    broken = package_copy(package, tmp_path / "broken", edit=edit)
    with pytest.raises(PackageError):
        load_package(broken)
    one_line_error(synth(release, broken, *style_args(files), "-o", str(tmp_path / "x.png")), 1, fragment)


def test_a_graph_linked_from_outside_the_package_is_refused(release, package, files, tmp_path):
    linked = package_copy(package, tmp_path / "linked")
    (linked / "generator.onnx").unlink()
    (linked / "generator.onnx").symlink_to(package / "generator.onnx")
    with pytest.raises(PackageError, match="outside the package"):
        load_package(linked)
    one_line_error(synth(release, linked, *style_args(files), "-o", str(tmp_path / "x.png")), 1,
                   "generator.onnx is a symbolic link to ")
    inside = package_copy(package, tmp_path / "inside")  # a link within the package is a file of it
    (inside / "generator.onnx").rename(inside / "generator.bin")
    (inside / "generator.onnx").symlink_to("generator.bin")
    assert synth(release, inside, *style_args(files), "-o", str(tmp_path / "y.png")).returncode == 0


# --- options --------------------------------------------------------------------------------------


def test_options_are_parsed_strictly(release, package, files, tmp_path):
    out = str(tmp_path / "x.png")
    for option, value, fragment in [
        ("--seed", " -1", "--seed ' -1': expected a whole number in 0..18446744073709551615"),
        ("--seed", "-1", "expected a whole number"),
        ("--seed", "18446744073709551616", "expected a whole number"),
        ("--seed", "1e3", "expected a whole number"),
        ("--alpha", "", "--alpha '': expected a number in 0..1"),
        ("--alpha", " 0.5", "expected a number in 0..1"),
        ("--alpha", "nan", "expected a number in 0..1"),
        ("--threads", "99999999999", "--threads '99999999999': expected a whole number in 1..1024"),
        ("--threads", "0", "expected a whole number in 1..1024"),
        ("--threads", "4x", "expected a whole number in 1..1024"),
    ]:
        one_line_error(synth(release, package, *style_args(files), option, value, "-o", out), 2, fragment)
    label = (files / "label.png").read_bytes()
    run = synth(release, package, *style_args(files), "-o", str(files / "label.png"))
    one_line_error(run, 1, "would overwrite the input")
    assert (files / "label.png").read_bytes() == label


# --- messages -------------------------------------------------------------------------------------


def test_paths_the_file_system_refuses_are_one_line_errors(release, package, files, tmp_path):
    (tmp_path / "loop_a").symlink_to(tmp_path / "loop_b")
    (tmp_path / "loop_b").symlink_to(tmp_path / "loop_a")
    loop = str(tmp_path / "loop_a")
    one_line_error(synth(release, package, *style_args(files, label=loop), "-o", str(tmp_path / "x.png")), 1,
                   f"{loop} is a loop of symbolic links")  # the Python runtime's words
    one_line_error(synth(release, Path(loop), *style_args(files), "-o", str(tmp_path / "x.png")), 1,
                   f"{loop} is a loop of symbolic links")
    long = str(tmp_path / ("a/" * 2100)) + "x.png"
    one_line_error(synth(release, package, *style_args(files, label=long), "-o", str(tmp_path / "x.png")), 1,
                   "File name too long")
    folder = tmp_path / "folder.png"
    folder.mkdir()
    one_line_error(synth(release, package, *style_args(files), "-o", str(folder)), 1, "is a folder")


@pytest.mark.parametrize("looped", ["manifest.json", "generator.onnx"])
def test_a_loop_of_symbolic_links_in_a_package_is_named_in_the_python_runtimes_words(release, package, tmp_path,
                                                                                      looped):
    # the C++ runtime said "cannot be read (Too many levels of symbolic links)" of a package's manifest or graph
    copy = package_copy(package, tmp_path / "looped")
    (copy / looped).unlink()
    (copy / "other").symlink_to(copy / looped)
    (copy / looped).symlink_to(copy / "other")
    words = f"{copy / looped} is a loop of symbolic links"
    with pytest.raises(PackageError) as python:
        load_package(copy)
    with pytest.raises(RuntimeError) as native:
        CppRuntime(release / "libsean.so", copy, threads=1)
    assert words in str(python.value), str(python.value)
    assert words in str(native.value) and "Too many levels" not in str(native.value), str(native.value)


def test_odd_files_and_fields_are_named_for_what_they_are(release, package, files, tmp_path):
    """Each was a message about something else: a FIFO "no such file", a package path that is a file "does
    not exist; create one", a manifest.json folder "is missing", noise.numel -5 "an object of 4 field(s)",
    `--swap blob=` "image  does not exist"; a 252-byte output name failed on its temporary name."""
    out = str(tmp_path / "x.png")
    fifo = tmp_path / "fifo.png"
    os.mkfifo(fifo)
    one_line_error(synth(release, package, *style_args(files, label=fifo), "-o", out), 1, "is not a regular file")
    a_file = tmp_path / "package.txt"
    a_file.write_text("x")
    with pytest.raises(PackageError) as python:
        load_package(a_file)
    one_line_error(synth(release, a_file, *style_args(files), "-o", out), 1, f"Error: {python.value}")
    odd = package_copy(package, tmp_path / "odd")
    (odd / "manifest.json").unlink()
    (odd / "manifest.json").mkdir()
    one_line_error(synth(release, odd, *style_args(files), "-o", out), 1, "manifest.json is not a file")
    negative = package_copy(package, tmp_path / "negative", edit=lambda m: m["noise"].__setitem__("numel", -5))
    one_line_error(synth(release, negative, *style_args(files), "-o", out), 1, "noise.numel is -5, not a positive")
    one_line_error(synth(release, package, *style_args(files), "--swap", "blob=", "-o", out), 1,
                   "--swap: no image after '='")
    long_name = tmp_path / ("n" * 248 + ".png")
    assert synth(release, package, *style_args(files), "-o", str(long_name)).returncode == 0
    assert long_name.stat().st_size > 0 and not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


def test_a_png_error_names_its_own_cause_not_an_earlier_warning(cpp, tmp_path):
    """libpng's warnings were kept and added to any later error: every cut-off interlaced PNG was 'Not enough
    image data: Interlace handling should be turned on', a bad tEXt checksum named in a truncation."""
    ids = (np.arange(64, dtype=np.uint8).reshape(8, 8) % 8)
    rows = b"".join(b"\x00" + row.tobytes() for row in ids)
    passes = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
    adam7 = b"".join(b"\x00" + row.tobytes() for x0, y0, dx, dy in passes for row in ids[y0::dy, x0::dx])
    interlaced = bytearray(png_file(8, 8, 0, 8, adam7))
    interlaced[8 + 8 + 12] = 1  # IHDR's interlace byte: Adam7, the seven passes above
    interlaced[29:33] = struct.pack(">I", zlib.crc32(bytes(interlaced[12:29])))
    (tmp_path / "adam7.png").write_bytes(bytes(interlaced))
    assert np.array_equal(read_ids(tmp_path / "adam7.png"), ids)  # a valid file: OpenCV reads the same ids
    np.testing.assert_array_equal(cpp.read_labels(tmp_path / "adam7.png"),
                                  resize_labels(read_ids(tmp_path / "adam7.png"), 64, 64))
    text = (b"tEXt", b"Comment\0hello")
    bad_text = png_file(8, 8, 0, 8, rows, [text]).replace(b"hello", b"hellO", 1)  # its CRC no longer fits
    for name, data in (("cut_adam7.png", bytes(interlaced)[:-20]), ("cut_text.png", bad_text[:-20])):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(RuntimeError) as caught:
            cpp.read_labels(tmp_path / name)
        assert "Interlace" not in str(caught.value) and "tEXt" not in str(caught.value), caught.value


def test_a_png_wider_than_32768_reads_as_in_python_and_a_side_past_opencvs_limit_names_it(cpp, tmp_path):
    """A 40000 x 1 label map (within the pixel cap) read in Python and was "Invalid IHDR data" here."""
    ids = (np.arange(40000) % 8).astype(np.uint8)[None]
    wide = tmp_path / "wide.png"
    wide.write_bytes(png_file(40000, 1, 0, 8, b"\x00" + ids.tobytes()))
    np.testing.assert_array_equal(cpp.read_labels(wide), resize_labels(read_ids(wide), 64, 64))
    too_wide = tmp_path / "too_wide.png"
    too_wide.write_bytes(png_file((1 << 20) + 1, 1, 0, 8, b"\x00" * ((1 << 20) + 2)))
    with pytest.raises(RuntimeError, match=r"Invalid IHDR data: .*exceeds user limit"):
        cpp.read_labels(too_wide)


def test_write_png_onto_a_folder_names_the_reason(cpp, tmp_path):
    folder = tmp_path / "out.png"
    folder.mkdir()
    rgb = np.zeros((4, 4, 3), np.uint8)
    assert cpp.lib.sean_write_png(str(folder).encode(), ctypes.c_void_p(rgb.ctypes.data), 4, 4) != 0
    message = cpp.lib.sean_last_error().decode()
    assert "is a folder" in message and "Success" not in message, message


def test_a_broken_graph_reports_what_openvino_says(release, package, files, tmp_path):
    broken = package_copy(package, tmp_path / "broken")
    (broken / "encoder.onnx").unlink()
    (broken / "encoder.onnx").write_bytes(b"not an onnx graph" * 64)
    manifest = json.loads((broken / "manifest.json").read_text())
    manifest["files"]["encoder.onnx"] = hashlib.sha256((broken / "encoder.onnx").read_bytes()).hexdigest()
    (broken / "manifest.json").write_text(json.dumps(manifest))
    run = synth(release, broken, *style_args(files), "-o", str(tmp_path / "x.png"))
    last = one_line_error(run, 1, "OpenVINO cannot load encoder.onnx: ")
    reason = last.split("encoder.onnx: ", 1)[1]
    assert not reason.startswith("Exception from") and "Unable to read the model" in reason, last


def test_png_layouts_read_as_documented(cpp, tmp_path):
    """Alpha and transparency are dropped: a palette PNG with a tRNS chunk reads as the same PNG without
    it (image and colour mask), and a grey + alpha label map holds class ids, not a colour mask; a grey
    label map of 1, 2 or 4 bits holds the ids stored."""
    rng = np.random.default_rng(2)
    ids = rng.integers(0, 8, size=(16, 16)).astype(np.uint8)
    palette = np.array(SHAPES.palette, np.uint8)
    rows = b"".join(b"\x00" + row.tobytes() for row in ids)
    plte = (b"PLTE", palette.tobytes())
    (tmp_path / "palette.png").write_bytes(png_file(16, 16, 3, 8, rows, [plte]))
    (tmp_path / "palette_trns.png").write_bytes(png_file(16, 16, 3, 8, rows, [plte, (b"tRNS", bytes([0, 128]))]))
    expected_image = cpp.read_image(tmp_path / "palette.png")
    np.testing.assert_array_equal(cpp.read_image(tmp_path / "palette_trns.png"), expected_image)
    np.testing.assert_array_equal(cpp.read_labels(tmp_path / "palette_trns.png"), resize_labels(ids, 64, 64))
    grey_alpha = np.stack([ids, np.full_like(ids, 200)], axis=-1)
    ga_rows = b"".join(b"\x00" + row.tobytes() for row in grey_alpha)
    (tmp_path / "grey_alpha.png").write_bytes(png_file(16, 16, 4, 8, ga_rows))
    np.testing.assert_array_equal(cpp.read_labels(tmp_path / "grey_alpha.png"), resize_labels(ids, 64, 64))
    for depth in (1, 2, 4):  # a grey label map of few bits holds the ids stored, not a picture's stretch
        few = ids % (1 << depth)
        path = tmp_path / f"grey{depth}.png"
        path.write_bytes(png_file(16, 16, 0, depth, packed_grey_rows(few, depth)))
        np.testing.assert_array_equal(cpp.read_labels(path), resize_labels(few, 64, 64))


@pytest.mark.parametrize("kind", [".jpg", ".png"])
def test_a_photos_exif_orientation_turns_it_as_in_python(cpp, tmp_path, kind):
    """Phone photos store their pixels sideways with an Orientation tag: the Python runtime (OpenCV) turns
    them for display and the C++ one did not (a quarter turn apart, 191 levels). All eight, both byte
    orders, a non-square picture (whose turned size is what the size checks see)."""
    import cv2

    rng = np.random.default_rng(5)
    for height, width in ((64, 64), (32, 64)):
        stored = cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3)).astype(np.uint8), (5, 5), 2)
        ok, encoded = cv2.imencode(kind, stored, [cv2.IMWRITE_JPEG_QUALITY, 95] if kind == ".jpg" else [])
        assert ok
        for orientation in range(1, 9):
            path = tmp_path / f"o{orientation}_{height}{kind}"
            path.write_bytes(with_exif_orientation(encoded.tobytes(), orientation, big_endian=orientation % 2 == 0))
            python = read_rgb(path)
            turned = orientation >= 5
            assert python.shape[:2] == ((width, height) if turned else (height, width)), (orientation, python.shape)
            expected = python if python.shape[:2] == (64, 64) else cpp.resize_image(python, 64, 64)
            np.testing.assert_array_equal(cpp.read_image(path), expected, err_msg=f"orientation {orientation}")
        if height == width:  # the tag changes the picture (a test that would pass on ignoring it is no test)
            assert not np.array_equal(read_rgb(tmp_path / f"o6_64{kind}"), read_rgb(tmp_path / f"o1_64{kind}"))


def test_a_turned_photo_gets_the_python_runtimes_message(release, package, tmp_path):
    """A photo that its EXIF orientation turns, whose label map fits it as stored: both sizes and the fix."""
    import cv2

    from sean_core.errors import InputError
    from sean_runtime.inputs import check_pairs, load_images

    photo = tmp_path / "photo.jpg"  # stored 48 wide, 64 high; read 64 wide, 48 high
    photo.write_bytes(with_exif_orientation(cv2.imencode(".jpg", np.zeros((64, 48, 3), np.uint8))[1].tobytes(), 6))
    label = tmp_path / "photo_label.png"
    write_png(label, np.zeros((64, 48), np.uint8))
    _, sizes, stored = load_images(photo, 64, 64)
    with pytest.raises(InputError) as python:
        # The C++ runtime knows no domain: it takes the rule of domains whose labels may be scaled.
        check_pairs(photo, sizes, label, [(64, 48)], scaled_ok=True, stored_sizes=stored)
    assert "is 64x48 after its EXIF orientation (stored 48x64)" in str(python.value)
    assert "must have the same aspect ratio as its image" in str(python.value)
    run = synth(release, package, "--label", str(label), "--style", str(photo), "--style-label", str(label),
                "-o", str(tmp_path / "out.png"))
    assert one_line_error(run, 1, "EXIF") == f"Error: {python.value}"


def test_a_palette_png_reads_as_in_python_and_a_foreign_palette_is_named(cpp, tmp_path):
    """An indexed-colour PNG is read by its palette's colours in both runtimes; one whose palette is not the
    domain's (its indices may be the class ids) is refused with the same message."""
    indexed = tmp_path / "voc.png"
    indexed.write_bytes(palette_png(np.arange(64 * 64).reshape(64, 64) % 8, VOC_PALETTE))
    with pytest.raises(LabelError) as python:
        SHAPES.read_label(indexed)
    with pytest.raises(RuntimeError) as native:
        cpp.read_labels(indexed)
    assert str(native.value).endswith(str(python.value)) and "indexed-colour (palette) PNG" in str(python.value)
    own = tmp_path / "own.png"  # in the domain's palette: the same ids from both
    own.write_bytes(palette_png(np.arange(64 * 64).reshape(64, 64) % 8, list(SHAPES.palette)))
    np.testing.assert_array_equal(cpp.read_labels(own), SHAPES.read_label(own))


@pytest.mark.parametrize("kind", ["ids saved as RGB", "BGR", "grey, not ids"])
def test_a_refused_colour_mask_is_told_what_it_looks_like_as_in_python(cpp, tmp_path, kind):
    """A colour mask the palette refuses gets the Python runtime's message and hint (Domain.colour_mask_hint):
    class ids in three equal channels (as cv2.imread gives an id map), the palette's colours in BGR order,
    and no hint for grey values that are not all class ids."""
    _, labels = SHAPES.sample(0, "test")
    ids = labels.astype(np.uint8)
    rgb = {"ids saved as RGB": np.repeat(ids[..., None], 3, axis=2), "BGR": SHAPES.labels_to_colors(labels)[..., ::-1],
           "grey, not ids": np.repeat((ids * 40)[..., None], 3, axis=2)}[kind]
    hint = {"ids saved as RGB": GREY_IDS_HINT, "BGR": BGR_HINT, "grey, not ids": ""}[kind]
    mask = tmp_path / "mask.png"
    write_png(mask, np.ascontiguousarray(rgb))
    with pytest.raises(LabelError) as python:
        SHAPES.read_label(mask)
    with pytest.raises(RuntimeError) as native:
        cpp.read_labels(mask)
    assert str(python.value).endswith("(or pass an id map)" + hint), str(python.value)
    assert str(native.value).endswith(str(python.value))


def _label_file(kind: str, folder: Path) -> Path:
    """A label-map path the readers refuse, of `kind`."""
    path = folder / "label.png"
    _, labels = SHAPES.sample(0, "test")
    if kind == "JPEG":
        path = folder / "label.jpg"
        write_jpg(path, np.repeat(labels.astype(np.uint8)[..., None], 3, axis=2))
    elif kind == "16-bit colour":
        write_png(path, np.repeat(labels.astype(np.uint16)[..., None], 3, axis=2) * 257)
    elif kind == "loop":
        (folder / "b.png").symlink_to(path)
        path.symlink_to(folder / "b.png")
    elif kind == "dangling link":
        path.symlink_to(folder / "nowhere.png")
    elif kind == "FIFO":
        os.mkfifo(path)
    else:
        raise ValueError(kind)
    return path


@pytest.mark.parametrize("kind", ["JPEG", "16-bit colour", "loop", "dangling link", "FIFO"])
def test_a_refused_label_file_gets_the_python_runtimes_message(cpp, tmp_path, kind):
    """The C++ runtime worded these apart ("a JPEG label map; JPEG blurs class ids", "not a readable image (a
    16-bit colour PNG ...)", "cannot be read (Too many levels of symbolic links)", "no such file" for a link
    to nothing, "(a pipe, device or socket)"); the Python runtime's words are the ones both say."""
    path = _label_file(kind, tmp_path)
    with pytest.raises(LabelError) as python:
        SHAPES.read_label(path)
    with pytest.raises(RuntimeError) as native:
        cpp.read_labels(path)
    assert str(python.value).startswith(str(path)), str(python.value)
    assert str(native.value).endswith(": " + str(python.value)), (str(native.value), str(python.value))
    if kind == "FIFO":  # what to do, in both runtimes
        assert str(python.value).endswith("is not a regular file; give an image file"), str(python.value)


def test_a_long_path_and_a_damaged_package_are_shown_as_in_python(release, package, files, tmp_path):
    """An over-long path is shortened as the Python runtime shortens it (sean_core.files.shown_path, "…"
    where the C++ runtime wrote "...(N characters)..."), and a file whose sha256 is not the manifest's is
    named in the Python runtime's words ("…" after the hashes' first digits, not "...")."""
    long = str(tmp_path / ("a/" * 2100)) + "x.png"
    line = one_line_error(synth(release, package, *style_args(files, label=long), "-o", str(tmp_path / "x.png")), 1,
                          "File name too long")
    assert f"{shown_path(long)}: " in line and "\u2026" in shown_path(long), line
    damaged = tmp_path / "damaged"
    shutil.copytree(package, damaged)  # copies: the module's package stays whole
    with (damaged / "generator.onnx").open("ab") as graph:
        graph.write(b"\0")
    with pytest.raises(PackageError) as python:
        load_package(damaged)
    with pytest.raises(RuntimeError) as native:
        CppRuntime(release / "libsean.so", damaged, threads=1)
    assert "generator.onnx has sha256 " in str(python.value)
    assert str(native.value).endswith(": " + str(python.value)), (str(native.value), str(python.value))


# --- the sanitizer build --------------------------------------------------------------------------


def test_every_tool_of_the_sanitizer_build_runs(package, files, tmp_path):
    """sean-synth-cpp, embed and embed_c died when the model opened (TBB's dlopen under ASan)."""
    asan, env = sanitizer_build()
    out = tmp_path / "synth.png"
    run = synth(asan, package, *style_args(files), "--threads", "1", "-o", str(out), env=env)
    assert run.returncode == 0 and out.exists(), run.stderr[-4000:]
    run = subprocess.run([str(asan / "embed_c"), str(package), str(files / "style.png"), str(files / "label.png"),
                          str(tmp_path / "c.png")], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-4000:]
    run = subprocess.run([str(asan / "embed"), str(package), str(files / "style.png"), str(files / "label.png"),
                          str(files / "style.png"), str(files / "label.png"), "blob", str(tmp_path / "cpp.png")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-4000:]
    # A bad input under the sanitizers is still a one-line error.
    one_line_error(synth(asan, package, *style_args(files), "--seed", " -1", "-o", str(out), env=env), 2, "--seed")


def test_bounded_fuzz_of_the_image_and_manifest_readers_under_the_sanitizers(package, files, tmp_path):
    asan, env = sanitizer_build()
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for name in ("label.png", "style.png", "style.jpg"):
        shutil.copy(files / name, seeds / name)
    for name in ("style.png", "style.jpg"):  # the EXIF orientation reader too
        (seeds / f"exif_{name}").write_bytes(with_exif_orientation((files / name).read_bytes(), 6))
    shutil.copy(package / "manifest.json", seeds / "manifest.json")
    run = subprocess.run([str(asan / "sean_fuzz"), str(seeds), "20", "1"], capture_output=True, text=True, env=env,
                         timeout=200)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-6000:]
    counts = [int(n) for n in run.stdout.replace("(", " ").replace(")", " ").split() if n.isdigit()]
    labels, labels_refused, images, images_refused, manifests, manifests_refused, seeds_refused = counts
    assert seeds_refused == 0, run.stdout  # the seeds are good inputs, so the mutations start from accepted files
    for total, refused in ((labels, labels_refused), (images, images_refused), (manifests, manifests_refused)):
        assert total > 100 and 0 < refused < total, run.stdout
