"""SEAN generator (spec sections 2 and 4): a mask-conditioned stack of seven SEAN ResBlks.

Noise is an explicit input: one flat tensor [B, NoiseLayout.numel] holding, in the official draw
order, one standard-normal value per pixel for every SEAN normalization layer. Zeros give the
noise-free output; the same noise gives bit-identical output.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sean_core.format import NoiseLayout, NoiseSlot
from sean_train.config import ModelConfig
from sean_train.networks.costs import choose_style_conv
from sean_train.networks.norm import SEANNorm
from sean_train.networks.ops import downsample_nearest


@dataclass(frozen=True)
class BlockSpec:
    name: str
    fin: int
    fout: int
    height: int
    width: int
    use_style: bool

    @property
    def learned_shortcut(self) -> bool:
        return self.fin != self.fout

    @property
    def fmiddle(self) -> int:
        return min(self.fin, self.fout)


def block_specs(config: ModelConfig) -> list[BlockSpec]:
    """The seven ResBlks in forward order with their widths and resolutions."""
    nf = config.ngf
    h, w = config.latent_size
    widths = [16 * nf, 16 * nf, 16 * nf, 16 * nf, 8 * nf, 4 * nf, 2 * nf, nf]
    names = ["head_0", "middle_0", "middle_1", "up_0", "up_1", "up_2", "up_3"]
    # Resolution scale (relative to the latent grid) of each block; "more" upsamples once more
    # between middle_0 and middle_1.
    scales = [1, 2, 2, 4, 8, 16, 32] if config.layout == "normal" else [1, 2, 4, 8, 16, 32, 64]
    return [
        BlockSpec(name, widths[i], widths[i + 1], h * scales[i], w * scales[i], use_style=i < 6)
        for i, name in enumerate(names)
    ]


def block_norms(spec: BlockSpec) -> list[str]:
    """A block's SEAN normalization layers in draw order (norm_s first if present)."""
    return (["norm_s"] if spec.learned_shortcut else []) + ["norm_0", "norm_1"]


def style_norms(config: ModelConfig) -> list[str]:
    """The SEAN normalization layers that read style codes, as "block.norm", in generator order."""
    return [f"{spec.name}.{norm}" for spec in block_specs(config) if spec.use_style for norm in block_norms(spec)]


def code_groups(config: ModelConfig) -> dict[str, int]:
    """Which code of a region each style-reading SEAN normalization layer reads ("block.norm" -> group).

    Unified encoder: {} (every layer reads the one code). ResBlk-level: one group per style ResBlk,
    shared by its norms. SEAN-level: one group per layer. A region's style is all its groups'
    codes side by side: codes [B, K, groups * S], group g at [g * S, (g + 1) * S).
    """
    if config.style_encoder == "unified":
        return {}
    if config.style_encoder == "sean":
        return {name: g for g, name in enumerate(style_norms(config))}
    styled = [spec for spec in block_specs(config) if spec.use_style]
    return {f"{spec.name}.{norm}": g for g, spec in enumerate(styled) for norm in block_norms(spec)}


def code_length(config: ModelConfig) -> int:
    """Numbers in one region's style: style_dim for the unified encoder, groups * style_dim otherwise."""
    return max(1, len(set(code_groups(config).values()))) * config.style_dim


def noise_layout(config: ModelConfig) -> NoiseLayout:
    """Where each SEAN normalization layer finds its noise in the flat noise input, in the official draw order."""
    slots = []
    offset = 0
    for spec in block_specs(config):
        for norm in block_norms(spec):
            slots.append(NoiseSlot(f"{spec.name}.{norm}", offset, spec.height, spec.width))
            offset += spec.height * spec.width
    return NoiseLayout(tuple(slots))


def block_noises(noise: Tensor, layout: NoiseLayout, specs: list[BlockSpec]) -> dict[str, list[Tensor]]:
    """Flat noise [B, N] -> each block's [B, 1, H, W] maps in draw order (norm_s first if present)."""
    b = noise.shape[0]
    slots = iter(layout.slots)
    noises: dict[str, list[Tensor]] = {}
    for spec in specs:
        maps = []
        for _ in range(3 if spec.learned_shortcut else 2):
            slot = next(slots)
            flat = noise[:, slot.offset : slot.offset + slot.height * slot.width]
            maps.append(flat.reshape(b, 1, slot.height, slot.width))
        noises[spec.name] = maps
    return noises


