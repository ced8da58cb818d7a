"""Weight initialisation: the official one (xavier-normal, small gain) and random models for tests and benches."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

from sean_train.config import ModelConfig
from sean_train.networks import SEANModel
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


def random_model(config: ModelConfig, seed: int = 0, scale: float | None = None) -> SEANModel:
    """A SEANModel with random weights, for tests and benchmarks (eval mode).

    scale None: weights N(0, 1/fan_in) and biases N(0, 0.02), so activations stay O(1) at any width
    (a fixed scale blows up or vanishes through the 14 convolutions of 1024 channels of the official
    size); BatchNorm statistics keep their defaults.
    scale s: every parameter and running mean N(0, s) and running variances U(0.5, 2), so that no
    path of a tiny model is trivially zero.
    """
    torch.manual_seed(seed)
    model = SEANModel(config)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            if scale is None:
                if name.endswith(("running_mean", "running_var")):
                    continue
                if tensor.dim() >= 2:
                    fan_in = tensor[0].numel() if not name.endswith("style_fc_weight") else tensor.shape[-1]
                    tensor.normal_(0.0, fan_in**-0.5)
                else:
                    tensor.normal_(0.0, 0.02)
            elif name.endswith("running_var"):
                tensor.uniform_(0.5, 2.0)
            else:
                tensor.normal_(0.0, scale)
    return model.eval()
