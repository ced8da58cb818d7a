"""Spectral normalization: training-time reparametrization and its exact eval-mode fold."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm


def fold_spectral_weight(weight_orig: Tensor, u: Tensor, v: Tensor) -> Tensor:
    """Eval-mode spectral norm with the stored vectors, no power iteration.

    weight_orig [O, ...], u [O], v [prod(...)] -> W = weight_orig / (u . (W_mat v)), W_mat = [O, -1].
    """
    w_mat = weight_orig.reshape(weight_orig.shape[0], -1)
    sigma = torch.dot(u, torch.mv(w_mat, v))
    return weight_orig / sigma


def add_spectral_norm(modules: list[nn.Module]) -> None:
    """Wrap each module's `weight` in torch's spectral-norm parametrization (in place)."""
    for module in modules:
        spectral_norm(module)
