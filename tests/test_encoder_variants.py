"""The paper's three style encoders (supplementary §B, Fig. 3): unified, ResBlk-level, SEAN-level.

Each builds, reads the codes of its own group in every SEAN layer, trains, resumes, evaluates, edits a
region's style as all of its codes, and the non-unified ones are refused by `sean export` in one line."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from click.testing import CliRunner

from sean_train.config import ConfigError, ModelConfig
from sean_train.evaluate import swap_codes
from sean_train.networks import SEANModel
from sean_train.networks.generator import code_groups, code_length, style_norms
from sean_train.networks.ops import one_hot
from tests.helpers import TINY, make_random_model, tiny_run_config, write_config

VARIANTS = ("unified", "resblk", "sean")


def variant(config: ModelConfig, style_encoder: str) -> ModelConfig:
    return dataclasses.replace(config, style_encoder=style_encoder)


def _inputs(config: ModelConfig, batch: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, config.num_classes, (batch, config.height, config.width), generator=g)
    image = torch.rand(batch, 3, config.height, config.width, generator=g) * 2 - 1
    return image, one_hot(labels, config.num_classes).float()


def test_style_encoder_is_validated_and_older_configs_read_as_unified(tiny_config):
    assert ModelConfig(**TINY).style_encoder == "unified"
    data = tiny_config.to_dict()
    assert data["style_encoder"] == "unified"
    del data["style_encoder"]  # a config.json written before the field existed
    assert ModelConfig.from_dict(data).style_encoder == "unified"
    with pytest.raises(ConfigError, match="style_encoder must be one of"):
        ModelConfig(**TINY, style_encoder="per-pixel")


def test_code_groups_follow_figure_3(tiny_config):
    layers = style_norms(tiny_config)
    # Six ResBlks with style; the four with a learned shortcut (fin != fout) have three SEAN layers.
    assert len(layers) == 15 and layers[0] == "head_0.norm_0" and layers[-1] == "up_2.norm_1"
    assert code_groups(tiny_config) == {} and code_length(tiny_config) == TINY["style_dim"]
    resblk = code_groups(variant(tiny_config, "resblk"))
    assert resblk["head_0.norm_0"] == resblk["head_0.norm_1"] == 0
    assert resblk["up_0.norm_s"] == resblk["up_0.norm_1"] == 3 and resblk["up_2.norm_s"] == 5
    assert code_length(variant(tiny_config, "resblk")) == 6 * TINY["style_dim"]
    assert code_groups(variant(tiny_config, "sean")) == {name: i for i, name in enumerate(layers)}
    assert code_length(variant(tiny_config, "sean")) == 15 * TINY["style_dim"]


@pytest.mark.parametrize("style_encoder,groups", [("resblk", 6), ("sean", 15)])
def test_each_group_has_its_own_encoder_and_reaches_the_output(tiny_config, style_encoder, groups):
    config = variant(tiny_config, style_encoder)
    model = make_random_model(config).eval()
    assert len(model.encoder.encoders) == groups
    image, mask = _inputs(config, 2)
    s = config.style_dim
    with torch.no_grad():
        codes = model.encode(image, mask)
        assert codes.shape == (2, config.num_classes, groups * s)
        for g, encoder in enumerate(model.encoder.encoders):  # group g is encoder g's codes
            torch.testing.assert_close(codes[:, :, g * s : (g + 1) * s], encoder(image, mask))
        noise = model.generator.zero_noise(2)
        base = model.generate(mask, codes, noise)
        for g in range(groups):  # every group is read by some layer: changing it changes the image
            changed = codes.clone()
            changed[:, :, g * s : (g + 1) * s] += 0.5
            assert (model.generate(mask, changed, noise) - base).abs().max() > 1e-5, g


def test_unified_weights_keep_their_names(tiny_config):
    keys = set(SEANModel(tiny_config).state_dict())
    assert "encoder.features.1.weight" in keys and not any(k.startswith("encoder.encoders.") for k in keys)


def test_a_region_swap_moves_all_of_its_codes(tiny_config):
    config = variant(tiny_config, "sean")
    model = make_random_model(config).eval()
    image, mask = _inputs(config, 2, seed=1)
    with torch.no_grad():
        codes = model.encode(image, mask)
        swapped = swap_codes(codes, torch.tensor([1, 0]), torch.tensor([2, -1]))
        assert torch.equal(swapped[0, 2], codes[1, 2]) and torch.equal(swapped[1], codes[1])
        assert torch.equal(swapped[0, :2], codes[0, :2])
        # A blend moves every code of the region by the same weight.
        blended = codes.clone()
        blended[0, 2] = 0.7 * codes[0, 2] + 0.3 * codes[1, 2]
        out = model.generate(mask, blended, model.generator.zero_noise(2))
        assert torch.isfinite(out).all()


@pytest.mark.slow
@pytest.mark.parametrize("style_encoder", ["resblk", "sean"])
def test_variant_trains_resumes_exactly_and_evaluates(tmp_path, one_thread, style_encoder):
    from sean_core.checkpoint_files import latest_checkpoint
    from sean_core.domains import get_domain
    from sean_train.checkpoint import load_checkpoint, read_config
    from sean_train.data import open_source
    from sean_train.evaluate import evaluate_model
    from tests.test_train import assert_same_state, make_trainer, training_tensors

    data = tiny_run_config(epochs=1, epochs_decay=1)  # 4 steps
    data["model"]["style_encoder"] = style_encoder
    whole = make_trainer(tmp_path / "whole", data)
    whole.run()
    first = make_trainer(tmp_path / "split", data)
    first.run(until_step=1)
    second = make_trainer(tmp_path / "split", data)
    second.resume(latest_checkpoint(tmp_path / "split"))
    second.run()
    assert_same_state(training_tensors(tmp_path / "whole"), training_tensors(tmp_path / "split"))

    checkpoint = latest_checkpoint(tmp_path / "whole")
    assert read_config(checkpoint)[0].style_encoder == style_encoder
    model = load_checkpoint(checkpoint)
    source = open_source(get_domain("shapes"), None, "test", 64, 64, 4)
    results = evaluate_model(model, source, batch_size=2, progress=False)
    assert results["images"] == 4 and results["transfer"]["regions"] > 0


@pytest.mark.slow
def test_train_cli_sets_the_style_encoder_only_for_a_new_run(tmp_path):
    from sean_core.checkpoint_files import latest_checkpoint
    from sean_train.checkpoint import read_config
    from sean_train.commands.train import train

    config = write_config(tmp_path / "tiny.yaml", tiny_run_config(epochs=1, epochs_decay=0))
    runner = CliRunner()
    done = runner.invoke(train, ["--config", str(config), "--out", str(tmp_path / "run"), "--style-encoder",
                                 "resblk", "--device", "cpu", "--threads", "1", "--quiet"])
    assert done.exit_code == 0, done.output
    assert "note: model.style_encoder is 'resblk': the model trains and evaluates, but" in done.output
    assert read_config(latest_checkpoint(tmp_path / "run"))[0].style_encoder == "resblk"
    again = runner.invoke(train, ["--resume", str(tmp_path / "run"), "--style-encoder", "sean"])
    assert again.exit_code != 0 and "--style-encoder goes with --config" in again.output


@pytest.mark.parametrize("style_encoder", VARIANTS)
def test_a_run_of_a_model_that_will_not_export_says_so_in_the_words_of_the_export_error(style_encoder):
    from sean_train.trainer import unexportable

    lines = unexportable(style_encoder)
    if style_encoder == "unified":
        assert lines == []
        return
    (line,) = lines
    assert f"{style_encoder!r}" in line and "trains and evaluates" in line and "\n" not in line
    assert "only style_encoder: unified models export" in line and "leave out --style-encoder" in line


@pytest.mark.parametrize("style_encoder", ["resblk", "sean"])
def test_export_refuses_a_non_unified_model_in_one_line(tmp_path, tiny_config, style_encoder):
    from sean_export.commands import export
    from sean_train.checkpoint import save_checkpoint

    checkpoint = save_checkpoint(make_random_model(variant(tiny_config, style_encoder)), tmp_path / "ckpt")
    done = CliRunner().invoke(export, [str(checkpoint), "-o", str(tmp_path / "pkg")])
    assert done.exit_code == 1
    (line,) = done.output.strip().splitlines()[-1:]
    assert line.startswith("Error: ") and f"{style_encoder!r} style encoder" in line
    assert "only style_encoder: unified models export" in line
    assert not (tmp_path / "pkg").exists()
