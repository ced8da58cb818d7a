"""Analytic multiply-add counts of the SEAN networks, per image, by layer group.

Used by the benchmark (achieved GFLOP/s) and to explain where the time goes. Counts the products
that dominate (convolutions, matrix products); element-wise ops are ignored. FLOPs = 2 x MACs.
"""

from __future__ import annotations

from collections import Counter

from sean_train.config import ModelConfig
from sean_train.networks.generator import block_specs
from sean_train.networks.norm import choose_style_conv, style_conv_cost


def generator_macs(config: ModelConfig, style_conv: str | None = None) -> Counter:
    """MACs per image of the generator by group: resblk_convs, mask_branch, style_fc, style_convs, io_convs.

    style_conv: "direct", "factorized", or None for the model's own per-layer choice (config.style_conv).
    """
    mode = style_conv or config.style_conv
    k, s, hidden, mask_ch = config.num_classes, config.style_dim, config.spade_hidden, config.mask_channels
    h0, w0 = config.latent_size
    macs: Counter = Counter()
    macs["io_convs"] += 16 * config.ngf * mask_ch * 9 * h0 * w0
    for spec in block_specs(config):
        hw = spec.height * spec.width
        macs["resblk_convs"] += spec.fmiddle * spec.fin * 9 * hw + spec.fout * spec.fmiddle * 9 * hw
        norms = [spec.fin, spec.fmiddle]
        if spec.learned_shortcut:
            macs["resblk_convs"] += spec.fout * spec.fin * hw
            norms.append(spec.fin)
        for channels in norms:
            macs["mask_branch"] += hidden * mask_ch * 9 * hw + 2 * channels * hidden * 9 * hw
            if spec.use_style:
                macs["style_fc"] += k * s * s
                resolved = choose_style_conv(mode, channels, s, k, hw)
                macs["style_convs"] += style_conv_cost(resolved, channels, s, k, hw)
    h, w = config.height, config.width
    macs["io_convs"] += 3 * config.ngf * 9 * h * w
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
