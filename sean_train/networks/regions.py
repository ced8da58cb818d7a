"""Region interiors: where a SEAN layer's modulation is one row per class, computed once.

A folded SEAN layer's G and B rows at a pixel (networks.inference) are

    rows(p) = sum_t M_t act(p + t) + b + sum_t T_t[id(p + t)],   act(q) = ReLU(sum_t A_t[id(q + t)] + a)

(t over the 3x3 taps; M the modulation conv, A the mask branch's one-hot conv as a table, T the
per-image style tables; zero padding outside the image). act(q) depends only on the 3x3 ids around q,
rows(p) only on the 5x5 ids around p. Where those 5x5 ids are one class k (and the window stays inside
the image), rows(p) is one row per class and image: U_k + S_k, with U_k = M_sum ReLU(A_sum[k] + a) + b
constant and S_k = sum_t T_t[k] per image. Only the pixels near a region's edge need the products.

The exact values of the edge pixels (5x5 window not one class) are computed as the dense form computes
them, once per distinct window. act once per distinct 3x3 window of the near pixels (3x3 window not one
class; nine lookups). The modulation once per distinct 5x5 window of the edge pixels, in one of two forms
(RegionRows): "rows", its nine tap products M_t act once per activation row (the class rows and the near
windows: 870 rows against 3558 distinct 5x5 windows on a face layout at 256²), summed over the taps per
window (a Gather of nine rows); or "windows", one product per window of its 3x3 patch of activations.
The style part, which reads the 3x3 window only, is S_k at an edge pixel that is not near, and nine
lookups once per image and distinct 3x3 window at a near one. Windows repeat along a boundary (a face
layout at 256²: 11294 edge pixels, 3558 distinct 5x5 windows; 5852 near pixels, 849 distinct 3x3
windows); they are numbered with ONNX Unique (distinct_windows). An edge pixel's rows follow from its
image and 5x5 window, so every pixel is a row of one table [class rows of every image (B (P + 1)); a row
per distinct (image, window) pair of the edge pixels (V)], gathered once. V depends on the labels
(NonZero, Unique); the cost of a layer falls from H W rows of its products to one per distinct window.
The per-image style tables are computed for the P classes the batch shows, not all K (as the official
code loops over the classes present): their cost follows the image, not the class count.

A mask's edge band is a few pixels wide at every resolution: on a face parsing layout 17% of the
pixels at 256², all at 16². On the benchmark's 8-pixel cells of random classes nearly every pixel is
an edge pixel, and the region form costs more than the dense one (sean_core.forms.REGION_MIN_PIXELS:
the maps small enough to be all edges stay dense).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from sean_core.forms import EDGE_FORMS
from sean_train.networks.ops import downsample_nearest, table_ids, tap_rows


@dataclass
class RegionMaps:
    """Where one resolution's regions are constant. Pixels are flat over B * H * W; P + 1 class rows per image."""

    rows: Tensor  # int64 [B H W]: a pixel's row in [class rows B (P + 1); edge rows V]
    # int64 [S, 9]: per image and distinct near window, its tap rows in per-image style tables [B 9 (P + 1), *]
    near_image_taps: Tensor
    # int64 [V]: per distinct (image, 5x5 window) of the edge pixels, its style row in [class rows B (P + 1);
    # near style rows S]
    edge_style_rows: Tensor
    edge_patches: Tensor  # int64 [U5, 9]: per distinct 5x5 window, its 3x3 neighbours' rows in an activation table
    edge_windows: Tensor  # int64 [V]: per distinct (image, 5x5 window), the window: a row of edge_patches
    near_taps: Tensor  # int64 [U3, 9]: per distinct 3x3 window that is not one class, its tap rows in [9 (K + 1), *]
    present: PresentClasses


@dataclass
class PresentClasses:
    """The classes any image of the batch shows: per-image tables (style) are computed for these P only."""

    classes: Tensor  # int64 [P], ascending
    rows: Tensor  # int64 [P + 1]: their table ids (0: no class, then 1 + class), the rows kept of a [K + 1, *] table
    compact: Tensor  # int64 [K + 1]: a table id's row among `rows` (ids no image shows: never read)


