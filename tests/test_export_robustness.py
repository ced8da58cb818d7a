"""Checkpoints with wrong types, no hash or NaN weights; unsafe pickles; run folders as export sources;
exports racing into one folder; and work folders left by killed exports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import click
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file, save_file

from sean_core.cli import main
from sean_core.files import clean_work_folders, move_into_place, sha256_file
from sean_export.package import check_destination
from sean_train.checkpoint import CONFIG_FILE, WEIGHTS_FILE, CheckpointError, load_checkpoint, read_config

REPO = Path(__file__).resolve().parents[1]


def sean(*args):
    return CliRunner().invoke(main, [*map(str, args)])


def error_line(result) -> str:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


@pytest.fixture
def ckpt(tmp_path, tiny_export_checkpoint) -> Path:
    return shutil.copytree(tiny_export_checkpoint, tmp_path / "ckpt")


def edit_config(ckpt: Path, edit) -> None:
    meta = json.loads((ckpt / CONFIG_FILE).read_text())
    edit(meta)
    (ckpt / CONFIG_FILE).write_text(json.dumps(meta))


# --- checkpoint folders ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m.update(format_version="1"), "format_version is '1', not a positive integer"),
        (lambda m: m.update(format_version=True), "format_version is True, not a positive integer"),
        (lambda m: m["model"].update(height=64.0), "height must be an integer, got 64.0"),
        (lambda m: m["model"].update(ngf=8.5), "ngf must be an integer, got 8.5"),
        (lambda m: m["model"].update(class_names="abcdefgh"), "class_names must be a list of strings, got 'abcdefgh'"),
        (lambda m: m.update(model=[1, 2]), 'has no "model" section'),
        (lambda m: m.update(weights_sha256=12), "weights_sha256 is 12, not a sha256 hex digest"),
    ],
)
def test_checkpoint_config_values_are_type_checked(ckpt, edit, message):
    edit_config(ckpt, edit)
    with pytest.raises(CheckpointError, match=message.replace("(", r"\(")) as caught:
        read_config(ckpt)
    assert "\n" not in str(caught.value)


def test_a_class_names_string_is_refused_by_export_not_split_into_letters(ckpt, tmp_path):
    edit_config(ckpt, lambda m: m["model"].update(class_names="abcdefgh"))
    assert "class_names must be a list of strings" in error_line(sean("export", ckpt, "-o", tmp_path / "pkg"))
    assert not (tmp_path / "pkg").exists()


def flip_byte(path: Path, offset: int = -100) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_checkpoint_without_its_hash_is_refused_unless_unverified_is_asked_for(ckpt, tmp_path):
    edit_config(ckpt, lambda m: m.pop("weights_sha256"))
    flip_byte(ckpt / WEIGHTS_FILE)
    with pytest.raises(CheckpointError, match=r"records no weights_sha256, so model\.safetensors cannot be verified"):
        load_checkpoint(ckpt)
    assert load_checkpoint(ckpt, verify_hash=False) is not None  # the caller vouches for the file
    line = error_line(sean("export", ckpt, "-o", tmp_path / "pkg"))
    assert "records no weights_sha256" in line and "--no-verify" in line
    line = error_line(sean("eval", ckpt, "--limit", "2", "--batch-size", "2", "--quiet"))
    assert "records no weights_sha256" in line and "--no-verify" in line
    unverified = sean("eval", ckpt, "--limit", "2", "--batch-size", "2", "--quiet", "--no-verify",
                      "--json", tmp_path / "eval.json")
    assert unverified.exit_code == 0 and "PSNR" in unverified.output, unverified.output


def test_a_checkpoint_with_a_nan_weight_is_refused_by_load_export_and_eval(ckpt, tmp_path):
    state = load_file(str(ckpt / WEIGHTS_FILE))
    key = sorted(k for k in state if k.endswith("conv_img.weight"))[0]
    state[key][0, 0, 0, 0] = float("nan")
    save_file(state, str(ckpt / WEIGHTS_FILE))
    edit_config(ckpt, lambda m: m.update(weights_sha256=sha256_file(ckpt / WEIGHTS_FILE)))
    with pytest.raises(CheckpointError, match=rf"1 tensor\(s\) hold NaN or infinite values \({key}\)"):
        load_checkpoint(ckpt)
    assert "hold NaN or infinite values" in error_line(sean("export", ckpt, "--no-validate", "-o", tmp_path / "pkg"))
    assert "hold NaN or infinite values" in error_line(sean("eval", ckpt, "--limit", "2"))


def test_a_pickle_with_code_is_one_line_that_never_suggests_unsafe_loading(tmp_path):
    class Payload:
        def __reduce__(self):
            return (os.system, ("echo never run",))

    path = tmp_path / "latest_net_G.pth"
    torch.save({"fc.weight": torch.zeros(2, 2), "evil": Payload()}, str(path))
    line = error_line(sean("convert-official", path, "-o", tmp_path / "out"))
    assert "is not a plain state dict of tensors (it refers to posix.system)" in line
    assert "weights_only" not in line and not (tmp_path / "out").exists()


# --- run folders ------------------------------------------------------------------------------------

def fake_run(root: Path, checkpoint: Path, steps: tuple[int, ...], best: int) -> Path:
    """A run folder as `sean train` leaves it: checkpoints/step_N (model checkpoint + training.json), best.json."""
    for step in steps:
        folder = shutil.copytree(checkpoint, root / "checkpoints" / f"step_{step:08d}")
        (folder / "training.json").write_text(json.dumps({"format": "sean-training-state", "step": step}))
    (root / "best.json").write_text(json.dumps({"step": best, "metric": "val_psnr_db", "value": 20.0}))
    return root


def test_export_takes_a_run_folder_its_latest_or_best_checkpoint(ckpt, tmp_path):
    run = fake_run(tmp_path / "runs" / "x", ckpt, (2, 4), best=2)
    not_a_package = tmp_path / "occupied"
    (not_a_package / "something").mkdir(parents=True)  # refused after the run folder is resolved
    latest = sean("export", run, "-o", not_a_package)
    assert f"exporting {run / 'checkpoints' / 'step_00000004'}" in latest.output
    assert "is not a SEAN package" in error_line(latest)
    # --which, as eval, inspect and publish spell it (export alone took --best, which still works)
    for flags in (("--which", "best"), ("--best",)):
        best = sean("export", run, *flags, "-o", not_a_package)
        assert f"exporting {run / 'checkpoints' / 'step_00000002'}" in best.output
    (run / "best.json").unlink()
    line = error_line(sean("export", run, "--which", "best", "-o", tmp_path / "pkg"))
    assert line.endswith("has no best.json yet (no checkpoint was scored); use the latest checkpoint (--which latest, "
                         "the default)")  # it named no option


@pytest.mark.slow
def test_a_run_folder_exports_to_a_package_of_its_latest_checkpoint(ckpt, tmp_path):
    run = fake_run(tmp_path / "runs" / "x", ckpt, (2, 4), best=2)
    result = sean("export", run, "--no-validate", "-q", "-o", tmp_path / "pkg")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "pkg" / "manifest.json").read_text())
    assert manifest["source_checkpoint"]["path"] == str((run / "checkpoints" / "step_00000004").resolve())


def test_export_destinations_that_cannot_be_written_are_one_line(ckpt, tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    line = error_line(sean("export", ckpt, "-o", a_file / "pkg"))
    assert f"cannot write {a_file / 'pkg'}: {a_file} is a file" in line
    assert "-o /proc/pkg cannot be written" in error_line(sean("export", ckpt, "--no-validate", "-o", "/proc/pkg"))


# --- exports racing, and exports killed -------------------------------------------------------------

def package_folder(root: Path, tag: str) -> Path:
    root.mkdir(parents=True)
    (root / "manifest.json").write_text(json.dumps({"format": "sean-package", "tag": tag}))
    return root


def test_exports_moving_packages_into_one_place_at_once_all_finish(tmp_path):
    """Two threads publish 40 packages each to one -o as fast as they can (without the lock, 20 of 100
    forced collisions failed with ENOTEMPTY)."""
    out, problems = tmp_path / "pkg", []

    def publish_many(worker: int) -> None:
        for i in range(40):
            build = package_folder(tmp_path / f".pkg.build.{os.getpid()}.{worker}-{i}", f"{worker}-{i}")
            try:
                move_into_place(build, out, check=lambda: check_destination(out))  # as export_package does
            except Exception as exc:  # any failure is what this test looks for
                problems.append(repr(exc))

    threads = [threading.Thread(target=publish_many, args=(w,)) for w in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not problems, problems[:3]
    assert json.loads((out / "manifest.json").read_text())["tag"] in {"0-39", "1-39"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg"]  # every earlier package was deleted


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_work_folders_of_dead_exports_are_removed_and_live_ones_kept(tmp_path):
    out = tmp_path / "pkg"
    dead, alive = dead_pid(), os.getpid()
    stale = package_folder(tmp_path / f".pkg.build.{dead}.abc123", "half-built")
    running = package_folder(tmp_path / f".pkg.build.{alive}.def456", "in progress")
    other = package_folder(tmp_path / f".other.build.{dead}.x", "another destination")
    swapped = package_folder(tmp_path / f".pkg.old.{dead}.ghi789", "the previous package")
    clean_work_folders(out)
    assert not stale.exists() and running.exists() and other.exists()
    assert not swapped.exists() and json.loads((out / "manifest.json").read_text())["tag"] == "the previous package"
    package_folder(tmp_path / f".pkg.old.{dead}.jkl", "older")
    clean_work_folders(out)  # `out` exists now: the swapped-out copy is only deleted
    assert json.loads((out / "manifest.json").read_text())["tag"] == "the previous package"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["pkg", running.name, other.name])


@pytest.mark.slow
def test_an_export_killed_with_sigkill_leaves_nothing_after_the_next_export(ckpt, tmp_path):
    out = tmp_path / "pkg"
    cmd = [sys.executable, "-m", "sean_core.cli", "export", str(ckpt), "-o", str(out), "-q"]
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.time() + 120
    while time.time() < deadline and not any(p.name.startswith(".pkg.build.") for p in tmp_path.iterdir()):
        assert proc.poll() is None, "the export ended before it could be killed"
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".pkg.build.")], "nothing to clean up"
    done = sean("export", ckpt, "--no-validate", "-q", "-o", out)
    assert done.exit_code == 0, done.output
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["ckpt", "pkg"])


@pytest.mark.parametrize("earlier", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_an_export_stopped_by_ctrl_c_says_so_in_one_line_and_leaves_no_half_package(ckpt, tmp_path, monkeypatch,
                                                                                    earlier):
    # it printed "Aborted!" alone, saying nothing of the package folder
    import sean_export.package

    out = tmp_path / "pkg"
    if earlier:
        assert sean("export", ckpt, "--no-validate", "-q", "-o", out).exit_code == 0
        before = {p.name: p.read_bytes() for p in out.iterdir()}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sean_export.package, "export_graph", interrupted)
    line = error_line(sean("export", ckpt, "-q", "-o", out))
    assert "export stopped (Ctrl-C or a termination signal) before the package was complete" in line
    if earlier:
        assert f"the earlier package in {out} is as it was" in line
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    else:
        assert f"nothing was written to {out}" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["ckpt", "pkg"] if earlier else ["ckpt"])


@pytest.mark.slow
def test_an_export_stopped_by_sigterm_removes_its_build_folder_and_says_so(ckpt, tmp_path):
    # `timeout 60 sean export ...` or a job scheduler's cancel ended it at once, leaving .pkg.build.PID.X
    out = tmp_path / "pkg"
    cmd = [sys.executable, "-m", "sean_core.cli", "export", str(ckpt), "-o", str(out), "-q"]
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not any(p.name.startswith(".pkg.build.") for p in tmp_path.iterdir()):
        assert proc.poll() is None, "the export ended before it could be stopped"
        time.sleep(0.05)
    proc.terminate()
    stderr = proc.communicate(timeout=60)[1]
    assert proc.returncode == 1, stderr
    assert stderr.strip().splitlines()[-1] == (
        f"Error: export stopped (Ctrl-C or a termination signal) before the package was complete; nothing was "
        f"written to {out}"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


# `sean export` killed at the exact point between moving the earlier package aside and moving the new one in
KILLED_EXPORT = """
import os, sys
from pathlib import Path
from sean_core import files
from sean_core.cli import main
checkpoint, out, point = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
rename = Path.rename
if point == "between the two renames":
    files.exchange = lambda a, b: False  # the fallback, as on an OS or file system without RENAME_EXCHANGE
    def killed_before_moving_in(self, target):
        if Path(target) == out and ".build." in self.name:
            os._exit(9)
        return rename(self, target)
    Path.rename = killed_before_moving_in
