"""Image-quality and style-control measures, on images in 0..255 (float tensors [B, 3, H, W]).

All functions return one value per image so that callers can average over any set.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
DATA_RANGE = 255.0


def to_255(image: Tensor) -> Tensor:
    """Network output in [-1, 1] -> the uint8 values a user gets (rounded, clipped), as float."""
    return ((image.float() + 1.0) * 127.5).round().clamp(0.0, 255.0)


def mse(a: Tensor, b: Tensor) -> Tensor:
    return ((a.double() - b.double()) ** 2).flatten(1).mean(dim=1)


def rmse(a: Tensor, b: Tensor) -> Tensor:
    """Root mean squared error per image, 0..255 units."""
    return mse(a, b).sqrt()


def psnr_255(a: Tensor, b: Tensor) -> Tensor:
    """PSNR per image in dB of images on the 0..255 scale (identical images are capped at 100 dB)."""
    err = mse(a, b).clamp(min=DATA_RANGE**2 * 1e-10)
    return 10.0 * torch.log10(DATA_RANGE**2 / err)


def _gaussian_taps(size: int, sigma: float) -> Tensor:
    """The normalised 1-D gaussian [size] (float64); the 2-D window is its outer product."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(a: Tensor, b: Tensor) -> Tensor:
    """SSIM per image (Wang et al. 2004): 11x11 gaussian window, sigma 1.5, data range 255,
    K1 = 0.01, K2 = 0.03; computed per RGB channel over the valid (unpadded) window positions,
    then averaged over positions and channels."""
    a, b = a.double(), b.double()
    channels = a.shape[1]
    taps = _gaussian_taps(SSIM_WINDOW, SSIM_SIGMA).to(a.device)
    column = taps.view(1, 1, -1, 1).expand(channels, 1, -1, 1)  # [C, 1, 11, 1]
    row = taps.view(1, 1, 1, -1).expand(channels, 1, 1, -1)  # [C, 1, 1, 11]

    def blur(x: Tensor) -> Tensor:
        # The gaussian window is separable: a column pass then a row pass equals the 11x11 window
        # (to float64 rounding) at 2 x 11 instead of 121 multiply-adds per pixel.
        return F.conv2d(F.conv2d(x, column, groups=channels), row, groups=channels)

    c1, c2 = (0.01 * DATA_RANGE) ** 2, (0.03 * DATA_RANGE) ** 2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return index.flatten(1).mean(dim=1)


def region_colour_error(recon: Tensor, style: Tensor, classes: Tensor) -> tuple[Tensor, Tensor]:
    """Per (image, class): |mean colour of the region in recon - in style|, averaged over R, G, B.

    recon, style [B, 3, H, W] in 0..255; classes [B, K, H, W] one-hot.
    Returns (errors [B, K], present [B, K] bool); errors of absent classes are 0.
    """
    mean_recon, present = region_mean_colours(recon, classes)
    mean_style, _ = region_mean_colours(style, classes)
    return (mean_recon - mean_style).abs().mean(dim=2), present


def region_mean_colours(image: Tensor, classes: Tensor) -> tuple[Tensor, Tensor]:
    """image [B, 3, H, W], classes [B, K, H, W] one-hot -> (mean colour of each region [B, K, 3]
    float64, present [B, K] bool); absent regions' means are 0."""
    area = classes.sum(dim=(2, 3))  # [B, K]
    weights = classes / area.clamp(min=1.0)[:, :, None, None]
    return torch.einsum("bkhw,bchw->bkc", weights.double(), image.double()), area > 0


def region_detail(image: Tensor, classes: Tensor) -> tuple[Tensor, Tensor]:
    """Texture strength of each region: the mean absolute difference between neighbouring pixels (right and
    down, averaged over R, G, B; 0..255) over the region's interior, where the pixel and its right and lower
    neighbours are all of the class, so that region borders do not count. A flat region gives 0.

    image [B, 3, H, W] 0..255; classes [B, K, H, W] one-hot. Returns (detail [B, K] float64, measured [B, K]
    bool: the region has interior pixels); unmeasured regions give 0.
    """
    image = image.double()
    dx = (image[:, :, :-1, 1:] - image[:, :, :-1, :-1]).abs().mean(dim=1)  # [B, H-1, W-1]
    dy = (image[:, :, 1:, :-1] - image[:, :, :-1, :-1]).abs().mean(dim=1)
    inside = classes.double()
    interior = inside[:, :, :-1, :-1] * inside[:, :, :-1, 1:] * inside[:, :, 1:, :-1]  # [B, K, H-1, W-1]
    area = interior.sum(dim=(2, 3))
    detail = torch.einsum("bkhw,bhw->bk", interior, (dx + dy) / 2) / area.clamp(min=1.0)
    return detail, area > 0


def change_inside_outside(before: Tensor, after: Tensor, region: Tensor) -> tuple[Tensor, Tensor]:
    """Mean absolute change (0..255, averaged over R, G, B) inside and outside a region, per image.

    before, after [B, 3, H, W]; region [B, H, W] bool. An image with no pixel outside gives 0 there.
    """
    change = (after.double() - before.double()).abs().mean(dim=1)  # [B, H, W]
    inside = region.double()
    outside = 1.0 - inside
    mean_in = (change * inside).sum(dim=(1, 2)) / inside.sum(dim=(1, 2)).clamp(min=1.0)
    mean_out = (change * outside).sum(dim=(1, 2)) / outside.sum(dim=(1, 2)).clamp(min=1.0)
    return mean_in, mean_out
