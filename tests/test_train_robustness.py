"""Training runs refuse broken state in one line before the first step, keep one process per run, and
resume to a saved state identical to an uninterrupted run's, RNG states included."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file, save_file

from sean_core.checkpoint_files import latest_checkpoint
from sean_train.commands.train import train
from sean_train.state import load_training_checkpoint
from sean_train.train_config import RunConfig, bind_domain
from sean_train.trainer import Trainer
from tests.helpers import tiny_run_config, torch_threads, write_config


def start_run(run_dir: Path, until: int | None = None, **train_settings) -> Path:
    """A tiny run as `sean train --config X --out run_dir --threads 1 --device cpu` starts it, stopped at `until`."""
    import sean_train.commands.train as command

    config, domain = bind_domain(RunConfig.from_dict(tiny_run_config(**train_settings)))
    run_dir.mkdir(parents=True)
    run = command.RunFile(config, None, "tiny.yaml", 1, "cpu")
    (run_dir / "run.json").write_text(json.dumps(run.to_dict()))
    Trainer(run_dir, config, domain, device="cpu", progress=False).run(until_step=until)
    return run_dir


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory) -> Path:
    """A run of 8 steps stopped at step 2 (its first checkpoint), as a template to copy and damage."""
    with torch_threads(1):
        return start_run(tmp_path_factory.mktemp("runs") / "stopped", until=2)


@pytest.fixture
def run_copy(stopped_run, tmp_path) -> Path:
    return shutil.copytree(stopped_run, tmp_path / "run")


def resume(run: Path, *args: str):
    return CliRunner().invoke(train, ["--resume", str(run), "--quiet", *args])


def refused(run: Path, *args: str) -> str:
    """`sean train --resume run` fails with one line, having trained no step."""
    log = (run / "log.jsonl").read_bytes()
    result = resume(run, *args)
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert (run / "log.jsonl").read_bytes() == log, "steps were trained before the error"
    return lines[0]


def checkpoint_file(run: Path, name: str) -> Path:
    return latest_checkpoint(run) / name


# --- broken files, each named --------------------------------------------------------------------

@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda run: (run / "run.json").write_bytes(b"\xff\xfe{garbage"), "run.json is not valid JSON"),
        (lambda run: (run / "run.json").write_text((run / "run.json").read_text()[:80]), "run.json is not valid JSON"),
        (lambda run: (run / "run.json").write_text('{"data": null}'), 'run.json has no "config" section'),
        (lambda run: (run / "best.json").write_text("{"), "best.json is not valid JSON"),
        (lambda run: (run / "best.json").write_text('{"step": "4"}'), "best.json is not a {step, metric, value}"),
        (lambda run: checkpoint_file(run, "training.json").write_text("nonsense"), "training.json is not valid JSON"),
        (lambda run: checkpoint_file(run, "training.json").write_text('{"format": "sean-training-state"}'),
         "training.json: format_version None"),
    ],
)  # fmt: skip
def test_garbage_or_partial_run_files_are_named(run_copy, damage, message):
    damage(run_copy)
    assert message in refused(run_copy)


def edit_json(path: Path, edit) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_a_missing_optimizer_section_is_named(run_copy):
    edit_json(checkpoint_file(run_copy, "training.json"), lambda meta: meta.pop("optimizers"))
    assert "training.json lacks its optimizers or run_config section" in refused(run_copy)


def edit_tensors(run: Path, edit) -> None:
    path = checkpoint_file(run, "training.safetensors")
    tensors = load_file(str(path))
    edit(tensors)
    save_file(tensors, str(path))


def test_a_missing_rng_entry_is_named(run_copy):
    edit_tensors(run_copy, lambda tensors: tensors.pop("rng/torch"))
    line = refused(run_copy)
    assert "step_00000002" in line and "the torch RNG state rng/torch is missing" in line


def test_a_mis_shaped_optimizer_tensor_is_named(run_copy):
    def shrink(tensors):
        key = next(k for k in sorted(tensors) if k.startswith("opt_g/") and k.endswith("/exp_avg"))
        tensors[key] = tensors[key].flatten()[:1].clone()

    edit_tensors(run_copy, shrink)
    assert "/exp_avg has shape (1,), its parameter" in refused(run_copy)


@pytest.mark.parametrize("damage", ["truncated", "no config"])
def test_a_damaged_model_of_the_latest_or_best_checkpoint_is_named_before_training(run_copy, damage):
    """Resume read only the training state: a damaged model file stayed the run's best for good, and
    `sean export RUN --best` failed at the end."""
    best = json.loads((run_copy / "best.json").read_text())["step"]
    folder = run_copy / "checkpoints" / f"step_{best:08d}"
    if damage == "truncated":
        weights = folder / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:1000])
    else:
        (folder / "config.json").unlink()
    line = refused(run_copy)
    assert folder.name in line and "checkpoint of the run" in line, line


def test_training_tensors_rewritten_in_another_dtype_are_named(run_copy):
    """load_state_dict cast them silently, and the resume was no longer exact."""
    edit_tensors(run_copy, lambda tensors: tensors.update(
        {k: v.half() for k, v in tensors.items() if k.startswith("G/") and v.is_floating_point()}))
    assert "is torch.float16, the model's torch.float32" in refused(run_copy)


def test_a_file_in_place_of_the_checkpoints_folder_is_named(run_copy):
    shutil.rmtree(run_copy / "checkpoints")
    (run_copy / "checkpoints").write_text("not a folder")
    assert "cannot create the folder" in (line := refused(run_copy)) and "a file of that name is in the way" in line


def test_training_onto_an_unwritable_place_is_one_line(tmp_path):
    config = write_config(tmp_path / "tiny.yaml", tiny_run_config())
    result = CliRunner().invoke(train, ["--config", str(config), "--out", "/proc/run", "--device", "cpu"])
    assert result.exit_code == 1 and "Error: cannot write /proc/run" in result.output, result.output


# --- the run's meaning, its settings, and who trains it -------------------------------------------

@pytest.mark.slow
def test_settings_that_change_the_run_are_refused_bookkeeping_may_change(run_copy, one_thread):
    run_file = run_copy / "run.json"
    original = run_file.read_text()
    edit_json(run_file, lambda run: run["config"]["train"].update(batch_size=4))
    line = refused(run_copy)
    assert "train.batch_size: 2 -> 4" in line and "step_00000002" in line
    run_file.write_text(original)
    edit_json(run_file, lambda run: run["config"]["train"].update(checkpoint_every=4, sample_every=8))
    done = resume(run_copy)
    assert done.exit_code == 0, done.output
    assert load_training_checkpoint(latest_checkpoint(run_copy)).step == 8


def test_another_process_training_the_run_is_refused(run_copy):
    from sean_core.files import file_lock

    with file_lock(run_copy / ".lock", "a test holds the lock"):
        assert f"another process trains {run_copy}" in refused(run_copy)


@pytest.mark.slow
def test_a_run_without_a_checkpoint_needs_restart_and_then_logs_each_step_once(tmp_path, one_thread):
    run = start_run(tmp_path / "early", until=1, checkpoint_every=4, epochs=1, epochs_decay=1)
    shutil.rmtree(run / "checkpoints")  # as if killed before the first checkpoint
    (run / "checkpoints").mkdir()
    with open(run / "log.jsonl", "a") as log:
        log.write('{"step": 2, "g_tot')  # a line cut short by the kill
    assert "has no checkpoint yet" in (line := refused(run)) and "--restart" in line
    done = resume(run, "--restart")
    assert done.exit_code == 0, done.output
    assert "starting over from step 0" in done.output
    steps = [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
    again = resume(run, "--restart")
    assert again.exit_code == 1 and "has checkpoints" in again.output


@pytest.mark.slow
def test_resume_reuses_the_runs_threads_and_device_unless_given(run_copy, one_thread):
    torch.set_num_threads(2)
    done = resume(run_copy)
    assert done.exit_code == 0, done.output
    assert "on cpu, 1 thread(s)" in done.output and torch.get_num_threads() == 1
    assert "note:" not in done.output  # the checkpoint's own settings: exact
    again = resume(run_copy, "--threads", "2")
    assert again.exit_code == 0 and "2 thread(s)" in again.output
    # other float sums: said, since the run no longer equals an uninterrupted one bit for bit
    assert "was computed with other settings (threads 1 -> 2)" in again.output, again.output
    assert json.loads((run_copy / "run.json").read_text())["runtime"] == {"threads": 2, "device": "cpu"}


@pytest.mark.slow
def test_validation_psnr_is_in_the_log_and_the_progress_line(tmp_path, capsys, one_thread):
    config, domain = bind_domain(RunConfig.from_dict(tiny_run_config(epochs=1, epochs_decay=1)))
    Trainer(tmp_path / "run", config, domain, device="cpu", progress=True).run()
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    scored = {r["step"]: r["val_psnr_db"] for r in records if "val_psnr_db" in r}
    assert sorted(scored) == [2, 4]  # the checkpoint steps
    assert scored[4] == load_training_checkpoint(latest_checkpoint(tmp_path / "run")).meta["val_psnr_db"]
    err = capsys.readouterr().err
    assert f"val {scored[4]:.2f} dB" in err
    assert "\r" not in err  # not a terminal: whole lines (sean_core.progress), not redraws


# --- exactness --------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_resumed_runs_whole_saved_state_equals_an_uninterrupted_runs(tmp_path, one_thread):
    """Every tensor of training.safetensors (RNG state included) and every field of training.json."""
    whole = start_run(tmp_path / "whole")
    split = start_run(tmp_path / "split", until=3)  # the stop at step 3 checkpoints
    done = resume(split)
    assert done.exit_code == 0 and "resuming at step 3" in done.output, done.output
    a = load_training_checkpoint(latest_checkpoint(whole))
    b = load_training_checkpoint(latest_checkpoint(split))
    assert a.tensors.keys() == b.tensors.keys()
    different = [k for k in a.tensors if not torch.equal(a.tensors[k], b.tensors[k])]
    assert not different, f"tensors differ: {different}"
    assert a.meta == b.meta
    assert "rng" not in a.meta  # no NumPy / Python RNG states, which differ between two clean runs


def test_a_domain_without_generated_data_asks_for_data_before_anything_else(tmp_path, monkeypatch):
    """`sean train --config faces` without --data names --data and `sean prepare`, not the VGG weights it
    also lacks, and creates no run folder."""
    monkeypatch.delenv("SEAN_VGG19_WEIGHTS", raising=False)
    out = tmp_path / "run"
    result = CliRunner().invoke(train, ["--config", "faces", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "pass --data DIR" in result.output and "sean prepare faces RAW -o DIR" in result.output
    assert "VGG" not in result.output
    assert not out.exists()


# --- a sample that cannot be read, found in the middle of a run ---------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("workers", [0, 1])
def test_a_corrupt_sample_found_mid_run_stops_with_the_steps_done_saved(tmp_path, one_thread, workers):
    """The start lists the pairs and decodes none; a corrupt image read at step 3 stopped the run with
    nothing saved since the last checkpoint. Now: one line naming the file and the resume, and a
    checkpoint of the 2 steps done (workers: the error comes from a DataLoader worker, traceback and all)."""
    from sean_core.domains import get_domain
    from sean_train.data import DatasetError

    data = get_domain("shapes").write_split(tmp_path / "data", "train", 6, progress=False)
    config, domain = bind_domain(RunConfig.from_dict(tiny_run_config(checkpoint_every=100, workers=workers)))
    trainer = Trainer(tmp_path / "run", config, domain, data=data, device="cpu", progress=False)
    early = {draw.index for step in (0, 1) for draw in trainer.order.batch(step)}
    victim = next(d.index for d in trainer.order.batch(2) if d.index not in early)
    image = trainer.dataset.source.pairs[victim].image
    image.write_bytes(image.read_bytes()[:60])  # cut short
    with pytest.raises(DatasetError) as caught:
        trainer.run()
    message = str(caught.value)
    assert "\n" not in message and image.name in message, message
    assert "(reading step 3); the steps up to 2 are saved: replace that file with a readable one" in message
    assert message.endswith(f"`sean train --resume {tmp_path / 'run'}`"), message
    assert latest_checkpoint(tmp_path / "run").name == "step_00000002"
    # the DataLoader's worker is stopped with the run, not left to a garbage collection that the error's
    # traceback defers (at interpreter exit that crashed the whole test process)
    import multiprocessing

    assert multiprocessing.active_children() == [], multiprocessing.active_children()


@pytest.mark.slow
def test_a_corrupt_sample_in_the_first_batch_names_the_restart(tmp_path, one_thread):
    from sean_core.domains import get_domain
    from sean_train.data import DatasetError

    data = get_domain("shapes").write_split(tmp_path / "data", "train", 4, progress=False)
    config, domain = bind_domain(RunConfig.from_dict(tiny_run_config(checkpoint_every=100)))
    trainer = Trainer(tmp_path / "run", config, domain, data=data, device="cpu", progress=False)
    image = trainer.dataset.source.pairs[trainer.order.batch(0)[0].index].image
    image.write_bytes(b"not a png")
    with pytest.raises(DatasetError, match=r"\(reading step 1\); nothing is saved yet: replace .*--restart`$"):
        trainer.run()
    assert latest_checkpoint(tmp_path / "run") is None


@pytest.mark.slow
def test_an_unreadable_held_out_sample_is_left_out_of_validation_at_the_start(tmp_path, one_thread):
    """The start reads the samples validation uses and leaves an unreadable one out, in a note, rather than
    validation finding it at the first checkpoint, hours in, and stopping the run with that checkpoint unsaved."""
    from sean_core.domains import get_domain

    shapes = get_domain("shapes")
    data = shapes.write_split(tmp_path / "data", "train", 4, progress=False)
    shapes.write_split(data, "test", 5, progress=False)
    config, domain = bind_domain(RunConfig.from_dict(tiny_run_config()))
    victim = shapes.list_pairs(data, "test")[1].label
    victim.write_bytes(victim.read_bytes()[:50])  # cut short
    trainer = Trainer(tmp_path / "run", config, domain, data=data, device="cpu", progress=False)
    (note,) = [note for note in trainer.notes if "left out of validation" in note]
    assert note.startswith("1 held-out 'test' sample(s) cannot be used") and f"{victim}: " in note, note
    assert "restore the partner" not in note, note  # every file has its partner: that advice does not apply
    assert victim not in [pair.label for pair in trainer.val_source.pairs]
    assert len(trainer.val_source) == 4
    assert trainer.checkpoint() is not None  # validation reads the samples kept


def test_a_held_out_sample_missing_its_partner_is_left_out_of_validation_not_all_of_it(tmp_path, one_thread):
    """One 'test' image without its label is left out and named in the note of unreadable held-out samples, and
    the rest validates (no "note: no validation: ..."); the training split refuses such an image."""
    from sean_core.domains import DatasetError, get_domain

    shapes = get_domain("shapes")
    data = shapes.write_split(tmp_path / "data", "train", 4, progress=False)
    shapes.write_split(data, "test", 5, progress=False)
    config, domain = bind_domain(RunConfig.from_dict(tiny_run_config()))
    pairs = shapes.list_pairs(data, "test")
    lonely, unreadable = pairs[2], pairs[0].image
    lonely.label.unlink()
    unreadable.write_bytes(b"not a png")
    trainer = Trainer(tmp_path / "run", config, domain, data=data, device="cpu", progress=False)
    assert not [note for note in trainer.notes if note.startswith("no validation")], trainer.notes
    (note,) = [note for note in trainer.notes if "left out of validation" in note]
    assert note.startswith("2 held-out 'test' sample(s) cannot be used") and "restore the partner" in note, note
    assert f"{lonely.image}: an image without its label" in note and f"{unreadable}: " in note, note
    assert [pair.image.name for pair in trainer.val_source.pairs] == ["00001.png", "00003.png", "00004.png"]

    shapes.list_pairs(data, "train")[1].label.unlink()
    with pytest.raises(DatasetError, match=r"\(train\): images without a label: .*restore the missing ones"):
        Trainer(tmp_path / "run2", config, domain, data=data, device="cpu", progress=False)
