"""The generator's inference form: every constant folded, one product per branch, lookups for one-hot convs.

At inference a SEAN layer's BatchNorm statistics (mean m, s = 1 / sqrt(var + eps)), its blend weights
a = sigmoid(blending_gamma), a' = sigmoid(blending_beta) and the shortcut's 1x1 convolution W_s are
constants, so the layer (training form: norm.SEANNorm)

    out = BN(x + noise v) (1 + gamma) + beta,  gamma = a g_s + (1 - a) g_o,  beta = a' b_s + (1 - a') b_o

is exactly  out = (x + noise v) G + B  with  G = s (1 + gamma)  and  B = beta - m G. G and B are linear
in the two branches' inputs, so each branch computes both with one product and folded weights:
  mask branch: one 3x3 conv over its activations act = ReLU(conv(mask)) (rows of G, then of B);
  style branch: one 3x3 conv over the style map, in the cheapest exact form (costs.STYLE_FORMS);
and the blends, BatchNorm and the "1 +" disappear into the weights and biases. Before the learned
shortcut, conv_s(out) = conv_s((x + noise v) G) + W_s B, so B is computed directly in conv_s's fout
channels (fout = fin / 2 in the up blocks: half of that layer's B rows). The mask branch's first conv
reads the one-hot mask, and becomes nine table lookups per pixel where that is cheaper
(costs.ONEHOT_FORMS).

A layer can also be written in region form (networks.regions, `sean export --form regions`): one row per
class inside the regions, the products only at their edges; costs.layer_forms picks the form per layer.

The folded generator takes label ids (as the exported graph does) instead of a one-hot mask. Build it
from a trained generator with fold_for_inference; tests prove it equal to the training form in float64.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sean_core.forms import EDGE_FORMS, GENERATOR_FORMS
from sean_train.config import ModelConfig
from sean_train.networks.costs import (
    ONEHOT_FORMS,
    STYLE_FORMS,
    FoldModes,
    LayerForms,
    factorized_product_classes,
    layer_forms,
    style_fc_reads_all_classes,
)
from sean_train.networks.generator import BlockSpec, Generator, SEANResBlock, block_noises, block_specs
from sean_train.networks.norm import SEANNorm
from sean_train.networks.ops import (
    broadcast_styles,
    downsample_nearest,
    lookup_sum,
    one_hot,
    region_styles,
    table_ids,
    tap_rows,
    upsample2_channels_last,
)
from sean_train.networks.regions import (
    PresentClasses,
    RegionMaps,
    RegionRows,
    gather_rows,
    onehot_table,
    present_classes,
    region_maps,
)


@dataclass
class LabelMaps:
    """The mask of one resolution in the forms its layers read (None where no layer reads that form)."""

    height: int
    width: int
    mask: Tensor | None  # [B, K + E, H, W]: one-hot classes, then the extra channels
    extra: Tensor | None  # [B, E, H, W]
    # [B, 9 K', H*W]: 3x3 patches of the one-hot classes (K' = costs.factorized_product_classes), row tap * K' + k
    patches: Tensor | None
    taps: Tensor | None  # int64 [B, 9, H*W]: rows in a constant table [9 (K + 1), R]
    image_taps: Tensor | None  # int64 [B, 9, H*W]: rows in per-image tables stacked to [B * 9 (K + 1), R]
    regions: RegionMaps | None  # where the regions are constant (networks.regions)


@dataclass(frozen=True)
class MapsNeeded:
    mask: bool = False
    patches: bool = False
    taps: bool = False
    image_taps: bool = False
    regions: bool = False

    def __or__(self, other: MapsNeeded) -> MapsNeeded:
        return MapsNeeded(*(a or b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other), strict=True)))


def label_maps(
    labels: Tensor,
    extra: Tensor | None,
    num_classes: int,
    height: int,
    width: int,
    needed: MapsNeeded,
    dtype: torch.dtype = torch.float32,
    present: PresentClasses | None = None,
) -> LabelMaps:
    """labels int [B, H0, W0] (+ extra [B, E, H0, W0]) -> the maps at height x width (nearest, as the training
    form). Region maps need the batch's present classes (regions.present_classes of the full-size labels)."""
    small = downsample_nearest(labels, height, width)
    small_extra = None if extra is None else downsample_nearest(extra, height, width)
    mask = patches = None
    if needed.mask or needed.patches:
        classes = one_hot(small, num_classes).to(dtype)  # [B, K, H, W]
        patches = onehot_patches(classes, factorized_product_classes(num_classes)) if needed.patches else None
        mask = classes if small_extra is None else torch.cat([classes, small_extra], dim=1)
    ids = table_ids(small, num_classes) if needed.taps or needed.image_taps or needed.regions else None
    taps = None if ids is None else tap_rows(ids, num_classes + 1)  # ops.lookup_taps of the small labels
    image_taps = None
    if needed.image_taps and taps is not None:
        # Image b's table starts at row b * 9 (K + 1) of the stacked per-image tables.
        offsets = torch.arange(labels.shape[0], device=labels.device) * (9 * (num_classes + 1))
        image_taps = taps + offsets.view(-1, 1, 1)
    regions = None
    if needed.regions:
        present = present_classes(labels, num_classes) if present is None else present
        regions = region_maps(ids, taps, num_classes, present)
    return LabelMaps(height, width, mask, small_extra, patches, taps, image_taps, regions)


