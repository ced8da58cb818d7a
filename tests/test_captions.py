"""Pictures a person can read: a caption over every column of the demo strips and the training sample grids."""

from __future__ import annotations

import numpy as np
import pytest

from sean_core.captions import caption_bar, captioned
from sean_core.domains import get_domain


def inked_columns(bar: np.ndarray, column_width: int, gap: int, columns: int) -> list[bool]:
    """For each column of a caption bar: does it hold dark (text) pixels?"""
    dark = bar.min(axis=2) < 128  # [h, W]
    return [bool(dark[:, i * (column_width + gap) : i * (column_width + gap) + column_width].any())
            for i in range(columns)]


def test_caption_bar_writes_each_text_over_its_column_and_nothing_in_the_gaps():
    bar = caption_bar(["label", "", "reconstruction"], column_width=64, gap=6)
    assert bar.shape[1] == 3 * 64 + 2 * 6 and bar.dtype == np.uint8
    assert inked_columns(bar, 64, 6, 3) == [True, False, True]
    gaps = np.concatenate([bar[:, 64:70], bar[:, 134:140]], axis=1)
    assert (gaps == 255).all()


def test_captioned_keeps_the_grid_below_the_bar_and_refuses_a_wrong_column_count():
    grid = np.random.default_rng(0).integers(0, 256, (40, 2 * 30 + 4, 3), dtype=np.uint8)
    out = captioned(grid, ["a", "b"], column_width=30, gap=4)
    np.testing.assert_array_equal(out[-40:], grid)
    assert out.shape[0] > 40
    with pytest.raises(ValueError, match="do not span"):
        captioned(grid, ["a", "b", "c"], column_width=30, gap=4)


def test_training_sample_grid_has_a_caption_over_each_column(tiny_config):
    import torch

    from sean_train.samples import COLUMNS, GAP, sample_grid
    from tests.helpers import make_random_model

    domain = get_domain("shapes")
    samples = [domain.sample(i, "test") for i in range(2)]
    batch = {
        "image": torch.stack([torch.from_numpy(im).permute(2, 0, 1).float() / 127.5 - 1 for im, _ in samples]),
        "labels": torch.stack([torch.from_numpy(lab.astype(np.int64)) for _, lab in samples]),
        "extra": torch.zeros(2, 0, 64, 64),
    }
    grid = sample_grid(make_random_model(tiny_config), batch, domain)
    rows_height = 2 * (64 + GAP) - GAP
    bar, tiles = grid[:-rows_height], grid[-rows_height:]
    assert bar.shape[0] > 0 and len(COLUMNS) == 4
    assert inked_columns(bar, 64, GAP, 4) == [True] * 4
    np.testing.assert_array_equal(tiles[:64, :64], domain.labels_to_colors(samples[0][1]))  # first column: label


def test_demo_strips_caption_every_column():
    from sean_runtime.commands.demo import PAD, SHOWN_SIZE, strips, zoom_for

    tile = np.zeros((8, 8, 3), dtype=np.uint8)
    block = strips([[tile, tile, tile], [tile, tile, tile]], ["label", "style image", "output"])
    scale = zoom_for(8)
    assert scale == SHOWN_SIZE // 8 and zoom_for(128) == 2 and zoom_for(512) == 1  # about SHOWN_SIZE, never shrunk
    height = 2 * 8 * scale + PAD
    assert block.shape[1] == 3 * 8 * scale + 2 * PAD
    assert inked_columns(block[:-height], 8 * scale, PAD, 3) == [True] * 3
    assert strips([[tile]], ["one"], scale=2).shape[1] == 16  # an explicit scale wins
