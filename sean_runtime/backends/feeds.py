"""Graph input dictionaries, shared by the backends that take host arrays by name."""

from __future__ import annotations

import numpy as np


def encoder_feeds(image: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """image [B, 3, H, W] float32, labels [B, H, W] int32."""
    return {"image": image, "labels": labels}


def generator_feeds(
    labels: np.ndarray, codes: np.ndarray, noise: np.ndarray, extra: np.ndarray | None
) -> dict[str, np.ndarray]:
    """labels [B, H, W] int32, codes [B, K, S], noise [B, N] (+ extra [B, E, H, W] when E > 0)."""
    feeds = {"labels": labels, "codes": codes, "noise": noise}
    if extra is not None:
        feeds["extra"] = extra
    return feeds
