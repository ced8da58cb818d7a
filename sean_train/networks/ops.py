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


def reflect_pad(x: Tensor, pad: int) -> Tensor:
    """x [B, C, H, W] -> [B, C, H + 2 pad, W + 2 pad], mirrored at each border without repeating it: the
    values of F.pad(mode="reflect"), made of slices and concatenations. Their backward is deterministic on
    CUDA; the reflect pad's adds into the border rows with atomics (PyTorch lists ReflectionPad2d's
    backward among the CUDA operations with no deterministic implementation). pad < H, W."""
    for dim in (2, 3):
        before = x.narrow(dim, 1, pad).flip(dim)  # rows pad .. 1
        after = x.narrow(dim, x.shape[dim] - 1 - pad, pad).flip(dim)  # rows H - 2 .. H - 1 - pad
        x = torch.cat([before, x, after], dim)
    return x


def upsample2_channels_last(x: Tensor) -> Tensor:
    """Nearest 2x upsampling of a channels-last x [B, H, W, C] -> [B, 2H, 2W, C]: F.interpolate's nearest
    on the channels-first view (source index = dst // 2), as an Expand and a Reshape in the graph."""
    _, h, w, c = x.shape
    return x[:, :, None, :, None, :].expand(-1, -1, 2, -1, 2, -1).reshape(-1, 2 * h, 2 * w, c)


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


def region_styles(codes: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """Per-class fully connected layer + ReLU: codes [B, K, S], weight [K, S, S] (nn.Linear layout), bias [K, S]
    -> mu [B, K, S] with mu_k = ReLU(W_k code_k + b_k)."""
    projected = torch.matmul(codes.unsqueeze(2), weight.transpose(1, 2))  # [B, K, 1, S]
    return torch.relu(projected.squeeze(2) + bias)


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


def factorized_style_conv(styles: Tensor, weight: Tensor, classes: Tensor) -> Tensor:
    """conv3x3(broadcast_styles(styles, classes), weight) without painting the style map (no bias).

    styles [B, K, S], weight [R, S, 3, 3], classes [B, K, H, W] one-hot -> [B, R, H, W]. Per-image kernels
    kernels[b, r, k, tap] = sum_s weight[r, s, tap] styles[b, k, s], then a 3x3 conv over the K one-hot
    channels as one product with their patches (exact: convolution is linear, zero padding commutes).
    """
    b, k, h, w = classes.shape
    r = weight.shape[0]
    w_taps = weight.permute(0, 2, 3, 1).reshape(r * 9, -1)  # [R*9, S], rows (r, tap)
    kernels = torch.matmul(w_taps, styles.transpose(1, 2))  # [B, R*9, K]
    kernels = kernels.reshape(b, r, 9, k).transpose(2, 3).reshape(b, r, k * 9)  # columns (k, tap) as unfold3x3
    return torch.matmul(kernels, unfold3x3(classes)).reshape(b, r, h, w)


def table_ids(labels: Tensor, num_classes: int) -> Tensor:
    """Label ids [B, H, W] -> int64 [B, H, W]: 1 + label for a label in [0, K), 0 for ids outside it
    (where one_hot gives an all-zero pixel): a pixel's row among a table's K + 1 class rows."""
    # Constants in the labels' own type: comparing with Python ints would cast the graph input itself,
    # and OpenVINO then names the input after the cast. 0-dim CPU tensors, which every device takes as
    # scalars: made on a GPU they would be copied from host memory, which CUDA-graph capture forbids.
    zero, one, count = (torch.tensor(v, dtype=labels.dtype) for v in (0, 1, num_classes))
    return torch.where((labels >= zero) & (labels < count), labels + one, zero).long()


def tap_rows(ids: Tensor, rows_per_tap: int | Tensor) -> Tensor:
    """Table ids int64 [B, H, W] (0: no class) -> int64 [B, 9, H*W]: each 3x3 tap's row tap * rows_per_tap + id
    in a table of 9 blocks of rows_per_tap rows; zero padding reads row 0 of its block."""
    b, h, w = ids.shape
    padded = torch.nn.functional.pad(ids, (1, 1, 1, 1))  # [B, H+2, W+2], 0 = padding
    taps = [padded[:, dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)]
    rows = torch.stack(taps, dim=1).reshape(b, 9, h * w)
    return rows + torch.arange(9, device=ids.device).view(1, 9, 1) * rows_per_tap


def lookup_taps(labels: Tensor, num_classes: int) -> Tensor:
    """Label ids [B, H, W] -> int64 [B, 9, H*W]: the row of each 3x3 tap in a table [9 (K + 1), *].

    Row tap * (K + 1) + 1 + label for a label in [0, K); row tap * (K + 1) for zero padding and for ids
    outside [0, K) (where one_hot gives an all-zero pixel), so row 0 of every tap must be zero.
    """
    return tap_rows(table_ids(labels, num_classes), num_classes + 1)


def lookup_sum(table: Tensor, taps: Tensor, height: int, width: int) -> Tensor:
    """Sum of the nine tap rows per pixel: table [N, R], taps int64 [B, 9, H*W] -> [B, R, H, W].

    With table[tap * (K + 1) + 1 + k] = W[:, k, tap] this is the 3x3 convolution of the one-hot mask
    with W (no bias): nine Gather rows per pixel instead of K * 9 multiply-adds per output. Whole rows
    (Gather axis 0) and not single entries: ONNX Runtime copies a row per index, and gathering columns
    took it about twice as long; OpenVINO runs both alike (docs/performance.md, "Tried and not taken").
    """
    rows = table[taps]  # Gather: [B, 9, HW, R]
    return rows.sum(dim=1).transpose(1, 2).reshape(-1, table.shape[1], height, width)
