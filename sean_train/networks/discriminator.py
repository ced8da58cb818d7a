"""Multi-scale PatchGAN discriminator (spec section 5); training only."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from sean_train.config import DiscriminatorConfig


class PatchDiscriminator(nn.Module):
    """Conv k4 s2 p2 + LReLU, then (num_layers - 1) SN-conv + IN + LReLU (all stride 2), then a k4 s1 conv."""

    def __init__(self, in_channels: int, config: DiscriminatorConfig) -> None:
        super().__init__()
        nf = config.ndf
        layers: list[nn.Sequential] = [
            nn.Sequential(nn.Conv2d(in_channels, nf, 4, stride=2, padding=2), nn.LeakyReLU(0.2))
        ]
        for _ in range(1, config.num_layers):
            prev, nf = nf, min(2 * nf, config.max_channels)
            layers.append(
                nn.Sequential(
                    spectral_norm(nn.Conv2d(prev, nf, 4, stride=2, padding=2, bias=False)),
                    nn.InstanceNorm2d(nf),
                    nn.LeakyReLU(0.2),
                )
            )
        layers.append(nn.Sequential(nn.Conv2d(nf, 1, 4, stride=1, padding=2)))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: Tensor) -> list[Tensor]:
        """Returns every layer's output; the last is the patch logit map, the others feed feature matching."""
        outputs = []
        for layer in self.layers:
            x = layer(x)
            outputs.append(x)
        return outputs


class MultiscaleDiscriminator(nn.Module):
    """num_scales PatchDiscriminators on the input average-pooled by 2 between scales."""

    def __init__(self, mask_channels: int, config: DiscriminatorConfig) -> None:
        super().__init__()
        self.scales = nn.ModuleList(
            PatchDiscriminator(mask_channels + 3, config) for _ in range(config.num_scales)
        )

    def forward(self, mask: Tensor, image: Tensor) -> list[list[Tensor]]:
        """mask [B, K+E, H, W], image [B, 3, H, W] -> per scale, the list of layer outputs."""
        x = torch.cat([mask, image], dim=1)
        results = []
        for i, disc in enumerate(self.scales):
            if i:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            results.append(disc(x))
        return results
