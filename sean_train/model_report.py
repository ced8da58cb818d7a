"""The facts `sean inspect` shows of a PyTorch model, and that `sean export` records in a package manifest:
learned numbers per part and each style-reading SEAN layer's branch mix (supplementary §D, Fig. 6)."""

from __future__ import annotations

import torch

from sean_core.format import BranchMix
from sean_train.networks import SEANModel
from sean_train.networks.generator import style_norms


def parameter_counts(model: SEANModel) -> dict[str, int]:
    """Learned numbers per part: "encoder", then "generator.<child>" (fc, each ResBlk, conv_img) in forward order."""
    counts = {"encoder": sum(p.numel() for p in model.encoder.parameters())}
    generator = model.generator
    parts = [("fc", generator.fc), *generator.blocks.items(), ("conv_img", generator.conv_img)]
    for name, module in parts:
        counts[f"generator.{name}"] = sum(p.numel() for p in module.parameters())
    return counts


@torch.no_grad()
def branch_mix(model: SEANModel) -> list[BranchMix]:
    """alpha_gamma, alpha_beta (sigmoid of the learned blending scalars) of every SEAN layer that reads style
    codes, in generator order; the last ResBlk has no style branch and so no mix."""
    rows = []
    for layer in style_norms(model.config):
        block, norm = layer.split(".")
        module = getattr(model.generator.blocks[block], norm)
        rows.append(BranchMix(
            layer,
            round(float(torch.sigmoid(module.blending_gamma).item()), 6),
            round(float(torch.sigmoid(module.blending_beta).item()), 6),
        ))
    return rows
