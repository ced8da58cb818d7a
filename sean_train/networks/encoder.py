"""Style encoder: a bottleneck CNN followed by region-wise average pooling (spec section 1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sean_train.networks.ops import downsample_nearest, reflect_pad, region_pool


class ReflectionPad(nn.Module):
    """nn.ReflectionPad2d(pad) that trains deterministically on CUDA: in training mode the pad is built
    from slices (ops.reflect_pad, whose backward is deterministic); in eval mode, and so in the exported
    graphs, it is one reflect Pad, the cheaper op for inference. Both give the same values."""

    def __init__(self, pad: int) -> None:
        super().__init__()
        self.pad = pad

    def forward(self, x: Tensor) -> Tensor:
        """x [B, C, H, W] -> [B, C, H + 2 pad, W + 2 pad]."""
        if self.training:
            return reflect_pad(x, self.pad)
        return F.pad(x, (self.pad,) * 4, mode="reflect")


class StyleEncoder(nn.Module):
    """Style image + mask -> one style code per class.

    Widths for encoder_ngf = 32 are the official 32, 64, 128, 256 (transposed conv), 512 (= style_dim).
    The instance norms have no affine parameters and always use per-instance statistics.
    """

    def __init__(
        self,
        num_classes: int,  # K: classes that receive a code (mask channels beyond K are ignored)
        style_dim: int = 512,  # S: length of each code
        base_channels: int = 32,  # width of the first conv
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        c1, c2, c3, c4 = base_channels, 2 * base_channels, 4 * base_channels, 8 * base_channels
        act = nn.LeakyReLU(0.2)
        self.features = nn.Sequential(
            ReflectionPad(1),
            nn.Conv2d(3, c1, 3),
            nn.InstanceNorm2d(c1),
            act,
            nn.Conv2d(c1, c2, 3, stride=2, padding=1),  # H/2
            nn.InstanceNorm2d(c2),
            act,
            nn.Conv2d(c2, c3, 3, stride=2, padding=1),  # H/4
            nn.InstanceNorm2d(c3),
            act,
            nn.ConvTranspose2d(c3, c4, 3, stride=2, padding=1, output_padding=1),  # H/2
            nn.InstanceNorm2d(c4),
            act,
            ReflectionPad(1),
            nn.Conv2d(c4, style_dim, 3),
            nn.Tanh(),
        )

    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        """image [B, 3, H, W] in [-1, 1], mask [B, K(+E), H, W] -> codes [B, K, S]."""
        feats = self.features(image)  # [B, S, H/2, W/2]
        classes = mask[:, : self.num_classes]
        small = downsample_nearest(classes, feats.shape[2], feats.shape[3])
        return region_pool(feats, small)


class StyleEncoders(nn.Module):
    """The ResBlk-level and SEAN-level encoders (supplementary §B, Fig. 3): `groups` StyleEncoders of
    the unified encoder's architecture, each extracting its own codes from the same image and mask.

    Returns one region's style as all its codes side by side, [B, K, groups * S] (group g at
    [g * S, (g + 1) * S)), so swapping or interpolating a region's style moves every code together.
    """

    def __init__(self, groups: int, num_classes: int, style_dim: int = 512, base_channels: int = 32) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.encoders = nn.ModuleList(StyleEncoder(num_classes, style_dim, base_channels) for _ in range(groups))

    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        """image [B, 3, H, W], mask [B, K(+E), H, W] -> codes [B, K, groups * S]."""
        return torch.cat([encoder(image, mask) for encoder in self.encoders], dim=2)