else:  # "after the exchange", before the earlier one is deleted
    exchange = files.exchange
    files.exchange = lambda a, b: exchange(a, b) and os._exit(9)
main(["export", checkpoint, "-o", str(out), "-q", "--no-validate"])
"""


@pytest.mark.slow
@pytest.mark.parametrize("point", ["between the two renames", "after the exchange"])
def test_an_export_killed_while_swapping_packages_leaves_one_that_loads(
    ckpt, tmp_path, shapes_split, tiny_package, point
):
    """Killed between the renames (the fallback), the earlier package sat in .pkg.old.* and synth / serve /
    Synthesizer.load failed until another export; now the next load puts it back. With the exchange
    there is no such moment: killed after it, the new package is in place."""
    from sean_runtime.synthesizer import Synthesizer

    out = shutil.copytree(tiny_package, tmp_path / "pkg")  # the earlier package, of the same weights
    (out / "earlier.txt").write_text("a file of the earlier package, which the manifest does not name")
    code = subprocess.run([sys.executable, "-c", KILLED_EXPORT, str(ckpt), str(out), point], cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}).returncode
    assert code == 9, "the export was not killed at that point"
    if point == "between the two renames":
        assert not out.exists()
        for name in ("serve", "build-engine", "export-triton"):  # their PACKAGE is left to load_package to check
            command = main.get_command(click.Context(main), name)
            assert command.params[0].type.convert(str(out), command.params[0], None) == out
    label, style = shapes_split / "labels/00000.png", shapes_split / "images/00000.png"
    with Synthesizer.load(out, backend="onnxruntime") as synth:
        assert synth.synthesize(label, synth.encode(style, label)).shape == (1, 64, 64, 3)
    assert (out / "earlier.txt").exists() == (point == "between the two renames")
    assert sean("export", ckpt, "--no-validate", "-q", "-o", out).exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["ckpt", "pkg"])


@pytest.mark.slow
def test_an_export_over_an_earlier_package_says_which_it_replaced(ckpt, tmp_path):
    # -o replaces an earlier package without --force, and said only "wrote PKG"
    out = tmp_path / "pkg"
    first = sean("export", ckpt, "--no-validate", "-q", "-o", out)
    assert first.exit_code == 0 and "replaced" not in first.output
    again = sean("export", ckpt, "--no-validate", "-q", "-o", out)
    assert again.exit_code == 0
    assert again.output.splitlines()[1] == "  replaced an earlier package of the same checkpoint"
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["source_checkpoint"]["sha256"] = "0" * 64  # as if exported from another model
    (out / "manifest.json").write_text(json.dumps(manifest))
    changed = sean("export", ckpt, "--no-validate", "-q", "-o", out)
    assert changed.exit_code == 0, changed.output
    assert changed.output.splitlines()[1] == f"  replaced an earlier package of {ckpt.resolve()}"
