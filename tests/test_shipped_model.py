"""Golden test of the shipped shapes model: fixed inputs, outputs held against a stored reference, so a
change that degrades the model (weights, network code, folding, export forms) fails here.

Reference: tests/data/shipped_shapes_golden.npz, written by `python -m tests.test_shipped_model --write`
from the PyTorch model on a CPU (fp32). Only regenerate it for a deliberate change of the shipped model.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "sean_core" / "pretrained" / "shapes"
GOLDEN = ROOT / "tests" / "data" / "shipped_shapes_golden.npz"
SAMPLES = (0, 1, 2, 3)  # shapes `test` split indices
SWAP_CLASS = 1  # the class whose style image 0 takes from image 1
NOISE_SEED = 7
# Another CPU's BLAS may round differently; a change to the model moves pixels by far more than this.
MAX_LEVELS, MEAN_LEVELS = 2, 0.05


def golden_outputs() -> dict[str, np.ndarray]:
    """uint8 [B, H, W, 3] images: zero-noise reconstructions, one with seeded noise, one region swap."""
    import torch

    from sean_core.domains import get_domain
    from sean_train.checkpoint import load_checkpoint
    from sean_train.networks.ops import one_hot

    torch.set_num_threads(1)
    domain = get_domain("shapes")
    pairs = [domain.sample(i, "test") for i in SAMPLES]
    image = torch.from_numpy(np.stack([p[0] for p in pairs])).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    mask = one_hot(torch.from_numpy(np.stack([p[1] for p in pairs])), domain.num_classes)
    model = load_checkpoint(SHIPPED)
    with torch.no_grad():
        codes = model.encode(image, mask)
        zero = model.generator.zero_noise(len(SAMPLES), "cpu")
        noise = torch.randn(zero.shape, generator=torch.Generator().manual_seed(NOISE_SEED))
        swapped = codes[:1].clone()
        swapped[:, SWAP_CLASS] = codes[1, SWAP_CLASS]
        outputs = {
            "reconstruction": model.generate(mask, codes, zero),
            "with_noise": model.generate(mask[:1], codes[:1], noise[:1]),
            "swap": model.generate(mask[:1], swapped, zero[:1]),
        }
    return {
        name: ((value + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
        for name, value in outputs.items()
    }


def test_the_shipped_model_gives_its_reference_images():
    pytest.importorskip("torch", reason="the golden test runs the PyTorch model (pip install '.[train]')")
    expected = np.load(GOLDEN)
    got = golden_outputs()
    assert set(got) == set(expected.files)
    for name, image in got.items():
        difference = np.abs(image.astype(np.int16) - expected[name].astype(np.int16))
        assert difference.max() <= MAX_LEVELS, (name, int(difference.max()))
        assert difference.mean() <= MEAN_LEVELS, (name, float(difference.mean()))


def test_the_swap_changes_the_swapped_region_only():
    """The reference itself must show SEAN's point: the swap moves pixels of the class, not the rest."""
    expected = np.load(GOLDEN)
    from sean_core.domains import get_domain

    labels = get_domain("shapes").sample(SAMPLES[0], "test")[1]
    change = np.abs(expected["swap"][0].astype(np.int16) - expected["reconstruction"][0].astype(np.int16)).mean(-1)
    inside, outside = change[labels == SWAP_CLASS].mean(), change[labels != SWAP_CLASS].mean()
    assert inside > 4 * outside, (inside, outside)


if __name__ == "__main__" and "--write" in sys.argv:
    np.savez_compressed(GOLDEN, **golden_outputs())
    print(f"wrote {GOLDEN}")
