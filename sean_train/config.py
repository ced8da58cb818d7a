"""Model configuration: every size that shapes the networks, in one frozen dataclass.

Saved as JSON beside the safetensors weights; it alone rebuilds the model.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from sean_core.errors import SeanError

# Number of x2 nearest upsamplings between the latent grid and the output, per generator layout
# (official `num_upsampling_layers`; `most` is broken in the official code and not offered).
LAYOUT_UPSAMPLINGS = {"normal": 5, "more": 6}
STYLE_CONV_MODES = ("auto", "direct", "factorized")
# Where the style codes come from (supplementary §B, Fig. 3): one encoder for every SEAN block
# ("unified", the paper's choice), one per SEAN ResBlk ("resblk"), or one per SEAN normalization block ("sean").
STYLE_ENCODERS = ("unified", "resblk", "sean")
# A package carries one style code per region, which every SEAN layer reads: only the unified encoder's
# model has such codes, so `sean export` refuses the others and `sean train` says so when one starts.
EXPORTABLE_STYLE_ENCODER = "unified"
ONLY_UNIFIED_EXPORTS = (
    f"packages carry the {EXPORTABLE_STYLE_ENCODER} encoder's one code per region, so only "
    f"style_encoder: {EXPORTABLE_STYLE_ENCODER} models export"
)


class ConfigError(SeanError, ValueError):
    """A model configuration that cannot describe a working SEAN model."""


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of the style encoder and generator. Defaults are the official CelebA-HQ model."""

    num_classes: int = 19  # K: semantic classes, each with its own style code
    extra_mask_channels: int = 0  # E: extra mask channels without a style (e.g. instance edges)
    style_dim: int = 512  # S: length of one region's style code
    ngf: int = 64  # generator base width; blocks use 16, 16, 16, 8, 4, 2, 1 x ngf
    encoder_ngf: int = 32  # style-encoder base width (official: hard-coded 32)
    spade_hidden: int = 128  # hidden width of the mask branch (official: hard-coded 128)
    height: int = 256  # output height in pixels
    width: int = 256  # output width in pixels
    layout: str = "normal"  # "normal" (5 upsamplings) or "more" (6, e.g. Cityscapes 512x256)
    style_conv: str = "auto"  # "direct", "factorized" (exact identity) or "auto" (cheaper per layer)
    style_encoder: str = "unified"  # one of STYLE_ENCODERS; checkpoints without it are unified
    domain: str = ""  # domain plugin name this model was trained for ("" = unspecified)
    class_names: tuple[str, ...] = field(default=())  # optional, len == num_classes

    def __post_init__(self) -> None:
        if self.num_classes < 1:
            raise ConfigError(f"num_classes must be >= 1, got {self.num_classes}")
        if self.extra_mask_channels < 0:
            raise ConfigError(f"extra_mask_channels must be >= 0, got {self.extra_mask_channels}")
        for name in ("style_dim", "ngf", "encoder_ngf", "spade_hidden"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.layout not in LAYOUT_UPSAMPLINGS:
            raise ConfigError(f"layout must be one of {sorted(LAYOUT_UPSAMPLINGS)}, got {self.layout!r}")
        if self.style_conv not in STYLE_CONV_MODES:
            raise ConfigError(f"style_conv must be one of {STYLE_CONV_MODES}, got {self.style_conv!r}")
        if self.style_encoder not in STYLE_ENCODERS:
            raise ConfigError(f"style_encoder must be one of {STYLE_ENCODERS}, got {self.style_encoder!r}")
        factor = 2**self.num_upsamplings
        if self.height % factor or self.width % factor:
            raise ConfigError(
                f"height and width must be multiples of {factor} for layout {self.layout!r}, "
                f"got {self.height}x{self.width}"
            )
        if self.height % 4 or self.width % 4:
            raise ConfigError("height and width must be multiples of 4 (style encoder strides)")
        if self.class_names and len(self.class_names) != self.num_classes:
            raise ConfigError(
                f"class_names has {len(self.class_names)} entries but num_classes is {self.num_classes}"
            )
        object.__setattr__(self, "class_names", tuple(self.class_names))

    @property
    def mask_channels(self) -> int:
        """Channels of the mask input: K one-hot classes followed by E extra channels."""
        return self.num_classes + self.extra_mask_channels

    @property
    def num_upsamplings(self) -> int:
        return LAYOUT_UPSAMPLINGS[self.layout]

    @property
    def latent_size(self) -> tuple[int, int]:
        """(height, width) of the generator's first feature map."""
        factor = 2**self.num_upsamplings
        return self.height // factor, self.width // factor

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["class_names"] = list(self.class_names)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "model config") -> ModelConfig:
        return config_from_mapping(cls, data, where)


@dataclass(frozen=True)
class DiscriminatorConfig:
    """Multi-scale PatchGAN discriminator (training only). Defaults are SEAN's."""

    num_scales: int = 2  # num_D
    num_layers: int = 3  # n_layers_D (SEAN: 3, all stride 2)
    ndf: int = 64  # base width; doubles per layer up to max_channels
    max_channels: int = 512

    def __post_init__(self) -> None:
        for name in ("num_scales", "num_layers", "ndf", "max_channels"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "discriminator config") -> DiscriminatorConfig:
        return config_from_mapping(cls, data, where)


_TYPE_NAMES = {int: ("an integer", "integers"), float: ("a number", "numbers"), bool: ("true or false", "booleans"),
               str: ("a string", "strings"), type(None): ("null", "nulls")}


def _type_name(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:
        items = _TYPE_NAMES[args[0]][1]
        return f"a list of {items}" if args[-1] is Ellipsis else f"a list of {len(args)} {items}"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    return _TYPE_NAMES[hint][0]


def _fits(value: Any, hint: Any) -> bool:
    """Whether a value parsed from YAML / JSON has the type a config field declares (a bool is no number)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or (args[-1] is not Ellipsis and len(value) != len(args)):
            return False
        kinds = [args[0]] * len(value) if args[-1] is Ellipsis else args
        return all(_fits(item, kind) for item, kind in zip(value, kinds, strict=True))
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arg) for arg in args)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is type(None):
        return value is None
    return isinstance(value, hint)


def config_from_mapping(cls: type, values: Any, where: str) -> Any:
    """Instantiate a config dataclass from a mapping, naming unknown keys and values of the wrong type."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping of settings, got {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known, key=str)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; known keys are {sorted(known)}")
    for name, value in values.items():
        if not _fits(value, hints[name]):
            raise ConfigError(f"{where}: {name} must be {_type_name(hints[name])}, got {value!r:.80}")
    values = dict(values)
    if "class_names" in values:
        values["class_names"] = tuple(values["class_names"])
    try:
        return cls(**values)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
