"""The generator's noise input, drawn the same way on every backend (docs/package-format.md, "Noise")."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def draw_noise(numel: int, count: int, seed: int, first_index: int = 0, enabled: bool = True) -> np.ndarray:
    """Noise [count, numel] float32 for images first_index .. first_index + count - 1 of a call with `seed`.

    Image i gets numpy.random.default_rng(seed + i).standard_normal(numel): image i of a batch equals a
    single-image call with seed + i, and a batch split into chunks draws the same values as one call.
    enabled=False gives zeros: the noise-free image.
    """
    start = seed + first_index
    return draw_noise_each(numel, range(start, start + count), [enabled] * count)


def draw_noise_each(numel: int, seeds: Sequence[int], enabled: Sequence[bool]) -> np.ndarray:
    """Noise [len(seeds), numel] float32 for independent images: row i from seeds[i], zeros where not enabled[i]."""
    noise = np.zeros((len(seeds), numel), dtype=np.float32)
    for row, (seed, on) in enumerate(zip(seeds, enabled, strict=True)):
        if on:
            noise[row] = np.random.default_rng(seed).standard_normal(numel, dtype=np.float32)
    return noise
