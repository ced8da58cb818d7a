"""The generator's noise input, drawn the same way on every backend (docs/package-format.md, "Noise")."""

from __future__ import annotations

import numpy as np


def draw_noise(numel: int, count: int, seed: int, first_index: int = 0, enabled: bool = True) -> np.ndarray:
    """Noise [count, numel] float32 for images first_index .. first_index + count - 1 of a call with `seed`.

    Image i gets numpy.random.default_rng(seed + i).standard_normal(numel): image i of a batch equals a
    single-image call with seed + i, and a batch split into chunks draws the same values as one call.
    enabled=False gives zeros: the noise-free image.
    """
    noise = np.zeros((count, numel), dtype=np.float32)
    if enabled:
        for row in range(count):
            rng = np.random.default_rng(seed + first_index + row)
            noise[row] = rng.standard_normal(numel, dtype=np.float32)
    return noise
