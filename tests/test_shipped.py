"""The configs and the pretrained model ship as package data and are addressable by name from any directory;
paths keep working and win over names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sean_core.cli import main
from sean_core.errors import NotFoundError
from sean_core.shipped import find_config, find_model, is_shipped, shipped_configs, shipped_models

ROOT = Path(__file__).resolve().parents[1]


def test_every_config_of_the_checkout_ships_under_its_name():
    assert {p.stem for p in (ROOT / "configs").glob("*.yaml")} == set(shipped_configs()) >= {"shapes", "faces"}
    for name, path in shipped_configs().items():
        assert path.read_bytes() == (ROOT / "configs" / f"{name}.yaml").read_bytes()


def test_config_names_resolve_and_paths_win(tmp_path, monkeypatch):
    from sean_train.config import ConfigError
    from sean_train.train_config import load_run_config

    monkeypatch.chdir(tmp_path)
    assert load_run_config("shapes") == load_run_config(ROOT / "configs" / "shapes.yaml")
    own = tmp_path / "shapes"
    own.write_text((ROOT / "configs" / "faces.yaml").read_text())
    assert find_config("shapes") == Path("shapes")  # an existing file of that name is what the user meant
    assert load_run_config("shapes").model.domain == "faces"
    with pytest.raises(ConfigError, match=r"configs/nope\.yaml does not exist, and it is not the name of a shipped "
                                          r"config \(shipped: ade20k, cityscapes, faces, landscapes, shapes\)"):
        load_run_config("configs/nope.yaml")


MODEL_BUDGET_BYTES = 20_000_000  # every shipped model together (the repository carries them)


def test_the_shipped_models_fit_the_budget_and_record_their_weights():
    from sean_core.files import sha256_file

    total = 0
    for name, folder in shipped_models().items():
        meta = json.loads((folder / "config.json").read_text())
        assert meta["model"]["domain"] == name
        assert sha256_file(folder / "model.safetensors") == meta["weights_sha256"], name
        total += sum(path.stat().st_size for path in folder.iterdir())
    assert set(shipped_models()) == {"landscapes", "shapes"}
    assert total <= MODEL_BUDGET_BYTES, f"{total / 1e6:.1f} MB"


def test_the_shipped_model_resolves_by_name():
    assert find_model("shapes") == shipped_models()["shapes"]
    assert (find_model("shapes") / "model.safetensors").is_file() and is_shipped(find_model("shapes"))
    with pytest.raises(NotFoundError, match=r"not the name of a shipped model \(shipped: landscapes, shapes\)"):
        find_model("sean_core/pretrained/nothing")


@pytest.mark.parametrize("command", [["export", "nope", "-o", "pkg"], ["eval", "nope"], ["bf16-check", "nope"],
                                     ["demo", "--checkpoint", "nope"], ["bench", "--checkpoint", "nope"]])
def test_model_arguments_name_the_shipped_models_when_nothing_matches(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 2
    assert "nope does not exist, and it is not the name of a shipped model (shipped: landscapes, shapes)" in (
        result.output
    )


def test_eval_of_the_shipped_model_by_name_writes_into_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in shipped_models()["shapes"].iterdir())
    result = CliRunner().invoke(main, ["eval", "shapes", "--limit", "2", "--batch-size", "2", "--quiet",
                                       "--device", "cpu"])
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "eval_shapes_test.json").read_text())
    assert written["results"]["trained"]["images"] == 2 and "untrained" not in written["results"]
    assert sorted(p.name for p in shipped_models()["shapes"].iterdir()) == before
