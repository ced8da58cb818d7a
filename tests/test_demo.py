"""`sean demo`: the README's main job, torch-free in its own process, exporting only when needed."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

from sean_core.checkpoint_files import CONFIG_FILE, WEIGHTS_FILE
from sean_core.imageio import read_rgb
from sean_core.install import missing_module_message
from sean_runtime.commands.demo import SAMPLES, checkpoint_problem, package_matches, shipped_checkpoint
from tests.helpers import DEMO_OUTPUTS, write_package

OUTPUTS = (*DEMO_OUTPUTS, "swaps/blob.png", "swaps/ground.png", "swaps/blob+ground.png")  # a shapes model's


def run_demo_without_torch(*args: str) -> subprocess.CompletedProcess:
    """`sean demo ARGS` in a child whose own imports of torch fail (an export would run in a grandchild)."""
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["torch"] = None
        from sean_core.cli import main
        main({list(args)!r})
        """
    )
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)


def test_package_matches_only_an_intact_package_of_the_same_weights(tiny_package, tiny_export_checkpoint, tmp_path):
    copy = Path(shutil.copytree(tiny_package, tmp_path / "package"))
    assert package_matches(copy, Path(tiny_export_checkpoint))
    other = Path(shutil.copytree(tiny_export_checkpoint, tmp_path / "other"))
    (other / WEIGHTS_FILE).write_bytes((other / WEIGHTS_FILE).read_bytes() + b" ")
    assert not package_matches(copy, other)
    (copy / "encoder.onnx").write_bytes(b"damaged")
    assert not package_matches(copy, Path(tiny_export_checkpoint))
    assert not package_matches(tmp_path / "missing", Path(tiny_export_checkpoint))


@pytest.mark.slow
def test_demo_reuses_a_matching_package_and_never_imports_torch(tiny_package, tiny_export_checkpoint, tmp_path):
    out = tmp_path / "demo-out"
    shutil.copytree(tiny_package, out / "package")
    labels = out / "inputs" / "test" / "labels"
    stale = [out / "swaps" / "sky.png", out / "reconstructions" / "99.png", labels / "99.png"]
    kept = [out / "swaps" / "plan.txt", out / "inputs" / "notes.txt", labels / "out" / "a.png"]
    for path in stale + kept:  # what a demo of another model (landscapes) left, and what the user keeps there
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"another model's picture" if path in stale else b"mine")
    result = run_demo_without_torch("demo", "-o", str(out), "--checkpoint", str(tiny_export_checkpoint))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "already exported from this model" in result.stdout
    assert not any(path.exists() for path in stale)
    assert all(path.read_bytes() == b"mine" for path in kept)
    for name in OUTPUTS:
        assert (out / name).is_file(), name
    for step in ("reconstructions", "region swaps", "interpolation", "contact sheet"):
        assert f"  {step}: " in result.stdout  # each step prints its time
    assert str(out / "contact_sheet.png") in result.stdout
    check_inputs_and_synth_command(out, result.stdout)