def onehot_patches(classes: Tensor, channels: int) -> Tensor:
    """One-hot classes [B, K, H, W] -> zero-padded 3x3 patches [B, 9 channels, H*W] of the K classes and
    channels - K all-zero ones, tap-major (row tap * channels + k)."""
    b, k, h, w = classes.shape
    padded = F.pad(classes, (1, 1, 1, 1, 0, channels - k))  # [B, channels, H + 2, W + 2]
    taps = [padded[:, :, dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)]
    return torch.cat(taps, dim=1).reshape(b, 9 * channels, h * w)


class OneHotConv(nn.Module):
    """The mask branch's first conv, mask [K one-hot; E extra] -> R, as a convolution or as lookups."""

    def __init__(self, conv: nn.Conv2d, num_classes: int, form: str) -> None:
        super().__init__()
        self.form = form
        weight, bias = conv.weight.detach(), conv.bias.detach()
        extra_channels = weight.shape[1] - num_classes
        self.conv = copy.deepcopy(conv) if form == "conv" else None
        self.extra: nn.Conv2d | None = None
        if form == "lookup":
            self.register_buffer("table", onehot_table(weight[:, :num_classes]).contiguous())
            self.register_buffer("bias", bias.view(1, -1, 1, 1).clone())
            if extra_channels:
                self.extra = nn.Conv2d(extra_channels, weight.shape[0], 3, padding=1, bias=False, device=weight.device,
                                       dtype=weight.dtype)
                self.extra.weight.data.copy_(weight[:, num_classes:])

    @property
    def needs(self) -> MapsNeeded:
        return MapsNeeded(mask=True) if self.form == "conv" else MapsNeeded(taps=True)

    def forward(self, maps: LabelMaps) -> Tensor:
        """-> [B, R, H, W]"""
        if self.conv is not None:
            return self.conv(maps.mask)
        out = lookup_sum(self.table, maps.taps, maps.height, maps.width) + self.bias
        if self.extra is not None:
            out = out + self.extra(maps.extra)
        return out


