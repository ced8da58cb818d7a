"""Analytic multiply-add counts of the SEAN networks, per image, by layer group.

Used by the benchmark (achieved GFLOP/s) and to explain where the time goes. Counts the products
that dominate (convolutions, matrix products); element-wise ops are ignored. FLOPs = 2 x MACs. In the
inference form a value read from a lookup table (then summed over the 3x3 taps) counts as one MAC.
"""

from __future__ import annotations

from collections import Counter

from torch import Tensor

from sean_train.config import ModelConfig
from sean_train.networks.costs import (
    FoldModes,
    choose_style_conv,
    factorized_product_classes,
    onehot_conv_work,
    style_conv_cost,
    style_conv_work,
    style_fc_reads_all_classes,
)
from sean_train.networks.generator import block_specs
from sean_train.networks.inference import folded_layers
from sean_train.networks.regions import RegionCounts, activation_table_rows, present_classes, region_counts


def generator_macs(config: ModelConfig, style_conv: str | None = None) -> Counter:
    """MACs per image of the training-form generator by group.

    Groups: resblk_convs, mask_branch, style_fc, style_convs, io_convs.

    style_conv: "direct", "factorized", or None for the model's own per-layer choice (config.style_conv).
    """
    mode = style_conv or config.style_conv
    k, s, hidden, mask_ch = config.num_classes, config.style_dim, config.spade_hidden, config.mask_channels
    macs = _fixed_macs(config)
    for spec in block_specs(config):
        hw = spec.height * spec.width
        for channels in _norm_channels(spec):
            macs["mask_branch"] += hidden * mask_ch * 9 * hw + 2 * channels * hidden * 9 * hw
            if spec.use_style:
                macs["style_fc"] += k * s * s
                resolved = choose_style_conv(mode, channels, s, k, hw)
                macs["style_convs"] += style_conv_cost(resolved, channels, s, k, hw)
    return macs


def inference_generator_macs(
    config: ModelConfig,
    onehot_mode: str = "auto",
    style_mode: str | None = None,
    region_mode: str = "auto",
    labels: Tensor | None = None,
    edge_mode: str = "auto",
) -> Counter:
    """MACs per image of the folded inference form (networks.inference) by group.

    Groups: resblk_convs, io_convs as in generator_macs; onehot_conv (the mask branch's first conv, over
    the one-hot mask: convolution or lookups); modulation (the mask branch's one product for G and B);
    style_fc; style_convs (the style branch's one product for G and B, per layer in the form the folded
    model picks); class_rows (region form: each pixel's row of its class, one value per row). Before the
    learned shortcut, B has conv_s's fout rows instead of fin. A layer in region form (networks.regions)
    computes its one-hot lookups once per distinct 3x3 window of the near pixels, its style lookups once
    per image and such window, the modulation's tap products once per activation row (class rows and
    those windows) and their sums once per distinct 5x5 window of the edge pixels (edge form "rows"), or one
    product per such window ("windows"), its style tables for the P classes the batch shows and its style
    FCs for those or for all K (costs.style_fc_reads_all_classes): how many depends on the labels; labels int
    [B, H, W] counts them (regions.region_counts: mean per image), without them every pixel counts as a
    window of its own and every class as shown (the most the form computes).
    """
    modes = FoldModes(config.style_conv if style_mode is None else style_mode, onehot_mode, region_mode, edge_mode)
    k, s, hidden, extra = config.num_classes, config.style_dim, config.spade_hidden, config.extra_mask_channels
    macs = _fixed_macs(config)
    shown = k if labels is None else len(present_classes(labels, k).classes)
    counts: dict[tuple[int, int], RegionCounts] = {}  # per map size
    for spec, rows, forms in folded_layers(config, modes):
        hw = spec.height * spec.width
        size = (spec.height, spec.width)
        if forms.regions:
            if size not in counts:
                counts[size] = RegionCounts(hw, hw, hw, hw) if labels is None else region_counts(labels, k, *size)
            c = counts[size]
            macs["onehot_conv"] += round(c.near_windows) * 9 * hidden
            activation_rows = activation_table_rows(k) + round(c.near_windows)
            if forms.edges == "rows":  # tap products per activation row, + the tap sums per window
                macs["modulation"] += rows * hidden * 9 * activation_rows + rows * 9 * round(c.edge_windows)
            else:  # one product per window
                macs["modulation"] += rows * hidden * 9 * round(c.edge_windows)
            macs["class_rows"] += rows * hw
            if spec.use_style:
                macs["style_fc"] += (k if style_fc_reads_all_classes(k) else shown) * s * s
                style = style_conv_work(forms.style, rows, s, shown, round(c.style_windows))  # tables, lookups
                macs["style_convs"] += style.macs + style.lookups + rows * round(c.edge_rows)  # + the edge rows' sums
            continue
        if spec.use_style:
            macs["style_fc"] += k * s * s
        shared = onehot_conv_work(forms.onehot, hidden, k, hw)
        macs["onehot_conv"] += shared.macs + shared.lookups + hidden * extra * 9 * hw
        macs["modulation"] += rows * hidden * 9 * hw
        if spec.use_style:
            classes = factorized_product_classes(k) if forms.style == "factorized" else k  # with its zero class
            style = style_conv_work(forms.style, rows, s, classes, hw)
            macs["style_convs"] += style.macs + style.lookups
    return macs


def _norm_channels(spec) -> list[int]:
    """Channels normalised by each SEAN layer of a block: norm_0, norm_1 (+ norm_s)."""
    return [spec.fin, spec.fmiddle] + ([spec.fin] if spec.learned_shortcut else [])


def _fixed_macs(config: ModelConfig) -> Counter:
    """The groups both forms share: the head's and the output's convs, the ResBlk convs."""
    macs: Counter = Counter()
    h0, w0 = config.latent_size
    macs["io_convs"] += 16 * config.ngf * config.mask_channels * 9 * h0 * w0
    macs["io_convs"] += 3 * config.ngf * 9 * config.height * config.width
    for spec in block_specs(config):
        hw = spec.height * spec.width
        macs["resblk_convs"] += spec.fmiddle * spec.fin * 9 * hw + spec.fout * spec.fmiddle * 9 * hw
        if spec.learned_shortcut:
            macs["resblk_convs"] += spec.fout * spec.fin * hw
    return macs


def encoder_macs(config: ModelConfig) -> int:
    """MACs per image of the style encoder including region pooling."""
    c1 = config.encoder_ngf
    c2, c3, c4 = 2 * c1, 4 * c1, 8 * c1
    hw = config.height * config.width
    convs = c1 * 3 * 9 * hw + c2 * c1 * 9 * hw // 4 + c3 * c2 * 9 * hw // 16
    convs += c3 * c4 * 9 * hw // 16  # transposed conv: every input pixel scatters a 3x3 kernel
    convs += config.style_dim * c4 * 9 * hw // 4
    return convs + config.num_classes * config.style_dim * hw // 4
