"""What a `sean train` start that fails leaves behind (nothing that --resume could not continue), the fix
its errors name, and the --device check that every command taking --device makes before any work."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner, Result

from sean_tools.gpu_check.cli import gpu_check
from sean_train.commands.evaluate import evaluate
from sean_train.commands.train import RunFile, train
from sean_train.distributed import DeviceError, usable_device
from sean_train.train_config import RunConfig, bind_domain
from tests.helpers import tiny_run_config, write_config

no_gpu = pytest.mark.skipif(
    torch.cuda.is_available(), reason="PyTorch sees a CUDA GPU here, so --device cuda is usable and not refused"
)
# One training step: 2 pairs of the dataset below, batch 2, 1 epoch.
ONE_STEP = dict(epochs=1, epochs_decay=0, checkpoint_every=1, sample_every=1)


def one_line_error(result: Result, exit_code: int = 1) -> str:
    """The command ended with `exit_code` and one `Error:` line, not a traceback."""
    assert result.exit_code == exit_code, result.output
    assert isinstance(result.exception, SystemExit), f"{result.exception!r}\n{result.output}"
    lines = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def tiny_config(tmp_path: Path, **train_settings) -> Path:
    return write_config(tmp_path / "tiny.yaml", tiny_run_config(**train_settings))


def half_made_run(run_dir: Path, data: Path, device: str = "cpu") -> Path:
    """A run folder as a failed start used to leave it: run.json naming `data`, no checkpoint."""
    config, _ = bind_domain(RunConfig.from_dict(tiny_run_config(**ONE_STEP)))
    run_dir.mkdir()
    run = RunFile(config, str(data.resolve()), "tiny.yaml", 1, device)
    (run_dir / "run.json").write_text(json.dumps(run.to_dict()))
    return run_dir


@pytest.fixture(scope="module")
def shapes_train_data(tmp_path_factory) -> Path:
    """A prepared shapes dataset with 2 training pairs (one batch of the tiny run)."""
    from sean_core.domains import get_domain

    return get_domain("shapes").write_split(tmp_path_factory.mktemp("shapes-train"), "train", 2, progress=False)


# --- --device cuda where PyTorch sees no GPU ---------------------------------------------------------

def assert_no_gpu_message(line: str, fix: str = "use --device cpu") -> None:
    assert "--device cuda: PyTorch sees no CUDA GPU" in line and fix in line, line
    cpu_build = torch.version.cuda is None and getattr(torch.version, "hip", None) is None
    assert ("this PyTorch is a CPU build" in line) == cpu_build, line


@no_gpu
def test_train_on_cuda_without_a_gpu_is_one_line_and_creates_no_run(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(train, ["--config", str(tiny_config(tmp_path)), "--out", str(out), "--device", "cuda"])
    assert_no_gpu_message(one_line_error(result))
    assert not out.exists()


@no_gpu
def test_resuming_a_run_recorded_on_cuda_without_a_gpu_is_one_line_and_changes_nothing(tmp_path, shapes_train_data):
    run = half_made_run(tmp_path / "run", shapes_train_data, device="cuda")
    before = (run / "run.json").read_bytes()
    assert_no_gpu_message(one_line_error(CliRunner().invoke(train, ["--resume", str(run), "--quiet"])))
    assert (run / "run.json").read_bytes() == before
    assert {p.name for p in run.iterdir()} - {".lock"} == {"run.json"}  # the lock any resume takes, nothing else


@no_gpu
def test_eval_on_cuda_without_a_gpu_is_one_line_and_writes_nothing(tmp_path, tiny_checkpoint):
    result = CliRunner().invoke(evaluate, [str(tiny_checkpoint), "--limit", "2", "--device", "cuda", "--quiet"])
    assert_no_gpu_message(one_line_error(result))
    assert not list(tiny_checkpoint.glob("eval_*.json"))


@no_gpu
def test_gpu_check_on_cuda_without_a_gpu_names_the_dry_run(tmp_path):
    out = tmp_path / "check"
    result = CliRunner().invoke(gpu_check, ["--out", str(out)])
    assert_no_gpu_message(one_line_error(result), fix="use --device cpu --tiny for a dry run")
    assert not out.exists()


def test_the_no_gpu_message_names_a_cpu_build_only_for_one(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", None)
    monkeypatch.setattr(torch.version, "hip", None, raising=False)
    assert usable_device("auto") == "cpu" and usable_device("cpu") == "cpu"
    with pytest.raises(DeviceError, match=r"sees no CUDA GPU \(this PyTorch is a CPU build\); use --device cpu$"):
        usable_device("cuda")
    monkeypatch.setattr(torch.version, "cuda", "12.4")  # a CUDA build on a machine without a usable GPU
    with pytest.raises(DeviceError, match=r"^--device cuda:1: PyTorch sees no CUDA GPU; use --device cpu$"):
        usable_device("cuda:1")


# --- a start that fails leaves no run ----------------------------------------------------------------

@pytest.mark.parametrize("pairs, problem", [(0, "no image/label pairs found"), (1, "fewer than one batch")])
def test_a_dataset_the_run_cannot_train_on_is_refused_before_the_run_folder_exists(tmp_path, pairs, problem):
    from sean_core.domains import get_domain

    data = get_domain("shapes").write_split(tmp_path / "data", "train", pairs, progress=False)
    for folder in ("images", "labels"):  # the split's folders, empty for 0 pairs
        (data / "train" / folder).mkdir(parents=True, exist_ok=True)
    out = tmp_path / "run"
    args = ["--config", str(tiny_config(tmp_path)), "--data", str(data), "--out", str(out), "--device", "cpu"]
    assert problem in one_line_error(CliRunner().invoke(train, args))
    assert not out.exists()


@pytest.mark.parametrize("inside", ["", "train/runs/x"], ids=["the dataset folder", "inside it"])
def test_an_out_in_the_dataset_folder_is_refused_before_anything_is_written(tmp_path, shapes_train_data, inside):
    # the run's checkpoints, sample PNGs and logs went among the samples a domain lists
    before = sorted(shapes_train_data.rglob("*"))
    out = shapes_train_data / inside
    args = ["--config", str(tiny_config(tmp_path)), "--data", str(shapes_train_data), "--out", str(out)]
    line = one_line_error(CliRunner().invoke(train, [*args, "--device", "cpu"]), exit_code=2)
    expected = "is the input" if not inside else "lies inside the input folder"
    assert line == f"Error: --out {out} {expected} {shapes_train_data}; write the output elsewhere"
    assert sorted(shapes_train_data.rglob("*")) == before


@pytest.mark.slow  # 1.4 s here: building the trainer
def test_a_first_ctrl_c_says_at_once_that_the_run_stops_after_the_step(tmp_path, shapes_train_data, capsys):
    # nothing was said until the step, the validation and the checkpoint were done, so a second Ctrl-C followed
    import os
    import signal

    from sean_train.trainer import Trainer

    config, domain = bind_domain(RunConfig.from_dict(tiny_run_config(**ONE_STEP)))
    trainer = Trainer(tmp_path / "run", config, domain, data=shapes_train_data, device="cpu", progress=False)
    previous = trainer._install_stop_handlers()
    try:
        os.kill(os.getpid(), signal.SIGINT)
    finally:
        trainer._restore_handlers(previous)
    assert trainer._stop_requested
    assert ("Ctrl-C: stopping at the end of this step, with a checkpoint; Ctrl-C again stops at once, and the run "
            "then continues from its last checkpoint") in capsys.readouterr().err


def test_a_second_ctrl_c_names_the_checkpoint_the_run_continues_from(tmp_path, shapes_train_data, monkeypatch):
    # it printed "Aborted!" alone, though the run continues (resume removes a half-written checkpoint)
    from sean_train.trainer import Trainer

    def interrupted(self, until_step=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "run", interrupted)
    run = tmp_path / "run"
    args = ["--config", str(tiny_config(tmp_path, **ONE_STEP)), "--data", str(shapes_train_data), "--out", str(run)]
    line = one_line_error(CliRunner().invoke(train, [*args, "--device", "cpu", "--quiet"]))
    assert line == (f"Error: interrupted again while stopping; no checkpoint was written: start it over with "
                    f"`sean train --resume {run} --restart`")


@pytest.mark.parametrize("existed", [False, True, "nested"], ids=["new folder", "existing folder", "new parents"])
def test_a_start_that_fails_after_making_the_run_folder_removes_what_it_made(tmp_path, existed):
    """Unreadable VGG weights are found only when the trainer loads them, after the folder is made."""
    weights = tmp_path / "vgg19.pth"
    weights.write_bytes(b"not a torch file")
    config = tiny_config(tmp_path, lambda_vgg=1.0, vgg_weights=str(weights))
    out = tmp_path / "a" / "b" / "run" if existed == "nested" else tmp_path / "run"
    if existed is True:
        out.mkdir()
        (out / "notes.txt").write_text("the user's")
    line = one_line_error(CliRunner().invoke(train, ["--config", str(config), "--out", str(out), "--device", "cpu"]))
    assert "is not a readable VGG19 weights file" in line and "weights_only" not in line, line
    if existed is True:
        assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    else:
        assert not out.exists() and not (tmp_path / "a").exists()  # nor the parents made for it


@pytest.mark.parametrize("folder", ["published", "checkpoint of a run", "empty"])
def test_a_resume_of_a_folder_that_is_no_run_names_what_it_is_and_makes_nothing_there(tmp_path, tiny_checkpoint,
                                                                                       folder):
    """A published model holds no optimizer state, and one checkpoint of a run is not the run: --resume names the
    run to continue where there is one. Nothing is made in the folder: a lock file in a published model
    would make `sean publish --force` refuse to replace it."""
    run = tmp_path / "run"
    if folder == "published":
        given = Path(shutil.copytree(tiny_checkpoint, tmp_path / "published"))
    elif folder == "checkpoint of a run":
        (run / "checkpoints").mkdir(parents=True)
        (run / "run.json").write_text("{}")
        given = Path(shutil.copytree(tiny_checkpoint, run / "checkpoints" / "step_00000001"))
    else:
        given = tmp_path / "empty"
        given.mkdir()
    before = sorted(os.listdir(given))
    line = one_line_error(CliRunner().invoke(train, ["--resume", str(given)]))
    assert sorted(os.listdir(given)) == before
    if folder == "empty":
        assert f"{given} is not a run folder" in line and "--config" in line, line
        return
    if folder == "checkpoint of a run":
        assert f"{given} is a checkpoint of the run {run}" in line and f"`sean train --resume {run}" in line, line
    else:
        assert f"{given} is a model checkpoint folder, not a run folder" in line and "no optimizer state" in line, line


# --- a run that records the wrong dataset folder -----------------------------------------------------

def test_an_out_holding_a_run_names_the_resume_command_that_continues_it(tmp_path, shapes_train_data):
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    run = half_made_run(tmp_path / "run", wrong)
    args = ["--config", str(tiny_config(tmp_path)), "--data", str(shapes_train_data), "--out", str(run)]
    line = one_line_error(CliRunner().invoke(train, args))
    assert f"`sean train --resume {run} --data {shapes_train_data} --restart`" in line, line


def test_a_resume_from_a_wrong_recorded_dataset_folder_names_data_and_then_trains(tmp_path, shapes_train_data):
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    run = half_made_run(tmp_path / "run", wrong)
    before = (run / "run.json").read_bytes()
    line = one_line_error(CliRunner().invoke(train, ["--resume", str(run), "--quiet"]))
    assert f"{wrong} is not a dataset of the shapes domain" in line
    assert f"`sean train --resume {run} --data DIR --restart`" in line
    assert (run / "run.json").read_bytes() == before, "a refused resume rewrote run.json"
    done = CliRunner().invoke(train, ["--resume", str(run), "--data", str(shapes_train_data), "--restart", "--quiet"])
    assert done.exit_code == 0, done.output
    assert json.loads((run / "run.json").read_text())["data"] == str(shapes_train_data.resolve())


@pytest.mark.slow
def test_a_start_and_a_resume_each_read_the_training_folder_once(tmp_path, shapes_train_data, monkeypatch):
    """The checks before the run folder is made open the training set; the trainer takes that one."""
    import sean_train.data as data

    opened = []
    open_source = data.open_source

    def counted(domain, root, split, *args):
        opened.append(split)
        return open_source(domain, root, split, *args)

    monkeypatch.setattr(data, "open_source", counted)
    run = tmp_path / "run"
    config = tiny_config(tmp_path, **ONE_STEP)
    args = ["--config", str(config), "--data", str(shapes_train_data), "--out", str(run), "--device", "cpu"]
    started = CliRunner().invoke(train, [*args, "--quiet"])
    assert started.exit_code == 0, started.output
    assert opened.count("train") == 1, opened
    opened.clear()
    resumed = CliRunner().invoke(train, ["--resume", str(run), "--quiet"])
    assert resumed.exit_code == 0, resumed.output
    assert opened.count("train") == 1, opened


def test_a_dataset_without_a_readable_test_split_trains_and_says_it_has_no_validation(tmp_path, shapes_train_data):
    """It trained without validation PSNR or best.json, and said nothing (a broken test split too)."""
    run = tmp_path / "run"
    args = ["--config", str(tiny_config(tmp_path, **ONE_STEP)), "--data", str(shapes_train_data), "--out", str(run)]
    done = CliRunner().invoke(train, [*args, "--device", "cpu", "--quiet"])
    assert done.exit_code == 0, done.output
    assert "note: no validation: the held-out 'test' split cannot be read (" in done.output, done.output
    assert not (run / "best.json").exists()


@pytest.mark.slow
def test_a_resume_on_a_dataset_of_another_size_is_refused(tmp_path, shapes_train_data):
    """It rebuilt the epochs' order and the schedule from whatever folder was given, and a finished run
    trained on."""
    from sean_core.domains import get_domain

    run = tmp_path / "run"
    args = ["--config", str(tiny_config(tmp_path, **ONE_STEP)), "--data", str(shapes_train_data), "--out", str(run)]
    assert CliRunner().invoke(train, [*args, "--device", "cpu", "--quiet"]).exit_code == 0
    bigger = get_domain("shapes").write_split(tmp_path / "bigger", "train", 4, progress=False)
    before = (run / "run.json").read_bytes()
    line = one_line_error(CliRunner().invoke(train, ["--resume", str(run), "--data", str(bigger), "--quiet"]))
    assert "was trained on 2 training samples, the dataset now has 4" in line, line
    assert (run / "run.json").read_bytes() == before, "a refused resume rewrote run.json"
    again = CliRunner().invoke(train, ["--resume", str(run), "--quiet"])  # its own folder: fine
    assert again.exit_code == 0, again.output


@pytest.mark.parametrize("config", ["no-such-config", "."])
def test_a_config_that_is_no_file_or_shipped_name_is_a_usage_error_before_anything(tmp_path, config):
    out = tmp_path / "run"
    result = CliRunner().invoke(train, ["--config", config, "--out", str(out)])
    line = one_line_error(result, exit_code=2)
    assert "Invalid value for '--config'" in line and ("shipped: " in line or "is a folder" in line)
    assert not out.exists()


@pytest.mark.parametrize("command", ["eval", "publish", "export", "bf16-check"])
def test_a_package_where_a_checkpoint_belongs_is_named_as_one(tiny_package, tmp_path, command):
    from sean_core.cli import main

    args = [command, str(tiny_package)] + (["-o", str(tmp_path / "out")] if command in ("publish", "export") else [])
    line = one_line_error(CliRunner().invoke(main, args))
    assert f"{tiny_package} is an exported package (ONNX graphs), not a checkpoint" in line


@pytest.mark.slow
def test_eval_of_a_run_folder_reads_the_dataset_it_trained_on(tmp_path):
    """It asked for --data although run.json records the folder (train --resume reads it from there)."""
    from sean_core.domains import get_domain
    from sean_train.commands.evaluate import evaluate

    data = tmp_path / "data"
    for split in ("train", "test"):
        get_domain("shapes").write_split(data, split, 2, progress=False)
    run = tmp_path / "run"
    args = ["--config", str(tiny_config(tmp_path, **ONE_STEP)), "--data", str(data), "--out", str(run)]
    assert CliRunner().invoke(train, [*args, "--device", "cpu", "--quiet"]).exit_code == 0
    result = CliRunner().invoke(evaluate, [str(run), "--quiet", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert f"--data {data.resolve()} (the dataset folder {run / 'run.json'} records)" in result.output
    assert json.loads((run / "eval_test.json").read_text())["data"] == str(data.resolve())
    # the dataset moved: the folder it names came from run.json, and --data names the new one
    data.rename(tmp_path / "moved")
    line = one_line_error(CliRunner().invoke(evaluate, [str(run), "--quiet", "--device", "cpu"]))
    assert line.endswith(
        f"that is the dataset folder {run / 'run.json'} records: give the right one with `sean eval {run} --data DIR`"
    )