class StyleProduct(nn.Module):
    """codes [B, K, S] -> the style map's contribution [B, R, H, W]: per-class FC + ReLU, then a 3x3 conv
    with folded weights (no bias: it is folded into the mask branch's), in form direct / factorized / lookup."""

    def __init__(self, norm: SEANNorm, weight: Tensor, form: str, all_classes: bool) -> None:
        super().__init__()
        self.form = form
        self.all_classes = all_classes  # tables(codes, classes): the FC over all classes, or the given ones only
        classes, dim = norm.style_fc_bias.shape
        # The K FCs [K, S_out, S_in] as the groups of a 1x1 convolution (class_styles): [K S_out, S_in, 1, 1].
        self.register_buffer("fc_weight", norm.style_fc_weight.detach().reshape(classes * dim, dim, 1, 1).clone())
        self.register_buffer("fc_bias", norm.style_fc_bias.detach().clone())  # [K, S]
        r, s = weight.shape[:2]
        # The per-image kernels are products mu [B, K, S] @ (constant [S, 9 R]): activations first and a
        # 2-D constant second, the layout OpenVINO runs as a FullyConnected (with bf16 weights under a
        # bf16 hint); the small [B, K, 9, R] result is then transposed.
        if form == "lookup":
            self.register_buffer("weight", weight.permute(1, 2, 3, 0).reshape(s, 9 * r).contiguous())  # [S, (tap, R)]
        elif form == "factorized":
            self.register_buffer("weight", weight.permute(1, 0, 2, 3).reshape(s, r * 9).contiguous())  # [S, (R, tap)]
        else:
            self.register_buffer("weight", weight.contiguous())  # [R, S, 3, 3]
        self.rows = r

    @property
    def needs(self) -> MapsNeeded:
        if self.form == "lookup":
            return MapsNeeded(image_taps=True)
        return MapsNeeded(patches=True) if self.form == "factorized" else MapsNeeded(mask=True)

    def class_styles(self, codes: Tensor, classes: Tensor | None = None) -> Tensor:
        """codes [B, K, S] -> mu [B, K, S], each class's FC + ReLU (ops.region_styles); classes int64 [P]:
        their rows only, [B, P, S], their FC weights alone read unless all_classes
        (costs.style_fc_reads_all_classes)."""
        k, s = self.fc_bias.shape
        if classes is not None and not self.all_classes:
            weight = self.fc_weight.reshape(k, s, s)[classes]  # [P, S, S]
            return region_styles(codes[:, classes], weight, self.fc_bias[classes])  # [B, P, S]
        # The K FCs as the K groups of one 1x1 convolution over [B, K S, 1, 1]: OpenVINO runs its weights in
        # the inference precision (a batched product [B, K, 1, S] @ [K, S, S] it runs in f32), and each
        # image is a product of its own, so a batch's images equal its single ones bit for bit.
        mu = F.conv2d(codes.reshape(-1, k * s, 1, 1), self.fc_weight, self.fc_bias.reshape(-1), groups=k)
        mu = torch.relu(mu).reshape(-1, k, s)
        return mu if classes is None else mu[:, classes]

    def tables(self, codes: Tensor, classes: Tensor | None = None) -> Tensor:
        """Lookup form: codes [B, K, S] -> per-image tables [B, 9, K + 1, R]; row k + 1 of tap t = W[:, :, t] mu_k.

        classes int64 [P]: only their rows ([B, 9, P + 1, R]).
        """
        mu = self.class_styles(codes, classes)  # [B, K or P, S]
        b, k = mu.shape[:2]
        tables = torch.matmul(mu, self.weight).reshape(b, k, 9, self.rows).transpose(1, 2)  # [B, 9, K, R]
        return F.pad(tables, (0, 0, 1, 0))  # zero row first: padding and pixels in no class

    def forward(self, codes: Tensor, maps: LabelMaps) -> Tensor:
        if self.form == "lookup":
            tables = self.tables(codes).reshape(-1, self.rows)  # [B * 9 (K + 1), R]
            return lookup_sum(tables, maps.image_taps, maps.height, maps.width)
        mu = self.class_styles(codes)  # [B, K, S]
        b, k = mu.shape[:2]
        if self.form == "factorized":
            # Per-image kernels [B, R, 9 K'] (columns tap * K' + k, as the patches' rows; the K' - K padding
            # classes have mu = 0, so zero kernels), one product with them.
            k = factorized_product_classes(k)
            mu = F.pad(mu, (0, 0, 0, k - mu.shape[1]))  # [B, K', S]
            kernels = torch.matmul(mu, self.weight).reshape(b, k, self.rows, 9).permute(0, 2, 3, 1)
            kernels = kernels.reshape(b, self.rows, 9 * k)
            return torch.matmul(kernels, maps.patches).reshape(b, self.rows, maps.height, maps.width)
        return F.conv2d(broadcast_styles(mu, maps.mask[:, :k]), self.weight, padding=1)


