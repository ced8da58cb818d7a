"""SEAN normalization (the official `ACE` block, spec section 3), computed without loops.

out = BN(x + noise) * (1 + gamma) + beta, where gamma/beta blend a per-region style branch and a
SPADE mask branch with sigmoid(learned scalar) weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sean_train.networks.ops import broadcast_styles, factorized_style_conv, region_styles


class MaskBranch(nn.Module):
    """SPADE branch: mask -> (gamma, beta) through a shared 3x3 conv + ReLU and two 3x3 convs."""

    def __init__(self, mask_channels: int, channels: int, hidden: int) -> None:
        super().__init__()
        self.shared = nn.Conv2d(mask_channels, hidden, 3, padding=1)
        self.gamma = nn.Conv2d(hidden, channels, 3, padding=1)
        self.beta = nn.Conv2d(hidden, channels, 3, padding=1)

    def forward(self, mask: Tensor) -> tuple[Tensor, Tensor]:
        a = F.relu(self.shared(mask))
        return self.gamma(a), self.beta(a)


class SEANNorm(nn.Module):
    """One SEAN normalization layer over `channels` feature channels at a fixed resolution."""

    def __init__(
        self,
        channels: int,  # C: feature channels being normalised
        mask_channels: int,  # K + E: channels of the mask input
        num_classes: int,  # K: classes with a style code
        style_dim: int,  # S
        hidden: int,  # width of the mask branch
        use_style: bool,  # False: SPADE-only modulation (the last ResBlk)
        style_conv: str = "direct",  # "direct" or "factorized" (see costs.style_conv_macs)
    ) -> None:
        super().__init__()
        if style_conv not in ("direct", "factorized"):
            raise ValueError(f"style_conv must be resolved to 'direct' or 'factorized', got {style_conv!r}")
        self.use_style = use_style
        self.style_conv = style_conv
        self.num_classes = num_classes
        self.blending_gamma = nn.Parameter(torch.zeros(1))
        self.blending_beta = nn.Parameter(torch.zeros(1))
        self.noise_var = nn.Parameter(torch.zeros(channels))  # per-channel scale of the pixel noise
        self.bn = nn.BatchNorm2d(channels, affine=False, eps=1e-5, momentum=0.1)
        self.mask_branch = MaskBranch(mask_channels, channels, hidden)
        if use_style:
            # Per-class fully connected layers stacked: y_k = x_k @ W_k^T + b_k (nn.Linear layout).
            self.style_fc_weight = nn.Parameter(torch.empty(num_classes, style_dim, style_dim))
            self.style_fc_bias = nn.Parameter(torch.zeros(num_classes, style_dim))
            self.conv_gamma = nn.Conv2d(style_dim, channels, 3, padding=1)
            self.conv_beta = nn.Conv2d(style_dim, channels, 3, padding=1)
            nn.init.kaiming_uniform_(self.style_fc_weight, a=5**0.5)

    def region_styles(self, codes: Tensor) -> Tensor:
        """codes [B, K, S] -> mu [B, K, S] = ReLU(per-class FC(code))."""
        return region_styles(codes, self.style_fc_weight, self.style_fc_bias)

    def style_modulation(self, classes: Tensor, codes: Tensor) -> tuple[Tensor, Tensor]:
        """classes [B, K, H, W] one-hot, codes [B, K, S] -> gamma_s, beta_s [B, C, H, W]."""
        mu = self.region_styles(codes)
        if self.style_conv == "direct":
            style_map = broadcast_styles(mu, classes)  # [B, S, H, W]
            return self.conv_gamma(style_map), self.conv_beta(style_map)
        c = self.conv_gamma.out_channels
        weight = torch.cat([self.conv_gamma.weight, self.conv_beta.weight], dim=0)  # [2C, S, 3, 3]
        bias = torch.cat([self.conv_gamma.bias, self.conv_beta.bias], dim=0)  # [2C]
        out = factorized_style_conv(mu, weight, classes) + bias.view(1, -1, 1, 1)  # [B, 2C, H, W]
        return out[:, :c], out[:, c:]

    def forward(self, x: Tensor, mask: Tensor, codes: Tensor, noise: Tensor) -> Tensor:
        """x [B, C, H, W]; mask [B, K+E, H, W] at x's resolution; codes [B, K, S]; noise [B, 1, H, W]."""
        normalized = self.bn(x + noise * self.noise_var.view(1, -1, 1, 1))
        gamma_o, beta_o = self.mask_branch(mask)
        if self.use_style:
            gamma_s, beta_s = self.style_modulation(mask[:, : self.num_classes], codes)
            a_gamma = torch.sigmoid(self.blending_gamma)
            a_beta = torch.sigmoid(self.blending_beta)
            gamma = a_gamma * gamma_s + (1 - a_gamma) * gamma_o
            beta = a_beta * beta_s + (1 - a_beta) * beta_o
        else:
            gamma, beta = gamma_o, beta_o
        return normalized * (1 + gamma) + beta
