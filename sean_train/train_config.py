"""Training run configuration: one YAML file with `model`, `discriminator` and `train` sections.

The `model` section is a ModelConfig (its `domain` names the domain plugin), `discriminator` a
DiscriminatorConfig, `train` the TrainConfig below. Unknown keys anywhere are an error, so a typo
never silently falls back to a default, and so is a key given twice in one section (YAML would keep the
last silently).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sean_core.errors import NotFoundError
from sean_core.shipped import find_config
from sean_train.config import ConfigError, DiscriminatorConfig, ModelConfig, config_from_mapping

VGG_WEIGHTS_ENV = "SEAN_VGG19_WEIGHTS"
SECTIONS = ("model", "discriminator", "train")
AMP_MODES = ("off", "bf16")  # TrainConfig.amp
# Train settings that only say how a run is watched and kept: they may change between resumes.
# Every other setting fixes the weights the run produces (sizes, schedule, losses, seed, data).
BOOKKEEPING = ("checkpoint_every", "keep_last", "sample_every", "val_samples", "workers", "vgg_weights")


SEED_MAX = 2**63 - 1


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, schedule, losses and bookkeeping. Defaults are the official SEAN settings."""

    batch_size: int = 32  # images per step over all processes (official: 32 on 4 GPUs)
    epochs: int = 50  # epochs at constant learning rate (official `niter`)
    epochs_decay: int = 50  # epochs of linear decay to zero after that (official `niter_decay`)
    lr_g: float = 1e-4  # generator + style encoder learning rate (TTUR: lr / 2)
    lr_d: float = 4e-4  # discriminator learning rate (TTUR: lr * 2)
    betas: tuple[float, float] = (0.0, 0.9)  # Adam betas, for both optimisers
    lambda_feat: float = 10.0  # discriminator feature matching
    lambda_vgg: float = 10.0  # VGG19 perceptual loss; needs `vgg_weights` or $SEAN_VGG19_WEIGHTS
    lambda_l1: float = 0.0  # pixel L1 reconstruction: NOT in the paper, only for fast CPU runs (shapes)
    vgg_weights: str | None = None  # torchvision-format VGG19 file (.pth or .safetensors)
    init_gain: float = 0.02  # xavier-normal gain of every conv / linear weight (official init_variance)
    flip: bool = True  # random horizontal flips, swapping left/right classes as the domain says
    # SPADE's resize_and_crop: training samples are resized to this width (height in the model's aspect
    # ratio) and a random crop of the model's size is taken; None: resized to the model's size (no crop).
    # Held-out samples are always resized to the model's size, as SPADE's test phase does.
    load_size: int | None = None
    seed: int = 0  # weights, data order, flips and noise all derive from it
    checkpoint_every: int = 1000  # steps between resumable checkpoints (one is always written at the end)
    keep_last: int = 3  # resumable checkpoints kept, plus the best one
    sample_every: int = 500  # steps between PNG sample grids (label / real / reconstruction / swap)
    val_samples: int = 64  # held-out images scored at each checkpoint to pick the best one (0 = none)
    workers: int = 0  # data-loading worker processes per training process
    synthetic_train_size: int = 2000  # training-set size when the domain generates samples (no --data)
    # Mixed precision: "bf16" runs the forward passes and losses under bf16 autocast on the training device
    # (faster on CUDA GPUs from Ampere on and CPUs with AVX-512 BF16 or AMX; other CPUs emulate bf16, much
    # slower than fp32, and the start of such a run says so: trainer.emulated_bf16); weights, gradients and
    # optimizer state stay fp32, and bf16's fp32 exponent range needs no loss scaling. "off": fp32 throughout
    # (the paper's).
    amp: str = "off"

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        if self.amp not in AMP_MODES:
            raise ConfigError(f"train.amp must be one of {', '.join(AMP_MODES)}, got {self.amp!r:.40}")
        positive = ("batch_size", "checkpoint_every", "keep_last", "sample_every", "synthetic_train_size")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if self.load_size is not None and self.load_size < 1:
            raise ConfigError(f"train.load_size must be >= 1 (or null for no crop), got {self.load_size}")
        for name in ("epochs", "epochs_decay", "val_samples", "workers"):
            if getattr(self, name) < 0:
                raise ConfigError(f"train.{name} must be >= 0, got {getattr(self, name)}")
        # torch seeds take an unsigned 64-bit integer and the discriminator is seeded with seed + 1; numpy's
        # data order refuses a negative one. Checked here, so a bad seed stops the start, not the first step.
        if not 0 <= self.seed <= SEED_MAX:
            raise ConfigError(f"train.seed must be from 0 to {SEED_MAX} (2**63 - 1), got {self.seed}")
        if self.epochs + self.epochs_decay < 1:
            raise ConfigError("train.epochs + train.epochs_decay must be at least 1")
        for name in ("lr_g", "lr_d"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"train.{name} must be > 0, got {getattr(self, name)}")
        for name in ("lambda_feat", "lambda_vgg", "lambda_l1"):
            if getattr(self, name) < 0:
                raise ConfigError(f"train.{name} must be >= 0, got {getattr(self, name)}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ConfigError(f"train.betas must be two numbers in [0, 1), got {list(self.betas)}")

    def resolve_vgg_weights(self) -> Path | None:
        """The VGG19 weights file to use (config first, then $SEAN_VGG19_WEIGHTS), or None."""
        value = self.vgg_weights or os.environ.get(VGG_WEIGHTS_ENV)
        return Path(value).expanduser() if value else None

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["betas"] = list(self.betas)
        return data


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a training run."""

    model: ModelConfig
    discriminator: DiscriminatorConfig
    train: TrainConfig

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.to_dict(),
            "discriminator": self.discriminator.to_dict(),
            "train": self.train.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = "config") -> RunConfig:
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping with sections {list(SECTIONS)}")
        unknown = sorted(set(data) - set(SECTIONS))
        if unknown:
            raise ConfigError(f"{source}: unknown sections {unknown}; known sections are {list(SECTIONS)}")
        if "model" not in data:
            raise ConfigError(f"{source}: the `model` section is required (it names the domain and sizes)")
        model = ModelConfig.from_dict(data["model"], f"{source}: model")
        if not model.domain:
            raise ConfigError(f"{source}: model.domain must name a domain plugin (see `sean domains`)")
        return cls(
            model=model,
            discriminator=DiscriminatorConfig.from_dict(data.get("discriminator") or {}, f"{source}: discriminator"),
            train=config_from_mapping(TrainConfig, data.get("train") or {}, f"{source}: train"),
        )


def meaning_changes(current: RunConfig, recorded: RunConfig) -> list[str]:
    """The settings (section.key: recorded -> current) that differ and change what the run computes."""
    changes = []
    now, then = current.to_dict(), recorded.to_dict()
    for section in SECTIONS:
        for key in sorted(set(now[section]) | set(then[section])):
            if section == "train" and key in BOOKKEEPING:
                continue
            if now[section].get(key) != then[section].get(key):
                changes.append(f"{section}.{key}: {then[section].get(key)!r:.60} -> {now[section].get(key)!r:.60}")
    return changes


class _UniqueKeyLoader(yaml.SafeLoader):
    """safe_load that refuses a key repeated in one mapping: PyYAML keeps the last value, so a setting added
    above one the file already has (say `keep_last: 0` over a later `keep_last: 2`) was silently ignored."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:  # before merge keys (<<) are expanded: a key may override a merged one
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice (also at line {seen[key]}); keep one",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


def yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error on one line with the file's line and column (PyYAML's own text spans several lines and
    names the source `<unicode string>`)."""
    if not isinstance(exc, yaml.MarkedYAMLError) or exc.problem_mark is None:
        return " ".join(str(exc).split())
    mark = exc.problem_mark
    text = f"line {mark.line + 1}, column {mark.column + 1}: {exc.problem}"
    if exc.context:
        where = f" at line {exc.context_mark.line + 1}" if exc.context_mark is not None else ""
        text += f" ({exc.context}{where})"
    return text


def load_run_config(path: str | Path) -> RunConfig:
    """Read a run YAML file, or a shipped config by name (`shapes`, `faces`, ...: sean_core.shipped)."""
    try:
        path = find_config(path)
    except NotFoundError as exc:
        raise ConfigError(f"config file {exc}") from exc
    if not path.is_file():
        raise ConfigError(f"config {path} is not a file (give a YAML file or a shipped config name)")
    try:
        # _UniqueKeyLoader is a SafeLoader: it builds no arbitrary objects
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {yaml_problem(exc)}") from exc
    return RunConfig.from_dict(data, source=str(path))


def bind_domain(config: RunConfig):
    """Check the model section against its domain plugin; fill in the class names.

    Returns (config with model.class_names set, the Domain).
    """
    from sean_core.domains import get_domain

    domain = get_domain(config.model.domain)
    model = config.model
    # A key the config leaves out has the faces model's value (ModelConfig's defaults): say so, and the fix.
    if model.num_classes != domain.num_classes:
        raise ConfigError(
            f"model.num_classes is {model.num_classes} but domain {domain.name!r} has {domain.num_classes} classes; "
            f"set `num_classes: {domain.num_classes}` under model: in the config (docs/plugins.md, a config for "
            f"your domain)"
        )
    if model.extra_mask_channels != domain.extra_mask_channels:
        raise ConfigError(
            f"model.extra_mask_channels is {model.extra_mask_channels} but domain {domain.name!r} "
            f"provides {domain.extra_mask_channels}; set `extra_mask_channels: {domain.extra_mask_channels}` under "
            f"model: in the config"
        )
    if model.class_names and tuple(model.class_names) != tuple(domain.class_names):
        raise ConfigError(f"model.class_names differ from domain {domain.name!r}'s; leave them out to use the domain's")
    model = dataclasses.replace(model, class_names=tuple(domain.class_names))
    return dataclasses.replace(config, model=model), domain
