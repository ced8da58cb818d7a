"""`sean publish`: a checkpoint's model alone with its model card, fp16 weights at half the size that load back
as fp32, the weights as stored unless --weights says."""

from __future__ import annotations

import json
import os
import shutil
import stat
import struct

import pytest
import torch
from click.testing import CliRunner

from sean_core.checkpoint_files import CARD_FILE, CARD_MARK, CONFIG_FILE, WEIGHTS_FILE
from sean_core.cli import main
from sean_core.domains import get_domain
from sean_train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from sean_train.evaluate import reconstruct_batch
from sean_train.weight_init import random_model


def reconstruction(model) -> torch.Tensor:
    domain = get_domain("shapes")
    pairs = [domain.sample(i, "test") for i in range(2)]
    image = torch.stack([torch.from_numpy(img).permute(2, 0, 1).float() / 127.5 - 1 for img, _ in pairs])
    labels = torch.stack([torch.from_numpy(lab.astype("int64")) for _, lab in pairs])
    batch = {"image": image, "labels": labels, "extra": torch.zeros(2, 0, *labels.shape[1:])}
    with torch.no_grad():
        return reconstruct_batch(model, batch, torch.device("cpu"))[3]


def test_fp16_weights_halve_the_file_and_load_as_float32_with_the_same_images(tmp_path, tiny_export_checkpoint):
    run = shutil.copytree(tiny_export_checkpoint, tmp_path / "step_00000100")
    meta = json.loads((run / CONFIG_FILE).read_text())
    meta["extra"] = {"step": 100}
    (run / CONFIG_FILE).write_text(json.dumps(meta))
    out = tmp_path / "published"
    result = CliRunner().invoke(main, ["publish", str(run), "-o", str(out), "--weights", "fp16"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [CARD_FILE, CONFIG_FILE, WEIGHTS_FILE]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask  # not tempfile's private 0700
    assert stat.S_IMODE((out / WEIGHTS_FILE).stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE((out / CARD_FILE).stat().st_mode) == 0o666 & ~umask
    original_size = (tiny_export_checkpoint / WEIGHTS_FILE).stat().st_size
    assert (out / WEIGHTS_FILE).stat().st_size < 0.55 * original_size
    assert json.loads((out / CONFIG_FILE).read_text())["extra"] == {"step": 100}

    original, published = load_checkpoint(tiny_export_checkpoint), load_checkpoint(out)
    for key, value in published.state_dict().items():
        assert value.dtype == original.state_dict()[key].dtype, key
    before, after = reconstruction(original), reconstruction(published)
    assert not torch.equal(before, after)  # the weights were rounded ...
    assert (before - after).abs().max() < 2e-2  # ... by fp16's 2^-11, not more

    again = CliRunner().invoke(main, ["publish", str(run), "-o", str(out)])
    assert again.exit_code != 0 and "--force" in again.output
    forced = CliRunner().invoke(main, ["publish", str(run), "-o", str(out), "--force"])
    assert forced.exit_code == 0, forced.output
    assert (out / WEIGHTS_FILE).read_bytes() == (tiny_export_checkpoint / WEIGHTS_FILE).read_bytes()  # fp32: as is
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".published")]  # no work folder left


def test_weights_beyond_the_fp16_range_are_refused(tmp_path, tiny_config):
    model = random_model(tiny_config, seed=0, scale=0.08)
    with torch.no_grad():
        next(model.parameters())[0] = 1e6
    save_checkpoint(model, tmp_path / "big")
    result = CliRunner().invoke(main, ["publish", str(tmp_path / "big"), "-o", str(tmp_path / "out"),
                                       "--weights", "fp16"])
    assert result.exit_code != 0
    assert "exceed the fp16 range" in result.output and "--weights fp32" in result.output
    assert not (tmp_path / "out").exists()
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "out")