def check_inputs_and_synth_command(out: Path, stdout: str) -> None:
    """OUT/inputs holds what `sean synth` reads in the shapes dataset layout, the demo prints a `sean synth`
    command that swaps a region's style between two of them (run as printed, twice, it gives what the
    Python API gives), and its last line is a `sean serve` command whose --samples folder the service reads."""
    from sean_core.cli import main
    from sean_core.imageio import read_raw
    from sean_runtime import Synthesizer
    from sean_runtime.serve.service import load_samples

    for i in range(SAMPLES):
        labels = read_raw(out / "inputs" / "test" / "labels" / f"{i:02d}.png")
        image = read_rgb(out / "inputs" / "test" / "images" / f"{i:02d}.png")
        assert labels.ndim == 2 and labels.dtype == np.uint8 and image.shape == (*labels.shape, 3)
    lines = [line.strip() for line in stdout.strip().splitlines()]
    (command,) = [line for line in lines if line.startswith("sean synth ")]
    words = shlex.split(command)
    assert "--swap" in words, command
    for _ in range(2):  # the printed command works again on a second run (it replaces its own output)
        result = CliRunner().invoke(main, words[1:])
        assert result.exit_code == 0, result.output
    label, style = Path(words[words.index("--label") + 1]), Path(words[words.index("--style") + 1])
    classes, reference = words[words.index("--swap") + 1].split("=")
    written = read_rgb(words[words.index("-o") + 1])
    reference_label = label.parent / Path(reference).name  # labels/NN.png beside images/NN.png
    with Synthesizer.load(out / "package") as synth:
        own = synth.encode(style, label)
        expected = synth.synthesize(label, own.swap([classes], synth.encode(reference, reference_label)), seed=0)[0]
        reconstruction = synth.synthesize(label, own, seed=0)[0]
        serve = shlex.split(lines[-1])
        assert serve[:3] == ["sean", "serve", str(out / "package")], lines[-1]
        samples = load_samples(synth, Path(serve[serve.index("--samples") + 1]), "test", 16)
    np.testing.assert_array_equal(written, expected)
    assert not np.array_equal(written, reconstruction)  # the swap changed something
    assert len(samples) == SAMPLES and samples[0]["name"] == "00"


def bad_checkpoints(root: Path) -> dict[str, tuple[Path, str]]:
    """Folders that are not checkpoints of a generated domain's model, and the message each must give."""
    empty = root / "empty"
    empty.mkdir()
    faces = root / "faces"
    faces.mkdir()
    (faces / WEIGHTS_FILE).write_bytes(b"")
    (faces / CONFIG_FILE).write_text(json.dumps({"model": {"domain": "faces"}}))
    unknown = root / "unknown"
    unknown.mkdir()
    (unknown / WEIGHTS_FILE).write_bytes(b"")
    (unknown / CONFIG_FILE).write_text(json.dumps({"model": {"domain": "mars"}}))
    no_config = root / "no-config"
    no_config.mkdir()
    (no_config / WEIGHTS_FILE).write_bytes(b"")
    return {
        "empty": (empty, f"{empty} is not a model checkpoint folder: it has no {WEIGHTS_FILE}"),
        "faces": (faces, f"{faces} is a model of the 'faces' domain, which has no generated samples for the demo "
                         f"to draw from"),
        "unknown": (unknown, f"{unknown}: unknown domain 'mars'; installed domains: "),
        "no-config": (no_config, f"{no_config} has {WEIGHTS_FILE} but no {CONFIG_FILE}"),
    }


def test_demo_says_what_is_wrong_with_a_bad_checkpoint(tmp_path):
    for name, (folder, message) in bad_checkpoints(tmp_path).items():
        assert checkpoint_problem(folder).startswith(message), name
    assert checkpoint_problem(shipped_checkpoint()) is None
    assert checkpoint_problem(shipped_checkpoint("shapes")) is None


def test_demo_with_a_bad_checkpoint_is_one_line_without_torch(tmp_path):
    folder, message = bad_checkpoints(tmp_path)["faces"]
    result = run_demo_without_torch("demo", "-o", str(tmp_path / "o"), "--checkpoint", str(folder))
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"Error: {message}"), line
    missing = run_demo_without_torch("demo", "-o", str(tmp_path / "o"), "--checkpoint", str(tmp_path / "nothing"))
    assert missing.returncode == 2
    assert "is not the name of a shipped model (shipped: landscapes, shapes)" in missing.stderr


def test_demo_without_the_export_extra_says_what_to_install_in_one_line(tmp_path):
    """The export runs in a child process; its missing extra is found first, so the user sees one line."""
    result = run_demo_without_torch("demo", "-o", str(tmp_path / "o"))
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: " + missing_module_message(
        "torch", "`sean demo` (exporting the model the first time)", "export"
    )
    assert "-m pip install -c" in result.stderr and "[export]" in result.stderr


