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
