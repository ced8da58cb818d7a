"""The branch-mix picture of supplementary Fig. 6, drawn with OpenCV (no torch, no plotting library):
one pie pair per style-reading SEAN layer, alpha_gamma on the left and alpha_beta on the right, the
style branch's share in one colour and the mask branch's in another, labelled by layer, in generator order."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from sean_core.errors import FileWriteError
from sean_core.files import atomic_write
from sean_core.format import BranchMix

STYLE_RGB = (230, 120, 40)  # the style (ST) branch's share
MASK_RGB = (70, 130, 200)  # the mask branch's share
TILE_W, TILE_H = 160, 108
RADIUS = 28
COLUMNS = 5
HEADER_H = 52
FONT = cv2.FONT_HERSHEY_SIMPLEX


def _text(canvas: np.ndarray, text: str, x: int, y: int, scale: float = 0.42, centred: bool = False) -> None:
    if centred:
        (w, _), _ = cv2.getTextSize(text, FONT, scale, 1)
        x -= w // 2
    cv2.putText(canvas, text, (x, y), FONT, scale, (20, 20, 20), 1, cv2.LINE_AA)


def _pie(canvas: np.ndarray, centre: tuple[int, int], alpha: float) -> None:
    """A pie whose STYLE_RGB slice is alpha of the disc, starting at 12 o'clock and running clockwise."""
    cv2.circle(canvas, centre, RADIUS, MASK_RGB, -1, cv2.LINE_AA)
    if alpha > 0:
        cv2.ellipse(canvas, centre, (RADIUS, RADIUS), -90, 0, 360 * alpha, STYLE_RGB, -1, cv2.LINE_AA)
    cv2.circle(canvas, centre, RADIUS, (60, 60, 60), 1, cv2.LINE_AA)


def draw_branch_mix(rows: Sequence[BranchMix], title: str) -> np.ndarray:
    """RGB uint8 picture of the rows (see the module docstring)."""
    if not rows:
        raise ValueError("no SEAN layer with a style branch to draw")
    lines = -(-len(rows) // COLUMNS)
    width = TILE_W * min(COLUMNS, len(rows))
    canvas = np.full((HEADER_H + TILE_H * lines, max(width, 2 * TILE_W), 3), 255, np.uint8)
    _text(canvas, title, 8, 18, 0.45)
    cv2.rectangle(canvas, (8, 30), (20, 42), STYLE_RGB, -1)
    _text(canvas, "style branch (alpha)", 26, 41)
    cv2.rectangle(canvas, (170, 30), (182, 42), MASK_RGB, -1)
    _text(canvas, "mask branch (1 - alpha)", 188, 41)
    for i, row in enumerate(rows):
        x0, y0 = TILE_W * (i % COLUMNS), HEADER_H + TILE_H * (i // COLUMNS)
        _text(canvas, row.layer, x0 + TILE_W // 2, y0 + 14, 0.45, centred=True)
        for j, (name, alpha) in enumerate((("gamma", row.alpha_gamma), ("beta", row.alpha_beta))):
            cx = x0 + TILE_W // 4 + j * TILE_W // 2
            _pie(canvas, (cx, y0 + 24 + RADIUS), alpha)
            _text(canvas, f"{name} {alpha:.2f}", cx, y0 + 24 + 2 * RADIUS + 16, 0.4, centred=True)
    return canvas


def write_branch_mix_plot(path: str | Path, rows: Sequence[BranchMix], title: str, exclusive: bool = False) -> Path:
    """Draw the rows and write them as a PNG (atomically, zlib's strongest level); returns the path.
    exclusive: only as a new file (atomic_write), for a caller that may not replace one."""
    path = Path(path)
    bgr = cv2.cvtColor(draw_branch_mix(rows, title), cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise FileWriteError(f"could not encode {path} as PNG")
    return atomic_write(path, lambda tmp: tmp.write_bytes(encoded.tobytes()), exclusive)
