"""`sean synth` on a folder of hundreds of label maps: planned in time linear in the files, a stop says what
was written and how to finish, and a rerun can continue where a stop left off."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import sean_runtime.commands.synth as synth_module
from sean_core.cli import main
from sean_core.errors import BackendError
from sean_runtime.synthesizer import Synthesizer


def copies(shapes_split: Path, folder: Path, count: int) -> Path:
    """A prepared split of `count` samples, copies of the 4 of shapes_split (labels/, images/)."""
    for kind in ("labels", "images"):
        (folder / kind).mkdir(parents=True)
        for i in range(count):
            shutil.copyfile(shapes_split / kind / f"0000{i % 4}.png", folder / kind / f"{i:04d}.png")
    return folder


def test_planning_a_folder_run_lists_each_folder_once_and_resolves_each_path_about_once(
    shapes_split, tmp_path, monkeypatch
):
    """400 labels took 40 s to plan: the style folder was listed once a label, and every input resolved
    and compared once an output (quadratic in the files)."""
    count = 60
    data = copies(shapes_split, tmp_path / "data", count)
    listed, resolves = [], []
    image_files, resolve = synth_module._image_files, Path.resolve
    monkeypatch.setattr(synth_module, "_image_files", lambda folder: listed.append(folder) or image_files(folder))
    monkeypatch.setattr(Path, "resolve", lambda path, *a, **k: resolves.append(path) or resolve(path, *a, **k))
    jobs = synth_module.plan_jobs(data / "labels", data / "images", data / "labels")
    inputs = [path for job in jobs for path in (job.label, job.style, job.style_label)]
    outputs = synth_module.plan_outputs(tmp_path / "out", jobs, False, inputs, False)
    assert outputs == [tmp_path / "out" / f"{i:04d}.png" for i in range(count)]
    assert sorted(listed) == [data / "images", data / "labels", data / "labels"]
    assert len(resolves) <= 6 * count, len(resolves)  # quadratic: about 3 * count * count


def run(*args):
    return CliRunner().invoke(main, ["synth", *map(str, args)])


def error_line(result) -> str:
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    return line


@pytest.mark.slow
def test_a_stopped_folder_run_says_what_is_written_and_continues_with_skip_existing(
    tiny_package, shapes_split, tmp_path, monkeypatch
):
    """Ctrl-C after 3 of 6 images: "Aborted!" said nothing, and a rerun refused the first image (without
    --force, which wrote all 6 again)."""
    data = copies(shapes_split, tmp_path / "data", 6)
    args = [tiny_package, "--label", data / "labels", "--style", data / "images", "--fallback", "mean"]
    whole = run(*args, "-o", tmp_path / "whole")
    assert whole.exit_code == 0, whole.output
    synthesize, calls = synth_module.Synthesizer.synthesize, []

    def stopped_at_the_fourth(self, *a, **k):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt  # as Ctrl-C, or SIGTERM through stopped_on_sigterm
        return synthesize(self, *a, **k)

    out = tmp_path / "out"
    with monkeypatch.context() as patch:
        patch.setattr(synth_module.Synthesizer, "load", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
        early = run(*args, "-o", out)
    assert early.exit_code == 1 and (f"Error: synth stopped (Ctrl-C or a termination signal) before writing an "
                                     f"image; nothing was written to {out}") in early.output
    with monkeypatch.context() as patch:
        patch.setattr(synth_module.Synthesizer, "synthesize", stopped_at_the_fourth)
        stopped = run(*args, "-o", out)
    assert stopped.exit_code == 1
    assert (f"Error: synth stopped (Ctrl-C or a termination signal) with 3 of 6 images written ({out / '*.png'}), "
            "each whole; run the same command with --skip-existing to write the other 3") in stopped.output
    assert sorted(p.name for p in out.iterdir()) == ["0000.png", "0001.png", "0002.png"]  # no temporary file
    again = run(*args, "-o", out)
    assert again.exit_code == 1 and "pass --skip-existing to write only the images not written yet" in again.output
    continued = run(*args, "--skip-existing", "-o", out)
    assert continued.exit_code == 0, continued.output
    assert f"wrote 3 image(s): {out / '*.png'}; 3 that existed left as they were" in continued.output
    for name in sorted(p.name for p in (tmp_path / "whole").iterdir()):  # the mean style is of all 6
        assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
    assert "nothing to write: all 6 image(s) exist" in run(*args, "--skip-existing", "-o", out).output
    both = run(*args, "--skip-existing", "--force", "-o", out)
    assert both.exit_code == 2 and "pass one" in both.output


@pytest.mark.parametrize("where", ["plan_jobs", "plan_outputs"])
def test_a_stop_while_a_folder_run_plans_says_the_one_line_of_a_stop(shapes_split, tmp_path, monkeypatch, where):
    """Ctrl-C while the files of a folder run were listed and checked printed click's "Aborted!"."""
    data = copies(shapes_split, tmp_path / "data", 3)
    monkeypatch.setattr(synth_module, where, lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    out = tmp_path / "out"
    result = run(tmp_path / "package", "--label", data / "labels", "--style", data / "images", "-o", out)
    assert error_line(result) == (f"Error: synth stopped (Ctrl-C or a termination signal) before writing an image; "
                                  f"nothing was written to {out}")
    assert "Aborted" not in result.output and not out.exists()


def test_an_error_after_images_were_written_says_how_to_continue(shapes_package, shapes_split, tmp_path, monkeypatch):
    """A server that went away after 2 of 4 images: the error said nothing of the 2 written, nor of
    --skip-existing."""
    data = copies(shapes_split, tmp_path / "data", 4)
    synthesize, calls = synth_module.Synthesizer.synthesize, []

    def gone_at_the_third(self, *a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise BackendError("cannot reach http://127.0.0.1:8000: Connection refused; is `sean serve` running there?")
        return synthesize(self, *a, **k)

    monkeypatch.setattr(synth_module.Synthesizer, "synthesize", gone_at_the_third)
    out = tmp_path / "out"
    line = error_line(run(shapes_package, "--label", data / "labels", "--style", data / "images", "-o", out))
    assert line == ("Error: cannot reach http://127.0.0.1:8000: Connection refused; is `sean serve` running there?; "
                    f"2 of 4 images written ({out / '*.png'}), each whole; run the same command with --skip-existing "
                    "to write the other 2")
    assert sorted(p.name for p in out.iterdir()) == ["0000.png", "0001.png"]


def test_a_name_two_files_share_is_refused_and_any_other_name_is_kept(shapes_split, tmp_path):
    """Style images a b.png and a b.jpg for the label a b.png: the first by name was taken without a word."""
    data = tmp_path / "data"
    for kind in ("labels", "images"):
        (data / kind).mkdir(parents=True)
        for i, name in enumerate(("a b", "ñandú 猫", "x.y")):  # spaces, non-ASCII, a dot in the stem
            shutil.copyfile(shapes_split / kind / f"0000{i}.png", data / kind / f"{name}.png")
    jobs = synth_module.plan_jobs(data / "labels", data / "images", None)
    assert [(job.style.name, job.style_label.name) for job in jobs] == [
        ("a b.png", "a b.png"), ("x.y.png", "x.y.png"), ("ñandú 猫.png", "ñandú 猫.png")]
    outputs = synth_module.plan_outputs(tmp_path / "out", jobs, False, [], False)
    assert [path.name for path in outputs] == ["a b.png", "x.y.png", "ñandú 猫.png"]
    shutil.copyfile(shapes_split / "images/00003.png", data / "images/a b.jpg")
    line = error_line(run("pkg", "--label", data / "labels", "--style", data / "images", "-o", tmp_path / "o"))
    assert line == (f"Error: 2 files named a b.* in {data / 'images'} (a b.jpg, a b.png): files are matched by name "
                    "without extension, so keep one style image of that name")
    (data / "images/a b.jpg").rename(data / "labels/a b.jpg")  # two label maps, one output name
    line = error_line(run("pkg", "--label", data / "labels", "--style", data / "images", "-o", tmp_path / "o"))
    assert f"two label maps would both write {tmp_path / 'o' / 'a b.png'}" in line
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_a_folder_run_encodes_each_style_as_it_is_encoded_alone(shapes_package, shapes_split, tmp_path, monkeypatch):
    """The codes of a batch differ from an image's own in the last bits (the shipped shapes model on ONNX
    Runtime; not the tiny one), so a folder run's images differed (by 1 of 255, 63 of 400 images) from the
    same image synthesized alone."""
    data = copies(shapes_split, tmp_path / "data", 4)
    given = []
    synthesize = synth_module.Synthesizer.synthesize

    def recording(self, label, styles, **options):
        given.append(styles)
        return synthesize(self, label, styles, **options)

    monkeypatch.setattr(synth_module.Synthesizer, "synthesize", recording)
    result = run(shapes_package, "--label", data / "labels", "--style", data / "images", "--backend", "onnxruntime",
                 "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert len(given) == 4
    with Synthesizer.load(shapes_package, backend="onnxruntime") as synth:
        for i, styles in enumerate(given):
            alone = synth.encode(data / f"images/{i:04d}.png", data / f"labels/{i:04d}.png")
            np.testing.assert_array_equal(styles.codes, alone.codes)


def test_a_continued_run_encodes_only_the_styles_of_the_images_it_writes(tiny_package, shapes_split, tmp_path,
                                                                         monkeypatch):
    """Without --fallback mean no image's style depends on another's: the images that exist cost no encoder
    call, and the images written equal an uninterrupted run's."""
    data = copies(shapes_split, tmp_path / "data", 6)
    args = [tiny_package, "--label", data / "labels", "--style", data / "images"]
    assert run(*args, "-o", tmp_path / "whole").exit_code == 0
    out = tmp_path / "out"
    out.mkdir()
    for name in ("0000.png", "0003.png", "0004.png"):
        shutil.copyfile(tmp_path / "whole" / name, out / name)
    encode, encoded = synth_module.Synthesizer.encode, []
    monkeypatch.setattr(synth_module.Synthesizer, "encode",
                        lambda self, image, *a, **k: encoded.append(Path(image).name) or encode(self, image, *a, **k))
    continued = run(*args, "--skip-existing", "-o", out)
    assert continued.exit_code == 0, continued.output
    assert encoded == ["0001.png", "0002.png", "0005.png"]
    for name in ("0001.png", "0002.png", "0005.png"):
        assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
