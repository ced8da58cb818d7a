"""`sean synth` never encodes a style under another image's label, never overwrites its inputs (nor,
without --force, its outputs), and says in one line why an -o cannot be written."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import sean_runtime.commands.synth as synth_module
from sean_core.cli import main
from sean_core.domains import get_domain
from sean_core.imageio import read_rgb, write_png
from sean_runtime.synthesizer import Synthesizer
from tests.helpers import symlink_loop

REPO = Path(__file__).resolve().parents[1]

SHAPES = get_domain("shapes")


def run(*args):
    return CliRunner().invoke(main, ["synth", *map(str, args)])


def error_line(result, code: int = 1) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, result.output
    return lines[0]


def test_one_style_image_for_a_folder_of_labels_is_encoded_under_its_own_label(
    tiny_package, shapes_split, tiny_synth, tmp_path
):
    out = tmp_path / "out"
    style, own = shapes_split / "images/00000.png", shapes_split / "labels/00000.png"
    result = run(tiny_package, "--label", shapes_split / "labels", "--style", style, "--no-noise", "-o", out)
    assert result.exit_code == 0, result.output
    right = tiny_synth.encode(style, own)  # its own label, found in the prepared layout
    for i in range(4):
        expected = tiny_synth.synthesize(shapes_split / f"labels/0000{i}.png", right, noise=False)[0]
        np.testing.assert_array_equal(read_rgb(out / f"0000{i}.png"), expected)
    other = shapes_split / "labels/00001.png"
    wrong = tiny_synth.synthesize(other, tiny_synth.encode(style, other), noise=False)  # what it did before
    assert not np.array_equal(read_rgb(out / "00001.png"), wrong[0])


def test_a_style_image_without_a_label_of_its_own_is_refused(tiny_package, shapes_split, tmp_path):
    style = tmp_path / "photo.png"
    style.write_bytes((shapes_split / "images/00002.png").read_bytes())
    label = shapes_split / "labels/00000.png"
    line = error_line(run(tiny_package, "--label", label, "--style", style, "-o", tmp_path / "o.png"))
    assert f"--style {style}: no label map of its own" in line and "--style-label" in line
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("force", [False, True])
def test_an_output_that_is_an_input_is_refused_even_with_force(tiny_package, shapes_split, tmp_path, force):
    label, style = shapes_split / "labels/00000.png", shapes_split / "images/00000.png"
    before = {p: p.read_bytes() for p in (shapes_split / "labels").iterdir()}
    extra = ["--force"] if force else []
    line = error_line(run(tiny_package, "--label", label, "--style", style, *extra, "-o", label))
    assert f"would overwrite the input {label}" in line
    line = error_line(run(tiny_package, "--label", shapes_split / "labels", "--style", shapes_split / "images", *extra,
                          "-o", shapes_split / "labels"))  # fmt: skip
    assert "would overwrite the input" in line
    line = error_line(run(tiny_package, "--label", label, "--style", style, *extra, "-o", style))
    assert f"would overwrite the input {style}" in line
    assert {p: p.read_bytes() for p in (shapes_split / "labels").iterdir()} == before


def test_an_existing_output_is_replaced_only_with_force(tiny_package, shapes_split, tmp_path):
    label, style = shapes_split / "labels/00001.png", shapes_split / "images/00001.png"
    out = tmp_path / "out.png"
    out.write_bytes(b"keep me")
    line = error_line(run(tiny_package, "--label", label, "--style", style, "-o", out))
    assert f"{out} exists; pass --force to overwrite it" in line
    assert out.read_bytes() == b"keep me"
    assert run(tiny_package, "--label", label, "--style", style, "--force", "-o", out).exit_code == 0
    assert read_rgb(out).shape == (64, 64, 3)


def test_an_output_file_that_is_a_symbolic_link_is_written_through_and_the_link_kept(
    tiny_package, shapes_split, tmp_path
):
    # `sean synth -o link.png --force` swapped the link for a file and left its target as it was
    label, style = shapes_split / "labels/00001.png", shapes_split / "images/00001.png"
    (tmp_path / "kept").mkdir()
    target, link = tmp_path / "kept" / "out.png", tmp_path / "link.png"
    target.write_bytes(b"earlier")
    link.symlink_to(target)
    line = error_line(run(tiny_package, "--label", label, "--style", style, "-o", link))
    assert f"{link} exists; pass --force to overwrite it" in line
    assert run(tiny_package, "--label", label, "--style", style, "--force", "-o", link).exit_code == 0
    assert link.is_symlink() and link.resolve() == target
    assert read_rgb(target).shape == (64, 64, 3)
    assert [p.name for p in (tmp_path / "kept").iterdir()] == ["out.png"]  # no temporary file left beside it
    label_link = tmp_path / "label-link.png"  # a link to an input stays refused, even with --force
    label_link.symlink_to(label)
    line = error_line(run(tiny_package, "--label", label, "--style", style, "--force", "-o", label_link))
    assert "would overwrite the input" in line


def test_outputs_that_cannot_be_written_are_named_in_one_line(tiny_package, shapes_split, tmp_path):
    label, style = shapes_split / "labels/00000.png", shapes_split / "images/00000.png"
    args = [tiny_package, "--label", label, "--style", style]
    assert "cannot write .gif images" in error_line(run(*args, "-o", tmp_path / "out.gif"))
    assert not (tmp_path / "out.gif").exists()
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    assert f"{a_file / 'o.png'} cannot be written: {a_file} is not a folder" in error_line(
        run(*args, "-o", a_file / "o.png")
    )
    proc = error_line(run(*args, "-o", "/proc/out.png"))
    assert "/proc/out.png cannot be written: no file can be created in /proc" in proc
    several = ["--label", shapes_split / "labels", "--style", shapes_split / "images"]
    assert "names an image file, but --label is a folder" in error_line(
        run(tiny_package, *several, "-o", tmp_path / "many.png")
    )
    assert "is a file, but --label is a folder" in error_line(run(tiny_package, *several, "-o", a_file))
    folder = tmp_path / "existing.png"  # an existing folder is a folder, whatever its name
    folder.mkdir()
    assert run(*args, "-o", folder).exit_code == 0
    assert (folder / "00000.png").is_file()


@pytest.mark.slow
def test_backend_notes_only_with_verbose(tiny_package, shapes_split, tmp_path):
    label, style = shapes_split / "labels/00000.png", shapes_split / "images/00000.png"
    synth = Synthesizer.load(tiny_package)
    if not synth.notes:
        pytest.skip("this machine passes over no backend (TensorRT is usable here)")
    quiet = run(tiny_package, "--label", label, "--style", style, "-o", tmp_path / "a.png")
    assert quiet.exit_code == 0 and synth.notes[0] not in quiet.output and "backend:" in quiet.output
    verbose = run(tiny_package, "--label", label, "--style", style, "--verbose", "-o", tmp_path / "b.png")
    assert verbose.exit_code == 0 and synth.notes[0] in verbose.output


# --- symbolic link loops, inputs checked before any output, outputs created exclusively -------------

def test_symbolic_link_loops_anywhere_are_one_line(tiny_package, shapes_split, tmp_path):
    """-o, a package file, a --swap image and a file of a --label folder that loop (a RuntimeError
    traceback from Path.resolve before, or a file skipped without a word)."""
    label, style = shapes_split / "labels/00000.png", shapes_split / "images/00000.png"
    loop = symlink_loop(tmp_path / "loop.png")
    assert f"{loop} is a loop of symbolic links" in error_line(run(tiny_package, "--label", label, "--style", style,
                                                                    "-o", loop))
    line = error_line(run(tiny_package, "--label", label, "--style", style, "--swap", f"blob={loop}",
                          "-o", tmp_path / "o.png"), code=2)  # a --swap that names no file: a usage error
    assert f"image {loop} is a loop of symbolic links" in line
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "00000.png").write_bytes(label.read_bytes())
    symlink_loop(labels / "00001.png")
    line = error_line(run(tiny_package, "--label", labels, "--style", style, "--style-label", label,
                          "-o", tmp_path / "out"))
    assert f"{labels / '00001.png'} is a loop of symbolic links" in line
    package = shutil.copytree(tiny_package, tmp_path / "pkg")
    (package / "encoder.onnx").unlink()
    symlink_loop(package / "encoder.onnx")
    line = error_line(run(package, "--label", label, "--style", style, "-o", tmp_path / "p.png"))
    assert "encoder.onnx is a loop of symbolic links" in line
    assert not (tmp_path / "out").exists() and not (tmp_path / "o.png").exists() and not (tmp_path / "p.png").exists()


def test_paths_the_os_cannot_look_up_are_one_short_line(tiny_package, shapes_split, tmp_path):
    """A name over the OS's limit (ENAMETOOLONG from Path.is_dir / is_file: tracebacks before)."""
    label, style = shapes_split / "labels/00000.png", shapes_split / "images/00000.png"
    long = tmp_path / ("a" * 300) / ("b" * 5000 + ".png")
    for extra in (["-o", long], ["--swap", f"blob={long}", "-o", tmp_path / "o.png"]):
        line = error_line(run(tiny_package, "--label", label, "--style", style, *extra))
        assert line.endswith(f"({len(str(long))} characters): File name too long") and len(line) < 300