def folded_weights(norm: SEANNorm, shortcut: nn.Conv2d | None) -> tuple[Tensor, Tensor, Tensor | None]:
    """The layer's G and B rows, computed in float64: mask-branch weights [R, hidden, 3, 3], bias [R],
    style weights [R, S, 3, 3] (None without style). R = C + C, or C + fout when B goes through conv_s."""
    f64 = torch.float64

    def get(t: Tensor) -> Tensor:
        return t.detach().to(f64)

    def per_row(v: Tensor) -> Tensor:
        return v.view(-1, 1, 1, 1)

    s = (get(norm.bn.running_var) + norm.bn.eps).rsqrt()
    m = get(norm.bn.running_mean)
    branch = norm.mask_branch
    w_go, b_go = get(branch.gamma.weight), get(branch.gamma.bias)
    w_bo, b_bo = get(branch.beta.weight), get(branch.beta.bias)
    if norm.use_style:
        a_g, a_b = torch.sigmoid(get(norm.blending_gamma)), torch.sigmoid(get(norm.blending_beta))
        b_gs, b_bs = get(norm.conv_gamma.bias), get(norm.conv_beta.bias)
    else:
        a_g = a_b = torch.zeros(1, dtype=f64, device=s.device)
        b_gs = b_bs = torch.zeros_like(b_go)
    gain_w = per_row(s * (1 - a_g)) * w_go
    shift_w = (1 - a_b) * w_bo - per_row(m) * gain_w
    gain_b = s * (1 + (1 - a_g) * b_go + a_g * b_gs)
    shift_b = (1 - a_b) * b_bo + a_b * b_bs - m * gain_b
    style_gain = style_shift = None
    if norm.use_style:
        style_gain = per_row(s * a_g) * get(norm.conv_gamma.weight)
        style_shift = a_b * get(norm.conv_beta.weight) - per_row(m) * style_gain
    if shortcut is not None:
        # conv_s (1x1, no bias) applied to B: rows fin -> fout.
        w_s = get(shortcut.weight).flatten(1)  # [fout, fin]
        shift_w = torch.einsum("oc,cikl->oikl", w_s, shift_w)
        shift_b = w_s @ shift_b
        if style_shift is not None:
            style_shift = torch.einsum("oc,cikl->oikl", w_s, style_shift)
    style = None if style_gain is None else torch.cat([style_gain, style_shift])
    return torch.cat([gain_w, shift_w]), torch.cat([gain_b, shift_b]), style


