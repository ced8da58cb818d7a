"""A synthetic domain that needs no download: shapes whose regions each carry their own style.

Every sample is a deterministic function of (split, index): a label map of overlapping shapes and an
image in which each region is painted from a per-region style (two colours, a gradient direction, and
a flat / stripe / checker pattern). A model has to encode each region's style separately to
reconstruct it, which is exactly what SEAN learns; at 64x64 it trains on a CPU in minutes.
"""

from __future__ import annotations

import numpy as np

from sean_domains.generated import GeneratedDomain

_SPLIT_SEEDS = {"train": 1, "test": 2}


class ShapesDomain(GeneratedDomain):
    name = "shapes"
    class_names = ("background", "ground", "blob", "square", "triangle", "left_dot", "right_dot", "band")
    palette = (
        (0, 0, 0),
        (128, 64, 0),
        (0, 128, 255),
        (255, 200, 0),
        (200, 0, 200),
        (255, 0, 0),
        (0, 200, 0),
        (255, 255, 255),
    )
    resolution = (64, 64)
    showcase = ("blob", "ground")
    layout = "normal"
    flip_pairs = ((5, 6),)  # left_dot <-> right_dot

    # --- generation ---------------------------------------------------------------------------
    def sample(self, index: int, split: str = "train", size: tuple[int, int] | None = None):
        """(image uint8 [H, W, 3], labels int64 [H, W]) for one sample; the same call, the same data."""
        self.check_split(split)
        h, w = size or self.resolution
        rng = np.random.default_rng([_SPLIT_SEEDS[split], index])
        labels = self._draw_labels(rng, h, w)
        image = np.zeros((h, w, 3), dtype=np.float32)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        yy, xx = yy / h, xx / w
        for class_id in range(self.num_classes):
            region = labels == class_id
            if region.any():
                image[region] = self._paint(rng, yy, xx)[region]
        return np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8), labels

    def _draw_labels(self, rng: np.random.Generator, h: int, w: int) -> np.ndarray:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        yy, xx = yy / h, xx / w
        labels = np.zeros((h, w), dtype=np.int64)
        # Later shapes paint over earlier ones, so every class can be partly hidden.
        if rng.random() < 0.85:  # ground: a wavy bottom band
            top = rng.uniform(0.6, 0.85) + 0.05 * np.sin(xx * rng.uniform(3, 9) + rng.uniform(0, 6.3))
            labels[yy > top] = 1
        if rng.random() < 0.8:  # blob: a rotated ellipse
            cy, cx = rng.uniform(0.25, 0.75, 2)
            ay, ax = rng.uniform(0.12, 0.3, 2)
            t = rng.uniform(0, np.pi)
            u = (xx - cx) * np.cos(t) + (yy - cy) * np.sin(t)
            v = -(xx - cx) * np.sin(t) + (yy - cy) * np.cos(t)
            labels[(u / ax) ** 2 + (v / ay) ** 2 < 1] = 2
        if rng.random() < 0.7:  # square
            cy, cx = rng.uniform(0.2, 0.8, 2)
            r = rng.uniform(0.08, 0.2)
            labels[(np.abs(yy - cy) < r) & (np.abs(xx - cx) < r)] = 3
        if rng.random() < 0.7:  # triangle, apex up
            cy, cx = rng.uniform(0.3, 0.8), rng.uniform(0.2, 0.8)
            r = rng.uniform(0.1, 0.22)
            inside = (yy < cy + r) & (yy > cy - r) & (np.abs(xx - cx) < (yy - (cy - r)) / 2)
            labels[inside] = 4
        if rng.random() < 0.75:  # left_dot, always in the left half
            cy, cx, r = rng.uniform(0.15, 0.6), rng.uniform(0.12, 0.38), rng.uniform(0.06, 0.11)
            labels[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = 5
        if rng.random() < 0.75:  # right_dot, always in the right half
            cy, cx, r = rng.uniform(0.15, 0.6), rng.uniform(0.62, 0.88), rng.uniform(0.06, 0.11)
            labels[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = 6
        if rng.random() < 0.5:  # band: a diagonal stripe across the image
            t = rng.uniform(0, np.pi)
            d = (xx - 0.5) * np.cos(t) + (yy - 0.5) * np.sin(t) - rng.uniform(-0.3, 0.3)
            labels[np.abs(d) < rng.uniform(0.04, 0.08)] = 7
        return labels

    @staticmethod
    def _paint(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        """One region style evaluated on the whole grid -> float RGB [H, W, 3] in [0, 1]."""
        c0, c1 = rng.uniform(0.05, 0.95, (2, 3)).astype(np.float32)
        angle = rng.uniform(0, 2 * np.pi)
        t = 0.5 + 0.5 * np.sin(angle) * (yy - 0.5) * 2 * 0.7 + 0.5 * np.cos(angle) * (xx - 0.5) * 2 * 0.7
        base = c0 * (1 - t[..., None]) + c1 * t[..., None]
        kind = rng.integers(0, 3)
        freq = rng.uniform(8, 20)
        if kind == 1:  # stripes
            phi = rng.uniform(0, np.pi)
            pattern = np.sin(freq * (xx * np.cos(phi) + yy * np.sin(phi)) * np.pi)
        elif kind == 2:  # checker
            pattern = np.sign(np.sin(freq * np.pi * xx) * np.sin(freq * np.pi * yy))
        else:
            pattern = np.zeros_like(xx)
        return np.clip(base + 0.12 * pattern[..., None], 0, 1)