def present_classes(labels: Tensor, num_classes: int) -> PresentClasses:
    """Label ids [B, H, W] (full size: every smaller map shows a subset) -> PresentClasses."""
    ids = table_ids(labels, num_classes).reshape(-1)
    shown = torch.zeros(num_classes + 1, device=labels.device).scatter(0, ids, 1.0)
    shown = torch.cat([torch.ones_like(shown[:1]), shown[1:]])  # row 0 (no class, padding) always kept
    rows = nonzero(shown)
    compact = ranked(torch.zeros(num_classes + 1, dtype=torch.int64, device=labels.device), rows, 0)
    return PresentClasses(classes=rows[1:] - 1, rows=rows, compact=compact)


def nonzero(mask: Tensor) -> Tensor:
    """Flat indices int64 [M] of the nonzero entries of a 1-D mask, ascending. NonZero reads float32, one
    of the two input types TensorRT's parser takes for it (sean_export.tensorrt_ops)."""
    return torch.nonzero(mask.to(torch.float32)).squeeze(1)


def ranked(values: Tensor, index: Tensor, start: int | Tensor) -> Tensor:
    """values int64 [L] with values[index[m]] = start + m: the m-th selected entry gets row start + m
    (a ScatterElements, where a cumulative sum would need CumSum on int64, not in TensorRT's list)."""
    rank = torch.arange(index.shape[0], device=index.device) + start
    return values.scatter(0, index, rank)


def onehot_table(weight: Tensor) -> Tensor:
    """3x3 weights over one-hot channels [R, K, 3, 3] -> lookup table [9 (K + 1), R], row 0 of each tap zero."""
    r, k = weight.shape[:2]
    taps = weight.permute(2, 3, 1, 0).reshape(9, k, r)  # [tap, class, R], tap = 3 dy + dx
    return F.pad(taps, (0, 0, 1, 0)).reshape(9 * (k + 1), r)


def activation_table_rows(num_classes: int) -> int:
    """Rows before the exact ones in an activation table: the zero row (padding), then K + 1 class rows."""
    return 1 + num_classes + 1


def window_masks(ids: Tensor) -> tuple[Tensor, Tensor]:
    """ids int64 [B, H, W] -> bool [B H W] twice: the pixels whose 3x3 ("near") and 5x5 ("edge") windows
    hold more than one id or cross the image border."""
    # max == min over the window, the border padded with an id no pixel has.
    padded = F.pad(ids.unsqueeze(1).to(torch.float32), (2, 2, 2, 2), value=-1.0)  # [B, 1, H+4, W+4]
    high3, low3 = F.max_pool2d(padded, 3, 1), -F.max_pool2d(-padded, 3, 1)  # [B, 1, H+2, W+2]
    high5, low5 = F.max_pool2d(high3, 3, 1), -F.max_pool2d(-low3, 3, 1)  # [B, 1, H, W]
    return (high3 != low3)[:, 0, 1:-1, 1:-1].reshape(-1), (high5 != low5).reshape(-1)


@dataclass(frozen=True)
class RegionCounts:
    """What a layer in region form computes at one resolution, per image (means over the batch)."""

    near_windows: float  # distinct 3x3 windows of the near pixels: mask-branch activation rows
    style_windows: float  # distinct (image, near window): style rows of nine lookups
    edge_windows: float  # distinct 5x5 windows of the edge pixels: rows of the modulation product
    edge_rows: float  # distinct (image, 5x5 window) of the edge pixels: each a window's row plus a style row


def region_counts(labels: Tensor, num_classes: int, height: int, width: int) -> RegionCounts:
    """Label ids [B, H0, W0] -> RegionCounts at height x width, from the region maps the form builds."""
    ids = table_ids(downsample_nearest(labels, height, width), num_classes)
    maps = region_maps(ids, tap_rows(ids, num_classes + 1), num_classes, present_classes(labels, num_classes))
    b = ids.shape[0]
    return RegionCounts(
        maps.near_taps.shape[0] / b,
        maps.near_image_taps.shape[0] / b,
        maps.edge_patches.shape[0] / b,
        maps.edge_windows.shape[0] / b,  # one per (image, window) pair
    )


