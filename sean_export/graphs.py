"""The two exported graphs as torch modules, and the description of their inputs and outputs.

The wrappers give the graphs the package interface (docs/package-format.md): label ids instead of a
one-hot mask (the one-hot is built inside as Equal against a constant class range + Cast), an `area`
output next to the style codes, and noise as an explicit input. Height and width are fixed by the
model config; only the batch axis is dynamic.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from sean_train.config import ModelConfig
from sean_train.networks import SEANModel
from sean_train.networks.generator import NoiseLayout
from sean_train.networks.inference import fold_for_inference
from sean_train.networks.ops import downsample_nearest, one_hot

BATCH = "batch"  # name of the dynamic axis in the graphs and the manifest
GRAPH_NAMES = ("encoder", "generator")


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output: name, element type and shape (BATCH for the dynamic axis)."""

    name: str
    dtype: str  # "float32" or "int32"
    shape: tuple[int | str, ...]

    def to_dict(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}

    def concrete_shape(self, batch: int) -> tuple[int, ...]:
        return tuple(batch if dim == BATCH else int(dim) for dim in self.shape)


@dataclass(frozen=True)
class GraphSpec:
    name: str  # "encoder" or "generator"
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    @property
    def input_names(self) -> list[str]:
        return [t.name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [t.name for t in self.outputs]


def encoder_pool_size(config: ModelConfig) -> tuple[int, int]:
    """(height, width) of the style encoder's feature map, where regions are pooled: H/2 x W/2."""
    return config.height // 2, config.width // 2


def encoder_spec(config: ModelConfig) -> GraphSpec:
    """The style encoder ignores extra mask channels (only the K classes get codes), so it has no `extra`."""
    h, w, k, s = config.height, config.width, config.num_classes, config.style_dim
    return GraphSpec(
        "encoder",
        inputs=(
            TensorSpec("image", "float32", (BATCH, 3, h, w)),
            TensorSpec("labels", "int32", (BATCH, h, w)),
        ),
        outputs=(
            TensorSpec("codes", "float32", (BATCH, k, s)),
            TensorSpec("area", "float32", (BATCH, k)),
        ),
    )


def generator_spec(config: ModelConfig) -> GraphSpec:
    h, w, k, s = config.height, config.width, config.num_classes, config.style_dim
    inputs = [
        TensorSpec("labels", "int32", (BATCH, h, w)),
        TensorSpec("codes", "float32", (BATCH, k, s)),
        TensorSpec("noise", "float32", (BATCH, NoiseLayout.for_config(config).numel)),
    ]
    if config.extra_mask_channels:
        inputs.append(TensorSpec("extra", "float32", (BATCH, config.extra_mask_channels, h, w)))
    return GraphSpec("generator", tuple(inputs), (TensorSpec("image", "float32", (BATCH, 3, h, w)),))


def graph_spec(config: ModelConfig, name: str) -> GraphSpec:
    if name == "encoder":
        return encoder_spec(config)
    if name == "generator":
        return generator_spec(config)
    raise ValueError(f"unknown graph {name!r}; the graphs are {GRAPH_NAMES}")


class EncoderGraph(nn.Module):
    """image [B, 3, H, W], labels int32 [B, H, W] -> codes [B, K, S], area [B, K]."""

    def __init__(self, model: SEANModel) -> None:
        super().__init__()
        self.encoder = model.encoder
        self.num_classes = model.config.num_classes
        self.pool_size = encoder_pool_size(model.config)

    def forward(self, image: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        # The encoder pools on its H/2 x W/2 grid, so the one-hot is built there (nearest: every second
        # pixel), not at full size: the same numbers, a quarter of the work.
        mask = one_hot(downsample_nearest(labels, *self.pool_size), self.num_classes)  # [B, K, H/2, W/2]
        codes = self.encoder(image, mask)
        # Pixels of each class on the pooling grid; the runtime reads area > 0 as "class present".
        area = mask.sum(dim=(2, 3))  # [B, K]
        return codes, area


class GeneratorGraph(nn.Module):
    """labels int32 [B, H, W], codes [B, K, S], noise [B, N] -> image [B, 3, H, W] in [-1, 1]."""

    def __init__(self, model: SEANModel) -> None:
        super().__init__()
        self.generator = model.generator
        self.num_classes = model.config.num_classes

    def forward(self, labels: Tensor, codes: Tensor, noise: Tensor) -> Tensor:
        return self.generator(one_hot(labels, self.num_classes), codes, noise)


class GeneratorGraphWithExtra(GeneratorGraph):
    """As GeneratorGraph, plus extra mask channels [B, E, H, W] appended after the K one-hot channels."""

    def forward(self, labels: Tensor, codes: Tensor, noise: Tensor, extra: Tensor) -> Tensor:  # type: ignore[override]
        mask = torch.cat([one_hot(labels, self.num_classes), extra], dim=1)  # [B, K+E, H, W]
        return self.generator(mask, codes, noise)


class InferenceGeneratorGraph(nn.Module):
    """The generator graph in the folded inference form (networks.inference): the same inputs and output."""

    def __init__(self, model: SEANModel) -> None:
        super().__init__()
        self.generator = fold_for_inference(model.generator)

    def forward(self, labels: Tensor, codes: Tensor, noise: Tensor) -> Tensor:
        return self.generator(labels, codes, noise)


class InferenceGeneratorGraphWithExtra(InferenceGeneratorGraph):
    def forward(self, labels: Tensor, codes: Tensor, noise: Tensor, extra: Tensor) -> Tensor:  # type: ignore[override]
        return self.generator(labels, codes, noise, extra)


def graph_module(model: SEANModel, name: str, inference: bool = False) -> nn.Module:
    """The torch module whose forward() is exported as graph `name` (eval mode).

    inference=True: the generator in its folded inference form (what packages ship); False: the
    training form's modules as they are (the reference the exported graphs are validated against).
    """
    extra = bool(model.config.extra_mask_channels)
    if name == "encoder":
        module: nn.Module = EncoderGraph(model)
    elif name == "generator" and inference:
        module = InferenceGeneratorGraphWithExtra(model) if extra else InferenceGeneratorGraph(model)
    elif name == "generator":
        module = GeneratorGraphWithExtra(model) if extra else GeneratorGraph(model)
    else:
        raise ValueError(f"unknown graph {name!r}; the graphs are {GRAPH_NAMES}")
    return module.eval()
