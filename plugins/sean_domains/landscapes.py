"""A procedural landscape domain: scenes a person recognises, whose regions differ in texture as well as colour.

Every sample is a deterministic function of (split, index). The label map is a scene: sky over a
mountain ridge, a lake below the horizon with a sand shore, grass in front, trees and buildings standing
on the ground. Each region is painted from its own style, drawn per image, that sets its colours *and*
its texture: a clear, sunset, overcast or night sky with or without clouds; rocky, earthy, distant or
green mountains, snow-capped or not; calm or choppy water that mirrors the sky's colours; smooth or
speckled sand; short or tall grass; round, pine or blossoming tree crowns; plain, brick or glass
buildings with lit or dark windows. A model has to carry each region's texture in its code to
reconstruct it, and a region swap moves a texture as well as a colour. 128 x 128; it trains on a CPU.
"""

from __future__ import annotations

import cv2
import numpy as np

from sean_domains.generated import GeneratedDomain

_SPLIT_SEEDS = {"train": 11, "test": 12}
SKY, MOUNTAIN, WATER, SAND, GRASS, TREE, BUILDING = range(7)


def fractal_noise(rng: np.random.Generator, h: int, w: int, cells: float, octaves: int = 4,
                  stretch: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """Value noise in [0, 1] [H, W]: `octaves` random grids of `cells` cells across (doubling), bicubic
    upsampled and summed with halving weights. stretch (y, x) > 1 makes the cells that much longer."""
    total = np.zeros((h, w), np.float32)
    weight, norm = 1.0, 0.0
    for octave in range(octaves):
        n = cells * 2**octave
        gy, gx = max(2, round(n / stretch[0]) + 2), max(2, round(n / stretch[1]) + 2)
        grid = rng.random((gy, gx), dtype=np.float32)
        total += weight * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        norm += weight
        weight *= 0.5
    return np.clip(total / norm, 0.0, 1.0)


def ridge(rng: np.random.Generator, w: int, base: float, amplitude: float, roughness: int) -> np.ndarray:
    """A mountain ridge line y(x) [W] in image heights: `base` minus a fractal profile of `amplitude`."""
    profile = np.zeros(w, np.float32)
    weight = 1.0
    for octave in range(roughness):
        points = rng.random(2 + 2**(octave + 1)).astype(np.float32)
        profile += weight * np.interp(np.linspace(0, 1, w), np.linspace(0, 1, len(points)), points)
        weight *= 0.5
    profile /= 2.0 - 2.0 ** (1 - roughness)
    return base - amplitude * profile


def mix(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Per-pixel blend of colour fields or colours (a, b: [..., 3]) by t [H, W] in [0, 1]."""
    return a * (1.0 - t[..., None]) + b * t[..., None]


def jitter(rng: np.random.Generator, colour: tuple[float, float, float], amount: float = 0.06) -> np.ndarray:
    return np.clip(np.asarray(colour, np.float32) + rng.uniform(-amount, amount, 3).astype(np.float32), 0, 1)


class LandscapesDomain(GeneratedDomain):
    name = "landscapes"
    class_names = ("sky", "mountain", "water", "sand", "grass", "tree", "building")
    palette = (
        (110, 170, 255),  # sky
        (120, 100, 90),  # mountain
        (20, 60, 200),  # water
        (230, 210, 140),  # sand
        (60, 180, 60),  # grass
        (10, 90, 30),  # tree
        (200, 60, 60),  # building
    )
    resolution = (128, 128)
    showcase = ("sky", "grass")
    layout = "normal"

    # --- generation ---------------------------------------------------------------------------
    def sample(self, index: int, split: str = "train", size: tuple[int, int] | None = None):
        """(image uint8 [H, W, 3], labels int64 [H, W]) for one sample; the same call, the same data."""
        self.check_split(split)
        h, w = size or self.resolution
        rng = np.random.default_rng([_SPLIT_SEEDS[split], index])
        labels, horizon = self._draw_labels(rng, h, w)
        sky, sky_colours = self._sky(rng, h, w, horizon)
        layers = {
            SKY: sky,
            MOUNTAIN: self._mountain(rng, h, w, horizon, sky_colours[2]),
            WATER: self._water(rng, h, w, horizon, sky_colours),
            SAND: self._sand(rng, h, w),
            GRASS: self._grass(rng, h, w, horizon),
            TREE: self._trees(rng, h, w),
            BUILDING: self._buildings(rng, h, w),
        }
        image = np.zeros((h, w, 3), np.float32)
        for class_id, layer in layers.items():
            region = labels == class_id
            image[region] = layer[region]
        return np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8), labels

    def _draw_labels(self, rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, float]:
        """The scene's class ids [H, W] and its horizon (fraction of the height)."""
        yy = (np.arange(h, dtype=np.float32)[:, None] + 0.5) / h
        xs = (np.arange(w, dtype=np.float32) + 0.5) / w
        horizon = rng.uniform(0.42, 0.62)
        labels = np.full((h, w), SKY, np.int64)
        if rng.random() < 0.85:  # one or two ridges: the far one higher
            for _ in range(rng.integers(1, 3)):
                top = ridge(rng, w, horizon + 0.02, rng.uniform(0.12, 0.4), int(rng.integers(3, 6)))
                labels[(yy > top[None, :]) & (yy < horizon)] = MOUNTAIN
        ground_top = horizon
        if rng.random() < 0.7:  # a lake from the horizon to a wavy shore
            shore = horizon + rng.uniform(0.08, 0.28) + 0.02 * np.sin(xs * rng.uniform(4, 12) + rng.uniform(0, 6.3))
            labels[(yy >= horizon) & (yy < shore[None, :])] = WATER
            ground_top = shore
            if rng.random() < 0.6:  # a sand shore
                band = rng.uniform(0.03, 0.08) + 0.015 * np.sin(xs * rng.uniform(6, 16))
                labels[(yy >= shore[None, :]) & (yy < (shore + band)[None, :])] = SAND
                ground_top = shore + band
        grass = yy >= np.broadcast_to(ground_top, (w,))[None, :]
        labels[grass & (labels == SKY)] = GRASS
        base_top = float(np.min(ground_top)) if np.ndim(ground_top) else float(ground_top)
        if rng.random() < 0.45:  # buildings on the far bank or the ground line
            for _ in range(rng.integers(1, 5)):
                cx, half = rng.uniform(0.05, 0.95), rng.uniform(0.03, 0.09)
                foot = horizon if rng.random() < 0.5 else rng.uniform(base_top, min(0.95, base_top + 0.2))
                top = foot - rng.uniform(0.08, 0.3)
                inside = (np.abs(xs - cx) < half)[None, :] & (yy > top) & (yy <= foot)
                if rng.random() < 0.4:  # a pitched roof
                    inside |= (yy <= top) & (yy > top - half) & (np.abs(xs - cx)[None, :] < (yy - (top - half)))
                labels[inside] = BUILDING
        if rng.random() < 0.8:  # trees: crowns with trunks, larger nearer the bottom
            for _ in range(rng.integers(1, 8)):
                foot = rng.uniform(base_top + 0.02, 1.0)
                scale = 0.5 + 1.5 * (foot - base_top) / max(1e-3, 1.0 - base_top)
                cx, r = rng.uniform(0.0, 1.0), rng.uniform(0.03, 0.06) * scale
                trunk = (np.abs(xs - cx) < r * 0.18)[None, :] & (yy > foot - r * 0.9) & (yy <= foot)
                labels[trunk] = TREE
                cy = foot - r * 1.6
                if rng.random() < 0.5:  # pine: a tall triangle
                    labels[(yy < foot - r * 0.5) & (yy > cy - 2.2 * r)
                           & (np.abs(xs - cx)[None, :] < (yy - (cy - 2.2 * r)) * 0.45)] = TREE
                else:  # round crown
                    labels[((yy - cy) / (r * 1.2)) ** 2 + ((xs - cx)[None, :] / r) ** 2 < 1] = TREE
        return labels, horizon

    # --- region styles: each a colour and texture field [H, W, 3] in [0, 1] over the whole image ------
    def _sky(self, rng, h, w, horizon) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The sky, and its (top, middle, horizon) colours, which the water mirrors."""
        kind = rng.choice(["day", "sunset", "overcast", "night"], p=[0.4, 0.25, 0.2, 0.15])
        top, middle, low, cloud = {
            "day": ((0.15, 0.4, 0.85), (0.4, 0.65, 0.95), (0.75, 0.87, 0.98), (1.0, 1.0, 1.0)),
            "sunset": ((0.22, 0.18, 0.45), (0.9, 0.4, 0.35), (1.0, 0.75, 0.35), (1.0, 0.6, 0.55)),
            "overcast": ((0.5, 0.53, 0.58), (0.65, 0.67, 0.7), (0.78, 0.79, 0.8), (0.9, 0.9, 0.92)),
            "night": ((0.01, 0.02, 0.08), (0.04, 0.06, 0.2), (0.12, 0.15, 0.32), (0.25, 0.27, 0.35)),
        }[kind]
        top, middle, low, cloud = (jitter(rng, c) for c in (top, middle, low, cloud))
        t = np.clip((np.arange(h, dtype=np.float32) + 0.5) / h / max(horizon, 1e-3), 0, 1)[:, None]
        t = np.broadcast_to(t, (h, w))
        field = np.where((t < 0.5)[..., None], mix(top, middle, t * 2), mix(middle, low, t * 2 - 1))
        cover = rng.uniform(0.0, 0.9) if kind != "night" else rng.uniform(0.0, 0.3)
        if cover > 0.15:  # clouds: soft fractal blobs, stretched sideways
            noise = fractal_noise(rng, h, w, rng.uniform(2, 5), 5, stretch=(1.0, rng.uniform(1.5, 3.5)))
            amount = np.clip((noise - (1.0 - cover * 0.6)) * 4.0, 0, 1) * (1.0 - 0.5 * t)
            field = mix(field, np.broadcast_to(cloud, field.shape), amount)
        if kind == "night":  # stars
            stars = rng.random((h, w)) > 0.985
            field[stars] = np.clip(field[stars] + 0.7, 0, 1)
        return field.astype(np.float32), (top, middle, low)

    def _mountain(self, rng, h, w, horizon, haze) -> np.ndarray:
        kind = rng.choice(["rock", "earth", "distant", "green"])
        base = jitter(rng, {"rock": (0.45, 0.44, 0.46), "earth": (0.5, 0.36, 0.25), "distant": (0.38, 0.45, 0.62),
                            "green": (0.22, 0.42, 0.2)}[kind])
        texture = fractal_noise(rng, h, w, rng.uniform(4, 10), 5)
        strata = 0.5 + 0.5 * np.sin(np.arange(h, dtype=np.float32)[:, None] / h * rng.uniform(40, 90)
                                    + texture * rng.uniform(4, 10))
        shade = 0.7 + 0.5 * (texture - 0.5) + (0.12 * (strata - 0.5) if kind in ("rock", "earth") else 0.0)
        field = base[None, None, :] * shade[..., None]
        yy = (np.arange(h, dtype=np.float32) + 0.5)[:, None] / h
        field = mix(field, np.broadcast_to(haze, field.shape), np.broadcast_to(0.35 * (yy / max(horizon, 1e-3)) ** 4,
                                                                                 (h, w)) * (kind != "green"))
        if kind in ("rock", "distant") and rng.random() < 0.55:  # snow on the upper slopes
            line = horizon - rng.uniform(0.08, 0.2)
            snow = np.clip((line - yy + 0.08 * (texture - 0.5)) * 30, 0, 1)
            field = mix(field, np.broadcast_to(jitter(rng, (0.95, 0.96, 0.98), 0.03), field.shape), snow)
        return np.clip(field, 0, 1).astype(np.float32)

    def _water(self, rng, h, w, horizon, sky_colours) -> np.ndarray:
        """The sky's colours mirrored (the horizon colour at the far edge), tinted, with ripples."""
        top, middle, low = sky_colours
        tint = jitter(rng, [(0.1, 0.3, 0.5), (0.1, 0.35, 0.3), (0.2, 0.25, 0.35)][rng.integers(0, 3)], 0.05)
        yy = (np.arange(h, dtype=np.float32) + 0.5)[:, None] / h
        depth = np.broadcast_to(np.clip((yy - horizon) / max(1e-3, 1 - horizon) * 2.0, 0, 1), (h, w))
        field = np.where((depth < 0.5)[..., None], mix(low, middle, depth * 2), mix(middle, top, depth * 2 - 1))
        field = mix(field, np.broadcast_to(tint, field.shape), np.full((h, w), rng.uniform(0.35, 0.7), np.float32))
        choppy = rng.random() < 0.5
        wobble = fractal_noise(rng, h, w, 3, 3)
        freq = rng.uniform(60, 120) if choppy else rng.uniform(25, 50)
        ripples = np.sin(yy * freq * (1 + 2 * yy) + wobble * (8 if choppy else 3))
        strength = rng.uniform(0.08, 0.15) if choppy else rng.uniform(0.02, 0.05)
        field = field * (1.0 + strength * ripples)[..., None]
        if rng.random() < 0.4:  # glints
            glints = (fractal_noise(rng, h, w, 16, 1, stretch=(1.0, 4.0)) > 0.8) & (ripples > 0.6)
            field[glints] = np.clip(field[glints] + 0.35, 0, 1)
        return np.clip(field, 0, 1).astype(np.float32)

    def _sand(self, rng, h, w) -> np.ndarray:
        base = jitter(rng, [(0.85, 0.76, 0.55), (0.7, 0.68, 0.62), (0.93, 0.9, 0.82)][rng.integers(0, 3)], 0.04)
        grain = rng.random((h, w)).astype(np.float32) if rng.random() < 0.6 else np.full((h, w), 0.5, np.float32)
        dunes = fractal_noise(rng, h, w, 3, 2, stretch=(1.0, 3.0))
        return np.clip(base[None, None, :] * (0.85 + 0.15 * grain + 0.2 * (dunes - 0.5))[..., None], 0, 1)

    def _grass(self, rng, h, w, horizon) -> np.ndarray:
        kind = rng.choice(["green", "dry", "dark", "autumn"])
        near = jitter(rng, {"green": (0.2, 0.55, 0.15), "dry": (0.7, 0.62, 0.3), "dark": (0.1, 0.3, 0.12),
                            "autumn": (0.55, 0.4, 0.12)}[kind])
        far = np.clip(near * 1.25 + 0.05, 0, 1)
        yy = (np.arange(h, dtype=np.float32) + 0.5)[:, None] / h
        t = np.broadcast_to(np.clip((yy - horizon) / max(1e-3, 1 - horizon), 0, 1), (h, w))
        field = mix(np.broadcast_to(far, (h, w, 3)), np.broadcast_to(near, (h, w, 3)), t)
        tall = rng.random() < 0.5  # tall grass: long vertical strokes; short: fine speckle
        blades = fractal_noise(rng, h, w, rng.uniform(20, 40), 2, stretch=(4.0, 1.0) if tall else (1.0, 1.0))
        patches = fractal_noise(rng, h, w, 3, 3)
        shade = 0.8 + (0.5 if tall else 0.25) * (blades - 0.5) + 0.3 * (patches - 0.5)
        return np.clip(field * shade[..., None], 0, 1).astype(np.float32)

    def _trees(self, rng, h, w) -> np.ndarray:
        kind = rng.choice(["broadleaf", "pine", "autumn", "blossom"])
        leaf = jitter(rng, {"broadleaf": (0.15, 0.42, 0.12), "pine": (0.05, 0.22, 0.1), "autumn": (0.8, 0.35, 0.08),
                            "blossom": (0.95, 0.7, 0.8)}[kind])
        clumps = fractal_noise(rng, h, w, rng.uniform(10, 24), 3)
        holes = np.clip((clumps - 0.35) * 4, 0, 1)  # dark gaps between leaf clumps
        shade = 0.45 + 0.75 * holes
        if kind == "blossom":  # petals: bright dots
            shade = shade + 0.35 * (rng.random((h, w)) > 0.9)
        return np.clip(leaf[None, None, :] * shade[..., None], 0, 1).astype(np.float32)

    def _buildings(self, rng, h, w) -> np.ndarray:
        kind = rng.choice(["plaster", "brick", "glass", "concrete"])
        wall = jitter(rng, {"plaster": (0.9, 0.86, 0.78), "brick": (0.6, 0.25, 0.18), "glass": (0.35, 0.5, 0.62),
                            "concrete": (0.55, 0.55, 0.55)}[kind])
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        field = np.broadcast_to(wall, (h, w, 3)).copy()
        if kind == "brick":  # mortar lines
            field[(yy % 4) < 1] *= 0.75
        spacing = int(rng.integers(5, 9))
        size = max(2, spacing // 2)
        windows = ((yy % spacing) < size) & ((xx % spacing) < size)
        lit = rng.random() < 0.5
        glass = (1.0, 0.85, 0.4) if lit else ((0.2, 0.3, 0.4) if kind != "glass" else (0.7, 0.85, 0.95))
        field[windows] = jitter(rng, glass, 0.05)
        return np.clip(field, 0, 1).astype(np.float32)
