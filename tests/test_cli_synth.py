"""`sean synth`: files and folders in and out, swaps and interpolation, and errors as one-line messages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from sean_core.cli import main
from sean_core.domains import get_domain
from sean_core.imageio import read_rgb, write_png
from sean_runtime.synthesizer import Synthesizer
from tests.helpers import OPENVINO_MISSING

SHAPES = get_domain("shapes")


@pytest.fixture
def data(shapes_split) -> Path:
    return shapes_split


@pytest.fixture
def synth(tiny_synth) -> Synthesizer:
    return tiny_synth


def run(*args: str):
    return CliRunner().invoke(main, ["synth", *map(str, args)])


def assert_clean_error(result, message: str) -> None:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert f"Error: {message}" in result.output
    assert "Traceback" not in result.output


def test_one_file_in_one_file_out_equals_the_library(tiny_package, data, synth, tmp_path):
    out = tmp_path / "out.png"
    result = run(
        tiny_package, "--label", data / "labels/00001.png", "--style", data / "images/00001.png", "--seed", 5, "-o", out
    )
    assert result.exit_code == 0, result.output
    assert "backend: onnxruntime (CPUExecutionProvider)" in result.output
    styles = synth.encode(data / "images/00001.png", data / "labels/00001.png")
    np.testing.assert_array_equal(read_rgb(out), synth.synthesize(data / "labels/00001.png", styles, seed=5)[0])


@pytest.mark.slow
def test_folders_in_folder_out_matched_by_name_with_a_progress_bar(tiny_package, data, synth, tmp_path):
    out = tmp_path / "outdir"
    result = run(
        tiny_package,
        "--label",
        data / "labels",
        "--style",
        data / "images",
        "--style-label",
        data / "labels",
        "--no-noise",
        "-o",
        out,
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [f"0000{i}.png" for i in range(4)]
    assert "synth: 100%" in result.output
    styles = synth.encode(data / "images/00002.png", data / "labels/00002.png")
    expected = synth.synthesize(data / "labels/00002.png", styles, noise=False)[0]
    np.testing.assert_array_equal(read_rgb(out / "00002.png"), expected)


def test_swap_and_interpolate_apply_the_library_edits(tiny_package, data, synth, tmp_path):
    label, style = data / "labels/00000.png", data / "images/00000.png"
    other, other_label = data / "images/00003.png", data / "labels/00003.png"
    out = tmp_path / "edit.png"
    # The swap finds the reference's label in the sibling labels/ folder; interpolate is given one.
    result = run(
        tiny_package,
        "--label",
        label,
        "--style",
        style,
        "--swap",
        f"blob,ground={other}",
        "--interpolate",
        f"{data / 'images/00001.png'}:{data / 'labels/00001.png'}",
        "--alpha",
        0.3,
        "-o",
        out,
    )
    assert result.exit_code == 0, result.output
    reference = synth.encode(other, other_label)
    blend = synth.encode(data / "images/00001.png", data / "labels/00001.png")
    styles = synth.encode(style, label).swap(["blob", "ground"], reference).interpolate(blend, 0.3)
    np.testing.assert_array_equal(read_rgb(out), synth.synthesize(label, styles, seed=0)[0])
    plain = synth.synthesize(label, synth.encode(style, label), seed=0)[0]
    assert not np.array_equal(read_rgb(out), plain)


@pytest.mark.slow
def test_bad_input_ends_with_a_message_not_a_traceback(tiny_package, data, tmp_path):
    label, style = data / "labels/00000.png", data / "images/00000.png"
    out = tmp_path / "x.png"
    assert_clean_error(
        run(tiny_package, "--label", label, "--style", style, "--swap", f"hair={style}", "-o", out),
        "--swap: unknown class(es) ['hair']; the classes are: background",
    )
    for value, message in (("blob", "--swap blob: expected CLASS=IMAGE[:LABEL]"),
                           (f"={style}", f"--swap ={style}: no class name before '='"),
                           (f"blob={tmp_path / 'no.png'}", f"--swap {tmp_path / 'no.png'}: image {tmp_path / 'no.png'} "
                                                           "does not exist")):  # fmt: skip
        malformed = run(tiny_package, "--label", label, "--style", style, "--swap", value, "-o", out)
        assert malformed.exit_code == 2 and f"Error: {message}" in malformed.output and not out.exists()
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(label.read_bytes()[:40])
    assert_clean_error(
        run(tiny_package, "--label", truncated, "--style", style, "-o", out), f"{truncated}: not a readable image"
    )
    assert_clean_error(
        run(tmp_path / "nopkg", "--label", label, "--style", style, "-o", out),
        f"package folder {tmp_path / 'nopkg'} does not exist",
    )
    lonely = tmp_path / "styles"
    lonely.mkdir()
    (lonely / "other.png").write_bytes(style.read_bytes())
    assert_clean_error(
        run(tiny_package, "--label", data / "labels", "--style", lonely, "-o", tmp_path / "o"),
        f"no style image named 00000.* in {lonely}",
    )
    small = tmp_path / "small.png"
    write_png(small, np.zeros((32, 32, 3), np.uint8))
    assert_clean_error(
        run(tiny_package, "--label", label, "--style", small, "--style-label", label, "-o", out),
        f"image {small} is 32x32 but its label map {label} is 64x64",
    )
    zero_threads = run(tiny_package, "--label", label, "--style", style, "--threads", "0", "-o", out)
    assert zero_threads.exit_code == 2 and "--threads" in zero_threads.output and not out.exists()


def test_threads_option_runs_with_that_many_onnx_runtime_threads(tiny_package, data, synth, tmp_path):
    out = tmp_path / "one-thread.png"
    label, style = data / "labels/00001.png", data / "images/00001.png"
    result = run(tiny_package, "--label", label, "--style", style, "--seed", 5, "--threads", 1, "-o", out)
    assert result.exit_code == 0, result.output
    expected = synth.synthesize(label, synth.encode(style, label), seed=5)[0].astype(int)
    assert np.abs(read_rgb(out).astype(int) - expected).max() <= 1  # thread count changes float rounding only


@pytest.mark.slow
def test_precision_bf16_runs_openvino_and_says_what_the_cpu_executes(tiny_package, data, synth, tmp_path):
    pytest.importorskip("openvino", reason=OPENVINO_MISSING)
    out = tmp_path / "bf16.png"
    label, style = data / "labels/00001.png", data / "images/00001.png"
    result = run(tiny_package, "--label", label, "--style", style, "--seed", 5, "--precision", "bf16", "-o", out)
    assert result.exit_code == 0, result.output
    with Synthesizer.load(tiny_package, precision_hint="bf16") as bf16:
        executes = bf16.backend.execution_precision
        expected = bf16.synthesize(label, bf16.encode(style, label), seed=5)[0]
    assert "backend: openvino (OpenVINO" in result.output and f"executes {executes}" in result.output
    assert "OpenVINO chosen: precision bf16" in result.output
    np.testing.assert_array_equal(read_rgb(out), expected)
    fp32 = synth.synthesize(label, synth.encode(style, label), seed=5)[0].astype(int)
    assert np.abs(read_rgb(out).astype(int) - fp32).mean() < 4  # bf16 rounding, not another image
    refused = run(tiny_package, "--label", label, "--style", style, "--precision", "bf16", "--backend", "onnxruntime",
                  "-o", tmp_path / "no.png")
    assert_clean_error(refused, "precision bf16 is an OpenVINO precision hint: choose backend 'openvino'")
    remote = run("--url", "http://127.0.0.1:9", "--label", label, "--style", style, "--precision", "bf16",
                 "-o", tmp_path / "no.png")
    assert remote.exit_code == 2 and "--precision is for a local PACKAGE" in remote.output
    for option in (["--threads", "1"], ["--backend", "tensorrt"]):  # were accepted and ignored
        remote = run("--triton", "http://127.0.0.1:9", "--label", label, "--style", style, *option,
                     "-o", tmp_path / "no.png")
        assert remote.exit_code == 2 and "--backend and --threads are for a local PACKAGE" in remote.output
    garbage = run(tiny_package, "--label", label, "--style", style, "--precision", "fp64", "-o", tmp_path / "no.png")
    assert garbage.exit_code == 2 and "Invalid value for '--precision'" in garbage.output
    assert not (tmp_path / "no.png").exists()


@pytest.mark.slow
def test_fallback_error_names_the_class_the_reference_lacks(tiny_package, data, synth, tmp_path):
    styles = synth.encode(
        [data / f"images/0000{i}.png" for i in range(4)], [data / f"labels/0000{i}.png" for i in range(4)]
    )
    lacking = [(i, name) for i in range(4) for k, name in enumerate(synth.class_names) if not styles.present[i, k]]
    assert lacking, "every sample shows every class; pick other samples"
    index, name = lacking[0]
    reference = f"{data / f'images/0000{index}.png'}"
    args = ["--label", data / "labels/00000.png", "--style", data / "images/00000.png", "--swap", f"{name}={reference}"]
    assert_clean_error(
        run(tiny_package, *args, "--fallback", "error", "-o", tmp_path / "f.png"),
        f"cannot swap: the reference style lacks class(es) ['{name}']",
    )
    assert run(tiny_package, *args, "--fallback", "mean", "-o", tmp_path / "f.png").exit_code == 0
