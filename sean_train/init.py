"""Official weight initialisation: xavier-normal with a small gain on every conv and linear weight."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

from sean_train.networks.norm import SEANNorm


def _weight_of(module: nn.Module) -> torch.Tensor:
    """The trainable weight tensor, also under a spectral-norm parametrization (its `original`)."""
    if parametrize.is_parametrized(module, "weight"):
        return module.parametrizations.weight.original
    return module.weight


@torch.no_grad()
def init_weights(model: nn.Module, gain: float = 0.02) -> nn.Module:
    """xavier_normal_(gain) on every Conv*/Linear weight and on each per-class style FC, biases to 0.

    The stacked style FCs [K, S, S] are K nn.Linear(S, S) layers in the official code, so each slice is
    initialised on its own (fan_in = fan_out = S). noise_var and the blending scalars stay 0.
    """
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.xavier_normal_(_weight_of(module), gain=gain)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, SEANNorm) and module.use_style:
            for weight in module.style_fc_weight:
                nn.init.xavier_normal_(weight, gain=gain)
            nn.init.zeros_(module.style_fc_bias)
    return model
