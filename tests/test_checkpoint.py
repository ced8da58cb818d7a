"""Self-describing checkpoints: round trip, and clear errors for every way a folder can be wrong."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import save_file

from sean_train.checkpoint import CONFIG_FILE, WEIGHTS_FILE, CheckpointError, load_checkpoint, save_checkpoint
from sean_train.config import ModelConfig
from tests.helpers import TINY, make_random_model


def test_round_trip_rebuilds_the_model_from_the_folder_alone(tmp_path, tiny_config):
    model = make_random_model(tiny_config, seed=5)
    save_checkpoint(model, tmp_path / "ckpt")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]
    loaded = load_checkpoint(tmp_path / "ckpt")
    assert loaded.config == tiny_config
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert not loaded.training
    assert oct((tmp_path / "ckpt" / WEIGHTS_FILE).stat().st_mode & 0o777) != oct(0o600)  # not mkstemp's mode


@pytest.fixture
def saved(tmp_path, tiny_checkpoint):
    return shutil.copytree(tiny_checkpoint, tmp_path / "ckpt")


def test_missing_folder_and_files(tmp_path, saved):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nowhere")
    (saved / WEIGHTS_FILE).unlink()
    with pytest.raises(CheckpointError, match=r"weights file .* is missing; copy the whole folder again"):
        load_checkpoint(saved)
    (saved / CONFIG_FILE).unlink()
    with pytest.raises(CheckpointError, match="not a SEAN checkpoint folder"):
        load_checkpoint(saved)


def test_truncated_weights_fail_the_hash_check_or_the_reader(saved):
    weights = saved / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:1000])
    # what to do, too: it ended at "the file is corrupt or was replaced"
    with pytest.raises(CheckpointError, match=r"does not match the sha256 .*; copy the whole folder again "
                                              r"\(config\.json and model\.safetensors together\), or use another "
                                              r"checkpoint$"):
        load_checkpoint(saved)
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_checkpoint(saved, verify_hash=False)


def test_corrupt_or_foreign_config(saved):
    config = saved / CONFIG_FILE
    config.write_text("{ not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(saved)
    config.write_text(json.dumps({"hello": 1}))
    with pytest.raises(CheckpointError, match="not a SEAN checkpoint config"):
        load_checkpoint(saved)
    config.write_text(json.dumps({"format": "sean-checkpoint", "format_version": 99, "model": {}}))
    with pytest.raises(CheckpointError, match="newer than this code"):
        load_checkpoint(saved)
    config.write_text(json.dumps({"format": "sean-checkpoint", "format_version": 1, "model": {"ngf": -1}}))
    with pytest.raises(CheckpointError, match="invalid model config"):
        load_checkpoint(saved)


def test_weights_of_another_model_name_the_mismatch(tmp_path, saved):
    other = make_random_model(ModelConfig(**{**TINY, "style_dim": 8}))
    save_file({k: v.contiguous() for k, v in other.state_dict().items()}, str(saved / WEIGHTS_FILE))
    with pytest.raises(CheckpointError, match=r"shape mismatches .*style_fc_weight"):
        load_checkpoint(saved, verify_hash=False)
