"""Run configs: the shipped YAML files, strict parsing, and the VGG19 start-up check."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from sean_core.domains import DomainError, get_domain
from sean_train.config import ConfigError
from sean_train.train_config import VGG_WEIGHTS_ENV, RunConfig, TrainConfig, bind_domain, load_run_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
PAPER = {"faces": (19, 0, 256, 256, "normal"), "ade20k": (151, 0, 256, 256, "normal"),
         "cityscapes": (35, 1, 256, 512, "more")}


@pytest.mark.parametrize("name", sorted(PAPER))
def test_paper_configs_have_the_paper_settings(name):
    config = load_run_config(CONFIGS / f"{name}.yaml")
    m, t, d = config.model, config.train, config.discriminator
    assert (m.num_classes, m.extra_mask_channels, m.height, m.width, m.layout) == PAPER[name]
    assert (m.style_dim, m.ngf, m.encoder_ngf, m.spade_hidden) == (512, 64, 32, 128)
    assert (d.num_scales, d.num_layers, d.ndf) == (2, 3, 64)
    assert (t.lr_g, t.lr_d, t.betas) == (1e-4, 4e-4, (0.0, 0.9))
    assert (t.lambda_feat, t.lambda_vgg, t.lambda_l1, t.init_gain) == (10.0, 10.0, 0.0, 0.02)
    try:
        domain = get_domain(m.domain)
    except DomainError:
        pytest.skip(f"domain plugin {m.domain!r} is not installed here")
    bound, _ = bind_domain(config)
    assert bound.model.class_names == domain.class_names


def test_shapes_config_binds_to_its_domain_and_the_model_is_small():
    from sean_train.networks import SEANModel

    config, domain = bind_domain(load_run_config(CONFIGS / "shapes.yaml"))
    assert config.model.class_names == domain.class_names
    assert config.train.lambda_vgg == 0  # no VGG19 weights exist offline
    size = sum(p.numel() * 4 for p in SEANModel(config.model).state_dict().values())
    assert size < 16e6  # the trained model ships in the repository


def _base() -> dict:
    return yaml.safe_load((CONFIGS / "shapes.yaml").read_text())


@pytest.mark.parametrize(
    "section,key,match",
    [(None, "optimizer", "unknown sections"), ("model", "ngff", "unknown keys"),
     ("train", "lr", "unknown keys"), ("discriminator", "layers", "unknown keys")],
)
def test_unknown_keys_are_errors(section, key, match):
    data = _base()
    (data if section is None else data[section])[key] = 1
    with pytest.raises(ConfigError, match=match):
        RunConfig.from_dict(data)


def test_bad_values_name_the_setting():
    data = _base()
    data["train"]["batch_size"] = 0
    with pytest.raises(ConfigError, match=r"train\.batch_size"):
        RunConfig.from_dict(data)
    data = _base()
    data["model"]["num_classes"] = 5
    with pytest.raises(ConfigError, match="domain 'shapes' has 8 classes"):
        bind_domain(RunConfig.from_dict(data))
    with pytest.raises(ConfigError, match="betas"):
        TrainConfig(betas=(0.0, 1.5))
    with pytest.raises(ConfigError, match="does not exist"):
        load_run_config(CONFIGS / "nope.yaml")


@pytest.mark.parametrize("seed", [-1, 2**64 - 1])
def test_a_seed_torch_or_numpy_refuses_is_a_config_error(seed):
    # torch.manual_seed and numpy's default_rng raised mid-start (a traceback, a run folder left behind)
    data = _base()
    data["train"]["seed"] = seed
    with pytest.raises(ConfigError, match=r"train\.seed must be from 0 to"):
        RunConfig.from_dict(data)


def test_a_key_given_twice_is_refused_with_both_lines(tmp_path):
    # PyYAML keeps the last value: `keep_last: 0` above the file's own `keep_last: 2` was silently ignored
    path = tmp_path / "run.yaml"
    path.write_text("model:\n  domain: shapes\ntrain:\n  keep_last: 0\n  seed: 1\n  keep_last: 2\n")
    with pytest.raises(ConfigError, match=r"line 6, column 3: key 'keep_last' appears twice \(also at line 4\)"):
        load_run_config(path)
    path.write_text("defaults: &d\n  seed: 1\ntrain:\n  <<: *d\n  seed: 2\n")  # a merge key may be overridden
    with pytest.raises(ConfigError, match="unknown sections"):
        load_run_config(path)


def test_broken_yaml_is_one_line_with_the_files_line(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model:\n  domain: shapes\n train:\n  seed: 1\n")  # train: indented by one space
    with pytest.raises(ConfigError) as caught:
        load_run_config(path)
    message = str(caught.value)
    assert "\n" not in message and "<unicode string>" not in message
    assert message.startswith(f"{path} is not valid YAML: line 3, column 2: ")


def test_vgg_weights_come_from_config_or_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(VGG_WEIGHTS_ENV, raising=False)
    assert TrainConfig().resolve_vgg_weights() is None
    monkeypatch.setenv(VGG_WEIGHTS_ENV, str(tmp_path / "env.pth"))
    assert TrainConfig().resolve_vgg_weights() == tmp_path / "env.pth"
    assert TrainConfig(vgg_weights=str(tmp_path / "cfg.pth")).resolve_vgg_weights() == tmp_path / "cfg.pth"


def test_training_without_vgg_weights_stops_at_startup_with_the_fix(monkeypatch, tmp_path):
    from sean_train.commands.train import train

    monkeypatch.delenv(VGG_WEIGHTS_ENV, raising=False)
    data = _base()
    data["train"]["lambda_vgg"] = 10.0
    path = tmp_path / "vgg.yaml"
    path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(train, ["--config", str(path), "--out", str(tmp_path / "run")])
    assert result.exit_code != 0
    assert VGG_WEIGHTS_ENV in result.output and "lambda_vgg: 0" in result.output
    assert not (tmp_path / "run").exists()  # nothing was started
