"""The generator's noise input, drawn the same way on every backend (docs/package-format.md, "Noise").

Package format 2 defines the noise portably, so that the C++ runtime (sean_runtime/cpp) and any other
language reproduce it bit for bit: image i of a call with seed s reads the 64-bit words of Philox4x64-10
keyed by (s + i, NOISE_TAG), block j at counter (j, 0, 0, 0); word k gives normals 2k and 2k + 1 by
Box-Muller in float64, each rounded once to float32. Format 1 packages keep their own rule
(numpy.random.default_rng(s + i).standard_normal), which only numpy can reproduce.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sean_core.errors import InputError
from sean_core.format import NOISE_TAG, PHILOX_NOISE_VERSION

TWO_PI = 6.283185307179586  # the float64 nearest to 2 pi
_SEED_LIMIT = 1 << 64  # seed + i is key word 0, an unsigned 64-bit integer


def philox_words(seed: int, count: int) -> np.ndarray:
    """The first `count` 64-bit output words (uint64 [count]) of the noise stream of image seed `seed`.

    numpy's Philox adds one to the counter before it computes a block, so starting it at 2^256 - 1 makes
    the first block the one at counter 0.
    """
    generator = np.random.Philox(key=int(seed) | (NOISE_TAG << 64), counter=(1 << 256) - 1)
    return generator.random_raw(count)


def philox_normals(seed: int, numel: int) -> np.ndarray:
    """Standard normals float32 [numel] of image seed `seed` by the format-2 rule (module docstring)."""
    words = philox_words(seed, (numel + 1) // 2)
    # In-place float64 steps (2 M normals, one official-size image, are ~1 M words).
    radius = (words >> np.uint64(32)).astype(np.float64)
    radius += 0.5
    radius *= 2.0**-32  # u1 in (0, 1): the log is finite
    np.log(radius, out=radius)
    radius *= -2.0
    np.sqrt(radius, out=radius)
    theta = (words & np.uint64(0xFFFFFFFF)).astype(np.float64)
    theta *= 2.0**-32  # u2 in [0, 1), exact
    theta *= TWO_PI
    normals = np.empty((words.size, 2), dtype=np.float32)
    # float64 products, each rounded once to float32 on the way out.
    np.multiply(radius, np.cos(theta), out=normals[:, 0], casting="same_kind")
    np.multiply(radius, np.sin(theta, out=theta), out=normals[:, 1], casting="same_kind")
    return normals.reshape(-1)[:numel]


def draw_noise(
    numel: int,
    count: int,
    seed: int,
    first_index: int = 0,
    enabled: bool = True,
    format_version: int = PHILOX_NOISE_VERSION,
) -> np.ndarray:
    """Noise [count, numel] float32 for images first_index .. first_index + count - 1 of a call with `seed`.

    Image i is drawn from seed + i alone: image i of a batch equals a single-image call with seed + i,
    and a batch split into chunks draws the same values as one call. format_version selects the rule of
    the package (2: Philox, portable; 1: numpy default_rng). enabled=False gives zeros: the noise-free image.
    """
    start = seed + first_index
    return draw_noise_each(numel, range(start, start + count), [enabled] * count, format_version)


def draw_noise_each(
    numel: int, seeds: Sequence[int], enabled: Sequence[bool], format_version: int = PHILOX_NOISE_VERSION
) -> np.ndarray:
    """Noise [len(seeds), numel] float32 for independent images: row i from seeds[i] alone (by the rule of
    format_version), zeros where not enabled[i]."""
    noise = np.zeros((len(seeds), numel), dtype=np.float32)
    for row, (image_seed, on) in enumerate(zip(seeds, enabled, strict=True)):
        if not on:
            continue
        if not 0 <= image_seed < _SEED_LIMIT:
            raise InputError(
                f"an image's noise seed must lie in 0 .. 2^64 - 1 (seed + image index below 2^64), got {image_seed}"
            )
        if format_version >= PHILOX_NOISE_VERSION:
            noise[row] = philox_normals(image_seed, numel)
        else:
            noise[row] = np.random.default_rng(image_seed).standard_normal(numel, dtype=np.float32)
    return noise
