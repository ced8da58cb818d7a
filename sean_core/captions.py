"""Captions over the columns of an image grid, so that a picture says what each column shows.

Used by the demo's strips and contact sheet and by the training sample grids.
"""

from __future__ import annotations

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX
MAX_SCALE = 0.5  # font scale for wide columns
MIN_SCALE = 0.3  # smallest scale that stays legible; longer texts are cut to fit at it
MARGIN = 3  # pixels around the text


def _fit(text: str, width: int) -> tuple[str, float]:
    """The text (cut with '.' when it must be) and the largest font scale at which it fits `width`."""
    room = max(width - 2 * MARGIN, 1)
    scale = MAX_SCALE
    while scale > MIN_SCALE and cv2.getTextSize(text, FONT, scale, 1)[0][0] > room:
        scale = round(scale - 0.05, 2)
    while len(text) > 1 and cv2.getTextSize(text, FONT, scale, 1)[0][0] > room:
        text = text[:-2] + "."
    return text, scale


def caption_bar(texts: list[str], column_width: int, gap: int) -> np.ndarray:
    """A white bar uint8 [h, W, 3] with texts[i] centred over column i (columns `column_width` wide,
    `gap` pixels apart: W = n * column_width + (n - 1) * gap)."""
    fitted = [_fit(text, column_width) for text in texts]
    height = max(cv2.getTextSize(t, FONT, s, 1)[0][1] for t, s in fitted) + 2 * MARGIN + 3
    width = len(texts) * column_width + (len(texts) - 1) * gap
    bar = np.full((height, width, 3), 255, dtype=np.uint8)
    for i, (text, scale) in enumerate(fitted):
        (text_width, _), _ = cv2.getTextSize(text, FONT, scale, 1)
        x = i * (column_width + gap) + max((column_width - text_width) // 2, 0)
        cv2.putText(bar, text, (x, height - MARGIN - 2), FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return bar


def captioned(grid: np.ndarray, texts: list[str], column_width: int, gap: int) -> np.ndarray:
    """grid uint8 [H, W, 3] of len(texts) columns with a caption bar on top: [h + H, W, 3]."""
    bar = caption_bar(texts, column_width, gap)
    if bar.shape[1] != grid.shape[1]:
        raise ValueError(f"{len(texts)} captions of columns {column_width} px + {gap} px gaps do not span "
                         f"the grid's {grid.shape[1]} px")
    return np.concatenate([bar, grid])


LEGEND_SWATCH = 12  # px, the colour square of a legend entry
LEGEND_SPACING = 14  # px between legend entries
LEGEND_SCALE = 0.4


def legend(names: list[str], colours: np.ndarray, width: int) -> np.ndarray:
    """A white block uint8 [h, width, 3]: a swatch of colours[i] (RGB uint8 [n, 3]) and names[i] per class,
    left to right, wrapping onto more rows where `width` ends, so the label colours of a picture read."""
    entries = []
    for name, colour in zip(names, colours, strict=True):
        text_width = cv2.getTextSize(name, FONT, LEGEND_SCALE, 1)[0][0]
        entries.append((name, tuple(int(c) for c in colour), LEGEND_SWATCH + 4 + text_width))
    row_height = LEGEND_SWATCH + 2 * MARGIN + 2
    rows: list[list[tuple[str, tuple[int, ...], int]]] = [[]]
    used = MARGIN
    for entry in entries:
        if rows[-1] and used + entry[2] > width - MARGIN:
            rows.append([])
            used = MARGIN
        rows[-1].append(entry)
        used += entry[2] + LEGEND_SPACING
    block = np.full((row_height * len(rows) + MARGIN, width, 3), 255, dtype=np.uint8)
    for r, row in enumerate(rows):
        x, top = MARGIN, MARGIN + r * row_height
        for name, colour, entry_width in row:
            cv2.rectangle(block, (x, top), (x + LEGEND_SWATCH - 1, top + LEGEND_SWATCH - 1), colour, cv2.FILLED)
            cv2.rectangle(block, (x, top), (x + LEGEND_SWATCH - 1, top + LEGEND_SWATCH - 1), (96, 96, 96), 1)
            cv2.putText(block, name, (x + LEGEND_SWATCH + 4, top + LEGEND_SWATCH - 2), FONT, LEGEND_SCALE,
                        (0, 0, 0), 1, cv2.LINE_AA)
            x += entry_width + LEGEND_SPACING
    return block


def outlined(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """rgb uint8 [H, W, 3] with the region mask bool [H, W] outlined along its inner edge: a white line on
    its outermost pixels and a black one just inside, readable on any colour; pixels off the edge kept."""
    out = rgb.copy()
    kernel = np.ones((3, 3), np.uint8)
    inner = cv2.erode(mask.astype(np.uint8), kernel, borderType=cv2.BORDER_REPLICATE).astype(bool)
    core = cv2.erode(inner.astype(np.uint8), kernel, borderType=cv2.BORDER_REPLICATE).astype(bool)
    out[mask & ~inner] = 255
    out[inner & ~core] = 0
    return out
