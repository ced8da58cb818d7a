"""`sean synth` on a folder of hundreds of label maps: planned in time linear in the files, a stop says what
was written and how to finish, and a rerun can continue where a stop left off."""

from __future__ import annotations

import shutil
from pathlib import Path

import sean_runtime.commands.synth as synth_module


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
