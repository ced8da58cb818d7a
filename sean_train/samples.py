"""PNG sample grids written during training: one row per sample, columns label colours | real image |
reconstruction | one region's style swapped in from the next sample, each column captioned."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from sean_core.captions import captioned
from sean_core.domains import Domain
from sean_core.imageio import write_png
from sean_train.evaluate import choose_swaps, code_area, reconstruct_batch, swap_codes
from sean_train.metrics import to_255
from sean_train.networks import SEANModel

GAP = 2  # white pixels between tiles
# The caption over each column (short: a column may be only 64 pixels wide).
COLUMNS = ("label", "real", "recon", "swapped")


def _tiles(images: Tensor) -> list[np.ndarray]:
    """[B, 3, H, W] in [-1, 1] -> B uint8 [H, W, 3] arrays."""
    return list(to_255(images).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy())


@torch.no_grad()
def sample_grid(model: SEANModel, batch: dict[str, Tensor], domain: Domain) -> np.ndarray:
    """One row per sample: label colours | real | reconstruction | one region's style swapped in from
    the next sample (eval mode, zero noise). The model's mode is restored afterwards."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    k = model.config.num_classes
    image, mask, codes, recon, noise = reconstruct_batch(model, batch, device)
    b, _, h, w = image.shape
    partner, chosen = choose_swaps(mask[:, :k].cpu(), code_area(model, mask, h, w).cpu())
    swapped = model.generate(mask, swap_codes(codes, partner.to(device), chosen), noise)
    model.train(was_training)

    labels = [domain.labels_to_colors(lab.numpy()) for lab in batch["labels"]]
    columns = [labels, _tiles(image), _tiles(recon), _tiles(swapped)]
    grid = np.full((b * (h + GAP) - GAP, len(columns) * (w + GAP) - GAP, 3), 255, dtype=np.uint8)
    for col, tiles in enumerate(columns):
        for row, tile in enumerate(tiles):
            grid[row * (h + GAP) : row * (h + GAP) + h, col * (w + GAP) : col * (w + GAP) + w] = tile
    return captioned(grid, list(COLUMNS), w, GAP)


def write_sample_grid(path: str | Path, model: SEANModel, batch: dict[str, Tensor], domain: Domain) -> Path:
    return write_png(path, sample_grid(model, batch, domain))