def training_run(root: Path, steps: tuple[int, ...]) -> Path:
    """A run folder as `sean train` leaves it: RUN/checkpoints/step_N, each a model checkpoint (the shipped
    shapes model's files) marked complete by its training.json."""
    for step in steps:
        folder = Path(shutil.copytree(shipped_checkpoint("shapes"), root / "checkpoints" / f"step_{step:08d}"))
        (folder / "training.json").write_text("{}")
    return root


def test_demo_takes_a_run_folder_as_its_latest_checkpoint_like_sean_export(tmp_path):
    """`sean demo --checkpoint RUN` shows the run's latest checkpoint, whatever step a stop or resume left it
    at (the README's first hour): the export child is asked for that checkpoint, here without torch."""
    from sean_core.cli import main

    run = training_run(tmp_path / "runs" / "shapes", (2, 8))
    (run / "checkpoints" / "step_00000009").mkdir()  # a checkpoint a kill left unfinished: not the latest
    result = run_demo_without_torch("demo", "--checkpoint", str(run), "-o", str(tmp_path / "demo-shapes"))
    assert result.returncode == 1  # no export extra here: the demo got as far as exporting the model
    assert f"model: {run / 'checkpoints' / 'step_00000008'}" in result.stdout.splitlines()
    assert result.stderr.strip() == "Error: " + missing_module_message(
        "torch", "`sean demo` (exporting the model the first time)", "export"
    )
    unfinished = training_run(tmp_path / "killed", ())
    (unfinished / "checkpoints" / "step_00000001").mkdir(parents=True)  # no training.json: not a checkpoint
    result = CliRunner().invoke(main, ["demo", "--checkpoint", str(unfinished), "-o", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: {unfinished} is a training run without a checkpoint yet (the first is written at step "
        f"train.checkpoint_every, or when the run is stopped); a run killed before then starts over with "
        f"`sean train --resume {unfinished} --restart`"
    )


def test_demo_refuses_a_package_or_the_checkpoint_as_its_output_folder_in_one_line(tmp_path):
    """`-o` never names a package (the demo would write its pictures and a package/ into it), the checkpoint
    it reads or a folder inside it; refused before anything is written, as `sean export -o` refuses them."""
    from sean_core.cli import main

    package = write_package(tmp_path / "demo-out" / "package")
    run = training_run(tmp_path / "run", (3,))
    step = run / "checkpoints" / "step_00000003"
    before = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    refused = {
        str(package): (["--checkpoint", "shapes"], f"-o {package} is a SEAN package (it holds manifest.json)"),
        str(step): (["--checkpoint", str(run)], f"-o {step}: the package folder {step / 'package'} lies inside "
                                                 f"the input folder {step}; write the output elsewhere"),
        str(step / "demo"): (["--checkpoint", str(step)], f"lies inside the input folder {step}"),
    }
    for out, (args, message) in refused.items():
        result = CliRunner().invoke(main, ["demo", *args, "-o", out])
        assert result.exit_code == 1, result.output
        (line,) = result.output.strip().splitlines()
        assert line.startswith("Error: ") and message in line, line
    assert {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()} == before
    assert not (step / "demo").exists()


def test_demo_refuses_a_folder_of_other_files_and_takes_its_own_earlier_output(tiny_package, tmp_path):
    """A non-empty folder that no demo wrote is the user's: refused in one line before anything is written
    (the demo wrote its package, pictures and inputs among the user's files). An earlier demo's output, and
    one whose export was killed (a work folder of OUT/package), are taken."""
    from sean_core.cli import main

    mine = tmp_path / "photos"
    (mine / "package").mkdir(parents=True)  # a folder of the user's that only shares a name with the demo's
    (mine / "holiday.png").write_bytes(b"mine")
    result = CliRunner().invoke(main, ["demo", "--checkpoint", "shapes", "-o", str(mine)])
    assert result.exit_code == 1, result.output
    assert result.output.strip().splitlines() == [
        f"Error: -o {mine} exists and is not an earlier demo's output (no package/ package in it); refusing to "
        f"write into it: choose another -o folder or remove it"
    ]
    assert sorted(path.name for path in mine.rglob("*")) == ["holiday.png", "package"]

    from sean_runtime.commands.demo import is_demo_output, out_problem

    earlier = tmp_path / "demo-out"
    shutil.copytree(tiny_package, earlier / "package")
    (earlier / "notes.txt").write_text("mine")
    killed = tmp_path / "killed"
    (killed / ".package.build.99999.x").mkdir(parents=True)
    for out in (earlier, killed, tmp_path / "new"):
        assert is_demo_output(out) == (out != tmp_path / "new")
        assert out_problem(out, shipped_checkpoint("shapes")) is None, out


def test_a_demo_stopped_while_writing_says_what_it_left_in_one_line(tiny_package, tiny_export_checkpoint, tmp_path,
                                                                    monkeypatch):
    # Ctrl-C printed "Aborted!" alone, saying nothing of the half-written folder
    from sean_core.cli import main
    from sean_runtime.commands import demo

    out = tmp_path / "demo-out"
    shutil.copytree(tiny_package, out / "package")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "write_swaps", interrupted)
    result = CliRunner().invoke(main, ["demo", "-o", str(out), "--checkpoint", str(tiny_export_checkpoint)])
    assert result.exit_code == 1, result.output
    assert result.output.strip().splitlines()[-1] == (
        f"Error: demo stopped (Ctrl-C or a termination signal) before the demo output was complete; {out} holds "
        f"part of the pictures: run it again to complete it"
    )


def child_pids(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads a process's children from Linux's /proc")
def test_sigterm_to_the_demo_stops_its_export_child_and_says_so_in_one_line(tmp_path):
    # the demo ended at once (status 143) and its `sean export` child ran on, writing the package
    import os
    import signal
    import time

    from sean_core.files import process_alive

    out = tmp_path / "demo-out"
    demo = subprocess.Popen([sys.executable, "-m", "sean_core.cli", "demo", "--checkpoint", "shapes", "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    children: list[int] = []
    try:
        deadline = time.time() + 120
        while not (out.is_dir() and any(p.name.startswith(".package.build.") for p in out.iterdir())):
            assert demo.poll() is None and time.time() < deadline, "the export ended before it could be stopped"
            time.sleep(0.05)
        children = child_pids(demo.pid)
        assert children, "no export child"
        demo.send_signal(signal.SIGTERM)
        stderr = demo.communicate(timeout=90)[1]
        assert demo.returncode == 1, stderr
        # one line: the export child's own "Error: export stopped ..." line printed just before it
        assert [line for line in stderr.splitlines() if "stopped" in line] == [
            f"Error: demo stopped (Ctrl-C or a termination signal) before the demo output was complete; nothing was "
            f"written to {out}"
        ]
        assert not any(process_alive(pid) for pid in children)
        assert list(out.iterdir()) == []  # the export removed its build folder
    finally:
        for pid in children:
            if process_alive(pid):
                os.kill(pid, signal.SIGKILL)
        if demo.poll() is None:
            demo.kill()


@pytest.mark.parametrize("said_by_parent", [False, True])
def test_a_stopped_child_leaves_the_line_of_its_stop_to_its_parent(monkeypatch, said_by_parent):
    # `sean demo` printed its export child's "Error: export stopped ..." line and then its own
    from sean_core.interrupts import STOP_SAID_BY_PARENT, child_environment, stopped_saying

    @click.command()
    def stops() -> None:
        with stopped_saying(lambda: "work stopped"):
            raise KeyboardInterrupt

    env = {STOP_SAID_BY_PARENT: child_environment()[STOP_SAID_BY_PARENT]} if said_by_parent else {}
    result = CliRunner(env=env).invoke(stops, [])
    assert result.exit_code == 1
    assert result.output == ("" if said_by_parent else "Error: work stopped\n")
