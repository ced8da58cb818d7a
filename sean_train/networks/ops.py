"""Static tensor operations shared by the networks and the exported graphs.

Everything here is written with fixed shapes (apart from the batch axis) and no data-dependent
control flow, so it exports to ONNX as MatMul / Slice / Equal and runs on TensorRT.
"""

from __future__ import annotations

import torch
from torch import Tensor


def one_hot(labels: Tensor, num_classes: int) -> Tensor:
    """Label ids [B, H, W] (any int dtype) -> float one-hot mask [B, K, H, W].

    Written as Equal against a constant class range and a Cast, so the exported graph stays static.
    Ids outside [0, K) give an all-zero pixel (validated by callers, not here).
    """
    classes = torch.arange(num_classes, device=labels.device, dtype=labels.dtype).view(1, -1, 1, 1)
    return (labels.unsqueeze(1) == classes).to(torch.float32)


def downsample_nearest(mask: Tensor, height: int, width: int) -> Tensor:
    """PyTorch `nearest` resize for an integer down-factor: source index = dst * factor.

    Identical to F.interpolate(mode="nearest") when the input size is a multiple of the output size
    (floor(dst * in / out) = dst * factor), but exports as a strided Slice instead of a Resize.
    """
    in_h, in_w = mask.shape[-2], mask.shape[-1]
    if in_h == height and in_w == width:
        return mask
    if in_h % height or in_w % width:
        raise ValueError(f"cannot nearest-downsample {in_h}x{in_w} to {height}x{width}: not a divisor")
    return mask[..., :: in_h // height, :: in_w // width]


def region_pool(features: Tensor, mask: Tensor) -> Tensor:
    """Region-wise average pooling as one masked product.

    features [B, S, h, w], mask [B, K, h, w] (binary) -> codes [B, K, S]
    codes[b, k] = sum_hw mask * feat / max(area, 1): a class with no pixel gets a zero code.
    """
    b, s = features.shape[0], features.shape[1]
    k = mask.shape[1]
    m = mask.reshape(b, k, -1)  # [B, K, hw]
    f = features.reshape(b, s, -1).transpose(1, 2)  # [B, hw, S]
    area = m.sum(dim=2, keepdim=True).clamp(min=1.0)  # [B, K, 1]
    return torch.matmul(m, f) / area


def broadcast_styles(styles: Tensor, mask: Tensor) -> Tensor:
    """Paint each region with its style vector: the piecewise-constant style map.

    styles [B, K, S], mask [B, K, H, W] -> style map [B, S, H, W] = sum_k mask_k * styles_k.
    Pixels in no region stay zero.
    """
    b, k, h, w = mask.shape
    painted = torch.matmul(styles.transpose(1, 2), mask.reshape(b, k, h * w))  # [B, S, HW]
    return painted.reshape(b, styles.shape[2], h, w)


def unfold3x3(x: Tensor) -> Tensor:
    """3x3 zero-padded patches: x [B, C, H, W] -> [B, C*9, H*W], rows ordered (c, dy, dx).

    Nine static slices of the padded map; matches the layout of a Conv2d weight [O, C, 3, 3]
    flattened to [O, C*9].
    """
    b, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
    taps = [padded[:, :, dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)]
    return torch.stack(taps, dim=2).reshape(b, c * 9, h * w)