def test_a_corrupt_label_map_stops_a_folder_run_before_any_output(tiny_package, shapes_split, tmp_path):
    """labels/00000.png good, labels/00001.png corrupt: out/00000.png was written before the error."""
    labels = tmp_path / "labels"
    labels.mkdir()
    good = shapes_split / "labels/00000.png"
    (labels / "00000.png").write_bytes(good.read_bytes())
    (labels / "00001.png").write_bytes(good.read_bytes()[:100])
    out = tmp_path / "out"
    line = error_line(run(tiny_package, "--label", labels, "--style", shapes_split / "images/00000.png",
                          "--style-label", good, "-o", out))
    assert "00001.png: not a readable image" in line
    assert not out.exists() or not any(out.iterdir())
    ids = np.full((64, 64), 200, np.uint8)  # readable, but class 200 of a package with 8
    write_png(labels / "00001.png", ids)
    line = error_line(run(tiny_package, "--label", labels, "--style", shapes_split / "images/00000.png",
                          "--style-label", good, "-o", out))
    assert "00001.png" in line and "200" in line
    assert not out.exists() or not any(out.iterdir())


def test_an_output_made_by_another_run_meanwhile_is_not_replaced(tiny_package, shapes_split, tmp_path, monkeypatch):
    """The file appears after -o was checked (as when another run writes it first): without --force this
    run says it exists and leaves the other run's file; with --force it replaces it."""
    label, style = shapes_split / "labels/00000.png", shapes_split / "images/00000.png"
    out = tmp_path / "new.png"
    load = synth_module.Synthesizer.load

    def load_while_another_run_writes(*args, **kwargs):
        out.write_bytes(b"the other run's image")
        return load(*args, **kwargs)

    monkeypatch.setattr(synth_module.Synthesizer, "load", load_while_another_run_writes)
    line = error_line(run(tiny_package, "--label", label, "--style", style, "-o", out))
    assert f"{out} exists; pass --force to overwrite it" in line
    assert out.read_bytes() == b"the other run's image"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.png"]  # no temporary file left
    assert run(tiny_package, "--label", label, "--style", style, "--force", "-o", out).exit_code == 0
    assert read_rgb(out).shape == (64, 64, 3)


@pytest.mark.slow
def test_of_four_runs_writing_one_new_file_at_once_exactly_one_writes_it(tiny_package, shapes_split, tmp_path):
    """Four `sean synth ... -o new.png` started together (all exited 0 before, three replacing the file)."""
    out = tmp_path / "new.png"
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "sean_core.cli", "synth", str(tiny_package), "--label",
             str(shapes_split / f"labels/0000{i}.png"), "--style", str(shapes_split / f"images/0000{i}.png"),
             "--no-noise", "-o", str(out)],
            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(4)
    ]
    outputs = [(proc.wait(timeout=120), proc.stdout.read()) for proc in runs]
    winners = [i for i, (code, _) in enumerate(outputs) if code == 0]
    assert len(winners) == 1, outputs
    for code, text in outputs:
        assert code == 0 or (code == 1 and f"Error: {out} exists; pass --force" in text), text
    synth = Synthesizer.load(tiny_package)
    i = winners[0]
    label, style = shapes_split / f"labels/0000{i}.png", shapes_split / f"images/0000{i}.png"
    expected = synth.synthesize(label, synth.encode(style, label), noise=False)[0]
    np.testing.assert_array_equal(read_rgb(out), expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.png"]