class FoldedNorm(nn.Module):
    """One SEAN layer at inference: x, noise, maps, codes -> ((x + noise v) G [B, C, H, W], B [B, R - C, H, W]).

    form "dense": the mask branch's two convs over every pixel, plus the style product; "regions": one
    row per class inside the regions, the products only at their edges (networks.regions). Regions
    apply where the style product is a lookup (or there is none) and no extra mask channels exist
    (those are not constant on a class).
    """

    def __init__(self, norm: SEANNorm, shortcut: nn.Conv2d | None, pixels: int, modes: FoldModes) -> None:
        super().__init__()
        dtype = norm.noise_var.dtype
        mask_w, bias, style_w = folded_weights(norm, shortcut)
        rows, hidden = mask_w.shape[:2]
        self.channels = norm.noise_var.numel()
        self.register_buffer("noise_var", norm.noise_var.detach().view(1, -1, 1, 1).clone())
        shared = norm.mask_branch.shared
        classes = norm.num_classes
        style_dim = style_w.shape[1] if style_w is not None else 0
        self.forms = layer_forms(
            modes, rows, hidden, style_dim, classes, pixels, style_w is not None, shared.weight.shape[1] - classes
        )
        self.style: StyleProduct | None = None
        if style_w is not None:
            all_classes = style_fc_reads_all_classes(classes)
            self.style = StyleProduct(norm, style_w.to(dtype), self.forms.style, all_classes)
        self.shared: OneHotConv | None = None
        self.modulation: nn.Conv2d | None = None
        self.regions: RegionRows | None = None
        if self.forms.regions:
            f64 = torch.float64
            table = onehot_table(shared.weight.detach().to(f64))
            self.regions = RegionRows(table, shared.bias.detach().to(f64), mask_w, bias, dtype, self.forms.edges)
        else:
            self.shared = OneHotConv(shared, classes, self.forms.onehot)
            self.modulation = nn.Conv2d(hidden, rows, 3, padding=1, device=mask_w.device, dtype=dtype)
            self.modulation.weight.data.copy_(mask_w)
            self.modulation.bias.data.copy_(bias)
        self.rows = rows

    @property
    def form(self) -> str:
        """ "regions" or "dense" (GENERATOR_FORMS)."""
        return "regions" if self.forms.regions else "dense"

    @property
    def needs(self) -> MapsNeeded:
        if self.regions is not None:
            return MapsNeeded(regions=True)
        return self.shared.needs | (self.style.needs if self.style is not None else MapsNeeded())

    def forward(self, x: Tensor, noise: Tensor, maps: LabelMaps, codes: Tensor) -> tuple[Tensor, Tensor]:
        """Channels first: x [B, C, H, W], noise [B, 1, H, W] -> ((x + noise v) G, B)."""
        if self.regions is not None:
            gain, shift = (rows.permute(0, 3, 1, 2) for rows in self._region_rows(maps, codes))
        else:
            rows = self.modulation(F.relu(self.shared(maps)))  # [B, R, H, W]
            if self.style is not None:
                rows = rows + self.style(codes, maps)
            gain, shift = rows[:, : self.channels], rows[:, self.channels :]
        return (x + noise * self.noise_var) * gain, shift

    def forward_channels_last(
        self, x: Tensor, noise: Tensor, maps: LabelMaps, codes: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Region form, channels last: x [B, H, W, C], noise [B, 1, H, W] -> ((x + noise v) G [B, H, W, C],
        B [B, H, W, R - C]). The gathered rows come channels last, so nothing of theirs is transposed."""
        gain, shift = self._region_rows(maps, codes)
        # [B, 1, H, W] -> [B, H, W, 1] without a Transpose: with one, ONNX Runtime moves the convolution's
        # channels-last transpose below the noise Add, where it cannot join the convolution's output reorder.
        noise_last = noise.squeeze(1).unsqueeze(-1)
        return (x + noise_last * self.noise_var.view(-1)) * gain, shift

    def _region_rows(self, maps: LabelMaps, codes: Tensor) -> tuple[Tensor, Tensor]:
        """-> G [B, H, W, C], B [B, H, W, R - C]: class rows (mask branch + style) inside the regions, exact
        rows at their edges."""
        class_rows, edge = self.regions(maps.regions)  # [P + 1, R], [N, R]
        if self.style is None:
            per_image = class_rows.unsqueeze(0).expand(codes.shape[0], -1, -1)
        else:
            tables = self.style.tables(codes, maps.regions.present.classes)  # [B, 9, P + 1, R]
            inside = tables.sum(1)  # [B, P + 1, R]: a class's nine taps, all inside it
            near = tables.reshape(-1, self.rows)[maps.regions.near_image_taps].sum(1)  # [S, R]
            edge = edge + torch.cat([inside.reshape(-1, self.rows), near])[maps.regions.edge_style_rows]
            per_image = class_rows + inside
        return gather_rows(per_image, edge, maps.regions, maps.height, maps.width, self.channels)


class PixelProduct(nn.Module):
    """A 1x1 convolution without bias as one product: x [B, fin, H, W] -> W x [B, fout, H, W].

    ONNX Runtime runs a 1x1 Conv in its blocked channel layout, with a reorder in and one out; the MatMul
    reads the NCHW tensor as it is (measured against the Conv: docs/performance.md).
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        if conv.kernel_size != (1, 1) or conv.bias is not None:
            raise ValueError(f"PixelProduct takes a 1x1 convolution without bias, got {conv}")
        self.register_buffer("weight", conv.weight.detach().flatten(1).clone())  # [fout, fin]

    def forward(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape
        return torch.matmul(self.weight, x.reshape(b, -1, h * w)).reshape(b, -1, h, w)

    def forward_channels_last(self, x: Tensor) -> Tensor:
        """x [B, H, W, fin] -> [B, H, W, fout]: the weights as the product's second operand."""
        return torch.matmul(x, self.weight.t())


class FoldedResBlock(nn.Module):
    """SEANResBlock at inference: x_s + conv_1(lrelu(norm_1(conv_0(lrelu(norm_0(x)))))), B of norm_s through conv_s."""

    def __init__(self, block: SEANResBlock, spec: BlockSpec, modes: FoldModes) -> None:
        super().__init__()
        pixels = spec.height * spec.width
        self.learned_shortcut = block.learned_shortcut
        self.conv_0 = copy.deepcopy(block.conv_0)
        self.conv_1 = copy.deepcopy(block.conv_1)
        self.norm_0 = FoldedNorm(block.norm_0, None, pixels, modes)
        self.norm_1 = FoldedNorm(block.norm_1, None, pixels, modes)
        norms = [self.norm_0, self.norm_1]
        if self.learned_shortcut:
            self.shortcut = PixelProduct(block.conv_s)
            self.norm_s = FoldedNorm(block.norm_s, block.conv_s, pixels, modes)
            norms.append(self.norm_s)
        self.needs = MapsNeeded()
        for norm in norms:
            self.needs = self.needs | norm.needs
        # Every norm in region form: the block's input and output and the SEAN arithmetic run channels last
        # around the convolutions. The gathered rows are channels last, and the backends' convolutions run
        # channels last or blocked, so the transposes next to them fold into the layout changes the
        # backends make anyway; between two such blocks (and their upsampling) nothing is transposed.
        self.channels_last = all(norm.regions is not None for norm in norms)

    def forward(self, x: Tensor, maps: LabelMaps, codes: Tensor, noises: list[Tensor]) -> Tensor:
        """x [B, fin, H, W] -> [B, fout, H, W]; a block with channels_last set takes and gives them channels
        last, [B, H, W, fin] -> [B, H, W, fout] (InferenceGenerator keeps them so between such blocks)."""
        if self.channels_last:
            return self._forward_channels_last(x, maps, codes, noises)
        if self.learned_shortcut:
            noise_s, noise_0, noise_1 = noises
            scaled, shift = self.norm_s(x, noise_s, maps, codes)  # [B, fin, H, W], [B, fout, H, W]
            x_s = self.shortcut(scaled) + shift
        else:
            noise_0, noise_1 = noises
            x_s = x
        scaled, shift = self.norm_0(x, noise_0, maps, codes)
        dx = self.conv_0(F.leaky_relu(scaled + shift, 0.2))
        scaled, shift = self.norm_1(dx, noise_1, maps, codes)
        dx = self.conv_1(F.leaky_relu(scaled + shift, 0.2))
        return x_s + dx

    def _forward_channels_last(self, x: Tensor, maps: LabelMaps, codes: Tensor, noises: list[Tensor]) -> Tensor:
        """forward with the block's input and output, the norms, the shortcut and the activations channels
        last (x [B, H, W, fin] -> [B, H, W, fout]); the convolutions channels first. Each transpose sits
        next to a convolution, where the backends fold it into the layout change they make anyway."""
        if self.learned_shortcut:
            noise_s, noise_0, noise_1 = noises
            scaled, shift = self.norm_s.forward_channels_last(x, noise_s, maps, codes)
            x_s = self.shortcut.forward_channels_last(scaled) + shift
        else:
            noise_0, noise_1 = noises
            x_s = x
        scaled, shift = self.norm_0.forward_channels_last(x, noise_0, maps, codes)
        dx = self.conv_0(F.leaky_relu(scaled + shift, 0.2).permute(0, 3, 1, 2))
        scaled, shift = self.norm_1.forward_channels_last(dx.permute(0, 2, 3, 1), noise_1, maps, codes)
        dx = self.conv_1(F.leaky_relu(scaled + shift, 0.2).permute(0, 3, 1, 2))
        return x_s + dx.permute(0, 2, 3, 1)


class InferenceGenerator(nn.Module):
    """labels int [B, H, W], codes [B, K, S], noise [B, N] (+ extra [B, E, H, W]) -> image [B, 3, H, W] in [-1, 1].

    Ids outside [0, K) give pixels in no class, as one_hot does for the training form.
    """

    def __init__(self, generator: Generator, modes: FoldModes) -> None:
        super().__init__()
        config: ModelConfig = generator.config
        self.config = config
        self.specs = generator.specs
        self.noise_layout = generator.noise_layout
        self.upsample_before = generator.upsample_before
        self.fc = copy.deepcopy(generator.fc)
        self.blocks = nn.ModuleDict({s.name: FoldedResBlock(generator.blocks[s.name], s, modes) for s in self.specs})
        self.conv_img = copy.deepcopy(generator.conv_img)
        # The label maps each resolution's layers read, built once per resolution (the head's fc reads
        # the one-hot mask at the latent size).
        self.resolutions: dict[tuple[int, int], MapsNeeded] = {config.latent_size: MapsNeeded(mask=True)}
        for spec in self.specs:
            size = (spec.height, spec.width)
            self.resolutions[size] = self.resolutions.get(size, MapsNeeded()) | self.blocks[spec.name].needs

    def forward(self, labels: Tensor, codes: Tensor, noise: Tensor, extra: Tensor | None = None) -> Tensor:
        k = self.config.num_classes
        present = present_classes(labels, k) if any(n.regions for n in self.resolutions.values()) else None
        maps = {
            size: label_maps(labels, extra, k, *size, needed, codes.dtype, present)
            for size, needed in self.resolutions.items()
        }
        x = self.fc(maps[self.config.latent_size].mask)  # [B, 16 ngf, h, w]
        noises = block_noises(noise, self.noise_layout, self.specs)
        last = False  # x channels last ([B, H, W, C]): between blocks that take it so (FoldedResBlock)
        for spec, upsample in zip(self.specs, self.upsample_before, strict=True):
            block = self.blocks[spec.name]
            if upsample:
                x = upsample2_channels_last(x) if last else F.interpolate(x, scale_factor=2.0, mode="nearest")
            if block.channels_last != last:
                x = x.permute(0, 2, 3, 1) if block.channels_last else x.permute(0, 3, 1, 2)
                last = block.channels_last
            x = block(x, maps[(spec.height, spec.width)], codes, noises[spec.name])
        x = F.leaky_relu(x, 0.2)
        return torch.tanh(self.conv_img(x.permute(0, 3, 1, 2) if last else x))


def folded_layers(config: ModelConfig, modes: FoldModes) -> list[tuple[BlockSpec, int, LayerForms]]:
    """Every SEAN layer of the folded generator from the config alone: (its block, its G and B rows, the
    forms fold_for_inference gives it). Rows: 2 fin (norm_0), 2 fmiddle (norm_1), fin + fout (norm_s)."""
    layers = []
    for spec in block_specs(config):
        rows_per_norm = [2 * spec.fin, 2 * spec.fmiddle] + ([spec.fin + spec.fout] if spec.learned_shortcut else [])
        for rows in rows_per_norm:
            forms = layer_forms(
                modes, rows, config.spade_hidden, config.style_dim, config.num_classes, spec.height * spec.width,
                spec.use_style, config.extra_mask_channels,
            )
            layers.append((spec, rows, forms))
    return layers


def has_region_layers(config: ModelConfig) -> bool:
    """Whether any layer of the model's folded generator (style mode of its config) takes the region form."""
    return any(forms.regions for _, _, forms in folded_layers(config, FoldModes(style=config.style_conv)))


def fold_for_inference(
    generator: Generator,
    style_mode: str | None = None,
    onehot_mode: str = "auto",
    region_mode: str = "auto",
    edge_mode: str = "auto",
) -> InferenceGenerator:
    """The exact inference form of an eval-mode generator (its weights copied; the generator is unchanged).

    style_mode: "direct", "factorized", "lookup", or "auto" (per layer, the cheapest by
    costs.style_conv_work, or costs.region_style_form in region form); None: the config's style_conv
    (so a model trained in one form keeps it, and "auto" may also choose lookups). onehot_mode:
    "conv", "lookup" or "auto" (per layer, the cheaper by costs.onehot_conv_work). region_mode:
    "regions" (every layer; an error where one cannot be), "dense", or "auto" (region form wherever
    it applies: see FoldedNorm). edge_mode: how region layers compute their edge rows, "rows", "windows"
    or "auto" (by map size, sean_core.forms.layer_edge_form).
    """
    if generator.training:
        raise ValueError("fold_for_inference needs an eval-mode generator (BatchNorm running statistics): call .eval()")
    style_mode = generator.config.style_conv if style_mode is None else style_mode
    for name, mode, forms in (
        ("style_mode", style_mode, STYLE_FORMS),
        ("onehot_mode", onehot_mode, ONEHOT_FORMS),
        ("region_mode", region_mode, GENERATOR_FORMS),
        ("edge_mode", edge_mode, EDGE_FORMS),
    ):
        if mode not in ("auto", *forms):
            raise ValueError(f"{name} must be 'auto' or one of {forms}, got {mode!r}")
    with torch.no_grad():
        return InferenceGenerator(generator, FoldModes(style_mode, onehot_mode, region_mode, edge_mode)).eval()