def test_publish_force_replaces_an_earlier_model_folder_that_sean_eval_measured(tmp_path, tiny_export_checkpoint):
    # `sean eval MODEL` writes MODEL/eval_test.json; then `sean publish RUN -o MODEL --force` refused MODEL as
    # "not an earlier model folder"
    runner = CliRunner()
    out = tmp_path / "model"
    assert runner.invoke(main, ["publish", str(tiny_export_checkpoint), "-o", str(out)]).exit_code == 0
    (out / "eval_test.json").write_text("{}")
    result = runner.invoke(main, ["publish", str(tiny_export_checkpoint), "-o", str(out), "--force"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [CARD_FILE, CONFIG_FILE, WEIGHTS_FILE]
    (out / WEIGHTS_FILE).unlink()  # an eval result beside something else is not a model folder
    (out / CARD_FILE).unlink()
    (out / "notes.txt").write_text("mine")
    result = runner.invoke(main, ["publish", str(tiny_export_checkpoint), "-o", str(out), "--force"])
    assert result.exit_code == 2 and (
        f"-o {out} exists and holds notes.txt, so it is not an earlier model folder" in result.output
    ), result.output
    assert "refusing to replace it: choose another -o folder or remove it" in result.output  # the rule's one line
    (out / "notes.txt").unlink()
    (out / CONFIG_FILE).unlink()
    (out / "eval_test.json").write_text("{}")  # an eval result alone: not a model folder either
    result = runner.invoke(main, ["publish", str(tiny_export_checkpoint), "-o", str(out), "--force"])
    assert result.exit_code == 2
    assert "lacks config.json, model.safetensors, so it is not an earlier model" in result.output


@pytest.mark.parametrize("earlier", [False, True])
def test_publish_stopped_by_ctrl_c_says_so_in_one_line_and_leaves_no_half_folder(tmp_path, tiny_export_checkpoint,
                                                                                 monkeypatch, earlier):
    # it printed "Aborted!" alone (and SIGTERM left .OUT.build.PID.X behind, as sean export's test shows)
    import sean_train.commands.publish as publish_module

    out = tmp_path / "model"
    if earlier:
        assert CliRunner().invoke(main, ["publish", str(tiny_export_checkpoint), "-o", str(out)]).exit_code == 0

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(publish_module, "save_checkpoint", interrupted)
    result = CliRunner().invoke(main, ["publish", str(tiny_export_checkpoint), "-o", str(out), "--force"])
    assert result.exit_code == 1
    kept = f"the earlier model folder in {out} is as it was" if earlier else f"nothing was written to {out}"
    assert result.output == (f"Error: publish stopped (Ctrl-C or a termination signal) before the model folder was "
                             f"complete; {kept}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == (["model"] if earlier else [])


@pytest.mark.parametrize("command", ["publish", "convert-official"])
def test_an_out_that_is_a_file_is_named_with_what_to_do_and_left_as_it_was(tmp_path, tiny_checkpoint, command):
    """-o of a model folder that names an existing file: the shared 'not a folder; choose another folder'
    line (as `sean export -o` says it), with or without --force, the file unchanged."""
    taken = tmp_path / "notes.txt"
    taken.write_text("mine")
    pth = tmp_path / "latest_net_G.pth"
    pth.write_bytes(b"")  # refused before the .pth is read
    source = str(tiny_checkpoint) if command == "publish" else str(pth)
    result = CliRunner().invoke(main, [command, source, "-o", str(taken), "--force"])
    assert result.exit_code == 2, result.output
    assert f"Error: -o {taken} is not a folder; choose another folder" in result.output.splitlines()
    assert taken.read_text() == "mine"


def stored_dtypes(folder) -> set[str]:
    """The floating-point dtypes that the safetensors header of folder's weights records (read here, not by the
    code tested)."""
    data = (folder / WEIGHTS_FILE).read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    return {entry["dtype"] for name, entry in header.items() if name != "__metadata__" and "F" in entry["dtype"]}


def test_without_weights_a_model_keeps_the_precision_it_is_stored_in(tmp_path, tiny_export_checkpoint):
    # the default was fp32, which doubled an fp16 model (the shipped landscapes, a --weights fp16 folder)
    half = tmp_path / "half"
    assert CliRunner().invoke(main, ["publish", str(tiny_export_checkpoint), "-o", str(half),
                                     "--weights", "fp16"]).exit_code == 0
    again = tmp_path / "again"
    result = CliRunner().invoke(main, ["publish", str(half), "-o", str(again)])
    assert result.exit_code == 0, result.output
    assert "of fp16 weights" in result.output
    assert stored_dtypes(again) == {"F16"}
    assert (again / WEIGHTS_FILE).read_bytes() == (half / WEIGHTS_FILE).read_bytes()  # fp16 -> fp32 -> fp16: exact
    full = tmp_path / "full"  # and a training run's fp32 stays fp32
    assert CliRunner().invoke(main, ["publish", str(tiny_export_checkpoint), "-o", str(full)]).exit_code == 0
    assert (full / WEIGHTS_FILE).read_bytes() == (tiny_export_checkpoint / WEIGHTS_FILE).read_bytes()
    wider = tmp_path / "wider"  # --weights still decides
    assert CliRunner().invoke(main, ["publish", str(half), "-o", str(wider), "--weights", "fp32"]).exit_code == 0
    assert stored_dtypes(wider) == {"F32"}


def test_the_model_card_says_what_sean_inspect_and_the_config_say(tmp_path, tiny_export_checkpoint):
    run = shutil.copytree(tiny_export_checkpoint, tmp_path / "step_00000100")
    meta = json.loads((run / CONFIG_FILE).read_text())
    meta["extra"] = {"step": 4321, "training": {"train": {"batch_size": 6, "lr_g": 0.0007, "seed": 11}}}
    (run / CONFIG_FILE).write_text(json.dumps(meta))
    out = tmp_path / "my-shapes"
    result = CliRunner().invoke(main, ["publish", str(run), "-o", str(out), "--weights", "fp16"])
    assert result.exit_code == 0, result.output
    card = (out / CARD_FILE).read_text()
    assert card.splitlines()[0] == CARD_MARK
    inspected = CliRunner().invoke(main, ["inspect", str(out)])
    assert inspected.exit_code == 0, inspected.output
    lines = [line.strip() for line in inspected.output.splitlines()]
    size = (out / WEIGHTS_FILE).stat().st_size
    assert f"weights: fp16, {size / 1e6:.1f} MB" in lines and "training step: 4321" in lines
    config = json.loads((out / CONFIG_FILE).read_text())["model"]
    total = next(line for line in lines if line.startswith("total "))
    for fact in (f"- domain: {config['domain']}", f"- weights: fp16, {size / 1e6:.1f} MB", "- training step: 4321",
                 f"- classes ({config['num_classes']}): {', '.join(config['class_names'])}",
                 f"- resolution: {config['width']}x{config['height']}", f"- parameters: {total.split()[1]}",
                 "- batch_size: 6", "- lr_g: 0.0007", "- seed: 11", "sean-deploy ",
                 "sean export my-shapes -o package", "sean demo --checkpoint my-shapes -o demo",
                 "sean inspect my-shapes"):
        assert fact in card, fact
    assert config["domain"] == "shapes"
    load_checkpoint(out)  # the card is no part of the model: the folder loads as it did
