"""The two exported graphs as torch modules; their interfaces are those of sean_core.format.

The wrappers give the graphs the package interface (docs/package-format.md): label ids instead of a
one-hot mask (the one-hot is built inside as Equal against a constant class range + Cast), an `area`
output next to the style codes, and noise as an explicit input. Height and width are fixed by the
model config; only the batch axis is dynamic.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sean_core.format import GRAPH_NAMES, GraphSpec, ModelShape
from sean_core.format import graph_spec as format_graph_spec
from sean_export.onnx_export import ExportError
from sean_train.config import EXPORTABLE_STYLE_ENCODER, ONLY_UNIFIED_EXPORTS, ModelConfig
from sean_train.networks import SEANModel
from sean_train.networks.generator import noise_layout
from sean_train.networks.inference import fold_for_inference
from sean_train.networks.ops import downsample_nearest, one_hot


def check_exportable(config: ModelConfig) -> None:
    """ExportError unless the package format can carry the model: a package carries one code of style_dim
    numbers per region, which every SEAN layer reads (the unified style encoder); a ResBlk- or SEAN-level
    model's layers each read their own code (docs/paper.md), so it stays a PyTorch model."""
    if config.style_encoder != EXPORTABLE_STYLE_ENCODER:
        raise ExportError(
            f"this model has the {config.style_encoder!r} style encoder (a code per region for each "
            f"{'SEAN ResBlk' if config.style_encoder == 'resblk' else 'SEAN layer'}); {ONLY_UNIFIED_EXPORTS}"
        )


def model_shape(config: ModelConfig) -> ModelShape:
    """The sizes of a model that fix its graphs' interfaces (sean_core.format); only exportable models have them."""
    check_exportable(config)
    return ModelShape(
        height=config.height,
        width=config.width,
        num_classes=config.num_classes,
        style_dim=config.style_dim,
        noise_numel=noise_layout(config).numel,
        extra_channels=config.extra_mask_channels,
    )


def graph_spec(config: ModelConfig, name: str) -> GraphSpec:
    """The interface of graph `name` of this model, as the package format defines it."""
    return format_graph_spec(model_shape(config), name)


def encoder_pool_size(config: ModelConfig) -> tuple[int, int]:
    """(height, width) of the style encoder's feature map, where regions are pooled: H/2 x W/2."""
    return config.height // 2, config.width // 2


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
    """The generator graph in the folded inference form (networks.inference): the same inputs and output.

    regions: the region form where it applies (networks.regions, data-dependent edge rows); else dense.
    edges: how its region layers compute their edge rows (fold_for_inference's edge_mode).
    """

    def __init__(self, model: SEANModel, regions: bool = False, edges: str = "auto") -> None:
        super().__init__()
        region_mode = "auto" if regions else "dense"
        self.generator = fold_for_inference(model.generator, region_mode=region_mode, edge_mode=edges)

    def forward(self, labels: Tensor, codes: Tensor, noise: Tensor) -> Tensor:
        return self.generator(labels, codes, noise)


class InferenceGeneratorGraphWithExtra(InferenceGeneratorGraph):
    def forward(self, labels: Tensor, codes: Tensor, noise: Tensor, extra: Tensor) -> Tensor:  # type: ignore[override]
        return self.generator(labels, codes, noise, extra)


def graph_module(
    model: SEANModel, name: str, inference: bool = False, regions: bool = False, edges: str = "auto"
) -> nn.Module:
    """The torch module whose forward() is exported as graph `name` (eval mode).

    inference=True: the generator in its folded inference form (what packages ship), in region form
    with regions=True (a region-form package, its edge rows computed as `edges` says: "auto" or one of
    sean_core.forms.EDGE_FORMS); False: the training form's modules as they are (the reference the
    exported graphs are validated against).
    """
    extra = bool(model.config.extra_mask_channels)
    if name == "encoder":
        module: nn.Module = EncoderGraph(model)
    elif name == "generator" and inference:
        module = (InferenceGeneratorGraphWithExtra if extra else InferenceGeneratorGraph)(model, regions, edges)
    elif name == "generator":
        module = GeneratorGraphWithExtra(model) if extra else GeneratorGraph(model)
    else:
        raise ValueError(f"unknown graph {name!r}; the graphs are {GRAPH_NAMES}")
    return module.eval()