def region_maps(ids: Tensor, taps: Tensor, num_classes: int, present: PresentClasses) -> RegionMaps:
    """ids int64 [B, H, W] (ops.table_ids), taps int64 [B, 9, H W] (ops.lookup_taps of the same labels)."""
    b, h, w = ids.shape
    near, edge = window_masks(ids)
    flat_taps = taps.transpose(1, 2).reshape(-1, 9)  # [B H W, 9]
    compact = present.compact[ids]  # [B, H, W]: rows in the per-image tables of the present classes
    classes = present.rows.shape[0]  # P + 1
    image_taps = tap_rows(compact, classes).transpose(1, 2).reshape(-1, 9)  # [B H W, 9]
    near_index = nonzero(near)  # [M], in pixel order
    edge_index = nonzero(edge)  # [N]
    near_taps = flat_taps[near_index]  # [M, 9]
    tap_starts = torch.arange(9, device=ids.device) * (num_classes + 1)
    near_window, near_first = distinct_windows(near_taps - tap_starts, num_classes + 1)  # [M], [U3]

    # Activation rows of every pixel on the zero-padded grid [B, H+2, W+2]: 0 outside the image,
    # 1 + id where the 3x3 window is one class, then one exact row per distinct 3x3 window.
    inside = (1 + ids.reshape(-1)).scatter(0, near_index, activation_table_rows(num_classes) + near_window)
    grid = F.pad(inside.view(b, h, w), (1, 1, 1, 1)).reshape(-1)  # [B (H+2) (W+2)]
    # An edge pixel's rows follow from its 5x5 ids, the border an id of its own (K + 1: the activations
    # are zero-padded, not those of a pixel of id 0): one product per distinct window.
    wide = F.pad(ids, (2, 2, 2, 2), value=num_classes + 1).reshape(-1)  # [B (H+4) (W+4)]
    edge_window, edge_first = distinct_windows(wide[window_index(edge_index, h, w, 2)], num_classes + 2)
    edge_patches = grid[window_index(edge_index[edge_first], h, w, 1)]  # [U5, 9], tap-major as the weights

    pixel_image = torch.arange(b * h * w, device=ids.device) // (h * w)  # [B H W]
    class_rows = pixel_image * classes + compact.reshape(-1)  # [B H W]: rows among B (P + 1) class rows
    images = count_of(ids[:, 0, 0])
    # An edge pixel's rows follow from its image and 5x5 window (the style part from its image and the
    # 3x3 window inside): one row per distinct pair, shared by the pixels of that pair.
    pair, pair_values = distinct_pairs(edge_index // (h * w), images, edge_window, count_of(edge_first))  # [N]
    pair_first = first_rows(pair, pair_values)  # [V]: an edge pixel of each pair
    rows = class_rows.scatter(0, edge_index, b * classes + pair)
    # The style part reads the 3x3 window only: its class's row at an edge pixel that is not near, else
    # one row per image and distinct near window.
    near_image = near_index // (h * w)
    style_window, style_values = distinct_pairs(near_image, images, near_window, count_of(near_first))
    style_first = first_rows(style_window, style_values)
    style_rows = class_rows.scatter(0, near_index, b * classes + style_window)[edge_index[pair_first]]
    return RegionMaps(
        rows=rows,
        near_image_taps=(image_taps[near_index] + (near_image * (9 * classes)).unsqueeze(1))[style_first],
        edge_style_rows=style_rows,
        edge_patches=edge_patches,
        edge_windows=edge_window[pair_first],
        near_taps=near_taps[near_first],
        present=present,
    )


def window_index(index: Tensor, height: int, width: int, radius: int) -> Tensor:
    """Flat pixels int64 [n] of [B, H, W] -> int64 [n, (2 radius + 1)^2]: their windows' flat positions in the
    grid padded by `radius` on each side, [B, H + 2 radius, W + 2 radius], row-major (tap-major for 3x3)."""
    side, padded_width = 2 * radius + 1, width + 2 * radius
    image, pixel = index // (height * width), index % (height * width)
    corner = image * ((height + 2 * radius) * padded_width) + (pixel // width) * padded_width + pixel % width
    offsets = torch.tensor([dy * padded_width + dx for dy in range(side) for dx in range(side)], device=index.device)
    return corner.unsqueeze(1) + offsets


# Keys stay below this: OpenVINO's CPU plugin computes int64 tensors in int32 (a key of 21**14 came
# back wrapped), so every key, window or combined, is an exact int32 on every backend.
KEY_LIMIT = 2**31


def distinct_windows(windows: Tensor, bound: int) -> tuple[Tensor, Tensor]:
    """windows int64 [n, w] with entries in [0, bound) -> (ids int64 [n], first int64 [u]): equal rows get
    equal ids in [0, u), and row first[i] has id i.

    The entries of a chunk are packed into one key below KEY_LIMIT (7 entries of 21 values), each key's
    distinct values numbered (ONNX Unique), and the numbers a, b of two chunks combined as a * count_b + b
    and numbered again. Where that product could reach KEY_LIMIT (count_a count_b >= 2^31) every row keeps
    an id of its own: still exact, only not shared.
    """
    if not 1 < bound < KEY_LIMIT:
        raise ValueError(f"window entries must have a bound in 2..{KEY_LIMIT - 1}, got {bound}")
    width = windows.shape[1]
    per_key = 1
    while per_key < width and bound ** (per_key + 1) < KEY_LIMIT:
        per_key += 1
    ids = values = None
    for start in range(0, width, per_key):
        key = windows[:, start]  # Horner in element-wise ops (ONNX Runtime's int64 ReduceSum rounded 21^14 keys)
        for column in range(start + 1, min(start + per_key, width)):
            key = key * bound + windows[:, column]
        chunk_ids, chunk_values = distinct(key)
        if ids is None:
            ids, values = chunk_ids, chunk_values
        else:
            ids, values = distinct_pairs(ids, count_of(values), chunk_ids, count_of(chunk_values))
    return ids, first_rows(ids, values)


def count_of(values: Tensor) -> Tensor:
    """values [u] -> u as an int64 tensor, so that comparisons with it stay in the traced graph."""
    return torch.ones_like(values, dtype=torch.int64).sum()


def distinct_pairs(ids: Tensor, count: Tensor, other: Tensor, other_count: Tensor) -> tuple[Tensor, Tensor]:
    """ids [n] in [0, count), other [n] in [0, other_count) -> distinct (ids, other) pairs numbered as by
    distinct. Where ids * other_count could reach KEY_LIMIT, every row keeps an id of its own."""
    fits = count <= (KEY_LIMIT - 1) // other_count
    return distinct(torch.where(fits, ids * other_count + other, torch.arange(ids.shape[0], device=ids.device)))


def first_rows(ids: Tensor, values: Tensor) -> Tensor:
    """ids int64 [n] in [0, u) (values [u]) -> int64 [u]: a row of each id. Any row will do (its window is
    the same); ScatterElements keeps one of them."""
    return torch.zeros_like(values).scatter(0, ids, torch.arange(ids.shape[0], device=ids.device))


def distinct(keys: Tensor) -> tuple[Tensor, Tensor]:
    """keys int64 [n] -> (ids int64 [n], values [u]): keys numbered by their distinct values, ids in [0, u).

    Unsorted: OpenVINO's sorted Unique is the slower of its two (docs/performance.md, "Tried and not
    taken")."""
    values, ids = torch.unique(keys, sorted=False, return_inverse=True)
    return ids, values


def class_activations(table: Tensor, bias: Tensor) -> Tensor:
    """The mask branch's activation inside a region of each class: one-hot table [9 (K + 1), hidden] and
    bias [hidden] -> [K + 1, hidden], ReLU(sum over the taps of the class's rows + bias)."""
    return torch.relu(table.reshape(9, -1, table.shape[1]).sum(0) + bias)


class RegionRows(torch.nn.Module):
    """A folded layer's mask branch + bias in region form: -> the present classes' rows [P + 1, R] and exact
    edge rows [V, R] (one per distinct image and 5x5 window). The modulation at the edges, in one of two
    exact forms (sean_core.forms.EDGE_FORMS):
    - "rows": one product per activation row and tap, then the nine taps summed per distinct window. Along
      an edge there are fewer activation rows than distinct windows, so this is fewer multiply-adds;
    - "windows": one product per distinct window, its 3x3 patch of activations against the whole kernel.
      More multiply-adds, and none of the nine-row gathers and sums (docs/performance.md, "Edge rows").

    table [9 (K + 1), hidden] and bias [hidden]: the one-hot conv; weight [R, hidden, 3, 3] and
    bias [R]: the modulation conv (all folded in float64, stored in the model's dtype).
    """

    def __init__(
        self, table: Tensor, shared_bias: Tensor, weight: Tensor, bias: Tensor, dtype: torch.dtype, edges: str
    ) -> None:
        super().__init__()
        if edges not in EDGE_FORMS:
            raise ValueError(f"edges must be one of {EDGE_FORMS}, got {edges!r}")
        self.edges = edges
        rows, hidden = weight.shape[:2]
        inner = class_activations(table, shared_bias)  # [K + 1, hidden]
        self.register_buffer("class_rows", (inner @ weight.sum((2, 3)).T + bias).to(dtype))  # [K + 1, R]
        self.register_buffer("table", table.to(dtype))
        self.register_buffer("shared_bias", shared_bias.to(dtype))
        # Activation table head: the zero row (padding), then the class activations.
        padding = torch.zeros(1, hidden, dtype=inner.dtype, device=inner.device)
        self.register_buffer("head", torch.cat([padding, inner]).to(dtype))
        if edges == "rows":
            products = weight.permute(1, 2, 3, 0).reshape(hidden, 9 * rows)  # [c, (tap, R)]
        else:
            products = weight.permute(2, 3, 1, 0).reshape(9 * hidden, rows)  # [(tap, c), R]
        self.register_buffer("weight", products.to(dtype))
        self.register_buffer("bias", bias.to(dtype))

    def forward(self, maps: RegionMaps) -> tuple[Tensor, Tensor]:
        near = torch.relu(self.table[maps.near_taps].sum(1) + self.shared_bias)  # [U3, hidden]
        activations = torch.cat([self.head, near])  # [A, hidden], A = K + 2 + U3
        if self.edges == "rows":
            taps = torch.matmul(activations, self.weight).reshape(-1, self.bias.shape[0])  # [A 9, R]
            tap = torch.arange(9, device=taps.device)
            # Row 9 a + t of taps is M_t act_a: a window sums tap t of its t-th neighbour's activation row.
            edge = taps[maps.edge_patches * 9 + tap].sum(1)  # [U5, 9, R] -> [U5, R]
        else:
            patches = activations[maps.edge_patches].flatten(1)  # [U5, 9 hidden], tap-major as the weight
            edge = torch.matmul(patches, self.weight)  # [U5, R]
        return self.class_rows[maps.present.rows], (edge + self.bias)[maps.edge_windows]  # [P + 1, R], [V, R]


def gather_rows(
    class_rows: Tensor, edge_rows: Tensor, maps: RegionMaps, height: int, width: int, split: int
) -> tuple[Tensor, Tensor]:
    """class_rows [B, P + 1, R], edge_rows [N, R] -> every pixel's rows [:split] and [split:], each
    [B, H, W, *], channels last as the Gather leaves them (the SEAN arithmetic runs channels last:
    FoldedResBlock). The table [B (P + 1) + N, R] is split before the two Gathers, not the [B, H, W, R]
    result after one (that would copy every pixel's rows once more)."""
    r = class_rows.shape[-1]
    table = torch.cat([class_rows.reshape(-1, r), edge_rows])
    return tuple(
        part[maps.rows].reshape(-1, height, width, part.shape[1]) for part in (table[:, :split], table[:, split:])
    )