class SEANResBlock(nn.Module):
    """x_s + conv_1(lrelu(norm_1(conv_0(lrelu(norm_0(x)))))), x_s = conv_s(norm_s(x)) if fin != fout."""

    def __init__(self, spec: BlockSpec, config: ModelConfig) -> None:
        super().__init__()
        self.learned_shortcut = spec.learned_shortcut
        self.style_dim = config.style_dim
        # norm name -> which code group it reads; empty for the unified encoder (the whole code).
        self.code_groups = {
            name.split(".")[1]: g for name, g in code_groups(config).items() if name.startswith(f"{spec.name}.")
        }

        def norm(channels: int) -> SEANNorm:
            mode = choose_style_conv(
                config.style_conv, channels, config.style_dim, config.num_classes, spec.height * spec.width
            )
            return SEANNorm(
                channels,
                config.mask_channels,
                config.num_classes,
                config.style_dim,
                config.spade_hidden,
                use_style=spec.use_style,
                style_conv=mode,
            )

        self.conv_0 = nn.Conv2d(spec.fin, spec.fmiddle, 3, padding=1)
        self.conv_1 = nn.Conv2d(spec.fmiddle, spec.fout, 3, padding=1)
        self.norm_0 = norm(spec.fin)
        self.norm_1 = norm(spec.fmiddle)
        if self.learned_shortcut:
            self.conv_s = nn.Conv2d(spec.fin, spec.fout, 1, bias=False)
            self.norm_s = norm(spec.fin)

    def norm_codes(self, codes: Tensor, norm: str) -> Tensor:
        """The [B, K, S] codes one of this block's norms reads out of the region styles [B, K, groups * S]."""
        group = self.code_groups.get(norm)
        if group is None:
            return codes
        return codes[:, :, group * self.style_dim : (group + 1) * self.style_dim]

    def forward(self, x: Tensor, mask: Tensor, codes: Tensor, noises: list[Tensor]) -> Tensor:
        """noises: this block's [B, 1, H, W] noise maps in draw order (norm_s first if present)."""
        if self.learned_shortcut:
            noise_s, noise_0, noise_1 = noises
            x_s = self.conv_s(self.norm_s(x, mask, self.norm_codes(codes, "norm_s"), noise_s))
        else:
            noise_0, noise_1 = noises
            x_s = x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, mask, self.norm_codes(codes, "norm_0"), noise_0), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, mask, self.norm_codes(codes, "norm_1"), noise_1), 0.2))
        return x_s + dx

    def spectral_norm_convs(self) -> list[nn.Conv2d]:
        """The convs the official model trains with spectral norm."""
        return [self.conv_0, self.conv_1] + ([self.conv_s] if self.learned_shortcut else [])


class Generator(nn.Module):
    """mask [B, K+E, H, W] + style codes [B, K, code_length] + noise [B, N] -> image [B, 3, H, W] in [-1, 1]."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.specs = block_specs(config)
        self.noise_layout = noise_layout(config)
        self.fc = nn.Conv2d(config.mask_channels, 16 * config.ngf, 3, padding=1)
        self.blocks = nn.ModuleDict({spec.name: SEANResBlock(spec, config) for spec in self.specs})
        self.conv_img = nn.Conv2d(config.ngf, 3, 3, padding=1)
        # Whether a x2 nearest upsampling precedes each block (static, from the layout).
        heights = [config.latent_size[0]] + [spec.height for spec in self.specs]
        self.upsample_before = [heights[i + 1] != heights[i] for i in range(len(self.specs))]

    def zero_noise(self, batch: int, device: torch.device | None = None) -> Tensor:
        return torch.zeros(batch, self.noise_layout.numel, device=device)

    def forward(self, mask: Tensor, codes: Tensor, noise: Tensor) -> Tensor:
        latent_h, latent_w = self.config.latent_size
        x = self.fc(downsample_nearest(mask, latent_h, latent_w))  # [B, 16 ngf, h, w]
        noises = block_noises(noise, self.noise_layout, self.specs)
        for spec, upsample in zip(self.specs, self.upsample_before, strict=True):
            if upsample:
                x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = self.blocks[spec.name](x, downsample_nearest(mask, spec.height, spec.width), codes, noises[spec.name])
        return torch.tanh(self.conv_img(F.leaky_relu(x, 0.2)))

    def spectral_norm_convs(self) -> list[nn.Conv2d]:
        return [conv for block in self.blocks.values() for conv in block.spectral_norm_convs()]
