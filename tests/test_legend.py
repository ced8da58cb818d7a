"""Demo pictures a person can read without the code: a legend of the label colours, the swapped region
outlined (sean_core.captions.legend / outlined, used by `sean demo`), the files compressed."""

from __future__ import annotations

import numpy as np

from sean_core.captions import legend, outlined
from sean_core.domains import get_domain


def swatch_count(block: np.ndarray, colour: np.ndarray) -> int:
    return int((block == colour).all(axis=2).sum())


def test_the_legend_shows_every_class_colour_and_wraps_to_the_width():
    shapes = get_domain("shapes")
    names, colours = list(shapes.class_names), shapes.palette_array()
    wide = legend(names, colours, 1200)
    narrow = legend(names, colours, 200)
    assert wide.shape[1] == 1200 and narrow.shape[1] == 200 and wide.dtype == np.uint8
    assert narrow.shape[0] > wide.shape[0], "a narrow legend takes more rows"
    for colour in colours:
        if tuple(colour) == (255, 255, 255):
            continue  # the white class's swatch is its grey border on the white page
        assert swatch_count(wide, colour) >= 10 * 10 and swatch_count(narrow, colour) >= 10 * 10, colour
    # every entry has its name in ink right of its swatch
    dark = wide.min(axis=2) < 100
    assert dark.sum() > len(names) * 20


def test_outlined_marks_only_the_edge_of_the_region():
    rng = np.random.default_rng(0)
    rgb = rng.integers(40, 200, (30, 40, 3), dtype=np.uint8)
    mask = np.zeros((30, 40), bool)
    mask[8:20, 10:30] = True
    out = outlined(rgb, mask)
    changed = (out != rgb).any(axis=2)
    ring = mask.copy()
    ring[10:18, 12:28] = False  # the two pixel rows / columns along the region's edge
    assert changed[ring].mean() > 0.95 and not changed[~ring].any()
    assert (out[8, 10:30] == 255).all() and (out[9, 11:29] == 0).all(), "white outside, black inside"
    np.testing.assert_array_equal(outlined(rgb, np.zeros_like(mask)), rgb)


def test_pictures_written_at_level_6_are_smaller_and_the_same_pixels(tmp_path):
    from sean_core.imageio import read_rgb, write_png

    shapes = get_domain("shapes")
    picture = np.concatenate([legend(list(shapes.class_names), shapes.palette_array(), 600)] * 8)
    fast = write_png(tmp_path / "fast.png", picture)
    small = write_png(tmp_path / "small.png", picture, level=6)
    np.testing.assert_array_equal(read_rgb(small), read_rgb(fast))
    assert small.stat().st_size < fast.stat().st_size
